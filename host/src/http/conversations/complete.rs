//! `complete`: a user's message and the bot's replies to it in one call.
//! The turn runs through `turn::dispatch::dispatch`, not `dispatch_or_accept`:
//! the caller waits for the turn's end, however long (an app's request, not
//! a channel's 15 s), so there is nothing to answer early. It runs on a task
//! of the host's background tracker, so a caller that hangs up does not cut
//! the turn short (its replies still reach the log, for `receive`), and a
//! graceful shutdown waits for it. When `dispatch` returns, the turn has
//! committed, and the replies sent before its first state call are in the
//! log; those held back for the commit are posted on a task right after it,
//! or by the relay: the answer waits (at most `POST_WAIT`) until the
//! conversation has no unsent outbox rows, then reads the log for the
//! bot's messages replying to the user's. The turn is kept with the
//! user's message (`accept::keep_with_log`): a host that dies mid-turn
//! fails the caller's request, and the turn is run again by the next host
//! to start (`turn::resume`), its replies logged for `receive`.
//!
//! With `Accept: text/event-stream` the answer is server-sent events: an
//! `update` for each interim livestream update (`{text, streamType,
//! streamId}`, the text so far), `typing` for plain typing, a `message`
//! for each reply as it is logged, then `done` with every reply
//! (`{items}`), or `error` (`{error:{code,message}}`).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinHandle;
use tracing::Instrument;

use super::access::Sessions;
use super::items::{Item, Items, bot_items};
use super::messaging::{Logged, MessageRequest, log_user_message};
use super::{authorized, blocking, json_body, storage_failed};
use crate::channels::connector::Outbound;
use crate::channels::directline::conversations::Wake;
use crate::http::app::ErrorBody;
use crate::http::app::{ApiError, AppState};
use crate::runtime::turn::TurnError;
use crate::schema::activity::{Activity, streaming};
use crate::turn::accept::settle_logged;
use crate::turn::dispatch::{DispatchError, Origin, dispatch, turn_span};

/// How long the answer waits for held-back replies to be posted.
const POST_WAIT: Duration = Duration::from_secs(30);

type Turn = JoinHandle<Result<(), DispatchError>>;

/// Send a user message and get the bot's replies to it.
#[utoipa::path(post, path = "/api/v1/conversation/{id}/complete", tag = "conversations",
    params(("id" = String, Path)), request_body = MessageRequest,
    responses((status = 200, description = "the bot's replies; with `Accept: text/event-stream`, \
                 server-sent events `update`, `typing`, `message`, then `done` or `error`",
               content((Items = "application/json"), (String = "text/event-stream"))),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 502, description = "the bot failed", body = ErrorBody),
              (status = 503, body = ErrorBody)),
    security(("apiKey" = []), ("session" = [])))]
pub async fn complete(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let (_, conversation) = authorized(&state, &headers, peer, &id, Sessions::Allowed).await?;
    let request: MessageRequest = json_body(&body)?;
    let streamed = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/event-stream"));
    let conversations = &state.turns.directline.conversations;
    if !streamed {
        let logged = log_user_message(&state, &conversation, request).await?;
        let result = start_turn(&state, &logged).await.map_err(|e| {
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "Internal", e.to_string())
        })?;
        result.map_err(ApiError::turn_failed)?;
        let (items, _) = replies_once_posted(&state, &logged, 0).await?;
        return Ok(axum::Json(Items { items }).into_response());
    }
    // Subscribed before the message is logged: no update is missed.
    let feed = conversations.subscribe(&id);
    let logged = match log_user_message(&state, &conversation, request).await {
        Ok(logged) => logged,
        Err(err) => {
            drop(feed);
            conversations.unsubscribe(&id);
            return Err(err);
        }
    };
    let turn = start_turn(&state, &logged);
    let (tx, rx) = mpsc::channel::<Event>(64);
    tokio::spawn(stream_turn(state.clone(), logged, feed, turn, tx));
    let events = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|e| (Ok::<Event, Infallible>(e), rx))
    });
    Ok(Sse::new(events)
        .keep_alive(KeepAlive::default())
        .into_response())
}

