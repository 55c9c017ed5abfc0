//! De-duplication of channel deliveries. A channel that got no answer in
//! time (15 s for Bot Framework channels) sends the same activity again;
//! the bot must not run the turn twice. For each bot, conversation and
//! activity id, the answer of a turn that ended well is recorded
//! (`storage/dedup.rs`) inside the conversation's turn order, so a
//! duplicate, which queues behind the original, finds it and gets the same
//! answer without a turn. A failed turn records nothing: its retry runs.

use std::sync::Arc;
use std::time::Duration;

use crate::schema::activity::Activity;
use crate::storage::dedup::{Answer, DedupStore};
use crate::storage::group_commit::GroupCommit;
use crate::storage::{StorageError, TurnRecord};
use crate::support::clock::now_millis;

/// How long deliveries are remembered by default.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(600);

/// The de-duplication window over a store.
pub struct Deduplicator {
    store: Arc<dyn DedupStore>,
    /// Where answers are recorded (in the same database).
    records: Arc<GroupCommit>,
    window_ms: i64,
    /// Old records are forgotten at most once a minute.
    expiry: crate::support::clock::OncePerMinute,
}

/// What identifies a delivery: its conversation and activity id, both set.
fn delivery(activity: &Activity) -> Option<(String, String)> {
    let conversation = activity.conversation_id().filter(|c| !c.is_empty())?;
    let id = activity.id.as_deref().filter(|id| !id.is_empty())?;
    Some((conversation.to_owned(), id.to_owned()))
}

impl Deduplicator {
    /// `None` when `window` is zero: de-duplication is off.
    pub fn new(
        store: Arc<dyn DedupStore>,
        records: Arc<GroupCommit>,
        window: Duration,
    ) -> Option<Self> {
        (!window.is_zero()).then(|| Deduplicator {
            store,
            records,
            window_ms: window.as_millis() as i64,
            expiry: Default::default(),
        })
    }

    /// The answer already given to this delivery of `activity` to `bot`.
    /// A storage failure is logged and counts as "not seen": the turn runs.
    pub async fn answered(&self, bot: &str, activity: &Activity) -> Option<Answer> {
        let (conversation, id) = delivery(activity)?;
        let since = now_millis() - self.window_ms;
        const WHAT: &str = "read de-duplication records";
        if self.store.quick_reads() {
            return logged(WHAT, self.store.answered(bot, &conversation, &id, since)).flatten();
        }
        let (store, bot) = (self.store.clone(), bot.to_owned());
        off_thread(WHAT, move || {
            store.answered(&bot, &conversation, &id, since)
        })
        .await
        .flatten()
    }

    /// Records the answer to this delivery, and now and then forgets
    /// records older than the window.
    pub async fn record(&self, bot: &str, activity: &Activity, answer: Answer) {
        let Some((conversation, id)) = delivery(activity) else {
            return;
        };
        let now = now_millis();
        let expire_before = self.expiry.due(now).then_some(now - self.window_ms);
        let record = TurnRecord::Delivered {
            bot: bot.to_owned(),
            conversation,
            activity_id: id,
            answer,
        };
        // Committed with the other turns' records; durable before the
        // answer leaves.
        if let Err(err) = self.records.commit(record).await {
            tracing::warn!(error = %err, "cannot record the delivery");
        }
        if let Some(before) = expire_before {
            let store = self.store.clone();
            off_thread("forget old deliveries", move || store.expire(before)).await;
        }
    }
}

/// Runs a storage call on the blocking pool; a failure is logged (the turn
/// goes on without de-duplication) and gives `None`.
async fn off_thread<T: Send + 'static>(
    what: &'static str,
    call: impl FnOnce() -> Result<T, StorageError> + Send + 'static,
) -> Option<T> {
    match tokio::task::spawn_blocking(call).await {
        Ok(result) => logged(what, result),
        Err(err) => {
            tracing::warn!(error = %err, "cannot {what}");
            None
        }
    }
}

/// A storage call's value; a failure is logged and gives `None`.
fn logged<T>(what: &str, result: Result<T, StorageError>) -> Option<T> {
    result
        .inspect_err(|err| tracing::warn!(error = %err, "cannot {what}"))
        .ok()
}
