//! User sign-in end to end: the real host with the `signin-rs`, `signin-js`
//! and `signin-py` example bots (the same bot on each SDK's `OAuthPrompt`;
//! app id, `[oauth] connections = ["graph"]`), channel tokens signed by the
//! stand-in identity provider, and a stand-in Bot Framework Token Service
//! (here) that checks the bot's bearer token and holds users' tokens, one
//! valid magic code and one valid SSO token.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use base64::Engine;
use serde_json::{Value, json};

use crate::idp_standin::*;
use crate::support::*;

const MANIFEST: &str = r#"
[credentials]
MicrosoftAppId = "9a1b2c3d-0000-4000-8000-000000000001"
MicrosoftAppPassword = "bot-secret"

[oauth]
connections = ["graph"]
"#;

/// The magic code the stand-in redeems; "999999" stands for an expired one.
const GOOD_CODE: &str = "123456";
const EXPIRED_CODE: &str = "999999";
/// The SSO token the stand-in exchanges.
const GOOD_SSO: &str = "sso-from-teams";
/// The user token each flow yields.
const CODE_TOKEN: &str = "graph-user-token-from-code-AB12";
const SSO_TOKEN: &str = "graph-user-token-from-sso-CD34";
const LINK: &str = "https://signin.example/sign?s=1";

/// The sign-in bot on every SDK: the prompt's flows run against each.
const BOTS: [&str; 3] = ["signin-rs", "signin-js", "signin-py"];

#[derive(Default)]
struct TokenServiceState {
    /// (user, connection, channel) → token.
    tokens: HashMap<(String, String, String), String>,
    /// Every call: the path and its query.
    calls: Vec<(String, HashMap<String, String>)>,
    /// The decoded `state` of each GetSignInResource.
    states: Vec<Value>,
    /// Answer everything 503.
    down: bool,
}

type Shared = (Arc<Mutex<TokenServiceState>>, Arc<Mutex<IdpState>>);

/// The stand-in Token Service.
struct TokenService {
    addr: std::net::SocketAddr,
    state: Arc<Mutex<TokenServiceState>>,
}

impl TokenService {
    async fn start(idp: &Idp) -> TokenService {
        let state = Arc::new(Mutex::new(TokenServiceState::default()));
        let shared: Shared = (state.clone(), idp.state.clone());
        let app = Router::new()
            .route("/api/usertoken/GetToken", get(get_token))
            .route("/api/usertoken/exchange", post(exchange))
            .route("/api/usertoken/SignOut", any(sign_out))
            .route("/api/usertoken/GetTokenStatus", get(token_status))
            .route("/api/botsignin/GetSignInResource", get(sign_in_resource))
            .with_state(shared);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        TokenService { addr, state }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn calls(&self) -> Vec<(String, HashMap<String, String>)> {
        self.state.lock().unwrap().calls.clone()
    }
}

/// Records the call; refuses it unless it carries a token the stand-in
/// identity provider issued for the Bot Framework scope (or the service is
/// down).
fn admit(
    (state, idp): &Shared,
    path: &str,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
) -> Option<Response> {
    let mut s = state.lock().unwrap();
    s.calls.push((path.to_owned(), query.clone()));
    if s.down {
        return Some((StatusCode::SERVICE_UNAVAILABLE, "down for maintenance").into_response());
    }
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer connector-token-"))
        .and_then(|n| n.parse::<usize>().ok());
    let issued = bearer.and_then(|n| idp.lock().unwrap().token_requests.get(n - 1).cloned());
    let good = issued.is_some_and(|(_, form)| {
        form["scope"] == "https://api.botframework.com/.default" && form["client_id"] == APP_ID
    });
    (!good).then(|| {
        (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"error": {"code": "Unauthorized", "message": "bad bot token"}})),
        )
            .into_response()
    })
}

fn user_key(q: &HashMap<String, String>) -> (String, String, String) {
    let get = |k: &str| q.get(k).cloned().unwrap_or_default();
    (get("userId"), get("connectionName"), get("channelId"))
}

fn token_response(key: &(String, String, String), token: &str) -> Response {
    axum::Json(
        json!({"channelId": key.2, "connectionName": key.1, "token": token,
                      "expiration": "2030-01-01T00:00:00Z"}),
    )
    .into_response()
}

