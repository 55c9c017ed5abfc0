//! This host's own Bot Connector endpoints for Direct Line conversations:
//! what a bot sends on the built-in channel arrives here, by the same REST
//! calls as to any channel, and goes into the conversation's log. The
//! `serviceUrl` carries a key derived from the channel key and the
//! conversation, so only the turns of that conversation, on any host
//! sharing the database, can post to it. The member calls answer from the conversation's log
//! (`channels::directline::members`).

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::api::storage_failed;
use crate::channels::directline::conversations::Conversation;
use crate::channels::directline::members;
use crate::http::app::{ApiError, AppState};

fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "NotFound", "no such conversation")
}

/// A 404 for something missing inside a conversation.
fn missing(code: &'static str, what: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        code,
        format!("no such {what} in this conversation"),
    )
}

async fn conversation(
    state: &AppState,
    params: &HashMap<String, String>,
) -> Result<Conversation, ApiError> {
    let key = params.get("key").map(String::as_str).unwrap_or("");
    let id = params.get("conversation").map(String::as_str).unwrap_or("");
    // Each conversation has a key of its own: one turn's `serviceUrl`
    // opens no other conversation.
    if !state.turns.directline.connector_key_matches(key, id) {
        return Err(not_found());
    }
    state
        .turns
        .directline
        .conversations
        .get(id)
        .await
        .map_err(storage_failed)?
        .ok_or_else(not_found)
}

/// Appends what the bot sent to the conversation's log.
async fn append(state: &AppState, conversation: &str, activity: Value) -> Result<String, ApiError> {
    state
        .turns
        .directline
        .conversations
        .append_from_bot(conversation, activity)
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
    object(&activity)?;
    stamp(&mut activity);
    let id = append(&state, &conversation.id, activity).await?;
    Ok(axum::Json(json!({ "id": id })).into_response())
}

/// An activity is a JSON object.
fn object(activity: &Value) -> Result<(), ApiError> {
    if activity.is_object() {
        Ok(())
    } else {
        Err(ApiError::bad_argument("an activity is a JSON object"))
    }
}

/// The most activities one history may hold.
const MAX_HISTORY: usize = 1000;

/// A history's activities, if it is one this channel logs.
fn history(transcript: &Value) -> Result<&Vec<Value>, ApiError> {
    let Some(activities) = transcript["activities"].as_array() else {
        return Err(ApiError::bad_argument(
            "a history is an object with an `activities` array",
        ));
    };
    if activities.len() > MAX_HISTORY {
        return Err(ApiError::bad_argument(format!(
            "a history holds at most {MAX_HISTORY} activities, not {}",
            activities.len()
        )));
    }
    if let Some(bad) = activities
        .iter()
        .position(|a| !a.is_object() || a["type"] == "typing")
    {
        return Err(ApiError::bad_argument(format!(
            "history activity {bad} is not a JSON object, or is typing"
        )));
    }
    Ok(activities)
}

/// A send as the log keeps it: the log gives the id; the time is now
/// unless the bot gave one.
fn stamp(activity: &mut Value) {
    if let Some(object) = activity.as_object_mut() {
        object.remove("id");
    }
    stamp_time(activity);
}

/// The time is now unless the bot gave one.
fn stamp_time(activity: &mut Value) {
    if let Some(object) = activity.as_object_mut()
        && !object.contains_key("timestamp")
    {
        object.insert(
            "timestamp".into(),
            Value::String(crate::support::clock::now_rfc3339()),
        );
    }
}

/// `POST …/activities/history` (`sendConversationHistory`): the
/// transcript's activities (objects, not typing, at most `MAX_HISTORY`)
/// are appended in order and all or none, so the user's client shows them,
/// each marked in the log so that its sender does not count as a member;
/// answers the last one's id. The activities keep their own ids, which the
/// Bot Framework has clients use to drop duplicates: one whose id the log
/// holds already is not logged again (a history sent twice, as by a
/// connector retry after a lost answer); one without an id gets the log's.
pub async fn post_history(
    State(state): State<Arc<AppState>>,
    Path(params): Path<HashMap<String, String>>,
    axum::Json(transcript): axum::Json<Value>,
) -> Result<Response, ApiError> {
    let conversation = conversation(&state, &params).await?;
    let activities = history(&transcript)?
        .iter()
        .map(|activity| {
            let mut activity = activity.clone();
            stamp_time(&mut activity);
            activity
        })
        .collect();
    let ids = state
        .turns
        .directline
        .conversations
        .append_history(&conversation.id, activities)
        .await
        .map_err(storage_failed)?;
    let id = ids.last().cloned().unwrap_or_default();
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
    object(&activity)?;
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

/// The conversation and its whole log, which its members are read from
/// (`channels::directline::members`).
async fn with_log(
    state: &AppState,
    params: &HashMap<String, String>,
) -> Result<(Conversation, Vec<Value>), ApiError> {
    let conversation = conversation(state, params).await?;
    let log = state
        .turns
        .directline
        .conversations
        .log(&conversation.id)
        .await
        .map_err(storage_failed)?;
    Ok((conversation, log))
}

/// The conversation's members.
async fn members_of(
    state: &AppState,
    params: &HashMap<String, String>,
) -> Result<Vec<Value>, ApiError> {
    let (conversation, log) = with_log(state, params).await?;
    Ok(members::from_log(&conversation, &log))
}

/// `GET …/members`.
pub async fn get_members(
    State(state): State<Arc<AppState>>,
    Path(params): Path<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let all = members_of(&state, &params).await?;
    Ok(axum::Json(all).into_response())
}

/// The query of `GET …/pagedmembers`.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PageQuery {
    page_size: Option<String>,
    continuation_token: Option<String>,
}

