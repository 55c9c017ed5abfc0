//! The routes of the host: Bot Framework messages, Direct Line, the
//! conversations API, the admin API, status, the chat page, the OpenAPI
//! document; the header size limit; JSON 404 and 405. Every route is one
//! entry of [`table`], which the router is built from and the OpenAPI
//! document is checked against (`http::openapi`).

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use serde_json::json;
use tower_http::cors::{Any, CorsLayer};

use crate::http::app::{ApiError, AppState};
use crate::http::messages;

/// One route: its path, the methods it answers, and their handlers.
pub struct Route {
    pub path: String,
    pub methods: &'static [&'static str],
    handler: MethodRouter<Arc<AppState>>,
}

fn route(
    path: &str,
    methods: &'static [&'static str],
    handler: MethodRouter<Arc<AppState>>,
) -> Route {
    Route {
        path: path.to_owned(),
        methods,
        handler: handler.fallback(method_not_allowed),
    }
}

/// Any origin, any method, any header: for the routes browsers call with
/// a bearer token of their own (Direct Line, API sessions); no cookie is
/// ever read, so no other site gains anything.
fn cors() -> CorsLayer {
    CorsLayer::new()
        .allow_origin(Any)
        .allow_methods(Any)
        .allow_headers(Any)
}

/// The Direct Line routes under `base` (`/v3/directline` or
/// `/bots/{bot}/v3/directline`), with the CORS Web Chat needs.
fn directline_routes(base: &str) -> Vec<Route> {
    use crate::http::directline::{api, files, stream, upload};
    let at = |tail: &str| format!("{base}{tail}");
    vec![
        route(
            &at("/tokens/generate"),
            &["POST"],
            post(api::generate_token),
        ),
        route(&at("/tokens/refresh"), &["POST"], post(api::refresh_token)),
        route(
            &at("/conversations"),
            &["POST"],
            post(api::start_conversation),
        ),
        route(&at("/conversations/{id}"), &["GET"], get(api::reconnect)),
        route(
            &at("/conversations/{id}/activities"),
            &["GET", "POST"],
            get(api::get_activities).post(api::post_activity),
        ),
        route(
            &at("/conversations/{id}/stream"),
            &["GET"],
            get(stream::stream),
        ),
        route(
            &at("/conversations/{id}/upload"),
            &["POST"],
            post(upload::upload),
        ),
        route(&at("/attachments/{id}"), &["GET"], get(files::file)),
    ]
}

/// The conversations API, under `/api/v1/conversation`, with CORS (its
/// session tokens are for browsers).
fn conversation_routes() -> Vec<Route> {
    use crate::http::conversations::{complete, history, manage, messaging, session_routes};
    let at = |tail: &str| format!("/api/v1/conversation{tail}");
    vec![
        route(&at("/create"), &["POST"], post(manage::create)),
        route(&at("/list"), &["GET"], get(manage::list)),
        route(&at("/{id}/fetch"), &["GET"], get(manage::fetch)),
        route(&at("/{id}/update"), &["POST"], post(manage::update)),
        route(&at("/{id}/delete"), &["POST"], post(manage::delete)),
        route(&at("/{id}/send"), &["POST"], post(messaging::send)),
        route(&at("/{id}/receive"), &["POST"], post(messaging::receive)),
        route(&at("/{id}/complete"), &["POST"], post(complete::complete)),
        route(&at("/{id}/message/list"), &["GET"], get(history::messages)),
        route(
            &at("/{id}/session/create"),
            &["POST"],
            post(session_routes::session_create),
        ),
        route(
            &at("/{id}/session/refresh"),
            &["POST"],
            post(session_routes::session_refresh),
        ),
    ]
}

