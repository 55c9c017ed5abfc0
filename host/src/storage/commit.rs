//! The contract of a turn's commit: everything one turn changes (its state
//! with the eTags it read, its timers, the delivery record with its answer,
//! the conversation reference, the sends held back for the commit as outbox
//! rows) in one transaction, all or none. Several turns commit in one
//! transaction (`group_commit.rs`), each in a savepoint of its own, so a turn
//! whose compare-and-set fails is rolled back alone.

use serde_json::Value;

use super::dedup::Answer;
use super::outbox::OutboxRow;
use super::timers::TimerOp;
use super::{Change, Quota, StorageError};

/// What one turn commits.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TurnCommit {
    /// The bot: its state namespace, and the owner of the rows below.
    pub bot: String,
    /// The state writes, each checked against the eTag it was read with.
    pub state: Vec<Change>,
    pub quota: Quota,
    /// Timers scheduled and cancelled, in order.
    pub timers: Vec<TimerOp>,
    /// The timer whose turn this is: removed, so it fires once. When it is
    /// gone already (another host fired it after this host's claim lapsed),
    /// the commit fails with `ClaimLost`.
    pub fired_timer: Option<String>,
    /// The channel delivery this turn answers (de-duplication).
    pub delivery: Option<DeliveryRecord>,
    /// The conversation's latest reference, for proactive messages:
    /// (conversation id, reference).
    pub reference: Option<(String, Value)>,
    /// The delivery this turn answers may have been accepted before it
    /// ended (`accepted.rs`): its kept row, (conversation, activity id), is
    /// removed in this transaction, so a committed turn is never resumed.
    pub accepted: Option<(String, String)>,
    /// The sends held back for the commit, in order.
    pub outbox: Vec<OutboxRow>,
    /// Until when the outbox rows are claimed by the committing host, which
    /// posts them at once; another host's relay takes them over after that.
    pub outbox_lease_until: i64,
    /// The committing attempt's claim on its outbox rows.
    pub outbox_owner: String,
}

impl TurnCommit {
    /// Whether there is nothing to commit.
    pub fn is_empty(&self) -> bool {
        self.state.is_empty()
            && self.timers.is_empty()
            && self.fired_timer.is_none()
            && self.delivery.is_none()
            && self.reference.is_none()
            && self.accepted.is_none()
            && self.outbox.is_empty()
    }
}

/// The answer to a delivery, recorded by the claim's owner.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryRecord {
    pub conversation: String,
    pub activity_id: String,
    /// Who claimed the delivery (`dedup.rs`): on a backend that hosts share,
    /// the record is written only while the claim is still this owner's.
    pub owner: String,
    /// The start of the de-duplication window (Unix ms): an answer recorded
    /// since then means another attempt applied this delivery already, and
    /// this commit fails with `ClaimLost`.
    pub since: i64,
    pub answer: Answer,
}

/// What a committed turn's outbox became.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Committed {
    /// The outbox rows' sequence numbers, in order.
    pub outbox: Vec<i64>,
    /// Whether the committer may post them now: no earlier row of the
    /// conversation waits in the outbox. Otherwise they are left, unclaimed,
    /// to the relay, which posts a conversation's rows in order.
    pub post_now: bool,
}

/// What the host commits in groups (`group_commit.rs`).
#[derive(Debug, Clone, PartialEq)]
pub enum TurnRecord {
    /// A turn's commit.
    Turn(Box<TurnCommit>),
    /// A recorded answer replaced (the middleware changed the replies after
    /// the commit).
    Answer {
        bot: String,
        conversation: String,
        activity_id: String,
        answer: Answer,
    },
    /// Outbox rows of a conversation posted (or dropped): removed.
    Posted {
        bot: String,
        conversation: String,
        seqs: Vec<i64>,
    },
}

impl TurnRecord {
    /// Whether it follows up a turn committed before (its outbox rows
    /// posted, its answer replaced) rather than commit a turn: committed
    /// until the committer stops, after turns' commits are refused.
    pub fn is_follow_up(&self) -> bool {
        !matches!(self, TurnRecord::Turn(_))
    }

    /// The (bot, conversation) the record belongs to, if any: records of
    /// one conversation commit in the order they were submitted.
    pub fn conversation(&self) -> Option<(&str, &str)> {
        match self {
            TurnRecord::Turn(turn) => turn
                .delivery
                .as_ref()
                .map(|d| d.conversation.as_str())
                .or(turn.reference.as_ref().map(|(c, _)| c.as_str()))
                .or(turn.outbox.first().map(|row| row.conversation.as_str()))
                .map(|c| (turn.bot.as_str(), c)),
            TurnRecord::Answer {
                bot, conversation, ..
            }
            | TurnRecord::Posted {
                bot, conversation, ..
            } => Some((bot, conversation)),
        }
    }
}

/// The outcome of each record of a batch, in order: a turn's own failure
/// (an eTag conflict, a quota, a lost claim) fails only that turn.
pub type RecordOutcomes = Vec<Result<Committed, StorageError>>;

/// Records committed together in one transaction.
pub trait TurnRecords: Send + Sync {
    /// Commits `records`; the outer error fails them all (the transaction
    /// did not commit).
    fn commit_records(&self, records: &[TurnRecord]) -> Result<RecordOutcomes, StorageError>;

    /// How many committers may run at once: 1 for a database with a single
    /// writer (SQLite), more for one that takes concurrent transactions.
    fn committers(&self) -> usize {
        1
    }
}
