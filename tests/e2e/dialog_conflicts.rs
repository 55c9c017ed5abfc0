//! A turn re-run after a state conflict resumes the dialog where the
//! committed state left it (issue #24; guest-examples/README.md's dialog
//! scenario). One host serialises the turns of a conversation, so a
//! conflict needs two hosts sharing PostgreSQL: each round starts the form
//! in a fresh conversation, then answers its name step twice at once, `Ada`
//! on one host and `Grace` on the other. Exactly one answer takes the name
//! step; the other turn, run again on the committed stack, answers the age
//! step (not a number: the retry prompt), never a second `How old are
//! you?` and never a lost step; the discarded attempt sends nothing. Rounds
//! alternate between replies in the HTTP answer (`expectReplies`) and
//! replies posted to a stand-in connector through the outbox, and go on
//! until the hosts' logs show conflicts in both; a run that provokes none
//! fails rather than passing untested.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::postgres::PgCluster;
use crate::support::*;

/// Rounds before a run that saw no conflict with a delivery fails, half of
/// them with each. A round takes tens of milliseconds, and in runs so far
/// from a sixth to over half of the rounds had a conflict.
const MAX_ROUNDS: usize = 100;
/// Conflicted rounds of each delivery after which the run stops early.
const ENOUGH_CONFLICTS: usize = 3;

const NAME: &str = "What is your name?";
const AGE: &str = "How old are you?";
const AGE_RETRY: &str = "Please enter your age as a number between 0 and 150.";
/// What a host logs when a turn's commit lost to another's (attempts.rs).
const CONFLICT: &str = "state conflict; running the turn again on fresh state";

/// How the bot's replies reach the user.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Delivery {
    /// In the HTTP answer.
    ExpectReplies,
    /// Posted to the connector after the commit (the outbox).
    Connector,
}

/// Two hosts serving `echo` on one PostgreSQL database, and the connector
/// they post to.
struct Hosts {
    hosts: [Host; 2],
    connector: Connector,
    client: reqwest::Client,
    // Dropped last: the hosts stop before their database does.
    _cluster: PgCluster,
}

impl Hosts {
    async fn start(guest: &str) -> Hosts {
        let cluster = PgCluster::start();
        let url = cluster.database("conflicts");
        let host = || Host::start(BotsDir::with(&[("echo", guest)]), &["--storage", &url]);
        Hosts {
            hosts: [host(), host()],
            connector: Connector::start().await,
            client: client(),
            _cluster: cluster,
        }
    }

    /// `text` from the user of `conversation`, delivered as `delivery`.
    fn said(&self, conversation: &str, text: &str, delivery: Delivery) -> Value {
        let mut activity = message(&self.connector.service_url(), text);
        activity["conversation"]["id"] = json!(conversation);
        activity["locale"] = json!("en-US");
        if delivery == Delivery::ExpectReplies {
            activity["deliveryMode"] = json!("expectReplies");
        }
        activity
    }

    /// Posts `activity` to host `to`: the texts of its replies, from the
    /// answer or, once the first arrived, from the connector.
    async fn say(&self, to: usize, activity: &Value) -> Vec<String> {
        let url = self.hosts[to].url("/api/bots/echo/messages");
        let response = self.client.post(url).json(activity).send().await;
        let (status, body) = read(response.expect("post")).await;
        assert!(status.is_success(), "host {to}: {activity}: {body}");
        if activity["deliveryMode"] == "expectReplies" {
            return body["activities"]
                .as_array()
                .unwrap_or_else(|| panic!("no replies: {body}"))
                .iter()
                .filter_map(|a| a["text"].as_str().map(str::to_owned))
                .collect();
        }
        let until = Instant::now() + Duration::from_secs(30);
        loop {
            let replies = self.posted_in_reply_to(activity);
            if !replies.is_empty() {
                return replies;
            }
            assert!(Instant::now() < until, "no reply posted to {activity}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// The texts the connector received in reply to `activity`.
    fn posted_in_reply_to(&self, activity: &Value) -> Vec<String> {
        self.connector
            .received()
            .iter()
            .filter(|r| r.body["replyToId"] == activity["id"])
            .filter_map(|r| r.body["text"].as_str().map(str::to_owned))
            .collect()
    }

    /// Whether host `on` logged a conflict in the turn of `activity`.
    fn conflicted(&self, on: usize, activity: &Value) -> bool {
        let turn = format!("activity_id={}", activity["id"]);
        self.hosts[on]
            .log()
            .lines()
            .any(|line| line.contains(CONFLICT) && line.contains(&turn))
    }
}

/// One answer of a round: the host it went to, the name, the activity and
/// the replies it got.
struct Answer {
    host: usize,
    name: &'static str,
    activity: Value,
    replies: Vec<String>,
}

impl std::fmt::Debug for Answer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} (activity {}) on host {}: {:?}",
            self.name, self.activity["id"], self.host, self.replies
        )
    }
}

