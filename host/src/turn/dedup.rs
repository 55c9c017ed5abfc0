//! De-duplication of channel deliveries. A channel that got no answer in
//! time (15 s for Bot Framework channels) sends the same activity again;
//! the bot must not run the turn twice. For each bot, conversation and
//! activity id, the delivery is claimed when its turn starts
//! (`storage/dedup.rs`), inside the conversation's turn order, and the
//! turn's answer is recorded by the turn's own commit, in the same
//! transaction as its effects (`attempts.rs`). A duplicate finds the answer
//! and gets it without a turn; one that arrives while the first attempt
//! still runs, on this host or another, waits for the claim to be answered
//! or to lapse (the first host died: then it runs), for at most the turn's
//! deadline, then is told to come back (503). A failed turn releases its
//! claim and records nothing: its retry runs.

use std::sync::Arc;
use std::time::Duration;

use crate::schema::activity::Activity;
use crate::storage::StorageError;
use crate::storage::commit::DeliveryRecord;
use crate::storage::dedup::{Answer, Claim, DedupStore};
use crate::support::clock::now_millis;

/// How long deliveries are remembered by default.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(600);

/// How often a duplicate looks again at a claim another attempt holds.
const WAIT_STEP: Duration = Duration::from_millis(100);

/// The de-duplication window over a store.
pub struct Deduplicator {
    store: Arc<dyn DedupStore>,
    window_ms: i64,
    /// Old records are forgotten at most once a minute.
    expiry: crate::support::clock::OncePerMinute,
}

/// A delivery this turn claimed: what its commit records the answer under.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub conversation: String,
    pub activity_id: String,
    /// This attempt's claim.
    pub owner: String,
    /// The start of the de-duplication window when it was claimed.
    pub since: i64,
}

impl Delivery {
    /// The record of `answer` to this delivery, for the turn's commit.
    pub fn record(&self, answer: Answer) -> DeliveryRecord {
        DeliveryRecord {
            conversation: self.conversation.clone(),
            activity_id: self.activity_id.clone(),
            owner: self.owner.clone(),
            since: self.since,
            answer,
        }
    }
}

/// Whether the turn runs.
pub enum Admission {
    /// Run it; its commit records the answer (when the delivery has an id).
    Run(Option<Delivery>),
    /// Answered before: the same answer, no turn.
    Answered(Answer),
    /// Another attempt still holds it after the wait, or the claim could
    /// not be read: the channel should deliver it again shortly.
    Busy(&'static str),
}

/// What identifies a delivery: its conversation and activity id, both set.
fn delivery(activity: &Activity) -> Option<(String, String)> {
    let conversation = activity.conversation_id().filter(|c| !c.is_empty())?;
    let id = activity.id.as_deref().filter(|id| !id.is_empty())?;
    Some((conversation.to_owned(), id.to_owned()))
}

impl Deduplicator {
    /// `None` when `window` is zero: de-duplication is off.
    pub fn new(store: Arc<dyn DedupStore>, window: Duration) -> Option<Self> {
        (!window.is_zero()).then(|| Deduplicator {
            store,
            window_ms: window.as_millis() as i64,
            expiry: Default::default(),
        })
    }

    /// Claims this delivery of `activity` to `bot` for `hold` (past the
    /// turn's deadline), waiting up to `wait` while another attempt holds
    /// it. A storage failure is logged and answers `Busy`: running the turn
    /// unclaimed could apply it twice.
    pub async fn claim(
        &self,
        bot: &str,
        activity: &Activity,
        hold: Duration,
        wait: Duration,
    ) -> Admission {
        let Some((conversation, id)) = delivery(activity) else {
            return Admission::Run(None);
        };
        let owner = crate::support::ids::random_id();
        let give_up = now_millis() + wait.as_millis() as i64;
        let mut waited = false;
        loop {
            let since = now_millis() - self.window_ms;
            let until = now_millis() + hold.as_millis() as i64;
            let claimed = if self.store.quick_reads() {
                self.store
                    .claim(bot, &conversation, &id, &owner, until, since)
            } else {
                let (store, bot, conversation, id, owner) = (
                    self.store.clone(),
                    bot.to_owned(),
                    conversation.clone(),
                    id.clone(),
                    owner.clone(),
                );
                off_thread(move || store.claim(&bot, &conversation, &id, &owner, until, since))
                    .await
            };
            let run = Admission::Run(Some(Delivery {
                conversation: conversation.clone(),
                activity_id: id.clone(),
                owner: owner.clone(),
                since,
            }));
            match claimed {
                Ok(Claim::Claimed) => return run,
                Ok(Claim::Answered(answer)) => return Admission::Answered(answer),
                Ok(Claim::Held { .. }) if now_millis() >= give_up => {
                    tracing::warn!(
                        "the delivery is still claimed by another attempt; asking the channel to retry"
                    );
                    return Admission::Busy("DeliveryInProgress");
                }
                Ok(Claim::Held { until }) => {
                    if !waited {
                        tracing::info!(
                            until,
                            "the delivery is claimed by a running attempt; waiting"
                        );
                        waited = true;
                    }
                    let left = Duration::from_millis((until - now_millis()).max(1) as u64);
                    tokio::time::sleep(left.min(WAIT_STEP)).await;
                }
                Err(err) => {
                    tracing::warn!(error = %err, "cannot claim the delivery; asking the channel to retry");
                    return Admission::Busy("StorageUnavailable");
                }
            }
        }
    }

    /// Gives up a failed turn's claim, so that its retry runs at once.
    pub async fn release(&self, bot: &str, delivery: &Delivery) {
        let (store, bot, d) = (self.store.clone(), bot.to_owned(), delivery.clone());
        let released = off_thread(move || {
            store.release_claim(&bot, &d.conversation, &d.activity_id, &d.owner)
        })
        .await;
        if let Err(err) = released {
            tracing::warn!(error = %err, "cannot release the delivery's claim; a retry waits for it to lapse");
        }
    }

    /// Now and then (at most once a minute) forgets records older than
    /// the window.
    pub async fn forget_old(&self) {
        let now = now_millis();
        if !self.expiry.due(now) {
            return;
        }
        let (store, before) = (self.store.clone(), now - self.window_ms);
        if let Err(err) = off_thread(move || store.expire(before)).await {
            tracing::warn!(error = %err, "cannot forget old deliveries");
        }
    }
}

/// Runs a storage call on the blocking pool.
async fn off_thread<T: Send + 'static>(
    call: impl FnOnce() -> Result<T, StorageError> + Send + 'static,
) -> Result<T, StorageError> {
    tokio::task::spawn_blocking(call)
        .await
        .map_err(|e| StorageError::Backend(e.to_string()))?
}
