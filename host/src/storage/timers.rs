//! Durable timers: scheduled by a bot's turn, stored, claimed when due by
//! the host's timer loop, and removed once fired, so each fires once.

use serde_json::Value;

use super::StorageError;

/// A stored timer.
#[derive(Debug, Clone, PartialEq)]
pub struct Timer {
    pub id: String,
    pub bot: String,
    /// When it is due, in milliseconds since the Unix epoch.
    pub due: i64,
    pub name: String,
    pub value: Option<Value>,
    /// The conversation reference of the turn that scheduled it.
    pub reference: Value,
}

/// A timer change made by a turn, applied when the turn commits.
#[derive(Debug, Clone, PartialEq)]
pub enum TimerOp {
    Schedule(Timer),
    Cancel(String),
}

pub trait TimerStore: Send + Sync {
    fn schedule(&self, timer: &Timer) -> Result<(), StorageError>;
    /// Removes a pending timer of `bot`; false when there was none.
    fn cancel(&self, bot: &str, id: &str) -> Result<bool, StorageError>;
    /// Whether `bot` has a pending timer `id`.
    fn exists(&self, bot: &str, id: &str) -> Result<bool, StorageError>;
    /// Claims up to `limit` timers due at `now`, earliest first: no other
    /// claim (on any host) returns them until they are released, or, on a
    /// backend that hosts share, until the claim's lease lapses.
    fn claim_due(&self, now: i64, limit: u32) -> Result<Vec<Timer>, StorageError>;
    /// Removes a fired timer.
    fn complete(&self, id: &str) -> Result<(), StorageError>;
    /// Makes a claimed timer due again at `due`.
    fn release(&self, id: &str, due: i64) -> Result<(), StorageError>;
    /// Run at start-up: releases the claims no live host can hold. One
    /// host alone (SQLite) releases them all; a shared backend
    /// (PostgreSQL) lets a dead host's claims lapse instead.
    fn release_all(&self) -> Result<(), StorageError>;
}

impl Timer {
    /// A timer from its stored columns (the value and reference as JSON
    /// text; unreadable JSON gives none and `null`).
    pub(super) fn from_stored(
        id: String,
        bot: String,
        due: i64,
        name: String,
        value: Option<String>,
        reference: String,
    ) -> Timer {
        Timer {
            id,
            bot,
            due,
            name,
            value: value.and_then(|v| serde_json::from_str(&v).ok()),
            reference: serde_json::from_str(&reference).unwrap_or(Value::Null),
        }
    }
}