/// How soon a `complete` turn that was not admitted is tried again.
const BUSY_RETRY: Duration = Duration::from_secs(1);

/// Runs the turn on a task of the host's background tracker.
fn start_turn(state: &AppState, logged: &Logged) -> Turn {
    let turns = state.turns.clone();
    let (slot, version, activity) = (
        logged.slot.clone(),
        logged.version.clone(),
        logged.activity.clone(),
    );
    let kept = logged.kept;
    let span = turn_span(&slot.name, &activity, activity.kind());
    state.turns.background.spawn(
        async move {
            // Not admitted (the bot's turns, or this conversation's, are
            // all running): the caller waits, the host tries again each
            // second up to the bot's deadline, then leaves the kept turn to
            // `resume.rs` (the caller's 503 says not to send it again).
            let deadline = tokio::time::Instant::now() + version.limits.turn().deadline;
            let result = loop {
                let result = dispatch(
                    &turns,
                    &slot,
                    &version,
                    activity.clone(),
                    Outbound::Internal,
                    Origin::Channel,
                )
                .await;
                let retry = kept
                    && matches!(result, Err(DispatchError::Busy { .. }))
                    && !turns.background.is_closed()
                    && tokio::time::Instant::now() + BUSY_RETRY < deadline;
                if !retry {
                    break result;
                }
                tokio::time::sleep(BUSY_RETRY).await;
            };
            if kept {
                settle_logged(&turns, &slot, &activity, &result).await;
            }
            match result {
                Err(DispatchError::Busy { code, message }) if kept => Err(DispatchError::Busy {
                    code,
                    message: format!(
                        "{message}; the message is kept and the host runs it shortly: read its replies with `receive`, do not send it again"
                    ),
                }),
                Err(DispatchError::Turn(TurnError::Stopping)) if kept => Err(DispatchError::Busy {
                    code: "HostStopping",
                    message: "the host is stopping; the message is kept and its turn runs after the restart (or on another host): read its replies with `receive`, do not send it again".into(),
                }),
                other => other.map(|_| ()),
            }
        }
        .instrument(span),
    )
}

/// The log position of the user's message (`{conversation}|{position}`,
/// as the log numbers what it is given without an id).
fn position_of(logged: &Logged) -> usize {
    logged
        .id
        .rsplit_once('|')
        .and_then(|(_, p)| p.parse().ok())
        .unwrap_or(0)
}

/// Whether a logged activity answers the user's message.
fn replies_to(activity: &Value, message: &str) -> bool {
    activity.get("replyToId").and_then(Value::as_str) == Some(message)
}

/// The bot's replies logged from `from` on (0: from the user's message),
/// and the position after them.
async fn replies_from(
    state: &AppState,
    logged: &Logged,
    from: usize,
) -> Result<(Vec<Item>, usize), ApiError> {
    let conversation = logged.activity.conversation_id().unwrap_or_default();
    let from = from.max(position_of(logged) + 1);
    let (log, next) = state
        .turns
        .directline
        .conversations
        .since(conversation, from)
        .await
        .map_err(storage_failed)?;
    let replies: Vec<Value> = log
        .into_iter()
        .filter(|a| replies_to(a, &logged.id))
        .collect();
    Ok((bot_items(&replies), next))
}