/// A round played: its delivery, the answer that took the name step and
/// the one that met the age step.
struct Round {
    delivery: Delivery,
    named: Answer,
    retried: Answer,
}

/// Round `n` in a fresh conversation: the form started, the name step
/// answered on both hosts at once, the dialog carried on to its end.
/// Asserts the dialog's course.
async fn round(hosts: &Hosts, guest: &str, n: usize) -> Round {
    let delivery = [Delivery::ExpectReplies, Delivery::Connector][n % 2];
    let conversation = format!("{guest}-{n}");
    let said = |text: &str| hosts.said(&conversation, text, delivery);
    // Which host gets `Ada`, and its request first, alternates.
    let (a, b) = ((n / 2) % 2, 1 - (n / 2) % 2);
    assert_eq!(hosts.say(a, &said("form")).await, [NAME]);
    let (ada, grace) = (said("Ada"), said("Grace"));
    let (to_a, to_b) = tokio::join!(hosts.say(a, &ada), hosts.say(b, &grace));
    let first = Answer {
        host: a,
        name: "Ada",
        activity: ada,
        replies: to_a,
    };
    let second = Answer {
        host: b,
        name: "Grace",
        activity: grace,
        replies: to_b,
    };
    let (named, retried) = match (first.replies.as_slice(), second.replies.as_slice()) {
        ([x], [y]) if x == AGE && y == AGE_RETRY => (first, second),
        ([x], [y]) if x == AGE_RETRY && y == AGE => (second, first),
        _ => panic!(
            "{conversation} ({delivery:?}): one answer takes the name step, the other meets the age step: {first:?} {second:?}"
        ),
    };
    // The stack holds the age step with the name that took the name step:
    // the retry did not lose it, the other name did not replace it.
    let winner = named.name;
    assert_eq!(
        hosts.say(retried.host, &said("36")).await,
        [format!("Is this right: {winner}, 36?")],
        "{conversation} ({delivery:?})"
    );
    assert_eq!(
        hosts.say(named.host, &said("yes")).await,
        [format!("Saved: {winner}, 36.")],
        "{conversation} ({delivery:?})"
    );
    Round {
        delivery,
        named,
        retried,
    }
}

/// Plays rounds with `guest` until each delivery had enough of them with a
/// conflict; fails if one had none in `MAX_ROUNDS`.
async fn rounds_until_conflicts(guest: &str) {
    let hosts = Hosts::start(guest).await;
    let mut played: Vec<Round> = Vec::new();
    // The rounds of `delivery` whose second answer was run again.
    let conflicted = |played: &[Round], delivery: Delivery| {
        played
            .iter()
            .filter(|r| r.delivery == delivery)
            .filter(|r| hosts.conflicted(r.retried.host, &r.retried.activity))
            .count()
    };
    let both = [Delivery::ExpectReplies, Delivery::Connector];
    for n in 0..MAX_ROUNDS {
        played.push(round(&hosts, guest, n).await);
        if both
            .iter()
            .all(|d| conflicted(&played, *d) >= ENOUGH_CONFLICTS)
        {
            break;
        }
    }
    // A conflict's log line, or a stray send, may still be on its way.
    tokio::time::sleep(Duration::from_millis(500)).await;
    for round in &played {
        // The answer that took the name step committed on the state it
        // read: had it met a conflict, the other would have committed first.
        let named = &round.named;
        assert!(
            !hosts.conflicted(named.host, &named.activity),
            "the turn that took the name step was run again: {named:?}"
        );
        if round.delivery == Delivery::Connector {
            // Each turn's reply was posted once; the discarded attempt's
            // `How old are you?` never.
            for answer in [named, &round.retried] {
                assert_eq!(
                    hosts.posted_in_reply_to(&answer.activity),
                    answer.replies,
                    "{answer:?}"
                );
            }
        }
    }
    for delivery in both {
        let count = conflicted(&played, delivery);
        eprintln!(
            "{guest}: {count} of {} rounds with {delivery:?} had a conflict",
            played.iter().filter(|r| r.delivery == delivery).count()
        );
        assert!(
            count > 0,
            "{guest}: no state conflict with {delivery:?} in {} rounds: the test did not test",
            played.len()
        );
    }
    for host in &hosts.hosts {
        host.assert_no_panic();
    }
}

#[tokio::test]
async fn rust_echo_re_runs_a_conflicting_answer_on_the_committed_step() {
    rounds_until_conflicts("rust-echo").await;
}

#[tokio::test]
async fn python_echo_re_runs_a_conflicting_answer_on_the_committed_step() {
    rounds_until_conflicts("python-echo").await;
}

#[tokio::test]
async fn js_echo_re_runs_a_conflicting_answer_on_the_committed_step() {
    rounds_until_conflicts("js-echo").await;
}
