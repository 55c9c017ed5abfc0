//! What the HTTP handlers share: [`AppState`] (the turn services and what
//! only HTTP needs) and [`ApiError`], every error answered as JSON.

use std::sync::Arc;

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use crate::auth::Authenticator;
use crate::channels::directline::tokens::SigningError;
use crate::turn::services::TurnServices;

/// What every request handler shares: the turn services, and what only
/// the HTTP layer needs.
pub struct AppState {
    pub turns: Arc<TurnServices>,
    pub authenticator: Authenticator,
    /// The bearer token of the admin API; `None`: loopback callers only.
    pub admin_token: Option<String>,
    /// The conversations API's keys, sessions and store.
    pub api: crate::http::conversations::state::ApiState,
    /// Whether the host listens on a loopback address only: then, and only
    /// then, may loopback callers be trusted (`http::trust`).
    pub bound_to_loopback: bool,
    /// `--insecure-dev`: bots without an app id take turns from any caller,
    /// not only from this machine.
    pub insecure_dev: bool,
    /// The largest request body read, and how long it may take to arrive
    /// (`http::body::read_body_in_time`).
    pub max_body_bytes: usize,
    pub body_read_timeout: std::time::Duration,
}

/// Every error body: `{"error":{"code","message"}}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// A stable code, e.g. `ConversationNotFound`.
    pub code: String,
    pub message: String,
}

/// An error answered as `{"error":{"code","message"}}`.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Answer with `Connection: close` (the request body was not read).
    pub close_connection: bool,
    /// Answer with `Retry-After: N` seconds.
    pub retry_after: Option<u32>,
}

impl ApiError {
    /// A turn that a client's post started and that did not end well: 503
    /// with `Retry-After` when it was not admitted or the host stopped
    /// before its commit (a kept message is answered as accepted before
    /// this, `accept::dispatch_kept`), 502 when the bot failed
    /// (Direct Line's and the conversations API's answer; the Bot Framework
    /// endpoints answer as botbuilder does, `http/messages.rs`).
    pub fn turn_failed(err: crate::turn::dispatch::DispatchError) -> ApiError {
        use crate::turn::dispatch::DispatchError;
        match err {
            DispatchError::Busy { code, message } => ApiError {
                retry_after: Some(1),
                ..ApiError::new(StatusCode::SERVICE_UNAVAILABLE, code, message)
            },
            DispatchError::Turn(err @ crate::runtime::turn::TurnError::Stopping) => ApiError {
                retry_after: Some(1),
                ..ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    err.code(),
                    "the host is stopping; the turn did not finish",
                )
            },
            DispatchError::Turn(err) => {
                tracing::error!(code = err.code(), error = %err, "a client's turn failed");
                ApiError::new(
                    StatusCode::BAD_GATEWAY,
                    "BotError",
                    format!("the bot failed: {err}"),
                )
            }
        }
    }

    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            close_connection: false,
            retry_after: None,
        }
    }

    /// The same error, answered with `Connection: close`: for rejections
    /// made before the request body was read.
    pub(crate) fn before_body(self) -> Self {
        ApiError {
            close_connection: true,
            ..self
        }
    }

    pub(crate) fn bad_argument(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "BadArgument", message)
    }

    /// 404 for a bot that is not loaded; `message` says which.
    pub(crate) fn bot_not_found(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::NOT_FOUND, "BotNotFound", message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"error": {"code": self.code, "message": self.message}});
        let mut response = (self.status, axum::Json(body)).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from(seconds));
        }
        if self.close_connection {
            response.headers_mut().insert(
                header::CONNECTION,
                header::HeaderValue::from_static("close"),
            );
        }
        response
    }
}

/// A Direct Line token that could not be signed: a 500 of its own code.
impl From<SigningError> for ApiError {
    fn from(err: SigningError) -> Self {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "TokenError",
            err.to_string(),
        )
    }
}
