//! De-duplication records: the answer given to each delivered activity, by
//! bot, conversation and activity id, kept for a window. Channels re-send
//! an activity they got no answer to in time; `turn::dispatch` answers such a
//! duplicate with the first answer instead of running the turn again.
//!
//! A delivery is claimed when its turn starts: a duplicate that arrives
//! while the first attempt still runs waits for the claim to be answered
//! or to lapse. On a backend that hosts share (PostgreSQL) the claim is an
//! "in progress" row with an owner and a lease; the answer is recorded by
//! the turn's commit only while the claim is still its owner's. On SQLite,
//! one host alone uses the database (it locks the data folder), and a
//! conversation's turns run in order on that host, so the claim is the
//! host's conversation order and `claim` only looks for an answer.

use super::StorageError;

/// The answer a turn's request got: what a duplicate gets too.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub status: u16,
    /// The body as JSON text, serialized once: the same bytes are sent and
    /// recorded.
    pub body: Option<String>,
}

/// What claiming a delivery found.
#[derive(Debug, Clone, PartialEq)]
pub enum Claim {
    /// Already answered: the same answer again, no turn.
    Answered(Answer),
    /// Claimed for this owner: run the turn.
    Claimed,
    /// Another owner's attempt holds it until this time (Unix ms).
    Held { until: i64 },
}

/// Where delivered activities are remembered.
pub trait DedupStore: Send + Sync {
    /// Claims the delivery for `owner` until `until`, unless it was answered
    /// since `since_ms` or another owner's claim holds it at `now`.
    fn claim(
        &self,
        bot: &str,
        conversation: &str,
        activity_id: &str,
        owner: &str,
        until: i64,
        since_ms: i64,
    ) -> Result<Claim, StorageError>;

    /// Gives up `owner`'s claim (the turn failed): a retry runs at once.
    fn release_claim(
        &self,
        bot: &str,
        conversation: &str,
        activity_id: &str,
        owner: &str,
    ) -> Result<(), StorageError>;

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
