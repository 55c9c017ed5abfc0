//! Request bodies: read whole before any handler runs, within a size limit
//! (413) and a deadline (408), so that no handler waits on a slow client or
//! buffers without bound; Direct Line's uploads read their own, larger
//! bodies later through the same [`read_body`].

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::{BodyExt, LengthLimitError, Limited};

use crate::http::app::{ApiError, AppState};

/// Whether `path` is an upload route (`/v3/directline/conversations/{id}/upload`,
/// or the same under `/bots/{bot}`), whose body the route reads itself.
pub fn is_upload_path(path: &str) -> bool {
    let segments: Vec<&str> = path.split('/').collect();
    matches!(
        segments.as_slice(),
        ["", "v3", "directline", "conversations", id, "upload"]
            | ["", "bots", _, "v3", "directline", "conversations", id, "upload"]
            if !id.is_empty()
    )
}

/// Middleware: reads the whole request body before any handler runs, at
/// most `max_body_bytes` (413) and within the body deadline (408), so that
/// no handler waits on a slow client or buffers without bound. Direct
/// Line's uploads are the exception: their handler reads the body itself,
/// once it knows the caller and the bot's larger limit
/// (`http::directline::upload`), through [`read_body`].
pub async fn read_body_in_time(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    if is_upload_path(request.uri().path()) {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let bytes = match read_body(
        &state,
        &parts.headers,
        parts.uri.path(),
        body,
        state.max_body_bytes,
    )
    .await
    {
        Ok(bytes) => bytes,
        Err(err) => return err.into_response(),
    };
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// Reads a whole request body: at most `limit` bytes (413) and within the
/// body deadline (408). Its errors close the connection, as the body was
/// not read to its end.
pub async fn read_body(
    state: &AppState,
    headers: &header::HeaderMap,
    path: &str,
    body: Body,
    limit: usize,
) -> Result<axum::body::Bytes, ApiError> {
    let too_large = || {
        tracing::info!(limit, path, "request rejected: body too large");
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "PayloadTooLarge",
            format!("the body exceeds {limit} bytes"),
        )
        .before_body()
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(too_large());
    }
    let timeout = state.body_read_timeout;
    match tokio::time::timeout(timeout, Limited::new(body, limit).collect()).await {
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(err)) if err.downcast_ref::<LengthLimitError>().is_some() => Err(too_large()),
        Ok(Err(err)) => {
            tracing::info!(error = %err, path, "request rejected: the body could not be read");
            Err(ApiError::bad_argument(format!("cannot read the body: {err}")).before_body())
        }
        Err(_) => {
            state.turns.metrics.request_bodies_timed_out.inc();
            tracing::info!(
                timeout_ms = timeout.as_millis() as u64,
                path,
                "request rejected: the body did not arrive in time"
            );
            Err(ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "RequestTimeout",
                format!(
                    "the request body did not arrive within {} s",
                    timeout.as_secs_f64()
                ),
            )
            .before_body())
        }
    }
}
