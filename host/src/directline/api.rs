//! The Direct Line 3.0 API: tokens, conversations, activities with
//! watermarks, and the WebSocket stream. Callers present the channel secret
//! or a conversation token; with no secret configured the channel is open to
//! loopback callers only (dev mode).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tracing::Instrument;

use super::CHANNEL_ID;
use super::conversations::{Conversation, Conversations};
use super::tokens::{TokenClaims, TokenError, TokenIssuer};
use crate::activity::Activity;
use crate::connector::Outbound;
use crate::dispatch::{DispatchError, dispatch, turn_span};
use crate::ingress::{ApiError, AppState};
use crate::registry::BotSlot;

/// How often an open stream gets a keep-alive.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// The channel's state.
pub struct DirectLine {
    pub tokens: TokenIssuer,
    pub conversations: Conversations,
    /// The channel secret; `None`: dev mode, loopback callers only.
    pub secret: Option<String>,
    /// The random key in this host's own `serviceUrl`.
    connector_key: String,
    /// `http://127.0.0.1:PORT/directline-connector/KEY/`, once listening.
    service_url: std::sync::OnceLock<String>,
}

impl DirectLine {
    pub fn new(secret: Option<String>, token_lifetime: u64) -> Result<Self, String> {
        if secret.is_none() {
            tracing::warn!(
                "Direct Line is in dev mode: no secret is configured, so only loopback callers may use it"
            );
        }
        Ok(DirectLine {
            tokens: TokenIssuer::new(token_lifetime)?,
            conversations: Conversations::default(),
            secret,
            connector_key: crate::storage::new_etag(),
            service_url: std::sync::OnceLock::new(),
        })
    }

    /// Sets the service URL once the host listens on `addr`.
    pub fn listening_on(&self, addr: SocketAddr) {
        let host = if addr.ip().is_unspecified() {
            std::net::IpAddr::from([127, 0, 0, 1])
        } else {
            addr.ip()
        };
        let url = format!(
            "http://{}/directline-connector/{}/",
            SocketAddr::new(host, addr.port()),
            self.connector_key
        );
        let _ = self.service_url.set(url);
    }

    pub fn connector_key_matches(&self, key: &str) -> bool {
        key == self.connector_key
    }
}

pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string()
}

fn forbidden(code: &'static str, message: &str) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, code, message)
}

/// Who is calling.
enum Caller {
    /// The host-wide secret (or, in dev mode, a loopback caller without
    /// one): any bot.
    Secret,
    /// A bot's own secret (manifest `[directline] secret`): that bot only.
    BotSecret(String),
    Token(TokenClaims),
}

fn same_secret(presented: &str, secret: &str) -> bool {
    // Constant time: secrets are compared byte by byte without early exit.
    presented.len() == secret.len()
        && presented
            .bytes()
            .zip(secret.bytes())
            .fold(0u8, |a, (x, y)| a | (x ^ y))
            == 0
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
}

fn caller(state: &AppState, presented: Option<&str>, peer: SocketAddr) -> Result<Caller, ApiError> {
    let dl = &state.directline;
    if let Some(presented) = presented {
        match dl.tokens.check(presented) {
            Ok(claims) => return Ok(Caller::Token(claims)),
            Err(TokenError::Expired) => {
                return Err(forbidden("TokenExpired", "the token has expired"));
            }
            Err(TokenError::Invalid) => {}
        }
        if dl
            .secret
            .as_deref()
            .is_some_and(|s| same_secret(presented, s))
        {
            return Ok(Caller::Secret);
        }
        for slot in state.registry.slots() {
            if let Some(version) = slot.current()
                && version
                    .directline_secret
                    .as_ref()
                    .is_some_and(|s| same_secret(presented, s.expose()))
            {
                return Ok(Caller::BotSecret(version.route.clone()));
            }
        }
        if dl.secret.is_some() || !peer.ip().is_loopback() {
            return Err(forbidden("BadArgument", "the secret or token is not valid"));
        }
    }
    match &dl.secret {
        Some(_) => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            "Direct Line needs `Authorization: Bearer <secret or token>`",
        )),
        None if peer.ip().is_loopback() => Ok(Caller::Secret),
        None => Err(forbidden(
            "Forbidden",
            "Direct Line is in dev mode (no secret configured): loopback callers only",
        )),
    }
}

