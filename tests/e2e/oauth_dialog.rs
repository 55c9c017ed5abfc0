//! The sign-in prompt as a dialog, end to end: the profile waterfall of the
//! `signin-rs`, `signin-js` and `signin-py` bots (their `profile` modules:
//! the SDK's dialog `OAuthPrompt`, then a step that says whose token the
//! prompt ended with and a `ConfirmPrompt`, then the prompt again, which
//! ends at once when the user is signed in) on the real host, against the
//! stand-in Token Service (`token_service_standin.rs`). What arrives at the
//! stand-in connector shows where the waterfall went.

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::support::reply_texts;
use crate::token_service_standin::*;

const PROMPT: &str = "Please sign in to see your profile.";
const RETRY: &str = "That is not a valid code; paste the 6-digit code from the sign-in page.";
const SIGNED_IN_BY_CODE: &str = "Signed in to graph; your token ends in AB12";
const SIGNED_IN_BY_SSO: &str = "Signed in to graph; your token ends in CD34";
const CONFIRM: &str = "Show your token?";
const NOT_COMPLETED: &str = "Sign-in did not complete.";

/// What the bot sent from the `from`-th activity on.
fn sent_since(s: &Setup, from: usize) -> Vec<Value> {
    s.connector.received()[from..]
        .iter()
        .map(|r| r.body.clone())
        .collect()
}

/// The texts the bot sent from the `from`-th activity on.
fn texts_since(s: &Setup, from: usize) -> Vec<String> {
    sent_since(s, from)
        .iter()
        .filter_map(|a| a["text"].as_str().map(str::to_owned))
        .collect()
}

/// The Token Service calls from the `from`-th on: path and magic code.
fn calls_since(s: &Setup, from: usize) -> Vec<(String, Option<String>)> {
    s.tokens.calls()[from..]
        .iter()
        .map(|(path, query)| (path.clone(), query.get("code").cloned()))
        .collect()
}

/// Says `text`; what the bot sent in answer.
async fn answer(s: &Setup, text: &str) -> Vec<Value> {
    let before = s.connector.received().len();
    let (status, body) = s.say(text).await;
    assert_eq!(status, StatusCode::OK, "{text}: {body}");
    sent_since(s, before)
}

/// The texts of `sent`.
/// Asserts that `sent` is the prompt's card and nothing else: the prompt's
/// text with an OAuthCard for `graph`, accepting input.
fn assert_card(bot: &str, sent: &[Value]) {
    assert_eq!(sent.len(), 1, "{bot}: {sent:#?}");
    let card = &sent[0];
    assert_eq!(card["text"], PROMPT, "{bot}: {card}");
    assert_eq!(card["inputHint"], "acceptingInput", "{bot}: {card}");
    let attachment = &card["attachments"][0];
    assert_eq!(
        attachment["contentType"], "application/vnd.microsoft.card.oauth",
        "{bot}: {card}"
    );
    assert_eq!(attachment["content"]["connectionName"], "graph");
    assert_eq!(attachment["content"]["buttons"][0]["value"], LINK);
    assert_eq!(
        attachment["content"]["tokenExchangeResource"]["id"],
        "txr-1"
    );
}

#[tokio::test]
async fn a_magic_code_ends_the_prompt_and_the_waterfall_goes_on_with_the_token() {
    for bot in BOTS {
        magic_code_flow(bot).await;
    }
}

async fn magic_code_flow(bot: &str) {
    let s = setup(bot).await;
    let calls = s.tokens.calls().len();
    assert_card(bot, &answer(&s, "profile").await);
    assert_eq!(
        calls_since(&s, calls),
        [
            ("GetToken".into(), None),
            ("GetSignInResource".into(), None)
        ],
        "{bot}: the prompt asked for a token before sending the card"
    );

    // Not a code, then a wrong code: the retry prompt, and the prompt waits.
    for text in ["hello", "000000"] {
        let sent = answer(&s, text).await;
        assert_eq!(reply_texts(&sent), [RETRY], "{bot}: {text}");
        assert!(sent[0]["attachments"].is_null(), "{bot}: no second card");
    }
    let wrong_code = ("GetToken".to_owned(), Some("000000".to_owned()));
    assert!(calls_since(&s, calls).contains(&wrong_code), "{bot}");

    // The right code: the prompt ends with the token, and the next step
    // names its connection and tail and asks on.
    let sent = answer(&s, "my code is 123456").await;
    assert_eq!(reply_texts(&sent), [SIGNED_IN_BY_CODE, CONFIRM], "{bot}");

    // Yes: the prompt, begun again, ends at once with the token (no card).
    let sent = answer(&s, "yes").await;
    assert_eq!(
        reply_texts(&sent),
        ["Your token ends in AB12; it expires 2030-01-01T00:00:00Z"],
        "{bot}"
    );
    assert!(sent.iter().all(|a| a["attachments"].is_null()), "{bot}");

    // The waterfall is over: "profile" again signs in at once.
    let sent = answer(&s, "profile").await;
    assert_eq!(reply_texts(&sent), [SIGNED_IN_BY_CODE, CONFIRM], "{bot}");

    // "logout" interrupts: the prompt signs out, the dialog is cancelled.
    let calls = s.tokens.calls().len();
    assert_eq!(
        reply_texts(&answer(&s, "logout").await),
        ["You are signed out."]
    );
    let (path, query) = s.tokens.calls()[calls].clone();
    assert_eq!(
        (path.as_str(), query["connectionName"].as_str()),
        ("SignOut", "graph")
    );
    assert!(s.tokens.state.lock().unwrap().tokens.is_empty(), "{bot}");
    assert_card(bot, &answer(&s, "profile").await);

    s.assert_no_secret_logged();
}

