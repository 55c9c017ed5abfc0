//! Skills end to end: two turnbox bots on one host, a root (app
//! `APP_ID`) and a skill (app `FRIEND_APP`), both `skill-root-rs` (or both
//! `skill-root-js` or `skill-root-py`, the same bot on the JavaScript and
//! Python SDKs), with the stand-in identity provider and Bot Connector; and
//! a stand-in skill (a second recording server) for what a skill may and may
//! not send back.

use std::path::Path;

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::idp_standin::*;
use crate::support::*;

/// A skill that only records (the stand-in connector as a skill).
const PROBE_APP: &str = "9a1b2c3d-0000-4000-8000-0000000000e1";
const BOT_CONNECTOR_SCOPE: &str = "https://api.botframework.com/.default";

fn root_manifest(host_port: u16, probe: &Connector) -> String {
    format!(
        r#"
[credentials]
MicrosoftAppId = "{APP_ID}"
MicrosoftAppPassword = "root-secret"

[config]
skill = "echo"

[skills.echo]
app_id = "{FRIEND_APP}"
endpoint = "http://127.0.0.1:{host_port}/api/bots/skill/messages"

[skills.probe]
app_id = "{PROBE_APP}"
endpoint = "http://{}/api/messages"

[skills.down]
app_id = "9a1b2c3d-0000-4000-8000-0000000000d1"
endpoint = "http://127.0.0.1:1/api/messages"
"#,
        probe.addr
    )
}

fn skill_manifest() -> String {
    format!(
        r#"
[credentials]
MicrosoftAppId = "{FRIEND_APP}"
MicrosoftAppPassword = "skill-secret"
AllowedCallers = ["{APP_ID}"]

[config]
role = "skill"
"#
    )
}

struct Setup {
    idp: Idp,
    /// The user's channel.
    connector: Connector,
    probe: Connector,
    host: Host,
    bots: tempfile::TempDir,
    data: tempfile::TempDir,
}

/// Writes the root bot (`guest_name`) once the host's port is known; waits
/// for its route.
async fn add_root(host: &Host, bots: &Path, probe: &Connector, guest_name: &str) {
    replace_atomically(
        bots,
        "root.toml",
        root_manifest(host.addr.port(), probe).as_bytes(),
    );
    replace_atomically(
        bots,
        "root.wasm",
        &std::fs::read(guest(guest_name)).unwrap(),
    );
    eventually("the root bot is loaded", || async {
        host.get_text("/healthz").await.contains("\"root\"")
    })
    .await;
}

async fn setup() -> Setup {
    setup_with("skill-root-rs").await
}

/// A host with `guest_name` as the root and as the skill.
async fn setup_with(guest_name: &str) -> Setup {
    setup_on(guest_name, &[], &[]).await
}

/// As `setup_with`, the host started with `extra` arguments (e.g. a fixed
/// `--port`, to restart on it) and `env` (e.g. `TURNBOX_FAULT`).
async fn setup_on(guest_name: &str, extra: &[&str], env: &[(&str, &str)]) -> Setup {
    let idp = Idp::start(3600).await;
    let connector = Connector::start().await;
    let probe = Connector::start().await;
    let bots = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    std::fs::copy(guest(guest_name), bots.path().join("skill.wasm")).unwrap();
    std::fs::write(bots.path().join("skill.toml"), skill_manifest()).unwrap();
    let host = start_host_on(&idp, bots.path(), data.path(), extra, env);
    add_root(&host, bots.path(), &probe, guest_name).await;
    Setup {
        idp,
        connector,
        probe,
        host,
        bots,
        data,
    }
}

fn start_host(idp: &Idp, bots: &Path, data: &Path) -> Host {
    start_host_on(idp, bots, data, &[], &[])
}

fn start_host_on(
    idp: &Idp,
    bots: &Path,
    data: &Path,
    extra: &[&str],
    env: &[(&str, &str)],
) -> Host {
    let args = idp.host_args();
    let mut args: Vec<&str> = args.iter().map(String::as_str).collect();
    args.extend_from_slice(extra);
    Host::start_with_env(bots, data, &args, env)
}

/// The user says `text` to the root bot through the channel.
async fn say(s: &Setup, text: &str) -> Value {
    let service_url = s.connector.service_url();
    let activity = message(&service_url, text);
    let token = keys().channel.sign(&channel_claims(&service_url));
    let response = client()
        .post(s.host.url("/api/bots/root/messages"))
        .bearer_auth(token)
        .json(&activity)
        .send()
        .await
        .unwrap();
    let (status, body) = read(response).await;
    // 202: the turn outlasted the root's `ack_after` (5 s; a Python root
    // calling a Python skill on a loaded 2-core CI machine) and goes on in
    // the background. Its replies still reach the connector, which is what
    // the tests wait for.
    assert!(
        status == StatusCode::OK || status == StatusCode::ACCEPTED,
        "{text}: {status} {body}"
    );
    activity
}