async fn get_token(
    State(shared): State<Shared>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if let Some(refused) = admit(&shared, "GetToken", &q, &headers) {
        return refused;
    }
    let key = user_key(&q);
    let mut s = shared.0.lock().unwrap();
    if q.get("code").map(String::as_str) == Some(GOOD_CODE) {
        s.tokens.insert(key.clone(), CODE_TOKEN.into());
    }
    match s.tokens.get(&key) {
        Some(token) => token_response(&key, token),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn exchange(
    State(shared): State<Shared>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    if let Some(refused) = admit(&shared, "exchange", &q, &headers) {
        return refused;
    }
    let key = user_key(&q);
    if body["token"] != GOOD_SSO {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"error": {"code": "ConsentRequired", "message": "cannot exchange"}})),
        )
            .into_response();
    }
    shared
        .0
        .lock()
        .unwrap()
        .tokens
        .insert(key.clone(), SSO_TOKEN.into());
    token_response(&key, SSO_TOKEN)
}

async fn sign_out(
    State(shared): State<Shared>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if let Some(refused) = admit(&shared, "SignOut", &q, &headers) {
        return refused;
    }
    shared.0.lock().unwrap().tokens.remove(&user_key(&q));
    StatusCode::OK.into_response()
}

async fn token_status(
    State(shared): State<Shared>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if let Some(refused) = admit(&shared, "GetTokenStatus", &q, &headers) {
        return refused;
    }
    let s = shared.0.lock().unwrap();
    let include = q.get("include").cloned().unwrap_or_default();
    let statuses: Vec<Value> = include
        .split(',')
        .map(|c| {
            let key = (q["userId"].clone(), c.to_owned(), q["channelId"].clone());
            json!({"connectionName": c, "hasToken": s.tokens.contains_key(&key),
                   "serviceProviderDisplayName": "Stand-in"})
        })
        .collect();
    axum::Json(statuses).into_response()
}

async fn sign_in_resource(
    State(shared): State<Shared>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if let Some(refused) = admit(&shared, "GetSignInResource", &q, &headers) {
        return refused;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(q.get("state").cloned().unwrap_or_default())
        .ok()
        .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok())
        .unwrap_or(Value::Null);
    shared.0.lock().unwrap().states.push(decoded);
    axum::Json(json!({
        "signInLink": LINK,
        "tokenExchangeResource": {"id": "txr-1", "uri": "api://bot/graph", "providerId": "aad"},
        "tokenPostResource": {"sasUrl": "https://post.example/sas"}
    }))
    .into_response()
}

struct Setup {
    _idp: Idp,
    tokens: TokenService,
    connector: Connector,
    host: Host,
}

/// A host serving `guest` (one of `BOTS`) as the bot `signin`.
async fn setup(guest: &str) -> Setup {
    eprintln!("--- with {guest}");
    let idp = Idp::start(3600).await;
    let tokens = TokenService::start(&idp).await;
    let connector = Connector::start().await;
    let bots = BotsDir::with_manifest("signin", guest, MANIFEST);
    let mut args = idp.host_args();
    args.extend(["--token-service-url".to_owned(), tokens.url()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let host = Host::start(bots, &args);
    Setup {
        _idp: idp,
        tokens,
        connector,
        host,
    }
}

impl Setup {
    /// Posts an activity with a channel token; the answer.
    async fn post(&self, activity: &Value) -> (StatusCode, Value) {
        let token = keys()
            .channel
            .sign(&channel_claims(&self.connector.service_url()));
        let response = client()
            .post(self.host.url("/api/bots/signin/messages"))
            .header("authorization", format!("Bearer {token}"))
            .json(activity)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}; host log:\n{}", self.host.log()));
        read(response).await
    }

    async fn say(&self, text: &str) -> (StatusCode, Value) {
        self.post(&message(&self.connector.service_url(), text))
            .await
    }

    async fn invoke(&self, name: &str, value: Value) -> (StatusCode, Value) {
        let mut activity = message(&self.connector.service_url(), "");
        activity["type"] = json!("invoke");
        activity["name"] = json!(name);
        activity["value"] = value;
        activity.as_object_mut().unwrap().remove("text");
        self.post(&activity).await
    }

    /// The texts the bot sent, in order.
    fn texts(&self) -> Vec<String> {
        self.connector
            .received()
            .iter()
            .filter_map(|r| r.body["text"].as_str().map(str::to_owned))
            .collect()
    }

    fn last_text(&self) -> String {
        self.texts().last().cloned().unwrap_or_default()
    }
}

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
    let log = s.host.log();
    assert!(
        !log.contains(CODE_TOKEN) && !log.contains(GOOD_CODE),
        "{log}"
    );
    s.host.assert_no_panic();
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
