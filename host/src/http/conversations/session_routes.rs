//! The session routes: a token for one conversation (`session/create`,
//! with an API key), and a fresh one for a token that has not expired
//! (`session/refresh`).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::access::{Caller, Sessions, forbidden};
use super::sessions::{DEFAULT_LIFETIME, MAX_LIFETIME};
use super::{authorized, json_body, rfc3339};
use crate::http::app::ErrorBody;
use crate::http::app::{ApiError, AppState};
use crate::storage::api_conversations::ApiConversation;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SessionRequest {
    /// Seconds, 1-86400; default 3600.
    pub expires_in: Option<u64>,
}

/// `{token, expiresAt}`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionAnswer {
    pub token: String,
    /// RFC 3339.
    pub expires_at: String,
}

fn session_answer(
    state: &AppState,
    conversation: &ApiConversation,
    lifetime: u64,
) -> Result<Response, ApiError> {
    let (token, exp) = state
        .api
        .sessions
        .issue(&conversation.bot, &conversation.id, lifetime)
        .map_err(|e| {
            ApiError::new(
                axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                "TokenError",
                e.to_string(),
            )
        })?;
    let expires_at = rfc3339((exp as i64).saturating_mul(1000));
    Ok(axum::Json(SessionAnswer { token, expires_at }).into_response())
}

/// A token for this conversation alone, for a browser.
#[utoipa::path(post, path = "/api/v1/conversation/{id}/session/create", tag = "sessions",
    params(("id" = String, Path)), request_body = SessionRequest,
    responses((status = 200, body = SessionAnswer), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody)),
    security(("apiKey" = [])))]
pub async fn session_create(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let (_, conversation) = authorized(&state, &headers, peer, &id, Sessions::Refused).await?;
    let request: SessionRequest = json_body(&body)?;
    let lifetime = request.expires_in.unwrap_or(DEFAULT_LIFETIME);
    if !(1..=MAX_LIFETIME).contains(&lifetime) {
        return Err(ApiError::bad_argument(format!(
            "`expiresIn` must be 1-{MAX_LIFETIME} seconds"
        )));
    }
    session_answer(&state, &conversation, lifetime)
}

/// A fresh token, for the same conversation and lifetime, for a session
/// token that has not expired.
#[utoipa::path(post, path = "/api/v1/conversation/{id}/session/refresh", tag = "sessions",
    params(("id" = String, Path)),
    responses((status = 200, body = SessionAnswer), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("session" = [])))]
pub async fn session_refresh(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let (caller, conversation) = authorized(&state, &headers, peer, &id, Sessions::Allowed).await?;
    let Caller::Session(claims) = caller else {
        return Err(forbidden("refreshing needs a session token"));
    };
    session_answer(&state, &conversation, claims.lifetime())
}
