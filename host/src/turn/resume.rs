//! Resuming accepted turns (`accept.rs`) that their host did not finish:
//! it died, or stopped before they ended. At start-up (SQLite: at once, as
//! this host alone uses the database) and then every second, this host
//! claims kept turns whose lease lapsed and runs them again as channel
//! deliveries: one whose first run committed is answered from its delivery
//! record without a second turn (`dedup.rs`), so nothing is applied twice.

use std::sync::Arc;
use std::time::Duration;

use tracing::Instrument;

use crate::schema::activity::Activity;
use crate::storage::accepted::{AcceptedTurn, ClaimedTurn};
use crate::support::clock::now_millis;
use crate::turn::accept::{finish, lease_until, log_end, settle};
use crate::turn::dispatch::{Origin, dispatch, turn_span};
use crate::turn::services::TurnServices;

/// How often kept turns are looked at.
const TICK: Duration = Duration::from_secs(1);
/// How long a kept turn whose bot is not loaded (or whose Direct Line
/// conversation is another kind of host's) waits for it to come back
/// (Unix ms since it was accepted); then it is dropped. A bot that is
/// replaced is back within seconds; one removed for good would otherwise
/// have its turns claimed, warned about and kept for ever.
const GIVE_UP_AFTER_MS: i64 = 24 * 60 * 60 * 1000;
/// Turns claimed per look.
const BATCH: u32 = 8;

/// Run before the host serves: frees the claims no live host can hold
/// (SQLite: all of them; a shared database: none, they lapse).
pub async fn release_claims(app: &TurnServices) {
    let store = app.accepted.clone();
    let released = tokio::task::spawn_blocking(move || store.release_all_accepted()).await;
    if !matches!(released, Ok(Ok(()))) {
        tracing::error!("cannot release the claims of accepted turns at start-up");
    }
}

/// Frees this host's claims as it stops: turns still running when the
/// grace ran out go to the other hosts (or the next start) without
/// waiting for their lease.
pub async fn release_own_claims(app: &TurnServices) {
    let (store, owner) = (app.accepted.clone(), app.owner.clone());
    let released = tokio::task::spawn_blocking(move || store.release_accepted(&owner)).await;
    if !matches!(released, Ok(Ok(()))) {
        tracing::warn!(
            "cannot release this host's claims of accepted turns; they lapse with their lease"
        );
    }
}

/// Starts the loop; it runs until the host stops (its background tracker
/// is closed).
pub fn start(app: Arc<TurnServices>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if app.background.is_closed() {
                // Stopping: what is kept is left to the other hosts.
                return;
            }
            let store = app.accepted.clone();
            let owner = app.owner.clone();
            let until = now_millis() + app.lease.as_millis() as i64;
            let claimed = tokio::task::spawn_blocking(move || {
                store.claim_accepted(now_millis(), until, &owner, BATCH)
            })
            .await;
            let turns = match claimed {
                Ok(Ok(turns)) => turns,
                Ok(Err(err)) => {
                    tracing::error!(error = %err, "cannot read the accepted turns");
                    continue;
                }
                Err(err) => {
                    tracing::error!(error = %err, "the accepted turns' task failed");
                    continue;
                }
            };
            for kept in turns {
                let app2 = app.clone();
                app.background
                    .spawn(async move { resume(&app2, kept).await });
            }
        }
    });
}

/// Runs a kept turn again.
async fn resume(app: &Arc<TurnServices>, claimed: ClaimedTurn) {
    let accepted_at = claimed.accepted_at;
    let kept = claimed.turn;
    let mut activity = match Activity::from_json_bytes(kept.activity.as_bytes()) {
        Ok(activity) => activity,
        Err(err) => {
            tracing::error!(bot = %kept.bot, error = %err, "a kept turn's activity is unreadable; it is dropped");
            finish(app, &kept).await;
            return;
        }
    };
    let Some((slot, version)) = app
        .registry
        .slot_named(&kept.bot)
        .and_then(|slot| slot.current().map(|version| (slot, version)))
    else {
        wait_or_give_up(app, &kept, accepted_at, "bot is not loaded").await;
        return;
    };
    let loaded = || Some(version.clone());
    let Some(outbound) = app.outbound_for_route(kept.route, loaded, &mut activity) else {
        wait_or_give_up(
            app,
            &kept,
            accepted_at,
            "Direct Line conversation is not this host's kind",
        )
        .await;
        return;
    };
    let span = turn_span(&slot.name, &activity, activity.kind());
    async {
        // Held for the whole run, as the first host held it.
        let owner = app.owner.clone();
        let (store, until, record) = (
            app.accepted.clone(),
            lease_until(app, &version),
            kept.clone(),
        );
        let renewed =
            tokio::task::spawn_blocking(move || store.accept_turn(&record, &owner, until)).await;
        if !matches!(renewed, Ok(Ok(()))) {
            tracing::warn!("cannot extend the claim of a kept turn; running it anyway");
        }
        tracing::info!("resuming a kept turn that its host did not finish");
        let started = std::time::Instant::now();
        let result = dispatch(
            app,
            &slot,
            &version,
            Arc::new(activity),
            outbound,
            Origin::Channel,
        )
        .await;
        log_end(&result, started);
        settle(app, &kept, &result).await;
    }
    .instrument(span)
    .await;
}

/// A kept turn that cannot run here now (its `why`): tried again once its
/// lease lapses, or dropped, with an error line, `GIVE_UP_AFTER_MS` after
/// it was first kept (`accepted_at`).
async fn wait_or_give_up(app: &TurnServices, kept: &AcceptedTurn, accepted_at: i64, why: &str) {
    let waited_ms = now_millis() - accepted_at;
    if waited_ms > GIVE_UP_AFTER_MS {
        tracing::error!(
            bot = %kept.bot,
            conversation = %kept.conversation,
            activity_id = %kept.activity_id,
            hours = waited_ms / 3_600_000,
            "a kept turn's {why} a day after it was kept; the turn is dropped"
        );
        finish(app, kept).await;
    } else {
        tracing::warn!(bot = %kept.bot, "a kept turn's {why}; it is tried again later");
    }
}
