//! Managing the API's conversations: create, list (newest first), fetch,
//! update, delete.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use super::access::{self, Caller, Sessions, forbidden};
use super::{authorized, blocking, json_body, rfc3339};
use crate::http::app::ErrorBody;
use crate::http::app::{ApiError, AppState};
use crate::storage::api_conversations::{ApiConversation, ListCursor};
use crate::support::clock::now_millis;

const MAX_NAME: usize = 256;
const MAX_DESCRIPTION: usize = 4096;
const MAX_META_BYTES: usize = 16 << 10;

/// A conversation as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConversationView {
    pub id: String,
    /// The bot's route.
    pub bot: String,
    pub name: Option<String>,
    pub description: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub meta: Option<Value>,
    pub user_id: String,
    /// RFC 3339.
    pub created_at: String,
    pub updated_at: String,
}

impl From<&ApiConversation> for ConversationView {
    fn from(c: &ApiConversation) -> Self {
        ConversationView {
            id: c.id.clone(),
            bot: c.bot.clone(),
            name: c.name.clone(),
            description: c.description.clone(),
            meta: c.meta.clone(),
            user_id: c.user.clone(),
            created_at: rfc3339(c.created_at),
            updated_at: rfc3339(c.updated_at),
        }
    }
}

/// `{id}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct IdAnswer {
    pub id: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateRequest {
    /// The bot's route.
    pub bot: String,
    pub name: Option<String>,
    pub description: Option<String>,
    /// A JSON object of the app's own fields (at most 16 KiB).
    #[schema(value_type = Option<Object>)]
    pub meta: Option<Value>,
    /// The user the messages come from; default: a fresh id.
    pub user_id: Option<String>,
}

fn check_fields(
    name: Option<&str>,
    description: Option<&str>,
    meta: Option<&Value>,
) -> Result<(), ApiError> {
    if name.is_some_and(|n| n.chars().count() > MAX_NAME) {
        return Err(ApiError::bad_argument(format!(
            "`name` is longer than {MAX_NAME} characters"
        )));
    }
    if description.is_some_and(|d| d.chars().count() > MAX_DESCRIPTION) {
        return Err(ApiError::bad_argument(format!(
            "`description` is longer than {MAX_DESCRIPTION} characters"
        )));
    }
    if let Some(meta) = meta
        && (!meta.is_object() || meta.to_string().len() > MAX_META_BYTES)
    {
        return Err(ApiError::bad_argument(format!(
            "`meta` must be a JSON object of at most {MAX_META_BYTES} bytes"
        )));
    }
    Ok(())
}

/// Create a conversation with a bot.
#[utoipa::path(post, path = "/api/v1/conversation/create", tag = "conversations",
    request_body = CreateRequest,
    responses((status = 200, body = IdAnswer), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, description = "no such bot", body = ErrorBody)),
    security(("apiKey" = [])))]
pub async fn create(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let caller = access::caller(&state, &headers, peer)?;
    let request: CreateRequest = json_body(&body)?;
    caller.reaches_bot(&request.bot)?;
    check_fields(
        request.name.as_deref(),
        request.description.as_deref(),
        request.meta.as_ref(),
    )?;
    let slot =
        state.turns.registry.route(&request.bot).ok_or_else(|| {
            ApiError::bot_not_found(format!("no bot `{}` is loaded", request.bot))
        })?;
    let route = slot
        .current()
        .map(|v| v.route.clone())
        .unwrap_or_else(|| request.bot.clone());
    let user = match request.user_id.filter(|u| !u.trim().is_empty()) {
        Some(user) if user.chars().count() > MAX_NAME => {
            return Err(ApiError::bad_argument("`userId` is too long"));
        }
        Some(user) => user,
        None => format!("api_{}", crate::support::ids::random_id()),
    };
    let now = now_millis();
    let conversation = ApiConversation {
        id: crate::support::ids::random_id(),
        bot: route,
        user,
        name: request.name,
        description: request.description,
        meta: request.meta,
        created_at: now,
        updated_at: now,
        receive_cursor: 0,
    };
    let id = conversation.id.clone();
    let store = state.api.store.clone();
    blocking(move || store.create_api_conversation(&conversation)).await?;
    Ok(axum::Json(IdAnswer { id }).into_response())
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// From a previous page's `cursor`.
    cursor: Option<String>,
    /// 1-100, default 20.
    take: Option<u32>,
    /// Only this bot's.
    bot: Option<String>,
}

