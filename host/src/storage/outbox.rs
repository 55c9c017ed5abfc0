//! The outbox: the sends a turn held back until its commit, stored in the
//! commit's transaction and removed once posted. The committing host posts
//! them at once under a lease; rows left behind (the host died, or a post
//! failed and waits for its retry) are claimed by the relay
//! (`turn::relay`) on any host, a conversation's rows in order: a
//! conversation is claimed only when its earliest row is free.

use super::StorageError;

/// How the relay reaches the channel for a row: the turn's outbound, as
/// data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// Dev mode: no token, within the allowlist.
    Dev,
    /// With the bot's token (the bot has an app id).
    Bot,
    /// The host's own Direct Line channel.
    Internal,
}

impl Route {
    pub fn as_str(self) -> &'static str {
        match self {
            Route::Dev => "dev",
            Route::Bot => "bot",
            Route::Internal => "internal",
        }
    }

    /// A stored route; anything unknown is posted as dev mode would.
    pub fn parse(text: &str) -> Route {
        match text {
            "bot" => Route::Bot,
            "internal" => Route::Internal,
            _ => Route::Dev,
        }
    }
}

/// A send to store.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxRow {
    pub conversation: String,
    /// The activity's JSON, with its stable id set.
    pub activity: String,
    pub route: Route,
}

/// A stored send, claimed for posting.
#[derive(Debug, Clone, PartialEq)]
pub struct Unsent {
    pub seq: i64,
    pub bot: String,
    pub conversation: String,
    pub activity: String,
    pub route: Route,
    /// Failed posts so far.
    pub attempts: u32,
}

pub trait OutboxStore: Send + Sync {
    /// Claims, until `until`, the rows of up to `conversations`
    /// conversations whose earliest row is free at `now` (never claimed, or
    /// its claim lapsed, or its retry is due): every free row of each, in
    /// order.
    fn claim_unsent(
        &self,
        now: i64,
        until: i64,
        conversations: u32,
    ) -> Result<Vec<Unsent>, StorageError>;

    /// Frees claimed rows at `at` (0: at once); `failed` counts one more
    /// failed post on each.
    fn release_unsent(&self, seqs: &[i64], at: i64, failed: bool) -> Result<(), StorageError>;

    /// Removes rows (posted, or given up).
    fn remove_unsent(&self, seqs: &[i64]) -> Result<(), StorageError>;

    /// Run at start-up: frees the claims no live host can hold. One host
    /// alone (SQLite) frees them all; a shared backend lets them lapse.
    fn release_all_unsent(&self) -> Result<(), StorageError>;
}
