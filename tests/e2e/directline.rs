//! The built-in Direct Line 3.0 channel, spoken as a client would.

use std::time::Duration;

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::support::*;

const SECRET: &str = "the-direct-line-secret";

fn host(extra: &[&str]) -> Host {
    let bots = BotsDir::with(&[("echo", "rust-echo"), ("slow", "misbehave")]);
    std::fs::write(
        bots.path().join("slow.toml"),
        "[middleware]\ntyping = true\n",
    )
    .unwrap();
    let mut args = vec!["--default-bot", "echo", "--directline-secret", SECRET];
    args.extend_from_slice(extra);
    Host::start(bots, &args)
}

async fn call(
    method: reqwest::Method,
    url: &str,
    bearer: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = client().request(method, url);
    if let Some(bearer) = bearer {
        request = request.bearer_auth(bearer);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    read(request.send().await.unwrap()).await
}

async fn start(host: &Host, base: &str, user: Option<&str>) -> Value {
    let body = user.map(|id| json!({"user": {"id": id}}));
    let (status, answer) = call(
        reqwest::Method::POST,
        &host.url(&format!("{base}/conversations")),
        Some(SECRET),
        body,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    answer
}

/// A client never sees an activity's `serviceUrl` (on this channel it is
/// the host's connector endpoint, with the key that lets anyone post as a
/// bot), nor the log's mark of what the bot sent.
fn assert_no_connector_key(set: &Value) {
    let text = set.to_string();
    assert!(
        !text.contains("serviceUrl") && !text.contains("directline-connector"),
        "{text}"
    );
    assert!(!text.contains("turnboxFromBot"), "{text}");
}

fn user_message(text: &str) -> Value {
    json!({"type": "message", "from": {"id": "ignored"}, "text": text,
           "channelData": {"clientActivityID": format!("client-{text}")}})
}

#[tokio::test]
async fn a_conversation_posts_and_reads_with_watermarks() {
    let host = host(&[]);
    let conversation = start(&host, "/v3/directline", None).await;
    let (id, token) = (
        conversation["conversationId"].as_str().unwrap(),
        conversation["token"].as_str().unwrap(),
    );
    assert!(
        conversation["streamUrl"]
            .as_str()
            .unwrap()
            .starts_with("ws://")
    );
    let activities = host.url(&format!("/v3/directline/conversations/{id}/activities"));

    let (status, posted) = call(
        reqwest::Method::POST,
        &activities,
        Some(token),
        Some(user_message("hello")),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{posted}");
    let (_, set) = call(reqwest::Method::GET, &activities, Some(token), None).await;
    let list = set["activities"].as_array().unwrap();
    assert_eq!(list.len(), 2, "{set}");
    assert_eq!(list[0]["id"], posted["id"]);
    assert_eq!(
        list[0]["channelData"]["clientActivityID"], "client-hello",
        "the user's message is echoed"
    );
    assert_eq!(list[1]["text"], "Echo: hello");
    assert_eq!(list[1]["from"]["id"], "echo");
    let watermark = set["watermark"].as_str().unwrap().to_owned();

    let (_, empty) = call(
        reqwest::Method::GET,
        &format!("{activities}?watermark={watermark}"),
        Some(token),
        None,
    )
    .await;
    assert_eq!(empty["activities"], json!([]));
    call(
        reqwest::Method::POST,
        &activities,
        Some(token),
        Some(user_message("again")),
    )
    .await;
    let (_, next) = call(
        reqwest::Method::GET,
        &format!("{activities}?watermark={watermark}"),
        Some(token),
        None,
    )
    .await;
    let texts: Vec<&str> = next["activities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["text"].as_str().unwrap())
        .collect();
    assert_eq!(
        texts,
        ["again", "Echo: again"],
        "nothing lost, nothing repeated"
    );

    // Replaying an old watermark loses nothing.
    let (_, replay) = call(
        reqwest::Method::GET,
        &format!("{activities}?watermark=1"),
        Some(token),
        None,
    )
    .await;
    assert_eq!(replay["activities"].as_array().unwrap().len(), 3);

    // A second start with the token returns the same conversation.
    let (status, again) = call(
        reqwest::Method::POST,
        &host.url("/v3/directline/conversations"),
        Some(token),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again["conversationId"], id);
}

#[tokio::test]
async fn tokens_are_bound_to_their_user_and_conversation() {
    let host = host(&[]);
    let (status, generated) = call(
        reqwest::Method::POST,
        &host.url("/v3/directline/tokens/generate"),
        Some(SECRET),
        Some(json!({"user": {"id": "alice"}})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{generated}");
    let (id, token) = (
        generated["conversationId"].as_str().unwrap(),
        generated["token"].as_str().unwrap(),
    );
    assert_eq!(generated["expires_in"], 1800);
    let (status, _) = call(
        reqwest::Method::POST,
        &host.url("/v3/directline/conversations"),
        Some(token),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);

    // from.id is the token's user, whatever the client says.
    let activities = host.url(&format!("/v3/directline/conversations/{id}/activities"));
    call(
        reqwest::Method::POST,
        &activities,
        Some(token),
        Some(user_message("who")),
    )
    .await;
    let (_, set) = call(reqwest::Method::GET, &activities, Some(token), None).await;
    assert_eq!(set["activities"][0]["from"]["id"], "alice");
    assert_eq!(set["activities"][1]["recipient"]["id"], "alice");

    // Refresh gives a working token for the same conversation.
    let (status, refreshed) = call(
        reqwest::Method::POST,
        &host.url("/v3/directline/tokens/refresh"),
        Some(token),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(refreshed["conversationId"], id);
    let (status, _) = call(
        reqwest::Method::GET,
        &activities,
        refreshed["token"].as_str(),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    // A token for one conversation cannot read another.
    let other = start(&host, "/v3/directline", None).await;
    let other_id = other["conversationId"].as_str().unwrap();
    let (status, body) = call(
        reqwest::Method::GET,
        &host.url(&format!(
            "/v3/directline/conversations/{other_id}/activities"
        )),
        Some(token),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");

    // The secret is required.
    let (status, _) = call(
        reqwest::Method::POST,
        &host.url("/v3/directline/conversations"),
        None,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = call(
        reqwest::Method::POST,
        &host.url("/v3/directline/conversations"),
        Some("wrong"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn an_expired_token_gets_403_token_expired() {
    let host = host(&["--directline-token-seconds", "1"]);
    let conversation = start(&host, "/v3/directline", None).await;
    let (id, token) = (
        conversation["conversationId"].as_str().unwrap(),
        conversation["token"].as_str().unwrap(),
    );
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let (status, body) = call(
        reqwest::Method::GET,
        &host.url(&format!("/v3/directline/conversations/{id}/activities")),
        Some(token),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_error(&body, "TokenExpired");
}

#[tokio::test]
async fn the_stream_replays_the_backlog_and_pushes_typing_and_replies() {
    let host = host(&[]);
    let conversation = start(&host, "/bots/slow/v3/directline", None).await;
    let (id, token) = (
        conversation["conversationId"].as_str().unwrap(),
        conversation["token"].as_str().unwrap(),
    );
    let activities = host.url(&format!(
        "/bots/slow/v3/directline/conversations/{id}/activities"
    ));
    // Sent before the socket opens: replayed when it does.
    call(
        reqwest::Method::POST,
        &activities,
        Some(token),
        Some(user_message("early")),
    )
    .await;

    let stream_url = conversation["streamUrl"].as_str().unwrap();
    let (mut socket, _) = tokio_tungstenite::connect_async(stream_url)
        .await
        .expect("websocket");
    let backlog = next_set(&mut socket).await;
    let texts: Vec<&str> = backlog["activities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["early", "ok: early"]);
    assert_eq!(backlog["watermark"], "2");

    let url = activities.clone();
    let token_owned = token.to_owned();
    let posting = tokio::spawn(async move {
        call(
            reqwest::Method::POST,
            &url,
            Some(&token_owned),
            Some(user_message("sleep 1200")),
        )
        .await
    });
    let mut kinds = Vec::new();
    while !kinds.contains(&"ok: sleep 1200".to_string()) {
        let set = next_set(&mut socket).await;
        assert_no_connector_key(&set);
        for activity in set["activities"].as_array().unwrap() {
            kinds.push(
                activity["text"]
                    .as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| activity["type"].as_str().unwrap().to_owned()),
            );
        }
    }
    assert_eq!(kinds.first().map(String::as_str), Some("sleep 1200"));
    assert!(
        kinds.contains(&"typing".to_string()),
        "typing arrives over the socket: {kinds:?}"
    );
    assert_eq!(posting.await.unwrap().0, StatusCode::OK);

    // Typing is not in the polled log; reconnecting from a watermark replays
    // from there.
    let (_, set) = call(reqwest::Method::GET, &activities, Some(token), None).await;
    assert_no_connector_key(&set);
    assert!(
        set["activities"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["type"] != "typing")
    );
    let (status, reconnected) = call(
        reqwest::Method::GET,
        &host.url(&format!(
            "/bots/slow/v3/directline/conversations/{id}?watermark=2"
        )),
        Some(token),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (mut again, _) =
        tokio_tungstenite::connect_async(reconnected["streamUrl"].as_str().unwrap())
            .await
            .unwrap();
    let replayed = next_set(&mut again).await;
    let texts: Vec<&str> = replayed["activities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["sleep 1200", "ok: sleep 1200"]);
}

#[tokio::test]
async fn the_chat_page_lists_bots_and_opens_a_session() {
    let host = host(&[]);
    let index = host.get_text("/").await;
    assert!(
        index.contains("href=\"/chat/echo\"") && index.contains("href=\"/chat/slow\""),
        "{index}"
    );
    let page = client().get(host.url("/chat/echo")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("data-bot=\"echo\"") && html.contains("/chat/assets/chat.js"));
    for (asset, kind) in [("chat.js", "text/javascript"), ("chat.css", "text/css")] {
        let response = client()
            .get(host.url(&format!("/chat/assets/{asset}")))
            .send()
            .await
            .unwrap();
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with(kind)
        );
    }
    assert_eq!(
        client()
            .get(host.url("/chat/nobody"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );

    // The page's session is a working Direct Line conversation.
    let (status, session) = call(
        reqwest::Method::POST,
        &host.url("/chat/echo/session"),
        None,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{session}");
    let (id, token) = (
        session["conversationId"].as_str().unwrap(),
        session["token"].as_str().unwrap(),
    );
    let activities = host.url(&format!(
        "/bots/echo/v3/directline/conversations/{id}/activities"
    ));
    let (status, _) = call(
        reqwest::Method::POST,
        &activities,
        Some(token),
        Some(user_message("page")),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (_, set) = call(reqwest::Method::GET, &activities, Some(token), None).await;
    assert_eq!(set["activities"][1]["text"], "Echo: page");
    assert_eq!(set["activities"][0]["from"]["id"], session["userId"]);
}

#[tokio::test]
async fn turnbox_chat_talks_to_a_bot_in_the_terminal() {
    let host = host(&[]);
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_turnbox"))
        .args(["chat", "echo", "--url", &host.url(""), "--secret", SECRET])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("start turnbox chat");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(b"hello\ncard\n/quit\n").unwrap();
    }
    let output = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(stdout.contains("bot> Echo: hello"), "{stdout}");
    assert!(stdout.contains("bot> Here is a card\n     [application/vnd.microsoft.card.hero] turnbox\n     (Red | Blue)"), "{stdout}");
    assert_eq!(
        stdout.matches("bot> Echo: hello").count(),
        1,
        "each reply once: {stdout}"
    );
}

#[tokio::test]
async fn a_bot_can_have_its_own_secret() {
    let bots = BotsDir::with(&[("echo", "rust-echo"), ("locked", "rust-echo")]);
    std::fs::write(
        bots.path().join("locked.toml"),
        "[directline]\nsecret = \"locked-secret\"\n",
    )
    .unwrap();
    // No host-wide secret: dev mode for the other bots.
    let host = Host::start(bots, &["--default-bot", "echo"]);
    let url = |bot: &str| host.url(&format!("/bots/{bot}/v3/directline/conversations"));
    let post = reqwest::Method::POST;
    assert_eq!(
        call(post.clone(), &url("locked"), None, None).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        call(post.clone(), &url("locked"), Some("locked-secret"), None)
            .await
            .0,
        StatusCode::CREATED
    );
    assert_eq!(
        call(post.clone(), &url("echo"), Some("locked-secret"), None)
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        call(post, &url("echo"), None, None).await.0,
        StatusCode::CREATED,
        "dev mode for loopback"
    );
}

#[tokio::test]
async fn a_conversation_survives_a_hot_reload_of_its_bot() {
    let bots = BotsDir::with(&[("echo", "rust-echo")]);
    let dir = bots.path().to_owned();
    let host = Host::start(bots, &[]);
    let conversation = start(&host, "/v3/directline", None).await;
    let (id, token) = (
        conversation["conversationId"].as_str().unwrap(),
        conversation["token"].as_str().unwrap(),
    );
    let activities = host.url(&format!("/v3/directline/conversations/{id}/activities"));
    call(
        reqwest::Method::POST,
        &activities,
        Some(token),
        Some(user_message("before")),
    )
    .await;

    replace_atomically(
        &dir,
        "echo.wasm",
        &std::fs::read(guest("misbehave")).unwrap(),
    );
    eventually("the new version serves", || async {
        host.ask("echo", "probe").await.1.as_deref() == Some("ok: probe")
    })
    .await;
    let (status, _) = call(
        reqwest::Method::POST,
        &activities,
        Some(token),
        Some(user_message("after")),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (_, set) = call(reqwest::Method::GET, &activities, Some(token), None).await;
    let texts: Vec<&str> = set["activities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["before", "Echo: before", "after", "ok: after"]);
}

#[tokio::test]
async fn a_conversation_and_its_token_survive_a_restart() {
    let bots = BotsDir::with(&[("echo", "rust-echo")]);
    let data = tempfile::tempdir().unwrap();
    let args = ["--default-bot", "echo", "--directline-secret", SECRET];
    let host = Host::start_in(bots.path(), data.path(), &args);
    let conversation = start(&host, "/v3/directline", None).await;
    let (id, token) = (
        conversation["conversationId"].as_str().unwrap(),
        conversation["token"].as_str().unwrap(),
    );
    let path = format!("/v3/directline/conversations/{id}/activities");
    let (status, _) = call(
        reqwest::Method::POST,
        &host.url(&path),
        Some(token),
        Some(user_message("before")),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    drop(host);

    let host = Host::start_in(bots.path(), data.path(), &args);
    let (status, after) = call(
        reqwest::Method::POST,
        &host.url(&path),
        Some(token),
        Some(user_message("after")),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "the token still opens it: {after}");
    let (status, log) = call(reqwest::Method::GET, &host.url(&path), Some(token), None).await;
    assert_eq!(status, StatusCode::OK);
    let texts: Vec<&str> = log["activities"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["text"].as_str())
        .collect();
    assert_eq!(texts.len(), 4, "{log}");
    assert_eq!(texts[0], "before");
    assert_eq!(texts[2], "after");
    assert_eq!(log["watermark"], "4");
}

/// The bot's member and history calls on this channel (the misbehave
/// bot's `conn …` commands, through the host's connector client and its
/// Direct Line connector endpoints): the users who started or posted to
/// the conversation, then the bot; the history lands in the log.
#[tokio::test]
async fn a_bot_reads_members_and_sends_history_on_direct_line() {
    let host = host(&[]);
    let conversation = start(&host, "/bots/slow/v3/directline", Some("ada")).await;
    let (id, token) = (
        conversation["conversationId"].as_str().unwrap(),
        conversation["token"].as_str().unwrap(),
    );
    let activities = host.url(&format!(
        "/bots/slow/v3/directline/conversations/{id}/activities"
    ));
    // With the channel's secret, a caller may post as another user.
    let (status, _) = call(
        reqwest::Method::POST,
        &activities,
        Some(SECRET),
        // (A mark a client writes itself is dropped: Grace stays a member.)
        Some(
            json!({"type": "message", "from": {"id": "grace", "name": "Grace"}, "text": "hi",
                    "turnboxFromBot": true, "turnboxHistory": true}),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let mut replies = Vec::new();
    for command in [
        "conn members",
        "conn paged 2",
        "conn member grace",
        "conn member nobody",
        "conn activitymembers",
        "conn delmember grace",
        "conn history",
    ] {
        let (status, posted) = call(
            reqwest::Method::POST,
            &activities,
            Some(token),
            Some(user_message(command)),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{command}: {posted}");
        let (_, set) = call(reqwest::Method::GET, &activities, Some(token), None).await;
        let last = set["activities"]
            .as_array()
            .unwrap()
            .last()
            .cloned()
            .unwrap();
        assert_eq!(last["replyToId"], posted["id"], "{command}: {set}");
        replies.push(last["text"].as_str().unwrap_or_default().to_owned());
    }
    assert_eq!(replies[0], "members=ada,grace,slow");
    assert_eq!(replies[1], "pages=2 members=ada,grace,slow");
    assert_eq!(replies[2], "member grace name=Grace");
    assert!(
        replies[3].starts_with("error ") && replies[3].ends_with(" 404"),
        "{}",
        replies[3]
    );
    assert_eq!(replies[4], "activity members=ada,slow");
    assert!(
        replies[5].starts_with("error ") && replies[5].ends_with(" 405"),
        "{}",
        replies[5]
    );
    assert!(replies[6].starts_with("history id="), "{}", replies[6]);
    let (_, set) = call(reqwest::Method::GET, &activities, Some(token), None).await;
    let texts = texts_of(&set);
    let n = texts.len();
    assert_eq!(
        texts[n - 4..],
        ["conn history", "old one", "old two", replies[6].as_str()],
        "{set}"
    );
    let history_id = replies[6].trim_start_matches("history id=");
    assert_eq!(history_id, "history-old-two", "its own id kept");
    assert_eq!(set["activities"][n - 2]["id"], history_id, "{set}");
    assert_no_connector_key(&set);

    // The same history again (as a connector that lost the answer would
    // send it): its activities are known by their ids, and not logged again.
    let (status, _) = call(
        reqwest::Method::POST,
        &activities,
        Some(token),
        Some(user_message("conn history")),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (_, set) = call(reqwest::Method::GET, &activities, Some(token), None).await;
    let texts = texts_of(&set);
    let n = texts.len();
    assert_eq!(
        texts[n - 2..],
        ["conn history", "history id=history-old-two"],
        "{set}"
    );
    assert_eq!(
        texts.iter().filter(|t| **t == "old one").count(),
        1,
        "{set}"
    );
}

/// A user's message whose host dies right after logging it (before its
/// turn runs, as `kill -9` would) is answered once after a restart: its
/// turn was kept with the log append, and the next host runs it. Before,
/// the message stayed logged and was never answered, and a client that
/// posted it again logged it twice.
#[tokio::test]
async fn a_message_logged_before_a_crash_is_answered_after_the_restart() {
    let bots = BotsDir::with(&[("echo", "rust-echo")]);
    let data = tempfile::tempdir().unwrap();
    let (host, path, token) =
        crash_then_restart(&bots, data.path(), "/v3/directline", "kept", "after-log").await;
    let url = host.url(&path);
    eventually("the kept turn's reply", || {
        let (url, token) = (url.clone(), token.clone());
        async move {
            let (_, got) = call(reqwest::Method::GET, &url, Some(&token), None).await;
            got["activities"].as_array().is_some_and(|a| a.len() >= 2)
        }
    })
    .await;
    // Settled: nothing more arrives (the resume loop looks every second).
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (_, set) = call(reqwest::Method::GET, &url, Some(&token), None).await;
    let activities = set["activities"].as_array().unwrap();
    assert_eq!(activities.len(), 2, "the message and one reply: {set}");
    assert_eq!(activities[0]["text"], "kept");
    assert_eq!(activities[1]["replyToId"], activities[0]["id"], "{set}");
    assert_eq!(activities[1]["from"]["role"], "bot", "{set}");
}

/// Starts a host (the echo and misbehave bots) armed to die at `fault`,
/// posts `text` into a new conversation at `base`, waits for the host to
/// die there, and starts it again on the same data: the new host, the
/// conversation's activities path and its token.
async fn crash_then_restart(
    bots: &BotsDir,
    data: &std::path::Path,
    base: &str,
    text: &str,
    fault: &str,
) -> (Host, String, String) {
    let args = ["--default-bot", "echo", "--directline-secret", SECRET];
    let mut host = Host::start_with_env(bots.path(), data, &args, &[("TURNBOX_FAULT", fault)]);
    let conversation = start(&host, base, Some("ada")).await;
    let (id, token) = (
        conversation["conversationId"].as_str().unwrap(),
        conversation["token"].as_str().unwrap().to_owned(),
    );
    let path = format!("{base}/conversations/{id}/activities");
    let _ = client()
        .post(host.url(&path))
        .bearer_auth(&token)
        .json(&user_message(text))
        .send()
        .await;
    assert!(host.wait_exit().await.is_some(), "the fault did not fire");
    assert!(host.log().contains(&format!("fault injected at `{fault}`")));
    (Host::start_in(bots.path(), data, &args), path, token)
}

/// The texts of a set of activities, in order.
fn texts_of(set: &Value) -> Vec<&str> {
    set["activities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["text"].as_str().unwrap_or_default())
        .collect()
}

/// A bot's history is logged all or none: the host dies (as `kill -9`
/// would) after the first of its activities is written and before the
/// next, and after a restart the log holds both or neither, never one.
/// (Before, each was appended in a transaction of its own.)
#[tokio::test]
async fn a_history_cut_by_a_crash_is_logged_whole_or_not_at_all() {
    let bots = BotsDir::with(&[("echo", "rust-echo"), ("slow", "misbehave")]);
    let data = tempfile::tempdir().unwrap();
    // The turn's history call kills the host: the post gets no answer.
    let (host, path, token) = crash_then_restart(
        &bots,
        data.path(),
        "/bots/slow/v3/directline",
        "conn history",
        "between-appends",
    )
    .await;
    let (status, set) = call(reqwest::Method::GET, &host.url(&path), Some(&token), None).await;
    assert_eq!(status, StatusCode::OK, "{set}");
    let texts = texts_of(&set);
    assert!(texts.contains(&"conn history"), "{set}");
    let count = |text: &str| texts.iter().filter(|t| **t == text).count();
    assert!(
        count("old one") == count("old two") && count("old one") <= 1,
        "a history logged in part: {set}"
    );
}

/// The connector URL a bot's turn gets opens its own conversation only:
/// with it, posting into another conversation is refused (before, one key
/// opened every Direct Line conversation of every bot on the host).
#[tokio::test]
async fn a_turns_connector_url_opens_only_its_own_conversation() {
    let host = host(&[]);
    let base = "/bots/slow/v3/directline";
    let mine = start(&host, base, None).await;
    let other = start(&host, base, None).await;
    let (mine_id, token) = (
        mine["conversationId"].as_str().unwrap(),
        mine["token"].as_str().unwrap(),
    );
    let other_id = other["conversationId"].as_str().unwrap();
    let activities = host.url(&format!("{base}/conversations/{mine_id}/activities"));
    let (status, _) = call(
        reqwest::Method::POST,
        &activities,
        Some(token),
        Some(user_message("json activity")),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (_, set) = call(reqwest::Method::GET, &activities, Some(token), None).await;
    let reply = set["activities"]
        .as_array()
        .unwrap()
        .last()
        .cloned()
        .unwrap();
    let seen: Value = serde_json::from_str(reply["text"].as_str().unwrap()).unwrap();
    let service_url = seen["serviceUrl"].as_str().unwrap();
    assert!(
        service_url.contains("/directline-connector/"),
        "{service_url}"
    );

    let post = |conversation: &str| {
        client()
            .post(format!(
                "{service_url}v3/conversations/{conversation}/activities"
            ))
            .json(
                &json!({"type": "message", "text": format!("posted into {conversation}"),
                          "from": {"id": "mallory", "role": "user"}}),
            )
            .send()
    };
    let (status, body) = read(post(other_id).await.unwrap()).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_error(&body, "NotFound");
    let (status, body) = read(post(mine_id).await.unwrap()).await;
    assert_eq!(status, StatusCode::OK, "its own conversation: {body}");

    // Nothing reached the other conversation.
    let other_activities = host.url(&format!("{base}/conversations/{other_id}/activities"));
    let (_, other_set) = call(
        reqwest::Method::GET,
        &other_activities,
        Some(other["token"].as_str().unwrap()),
        None,
    )
    .await;
    assert_eq!(other_set["activities"], json!([]), "{other_set}");

    // What came in through the connector is the bot's, whatever its `from`
    // says: `mallory` is no member of the conversation.
    let (status, _) = call(
        reqwest::Method::POST,
        &activities,
        Some(token),
        Some(user_message("conn members")),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (_, set) = call(reqwest::Method::GET, &activities, Some(token), None).await;
    let user = set["activities"][0]["from"]["id"].as_str().unwrap();
    let members = format!("members={user},slow");
    assert_eq!(texts_of(&set).last(), Some(&members.as_str()), "{set}");
}
