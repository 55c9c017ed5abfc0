//! Turns longer than a channel waits (issue #20): a channel's request is
//! answered after `ack_after_ms` while the turn goes on and its replies
//! still reach the connector; `expectReplies` still waits for the end; a
//! Direct Line post returns before the turn ends; a graceful shutdown lets
//! such a turn finish; and a host killed in the middle of one runs it
//! again after restart, replying once.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use serde_json::{Value, json};

use crate::support::*;

/// A slow upstream: `/slow?ms=N` answers "late" after N ms. It counts the
/// requests it got and the answers it finished.
struct Upstream {
    port: u16,
    started: Arc<AtomicU32>,
    finished: Arc<AtomicU32>,
    _server: tokio::task::JoinHandle<()>,
}

#[derive(serde::Deserialize)]
struct Slow {
    ms: u64,
}

impl Upstream {
    async fn start() -> Upstream {
        let counts = (Arc::new(AtomicU32::new(0)), Arc::new(AtomicU32::new(0)));
        let app = Router::new()
            .route(
                "/slow",
                get(
                    |State((started, finished)): State<(Arc<AtomicU32>, Arc<AtomicU32>)>,
                     Query(slow): Query<Slow>| async move {
                        started.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(slow.ms)).await;
                        finished.fetch_add(1, Ordering::SeqCst);
                        "late"
                    },
                ),
            )
            .with_state(counts.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        Upstream {
            port,
            started: counts.0,
            finished: counts.1,
            _server: tokio::spawn(async move {
                let _ = axum::serve(listener, app).await;
            }),
        }
    }

    fn started(&self) -> u32 {
        self.started.load(Ordering::SeqCst)
    }

    fn finished(&self) -> u32 {
        self.finished.load(Ordering::SeqCst)
    }

    /// The rust-echo command that fetches `/slow` for `ms`.
    fn fetch(&self, ms: u64) -> String {
        format!("fetch http://127.0.0.1:{}/slow?ms={ms}", self.port)
    }
}

/// A bot folder with rust-echo as `bot`, allowed to reach the upstream,
/// with `limits` added to its `[limits]`.
fn bots(upstream: &Upstream, limits: &str) -> BotsDir {
    let manifest = format!(
        "[limits]\nturn_deadline_ms = 60000\n{limits}\n[http]\nallowed_hosts = [\"http://127.0.0.1:{}\"]\ntimeout_ms = 50000\nfirst_byte_timeout_ms = 50000\n",
        upstream.port
    );
    BotsDir::with_manifest("bot", "rust-echo", &manifest)
}

/// The texts of the messages the connector got.
fn replies(connector: &Connector) -> Vec<String> {
    connector
        .received()
        .iter()
        .filter(|r| r.body["type"] == "message")
        .filter_map(|r| r.body["text"].as_str().map(str::to_owned))
        .collect()
}