/// A page of conversations.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConversationPage {
    pub items: Vec<ConversationView>,
    /// The next page's cursor; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

/// List conversations, newest first.
#[utoipa::path(get, path = "/api/v1/conversation/list", tag = "conversations",
    params(ListQuery),
    responses((status = 200, body = ConversationPage), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("apiKey" = [])))]
pub async fn list(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(super::bad_query)?;
    let caller = access::caller(&state, &headers, peer)?;
    let bot = match (&caller, query.bot) {
        (Caller::Bot(route), Some(bot)) if *route != bot => {
            return Err(forbidden("this key is for another bot"));
        }
        (Caller::Bot(route), _) => Some(route.clone()),
        (Caller::Session(_), _) => return Err(forbidden("a session token cannot do this")),
        (Caller::Operator, bot) => bot,
    };
    let after = match query.cursor.as_deref().filter(|c| !c.is_empty()) {
        Some(text) => {
            Some(ListCursor::decode(text).ok_or_else(|| ApiError::bad_argument("bad `cursor`"))?)
        }
        None => None,
    };
    let take = query.take.unwrap_or(20).clamp(1, 100);
    let store = state.api.store.clone();
    let page = blocking(move || store.list_api_conversations(bot.as_deref(), after.as_ref(), take))
        .await?;
    let cursor = (page.len() == take as usize)
        .then(|| page.last())
        .flatten()
        .map(|c| {
            ListCursor {
                created_at: c.created_at,
                id: c.id.clone(),
            }
            .encode()
        });
    let items = page.iter().map(ConversationView::from).collect();
    Ok(axum::Json(ConversationPage { items, cursor }).into_response())
}

/// Fetch a conversation.
#[utoipa::path(get, path = "/api/v1/conversation/{id}/fetch", tag = "conversations",
    params(("id" = String, Path)),
    responses((status = 200, body = ConversationView), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("apiKey" = [])))]
pub async fn fetch(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let (_, conversation) = authorized(&state, &headers, peer, &id, Sessions::Refused).await?;
    Ok(axum::Json(ConversationView::from(&conversation)).into_response())
}

/// A field that may be absent (unchanged), `null` (cleared) or set.
fn double<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateRequest {
    /// Absent: unchanged; `null`: cleared.
    #[serde(default, deserialize_with = "double")]
    #[schema(value_type = Option<String>)]
    pub name: Option<Option<String>>,
    #[serde(default, deserialize_with = "double")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
    #[serde(default, deserialize_with = "double")]
    #[schema(value_type = Option<Object>)]
    pub meta: Option<Option<Value>>,
}

/// Update a conversation's name, description and meta.
#[utoipa::path(post, path = "/api/v1/conversation/{id}/update", tag = "conversations",
    params(("id" = String, Path)), request_body = UpdateRequest,
    responses((status = 200, body = IdAnswer), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody)),
    security(("apiKey" = [])))]
pub async fn update(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let (_, mut conversation) = authorized(&state, &headers, peer, &id, Sessions::Refused).await?;
    let request: UpdateRequest = json_body(&body)?;
    if let Some(name) = request.name {
        conversation.name = name;
    }
    if let Some(description) = request.description {
        conversation.description = description;
    }
    if let Some(meta) = request.meta {
        conversation.meta = meta;
    }
    check_fields(
        conversation.name.as_deref(),
        conversation.description.as_deref(),
        conversation.meta.as_ref(),
    )?;
    conversation.updated_at = now_millis().max(conversation.updated_at);
    let store = state.api.store.clone();
    if !blocking(move || store.update_api_conversation(&conversation)).await? {
        return Err(super::not_found());
    }
    Ok(axum::Json(IdAnswer { id }).into_response())
}

/// Delete a conversation and its messages.
#[utoipa::path(post, path = "/api/v1/conversation/{id}/delete", tag = "conversations",
    params(("id" = String, Path)),
    responses((status = 200, body = IdAnswer), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("apiKey" = [])))]
pub async fn delete(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    authorized(&state, &headers, peer, &id, Sessions::Refused).await?;
    let store = state.api.store.clone();
    let owned = id.clone();
    if !blocking(move || store.delete_api_conversation(&owned)).await? {
        return Err(super::not_found());
    }
    Ok(axum::Json(IdAnswer { id }).into_response())
}