/// The bot a request is for: the path's, else the token's, else the
/// default bot.
fn bot_for(
    state: &AppState,
    params: &HashMap<String, String>,
    caller: &Caller,
) -> Result<Arc<BotSlot>, ApiError> {
    let bound = match caller {
        Caller::Token(claims) => Some(claims.bot.as_str()),
        Caller::BotSecret(route) => Some(route.as_str()),
        Caller::Secret => None,
    };
    if let (Some(bound), Some(path)) = (bound, params.get("bot"))
        && bound != path
    {
        return Err(forbidden(
            "Forbidden",
            "this secret or token is for another bot",
        ));
    }
    let named = params.get("bot").map(String::as_str).or(bound);
    let slot = match named {
        Some(route) => state.registry.route(route),
        None => state.registry.default_bot(),
    }
    .ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "BotNotFound",
            "no such bot is loaded",
        )
    })?;
    // In dev mode (no host secret) a bot with its own secret still wants it.
    let locked = slot
        .current()
        .is_some_and(|v| v.directline_secret.is_some());
    if matches!(caller, Caller::Secret) && state.directline.secret.is_none() && locked {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            "this bot's Direct Line needs its secret",
        ));
    }
    Ok(slot)
}

fn route_of(slot: &BotSlot) -> String {
    slot.current()
        .map(|v| v.route.clone())
        .unwrap_or_else(|| slot.name.clone())
}

/// The conversation a request names, which a token must be bound to.
fn conversation_for(
    state: &AppState,
    id: &str,
    caller: &Caller,
) -> Result<Arc<Conversation>, ApiError> {
    if let Caller::Token(claims) = caller
        && claims.conv != id
    {
        return Err(forbidden(
            "Forbidden",
            "the token is for another conversation",
        ));
    }
    let conversation =
        state.directline.conversations.get(id).ok_or_else(|| {
            ApiError::new(StatusCode::NOT_FOUND, "NotFound", "no such conversation")
        })?;
    if let Caller::BotSecret(route) = caller
        && route != &conversation.bot
    {
        return Err(forbidden("Forbidden", "this secret is for another bot"));
    }
    Ok(conversation)
}

fn stream_url(
    headers: &HeaderMap,
    base: &str,
    conversation: &str,
    token: &str,
    watermark: Option<&str>,
) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("127.0.0.1");
    let mut url = format!("ws://{host}{base}/conversations/{conversation}/stream?t={token}");
    if let Some(watermark) = watermark {
        url.push_str(&format!("&watermark={watermark}"));
    }
    url
}

fn base_path(params: &HashMap<String, String>) -> String {
    match params.get("bot") {
        Some(bot) => format!("/bots/{bot}/v3/directline"),
        None => "/v3/directline".into(),
    }
}

fn user_from_body(body: &[u8]) -> Option<String> {
    let value: Value = serde_json::from_slice(body).ok()?;
    value
        .get("user")
        .and_then(|u| u.get("id"))
        .and_then(Value::as_str)
        .filter(|id| !id.is_empty())
        .map(str::to_owned)
}

fn token_answer(state: &AppState, conversation: &Conversation) -> Result<Value, ApiError> {
    let token = state
        .directline
        .tokens
        .issue(&conversation.bot, &conversation.id, &conversation.user)
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "TokenError", e))?;
    Ok(json!({
        "conversationId": conversation.id,
        "token": token,
        "expires_in": state.directline.tokens.lifetime,
    }))
}

/// A new conversation with the bot the request names, for the user the
/// body names (`{"user":{"id":…}}`) or a fresh one.
fn new_conversation(
    state: &AppState,
    params: &HashMap<String, String>,
    caller: &Caller,
    body: &[u8],
) -> Result<Arc<Conversation>, ApiError> {
    let slot = bot_for(state, params, caller)?;
    let user = user_from_body(body).unwrap_or_else(|| format!("dl_{}", crate::storage::new_etag()));
    Ok(state
        .directline
        .conversations
        .create(&route_of(&slot), &user))
}

/// `POST /tokens/generate` (secret): a token for a new conversation.
pub async fn generate_token(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(params): Path<HashMap<String, String>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let caller = caller(&state, bearer(&headers), peer)?;
    if matches!(caller, Caller::Token(_)) {
        return Err(forbidden(
            "Forbidden",
            "generating a token needs the secret",
        ));
    }
    let conversation = new_conversation(&state, &params, &caller, &body)?;
    Ok(axum::Json(token_answer(&state, &conversation)?).into_response())
}

