//! The Direct Line 3.0 API: tokens, conversations, activities with
//! watermarks (the WebSocket stream is `stream.rs`, uploads `upload.rs`). Callers present the channel secret
//! or a conversation token; with no secret configured the channel is open to
//! loopback callers only (dev mode; `http::trust`: the host bound to
//! loopback, no proxy's forwarding header).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::bots::registry::BotSlot;
use crate::channels::directline::conversations::Conversation;
use crate::channels::directline::same_secret;
use crate::channels::directline::tokens::{TokenClaims, TokenError};
use crate::http::app::{ApiError, AppState};
use crate::schema::activity::Activity;

/// A storage failure as the API answers it.
pub fn storage_failed(err: crate::storage::StorageError) -> ApiError {
    tracing::error!(error = %err, "Direct Line storage failed");
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "StorageUnavailable",
        "the conversation store failed; try again",
    )
}

fn forbidden(code: &'static str, message: &str) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, code, message)
}

/// Who is calling.
pub(super) enum Caller {
    /// The host-wide secret (or, in dev mode, a loopback caller without
    /// one): any bot.
    Secret,
    /// A bot's own secret (manifest `[directline] secret`): that bot only.
    BotSecret(String),
    Token(TokenClaims),
}

pub(super) fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
}

pub(super) fn caller(
    state: &AppState,
    presented: Option<&str>,
    headers: &HeaderMap,
    peer: SocketAddr,
) -> Result<Caller, ApiError> {
    let dl = &state.turns.directline;
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
        for slot in state.turns.registry.slots() {
            if let Some(version) = slot.current()
                && version
                    .directline_secret
                    .as_ref()
                    .is_some_and(|s| same_secret(presented, s.expose()))
            {
                return Ok(Caller::BotSecret(version.route.clone()));
            }
        }
        if dl.secret.is_some() || !crate::http::trust::loopback_trusted(state, headers, peer) {
            return Err(forbidden("BadArgument", "the secret or token is not valid"));
        }
    }
    match &dl.secret {
        Some(_) => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            "Direct Line needs `Authorization: Bearer <secret or token>`",
        )),
        None if crate::http::trust::loopback_trusted(state, headers, peer) => Ok(Caller::Secret),
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
        Some(route) => state.turns.registry.route(route),
        None => state.turns.registry.default_bot(),
    }
    .ok_or_else(|| ApiError::bot_not_found("no such bot is loaded"))?;
    // In dev mode (no host secret) a bot with its own secret still wants it.
    let locked = slot
        .current()
        .is_some_and(|v| v.directline_secret.is_some());
    if matches!(caller, Caller::Secret) && state.turns.directline.secret.is_none() && locked {
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
        .turns
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
    let host = request_host(headers);
    let mut url = format!("ws://{host}{base}/conversations/{conversation}/stream?t={token}");
    if let Some(watermark) = watermark {
        url.push_str(&format!("&watermark={watermark}"));
    }
    url
}

/// The host the client called (its `Host` header), for the absolute URLs
/// handed back: stream URLs, uploaded files' URLs. A header that is not a
/// plain host and port (it could steer a URL elsewhere) is not used.
pub(super) fn request_host(headers: &HeaderMap) -> &str {
    headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .filter(|host| {
            !host.is_empty()
                && host
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b".-:[]_".contains(&b))
        })
        .unwrap_or("127.0.0.1")
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
    let token = state.turns.directline.tokens.issue(
        &conversation.bot,
        &conversation.id,
        &conversation.user,
    )?;
    Ok(json!({
        "conversationId": conversation.id,
        "token": token,
        "expires_in": state.turns.directline.tokens.lifetime,
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
    let user =
        user_from_body(body).unwrap_or_else(|| format!("dl_{}", crate::support::ids::random_id()));
    state
        .turns
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
    let caller = caller(&state, bearer(&headers), &headers, peer)?;
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
    let Caller::Token(claims) = caller(&state, bearer(&headers), &headers, peer)? else {
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
    let caller = caller(&state, bearer(&headers), &headers, peer)?;
    let conversation = match &caller {
        Caller::Token(claims) => conversation_for(&state, &claims.conv, &caller).await?,
        Caller::Secret | Caller::BotSecret(_) => {
            new_conversation(&state, &params, &caller, &body).await?
        }
    };
    let first = state
        .turns
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
    pub(super) watermark: Option<String>,
    pub(super) t: Option<String>,
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
pub(super) async fn authorized(
    state: &AppState,
    presented: Option<&str>,
    headers: &HeaderMap,
    peer: SocketAddr,
    params: &HashMap<String, String>,
) -> Result<(Caller, Conversation), ApiError> {
    let caller = caller(state, presented, headers, peer)?;
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
    let (_, conversation) = authorized(&state, bearer(&headers), &headers, peer, &params).await?;
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
    let (_, conversation) = authorized(&state, bearer(&headers), &headers, peer, &params).await?;
    let watermark = parse_watermark(query.watermark.as_deref())?;
    let (activities, watermark) = state
        .turns
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
    let (caller, conversation) =
        authorized(&state, bearer(&headers), &headers, peer, &params).await?;
    let activity = Activity::from_json_bytes(&body)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "BadArgument", e.to_string()))?;
    let mut delivery =
        super::delivery::Delivery::prepare(&state, &caller, &conversation, activity, None)?;
    let activity_id = delivery.log(&state).await.map_err(storage_failed)?;
    delivery.run(&state, activity_id).await
}
