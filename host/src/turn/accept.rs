//! Answering a channel before its turn ends. A channel waits about 15 s for
//! its request; an LLM turn may take minutes. A delivery that is neither
//! `expectReplies` nor an `invoke` (their answer is the reply) is answered
//! when its turn ends or after the bot's `ack_after_ms`, whichever comes
//! first; the turn then goes on in the host's background tasks, sending
//! through the connector as before. From that moment the turn is the
//! host's to finish: its activity is kept (`storage/accepted.rs`) until the
//! turn is over, and a host that dies leaves it to `resume.rs`. A delivery
//! the host logs itself (Direct Line, the conversations API) is kept from
//! its log append on (`keep_with_log`, `dispatch_kept`): no channel would
//! deliver it again, so a host that dies before its turn ends must not
//! leave a logged message without its turn.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;
use tracing::Instrument;

use crate::bots::registry::BotSlot;
use crate::channels::connector::Outbound;
use crate::runtime::bot::BotVersion;
use crate::runtime::turn::TurnError;
use crate::schema::activity::Activity;
use crate::storage::accepted::AcceptedTurn;
use crate::storage::directline::KeepTurn;
use crate::support::clock::now_millis;
use crate::turn::attempts::route_of;
use crate::turn::dispatch::{
    DispatchError, Dispatched, Origin, dispatch, may_answer_early, may_answer_early_with_an_id,
};
use crate::turn::services::TurnServices;

/// What the request gets.
pub enum Reply {
    /// The turn ended while the request waited: its result (boxed: a
    /// turn's outcome is large, and most replies are this one).
    Ended(Box<Result<Dispatched, DispatchError>>),
    /// The wait ran out: the request is answered now; the turn goes on.
    Accepted,
}

/// How long a host holds a turn it runs: past this, another host may run
/// it again. Admission and the delivery's claim may each wait up to the
/// deadline before the turn's own deadline starts.
pub fn lease_until(app: &TurnServices, version: &BotVersion) -> i64 {
    // Order and claim waits, up to five attempts, the last of which may
    // start just before the deadline, then the posts.
    let deadline = version.limits.turn().deadline;
    now_millis() + (deadline * 5 + app.lease).as_millis() as i64
}

/// The record that keeps an accepted turn; `None` when the delivery has no
/// id to find it by (such a request waits for its turn's end).
fn record(slot: &BotSlot, activity: &Activity, outbound: &Outbound) -> Option<AcceptedTurn> {
    let conversation = activity.conversation_id().filter(|c| !c.is_empty())?;
    let activity_id = activity.id.as_deref().filter(|id| !id.is_empty())?;
    Some(AcceptedTurn {
        bot: slot.name.to_string(),
        conversation: conversation.to_owned(),
        activity_id: activity_id.to_owned(),
        activity: serde_json::to_string(activity).ok()?,
        route: route_of(outbound),
    })
}

/// Who tries again when a delivery is not admitted (503, too many turns).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// The channel delivers it again (`/api/messages`): it gets the 503.
    ByCaller,
    /// The host: the user's message is in the conversation's log already
    /// (Direct Line, the conversations API), so a retry by the client
    /// would log it twice. The turn is kept and tried again soon, and the
    /// request is answered as accepted.
    ByHost,
}

/// Runs a channel's delivery; answers the request when the turn ends or
/// after the bot's `ack_after_ms`.
pub async fn dispatch_or_accept(
    app: &Arc<TurnServices>,
    slot: Arc<BotSlot>,
    version: Arc<BotVersion>,
    activity: Arc<Activity>,
    outbound: Outbound,
    retry: Retry,
) -> Reply {
    let kept =
        record(&slot, &activity, &outbound).filter(|_| may_answer_early(&version, &activity));
    let Some(kept) = kept else {
        return Reply::Ended(Box::new(
            dispatch(app, &slot, &version, activity, outbound, Origin::Channel).await,
        ));
    };
    let wait = Duration::from_millis(version.limits.ack_after_ms);
    let (tx, mut rx) = oneshot::channel();
    let task_kept = kept.clone();
    let started = std::time::Instant::now();
    spawn_turn(
        app,
        slot,
        version.clone(),
        activity,
        outbound,
        move |app, result| async move {
            if let Err(result) = tx.send(result) {
                // The request was answered without it: the turn ends here.
                log_end(&result, started);
                settle(&app, &task_kept, &result).await;
            }
        },
    );
    tokio::select! {
        result = &mut rx => {
            let result = result.unwrap_or_else(|_| Err(gone()));
            if retry == Retry::ByHost && is_busy(&result) && keep_for_retry(app, &kept).await {
                return Reply::Accepted;
            }
            return Reply::Ended(Box::new(result));
        }
        () = tokio::time::sleep(wait) => {}
    }
    // Past the wait: handing the turn over to its task must finish even if
    // the request is dropped now (its client hung up), or a kept row could
    // outlive its turn.
    let app = app.clone();
    let handover = tokio::spawn(
        async move {
            if let Err(err) = keep(&app, &version, &kept).await {
                tracing::warn!(error = %err, "cannot keep the turn to answer early; the request waits for its end");
                return Reply::Ended(Box::new(rx.await.unwrap_or_else(|_| Err(gone()))));
            }
            // From here the task ends the turn, unless it already has.
            rx.close();
            if let Ok(result) = rx.try_recv() {
                if retry == Retry::ByHost && is_busy(&result) {
                    settle(&app, &kept, &result).await;
                    return Reply::Accepted;
                }
                if is_stopping(&result) {
                    // Left kept: the next start (or another host) runs it.
                    return Reply::Accepted;
                }
                // Over, or not run and the caller retries: forgotten.
                finish(&app, &kept).await;
                return Reply::Ended(Box::new(result));
            }
            app.metrics.turn(&kept.bot, "accepted");
            tracing::info!(
                ack_after_ms = wait.as_millis() as u64,
                "turn goes on after its request was answered"
            );
            Reply::Accepted
        }
        .instrument(tracing::Span::current()),
    );
    handover
        .await
        .unwrap_or_else(|_| Reply::Ended(Box::new(Err(gone()))))
}