/// `POST /tokens/refresh` (token): a fresh token for the same conversation.
pub async fn refresh_token(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let Caller::Token(claims) = caller(&state, bearer(&headers), peer)? else {
        return Err(forbidden("Forbidden", "refreshing needs a token"));
    };
    let conversation = conversation_for(&state, &claims.conv, &Caller::Token(claims.clone()))?;
    Ok(axum::Json(token_answer(&state, &conversation)?).into_response())
}

/// `POST /conversations`: starts a conversation (201), or, for a token whose
/// conversation has started, returns it (200).
pub async fn start_conversation(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(params): Path<HashMap<String, String>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let caller = caller(&state, bearer(&headers), peer)?;
    let conversation = match &caller {
        Caller::Token(claims) => conversation_for(&state, &claims.conv, &caller)?,
        Caller::Secret | Caller::BotSecret(_) => new_conversation(&state, &params, &caller, &body)?,
    };
    let first = conversation.start();
    let mut answer = token_answer(&state, &conversation)?;
    let token = answer["token"].as_str().unwrap_or_default().to_owned();
    answer["streamUrl"] = Value::String(stream_url(
        &headers,
        &base_path(&params),
        &conversation.id,
        &token,
        None,
    ));
    let status = if first {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, axum::Json(answer)).into_response())
}

#[derive(serde::Deserialize)]
pub struct WatermarkQuery {
    watermark: Option<String>,
    t: Option<String>,
}

/// A Direct Line watermark: empty or absent is 0; anything but a
/// non-negative integer is a 400. The fuzz target `directline` feeds it.
pub fn parse_watermark(text: Option<&str>) -> Result<usize, ApiError> {
    match text.filter(|w| !w.is_empty()) {
        None => Ok(0),
        Some(text) => text.parse().map_err(|_| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "BadArgument",
                "the watermark is not valid",
            )
        }),
    }
}

/// The caller of a request on `/conversations/{id}/…`, and that
/// conversation, which the caller must be allowed to use.
fn authorized(
    state: &AppState,
    presented: Option<&str>,
    peer: SocketAddr,
    params: &HashMap<String, String>,
) -> Result<(Caller, Arc<Conversation>), ApiError> {
    let caller = caller(state, presented, peer)?;
    let id = params.get("id").map(String::as_str).unwrap_or_default();
    let conversation = conversation_for(state, id, &caller)?;
    Ok((caller, conversation))
}

/// `GET /conversations/{id}?watermark=`: reconnects, with a new stream URL.
pub async fn reconnect(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(params): Path<HashMap<String, String>>,
    Query(query): Query<WatermarkQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (_, conversation) = authorized(&state, bearer(&headers), peer, &params)?;
    parse_watermark(query.watermark.as_deref())?;
    let mut answer = token_answer(&state, &conversation)?;
    let token = answer["token"].as_str().unwrap_or_default().to_owned();
    answer["streamUrl"] = Value::String(stream_url(
        &headers,
        &base_path(&params),
        &conversation.id,
        &token,
        query.watermark.as_deref(),
    ));
    Ok(axum::Json(answer).into_response())
}

/// `GET /conversations/{id}/activities?watermark=`: an `ActivitySet`.
pub async fn get_activities(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(params): Path<HashMap<String, String>>,
    Query(query): Query<WatermarkQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (_, conversation) = authorized(&state, bearer(&headers), peer, &params)?;
    let (activities, watermark) = conversation.since(parse_watermark(query.watermark.as_deref())?);
    Ok(
        axum::Json(json!({"activities": activities, "watermark": watermark.to_string()}))
            .into_response(),
    )
}