fn texts(connector: &Connector) -> Vec<String> {
    connector
        .received()
        .iter()
        .filter_map(|r| r.body["text"].as_str().map(str::to_owned))
        .collect()
}

async fn wait_for_text(connector: &Connector, text: &str) -> Recorded {
    eventually(&format!("`{text}` at the connector"), || async {
        texts(connector).iter().any(|t| t == text)
    })
    .await;
    connector
        .received()
        .into_iter()
        .find(|r| r.body["text"] == text)
        .unwrap()
}

fn token_requests(idp: &Idp) -> Vec<(String, String)> {
    idp.state
        .lock()
        .unwrap()
        .token_requests
        .iter()
        .map(|(_, f)| (f["client_id"].clone(), f["scope"].clone()))
        .collect()
}

/// The bearer token the root got for `scope`'s `connector-token-N`.
fn is_root_connector_token(idp: &Idp, authorization: Option<&str>) -> bool {
    let Some(n) = authorization
        .and_then(|a| a.strip_prefix("Bearer connector-token-"))
        .and_then(|n| n.parse::<usize>().ok())
    else {
        return false;
    };
    let requests = token_requests(idp);
    requests.get(n - 1) == Some(&(APP_ID.to_owned(), BOT_CONNECTOR_SCOPE.to_owned()))
}

#[tokio::test]
async fn a_skill_answers_in_the_users_conversation_and_its_end_reaches_the_root() {
    let s = setup().await;
    let sent = say(&s, "hello").await;

    let reply = wait_for_text(&s.connector, "skill heard: hello").await;
    assert_eq!(
        reply.path,
        format!(
            "/v3/conversations/a%3Aconv%3Bmessageid%3D7/activities/{}",
            encoded_id(&sent)
        ),
        "in the user's conversation, as a reply to the user's message"
    );
    assert_eq!(reply.body["conversation"]["id"], "a:conv;messageid=7");
    assert_eq!(reply.body["from"]["id"], "bot-1");
    assert_eq!(reply.body["recipient"]["id"], "user-1");
    assert!(reply.body.get("callerId").is_none(), "{}", reply.body);
    assert!(
        is_root_connector_token(&s.idp, reply.authorization.as_deref()),
        "sent with the root's Bot Connector token: {:?} {:?}",
        reply.authorization,
        token_requests(&s.idp)
    );
    let requests = token_requests(&s.idp);
    assert!(
        requests.contains(&(APP_ID.into(), format!("{FRIEND_APP}/.default"))),
        "the root asked for a token for the skill: {requests:?}"
    );
    assert!(
        requests.contains(&(FRIEND_APP.into(), format!("{APP_ID}/.default"))),
        "the skill answered with a token for the root: {requests:?}"
    );
    assert!(
        !requests.contains(&(FRIEND_APP.into(), BOT_CONNECTOR_SCOPE.into())),
        "the skill never asked for a Bot Connector token: {requests:?}"
    );

    // The skill sees the root as its caller.
    say(&s, "callerid").await;
    wait_for_text(
        &s.connector,
        &format!("skill callerId=urn:botframework:aadappid:{APP_ID}"),
    )
    .await;

    // The skill ends the conversation; the root hears of it in a turn.
    say(&s, "bye").await;
    wait_for_text(&s.connector, "skill: goodbye").await;
    let ended = wait_for_text(&s.connector, "the skill ended: completedSuccessfully").await;
    assert_eq!(ended.body["conversation"]["id"], "a:conv;messageid=7");
    assert!(is_root_connector_token(
        &s.idp,
        ended.authorization.as_deref()
    ));

    // A new message opens a new skill conversation.
    say(&s, "again").await;
    wait_for_text(&s.connector, "skill heard: again").await;
    s.host.assert_no_panic();
}

/// Asks the root to forward to the probe; returns the skill conversation id
/// and the forwarded activity.
async fn open_probe_conversation(s: &Setup, text: &str) -> (String, Value) {
    let before = s.probe.received().len();
    say(s, &format!("@probe {text}")).await;
    let forwarded = s.probe.received()[before].clone();
    assert_eq!(forwarded.path, "/api/messages");
    let body = forwarded.body;
    let id = body["conversation"]["id"].as_str().unwrap().to_owned();
    (id, body)
}