/// What a delivery the host logs (Direct Line, the conversations API)
/// keeps with its log append (`DirectLineStore::append_keeping`), so that
/// a host that dies before the turn ends leaves it to `resume.rs`, never a
/// logged message without its turn; `None` when its turn would not be kept:
/// an `invoke` or `expectReplies` (the request waits for the answer), or a
/// bot whose `ack_after_ms` is not below its deadline (never answered
/// early).
pub fn keep_with_log(
    app: &TurnServices,
    slot: &BotSlot,
    version: &BotVersion,
    activity: &Activity,
    outbound: &Outbound,
) -> Option<KeepTurn> {
    if !may_answer_early_with_an_id(version, activity) {
        return None;
    }
    Some(KeepTurn {
        bot: slot.name.to_string(),
        turn: serde_json::to_value(activity).ok()?,
        route: route_of(outbound),
        owner: app.owner.clone(),
        until: lease_until(app, version),
    })
}

/// Runs a delivery kept with its log append (`keep_with_log`): answers
/// when its turn ends or after the bot's `ack_after_ms`, and as accepted
/// when it was not admitted (it is tried again soon) or the host stopped
/// before its commit (the next start runs it). Its own task settles
/// its kept row, whoever waits for it.
pub async fn dispatch_kept(
    app: &Arc<TurnServices>,
    slot: Arc<BotSlot>,
    version: Arc<BotVersion>,
    activity: Arc<Activity>,
    outbound: Outbound,
) -> Reply {
    let wait = Duration::from_millis(version.limits.ack_after_ms);
    let kept = record(&slot, &activity, &outbound);
    let bot = slot.name.to_string();
    let (tx, rx) = oneshot::channel();
    let started = std::time::Instant::now();
    spawn_turn(
        app,
        slot,
        version,
        activity,
        outbound,
        move |app, result| async move {
            if let Some(kept) = &kept {
                settle_kept(&app, kept, &result).await;
            }
            if let Err(result) = tx.send(result) {
                log_end(&result, started);
            }
        },
    );
    tokio::select! {
        result = rx => {
            let result = result.unwrap_or_else(|_| Err(gone()));
            // Kept: not admitted, it is tried again soon; cut by the
            // host's shutdown, the next start (or another host) runs it.
            if is_busy(&result) || is_stopping(&result) {
                return Reply::Accepted;
            }
            Reply::Ended(Box::new(result))
        }
        () = tokio::time::sleep(wait) => {
            app.metrics.turn(&bot, "accepted");
            tracing::info!(
                ack_after_ms = wait.as_millis() as u64,
                "turn goes on after its request was answered"
            );
            Reply::Accepted
        }
    }
}

/// After the run of a turn kept with its log append: nothing when it
/// committed (its commit removed the row), kept for another try soon when
/// it was not admitted, else forgotten.
async fn settle_kept(
    app: &TurnServices,
    kept: &AcceptedTurn,
    result: &Result<Dispatched, DispatchError>,
) {
    if !matches!(result, Ok(Dispatched::Done(..))) {
        settle(app, kept, result).await;
    }
}

/// `settle_kept` for a turn whose caller ran it (the conversations API's
/// `complete`).
pub async fn settle_logged(
    app: &TurnServices,
    slot: &BotSlot,
    activity: &Activity,
    result: &Result<Dispatched, DispatchError>,
) {
    if let Some(kept) = record(slot, activity, &Outbound::Internal) {
        settle_kept(app, &kept, result).await;
    }
}

/// Whether the host stopped before the turn's commit.
fn is_stopping(result: &Result<Dispatched, DispatchError>) -> bool {
    matches!(result, Err(DispatchError::Turn(TurnError::Stopping)))
}

fn is_busy(result: &Result<Dispatched, DispatchError>) -> bool {
    matches!(result, Err(DispatchError::Busy { .. }))
}

