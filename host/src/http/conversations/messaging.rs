//! Sending and receiving: `send` logs the user's message in the Direct
//! Line log and runs the bot's turn as Direct Line does (answered when the
//! turn ends or after the bot's `ack_after_ms`, the turn kept and resumed
//! by any host if this one dies, `turn::accept`); `receive` hands out the
//! bot's messages logged since the conversation's receive cursor (moved by
//! compare-and-set, so concurrent receives hand each message out once) or
//! since a given message, long-polling on the conversation's wake-ups
//! (this host's and, through the database's notices, other hosts').

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;
use tracing::Instrument;
use utoipa::ToSchema;

use super::access::Sessions;
use super::items::{Items, META_FIELD, bot_items};
use super::manage::IdAnswer;
use super::{authorized, blocking, json_body, storage_failed};
use crate::bots::registry::BotSlot;
use crate::channels::connector::Outbound;
use crate::channels::directline::CHANNEL_ID;
use crate::channels::directline::conversations::Wake;
use crate::http::app::ErrorBody;
use crate::http::app::{ApiError, AppState};
use crate::runtime::bot::BotVersion;
use crate::schema::activity::Activity;
use crate::storage::api_conversations::ApiConversation;
use crate::turn::accept::{Reply, Retry, dispatch_kept, dispatch_or_accept, keep_with_log};
use crate::turn::dispatch::turn_span;

/// The longest a `receive` waits, in ms.
pub const MAX_WAIT_MS: u64 = 30_000;

/// A user's message.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MessageRequest {
    pub text: String,
    /// Bot Framework attachments.
    #[schema(value_type = Option<Vec<Object>>)]
    pub attachments: Option<Vec<Value>>,
    /// A JSON object the bot reads as `channelData.meta`.
    #[schema(value_type = Option<Object>)]
    pub meta: Option<Value>,
}

/// The user's message, logged in the conversation, as the bot's turn gets
/// it: with its log id, the bot's slot and version.
pub struct Logged {
    pub activity: Arc<Activity>,
    pub id: String,
    pub slot: Arc<BotSlot>,
    pub version: Arc<BotVersion>,
    /// Its turn was kept with its log append (`accept::keep_with_log`):
    /// whoever runs the turn forgets it when the turn is over.
    pub kept: bool,
}

/// Logs the user's message as Direct Line's `post_activity` does, its
/// turn kept with it; the turn is the caller's to run.
pub async fn log_user_message(
    state: &AppState,
    conversation: &ApiConversation,
    request: MessageRequest,
) -> Result<Logged, ApiError> {
    if request.meta.as_ref().is_some_and(|m| !m.is_object()) {
        return Err(ApiError::bad_argument("`meta` must be a JSON object"));
    }
    let not_loaded = || ApiError::bot_not_found("the conversation's bot is not loaded");
    let slot = state
        .turns
        .registry
        .route(&conversation.bot)
        .ok_or_else(not_loaded)?;
    let version = slot.current().ok_or_else(not_loaded)?;
    let service_url = state
        .turns
        .directline
        .service_url(&conversation.id)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "NotReady",
                "the host is starting",
            )
        })?;
    let mut activity = json!({
        "type": "message",
        "text": request.text,
        "channelId": CHANNEL_ID,
        "serviceUrl": service_url,
        "from": {"id": conversation.user, "role": "user"},
        "recipient": {"id": conversation.bot, "name": conversation.bot, "role": "bot"},
        "conversation": {"id": conversation.id},
        "timestamp": crate::support::clock::now_rfc3339(),
    });
    if let Some(attachments) = request.attachments {
        activity["attachments"] = Value::Array(attachments);
    }
    if let Some(meta) = request.meta {
        activity["channelData"] = json!({ META_FIELD: meta });
    }
    let mut parsed: Activity = serde_json::from_value(activity.clone())
        .map_err(|e| ApiError::bad_argument(format!("the message is not valid: {e}")))?;
    let keep = keep_with_log(&state.turns, &slot, &version, &parsed, &Outbound::Internal);
    let (id, kept) = state
        .turns
        .directline
        .conversations
        .append_from_user(&conversation.id, activity, keep)
        .await
        .map_err(storage_failed)?;
    crate::support::faults::point("after-log");
    parsed.id = Some(id.clone());
    Ok(Logged {
        activity: Arc::new(parsed),
        id,
        slot,
        version,
        kept,
    })
}

/// Send a user message; the bot's turn starts.
#[utoipa::path(post, path = "/api/v1/conversation/{id}/send", tag = "conversations",
    params(("id" = String, Path)), request_body = MessageRequest,
    responses((status = 200, description = "logged; the turn ended or goes on", body = IdAnswer),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 502, description = "the bot failed", body = ErrorBody),
              (status = 503, body = ErrorBody)),
    security(("apiKey" = []), ("session" = [])))]
