//! The conversations API for apps (`/api/v1/conversation/…`, after
//! ChatBotKit's): create a conversation with a bot, `send` a user message
//! and `receive` the bot's, or both at once with `complete` (plain, or as
//! server-sent events that carry a livestreamed answer as it grows),
//! browser sessions bound to one conversation, and the conversations'
//! listing and history. A conversation here is a Direct Line conversation
//! underneath (the same log, cross-host store and wake-ups; the bot's turn
//! runs on the Direct Line channel, so it streams), plus the app's record
//! of it (`storage::api_conversations`).
//!
//! One concern per file: `access.rs` who may call what (keys, sessions,
//! local callers), `keys.rs` the API keys, `sessions.rs` session tokens,
//! `items.rs` the log as messages, `manage.rs` conversations,
//! `history.rs` the message list, `session_routes.rs` the session routes,
//! `messaging.rs` send and receive, `complete.rs` complete, `state.rs`
//! what the API keeps beside the turn services.

pub mod access;
pub mod complete;
pub mod history;
pub mod items;
pub mod keys;
pub mod manage;
pub mod messaging;
pub mod session_routes;
pub mod sessions;
pub mod state;

pub use state::ApiState;

use std::net::SocketAddr;

use axum::http::{HeaderMap, StatusCode};
use serde::de::DeserializeOwned;

use crate::http::app::{ApiError, AppState};
use crate::storage::StorageError;
use crate::storage::api_conversations::ApiConversation;
use access::{Caller, Sessions};

/// A query string that does not parse, as the JSON error every route
/// answers (axum's own rejection is plain text).
pub fn bad_query(rejection: axum::extract::rejection::QueryRejection) -> ApiError {
    ApiError::bad_argument(format!("bad query string: {}", rejection.body_text()))
}

/// A storage failure as the API answers it (logged, not shown).
pub fn storage_failed(err: StorageError) -> ApiError {
    tracing::error!(error = %err, "the conversations API's storage failed");
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "StorageUnavailable",
        "the conversation store failed; try again",
    )
}

/// Runs a blocking store call off the executor.
pub async fn blocking<T: Send + 'static>(
    call: impl FnOnce() -> Result<T, StorageError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(call)
        .await
        .map_err(|e| storage_failed(StorageError::Backend(e.to_string())))?
        .map_err(storage_failed)
}

/// The JSON body as `T`; an empty body is `{}`.
pub fn json_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let body = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}".as_slice()
    } else {
        body
    };
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_argument(format!("the body is not valid: {e}")))
}

pub fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "ConversationNotFound",
        "no such conversation",
    )
}

/// The caller, and the conversation `id` it may use on a route that
/// `sessions` says whether sessions may use: 401/403 before 404 for
/// sessions, 404 before 403 for keys.
pub async fn authorized(
    state: &AppState,
    headers: &HeaderMap,
    peer: SocketAddr,
    id: &str,
    sessions: Sessions,
) -> Result<(Caller, ApiConversation), ApiError> {
    let caller = access::caller(state, headers, peer)?;
    caller.before_reading(id, sessions)?;
    let store = state.api.store.clone();
    let owned = id.to_owned();
    let conversation = blocking(move || store.api_conversation(&owned))
        .await?
        .ok_or_else(not_found)?;
    caller.may_use(&conversation)?;
    Ok((caller, conversation))
}

/// Unix ms as RFC 3339.
pub fn rfc3339(ms: i64) -> String {
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms.max(0) as u64);
    humantime::format_rfc3339_millis(at).to_string()
}