async fn skill_post(
    host: &Host,
    conversation: &str,
    tail: &str,
    token: Option<String>,
    activity: &Value,
) -> (StatusCode, Value) {
    let mut request = client()
        .post(host.url(&format!(
            "/api/skills/v3/conversations/{conversation}/activities{tail}"
        )))
        .json(activity);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    read(request.send().await.unwrap()).await
}

fn probe_token() -> Option<String> {
    Some(keys().emulator.sign(&emulator_v1_claims(PROBE_APP)))
}

#[tokio::test]
async fn only_the_skill_itself_may_answer_in_its_conversation() {
    let s = setup().await;
    let (skc, forwarded) = open_probe_conversation(&s, "hi probe").await;

    // What the skill was sent, as botbuilder's SkillHttpClient sends it.
    assert!(skc.starts_with("skc-") && skc.len() >= 36, "{skc}");
    assert_eq!(forwarded["text"], "hi probe");
    assert_eq!(
        forwarded["serviceUrl"],
        format!("http://{}/api/skills", s.host.addr)
    );
    assert_eq!(
        forwarded["recipient"],
        json!({"id": PROBE_APP, "role": "skill"})
    );
    assert_eq!(
        forwarded["relatesTo"]["conversation"]["id"],
        "a:conv;messageid=7"
    );
    assert_eq!(
        forwarded["relatesTo"]["serviceUrl"],
        s.connector.service_url()
    );
    assert_eq!(
        forwarded["callerId"],
        format!("urn:botframework:aadappid:{APP_ID}")
    );
    let probe_auth = s.probe.received()[0].authorization.clone().unwrap();
    let token = probe_auth.strip_prefix("Bearer ").unwrap();
    let claims = jsonwebtoken::dangerous::insecure_decode::<Value>(token)
        .unwrap()
        .claims;
    assert_eq!(claims["aud"], PROBE_APP, "a token for the skill's app id");
    assert_eq!(claims["appid"], APP_ID);

    let reply = json!({"type": "message", "text": "from probe",
                       "conversation": {"id": skc}, "from": {"id": PROBE_APP}});
    let delivered = s.connector.received().len();
    let mut other_audience = emulator_v1_claims(PROBE_APP);
    other_audience["aud"] = json!(STRANGER_APP);
    let refused = [
        ("no token", None),
        (
            "a forged token",
            Some(keys().stranger.sign(&emulator_v1_claims(PROBE_APP))),
        ),
        (
            "a token for another audience",
            Some(keys().emulator.sign(&other_audience)),
        ),
        (
            "an app that is not a declared skill",
            Some(keys().emulator.sign(&emulator_v1_claims(STRANGER_APP))),
        ),
        (
            "another declared skill than the conversation's",
            Some(keys().emulator.sign(&emulator_v1_claims(FRIEND_APP))),
        ),
        (
            "a channel token",
            Some(
                keys()
                    .channel
                    .sign(&channel_claims(&s.connector.service_url())),
            ),
        ),
    ];
    for (what, token) in refused {
        let (status, body) = skill_post(&s.host, &skc, "", token, &reply).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}: {body}");
        assert_error(&body, "Unauthorized");
    }
    assert!(s.host.wait_for_log("skill request unauthorized").await);
    let (status, body) = skill_post(&s.host, "skc-unknown", "", probe_token(), &reply).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_error(&body, "NotFound");
    assert_eq!(
        s.connector.received().len(),
        delivered,
        "nothing refused was delivered"
    );

    // The skill itself: delivered, as a reply, with the root's token.
    let (status, body) = skill_post(&s.host, &skc, "/user%2F1", probe_token(), &reply).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["id"].as_str().is_some_and(|id| !id.is_empty()));
    let got = wait_for_text(&s.connector, "from probe").await;
    assert_eq!(
        got.path,
        "/v3/conversations/a%3Aconv%3Bmessageid%3D7/activities/user%2F1"
    );
    assert!(is_root_connector_token(
        &s.idp,
        got.authorization.as_deref()
    ));

    // Update and delete reach the channel too.
    let update = json!({"type": "message", "text": "edited", "conversation": {"id": skc}});
    let response = client()
        .put(s.host.url(&format!(
            "/api/skills/v3/conversations/{skc}/activities/sent-9"
        )))
        .bearer_auth(probe_token().unwrap())
        .json(&update)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let response = client()
        .delete(s.host.url(&format!(
            "/api/skills/v3/conversations/{skc}/activities/sent-9"
        )))
        .bearer_auth(probe_token().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let last: Vec<_> = s.connector.received().into_iter().rev().take(2).collect();
    assert_eq!(last[1].method, axum::http::Method::PUT);
    assert_eq!(last[0].method, axum::http::Method::DELETE);
    assert!(last[0].path.ends_with("/activities/sent-9"));

    // Its endOfConversation is a turn of the root, and ends the id.
    let end = json!({"type": "endOfConversation", "code": "userCancelled",
                     "conversation": {"id": skc}});
    let (status, body) = skill_post(&s.host, &skc, "", probe_token(), &end).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    wait_for_text(&s.connector, "the skill ended: userCancelled").await;
    let (status, _) = skill_post(&s.host, &skc, "", probe_token(), &reply).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "an ended conversation is gone"
    );
    s.host.assert_no_panic();
}

