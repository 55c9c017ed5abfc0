//! This host's own Bot Connector endpoints for Direct Line conversations:
//! what a bot sends on the built-in channel arrives here, by the same REST
//! calls as to any channel, and goes into the conversation's log. The
//! `serviceUrl` carries a key derived from the channel key, so only the
//! turns of the hosts sharing the database can post, and any of them may
//! post to any one.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::api::storage_failed;
use crate::http::app::{ApiError, AppState};

fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "NotFound", "no such conversation")
}

async fn conversation(
    state: &AppState,
    params: &HashMap<String, String>,
) -> Result<crate::channels::directline::conversations::Conversation, ApiError> {
    let key = params.get("key").map(String::as_str).unwrap_or("");
    if !state.turns.directline.connector_key_matches(key) {
        return Err(not_found());
    }
    let id = params.get("conversation").map(String::as_str).unwrap_or("");
    state
        .turns
        .directline
        .conversations
        .get(id)
        .await
        .map_err(storage_failed)?
        .ok_or_else(not_found)
}

/// Appends to the conversation's log.
async fn append(state: &AppState, conversation: &str, activity: Value) -> Result<String, ApiError> {
    state
        .turns
        .directline
        .conversations
        .append(conversation, activity)
        .await
        .map_err(storage_failed)
}

/// `POST …/v3/conversations/{id}/activities[/{replyTo}]`.
pub async fn post_activity(
    State(state): State<Arc<AppState>>,
    Path(params): Path<HashMap<String, String>>,
    axum::Json(mut activity): axum::Json<Value>,
) -> Result<Response, ApiError> {
    let conversation = conversation(&state, &params).await?;
    if let Some(object) = activity.as_object_mut() {
        object.remove("id");
        if !object.contains_key("timestamp") {
            object.insert(
                "timestamp".into(),
                Value::String(crate::support::clock::now_rfc3339()),
            );
        }
    }
    let id = append(&state, &conversation.id, activity).await?;
    Ok(axum::Json(json!({ "id": id })).into_response())
}

/// `PUT …/activities/{id}`: the updated activity is delivered again, with its
/// id.
pub async fn put_activity(
    State(state): State<Arc<AppState>>,
    Path(params): Path<HashMap<String, String>>,
    axum::Json(mut activity): axum::Json<Value>,
) -> Result<Response, ApiError> {
    let conversation = conversation(&state, &params).await?;
    let id = params.get("activity").cloned().unwrap_or_default();
    activity["id"] = Value::String(id.clone());
    append(&state, &conversation.id, activity).await?;
    Ok(axum::Json(json!({ "id": id })).into_response())
}

/// `DELETE …/activities/{id}`: delivered as a `messageDelete` activity.
pub async fn delete_activity(
    State(state): State<Arc<AppState>>,
    Path(params): Path<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let conversation = conversation(&state, &params).await?;
    let id = params.get("activity").cloned().unwrap_or_default();
    append(
        &state,
        &conversation.id,
        json!({
        "type": "messageDelete",
        "channelId": crate::channels::directline::CHANNEL_ID,
        "conversation": {"id": conversation.id},
        "value": {"id": id},
        }),
    )
    .await?;
    Ok(StatusCode::OK.into_response())
}