/// Waits up to `limit` for `check`.
async fn within(limit: Duration, what: &str, check: impl Fn() -> bool) {
    let until = Instant::now() + limit;
    while Instant::now() < until {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("not within {limit:?}: {what}");
}

/// A long turn answered early (`ack_after_ms = 200`), the bot fetching the
/// upstream for `fetch_ms`, on a host started with `args` and `env` over
/// folders kept for a restart; its activity was answered 202.
struct KeptTurn {
    upstream: Upstream,
    connector: Connector,
    bots: BotsDir,
    data: tempfile::TempDir,
    host: Host,
    activity: Value,
}

impl KeptTurn {
    async fn start(fetch_ms: u64, args: &[&str], env: &[(&str, &str)]) -> KeptTurn {
        let upstream = Upstream::start().await;
        let connector = Connector::start().await;
        let bots = bots(&upstream, "ack_after_ms = 200");
        let data = tempfile::tempdir().unwrap();
        let host = Host::start_with_env(bots.path(), data.path(), args, env);
        let activity = message(&connector.service_url(), &upstream.fetch(fetch_ms));
        let (status, _) = post_activity(&host.url("/api/bots/bot/messages"), &activity).await;
        assert_eq!(status, StatusCode::ACCEPTED);
        KeptTurn {
            upstream,
            connector,
            bots,
            data,
            host,
            activity,
        }
    }

    /// Another host on the same folders, with `args`.
    fn restart(&self, args: &[&str]) -> Host {
        Host::start_in(self.bots.path(), self.data.path(), args)
    }
}

#[tokio::test]
async fn a_thirty_second_turn_is_acknowledged_early_and_its_reply_still_arrives() {
    let upstream = Upstream::start().await;
    let connector = Connector::start().await;
    let host = Host::start(bots(&upstream, ""), &[]);
    let activity = message(&connector.service_url(), &upstream.fetch(30_000));
    let asked = Instant::now();
    let (status, _) = post_activity(&host.url("/api/bots/bot/messages"), &activity).await;
    let waited = asked.elapsed();
    assert_eq!(status, StatusCode::ACCEPTED);
    // Answered within the channel's 15 s, while the turn still waited.
    assert!(
        waited < Duration::from_secs(15),
        "answered after {waited:?}"
    );
    assert_eq!(upstream.finished(), 0, "the request waited for the turn");
    within(
        Duration::from_secs(60),
        "the reply reaches the connector",
        || replies(&connector).iter().any(|t| t == "fetched 200: late"),
    )
    .await;
    assert_eq!(replies(&connector), ["fetched 200: late"]);
    assert!(
        host.wait_for_log("turn done (its request was answered before)")
            .await
    );
    host.assert_no_panic();
}

#[tokio::test]
async fn expect_replies_and_quick_turns_still_get_their_answer_in_the_response() {
    let upstream = Upstream::start().await;
    let connector = Connector::start().await;
    let host = Host::start(bots(&upstream, "ack_after_ms = 200"), &[]);
    // expectReplies: the answer is the reply, however long it takes.
    let mut activity = message(&connector.service_url(), &upstream.fetch(1500));
    activity["deliveryMode"] = json!("expectReplies");
    let (status, body) = post_activity(&host.url("/api/bots/bot/messages"), &activity).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["activities"][0]["text"], "fetched 200: late");
    // A quick turn is answered 200 at its end, as before.
    let quick = message(&connector.service_url(), "hello");
    let (status, _) = post_activity(&host.url("/api/bots/bot/messages"), &quick).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(replies(&connector), ["Echo: hello"]);
}

#[tokio::test]
async fn a_graceful_shutdown_lets_an_acknowledged_turn_finish() {
    let upstream = Upstream::start().await;
    let connector = Connector::start().await;
    let mut host = Host::start(bots(&upstream, "ack_after_ms = 200"), &[]);
    let activity = message(&connector.service_url(), &upstream.fetch(2000));
    let (status, _) = post_activity(&host.url("/api/bots/bot/messages"), &activity).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(upstream.finished(), 0);
    let exit = host.terminate().await.expect("the host exits");
    assert!(exit.success(), "{exit:?}\n{}", host.log());
    assert_eq!(replies(&connector), ["fetched 200: late"], "{}", host.log());
}

/// A turn still running when the shutdown grace runs out commits nothing
/// once the host has closed its committer, and its kept activity stays for
/// the next start (or another host), which runs it. The host is held
/// (`after-close~3000`) after the close and before it hands its claims on,
/// so the turn ends meanwhile and tries to commit: refused, and its row is
/// left, not forgotten as a failed turn's would be.
#[tokio::test]
async fn a_turn_that_outlives_the_shutdown_grace_is_run_again_by_the_next_start() {
    let mut kept = KeptTurn::start(
        1000,
        &["--shutdown-grace-ms", "300"],
        &[("TURNBOX_FAULT", "after-close~3000")],
    )
    .await;
    within(
        Duration::from_secs(10),
        "the turn reaches the upstream",
        || kept.upstream.started() == 1,
    )
    .await;
    let exit = kept.host.terminate().await.expect("the host exits");
    assert!(exit.success(), "{exit:?}\n{}", kept.host.log());
    assert_eq!(
        kept.upstream.finished(),
        1,
        "the turn ended before the host did"
    );
    assert!(
        kept.host
            .log()
            .contains("the host stopped before this kept turn's commit"),
        "{}",
        kept.host.log()
    );
    let host = kept.restart(&[]);
    assert!(
        host.wait_for_log("resuming a kept turn").await,
        "{}",
        host.log()
    );
    within(Duration::from_secs(30), "the resumed turn ends", || {
        kept.upstream.finished() == 2
    })
    .await;
    within(Duration::from_secs(10), "the resumed turn replies", || {
        !replies(&kept.connector).is_empty()
    })
    .await;
    // Once: the first run's reply was held back for its refused commit.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(replies(&kept.connector), ["fetched 200: late"]);
    host.assert_no_panic();
}