#[tokio::test]
async fn a_skill_that_is_down_is_a_call_error_and_the_host_serves_on() {
    let s = setup().await;
    say(&s, "@down anyone there?").await;
    wait_for_text(&s.connector, "the skill call failed: Unreachable").await;
    say(&s, "@nosuch hi").await;
    wait_for_text(&s.connector, "the skill call failed: UnknownSkill").await;
    say(&s, "still here").await;
    wait_for_text(&s.connector, "skill heard: still here").await;
    s.host.assert_no_panic();
}

/// The JavaScript and Python SDKs' `forwardToSkill` / `forward_to_skill`:
/// each language's bot as the root and as the skill, through the host.
#[tokio::test]
async fn javascript_and_python_roots_forward_and_hear_the_skills_end() {
    for bot in ["skill-root-js", "skill-root-py"] {
        eprintln!("--- with {bot}");
        let s = setup_with(bot).await;
        let sent = say(&s, "hello").await;
        let reply = wait_for_text(&s.connector, "skill heard: hello").await;
        assert_eq!(
            reply.path,
            format!(
                "/v3/conversations/a%3Aconv%3Bmessageid%3D7/activities/{}",
                encoded_id(&sent)
            ),
            "{bot}: in the user's conversation"
        );
        say(&s, "callerid").await;
        wait_for_text(
            &s.connector,
            &format!("skill callerId=urn:botframework:aadappid:{APP_ID}"),
        )
        .await;
        // The skill's state: held-back replies, in order.
        say(&s, "count").await;
        wait_for_text(&s.connector, "skill count: 1").await;
        say(&s, "count").await;
        wait_for_text(&s.connector, "skill count: 2").await;

        // "@probe": the activity reaches the probe with the root's token
        // for that skill, the user's text and the host's addressing.
        let (skc, forwarded) = open_probe_conversation(&s, "to the probe").await;
        assert_eq!(forwarded["text"], "to the probe", "{bot}: {forwarded}");
        assert_eq!(forwarded["conversation"]["id"], skc);
        assert_eq!(forwarded["recipient"]["role"], "skill", "{forwarded}");

        say(&s, "bye").await;
        wait_for_text(&s.connector, "skill: goodbye").await;
        let ended = wait_for_text(&s.connector, "the skill ended: completedSuccessfully").await;
        assert_eq!(ended.body["conversation"]["id"], "a:conv;messageid=7");

        say(&s, "@down anyone there?").await;
        wait_for_text(&s.connector, "the skill call failed: Unreachable").await;
        say(&s, "@nosuch hi").await;
        wait_for_text(&s.connector, "the skill call failed: UnknownSkill").await;
        s.host.assert_no_panic();
    }
}

#[tokio::test]
async fn skill_conversation_ids_survive_a_restart() {
    let mut s = setup().await;
    let (skc, _) = open_probe_conversation(&s, "before").await;
    s.host.terminate().await;
    let host = start_host(&s.idp, s.bots.path(), s.data.path());
    eventually("the root bot is loaded", || async {
        host.get_text("/healthz").await.contains("\"root\"")
    })
    .await;
    let reply = json!({"type": "message", "text": "after the restart",
                       "conversation": {"id": skc}});
    let (status, body) = skill_post(&host, &skc, "", probe_token(), &reply).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    wait_for_text(&s.connector, "after the restart").await;
    s.host = host;
}