/// `GET …/pagedmembers?pageSize=&continuationToken=`: the members from
/// the token's position (a number this endpoint gave), `pageSize` at a
/// time (default 200, as Teams).
pub async fn get_paged_members(
    State(state): State<Arc<AppState>>,
    Path(params): Path<HashMap<String, String>>,
    query: Result<Query<PageQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let all = members_of(&state, &params).await?;
    let Query(query) = query.map_err(|rejection| {
        ApiError::bad_argument(format!("bad query string: {}", rejection.body_text()))
    })?;
    let size = match query.page_size.as_deref().filter(|s| !s.is_empty()) {
        None => 200,
        Some(text) => text
            .parse::<usize>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| ApiError::bad_argument("pageSize is not a positive number"))?,
    };
    let start = match query
        .continuation_token
        .as_deref()
        .filter(|s| !s.is_empty())
    {
        None => 0,
        Some(text) => text.parse::<usize>().map_err(|_| {
            ApiError::bad_argument("continuationToken is not one this endpoint gave")
        })?,
    };
    let page: Vec<Value> = all.iter().skip(start).take(size).cloned().collect();
    let mut answer = json!({ "members": page });
    if start.saturating_add(size) < all.len() {
        answer["continuationToken"] = Value::String((start + size).to_string());
    }
    Ok(axum::Json(answer).into_response())
}

/// `GET …/members/{member}`.
pub async fn get_member(
    State(state): State<Arc<AppState>>,
    Path(params): Path<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let all = members_of(&state, &params).await?;
    let id = params.get("member").map(String::as_str).unwrap_or("");
    let member = all
        .into_iter()
        .find(|m| m["id"] == id)
        .ok_or_else(|| missing("MemberNotFound", "member"))?;
    Ok(axum::Json(member).into_response())
}

/// `DELETE …/members/{member}`: a Direct Line conversation keeps its
/// members; it ends when it is idle for the retention period.
pub async fn delete_member(
    State(state): State<Arc<AppState>>,
    Path(params): Path<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    conversation(&state, &params).await?;
    Err(ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "MethodNotAllowed",
        "a Direct Line conversation's members cannot be removed",
    ))
}

/// `GET …/activities/{activity}/members`: the activity's sender and
/// recipient.
pub async fn get_activity_members(
    State(state): State<Arc<AppState>>,
    Path(params): Path<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let (conversation, log) = with_log(&state, &params).await?;
    let id = params.get("activity").map(String::as_str).unwrap_or("");
    let found = members::of_activity(&conversation, &log, id)
        .ok_or_else(|| missing("ActivityNotFound", "activity"))?;
    Ok(axum::Json(found).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_history_is_objects_not_typing_and_not_too_many() {
        let ok = json!({"activities": [{"type": "message", "text": "a"}, {"type": "event"}]});
        assert_eq!(history(&ok).map(Vec::len).ok(), Some(2));
        for bad in [
            json!({"activities": [{"type": "message"}, 5]}),
            json!({"activities": [null]}),
            json!({"activities": [{"type": "typing"}]}),
            json!({"activities": {"type": "message"}}),
            json!([{"type": "message"}]),
            json!({"activities": vec![json!({"type": "message"}); MAX_HISTORY + 1]}),
        ] {
            let err = history(&bad).err();
            assert_eq!(
                err.map(|e| e.status),
                Some(StatusCode::BAD_REQUEST),
                "{bad}"
            );
        }
        let full = json!({"activities": vec![json!({"type": "message"}); MAX_HISTORY]});
        assert!(history(&full).is_ok());
    }
}
