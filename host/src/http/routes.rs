//! The routes of the host: Bot Framework messages, Direct Line, the admin
//! API, status, the chat page; the header size limit; JSON 404 and 405.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;

use crate::http::app::{ApiError, AppState};
use crate::http::messages;

/// The Direct Line routes, under `/v3/directline` and
/// `/bots/{bot}/v3/directline`, with the CORS Web Chat needs.
fn directline_routes() -> Router<Arc<AppState>> {
    use crate::http::directline::api;
    use tower_http::cors::{Any, CorsLayer};
    let cors = CorsLayer::new()
        .allow_origin(Any)
        .allow_methods(Any)
        .allow_headers(Any);
    Router::new()
        .route(
            "/tokens/generate",
            post(api::generate_token).fallback(method_not_allowed),
        )
        .route(
            "/tokens/refresh",
            post(api::refresh_token).fallback(method_not_allowed),
        )
        .route(
            "/conversations",
            post(api::start_conversation).fallback(method_not_allowed),
        )
        .route(
            "/conversations/{id}",
            get(api::reconnect).fallback(method_not_allowed),
        )
        .route(
            "/conversations/{id}/activities",
            get(api::get_activities)
                .post(api::post_activity)
                .fallback(method_not_allowed),
        )
        .route(
            "/conversations/{id}/stream",
            get(crate::http::directline::stream::stream).fallback(method_not_allowed),
        )
        .layer(cors)
}

/// The routes of the host.
pub fn router(state: Arc<AppState>) -> Router {
    use crate::http::directline::connector as dl_connector;
    Router::new()
        .nest("/v3/directline", directline_routes())
        .nest("/bots/{bot}/v3/directline", directline_routes())
        .route(
            "/directline-connector/{key}/v3/conversations/{conversation}/activities",
            post(dl_connector::post_activity).fallback(method_not_allowed),
        )
        .route(
            "/directline-connector/{key}/v3/conversations/{conversation}/activities/{activity}",
            post(dl_connector::post_activity)
                .put(dl_connector::put_activity)
                .delete(dl_connector::delete_activity)
                .fallback(method_not_allowed),
        )
        .route(
            "/api/messages",
            post(messages::default_bot_messages).fallback(method_not_allowed),
        )
        .route(
            "/api/bots/{bot}/messages",
            post(messages::bot_messages).fallback(method_not_allowed),
        )
        .route("/healthz", get(healthz).fallback(method_not_allowed))
        .route(
            "/api/bots",
            get(crate::http::status::bots).fallback(method_not_allowed),
        )
        .route(
            "/api/bots/{bot}/conversations",
            get(crate::http::admin::conversations).fallback(method_not_allowed),
        )
        .route(
            "/api/bots/{bot}/conversations/{conversation}/activities",
            get(crate::http::admin::activities).fallback(method_not_allowed),
        )
        .route(
            "/api/bots/{bot}/proactive",
            post(crate::http::admin::proactive).fallback(method_not_allowed),
        )
        .route(
            "/metrics",
            get(crate::http::status::metrics).fallback(method_not_allowed),
        )
        .route(
            "/",
            get(crate::http::chat_page::index).fallback(method_not_allowed),
        )
        .route(
            "/chat/assets/{file}",
            get(crate::http::chat_page::asset).fallback(method_not_allowed),
        )
        .route(
            "/chat/{bot}",
            get(crate::http::chat_page::chat).fallback(method_not_allowed),
        )
        .route(
            "/chat/{bot}/session",
            post(crate::http::chat_page::session).fallback(method_not_allowed),
        )
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::http::server::read_body_in_time,
        ))
        .layer(axum::middleware::from_fn(limit_headers))
        .with_state(state)
}

/// The most bytes of request headers accepted (names and values). Beyond
/// hyper's own buffer (about 400 KiB) the connection is refused before any
/// handler runs.
pub const MAX_HEADER_BYTES: usize = 32 << 10;

/// Answers 431 with a JSON error when the request's headers are too large.
async fn limit_headers(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let bytes: usize = request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    if bytes > MAX_HEADER_BYTES {
        tracing::info!(bytes, "request rejected: headers too large");
        return ApiError::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "HeadersTooLarge",
            format!("the request headers exceed {MAX_HEADER_BYTES} bytes"),
        )
        .before_body()
        .into_response();
    }
    next.run(request).await
}

async fn healthz(State(state): State<Arc<AppState>>) -> Response {
    let bots = state.turns.registry.route_names();
    axum::Json(json!({"status": "ok", "bots": bots})).into_response()
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "NotFound", "no such route").before_body()
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "MethodNotAllowed",
        "this route does not accept that method",
    )
    .before_body()
}