/// Every route of the host.
pub fn table() -> Vec<Route> {
    use crate::http::directline::connector as dl_connector;
    use crate::http::{admin, chat_page, skills, status};
    let mut with_cors = directline_routes("/v3/directline");
    with_cors.extend(directline_routes("/bots/{bot}/v3/directline"));
    with_cors.extend(conversation_routes());
    let mut routes: Vec<Route> = with_cors
        .into_iter()
        .map(|r| Route {
            handler: r.handler.layer(cors()),
            ..r
        })
        .collect();
    routes.extend([
        route(
            "/directline-connector/{key}/v3/conversations/{conversation}/activities",
            &["POST"],
            post(dl_connector::post_activity),
        ),
        route(
            "/directline-connector/{key}/v3/conversations/{conversation}/activities/{activity}",
            &["POST", "PUT", "DELETE"],
            post(dl_connector::post_activity)
                .put(dl_connector::put_activity)
                .delete(dl_connector::delete_activity),
        ),
        route(
            "/directline-connector/{key}/v3/conversations/{conversation}/activities/history",
            &["POST"],
            post(dl_connector::post_history),
        ),
        route(
            "/directline-connector/{key}/v3/conversations/{conversation}/activities/{activity}/members",
            &["GET"],
            get(dl_connector::get_activity_members),
        ),
        route(
            "/directline-connector/{key}/v3/conversations/{conversation}/members",
            &["GET"],
            get(dl_connector::get_members),
        ),
        route(
            "/directline-connector/{key}/v3/conversations/{conversation}/members/{member}",
            &["GET", "DELETE"],
            get(dl_connector::get_member).delete(dl_connector::delete_member),
        ),
        route(
            "/directline-connector/{key}/v3/conversations/{conversation}/pagedmembers",
            &["GET"],
            get(dl_connector::get_paged_members),
        ),
        route(
            "/api/skills/v3/conversations/{conversation}/activities",
            &["POST"],
            post(skills::post_activity),
        ),
        route(
            "/api/skills/v3/conversations/{conversation}/activities/{activity}",
            &["POST", "PUT", "DELETE"],
            post(skills::post_activity)
                .put(skills::put_activity)
                .delete(skills::delete_activity),
        ),
        route(
            "/api/messages",
            &["POST"],
            post(messages::default_bot_messages),
        ),
        route(
            "/api/bots/{bot}/messages",
            &["POST"],
            post(messages::bot_messages),
        ),
        route("/healthz", &["GET"], get(healthz)),
        route("/api/bots", &["GET"], get(status::bots)),
        route(
            "/api/bots/{bot}/conversations",
            &["GET"],
            get(admin::conversations),
        ),
        route(
            "/api/bots/{bot}/conversations/{conversation}/activities",
            &["GET"],
            get(admin::activities),
        ),
        route(
            "/api/bots/{bot}/proactive",
            &["POST"],
            post(admin::proactive),
        ),
        route(
            "/api/openapi.json",
            &["GET"],
            get(crate::http::openapi::document),
        ),
        route("/metrics", &["GET"], get(status::metrics)),
        route("/", &["GET"], get(chat_page::index)),
        route("/chat/assets/{file}", &["GET"], get(chat_page::asset)),
        route("/chat/{bot}", &["GET"], get(chat_page::chat)),
        route("/chat/{bot}/session", &["POST"], post(chat_page::session)),
    ]);
    routes
}

/// The routes of the host.
pub fn router(state: Arc<AppState>) -> Router {
    let mut router = Router::new();
    for entry in table() {
        router = router.route(&entry.path, entry.handler);
    }
    router
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::http::body::read_body_in_time,
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

/// `GET /healthz`.
pub async fn healthz(State(state): State<Arc<AppState>>) -> Response {
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use utoipa::OpenApi;

    use super::table;
    use crate::http::openapi::ApiDoc;

    #[test]
    fn the_openapi_document_has_every_route_of_the_router_and_no_other() {
        let doc = serde_json::to_value(ApiDoc::openapi()).unwrap();
        assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
        let mut documented = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys() {
                if method != "parameters" {
                    documented.insert((path.clone(), method.to_uppercase()));
                }
            }
        }
        let routed: BTreeSet<(String, String)> = table()
            .iter()
            .flat_map(|r| r.methods.iter().map(|m| (r.path.clone(), m.to_string())))
            .collect();
        let missing: Vec<_> = routed.difference(&documented).collect();
        let extra: Vec<_> = documented.difference(&routed).collect();
        assert!(
            missing.is_empty(),
            "routes not in the document: {missing:?}"
        );
        assert!(
            extra.is_empty(),
            "documented routes the router lacks: {extra:?}"
        );
    }
}
