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
use super::conversations::{Conversation, Conversations, Wake};
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
    /// The key in the connector's `serviceUrl`: the same on every host
    /// sharing the database, so that any of them takes any one's replies.
    connector_key: String,
    /// `http://127.0.0.1:PORT/directline-connector/KEY/`, once listening.
    service_url: std::sync::OnceLock<String>,
}

/// A key for one use, derived from the channel key.
fn derive(channel_key: &[u8], label: &str) -> Vec<u8> {
    use hmac::{Hmac, Mac};
    let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(channel_key)
        .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
    mac.update(label.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

impl DirectLine {
    /// The channel over the conversations in `store`, with keys derived from
    /// the store's channel key. Blocks: call it off the executor.
    pub fn new(
        secret: Option<String>,
        token_lifetime: u64,
        retention: Duration,
        store: Arc<dyn crate::storage::Database>,
    ) -> Result<Self, crate::storage::StorageError> {
        if secret.is_none() {
            tracing::warn!(
                "Direct Line is in dev mode: no secret is configured, so only loopback callers may use it"
            );
        }
        let conversations = Conversations::new(store, retention)?;
        let channel_key = conversations.channel_key()?;
        Ok(DirectLine {
            tokens: TokenIssuer::new(&derive(&channel_key, "tokens"), token_lifetime),
            conversations,
            secret,
            connector_key: hex::encode(&derive(&channel_key, "connector")[..16]),
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
        same_secret(key, &self.connector_key)
    }

    /// For a `serviceUrl` of this channel, made by any host sharing the
    /// database (which may since have stopped), this host's own; `None` for
    /// any other service URL.
    pub fn own_service_url(&self, service_url: &str) -> Option<String> {
        let url = url::Url::parse(service_url).ok()?;
        let ours = format!("/directline-connector/{}/", self.connector_key);
        (url.path() == ours)
            .then(|| self.service_url.get().cloned())
            .flatten()
    }
}

/// A storage failure as the API answers it.
pub fn storage_failed(err: crate::storage::StorageError) -> ApiError {
    tracing::error!(error = %err, "Direct Line storage failed");
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "StorageUnavailable",
        "the conversation store failed; try again",
    )
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
async fn conversation_for(
    state: &AppState,
    id: &str,
    caller: &Caller,
) -> Result<Conversation, ApiError> {
    if let Caller::Token(claims) = caller
        && claims.conv != id
    {
        return Err(forbidden(
            "Forbidden",
            "the token is for another conversation",
        ));
    }
    let conversation = state
        .directline
        .conversations
        .get(id)
        .await
        .map_err(storage_failed)?
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "NotFound", "no such conversation"))?;
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
async fn new_conversation(
    state: &AppState,
    params: &HashMap<String, String>,
    caller: &Caller,
    body: &[u8],
) -> Result<Conversation, ApiError> {
    let slot = bot_for(state, params, caller)?;
    let user = user_from_body(body).unwrap_or_else(|| format!("dl_{}", crate::storage::new_etag()));
    state
        .directline
        .conversations
        .create(&route_of(&slot), &user)
        .await
        .map_err(storage_failed)
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
    let conversation = new_conversation(&state, &params, &caller, &body).await?;
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
    let conversation =
        conversation_for(&state, &claims.conv, &Caller::Token(claims.clone())).await?;
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
        Caller::Token(claims) => conversation_for(&state, &claims.conv, &caller).await?,
        Caller::Secret | Caller::BotSecret(_) => {
            new_conversation(&state, &params, &caller, &body).await?
        }
    };
    let first = state
        .directline
        .conversations
        .start(&conversation.id)
        .await
        .map_err(storage_failed)?;
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
async fn authorized(
    state: &AppState,
    presented: Option<&str>,
    peer: SocketAddr,
    params: &HashMap<String, String>,
) -> Result<(Caller, Conversation), ApiError> {
    let caller = caller(state, presented, peer)?;
    let id = params.get("id").map(String::as_str).unwrap_or_default();
    let conversation = conversation_for(state, id, &caller).await?;
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
    let (_, conversation) = authorized(&state, bearer(&headers), peer, &params).await?;
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
    let (_, conversation) = authorized(&state, bearer(&headers), peer, &params).await?;
    let watermark = parse_watermark(query.watermark.as_deref())?;
    let (activities, watermark) = state
        .directline
        .conversations
        .since(&conversation.id, watermark)
        .await
        .map_err(storage_failed)?;
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
    let (caller, conversation) = authorized(&state, bearer(&headers), peer, &params).await?;
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
    let activity_id = state
        .directline
        .conversations
        .append(&conversation.id, logged)
        .await
        .map_err(storage_failed)?;
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
    let (_, conversation) = authorized(&state, presented, peer, &params).await?;
    let watermark = parse_watermark(query.watermark.as_deref())?;
    Ok(upgrade.on_upgrade(move |socket| async move {
        push(socket, &state, &conversation.id, watermark).await;
        state.directline.conversations.unsubscribe(&conversation.id);
    }))
}

/// Sends what the log holds from `next` on, if anything; the new `next`,
/// or `None` when the socket is gone.
async fn send_from_log(
    socket: &mut WebSocket,
    conversations: &Conversations,
    conversation: &str,
    next: usize,
) -> Option<usize> {
    let (activities, now) = match conversations.since(conversation, next).await {
        Ok(read) => read,
        Err(err) => {
            // The next wake-up reads again from the same watermark.
            tracing::warn!(error = %err, "a Direct Line stream cannot read the log");
            return Some(next);
        }
    };
    if activities.is_empty() {
        return Some(next);
    }
    let set = json!({"activities": activities, "watermark": now.to_string()});
    socket
        .send(Message::Text(set.to_string().into()))
        .await
        .ok()
        .map(|()| now)
}

async fn push(mut socket: WebSocket, state: &AppState, conversation: &str, watermark: usize) {
    let conversations = &state.directline.conversations;
    // Subscribe before reading the backlog, so nothing falls between them.
    let mut feed = conversations.subscribe(conversation);
    let Some(mut next) = send_from_log(&mut socket, conversations, conversation, watermark).await
    else {
        return;
    };
    let mut keep_alive = tokio::time::interval(KEEP_ALIVE);
    keep_alive.tick().await;
    loop {
        tokio::select! {
            woken = feed.recv() => {
                use tokio::sync::broadcast::error::RecvError;
                match woken {
                    // Behind or not, the log has it all.
                    Ok(Wake::Appended) | Err(RecvError::Lagged(_)) => {
                        match send_from_log(&mut socket, conversations, conversation, next).await {
                            Some(now) => next = now,
                            None => return,
                        }
                    }
                    Ok(Wake::Typing(activity)) => {
                        let set = json!({"activities": [activity]});
                        if socket.send(Message::Text(set.to_string().into())).await.is_err() {
                            return;
                        }
                    }
                    Err(RecvError::Closed) => return,
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