pub async fn send(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let (_, conversation) = authorized(&state, &headers, peer, &id, Sessions::Allowed).await?;
    let request: MessageRequest = json_body(&body)?;
    let logged = log_user_message(&state, &conversation, request).await?;
    let span = turn_span(&logged.slot.name, &logged.activity, logged.activity.kind());
    let (turns, slot, version, activity) =
        (&state.turns, logged.slot, logged.version, logged.activity);
    let reply = if logged.kept {
        dispatch_kept(turns, slot, version, activity, Outbound::Internal)
            .instrument(span)
            .await
    } else {
        dispatch_or_accept(
            turns,
            slot,
            version,
            activity,
            Outbound::Internal,
            Retry::ByHost,
        )
        .instrument(span)
        .await
    };
    let result = match reply {
        Reply::Ended(result) => result.map(|_| ()),
        Reply::Accepted => Ok(()),
    };
    match result {
        Err(err) => Err(ApiError::turn_failed(err)),
        Ok(()) => Ok(axum::Json(IdAnswer { id: logged.id }).into_response()),
    }
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReceiveRequest {
    /// A message id: the bot's messages after it (the receive cursor is
    /// then left as it is).
    pub after: Option<String>,
    /// Long poll: wait up to this many ms (at most 30000) for a message.
    pub wait: Option<u64>,
}

/// The bot's messages since the last receive, or since `after`.
#[utoipa::path(post, path = "/api/v1/conversation/{id}/receive", tag = "conversations",
    params(("id" = String, Path)), request_body = ReceiveRequest,
    responses((status = 200, body = Items), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody)),
    security(("apiKey" = []), ("session" = [])))]
pub async fn receive(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    authorized(&state, &headers, peer, &id, Sessions::Allowed).await?;
    let request: ReceiveRequest = json_body(&body)?;
    let wait = Duration::from_millis(request.wait.unwrap_or(0).min(MAX_WAIT_MS));
    let conversations = &state.turns.directline.conversations;
    // Subscribed before the first read: an append in between wakes us.
    let mut feed = conversations.subscribe(&id);
    let result = poll(&state, &id, request.after.as_deref(), wait, &mut feed).await;
    drop(feed);
    conversations.unsubscribe(&id);
    Ok(axum::Json(Items { items: result? }).into_response())
}

/// Reads until there are messages or the wait is over.
async fn poll(
    state: &AppState,
    id: &str,
    after: Option<&str>,
    wait: Duration,
    feed: &mut tokio::sync::broadcast::Receiver<Wake>,
) -> Result<Vec<super::items::Item>, ApiError> {
    let until = tokio::time::Instant::now() + wait;
    loop {
        let items = match after {
            Some(after) => since_message(state, id, after).await?,
            None => take_from_cursor(state, id).await?,
        };
        if !items.is_empty() {
            return Ok(items);
        }
        // Woken by an append (or a missed one); typing is no message.
        loop {
            match tokio::time::timeout_at(until, feed.recv()).await {
                Err(_) => return Ok(Vec::new()),
                Ok(Ok(Wake::Typing(_))) => continue,
                Ok(Ok(Wake::Appended) | Err(RecvError::Lagged(_))) => break,
                Ok(Err(RecvError::Closed)) => return Ok(Vec::new()),
            }
        }
    }
}

/// The bot's messages logged after the message `after`.
async fn since_message(
    state: &AppState,
    id: &str,
    after: &str,
) -> Result<Vec<super::items::Item>, ApiError> {
    let (log, _) = state
        .turns
        .directline
        .conversations
        .since(id, 0)
        .await
        .map_err(storage_failed)?;
    let at = log
        .iter()
        .rposition(|a| a.get("id").and_then(Value::as_str) == Some(after))
        .ok_or_else(|| ApiError::bad_argument("`after` names no message of this conversation"))?;
    Ok(bot_items(&log[at + 1..]))
}

/// The bot's messages past the receive cursor, which moves past them.
async fn take_from_cursor(state: &AppState, id: &str) -> Result<Vec<super::items::Item>, ApiError> {
    loop {
        let store = state.api.store.clone();
        let owned = id.to_owned();
        let conversation = blocking(move || store.api_conversation(&owned))
            .await?
            .ok_or_else(super::not_found)?;
        let from = conversation.receive_cursor.max(0);
        let (log, next) = state
            .turns
            .directline
            .conversations
            .since(id, from as usize)
            .await
            .map_err(storage_failed)?;
        if next as i64 <= from {
            return Ok(Vec::new());
        }
        let store = state.api.store.clone();
        let owned = id.to_owned();
        if blocking(move || store.move_receive_cursor(&owned, from, next as i64)).await? {
            return Ok(bot_items(&log));
        }
        // Another receive took them: read again from where it left off.
    }
}
