//! Turns accepted before they ended: a channel's request answered early
//! (`ack_after_ms`) while its turn went on, or a user's message the host
//! logged itself (Direct Line, the conversations API), kept from its log
//! append on. No channel will deliver the activity again, so the host
//! keeps it until the turn is over; a row
//! whose host died is claimed, once its lease lapses, by a host that runs
//! the turn again (`turn::resume`). The delivery's claim and record
//! (`dedup.rs`) keep that run from applying the turn twice.

use super::StorageError;
use super::outbox::Route;

/// A turn accepted and not yet over.
#[derive(Debug, Clone, PartialEq)]
pub struct AcceptedTurn {
    pub bot: String,
    pub conversation: String,
    pub activity_id: String,
    /// The activity's JSON, as the turn got it (authenticated, `callerId`
    /// set).
    pub activity: String,
    /// How its replies reach the channel.
    pub route: Route,
}

/// A kept turn claimed to run again, with when it was first accepted.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimedTurn {
    pub turn: AcceptedTurn,
    /// When the turn was first accepted (Unix ms): a turn whose bot stays
    /// unloaded is given up a while after it.
    pub accepted_at: i64,
}

/// Claims have an owner (a random token) and an end, as the outbox's do.
pub trait AcceptedStore: Send + Sync {
    /// Keeps `turn`, held by `owner` until `until` (Unix ms).
    fn accept_turn(&self, turn: &AcceptedTurn, owner: &str, until: i64)
    -> Result<(), StorageError>;

    /// The turn is over (done, failed, or answered before): forgets it.
    fn finish_turn(
        &self,
        bot: &str,
        conversation: &str,
        activity_id: &str,
    ) -> Result<(), StorageError>;

    /// Claims for `owner`, until `until`, at most `n` turns whose claim
    /// lapsed at `now`, oldest first.
    fn claim_accepted(
        &self,
        now: i64,
        until: i64,
        owner: &str,
        n: u32,
    ) -> Result<Vec<ClaimedTurn>, StorageError>;

    /// Frees `owner`'s claims at once: a host that stops with turns still
    /// running leaves them to the others without waiting for the lease.
    fn release_accepted(&self, owner: &str) -> Result<(), StorageError>;

    /// Run at start-up: frees the claims no live host can hold. One host
    /// alone (SQLite) frees them all; a shared backend lets them lapse.
    fn release_all_accepted(&self) -> Result<(), StorageError>;
}
