//! The Bot Framework message endpoints (`/api/messages`,
//! `/api/bots/{bot}/messages`): reading and checking the activity,
//! authenticating the caller, the turn's tracing span, then the turn
//! (`turn::accept`: 202 when it outlasts `ack_after_ms`), and its answer
//! written as the response of botbuilder's CloudAdapter (expectReplies,
//! invoke, errors as JSON).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::body::Body;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use tracing::Instrument;

use crate::bots::registry::BotSlot;
use crate::channels::connector::Outbound;
use crate::http::app::{ApiError, AppState};
use crate::runtime::turn::TurnError;
use crate::schema::activity::Activity;
use crate::storage::dedup::Answer;
use crate::turn::accept::{Reply, Retry, dispatch_or_accept};
use crate::turn::dispatch::{DispatchError, Dispatched};

pub(super) async fn default_bot_messages(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Some(bot) = state.turns.registry.default_bot() else {
        let err = ApiError::bot_not_found(
            "no default bot: load exactly one bot, or name one with --default-bot, \
             or post to /api/bots/{bot}/messages",
        )
        .before_body();
        tracing::info!(reason = %err.message, "request rejected");
        return err.into_response();
    };
    messages(state, bot, peer, headers, body).await
}

pub(super) async fn bot_messages(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Some(bot) = state.turns.registry.route(&name) else {
        let err = ApiError::bot_not_found(format!("no bot named `{name}` is loaded")).before_body();
        tracing::info!(reason = %err.message, "request rejected");
        return err.into_response();
    };
    messages(state, bot, peer, headers, body).await
}

async fn messages(
    state: Arc<AppState>,
    slot: Arc<BotSlot>,
    peer: SocketAddr,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let activity = match read_activity(&headers, body).await {
        Ok(activity) => activity,
        Err(err) => {
            tracing::info!(bot = %slot.name, status = err.status.as_u16(), reason = %err.message, "request rejected");
            return err.into_response();
        }
    };
    let span = crate::turn::dispatch::turn_span(&slot.name, &activity, activity.kind());
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let local = crate::http::trust::loopback_trusted(&state, &headers, peer);
    take_turn(state, slot, activity, authorization, local)
        .instrument(span)
        .await
}

/// Parses the body (already read, within its size and time limits, by
/// `http::body::read_body_in_time`): JSON content, an object with a `type`
/// and a conversation.
pub(super) async fn read_activity(headers: &HeaderMap, body: Body) -> Result<Activity, ApiError> {
    let bytes = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(err) => {
            return Err(ApiError::bad_argument(format!(
                "cannot read the body: {err}"
            )));
        }
    };
    if let Some(content_type) = headers.get(header::CONTENT_TYPE) {
        let is_json = content_type
            .to_str()
            .ok()
            .and_then(|v| v.split(';').next())
            .map(|mime| {
                let mime = mime.trim().to_ascii_lowercase();
                mime == "application/json" || mime.ends_with("+json")
            })
            .unwrap_or(false);
        if !is_json {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "UnsupportedMediaType",
                "the body must be application/json",
            ));
        }
    }
    Activity::from_json_bytes(&bytes)
        .and_then(|activity| activity.check_delivery().map(|()| activity))
        .map_err(|e| ApiError::bad_argument(e.to_string()))
}