/// Keeps a turn that was not admitted, to be tried again soon; false when
/// it cannot be kept.
async fn keep_for_retry(app: &TurnServices, kept: &AcceptedTurn) -> bool {
    let (store, kept) = (app.accepted.clone(), kept.clone());
    let (owner, soon) = (app.owner.clone(), now_millis() + RETRY_AFTER_MS);
    let stored = tokio::task::spawn_blocking(move || store.accept_turn(&kept, &owner, soon)).await;
    let ok = matches!(stored, Ok(Ok(())));
    if ok {
        tracing::info!("turn not admitted now; the host tries it again shortly");
    }
    ok
}

fn gone() -> DispatchError {
    DispatchError::Busy {
        code: "TurnLost",
        message: "the turn's task ended without a result".into(),
    }
}

/// Logs how a turn whose request was answered early ended.
pub fn log_end(result: &Result<Dispatched, DispatchError>, started: std::time::Instant) {
    let ms = started.elapsed().as_millis() as u64;
    match result {
        Ok(_) => tracing::info!(ms, "turn done (its request was answered before)"),
        Err(DispatchError::Busy { message, .. }) => {
            tracing::warn!(ms, reason = %message, "turn not run (its request was answered before); it is kept for a later try")
        }
        Err(DispatchError::Turn(TurnError::Stopping)) => {
            tracing::warn!(
                ms,
                "turn cut by the host's shutdown before its commit; it is kept to run again"
            )
        }
        Err(DispatchError::Turn(err)) => {
            tracing::error!(ms, code = err.code(), error = %err, "turn failed (its request was answered before)")
        }
    }
}

async fn keep(
    app: &TurnServices,
    version: &BotVersion,
    kept: &AcceptedTurn,
) -> Result<(), crate::storage::StorageError> {
    let (store, kept, until) = (
        app.accepted.clone(),
        kept.clone(),
        lease_until(app, version),
    );
    let owner = app.owner.clone();
    tokio::task::spawn_blocking(move || store.accept_turn(&kept, &owner, until))
        .await
        .map_err(|e| crate::storage::StorageError::Backend(e.to_string()))?
}

/// After a kept turn's run: forgotten when it is over (done, answered
/// before, or failed: the bot's error is not retried), kept for another
/// try soon when it was not admitted, and left as it is when the host
/// stopped before the turn's commit (its claim is handed on).
pub async fn settle(
    app: &TurnServices,
    kept: &AcceptedTurn,
    result: &Result<Dispatched, DispatchError>,
) {
    if is_stopping(result) {
        tracing::info!("the host stopped before this kept turn's commit; it is left to run again");
        return;
    }
    if is_busy(result) {
        if !keep_for_retry(app, kept).await {
            tracing::warn!(
                "cannot schedule another try of a kept turn; it is tried once its lease lapses"
            );
        }
        return;
    }
    finish(app, kept).await;
}

/// Runs a turn on a background task and returns at once: the turn of a
/// skill's `endOfConversation` or `event`, whose request must not wait
/// (the turn that called the skill may hold the conversation). Its
/// activity is kept first, so a host that stops leaves it to `resume.rs`.
pub async fn accept_now(
    app: &Arc<TurnServices>,
    slot: Arc<BotSlot>,
    version: Arc<BotVersion>,
    activity: Arc<Activity>,
    outbound: Outbound,
) -> Result<(), crate::storage::StorageError> {
    let kept = record(&slot, &activity, &outbound).ok_or_else(|| {
        crate::storage::StorageError::Backend("the activity has no conversation or id".into())
    })?;
    keep(app, &version, &kept).await?;
    let started = std::time::Instant::now();
    spawn_turn(
        app,
        slot,
        version,
        activity,
        outbound,
        move |app, result| async move {
            log_end(&result, started);
            settle(&app, &kept, &result).await;
        },
    );
    Ok(())
}

/// Runs a channel delivery's turn on a task of the host's background
/// tracker (so a graceful shutdown waits for it), in the current span;
/// `then` gets its result.
fn spawn_turn<F, Fut>(
    app: &Arc<TurnServices>,
    slot: Arc<BotSlot>,
    version: Arc<BotVersion>,
    activity: Arc<Activity>,
    outbound: Outbound,
    then: F,
) where
    F: FnOnce(Arc<TurnServices>, Result<Dispatched, DispatchError>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let app = app.clone();
    let background = app.background.clone();
    background.spawn(
        async move {
            let result = dispatch(&app, &slot, &version, activity, outbound, Origin::Channel).await;
            then(app, result).await;
        }
        .instrument(tracing::Span::current()),
    );
}

/// How soon a kept turn that was not admitted is tried again.
const RETRY_AFTER_MS: i64 = 1000;

/// Forgets a kept turn that is over.
pub async fn finish(app: &TurnServices, kept: &AcceptedTurn) {
    let (store, kept) = (app.accepted.clone(), kept.clone());
    let done = tokio::task::spawn_blocking(move || {
        store.finish_turn(&kept.bot, &kept.conversation, &kept.activity_id)
    })
    .await;
    if !matches!(done, Ok(Ok(()))) {
        // It is run again later and answered from its delivery record.
        tracing::warn!("cannot forget a finished turn's kept activity");
    }
}
