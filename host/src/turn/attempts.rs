//! A turn to its committed end: run an attempt, save its state changes with
//! the eTags they were read with, and post the sends it held back. When the
//! state changed meanwhile (an eTag conflict), the attempt is discarded and
//! the turn runs again in a fresh instance on the fresh state: at most
//! [`MAX_ATTEMPTS`] attempts within the turn's deadline, with exponential
//! backoff and jitter. Nothing of a discarded attempt is saved or posted.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::channels::connector::{ConnectorClient, Outbound};
use crate::runtime::bot::BotVersion;
use crate::runtime::engine::Runtime;
use crate::runtime::outgoing::{Flow, Outgoing, OutgoingFilter};
use crate::runtime::run::run_turn;
use crate::runtime::scopes::TurnStateCache;
use crate::runtime::turn::{TimerOp, TurnError, TurnOutcome, TurnRequest};
use crate::schema::activity::Activity;
use crate::storage::timers::TimerStore;
use crate::storage::{Storage, StorageError};
use crate::support::backoff;

/// Attempts of one turn before it fails with `StateConflict`.
pub const MAX_ATTEMPTS: u32 = 5;

/// The first pause after a conflict; it doubles with each attempt, with
/// jitter (`support::backoff`).
const FIRST_BACKOFF: Duration = Duration::from_millis(10);

/// What the turn needs besides the bot.
pub struct Attempts {
    pub connector: Arc<ConnectorClient>,
    pub outbound: Outbound,
    pub storage: Arc<dyn Storage>,
    /// What sees each activity the turn emits (its middleware).
    pub outgoing: Arc<dyn OutgoingFilter>,
    pub timers: Arc<dyn TimerStore>,
}

/// Runs the turn until an attempt's state is saved, then posts its held-back
/// sends in order.
pub async fn run_to_commit(
    runtime: &Runtime,
    bot: &BotVersion,
    incoming: Arc<Activity>,
    with: &Attempts,
) -> Result<TurnOutcome, TurnError> {
    let started = Instant::now();
    let deadline = bot.limits.turn().deadline;
    let mut already_posted = Vec::new();
    let mut attempt = 1;
    let mut pauses = backoff::pauses(FIRST_BACKOFF, MAX_ATTEMPTS as usize);
    loop {
        let state = TurnStateCache::new(
            with.storage.clone(),
            &bot.name,
            bot.state_quota,
            incoming.clone(),
        );
        let request = TurnRequest {
            incoming: incoming.clone(),
            connector: with.connector.clone(),
            outbound: with.outbound.clone(),
            state,
            already_posted: std::mem::take(&mut already_posted),
            outgoing: with.outgoing.clone(),
            timers: with.timers.clone(),
        };
        let mut outcome = run_turn(runtime, bot, request).await?;
        let changes = std::mem::take(&mut outcome.state_changes);
        if !changes.is_empty() {
            let storage = with.storage.clone();
            let namespace = bot.name.to_string();
            let quota = bot.state_quota;
            let saved =
                tokio::task::spawn_blocking(move || storage.write(&namespace, &changes, &quota))
                    .await
                    .map_err(|e| TurnError::StateSave(e.to_string()))?;
            match saved {
                Ok(_) => {}
                Err(StorageError::Conflict(key)) => {
                    if attempt >= MAX_ATTEMPTS || started.elapsed() >= deadline {
                        return Err(TurnError::StateConflict(attempt));
                    }
                    let pause = pauses.next().unwrap_or(FIRST_BACKOFF);
                    tracing::info!(attempt, %key, pause_ms = pause.as_millis() as u64, "state conflict; running the turn again on fresh state");
                    tokio::time::sleep(pause).await;
                    already_posted = outcome.posted_before_state;
                    attempt += 1;
                    continue;
                }
                Err(err) => return Err(TurnError::StateSave(err.to_string())),
            }
        }
        let ops = std::mem::take(&mut outcome.timer_ops);
        if !ops.is_empty() {
            let (store, bot) = (with.timers.clone(), bot.name.to_string());
            tokio::task::spawn_blocking(move || {
                ops.iter().try_for_each(|op| match op {
                    TimerOp::Schedule(timer) => store.schedule(timer),
                    TimerOp::Cancel(id) => store.cancel(&bot, id).map(|_| ()),
                })
            })
            .await
            .map_err(|e| TurnError::StateSave(e.to_string()))?
            .map_err(|e| TurnError::StateSave(format!("timers: {e}")))?;
        }
        for mut activity in outcome.held_back.drain(..).flatten() {
            if with
                .outgoing
                .filter(&mut Outgoing::Send(&mut activity))
                .await
                == Flow::Drop
            {
                continue;
            }
            with.connector
                .send(&activity, &with.outbound)
                .await
                .map_err(|e| TurnError::ReplyFailed(e.to_string()))?;
        }
        return Ok(outcome);
    }
}