#[tokio::test]
async fn a_host_killed_during_an_acknowledged_turn_runs_it_again_after_restart_once() {
    let mut kept = KeptTurn::start(3000, &[], &[]).await;
    within(
        Duration::from_secs(10),
        "the turn reaches the upstream",
        || kept.upstream.started() == 1,
    )
    .await;
    let killed = std::process::Command::new("kill")
        .args(["-KILL", &kept.host.pid().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    assert!(kept.host.wait_exit().await.is_some(), "the host is gone");
    assert!(replies(&kept.connector).is_empty());

    // The channel will not deliver it again: the restarted host runs it.
    let host = kept.restart(&[]);
    within(Duration::from_secs(30), "the resumed turn replies", || {
        !replies(&kept.connector).is_empty()
    })
    .await;
    assert!(host.wait_for_log("resuming a kept turn").await);
    assert_eq!(kept.upstream.started(), 2, "the turn ran again");
    // Once: a later look finds nothing kept.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(replies(&kept.connector), ["fetched 200: late"]);
    assert_eq!(kept.upstream.started(), 2);
    let reply = kept
        .connector
        .received()
        .into_iter()
        .find(|r| r.body["type"] == "message")
        .unwrap();
    assert_eq!(reply.body["replyToId"], kept.activity["id"]);
    host.assert_no_panic();
}

/// Posts to a Direct Line conversation as its user; the status and when
/// it returned.
/// A new Direct Line conversation, opened with the secret `dl-secret`.
async fn open_directline(host: &Host) -> Value {
    let (status, conversation) = read(
        client()
            .post(host.url("/v3/directline/conversations"))
            .bearer_auth("dl-secret")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{conversation}");
    conversation
}

/// The texts of the Direct Line conversation's activities that `keep`
/// keeps, read each 100 ms until the bot's "fetched 200: late" is among
/// them (or `limit` has passed).
async fn texts_once_replied(
    host: &Host,
    conversation: &Value,
    limit: Duration,
    keep: impl Fn(&Value) -> bool,
) -> Vec<String> {
    let id = conversation["conversationId"].as_str().unwrap();
    let token = conversation["token"].as_str().unwrap();
    let mut texts: Vec<String> = Vec::new();
    let until = Instant::now() + limit;
    while Instant::now() < until && !texts.iter().any(|t| t == "fetched 200: late") {
        let (_, set) = read(
            client()
                .get(host.url(&format!("/v3/directline/conversations/{id}/activities")))
                .bearer_auth(token)
                .send()
                .await
                .unwrap(),
        )
        .await;
        texts = set["activities"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|a| keep(a))
            .filter_map(|a| a["text"].as_str().map(str::to_owned))
            .collect();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    texts
}

async fn post_directline(host: &Host, conversation: &Value, text: &str) -> StatusCode {
    post_directline_to(&host.url(""), conversation, text).await
}

/// `post_directline` to the host at `base`.
async fn post_directline_to(base: &str, conversation: &Value, text: &str) -> StatusCode {
    let id = conversation["conversationId"].as_str().unwrap();
    let token = conversation["token"].as_str().unwrap();
    client()
        .post(format!(
            "{base}/v3/directline/conversations/{id}/activities"
        ))
        .bearer_auth(token)
        .json(&json!({"type": "message", "from": {"id": "user"}, "text": text}))
        .send()
        .await
        .unwrap()
        .status()
}

/// A Direct Line message whose turn the shutdown cuts (the grace ran out,
/// the committer closed, then the turn tried to commit) is kept: its post
/// is answered as accepted, not as a failure the client would send again,
/// and the next start runs it, its reply logged once.
#[tokio::test]
async fn a_direct_line_message_cut_by_the_shutdown_is_accepted_and_run_after_the_restart() {
    let upstream = Upstream::start().await;
    let bots = bots(&upstream, "ack_after_ms = 20000");
    let data = tempfile::tempdir().unwrap();
    let args = ["--directline-secret", "dl-secret"];
    let mut host = Host::start_with_env(
        bots.path(),
        data.path(),
        &[&args[..], &["--shutdown-grace-ms", "300"]].concat(),
        &[("TURNBOX_FAULT", "after-close~3000")],
    );
    let conversation = open_directline(&host).await;
    let posting = tokio::spawn({
        let (url, conversation, text) = (host.url(""), conversation.clone(), upstream.fetch(1000));
        async move { post_directline_to(&url, &conversation, &text).await }
    });
    within(
        Duration::from_secs(10),
        "the turn reaches the upstream",
        || upstream.started() == 1,
    )
    .await;
    let exit = host.terminate().await.expect("the host exits");
    assert!(exit.success(), "{exit:?}\n{}", host.log());
    assert_eq!(posting.await.unwrap(), StatusCode::OK, "{}", host.log());
    assert_eq!(upstream.finished(), 1, "the turn ended before the host did");

    let host = Host::start_in(bots.path(), data.path(), &args);
    within(Duration::from_secs(30), "the resumed turn ends", || {
        upstream.finished() == 2
    })
    .await;
    let texts = texts_once_replied(&host, &conversation, Duration::from_secs(10), |_| true).await;
    assert_eq!(texts, [upstream.fetch(1000), "fetched 200: late".into()]);
}

#[tokio::test]
async fn a_direct_line_post_returns_before_a_long_turn_ends() {
    let upstream = Upstream::start().await;
    let host = Host::start(
        bots(&upstream, "ack_after_ms = 200"),
        &["--directline-secret", "dl-secret"],
    );
    let conversation = open_directline(&host).await;
    let status = post_directline(&host, &conversation, &upstream.fetch(2000)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(upstream.finished(), 0, "the post waited for the turn");
    let texts = texts_once_replied(&host, &conversation, Duration::from_secs(20), |a| {
        a["from"]["role"] == "bot"
    })
    .await;
    assert_eq!(texts, ["fetched 200: late"]);
}

#[tokio::test]
async fn a_turn_killed_after_its_commit_is_not_run_again_even_without_dedup() {
    // The kept activity is removed in the turn's own commit: with
    // de-duplication off nothing else would stop a second run.
    let mut kept = KeptTurn::start(
        1000,
        &["--dedup-window-secs", "0"],
        &[("TURNBOX_FAULT", "after-commit")],
    )
    .await;
    assert!(
        kept.host.wait_exit().await.is_some(),
        "the host dies after the commit"
    );
    assert_eq!(kept.upstream.started(), 1);

    let host = kept.restart(&["--dedup-window-secs", "0"]);
    // Several looks of the resume loop.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(kept.upstream.started(), 1, "the committed turn ran again");
    assert_eq!(replies(&kept.connector), ["fetched 200: late"]);
    assert!(
        !host.log().contains("resuming a kept turn"),
        "{}",
        host.log()
    );
}

#[tokio::test]
async fn a_direct_line_message_not_admitted_now_is_run_later_not_refused() {
    // One turn at a time: the second conversation's message finds the bot
    // busy. Its message is in the log already, so the host, not the
    // client, tries it again.
    let upstream = Upstream::start().await;
    let host = Host::start(
        bots(&upstream, "ack_after_ms = 200\nmax_concurrent_turns = 1"),
        &["--directline-secret", "dl-secret"],
    );
    let (first, second) = (open_directline(&host).await, open_directline(&host).await);
    assert_eq!(
        post_directline(&host, &first, &upstream.fetch(2000)).await,
        StatusCode::OK
    );
    assert_eq!(
        post_directline(&host, &second, "hello").await,
        StatusCode::OK,
        "{}",
        host.log()
    );
    let id = second["conversationId"].as_str().unwrap().to_owned();
    let token = second["token"].as_str().unwrap().to_owned();
    let host_ref = &host;
    eventually("the busy message is answered later", || {
        let (id, token) = (id.clone(), token.clone());
        async move {
            let (_, set) = read(
                client()
                    .get(host_ref.url(&format!("/v3/directline/conversations/{id}/activities")))
                    .bearer_auth(&token)
                    .send()
                    .await
                    .unwrap(),
            )
            .await;
            set["activities"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|a| a["text"] == "Echo: hello")
        }
    })
    .await;
    assert!(host.wait_for_log("the host tries it again shortly").await);
}

/// The conversations API's `complete` finds the bot busy (one turn at a
/// time, taken by a Direct Line turn): the host tries again each second
/// while the caller waits, and the caller gets the reply. Before, it got a
/// 503 for a message already logged, and sending it again logged it twice.
#[tokio::test]
async fn complete_waits_for_a_busy_bot_and_gets_the_reply() {
    let upstream = Upstream::start().await;
    let host = Host::start(
        bots(&upstream, "ack_after_ms = 200\nmax_concurrent_turns = 1"),
        &["--directline-secret", "dl-secret"],
    );
    let busy = open_directline(&host).await;
    assert_eq!(
        post_directline(&host, &busy, &upstream.fetch(2000)).await,
        StatusCode::OK
    );
    let id = crate::conversations_api::create(&host, None, json!({"bot": "bot"})).await;
    let (status, completed) = crate::conversations_api::call(
        &host,
        "POST",
        &format!("/{id}/complete"),
        None,
        Some(json!({"text": "hello"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{completed}");
    assert_eq!(
        crate::conversations_api::texts(&completed["items"]),
        ["bot:Echo: hello"]
    );
    let (_, history) =
        crate::conversations_api::call(&host, "GET", &format!("/{id}/message/list"), None, None)
            .await;
    assert_eq!(
        crate::conversations_api::texts(&history["items"]),
        ["user:hello", "bot:Echo: hello"],
        "logged once"
    );
}

/// A Direct Line message whose turn fails (the bot traps) leaves no kept
/// turn behind: after a restart nothing is resumed. (Its row is kept with
/// the message and forgotten when the turn is over.)
#[tokio::test]
async fn a_failed_direct_line_turn_is_not_resumed_after_a_restart() {
    let bots = BotsDir::with(&[("slow", "misbehave")]);
    let data = tempfile::tempdir().unwrap();
    let args = ["--directline-secret", "dl-secret", "--default-bot", "slow"];
    let mut host = Host::start_in(bots.path(), data.path(), &args);
    let conversation = open_directline(&host).await;
    assert!(
        post_directline(&host, &conversation, "trap")
            .await
            .is_server_error()
    );
    assert_eq!(
        post_directline(&host, &conversation, "fine").await,
        StatusCode::OK
    );
    assert!(host.terminate().await.is_some_and(|s| s.success()));
    drop(host);
    let host = Host::start_in(bots.path(), data.path(), &args);
    // Several looks of the resume loop.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        !host.log().contains("resuming a kept turn"),
        "{}",
        host.log()
    );
    assert!(!host.log().contains("a kept turn"), "{}", host.log());
}

/// Kept turns of a bot that is not loaded: one accepted two days ago is
/// dropped (with an error line); one accepted now waits for its bot, kept.
#[tokio::test]
async fn a_kept_turn_whose_bot_stays_gone_for_a_day_is_dropped() {
    let connector = Connector::start().await;
    let bots = BotsDir::with(&[("bot", "rust-echo")]);
    let data = tempfile::tempdir().unwrap();
    let mut host = Host::start_in(bots.path(), data.path(), &[]);
    assert!(host.terminate().await.is_some_and(|s| s.success()));
    drop(host);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let db = rusqlite::Connection::open(data.path().join("state.db")).unwrap();
    for (id, created) in [("old", now - 2 * 86_400_000), ("young", now - 60_000)] {
        let mut activity = message(&connector.service_url(), "hello");
        activity["id"] = json!(id);
        db.execute(
            "INSERT INTO accepted (bot, conversation, activity_id, activity, route, claimed_until, owner, created)
             VALUES ('gone', ?1, ?2, ?3, 'dev', 0, '', ?4)",
            rusqlite::params![activity["conversation"]["id"].as_str().unwrap(), id, activity.to_string(), created],
        )
        .unwrap();
    }
    drop(db);

    let mut host = Host::start_in(bots.path(), data.path(), &[]);
    assert!(
        host.wait_for_log("the turn is dropped").await,
        "{}",
        host.log()
    );
    assert!(
        host.wait_for_log("a kept turn's bot is not loaded; it is tried again later")
            .await
    );
    assert!(host.terminate().await.is_some());
    let db = rusqlite::Connection::open(data.path().join("state.db")).unwrap();
    let kept: Vec<String> = db
        .prepare("SELECT activity_id FROM accepted WHERE bot = 'gone'")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(kept, ["young"]);
    assert_eq!(
        host.log().matches("the turn is dropped").count(),
        1,
        "{}",
        host.log()
    );
    assert!(connector.received().is_empty());
    host.assert_no_panic();
}
