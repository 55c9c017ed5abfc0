//! User sign-in end to end: the real host with the `signin-rs`, `signin-js`
//! and `signin-py` example bots (the same bot on each SDK's `OAuthPrompt`
//! without dialogs; app id, `[oauth] connections = ["graph"]`), channel
//! tokens signed by the stand-in identity provider, and the stand-in Bot
//! Framework Token Service (`token_service_standin.rs`). The prompt as a
//! dialog is in `oauth_dialog.rs`.

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::idp_standin::*;
use crate::support::*;
use crate::token_service_standin::*;

#[tokio::test]
async fn the_magic_code_signs_in_and_logout_signs_out() {
    for bot in BOTS {
        magic_code_signs_in_and_logout_signs_out(bot).await;
    }
}

async fn magic_code_signs_in_and_logout_signs_out(bot: &str) {
    let s = setup(bot).await;
    let (status, body) = s.say("login").await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // The card: an OAuthCard with the service's sign-in link and SSO resource.
    let sent = s.connector.received();
    let card = sent.last().expect("a card was sent").body["attachments"][0].clone();
    assert_eq!(card["contentType"], "application/vnd.microsoft.card.oauth");
    let content = &card["content"];
    assert_eq!(content["connectionName"], "graph");
    assert_eq!(content["buttons"][0]["type"], "signin");
    assert_eq!(content["buttons"][0]["title"], "Sign in");
    assert_eq!(content["buttons"][0]["value"], LINK);
    assert_eq!(content["tokenExchangeResource"]["id"], "txr-1");
    assert_eq!(content["tokenExchangeResource"]["uri"], "api://bot/graph");
    assert_eq!(content["tokenExchangeResource"]["providerId"], "aad");
    assert_eq!(
        content["tokenPostResource"]["sasUrl"],
        "https://post.example/sas"
    );

    // The state the host built for GetSignInResource.
    let state = s.tokens.state.lock().unwrap().states[0].clone();
    assert_eq!(state["ConnectionName"], "graph");
    assert_eq!(state["MsAppId"], APP_ID);
    let conversation = &state["Conversation"];
    assert_eq!(conversation["conversation"]["id"], "a:conv;messageid=7");
    assert_eq!(conversation["user"]["id"], "user-1");
    assert_eq!(conversation["bot"]["id"], "bot-1");
    assert_eq!(conversation["channelId"], "test");
    assert_eq!(conversation["serviceUrl"], s.connector.service_url());
    assert!(state["RelatesTo"].is_null(), "{state}");

    // GetToken asked for the turn's user, connection and channel.
    let calls = s.tokens.calls();
    let (path, query) = &calls[0];
    assert_eq!(path, "GetToken");
    assert_eq!(query["userId"], "user-1");
    assert_eq!(query["connectionName"], "graph");
    assert_eq!(query["channelId"], "test");
    assert!(!query.contains_key("code"));

    // A message with the magic code signs in.
    let (status, _) = s.say("my code is 123456").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(s.last_text(), "You are signed in; your token ends in AB12");
    let calls = s.tokens.calls();
    assert_eq!(calls.last().unwrap().1["code"], GOOD_CODE);

    // Signed in: "login" gets the token at once, without a card.
    let cards_before = s.connector.received().len();
    s.say("login").await;
    assert_eq!(s.connector.received().len(), cards_before + 1);
    assert_eq!(s.last_text(), "You are signed in; your token ends in AB12");
    s.say("status").await;
    assert_eq!(s.last_text(), "status: graph=true");

    // A connection the manifest does not list is refused before any call.
    let calls_before = s.tokens.calls().len();
    s.say("token github").await;
    assert_eq!(s.last_text(), "error: ConnectionNotAllowed");
    assert_eq!(s.tokens.calls().len(), calls_before, "github was not asked");

    // Sign out.
    s.say("logout").await;
    assert_eq!(s.last_text(), "You are signed out.");
    let calls = s.tokens.calls();
    let (path, query) = calls.last().unwrap();
    assert_eq!(path, "SignOut");
    assert_eq!(query["connectionName"], "graph");
    assert!(s.tokens.state.lock().unwrap().tokens.is_empty());
    s.say("token graph").await;
    assert_eq!(s.last_text(), "not signed in");

    // Skype shows no OAuthCard: a SigninCard with the link instead.
    let mut on_skype = message(&s.connector.service_url(), "login");
    on_skype["channelId"] = json!("skype");
    let (status, body) = s.post(&on_skype).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let card = s.connector.received().last().unwrap().body["attachments"][0].clone();
    assert_eq!(
        card["contentType"],
        "application/vnd.microsoft.card.signin",
        "{:?}",
        s.connector.received().last()
    );
    assert_eq!(card["content"]["buttons"][0]["value"], LINK);
    assert!(card["content"].get("connectionName").is_none(), "{card}");

    // Tokens never reach the host's log.
    s.assert_no_secret_logged();
}