/// The host dies right after the skill's turn commits, before the skill's
/// reply, held back because the turn touched state ("count"), is posted to
/// the root. Restarted (on the same port, which the
/// stored reply's `serviceUrl` names), it relays the reply from its outbox
/// with a token for the root's app id, as the turn itself would have: the
/// root's skill host accepts it and the user gets it.
#[tokio::test]
async fn a_skills_reply_relayed_after_a_crash_still_goes_with_the_callers_audience() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
        .to_string();
    let fixed = ["--port", port.as_str()];
    let mut s = setup_on(
        "skill-root-rs",
        &fixed,
        &[("TURNBOX_FAULT", "after-commit")],
    )
    .await;
    let (connector, idp) = (&s.connector, &s.idp);

    let service_url = connector.service_url();
    let token = keys().channel.sign(&channel_claims(&service_url));
    // The root's request dies with the host: no answer to check.
    let _ = client()
        .post(s.host.url("/api/bots/root/messages"))
        .bearer_auth(token)
        .json(&message(&service_url, "count"))
        .send()
        .await;
    assert!(s.host.wait_exit().await.is_some(), "{}", s.host.log());
    assert!(
        s.host
            .wait_for_log("fault injected at `after-commit`")
            .await,
        "{}",
        s.host.log()
    );
    assert!(
        texts(connector).is_empty(),
        "{:?}\n{}",
        texts(connector),
        s.host.log()
    );
    let before = token_requests(idp).len();

    let host = start_host_on(idp, s.bots.path(), s.data.path(), &fixed, &[]);
    let reply = wait_for_text(connector, "skill count: 1").await;
    assert_eq!(reply.body["conversation"]["id"], "a:conv;messageid=7");
    let after = token_requests(idp)[before..].to_vec();
    assert!(
        after.contains(&(FRIEND_APP.into(), format!("{APP_ID}/.default"))),
        "the relayed reply went with a token for the root: {after:?}"
    );
    assert!(
        !after.contains(&(FRIEND_APP.into(), BOT_CONNECTOR_SCOPE.into())),
        "the skill never asked for a Bot Connector token: {after:?}"
    );
    host.assert_no_panic();
}

/// A timer the skill set runs a proactive turn of the skill from its
/// stored conversation reference: its reply goes to the root's skill host
/// with a token for the root's app id, and reaches the user.
#[tokio::test]
async fn a_skills_timer_answers_through_the_root_with_the_callers_audience() {
    for bot in ["skill-root-rs", "skill-root-js", "skill-root-py"] {
        eprintln!("--- with {bot}");
        let s = setup_with(bot).await;
        say(&s, "later").await;
        wait_for_text(&s.connector, "skill: later").await;
        let fired = wait_for_text(&s.connector, "skill: the timer fired").await;
        assert_eq!(fired.body["conversation"]["id"], "a:conv;messageid=7");
        assert!(
            is_root_connector_token(&s.idp, fired.authorization.as_deref()),
            "{bot}: posted by the root with its Bot Connector token: {:?}",
            fired.authorization
        );
        let requests = token_requests(&s.idp);
        assert!(
            !requests.contains(&(FRIEND_APP.into(), BOT_CONNECTOR_SCOPE.into())),
            "{bot}: the skill never asked for a Bot Connector token: {requests:?}"
        );
        s.host.assert_no_panic();
    }
}

/// A caller whose token is Azure AD v2 (the caller in `azp`, not `appid`)
/// is identified as well: the skill's turn carries its `callerId`, and the
/// reply goes with a token for the caller's app id.
#[tokio::test]
async fn a_caller_with_a_v2_token_gets_the_skills_reply_with_its_own_audience() {
    let s = setup().await;
    let mut claims = emulator_v2_claims(APP_ID);
    claims["aud"] = json!(FRIEND_APP);
    let mut activity = message(&s.probe.service_url(), "callerid");
    activity["recipient"]["role"] = json!("skill");
    let (status, body) = read(
        client()
            .post(s.host.url("/api/bots/skill/messages"))
            .bearer_auth(keys().emulator.sign(&claims))
            .json(&activity)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}\n{}", s.host.log());
    let reply = wait_for_text(
        &s.probe,
        &format!("skill callerId=urn:botframework:aadappid:{APP_ID}"),
    )
    .await;
    let auth = reply.authorization.clone().unwrap_or_default();
    let token = auth.strip_prefix("Bearer ").unwrap_or_default();
    let claims = jsonwebtoken::dangerous::insecure_decode::<Value>(token)
        .unwrap_or_else(|e| panic!("{e}: {auth}"))
        .claims;
    assert_eq!(claims["aud"], APP_ID, "a token for the caller's app id");
    assert_eq!(claims["appid"], FRIEND_APP);
    let requests = token_requests(&s.idp);
    assert!(
        requests.contains(&(FRIEND_APP.into(), format!("{APP_ID}/.default"))),
        "{requests:?}"
    );
    s.host.assert_no_panic();
}
