//! De-duplication records: the answer given to each delivered activity, by
//! bot, conversation and activity id, kept for a window. Channels re-send
//! an activity they got no answer to in time; `turn::dispatch` answers such a
//! duplicate with the first answer instead of running the turn again.

use super::StorageError;

/// The answer a turn's request got: what a duplicate gets too.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub status: u16,
    /// The body as JSON text, serialized once: the same bytes are sent and
    /// recorded.
    pub body: Option<String>,
}

/// Where delivered activities are remembered.
pub trait DedupStore: Send + Sync {
    /// The answer recorded for this activity since `since_ms` (Unix ms).
    fn answered(
        &self,
        bot: &str,
        conversation: &str,
        activity_id: &str,
        since_ms: i64,
    ) -> Result<Option<Answer>, StorageError>;

    /// Records the answer to an activity, now.
    fn record(
        &self,
        bot: &str,
        conversation: &str,
        activity_id: &str,
        answer: &Answer,
    ) -> Result<(), StorageError>;

    /// Forgets records older than `before_ms`; returns how many.
    fn expire(&self, before_ms: i64) -> Result<usize, StorageError>;

    /// Whether `answered` is quick enough (a local point read that no
    /// writer holds up) to call on the async executor instead of the
    /// blocking pool: one thread crossing less per turn.
    fn quick_reads(&self) -> bool {
        false
    }
}
