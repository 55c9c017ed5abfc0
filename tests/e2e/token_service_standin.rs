//! The stand-in Bot Framework Token Service of the sign-in tests
//! (`signin.rs`, `oauth_dialog.rs`): it checks the bot's bearer token (one
//! the stand-in identity provider issued for the Bot Framework scope) and
//! holds users' tokens, one valid magic code and one valid SSO token; and
//! [`setup`], a host serving one of the sign-in example bots (app id,
//! `[oauth] connections = ["graph"]`) against it.

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

pub(crate) const MANIFEST: &str = r#"
[credentials]
MicrosoftAppId = "9a1b2c3d-0000-4000-8000-000000000001"
MicrosoftAppPassword = "bot-secret"

[oauth]
connections = ["graph"]
"#;

/// The magic code the stand-in redeems; "999999" stands for an expired one.
pub(crate) const GOOD_CODE: &str = "123456";
pub(crate) const EXPIRED_CODE: &str = "999999";
/// The SSO token the stand-in exchanges.
pub(crate) const GOOD_SSO: &str = "sso-from-teams";
/// The user token each flow yields.
pub(crate) const CODE_TOKEN: &str = "graph-user-token-from-code-AB12";
pub(crate) const SSO_TOKEN: &str = "graph-user-token-from-sso-CD34";
pub(crate) const LINK: &str = "https://signin.example/sign?s=1";
/// The Entra ID token GetAadTokens gives a signed-in user, per resource.
pub(crate) const AAD_TOKEN: &str = "aad-token-for-a-resource-EF56";

/// The sign-in bot on every SDK: the prompt's flows run against each.
pub(crate) const BOTS: [&str; 3] = ["signin-rs", "signin-js", "signin-py"];

#[derive(Default)]
pub(crate) struct TokenServiceState {
    /// (user, connection, channel) → token.
    pub(crate) tokens: HashMap<(String, String, String), String>,
    /// Every call: the path and its query.
    pub(crate) calls: Vec<(String, HashMap<String, String>)>,
    /// The decoded `state` of each GetSignInResource.
    pub(crate) states: Vec<Value>,
    /// The body of each GetAadTokens.
    pub(crate) aad_requests: Vec<Value>,
    /// Answer everything 503.
    pub(crate) down: bool,
}

type Shared = (Arc<Mutex<TokenServiceState>>, Arc<Mutex<IdpState>>);

/// The stand-in Token Service.
pub(crate) struct TokenService {
    addr: std::net::SocketAddr,
    pub(crate) state: Arc<Mutex<TokenServiceState>>,
}

impl TokenService {
    pub(crate) async fn start(idp: &Idp) -> TokenService {
        let state = Arc::new(Mutex::new(TokenServiceState::default()));
        let shared: Shared = (state.clone(), idp.state.clone());
        let app = Router::new()
            .route("/api/usertoken/GetToken", get(get_token))
            .route("/api/usertoken/exchange", post(exchange))
            .route("/api/usertoken/GetAadTokens", post(aad_tokens))
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

    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub(crate) fn calls(&self) -> Vec<(String, HashMap<String, String>)> {
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

/// Entra ID tokens for the resources asked, for a user with a token for
/// the connection; none for others.
async fn aad_tokens(
    State(shared): State<Shared>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    if let Some(refused) = admit(&shared, "GetAadTokens", &q, &headers) {
        return refused;
    }
    let key = user_key(&q);
    let mut s = shared.0.lock().unwrap();
    s.aad_requests.push(body.clone());
    let mut tokens = serde_json::Map::new();
    if s.tokens.contains_key(&key) {
        for url in body["resourceUrls"].as_array().into_iter().flatten() {
            let url = url.as_str().unwrap_or_default().to_owned();
            tokens.insert(
                url,
                json!({"channelId": key.2, "connectionName": key.1, "token": AAD_TOKEN,
                       "expiration": "2030-01-01T00:00:00Z"}),
            );
        }
    }
    axum::Json(Value::Object(tokens)).into_response()
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

pub(crate) struct Setup {
    _idp: Idp,
    pub(crate) tokens: TokenService,
    pub(crate) connector: Connector,
    pub(crate) host: Host,
}

/// A host serving `guest` (one of `BOTS`) as the bot `signin`.
pub(crate) async fn setup(guest: &str) -> Setup {
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
    /// Asserts that no token or magic code reached the host's log, and that
    /// the host never panicked.
    pub(crate) fn assert_no_secret_logged(&self) {
        let log = self.host.log();
        assert!(
            !log.contains(CODE_TOKEN) && !log.contains(GOOD_CODE),
            "{log}"
        );
        self.host.assert_no_panic();
    }

    /// Posts an activity with a channel token; the answer.
    pub(crate) async fn post(&self, activity: &Value) -> (StatusCode, Value) {
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

    pub(crate) async fn say(&self, text: &str) -> (StatusCode, Value) {
        self.post(&message(&self.connector.service_url(), text))
            .await
    }

    pub(crate) async fn invoke(&self, name: &str, value: Value) -> (StatusCode, Value) {
        let mut activity = message(&self.connector.service_url(), "");
        activity["type"] = json!("invoke");
        activity["name"] = json!(name);
        activity["value"] = value;
        activity.as_object_mut().unwrap().remove("text");
        self.post(&activity).await
    }

    /// The texts the bot sent, in order.
    pub(crate) fn texts(&self) -> Vec<String> {
        self.connector
            .received()
            .iter()
            .filter_map(|r| r.body["text"].as_str().map(str::to_owned))
            .collect()
    }

    pub(crate) fn last_text(&self) -> String {
        self.texts().last().cloned().unwrap_or_default()
    }
}