#[tokio::test]
async fn verify_state_with_a_forged_or_expired_code_is_404() {
    for bot in BOTS {
        verify_state_answers(bot).await;
    }
}

async fn verify_state_answers(bot: &str) {
    let s = setup(bot).await;
    s.say("login").await;
    for code in ["000000", EXPIRED_CODE, "not-a-code"] {
        let (status, body) = s.invoke("signin/verifyState", json!({"state": code})).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{code}: {body}");
    }
    assert!(s.tokens.state.lock().unwrap().tokens.is_empty());
    assert!(!s.texts().iter().any(|t| t.contains("signed in")));

    // The good code: 200, and the bot says so.
    let (status, _) = s
        .invoke("signin/verifyState", json!({"state": GOOD_CODE}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(s.last_text(), "You are signed in; your token ends in AB12");

    // No prompt waiting: the host acknowledges an unanswered verifyState.
    let (status, _) = s
        .invoke("signin/verifyState", json!({"state": GOOD_CODE}))
        .await;
    assert_eq!(status, StatusCode::OK);
    s.host.assert_no_panic();
}

#[tokio::test]
async fn token_exchange_fails_with_412_succeeds_once_and_duplicates_get_200() {
    for bot in BOTS {
        token_exchange_answers(bot).await;
    }
}

async fn token_exchange_answers(bot: &str) {
    let s = setup(bot).await;
    s.say("login").await;
    let sent_before = s.connector.received().len();

    // A token the service cannot exchange: 412 with the failure, no turn.
    let (status, body) = s
        .invoke(
            "signin/tokenExchange",
            json!({"id": "x-0", "connectionName": "graph", "token": "forged"}),
        )
        .await;
    assert_eq!(status, StatusCode::PRECONDITION_FAILED, "{body}");
    assert_eq!(body["id"], "x-0");
    assert_eq!(body["connectionName"], "graph");
    assert!(
        body["failureDetail"]
            .as_str()
            .is_some_and(|d| !d.is_empty())
    );
    assert_eq!(
        s.connector.received().len(),
        sent_before,
        "the bot did not run"
    );

    // A connection the manifest does not list: 412 too, the service not asked.
    let calls_before = s.tokens.calls().len();
    let (status, body) = s
        .invoke(
            "signin/tokenExchange",
            json!({"id": "x-9", "connectionName": "github", "token": GOOD_SSO}),
        )
        .await;
    assert_eq!(status, StatusCode::PRECONDITION_FAILED, "{body}");
    assert_eq!(s.tokens.calls().len(), calls_before);

    // The good token: exchanged, the bot runs and signs the user in.
    let exchange = json!({"id": "x-1", "connectionName": "graph", "token": GOOD_SSO});
    let (status, body) = s.invoke("signin/tokenExchange", exchange.clone()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({"id": "x-1", "connectionName": "graph"}));
    assert_eq!(s.last_text(), "You are signed in; your token ends in CD34");

    // The same id again (another device), as a new activity: 200 without a
    // body, and the bot does not run again.
    let sent_before = s.connector.received().len();
    let (status, body) = s.invoke("signin/tokenExchange", exchange).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, Value::Null);
    assert_eq!(s.connector.received().len(), sent_before, "no second turn");
    let signed_in = s.texts().iter().filter(|t| t.contains("signed in")).count();
    assert_eq!(signed_in, 1);

    // A value without a token is bad input.
    let (status, body) = s.invoke("signin/tokenExchange", json!({"id": "x-2"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&body, "BadArgument");

    let log = s.host.log();
    assert!(!log.contains(GOOD_SSO) && !log.contains(SSO_TOKEN), "{log}");
    s.host.assert_no_panic();
}

#[tokio::test]
async fn entra_id_tokens_come_for_a_signed_in_user_through_the_bots_token() {
    for bot in BOTS {
        entra_id_tokens(bot).await;
    }
}

async fn entra_id_tokens(bot: &str) {
    // Mixed case: the bot passes the URL as written.
    const GRAPH: &str = "https://Graph.microsoft.com/Scope";
    let s = setup(bot).await;
    // Not signed in: the service has no token to give.
    let (status, body) = s.say(&format!("aad {GRAPH}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(s.last_text(), "aad: none");

    s.say("login").await;
    s.say("my code is 123456").await;
    let (status, body) = s.say(&format!("aad {GRAPH}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(s.last_text(), format!("aad: {GRAPH} ends in EF56"));

    // Both calls were POSTs the stand-in admitted (the bot's own token),
    // for the turn's user, the manifest's connection and the resource.
    let calls = s.tokens.calls();
    let aad: Vec<_> = calls.iter().filter(|(p, _)| p == "GetAadTokens").collect();
    assert_eq!(aad.len(), 2, "{calls:?}");
    let query = &aad[1].1;
    assert_eq!(query["userId"], "user-1");
    assert_eq!(query["connectionName"], "graph");
    assert_eq!(query["channelId"], "test");
    let bodies = s.tokens.state.lock().unwrap().aad_requests.clone();
    assert_eq!(bodies, vec![json!({"resourceUrls": [GRAPH]}); 2]);
    assert!(!s.host.log().contains(AAD_TOKEN));
    s.assert_no_secret_logged();
}

#[tokio::test]
async fn a_signin_failure_is_acknowledged_and_logged_and_the_prompt_keeps_waiting() {
    for bot in BOTS {
        signin_failure(bot).await;
    }
}

async fn signin_failure(bot: &str) {
    let s = setup(bot).await;
    s.say("login").await;
    // The log is read from the host's output as it comes: wait for the
    // login turn's line before counting.
    let turns_before = s.host.wait_for_count("turn done", 1).await;
    assert_eq!(turns_before, 1, "{}", s.host.log());
    // A message with a line of its own in it, longer than the 200
    // characters logged.
    let forged = format!(
        "no match\n2026-12-02T00:00:00Z  INFO forged line {}",
        "x".repeat(300)
    );
    let failure = json!({"code": "resourcematchfailed", "message": forged});
    let (status, body) = s.invoke("signin/failure", failure).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        s.host.wait_for_log("signin/failure from the channel").await,
        "{}",
        s.host.log()
    );
    let log = s.host.log();
    let line = log
        .lines()
        .find(|l| l.contains("signin/failure from the channel"))
        .unwrap_or_default();
    assert!(line.contains("WARN"), "{line}");
    assert!(line.contains("code=\"resourcematchfailed\""), "{line}");
    // The reason, escaped on the same line and cut to 200 characters.
    let cut: String = forged.chars().take(200).collect();
    assert!(line.contains(&format!("reason={cut:?}")), "{line}");
    assert!(!line.contains(&"x".repeat(200)), "{line}");
    assert!(
        !log.lines().any(|l| l.starts_with("2026-12-02T00:00:00Z")),
        "{log}"
    );
    // The bot's turn ran: the middleware did not answer in its place.
    let turns = s.host.wait_for_count("turn done", turns_before + 1).await;
    assert_eq!(turns, turns_before + 1, "{}", s.host.log());
    assert!(!s.host.log().contains("turn answered by middleware"));

    // The prompt still takes the magic code.
    s.say("my code is 123456").await;
    assert_eq!(s.last_text(), "You are signed in; your token ends in AB12");
    s.host.assert_no_panic();
}

#[tokio::test]
async fn a_token_service_that_is_down_is_a_call_error_and_the_host_keeps_serving() {
    let s = setup("signin-rs").await;
    s.tokens.state.lock().unwrap().down = true;
    let (status, _) = s.say("token graph").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(s.last_text(), "error: TokenServiceError");
    // 503 is retried: four calls in all.
    assert_eq!(s.tokens.calls().len(), 4);

    // A bot that lets the error fail its turn: 500 with the reason.
    let (status, body) = s.say("login").await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");

    // The service back: the host serves as before.
    s.tokens.state.lock().unwrap().down = false;
    s.say("token graph").await;
    assert_eq!(s.last_text(), "not signed in");
    s.host.assert_no_panic();
}

#[tokio::test]
async fn an_unreachable_token_service_is_unreachable() {
    let idp = Idp::start(3600).await;
    let connector = Connector::start().await;
    // A port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let bots = BotsDir::with_manifest("signin", "signin-rs", MANIFEST);
    let mut args = idp.host_args();
    args.extend(["--token-service-url".to_owned(), url]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let host = Host::start(bots, &args);
    let token = keys()
        .channel
        .sign(&channel_claims(&connector.service_url()));
    let response = client()
        .post(host.url("/api/bots/signin/messages"))
        .header("authorization", format!("Bearer {token}"))
        .json(&message(&connector.service_url(), "token graph"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let last = connector.received().last().unwrap().body["text"].clone();
    assert_eq!(last, "error: Unreachable");
}