/// Waits (at most `POST_WAIT`) until the conversation's held-back replies
/// are posted, then reads the replies from `from` on.
async fn replies_once_posted(
    state: &AppState,
    logged: &Logged,
    from: usize,
) -> Result<(Vec<Item>, usize), ApiError> {
    let until = tokio::time::Instant::now() + POST_WAIT;
    let conversation = logged
        .activity
        .conversation_id()
        .unwrap_or_default()
        .to_owned();
    loop {
        let (store, bot, id) = (
            state.api.store.clone(),
            logged.slot.name.to_string(),
            conversation.clone(),
        );
        let unsent = blocking(move || store.unsent_replies(&bot, &id)).await?;
        if unsent == 0 {
            break;
        }
        if tokio::time::Instant::now() >= until {
            tracing::warn!(
                unsent,
                "replies still unsent when `complete` answered; `receive` gets them later"
            );
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    replies_from(state, logged, from).await
}

fn event(name: &str, data: &impl serde::Serialize) -> Event {
    Event::default()
        .event(name)
        .data(serde_json::to_string(data).unwrap_or_else(|_| "{}".into()))
}

/// An interim update (or plain typing) for the user's message, as an
/// event.
fn typing_event(activity: &Value, message: &str) -> Option<Event> {
    if activity.get("replyToId").and_then(Value::as_str) != Some(message) {
        return None;
    }
    // The markers may be in channelData or in a streaminfo entity.
    let parsed: Activity = serde_json::from_value(activity.clone()).unwrap_or_default();
    Some(match streaming::stream_type(&parsed) {
        Some(kind @ ("informative" | "streaming")) => event(
            "update",
            &json!({
                "text": parsed.text.as_deref().unwrap_or_default(),
                "streamType": kind,
                "streamId": streaming::stream_id(&parsed),
            }),
        ),
        _ => event("typing", &json!({})),
    })
}

/// Feeds the events of one turn to the caller, until the turn is over or
/// the caller is gone.
async fn stream_turn(
    state: Arc<AppState>,
    logged: Logged,
    mut feed: broadcast::Receiver<Wake>,
    mut turn: Turn,
    tx: mpsc::Sender<Event>,
) {
    let conversation = logged
        .activity
        .conversation_id()
        .unwrap_or_default()
        .to_owned();
    let mut watermark = 0;
    let mut feed_open = true;
    let mut events = Vec::new();
    loop {
        tokio::select! {
            wake = feed.recv(), if feed_open => match wake {
                Ok(Wake::Typing(activity)) => events.extend(typing_event(&activity, &logged.id)),
                Ok(Wake::Appended) | Err(broadcast::error::RecvError::Lagged(_)) => {
                    if let Ok((items, next)) = replies_from(&state, &logged, watermark).await {
                        events.extend(items.iter().map(|i| event("message", i)));
                        watermark = next;
                    }
                }
                Err(broadcast::error::RecvError::Closed) => feed_open = false,
            },
            ended = &mut turn => {
                events.extend(last_events(&state, &logged, watermark, ended).await);
                for event in events.drain(..) {
                    if tx.send(event).await.is_err() {
                        break;
                    }
                }
                break;
            }
        }
        for event in events.drain(..) {
            if tx.send(event).await.is_err() {
                break;
            }
        }
        if tx.is_closed() {
            break;
        }
    }
    drop(feed);
    state
        .turns
        .directline
        .conversations
        .unsubscribe(&conversation);
}

/// The replies not yet streamed, then `done` (every reply) or `error`.
async fn last_events(
    state: &AppState,
    logged: &Logged,
    watermark: usize,
    ended: Result<Result<(), DispatchError>, tokio::task::JoinError>,
) -> Vec<Event> {
    let failed = |err: ApiError| {
        event(
            "error",
            &json!({"error": {"code": err.code, "message": err.message}}),
        )
    };
    match ended {
        Ok(Ok(())) => {}
        Ok(Err(err)) => return vec![failed(ApiError::turn_failed(err))],
        Err(err) => {
            return vec![failed(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Internal",
                err.to_string(),
            ))];
        }
    }
    let rest = match replies_once_posted(state, logged, watermark).await {
        Ok((rest, _)) => rest,
        Err(err) => return vec![failed(err)],
    };
    let all = match replies_from(state, logged, 0).await {
        Ok((all, _)) => all,
        Err(err) => return vec![failed(err)],
    };
    let mut events: Vec<Event> = rest.iter().map(|i| event("message", i)).collect();
    events.push(event("done", &Items { items: all }));
    events
}
