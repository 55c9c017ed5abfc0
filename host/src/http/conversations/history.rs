//! A conversation's message history: user and bot messages, oldest first,
//! paged (`GET conversation/{id}/message/list`).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::access::Sessions;
use super::items::{Item, history};
use super::{authorized, storage_failed};
use crate::http::app::ErrorBody;
use crate::http::app::{ApiError, AppState};

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MessagesQuery {
    /// From a previous page's `cursor`.
    cursor: Option<String>,
    /// 1-500, default 50.
    take: Option<u32>,
}

/// A page of messages.
#[derive(Debug, Serialize, ToSchema)]
pub struct MessagePage {
    pub items: Vec<Item>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

/// A conversation's messages, user and bot, oldest first (no typing, no
/// interim stream updates).
#[utoipa::path(get, path = "/api/v1/conversation/{id}/message/list", tag = "conversations",
    params(("id" = String, Path), MessagesQuery),
    responses((status = 200, body = MessagePage), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody)),
    security(("apiKey" = []), ("session" = [])))]
pub async fn messages(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(id): Path<String>,
    query: Result<Query<MessagesQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(super::bad_query)?;
    authorized(&state, &headers, peer, &id, Sessions::Allowed).await?;
    let from: usize = match query.cursor.as_deref().filter(|c| !c.is_empty()) {
        Some(text) => text
            .parse()
            .map_err(|_| ApiError::bad_argument("bad `cursor`"))?,
        None => 0,
    };
    let take = query.take.unwrap_or(50).clamp(1, 500) as usize;
    let (log, _) = state
        .turns
        .directline
        .conversations
        .since(&id, 0)
        .await
        .map_err(storage_failed)?;
    let all = history(&log);
    let items: Vec<Item> = all.iter().skip(from).take(take).cloned().collect();
    let next = from + items.len();
    let cursor = (next < all.len()).then(|| next.to_string());
    Ok(axum::Json(MessagePage { items, cursor }).into_response())
}
