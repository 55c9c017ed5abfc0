//! The skill-host endpoints a root bot's skills reply to
//! (`/api/skills/v3/conversations/{conversation}/activities[/{activity}]`,
//! botbuilder's `ChannelServiceRoutes`): the request read and checked, the
//! call served by `turn::skill_host`, its errors as JSON (401 with the
//! reason logged, 404 for an unknown conversation).

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::http::app::{ApiError, AppState};
use crate::http::messages::read_activity;
use crate::turn::skill_host::{SkillHostError, SkillOperation, serve};

fn param<'a>(params: &'a HashMap<String, String>, key: &str) -> &'a str {
    params.get(key).map(String::as_str).unwrap_or_default()
}

/// `POST …/activities` and `POST …/activities/{activity}`.
pub async fn post_activity(
    State(state): State<Arc<AppState>>,
    Path(params): Path<HashMap<String, String>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let activity = match read_activity(&headers, body).await {
        Ok(activity) => activity,
        Err(err) => return rejected(err),
    };
    let reply_to = params.get("activity").cloned();
    handle(
        &state,
        &headers,
        &params,
        SkillOperation::Send { activity, reply_to },
    )
    .await
}

/// `PUT …/activities/{activity}`.
pub async fn put_activity(
    State(state): State<Arc<AppState>>,
    Path(params): Path<HashMap<String, String>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let activity = match read_activity(&headers, body).await {
        Ok(activity) => activity,
        Err(err) => return rejected(err),
    };
    let id = param(&params, "activity").to_owned();
    handle(
        &state,
        &headers,
        &params,
        SkillOperation::Update { activity, id },
    )
    .await
}

/// `DELETE …/activities/{activity}`.
pub async fn delete_activity(
    State(state): State<Arc<AppState>>,
    Path(params): Path<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let id = param(&params, "activity").to_owned();
    handle(&state, &headers, &params, SkillOperation::Delete { id }).await
}

fn rejected(err: ApiError) -> Response {
    tracing::info!(status = err.status.as_u16(), reason = %err.message, "skill request rejected");
    err.into_response()
}

async fn handle(
    state: &Arc<AppState>,
    headers: &HeaderMap,
    params: &HashMap<String, String>,
    operation: SkillOperation,
) -> Response {
    let conversation = param(params, "conversation");
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let result = serve(
        &state.turns,
        &state.authenticator,
        authorization,
        conversation,
        operation,
    )
    .await;
    match result {
        Ok(serde_json::Value::Null) => StatusCode::OK.into_response(),
        Ok(body) => (StatusCode::OK, axum::Json(body)).into_response(),
        Err(err) => {
            let api = match &err {
                SkillHostError::UnknownConversation(_) => {
                    ApiError::new(StatusCode::NOT_FOUND, "NotFound", err.to_string())
                }
                SkillHostError::Unauthorized(_) => {
                    tracing::warn!(conversation, reason = %err, "skill request unauthorized");
                    return ApiError::new(
                        StatusCode::UNAUTHORIZED,
                        "Unauthorized",
                        err.to_string(),
                    )
                    .into_response();
                }
                SkillHostError::BadArgument(_) => ApiError::bad_argument(err.to_string()),
                SkillHostError::Unavailable(_) => ApiError {
                    retry_after: Some(1),
                    ..ApiError::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "Unavailable",
                        err.to_string(),
                    )
                },
                SkillHostError::Connector(e) => {
                    ApiError::new(StatusCode::BAD_GATEWAY, "ConnectorError", e.to_string())
                }
            };
            rejected(api)
        }
    }
}
