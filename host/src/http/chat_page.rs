//! The chat page: `GET /` lists the loaded bots and `GET /chat/{bot}` chats
//! with one over the built-in Direct Line channel. The HTML, CSS and JS are
//! in `chat/`, embedded in the binary: no CDN, no internet. The page gets its
//! Direct Line session from `POST /chat/{bot}/session`, which the admin rule
//! guards (admin token, or loopback callers when none is set).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde_json::json;

use crate::http::app::{ApiError, AppState};

const CSS: &str = include_str!("chat/chat.css");
const JS: &str = include_str!("chat/chat.js");

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn page(title: &str, body_attributes: &str, body: &str) -> Html<String> {
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title}</title><link rel=\"stylesheet\" href=\"/chat/assets/chat.css\"></head>\
         <body {body_attributes}><header><strong>turnbox</strong><a href=\"/\">bots</a></header>\
         <main>{body}</main></body></html>",
        title = escape(title),
    ))
}

/// `GET /`: the loaded bots.
pub async fn index(State(state): State<Arc<AppState>>) -> Html<String> {
    let routes = state.turns.registry.route_names();
    let items: String = routes
        .iter()
        .map(|r| format!("<li><a href=\"/chat/{0}\">{0}</a></li>", escape(r)))
        .collect();
    let body = if routes.is_empty() {
        "<p>No bots are loaded. Drop a <code>NAME.wasm</code> into the bots folder.</p>".to_string()
    } else {
        format!("<h1>Chat with a bot</h1><ul class=\"bots\">{items}</ul>")
    };
    page("turnbox", "", &body)
}

/// `GET /chat/{bot}`: the chat page.
pub async fn chat(State(state): State<Arc<AppState>>, Path(bot): Path<String>) -> Response {
    if state.turns.registry.route(&bot).is_none() {
        return (
            StatusCode::NOT_FOUND,
            page("turnbox", "", "<p>No such bot is loaded.</p>"),
        )
            .into_response();
    }
    let body = format!(
        "<h1>{bot}</h1><div id=\"log\"></div><div id=\"typing\"></div>\
         <form id=\"send\"><input id=\"text\" autocomplete=\"off\" placeholder=\"Type a message\" disabled>\
         <button>Send</button></form><script src=\"/chat/assets/chat.js\"></script>",
        bot = escape(&bot)
    );
    page(&bot, &format!("data-bot=\"{}\"", escape(&bot)), &body).into_response()
}

/// `GET /chat/assets/{file}`.
pub async fn asset(Path(file): Path<String>) -> Response {
    match file.as_str() {
        "chat.css" => ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], CSS).into_response(),
        "chat.js" => (
            [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
            JS,
        )
            .into_response(),
        _ => ApiError::new(StatusCode::NOT_FOUND, "NotFound", "no such asset").into_response(),
    }
}

/// `POST /chat/{bot}/session`: a Direct Line conversation and token for the
/// page.
pub async fn session(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(bot): Path<String>,
) -> Result<Response, ApiError> {
    crate::http::admin::admit(&state, &headers, peer)?;
    let slot = state
        .turns
        .registry
        .route(&bot)
        .ok_or_else(|| ApiError::bot_not_found("no such bot is loaded"))?;
    let user = format!("web_{}", crate::support::ids::random_id());
    let route = slot.current().map(|v| v.route.clone()).unwrap_or(bot);
    let conversations = &state.turns.directline.conversations;
    let conversation = conversations
        .create(&route, &user)
        .await
        .map_err(crate::http::directline::api::storage_failed)?;
    conversations
        .start(&conversation.id)
        .await
        .map_err(crate::http::directline::api::storage_failed)?;
    let token = state
        .turns
        .directline
        .tokens
        .issue(&route, &conversation.id, &user)?;
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("127.0.0.1");
    let stream_url = format!(
        "ws://{host}/bots/{route}/v3/directline/conversations/{}/stream?t={token}",
        conversation.id
    );
    Ok(axum::Json(json!({
        "conversationId": conversation.id,
        "token": token,
        "userId": user,
        "streamUrl": stream_url,
    }))
    .into_response())
}
