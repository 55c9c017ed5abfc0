//! The timer loop: claims due timers from the store and runs each as a turn
//! of its bot in its conversation (an `event` with the timer's name and
//! value); the turn's commit removes it with the turn's effects, so it
//! fires once. Claims left by a host that
//! stopped mid-fire are released at start-up.

use std::sync::Arc;
use std::time::Duration;

use tracing::Instrument;

use crate::runtime::turn::TurnError;
use crate::schema::activity::continuation_activity;
use crate::storage::timers::Timer;
use crate::support::clock::now_millis;
use crate::turn::dispatch::{DispatchError, Origin, dispatch};
use crate::turn::services::TurnServices;

/// How often due timers are looked for.
pub const TICK: Duration = Duration::from_millis(200);
/// Timers claimed per tick.
const BATCH: u32 = 32;
/// When a timer's bot is not loaded (or is busy), it is tried again this
/// much later.
const RETRY_LATER: Duration = Duration::from_secs(5);

/// Starts the loop; it runs until the process ends.
pub fn start(app: Arc<TurnServices>) {
    let store = app.timers.clone();
    tokio::spawn(async move {
        let released = {
            let store = store.clone();
            tokio::task::spawn_blocking(move || store.release_all()).await
        };
        if !matches!(released, Ok(Ok(()))) {
            tracing::error!("cannot release timer claims at start-up");
        }
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            // Held until this look's timers are spawned: a shutdown that
            // begins meanwhile waits for their turns within its grace.
            let _looking = app.background.token();
            if app.background.is_closed() {
                // Stopping: no new turns start (a timer's might not commit
                // before the grace runs out); the next start or another
                // host fires it.
                return;
            }
            let claim = {
                let store = store.clone();
                tokio::task::spawn_blocking(move || store.claim_due(now_millis(), BATCH)).await
            };
            let timers = match claim {
                Ok(Ok(timers)) => timers,
                Ok(Err(err)) => {
                    tracing::error!(error = %err, "cannot read due timers");
                    continue;
                }
                Err(err) => {
                    tracing::error!(error = %err, "the timer task failed");
                    continue;
                }
            };
            // Background turns: a graceful shutdown waits for them within
            // its grace.
            for timer in timers {
                let app = app.clone();
                let background = app.background.clone();
                background.spawn(async move { fire(&app, timer).await });
            }
        }
    });
}

/// Runs the turn of one due timer, then removes or reschedules it.
async fn fire(app: &TurnServices, timer: Timer) {
    let store = app.timers.clone();
    let id = timer.id.clone();
    let later = |store: Arc<dyn crate::storage::timers::TimerStore>, id: String| async move {
        let due = now_millis() + RETRY_LATER.as_millis() as i64;
        let _ = tokio::task::spawn_blocking(move || store.release(&id, due)).await;
    };
    let slot = app.registry.slot_named(&timer.bot);
    let Some((slot, version)) = slot.and_then(|s| s.current().map(|v| (s, v))) else {
        tracing::warn!(bot = %timer.bot, timer = %id, "a timer is due but its bot is not loaded; retrying later");
        later(store, id).await;
        return;
    };
    let mut activity = match continuation_activity(&timer.reference, timer.value.clone()) {
        Ok(activity) => activity,
        Err(err) => {
            tracing::error!(bot = %timer.bot, timer = %id, error = %err, "a timer's reference is unusable; dropping it");
            let _ = tokio::task::spawn_blocking(move || store.complete(&id)).await;
            return;
        }
    };
    activity.name = Some(timer.name.clone());
    let outbound = app.outbound_for_proactive(&version, &mut activity);
    let span = crate::turn::dispatch::turn_span(&slot.name, &activity, "timer");
    let origin = Origin::Timer(id.clone());
    let result = dispatch(app, &slot, &version, Arc::new(activity), outbound, origin)
        .instrument(span.clone())
        .await;
    match result {
        Err(DispatchError::Busy { message, .. }) => {
            tracing::warn!(parent: &span, reason = %message, "a timer's bot is busy; retrying later");
            later(store, id).await;
        }
        // Its commit removed it.
        Ok(_) => tracing::info!(parent: &span, name = %timer.name, "timer fired"),
        Err(DispatchError::Turn(TurnError::ClaimLost)) => {
            tracing::warn!(parent: &span, name = %timer.name, "another host fired this timer after this host's claim lapsed; nothing saved")
        }
        Err(DispatchError::Turn(TurnError::Stopping)) => {
            tracing::warn!(parent: &span, name = %timer.name, "the host stopped during this timer's turn; nothing saved, it fires again")
        }
        Err(err) => {
            tracing::error!(parent: &span, name = %timer.name, error = %err, "a timer's turn failed; the timer is spent");
            let removed = tokio::task::spawn_blocking(move || store.complete(&id)).await;
            if !matches!(removed, Ok(Ok(()))) {
                tracing::error!(parent: &span, "cannot remove a fired timer");
            }
        }
    }
}
