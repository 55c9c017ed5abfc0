//! Exactly-once turn effects: a turn's state, delivery record, reference
//! and held-back sends commit in one transaction, and the sends are posted
//! from the outbox at least once, in order, each with a stable id. The host
//! is made to die (`TURNBOX_FAULT`, read by debug builds only) at each step
//! between "received" and "answered"; the channel re-delivers the
//! unanswered activity with the same id to the restarted host (SQLite) or
//! to another host (PostgreSQL); every counter ends exact.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::postgres::PgCluster;
use crate::support::*;

/// A `text` message in `conversation` with the activity id `id`.
fn delivery(service_url: &str, conversation: &str, id: &str, text: &str) -> Value {
    let mut activity = message(service_url, text);
    activity["id"] = json!(id);
    activity["conversation"]["id"] = json!(conversation);
    activity["from"]["id"] = json!(format!("user-of-{conversation}"));
    activity
}

/// The conversation's counter `n`, read by a turn of its own.
async fn counter(host: &Host, service_url: &str, conversation: &str) -> u64 {
    let id = format!("read-{}", rand_suffix());
    let mut ask = delivery(service_url, conversation, &id, "state get conversation n");
    ask["deliveryMode"] = json!("expectReplies");
    let (status, body) = post_activity(&host.url("/api/bots/bot/messages"), &ask).await;
    assert_eq!(status, StatusCode::OK, "{body}\n{}", host.log());
    body["activities"][0]["text"]
        .as_str()
        .and_then(|t| t.parse().ok())
        .unwrap_or(0)
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// The replies the connector got in `conversation`, as (activity id, text),
/// repeats included, in arrival order.
fn posted(connector: &Connector, conversation: &str) -> Vec<(String, String)> {
    let prefix = format!("/v3/conversations/{conversation}/");
    connector
        .received()
        .iter()
        .filter(|r| r.path.starts_with(&prefix))
        .map(|r| {
            let id = r.body["id"].as_str().unwrap_or_default().to_owned();
            let text = r.body["text"].as_str().unwrap_or_default().to_owned();
            (id, text)
        })
        .collect()
}

/// The texts in order of first arrival, a repeat (same activity id) counted
/// once; asserts every repeat carries the text of its first arrival.
fn distinct_texts(posted: &[(String, String)]) -> Vec<String> {
    let mut seen: HashMap<&str, &str> = HashMap::new();
    let mut texts = Vec::new();
    for (id, text) in posted {
        assert!(
            !id.is_empty(),
            "every posted reply carries an id: {posted:?}"
        );
        match seen.get(id.as_str()) {
            Some(first) => assert_eq!(first, text, "a repeat is the same reply"),
            None => {
                seen.insert(id, text);
                texts.push(text.clone());
            }
        }
    }
    texts
}

/// The replies of `tally n 2` turns that counted 1..=turns, in order.
fn tallies(turns: u64) -> Vec<String> {
    (1..=turns)
        .flat_map(|n| (1..=2).map(move |part| format!("n={n} part {part}/2")))
        .collect()
}

/// SQLite: the host dies at `point` in the second turn; restarted on the
/// same data, it gets the unanswered activity again.
async fn crash_at(point: &str) {
    let bots = BotsDir::with(&[("bot", "misbehave")]);
    let data = tempfile::tempdir().unwrap();
    let connector = Connector::start().await;
    let service_url = connector.service_url();
    let conversation = format!("crash-{point}");
    let fault = format!("{point}@2");
    let mut host = Host::start_with_env(
        bots.path(),
        data.path(),
        &[],
        &[("TURNBOX_FAULT", fault.as_str())],
    );
    let url = host.url("/api/bots/bot/messages");
    let first = delivery(&service_url, &conversation, "t1", "tally n 2");
    let (status, body) = post_activity(&url, &first).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let second = delivery(&service_url, &conversation, "t2", "tally n 2");
    let unanswered = client().post(&url).json(&second).send().await;
    assert!(
        unanswered.is_err() || !unanswered.as_ref().unwrap().status().is_success(),
        "the host died before answering"
    );
    let status = host.wait_exit().await.expect("the host aborted");
    assert!(!status.success());
    assert!(
        host.log().contains(&format!("fault injected at `{point}`")),
        "{}",
        host.log()
    );
    drop(host);

    // The channel re-delivers the unanswered activity, same id.
    let host = Host::start_in(bots.path(), data.path(), &[]);
    let url = host.url("/api/bots/bot/messages");
    let (status, body) = post_activity(&url, &second).await;
    assert_eq!(status, StatusCode::OK, "{body}\n{}", host.log());
    assert_eq!(
        counter(&host, &service_url, &conversation).await,
        2,
        "{point}: applied once"
    );

    // Every reply is posted at least once, in order.
    eventually("every reply is posted", || async {
        distinct_texts(&posted(&connector, &conversation)).len() >= 4
    })
    .await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    let posted = posted(&connector, &conversation);
    assert_eq!(distinct_texts(&posted), tallies(2), "{point}: {posted:?}");
    host.assert_no_panic();
}

#[tokio::test]
async fn a_crash_after_the_claim_runs_the_turn_on_redelivery() {
    crash_at("after-claim").await;
}

#[tokio::test]
async fn a_crash_after_the_commit_posts_the_replies_after_restart_and_applies_nothing_twice() {
    crash_at("after-commit").await;
}

#[tokio::test]
async fn a_crash_between_posts_reposts_in_order_with_the_same_ids() {
    crash_at("between-posts").await;
}

#[tokio::test]
async fn a_crash_after_the_posts_repeats_them_at_most_with_the_same_ids() {
    crash_at("after-posts").await;
}

#[tokio::test]
async fn a_reply_the_channel_refuses_for_now_is_retried_before_later_replies() {
    let connector = Connector::start().await;
    let service_url = connector.service_url();
    let host = Host::start(BotsDir::with(&[("bot", "misbehave")]), &[]);
    let url = host.url("/api/bots/bot/messages");
    // More failures than the connector client retries on its own (3
    // retries), twice over: the first reply is left to the outbox relay,
    // whose first try fails too.
    connector.fail_next(&[StatusCode::SERVICE_UNAVAILABLE; 8]);
    for (n, id) in ["r1", "r2", "r3"].iter().enumerate() {
        let (status, body) =
            post_activity(&url, &delivery(&service_url, "retried", id, "tally n 2")).await;
        assert_eq!(status, StatusCode::OK, "turn {n}: {body}");
    }
    eventually("every reply is posted", || async {
        distinct_texts(&posted(&connector, "retried")).len() >= 6
    })
    .await;
    let posted = posted(&connector, "retried");
    assert_eq!(distinct_texts(&posted), tallies(3), "{posted:?}");
    assert_eq!(counter(&host, &service_url, "retried").await, 3);
    host.assert_no_panic();
}

/// When to stop the host in `stop_during_a_turn`.
enum StopWhen {
    /// The connector has the first reply.
    Posting,
    /// The host logged this.
    Logged(&'static str),
}

/// What `stop_during_a_turn` saw: reply texts in `conversation`.
struct Stopped {
    /// Posted by the stopped host.
    before_restart: Vec<String>,
    /// Posted by both hosts, 2 s after the restart (the relay looks at the
    /// outbox at start and every 500 ms).
    in_all: Vec<String>,
    /// The conversation's counter on the restarted host.
    counter: u64,
    /// Both hosts' logs, for the assertions' messages.
    logs: String,
}

/// Sends `tally n 2` in `conversation`, stops the host (a 200 ms grace)
/// at `when`, restarts it on the same data.
async fn stop_during_a_turn(
    connector: &Connector,
    conversation: &str,
    env: &[(&str, &str)],
    when: StopWhen,
) -> Stopped {
    let bots = BotsDir::with(&[("bot", "misbehave")]);
    let data = tempfile::tempdir().unwrap();
    let service_url = connector.service_url();
    let grace = ["--shutdown-grace-ms", "200"];
    let mut host = Host::start_with_env(bots.path(), data.path(), &grace, env);
    let url = host.url("/api/bots/bot/messages");
    let turn = delivery(&service_url, conversation, "t1", "tally n 2");
    let asked = tokio::spawn(async move { client().post(&url).json(&turn).send().await });
    match when {
        StopWhen::Posting => {
            eventually("the first reply is being posted", || async {
                !posted(connector, conversation).is_empty()
            })
            .await
        }
        StopWhen::Logged(line) => assert!(host.wait_for_log(line).await, "{}", host.log()),
    }
    let status = host.terminate().await.expect("the host stops");
    assert!(status.success(), "{}", host.log());
    let _ = asked.await;
    let texts = |posted: Vec<(String, String)>| -> Vec<String> {
        posted.into_iter().map(|(_, text)| text).collect()
    };
    let before_restart = texts(posted(connector, conversation));
    let first_log = host.log();
    drop(host);

    let host = Host::start_in(bots.path(), data.path(), &grace);
    tokio::time::sleep(Duration::from_millis(2000)).await;
    let stopped = Stopped {
        before_restart,
        in_all: texts(posted(connector, conversation)),
        counter: counter(&host, &service_url, conversation).await,
        logs: format!("{first_log}\n--- restarted ---\n{}", host.log()),
    };
    host.assert_no_panic();
    stopped
}

/// A graceful shutdown that comes while a committed turn's replies are
/// being posted waits for the posts past its grace and records them as
/// posted: the next start posts none of them again.
#[tokio::test]
async fn replies_being_posted_at_shutdown_are_recorded_and_not_posted_again() {
    let connector = Connector::start().await;
    // The first reply's post is answered 1.5 s late, past the grace.
    connector.fail_next_with(vec![Failure::Late(Duration::from_millis(1500))]);
    let stopped = stop_during_a_turn(&connector, "stopping", &[], StopWhen::Posting).await;
    assert_eq!(
        stopped.in_all,
        ["n=1 part 1/2", "n=1 part 2/2"],
        "each reply posted once\n{}",
        stopped.logs
    );
    assert_eq!(stopped.counter, 1);
}

/// A turn whose commit lands as the shutdown begins (held after it here)
/// has its replies posted by the stopping host, which waits for them,
/// and not again by the next start.
#[tokio::test]
async fn a_turn_committed_as_the_shutdown_begins_has_its_replies_posted_before_the_exit() {
    let connector = Connector::start().await;
    let stopped = stop_during_a_turn(
        &connector,
        "committed",
        &[("TURNBOX_FAULT", "after-commit~1500")],
        StopWhen::Logged("fault injected at `after-commit`"),
    )
    .await;
    let tally = ["n=1 part 1/2", "n=1 part 2/2"];
    assert_eq!(
        stopped.before_restart, tally,
        "posted by the stopping host\n{}",
        stopped.logs
    );
    assert_eq!(stopped.in_all, tally, "and not again\n{}", stopped.logs);
    assert_eq!(stopped.counter, 1);
}

#[tokio::test]
async fn a_second_host_cannot_open_the_same_sqlite_data() {
    let bots = BotsDir::with(&[("bot", "misbehave")]);
    let data = tempfile::tempdir().unwrap();
    let _first = Host::start_in(bots.path(), data.path(), &[]);
    let second = tokio::process::Command::new(env!("CARGO_BIN_EXE_turnbox"))
        .arg("serve")
        .arg("--bots")
        .arg(bots.path())
        .arg("--data")
        .arg(data.path())
        .args(["--bind", "127.0.0.1", "--port", "0"])
        .kill_on_drop(true)
        .output();
    let second = tokio::time::timeout(Duration::from_secs(60), second)
        .await
        .expect("the second host exits instead of serving")
        .unwrap();
    assert!(!second.status.success());
    let said = String::from_utf8_lossy(&second.stderr).to_string()
        + &String::from_utf8_lossy(&second.stdout);
    assert!(said.contains("in use by another turnbox host"), "{said}");
}

/// Hosts sharing `url`, serving the misbehave bot with a 3 s deadline, so
/// a dead host's claims lapse soon (deadline + the 2 s lease).
fn pg_host(url: &str, fault: Option<&str>) -> Host {
    let bots = BotsDir::with_manifest("bot", "misbehave", "[limits]\nturn_deadline_ms = 3000\n");
    let env: Vec<(&str, &str)> = fault.map(|f| ("TURNBOX_FAULT", f)).into_iter().collect();
    Host::start_with(bots, &["--storage", url, "--timer-lease-secs", "2"], &env)
}

#[tokio::test]
async fn a_redelivery_to_another_host_waits_for_the_running_attempt_and_gets_its_answer() {
    let cluster = PgCluster::start();
    let url = cluster.database("claims");
    let connector = Connector::start().await;
    let service_url = connector.service_url();
    let (a, b) = (pg_host(&url, None), pg_host(&url, None));
    let mut slow = delivery(&service_url, "claimed", "x1", "incr conversation n 1500");
    slow["deliveryMode"] = json!("expectReplies");
    let first = {
        let (url, slow) = (a.url("/api/bots/bot/messages"), slow.clone());
        tokio::spawn(async move { post_activity(&url, &slow).await })
    };
    // The first attempt holds the claim before the re-delivery comes.
    assert!(a.wait_for_log("turn admitted").await, "{}", a.log());
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (status, again) = post_activity(&b.url("/api/bots/bot/messages"), &slow).await;
    let (first_status, first) = first.await.unwrap();
    assert_eq!((first_status, status), (StatusCode::OK, StatusCode::OK));
    assert_eq!(first["activities"][0]["text"], "n=1", "{first}");
    assert_eq!(again, first, "the re-delivery got the first answer");
    assert!(
        b.wait_for_log("claimed by a running attempt").await,
        "{}",
        b.log()
    );
    assert_eq!(
        counter(&b, &service_url, "claimed").await,
        1,
        "one turn ran"
    );
}

#[tokio::test]
async fn hosts_dying_at_each_step_under_load_apply_every_turn_once() {
    let cluster = PgCluster::start();
    let url = cluster.database("exactly_once");
    let connector = Connector::start().await;
    let service_url = connector.service_url();
    // Two hosts die at injected points, one by kill -9 mid-run; one stays.
    let mut hosts = [
        pg_host(&url, Some("after-commit@3")),
        pg_host(&url, Some("between-posts@3")),
        pg_host(&url, Some("after-claim@4")),
        pg_host(&url, None),
        pg_host(&url, None),
    ];
    let urls: Arc<Vec<String>> = Arc::new(
        hosts
            .iter()
            .map(|h| h.url("/api/bots/bot/messages"))
            .collect(),
    );
    const CONVERSATIONS: usize = 6;
    const TURNS: usize = 10;
    let progress = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut drivers = Vec::new();
    for c in 0..CONVERSATIONS {
        let (urls, service_url, progress) = (urls.clone(), service_url.clone(), progress.clone());
        drivers.push(tokio::spawn(async move {
            let conversation = format!("load-{c}");
            let mut redelivered = 0;
            for t in 0..TURNS {
                let activity = delivery(
                    &service_url,
                    &conversation,
                    &format!("{c}-{t}"),
                    "tally n 2",
                );
                // Like a channel: the same activity again, to the next
                // host, until one answers.
                let mut target = c + t;
                loop {
                    let sent = client()
                        .post(&urls[target % urls.len()])
                        .json(&activity)
                        .send()
                        .await;
                    if matches!(&sent, Ok(r) if r.status() == reqwest::StatusCode::OK) {
                        break;
                    }
                    redelivered += 1;
                    target += 1;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                progress.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            redelivered
        }));
    }
    eventually("the run is under way", || async {
        progress.load(std::sync::atomic::Ordering::Relaxed) >= CONVERSATIONS * TURNS / 3
    })
    .await;
    let killed = std::process::Command::new("kill")
        .args(["-9", &hosts[3].pid().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let mut redelivered = 0;
    for driver in drivers {
        redelivered += driver.await.unwrap();
    }
    assert!(redelivered > 0, "no delivery was cut");
    for host in &mut hosts[..3] {
        assert!(
            host.wait_exit().await.is_some(),
            "an armed host died at its fault"
        );
    }
    let survivor = &hosts[4];
    for c in 0..CONVERSATIONS {
        let conversation = format!("load-{c}");
        let n = counter(survivor, &service_url, &conversation).await;
        assert_eq!(n, TURNS as u64, "{conversation}: every turn applied once");
    }
    eventually("every reply is posted", || async {
        (0..CONVERSATIONS)
            .all(|c| distinct_texts(&posted(&connector, &format!("load-{c}"))).len() >= 2 * TURNS)
    })
    .await;
    for c in 0..CONVERSATIONS {
        let posted = posted(&connector, &format!("load-{c}"));
        assert_eq!(
            distinct_texts(&posted),
            tallies(TURNS as u64),
            "load-{c}: {posted:?}"
        );
    }
    survivor.assert_no_panic();
}
