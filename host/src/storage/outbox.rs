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

    /// A stored route; `None` for one this host does not know.
    pub fn parse(text: &str) -> Option<Route> {
        match text {
            "dev" => Some(Route::Dev),
            "bot" => Some(Route::Bot),
            "internal" => Some(Route::Internal),
            _ => None,
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
    /// `None`: a route this host does not know (given up).
    pub route: Option<Route>,
    /// Failed posts so far.
    pub attempts: u32,
}

/// Every claim of rows has an owner (a random token): only the owner renews
/// or frees them, so a poster whose lease lapsed cannot free rows another
/// poster took over.
pub trait OutboxStore: Send + Sync {
    /// Claims for `owner`, until `until`, the rows of up to `conversations`
    /// conversations whose earliest row is free at `now` (never claimed, or
    /// its claim lapsed, or its retry is due): every free row of each, in
    /// order.
    fn claim_unsent(
        &self,
        now: i64,
        until: i64,
        owner: &str,
        conversations: u32,
    ) -> Result<Vec<Unsent>, StorageError>;

    /// Extends `owner`'s claim on rows to `until`; false when one of them is
    /// no longer `owner`'s (its claim lapsed and another poster took it).
    fn renew_unsent(&self, seqs: &[i64], owner: &str, until: i64) -> Result<bool, StorageError>;

    /// Frees `owner`'s rows at `at` (0: at once); `failed` counts one more
    /// failed post on each.
    fn release_unsent(
        &self,
        seqs: &[i64],
        owner: &str,
        at: i64,
        failed: bool,
    ) -> Result<(), StorageError>;

    /// Run at start-up: frees the claims no live host can hold. One host
    /// alone (SQLite) frees them all; a shared backend lets them lapse.
    fn release_all_unsent(&self) -> Result<(), StorageError>;
}
