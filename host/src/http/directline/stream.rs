//! The Direct Line WebSocket stream: `ActivitySet`s from the conversation's
//! log, first what was logged since the watermark, then each new activity
//! as this host's feed wakes it (typing included), with keep-alives.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::json;

use super::api::{WatermarkQuery, authorized, bearer, parse_watermark};
use crate::channels::directline::conversations::{Conversations, Wake};
use crate::http::app::{ApiError, AppState};

/// How often an open stream gets a keep-alive.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// `GET /conversations/{id}/stream?t=TOKEN[&watermark=]`: a WebSocket of
/// `ActivitySet`s: first what was logged since the watermark, then every
/// new activity (typing included), with keep-alives.
pub async fn stream(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(params): Path<HashMap<String, String>>,
    Query(query): Query<WatermarkQuery>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    let presented = query.t.as_deref().or_else(|| bearer(&headers));
    let (_, conversation) = authorized(&state, presented, &headers, peer, &params).await?;
    let watermark = parse_watermark(query.watermark.as_deref())?;
    Ok(upgrade.on_upgrade(move |socket| async move {
        push(socket, &state, &conversation.id, watermark).await;
        state
            .turns
            .directline
            .conversations
            .unsubscribe(&conversation.id);
    }))
}

/// Sends what the log holds from `next` on, if anything; the new `next`,
/// or `None` when the socket is gone.
async fn send_from_log(
    socket: &mut WebSocket,
    conversations: &Conversations,
    conversation: &str,
    next: usize,
) -> Option<usize> {
    let (activities, now) = match conversations.since(conversation, next).await {
        Ok(read) => read,
        Err(err) => {
            // The next wake-up reads again from the same watermark.
            tracing::warn!(error = %err, "a Direct Line stream cannot read the log");
            return Some(next);
        }
    };
    if activities.is_empty() {
        return Some(next);
    }
    let set = json!({"activities": activities, "watermark": now.to_string()});
    socket
        .send(Message::Text(set.to_string().into()))
        .await
        .ok()
        .map(|()| now)
}

async fn push(mut socket: WebSocket, state: &AppState, conversation: &str, watermark: usize) {
    let conversations = &state.turns.directline.conversations;
    // Subscribe before reading the backlog, so nothing falls between them.
    let mut feed = conversations.subscribe(conversation);
    let Some(mut next) = send_from_log(&mut socket, conversations, conversation, watermark).await
    else {
        return;
    };
    let mut keep_alive = tokio::time::interval(KEEP_ALIVE);
    keep_alive.tick().await;
    loop {
        tokio::select! {
            woken = feed.recv() => {
                use tokio::sync::broadcast::error::RecvError;
                match woken {
                    // Behind or not, the log has it all.
                    Ok(Wake::Appended) | Err(RecvError::Lagged(_)) => {
                        match send_from_log(&mut socket, conversations, conversation, next).await {
                            Some(now) => next = now,
                            None => return,
                        }
                    }
                    Ok(Wake::Typing(activity)) => {
                        let set = json!({"activities": [activity]});
                        if socket.send(Message::Text(set.to_string().into())).await.is_err() {
                            return;
                        }
                    }
                    Err(RecvError::Closed) => return,
                }
            }
            _ = keep_alive.tick() => {
                if socket.send(Message::Text("".into())).await.is_err() {
                    return;
                }
            }
            incoming = socket.recv() => {
                match incoming {
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                    _ => {}
                }
            }
        }
    }
}