/// Admits the turn (backpressure, then per-conversation order), runs it on
/// the bot's current version, records the outcome, and answers.
async fn take_turn(
    state: Arc<AppState>,
    slot: Arc<BotSlot>,
    mut activity: Activity,
    authorization: Option<String>,
    local: bool,
) -> Response {
    let Some(version) = slot.current() else {
        return ApiError::bot_not_found(format!("the bot `{}` is no longer served", slot.name))
            .into_response();
    };
    // A client never chooses its own callerId: authentication sets it.
    activity.extra.remove("callerId");
    // The two big awaits are boxed (an allocation each, on every turn
    // with an app id for the first, every turn for the second): a future
    // is as large as its largest await, and every layer above (axum,
    // tower, hyper) moves this one (31 KiB unboxed; docs/PERFORMANCE.md,
    // seventh round).
    let outbound = if version.credentials.has_app_id() {
        match Box::pin(state.authenticator.authenticate(
            authorization.as_deref(),
            &activity,
            &version.credentials,
        ))
        .await
        {
            Ok(identity) => {
                activity
                    .extra
                    .insert("callerId".into(), identity.caller_id.into());
                state.turns.outbound_for(&version, &activity)
            }
            Err(err) => {
                slot.counters.rejected.fetch_add(1, Ordering::Relaxed);
                state.turns.metrics.turn(&slot.name, "unauthorized");
                tracing::warn!(reason = %err, "request unauthorized");
                return ApiError::new(StatusCode::UNAUTHORIZED, "Unauthorized", err.to_string())
                    .into_response();
            }
        }
    } else if local || state.insecure_dev {
        Outbound::Dev
    } else {
        // Dev mode authenticates nobody: only this machine may use it.
        slot.counters.rejected.fetch_add(1, Ordering::Relaxed);
        state.turns.metrics.turn(&slot.name, "unauthorized");
        let err = ApiError::new(
            StatusCode::UNAUTHORIZED,
            "DevModeLocalOnly",
            "this bot has no app id (dev mode), so it takes turns only from this machine; \
             give it MicrosoftAppId credentials, or start the host with --insecure-dev",
        );
        tracing::warn!(reason = %err.message, "request unauthorized");
        return err.into_response();
    };
    let activity = Arc::new(activity);
    let started = std::time::Instant::now();
    let result = match Box::pin(dispatch_or_accept(
        &state.turns,
        slot.clone(),
        version.clone(),
        activity.clone(),
        outbound,
        Retry::ByCaller,
    ))
    .await
    {
        Reply::Ended(result) => *result,
        // The turn goes on; its replies go through the connector.
        Reply::Accepted => return StatusCode::ACCEPTED.into_response(),
    };
    let ms = started.elapsed().as_millis() as u64;
    let (outcome, answer) = match result {
        Ok(Dispatched::Done(outcome, answer)) => (outcome, answer),
        Ok(Dispatched::Duplicate(answer)) => return answer_response(answer),
        Ok(Dispatched::ShortCircuited(answer)) => {
            tracing::info!(ms, status = answer.status, "turn answered by middleware");
            let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::OK);
            return match answer.body {
                Some(body) => (status, axum::Json(body)).into_response(),
                None => status.into_response(),
            };
        }
        Err(DispatchError::Busy { code, message }) => {
            slot.counters.rejected.fetch_add(1, Ordering::Relaxed);
            state.turns.metrics.turn(&slot.name, "rejected");
            tracing::warn!(reason = %message, "turn rejected");
            return busy(code, message).into_response();
        }
        Err(DispatchError::Turn(err @ TurnError::Stopping)) => {
            tracing::warn!(
                ms,
                version = version.version(),
                "turn cut by the host's shutdown; nothing saved"
            );
            return turn_failed(&err).into_response();
        }
        Err(DispatchError::Turn(err)) => {
            tracing::error!(code = err.code(), ms, version = version.version(), error = %err, "turn failed");
            return turn_failed(&err).into_response();
        }
    };
    tracing::info!(
        ms,
        version = version.version(),
        replies = outcome.buffered_replies.len(),
        "turn done"
    );

    answer_response(answer)
}

fn answer_response(answer: Answer) -> Response {
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    match answer.body {
        Some(body) => (
            status,
            [(
                header::CONTENT_TYPE,
                header::HeaderValue::from_static("application/json"),
            )],
            body,
        )
            .into_response(),
        None => status.into_response(),
    }
}

/// 503 with `Retry-After: 1`.
fn busy(code: &'static str, message: String) -> ApiError {
    ApiError {
        retry_after: Some(1),
        ..ApiError::new(StatusCode::SERVICE_UNAVAILABLE, code, message)
    }
}

/// 503 when the host is out of instance slots (the caller may retry), 500
/// for everything that went wrong in the bot.
fn turn_failed(err: &TurnError) -> ApiError {
    match err {
        // A re-delivery now holds the claim: it answers the channel.
        TurnError::Busy | TurnError::ClaimLost | TurnError::Stopping => {
            busy(err.code(), err.to_string())
        }
        _ => ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            err.code(),
            err.to_string(),
        ),
    }
}