#[tokio::test]
async fn verify_state_ends_the_prompt_and_a_wrong_code_gets_the_prompts_404() {
    for bot in BOTS {
        verify_state_flow(bot).await;
    }
}

async fn verify_state_flow(bot: &str) {
    let s = setup(bot).await;
    assert_card(bot, &answer(&s, "profile").await);

    // A wrong code: the dialog's own answer, no retry prompt for an invoke,
    // and the prompt still waits.
    let before = s.connector.received().len();
    let (status, body) = s
        .invoke("signin/verifyState", json!({"state": "000000"}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{bot}: {body}");
    assert!(sent_since(&s, before).is_empty(), "{bot}");

    let (status, body) = s
        .invoke("signin/verifyState", json!({"state": GOOD_CODE}))
        .await;
    assert_eq!(status, StatusCode::OK, "{bot}: {body}");
    assert_eq!(
        texts_since(&s, before),
        [SIGNED_IN_BY_CODE, CONFIRM],
        "{bot}"
    );
    let sent = answer(&s, "no").await;
    assert_eq!(reply_texts(&sent), ["OK, not showing it."], "{bot}");
    s.host.assert_no_panic();
}

#[tokio::test]
async fn a_token_exchange_ends_the_prompt_with_the_exchanged_token() {
    for bot in BOTS {
        token_exchange_flow(bot).await;
    }
}

async fn token_exchange_flow(bot: &str) {
    let s = setup(bot).await;
    assert_card(bot, &answer(&s, "profile").await);
    let (before, calls) = (s.connector.received().len(), s.tokens.calls().len());
    let exchange = json!({"id": "x-1", "connectionName": "graph", "token": GOOD_SSO});
    let (status, body) = s.invoke("signin/tokenExchange", exchange).await;
    assert_eq!(status, StatusCode::OK, "{bot}: {body}");
    assert_eq!(body, json!({"id": "x-1", "connectionName": "graph"}));
    assert_eq!(
        texts_since(&s, before),
        [SIGNED_IN_BY_SSO, CONFIRM],
        "{bot}"
    );
    // The host exchanged the token before the turn, the prompt again in it.
    let exchanges = calls_since(&s, calls)
        .iter()
        .filter(|(path, _)| path == "exchange")
        .count();
    assert_eq!(exchanges, 2, "{bot}");
    let log = s.host.log();
    assert!(!log.contains(GOOD_SSO) && !log.contains(SSO_TOKEN), "{log}");
    s.host.assert_no_panic();
}

#[tokio::test]
async fn a_prompt_that_timed_out_or_ends_on_an_invalid_message_gives_no_token() {
    for bot in BOTS {
        no_token_flows(bot).await;
    }
}

async fn no_token_flows(bot: &str) {
    let s = setup(bot).await;

    // A prompt that waits one second: past it, even the right code ends it
    // with no token, unredeemed, and the waterfall goes on without one.
    assert_card(bot, &answer(&s, "profile quick").await);
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let calls = s.tokens.calls().len();
    assert_eq!(
        reply_texts(&answer(&s, "123456").await),
        [NOT_COMPLETED],
        "{bot}"
    );
    assert!(
        calls_since(&s, calls).is_empty(),
        "{bot}: the code was not redeemed"
    );
    // The stack is empty: the message goes to the bot's other commands.
    assert_eq!(
        reply_texts(&answer(&s, "hello").await),
        ["Say \"login\" to sign in, \"logout\" to sign out."],
        "{bot}"
    );

    // A prompt that ends on an invalid message: no retry prompt, no token.
    assert_card(bot, &answer(&s, "profile strict").await);
    assert_eq!(
        reply_texts(&answer(&s, "hello").await),
        [NOT_COMPLETED],
        "{bot}"
    );
    s.host.assert_no_panic();
}
