//! The admin API: a bot's conversations and transcripts (read side) and
//! proactive messages. Protected by a bearer token (`--admin-token`); with
//! none configured, only loopback callers are let in (`http::trust`: the
//! host bound to loopback, no proxy's forwarding header, no other origin).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use tracing::Instrument;

use crate::bots::registry::BotSlot;
use crate::http::app::{ApiError, AppState};
use crate::schema::activity::{continuation_activity, names};
use crate::turn::dispatch::{DispatchError, Dispatched, Origin, dispatch};

const DEFAULT_PAGE: u32 = 50;
const MAX_PAGE: u32 = 500;

/// Lets the request in, or says why not.
pub fn admit(state: &AppState, headers: &HeaderMap, peer: SocketAddr) -> Result<(), ApiError> {
    match &state.admin_token {
        Some(expected) => {
            let presented = headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .unwrap_or("");
            // Compare in constant time: the token is a secret.
            if crate::channels::directline::same_secret(presented, expected) {
                Ok(())
            } else {
                Err(ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "Unauthorized",
                    "the admin API needs `Authorization: Bearer <admin token>`",
                ))
            }
        }
        None if crate::http::trust::local_and_same_origin(state, headers, peer) => Ok(()),
        None => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "Forbidden",
            "without an admin token configured, the admin API answers loopback callers only",
        )),
    }
}

fn bot(state: &AppState, route: &str) -> Result<Arc<BotSlot>, ApiError> {
    state
        .turns
        .registry
        .route(route)
        .ok_or_else(|| ApiError::bot_not_found(format!("no bot named `{route}` is loaded")))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PageQuery {
    limit: Option<u32>,
    continuation_token: Option<String>,
}

impl PageQuery {
    fn limit(&self) -> u32 {
        self.limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE)
    }
}

fn storage_failed(err: impl std::fmt::Display) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "BadArgument", err.to_string())
}

/// `GET /api/bots/{bot}/conversations`: newest activity first.
pub async fn conversations(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(route): Path<String>,
    Query(page): Query<PageQuery>,
) -> Result<Response, ApiError> {
    admit(&state, &headers, peer)?;
    let slot = bot(&state, &route)?;
    let store = state.turns.transcripts.clone();
    let limit = page.limit();
    let result = tokio::task::spawn_blocking(move || {
        store.conversations(&slot.name, limit, page.continuation_token.as_deref())
    })
    .await
    .map_err(storage_failed)?
    .map_err(storage_failed)?;
    Ok(axum::Json(json!({
        "conversations": result.items,
        "continuationToken": result.continuation_token,
    }))
    .into_response())
}

/// `GET /api/bots/{bot}/conversations/{id}/activities`: the transcript.
pub async fn activities(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path((route, conversation)): Path<(String, String)>,
    Query(page): Query<PageQuery>,
) -> Result<Response, ApiError> {
    admit(&state, &headers, peer)?;
    let slot = bot(&state, &route)?;
    let store = state.turns.transcripts.clone();
    let limit = page.limit();
    let result = tokio::task::spawn_blocking(move || {
        store.activities(
            &slot.name,
            &conversation,
            limit,
            page.continuation_token.as_deref(),
        )
    })
    .await
    .map_err(storage_failed)?
    .map_err(storage_failed)?;
    Ok(axum::Json(json!({
        "activities": result.items,
        "continuationToken": result.continuation_token,
    }))
    .into_response())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProactiveRequest {
    conversation_id: Option<String>,
    reference: Option<Value>,
    value: Option<Value>,
}

/// `POST /api/bots/{bot}/proactive`: runs a turn with a continuation
/// activity for a stored (or given) conversation reference.
pub async fn proactive(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(route): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    admit(&state, &headers, peer)?;
    let slot = bot(&state, &route)?;
    let request: ProactiveRequest = serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "BadArgument",
            format!("invalid request: {e}"),
        )
    })?;
    let reference = match (request.reference, request.conversation_id) {
        (Some(reference), _) => reference,
        (None, Some(conversation)) => {
            let store = state.turns.references.clone();
            let name = slot.name.clone();
            let found = tokio::task::spawn_blocking(move || store.reference(&name, &conversation))
                .await
                .map_err(storage_failed)?
                .map_err(storage_failed)?;
            found.ok_or_else(|| {
                ApiError::new(
                    StatusCode::NOT_FOUND,
                    "ConversationNotFound",
                    "no turn of this bot has been seen in that conversation",
                )
            })?
        }
        (None, None) => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "BadArgument",
                "give `conversationId` or `reference`",
            ));
        }
    };
    let mut activity = continuation_activity(&reference, request.value)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "BadArgument", e.to_string()))?;
    let version = slot
        .current()
        .ok_or_else(|| ApiError::bot_not_found("the bot is no longer served"))?;
    let outbound = state.turns.outbound_for_proactive(&version, &mut activity);
    let span = crate::turn::dispatch::turn_span(&slot.name, &activity, names::PROACTIVE);
    let conversation = activity.conversation_id().unwrap_or("").to_owned();
    let result = dispatch(
        &state.turns,
        &slot,
        &version,
        Arc::new(activity),
        outbound,
        Origin::Other,
    )
    .instrument(span)
    .await;
    match result {
        Ok(Dispatched::Done(..) | Dispatched::ShortCircuited(_) | Dispatched::Duplicate(_)) => {
            Ok(axum::Json(json!({"conversationId": conversation})).into_response())
        }
        Err(DispatchError::Busy { code, message }) => Err(ApiError {
            retry_after: Some(1),
            ..ApiError::new(StatusCode::SERVICE_UNAVAILABLE, code, message)
        }),
        Err(DispatchError::Turn(err)) => {
            tracing::error!(code = err.code(), error = %err, "proactive turn failed");
            Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                err.code(),
                err.to_string(),
            ))
        }
    }
}
