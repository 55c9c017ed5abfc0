//! A turn to its committed end: run an attempt, then commit everything it
//! changed in one transaction (`storage::commit`): its state with the eTags
//! it was read with, its timers, the delivery record with its answer, the
//! conversation reference and its held-back sends as outbox rows. When the
//! state changed meanwhile (an eTag conflict), the attempt is discarded and
//! the turn runs again in a fresh instance on the fresh state: at most
//! [`MAX_ATTEMPTS`] attempts within the turn's deadline, with exponential
//! backoff and jitter. Nothing of a discarded attempt is saved or posted.
//! Once committed, the held-back sends are posted in order (`outbox.rs`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::channels::connector::{ConnectorClient, Outbound};
use crate::channels::token_service::BotTokenService;
use crate::runtime::bot::BotVersion;
use crate::runtime::engine::Runtime;
use crate::runtime::outgoing::OutgoingFilter;
use crate::runtime::run::run_turn;
use crate::runtime::scopes::TurnStateCache;
use crate::runtime::turn::{TurnError, TurnOutcome, TurnRequest};
use crate::schema::activity::Activity;
use crate::storage::dedup::Answer;
use crate::storage::group_commit::{CommitError, GroupCommit};
use crate::storage::outbox::{OutboxStore, Route};
use crate::storage::timers::TimerStore;
use crate::storage::{Storage, StorageError, TurnCommit, TurnRecord};
use crate::support::backoff;
use crate::support::clock::now_millis;
use crate::turn::answer::turn_answer;
use crate::turn::dedup::Delivery;
use crate::turn::outbox::{HeldBack, Poster, post_held_back};

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
    /// Where the turn commits.
    pub records: Arc<GroupCommit>,
    /// Where the relay's rows are handed over.
    pub outbox: Arc<dyn OutboxStore>,
    /// How long the committing host holds its outbox rows before another
    /// host's relay may post them.
    pub lease: Duration,
    /// Woken when the relay has rows to post (`relay.rs`).
    pub relay: Arc<tokio::sync::Notify>,
    /// Where the posting tasks are tracked (`TurnServices::posts`).
    pub posts: tokio_util::task::TaskTracker,
    /// Calling skills; `None` where there is no server (`turnbox test`).
    pub skills: Option<Arc<crate::runtime::SkillCalls>>,
    /// The bot's Token Service (user sign-in), if any.
    pub user_tokens: Option<BotTokenService>,
}

/// What the commit records besides the attempt's own changes.
#[derive(Default)]
pub struct Commitment {
    /// The claimed delivery whose answer is recorded.
    pub delivery: Option<Delivery>,
    /// The conversation reference to remember: (conversation, reference).
    pub reference: Option<(String, Value)>,
    /// The timer whose turn this is.
    pub fired_timer: Option<String>,
    /// The kept row of a delivery that may be accepted before its turn
    /// ends (`accept.rs`): (conversation, activity id), removed by the
    /// commit.
    pub accepted: Option<(String, String)>,
}

/// The route of the turn's outbound, stored with its outbox rows.
pub fn route_of(outbound: &Outbound) -> Route {
    match outbound {
        Outbound::Dev => Route::Dev,
        Outbound::Authenticated(_) => Route::Bot,
        Outbound::Internal => Route::Internal,
    }
}

/// Runs the turn until an attempt commits, then posts its held-back sends
/// in order. Returns the outcome and the answer recorded for it.
pub async fn run_to_commit(
    runtime: &Runtime,
    bot: &BotVersion,
    incoming: Arc<Activity>,
    with: &Attempts,
    commitment: &Commitment,
) -> Result<(TurnOutcome, Answer), TurnError> {
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
            skills: with.skills.clone(),
            user_tokens: with.user_tokens.clone(),
        };
        let mut outcome = run_turn(runtime, bot, request).await?;
        let answer = turn_answer(&incoming, &outcome);
        let held_back = HeldBack::stamp(outcome.held_back.drain(..).flatten().collect());
        let commit = TurnCommit {
            bot: bot.name.to_string(),
            state: std::mem::take(&mut outcome.state_changes),
            quota: bot.state_quota,
            timers: std::mem::take(&mut outcome.timer_ops),
            fired_timer: commitment.fired_timer.clone(),
            delivery: commitment
                .delivery
                .as_ref()
                .map(|d| d.record(answer.clone())),
            reference: commitment.reference.clone(),
            accepted: commitment.accepted.clone(),
            outbox: held_back.rows(route_of(&with.outbound))?,
            outbox_lease_until: now_millis() + with.lease.as_millis() as i64,
            outbox_owner: held_back.owner.clone(),
        };
        if commit.is_empty() {
            return Ok((outcome, answer));
        }
        // Held from before the commit until the posts are done (or the
        // commit fails): a shutdown that closes the committer to turns
        // while this commit lands waits for its posts too.
        let posting = (!held_back.activities.is_empty()).then(|| with.posts.token());
        match with
            .records
            .commit(TurnRecord::Turn(Box::new(commit)))
            .await
        {
            Ok(committed) => {
                crate::support::faults::point("after-commit");
                crate::support::faults::pause("after-commit").await;
                if held_back.activities.is_empty() {
                    return Ok((outcome, answer));
                }
                let poster = Poster {
                    connector: with.connector.clone(),
                    outbound: with.outbound.clone(),
                    outgoing: with.outgoing.clone(),
                    records: with.records.clone(),
                    outbox: with.outbox.clone(),
                    relay: with.relay.clone(),
                    posts: with.posts.clone(),
                    lease: with.lease,
                };
                // Boxed: only turns that held sends back take this path (its
                // future is small, as the posting runs in a task of its own;
                // boxing keeps it out of this one all the same).
                Box::pin(post_held_back(poster, &bot.name, held_back, committed)).await;
                return Ok((outcome, answer));
            }
            Err(CommitError::Storage(StorageError::Conflict(key))) => {
                if attempt >= MAX_ATTEMPTS || started.elapsed() >= deadline {
                    return Err(TurnError::StateConflict(attempt));
                }
                drop(posting);
                let pause = pauses.next().unwrap_or(FIRST_BACKOFF);
                tracing::info!(attempt, %key, pause_ms = pause.as_millis() as u64, "state conflict; running the turn again on fresh state");
                tokio::time::sleep(pause).await;
                already_posted = outcome.posted_before_state;
                attempt += 1;
            }
            Err(CommitError::Storage(StorageError::ClaimLost)) => {
                return Err(TurnError::ClaimLost);
            }
            // The host is stopping (`GroupCommit::close_turns`): whatever keeps
            // this turn (its kept row, its timer) is left as it is.
            Err(CommitError::Closed) => return Err(TurnError::Stopping),
            Err(err) => return Err(TurnError::StateSave(err.to_string())),
        }
    }
}