/// `POST /conversations/{id}/activities`: the user's activity is logged and
/// the bot's turn runs; answers `{id}`, or 502 when the bot failed.
pub async fn post_activity(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(params): Path<HashMap<String, String>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let (caller, conversation) = authorized(&state, bearer(&headers), peer, &params)?;
    let mut activity = Activity::from_json_bytes(&body)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "BadArgument", e.to_string()))?;
    let slot = state.registry.route(&conversation.bot).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "BotNotFound",
            "the conversation's bot is not loaded",
        )
    })?;
    let version = slot.current().ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "BotNotFound",
            "the conversation's bot is not loaded",
        )
    })?;
    let Some(service_url) = state.directline.service_url.get().cloned() else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "NotReady",
            "the host is starting",
        ));
    };

    // As the real service does: the user is the token's, the routing is the
    // channel's.
    let mut from = activity.from.take().unwrap_or_default();
    if let Caller::Token(claims) = &caller {
        from.id = claims.user.clone();
    } else if from.id.is_empty() {
        from.id = conversation.user.clone();
    }
    from.role = Some("user".into());
    activity.from = Some(from);
    activity.recipient = Some(crate::activity::ChannelAccount {
        id: conversation.bot.clone(),
        name: Some(conversation.bot.clone()),
        role: Some("bot".into()),
        ..Default::default()
    });
    activity.channel_id = Some(CHANNEL_ID.into());
    activity.service_url = Some(service_url);
    activity.conversation = Some(crate::activity::ConversationAccount {
        id: conversation.id.clone(),
        ..Default::default()
    });
    activity.timestamp = Some(now_rfc3339());
    activity.id = None;
    activity.delivery_mode = None;
    activity.extra.remove("callerId");

    // The user's own message is echoed in the stream with its server id
    // (Web Chat waits for it, keyed by channelData.clientActivityID).
    let logged = serde_json::to_value(&activity)
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "Internal", e.to_string()))?;
    let activity_id = conversation.append(logged);
    activity.id = Some(activity_id.clone());

    let span = turn_span(&slot.name, &activity, activity.kind());
    let result = dispatch(
        &state,
        &slot,
        &version,
        Arc::new(activity),
        Outbound::Internal,
        false,
    )
    .instrument(span)
    .await;
    match result {
        Ok(_) => Ok(axum::Json(json!({"id": activity_id})).into_response()),
        Err(DispatchError::Busy { code, message }) => Err(ApiError {
            retry_after: Some(1),
            ..ApiError::new(StatusCode::SERVICE_UNAVAILABLE, code, message)
        }),
        Err(DispatchError::Turn(err)) => {
            tracing::error!(code = err.code(), error = %err, "Direct Line turn failed");
            Err(ApiError::new(
                StatusCode::BAD_GATEWAY,
                "BotError",
                format!("the bot failed: {err}"),
            ))
        }
    }
}

/// `GET /conversations/{id}/stream?t=TOKEN[&watermark=]`: a WebSocket of
/// `ActivitySet`s: first what was logged since the watermark, then every
/// new activity (typing included), with keep-alives.
pub async fn stream(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(params): Path<HashMap<String, String>>,
    Query(query): Query<WatermarkQuery>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    let presented = query.t.as_deref().or_else(|| bearer(&headers));
    let (_, conversation) = authorized(&state, presented, peer, &params)?;
    let watermark = parse_watermark(query.watermark.as_deref())?;
    Ok(upgrade.on_upgrade(move |socket| push(socket, conversation, watermark)))
}

async fn push(mut socket: WebSocket, conversation: Arc<Conversation>, watermark: usize) {
    // Subscribe before reading the backlog, so nothing falls between them.
    let mut feed = conversation.subscribe();
    let (backlog, mut next) = conversation.since(watermark);
    if !backlog.is_empty() {
        let set = json!({"activities": backlog, "watermark": next.to_string()});
        if socket
            .send(Message::Text(set.to_string().into()))
            .await
            .is_err()
        {
            return;
        }
    }
    let mut keep_alive = tokio::time::interval(KEEP_ALIVE);
    keep_alive.tick().await;
    loop {
        tokio::select! {
            pushed = feed.recv() => {
                let pushed = match pushed {
                    Ok(pushed) => pushed,
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                        // Fell behind: resend from the log.
                        let (missed, now) = conversation.since(next);
                        next = now;
                        let set = json!({"activities": missed, "watermark": next.to_string()});
                        if socket.send(Message::Text(set.to_string().into())).await.is_err() { return; }
                        continue;
                    }
                    Err(_) => return,
                };
                let set = match pushed.position {
                    Some(position) if position < next => continue,
                    Some(position) => {
                        next = position + 1;
                        json!({"activities": [pushed.activity], "watermark": next.to_string()})
                    }
                    None => json!({"activities": [pushed.activity]}),
                };
                if socket.send(Message::Text(set.to_string().into())).await.is_err() {
                    return;
                }
            }
            _ = keep_alive.tick() => {
                if socket.send(Message::Text("".into())).await.is_err() {
                    return;
                }
            }
            incoming = socket.recv() => {
                match incoming {
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                    _ => {}
                }
            }
        }
    }
}
