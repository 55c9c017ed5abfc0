//! Storage for bot state: a small key-value trait with optimistic
//! concurrency (every item has an eTag), namespaced per bot, with quotas.
//! SQLite (`sqlite/`) is the embedded default, PostgreSQL (`postgres/`) the
//! one several hosts share; every backend must pass the conformance suite
//! in `tests/e2e/storage_suite.rs`. The other stores (transcripts,
//! references, timers, de-duplication records, Direct Line conversations)
//! live in the same database: `Database` is all of them.
//!
//! The layout: traits at the top, one file per store in each backend.
//! - `mod.rs` (this file): the contract: the `Storage` trait, its types
//!   (`StoreItem`, `Condition`, `Change`, `Quota`, `StorageError`),
//!   `Database`, `TurnRecord`/`TurnRecords` and `StorageLocation`.
//! - `transcripts.rs`, `references.rs`, `timers.rs`, `dedup.rs`,
//!   `directline.rs`: each store's trait, its types and the helpers both
//!   backends share.
//! - `commit.rs`: what one turn commits in one transaction (`TurnCommit`),
//!   and `TurnRecords`, the backends' side of it.
//! - `outbox.rs`: the sends held back for the commit, until posted.
//! - `accepted.rs`: turns whose request was answered before they ended,
//!   until they are over.
//! - `api_conversations.rs`: the conversations API's records over Direct
//!   Line conversations (metadata, receive cursor).
//! - `uploads.rs`: files uploaded through Direct Line, with the bot's
//!   quota checked in the insert's transaction.
//! - `skill_conversations.rs`: the skill conversation ids a root bot
//!   minted, each mapped to its original conversation reference.
//! - `group_commit.rs`: the turn records, committed in groups.
//! - `sqlite/`: `SqliteStorage`: `mod.rs` the connections and the turn
//!   records, `state.rs` the `Storage` impl, and one file per store.
//! - `postgres/`: `PgStorage`: `mod.rs` the pool, connecting, TLS and the
//!   turn records, `migrations.rs` the versioned schema, `state.rs` the
//!   `Storage` impl, one file per store, and `listen.rs` the Direct Line
//!   `LISTEN` loop.

pub mod accepted;
pub mod api_conversations;
pub mod commit;
pub mod dedup;
pub mod directline;
pub mod group_commit;
pub mod outbox;
pub mod postgres;
pub mod references;
pub mod skill_conversations;
pub mod sqlite;
pub mod timers;
pub mod transcripts;
pub mod uploads;

use std::collections::HashMap;

use serde_json::Value;

pub use commit::{Committed, RecordOutcomes, TurnCommit, TurnRecord, TurnRecords};
pub use postgres::PgStorage;
pub use sqlite::{SqliteOptions, SqliteStorage};

/// Every store the host keeps, in one database.
pub trait Database:
    Storage
    + transcripts::TranscriptStore
    + references::ReferenceStore
    + timers::TimerStore
    + dedup::DedupStore
    + directline::DirectLineStore
    + outbox::OutboxStore
    + accepted::AcceptedStore
    + api_conversations::ApiConversationStore
    + uploads::UploadStore
    + skill_conversations::SkillConversationStore
    + TurnRecords
{
}

impl<T> Database for T where
    T: Storage
        + transcripts::TranscriptStore
        + references::ReferenceStore
        + timers::TimerStore
        + dedup::DedupStore
        + directline::DirectLineStore
        + outbox::OutboxStore
        + accepted::AcceptedStore
        + api_conversations::ApiConversationStore
        + uploads::UploadStore
        + skill_conversations::SkillConversationStore
        + TurnRecords
{
}

/// Where the host keeps its data.
#[derive(Clone, PartialEq, Eq)]
pub enum StorageLocation {
    /// The embedded SQLite database `state.db` in the data folder.
    Sqlite,
    /// A PostgreSQL database several hosts may share.
    Postgres(String),
}

/// Without the URL's password: locations are logged.
impl std::fmt::Debug for StorageLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StorageLocation::Sqlite => f.write_str("sqlite"),
            StorageLocation::Postgres(url) => f.write_str(&redact_password(url)),
        }
    }
}

/// A database URL as it may be logged: any password replaced by `***`.
pub fn redact_password(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        Ok(parsed) => parsed.to_string(),
        Err(_) => "(an unparsable database URL)".into(),
    }
}

impl StorageLocation {
    /// `sqlite` (the default) or a `postgres://` / `postgresql://` URL.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.is_empty() || text.eq_ignore_ascii_case("sqlite") {
            Ok(StorageLocation::Sqlite)
        } else if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            Ok(StorageLocation::Postgres(text.to_string()))
        } else {
            Err("expected `sqlite` or a postgres:// URL".into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_parse_and_never_show_a_password() {
        assert_eq!(StorageLocation::parse("").unwrap(), StorageLocation::Sqlite);
        assert_eq!(
            StorageLocation::parse("SQLite").unwrap(),
            StorageLocation::Sqlite
        );
        assert!(StorageLocation::parse("mysql://x").is_err());
        let pg = StorageLocation::parse("postgres://turnbox:s3cret@db:5432/bots").unwrap();
        let shown = format!("{pg:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("db:5432/bots"), "{shown}");
        assert!(!format!("{:?}", StorageLocation::Postgres("::".into())).contains("::"));
    }
}

/// A stored value and its eTag.
#[derive(Debug, Clone, PartialEq)]
pub struct StoreItem {
    pub value: Value,
    pub etag: String,
}

/// When a write may happen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    /// Always (eTag `*`, or none): last writer wins.
    Any,
    /// Only when the stored eTag is this one; a new key always succeeds, as
    /// in botbuilder's storage contract.
    Match(String),
    /// Only when the key does not exist yet (create-only).
    Absent,
}

/// One change of a write.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub key: String,
    pub value: Value,
    pub condition: Condition,
}

/// Size limits of one namespace (a bot).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    /// The largest value, as JSON text, in bytes.
    pub max_value_bytes: u64,
    /// The most bytes of values one namespace may hold.
    pub max_total_bytes: u64,
}

impl Default for Quota {
    fn default() -> Self {
        Quota {
            max_value_bytes: 256 << 10,
            max_total_bytes: 64 << 20,
        }
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StorageError {
    #[error("eTag conflict on `{0}`: it changed since it was read")]
    Conflict(String),
    #[error("the value of `{key}` is {size} bytes, over the limit of {limit}")]
    ValueTooLarge { key: String, size: u64, limit: u64 },
    #[error("the state would hold {size} bytes, over the limit of {limit}")]
    QuotaExceeded { size: u64, limit: u64 },
    #[error("the delivery's claim passed to another attempt; nothing was saved")]
    ClaimLost,
    #[error("storage failed: {0}")]
    Backend(String),
}

/// The storage contract. Writes are atomic: all changes or none.
pub trait Storage: Send + Sync {
    fn read(
        &self,
        namespace: &str,
        keys: &[String],
    ) -> Result<HashMap<String, StoreItem>, StorageError>;

    /// Applies `changes`; returns the new eTag of each key.
    fn write(
        &self,
        namespace: &str,
        changes: &[Change],
        quota: &Quota,
    ) -> Result<HashMap<String, String>, StorageError>;

    fn delete(&self, namespace: &str, keys: &[String]) -> Result<(), StorageError>;

    /// The bytes of values a namespace holds.
    fn total_bytes(&self, namespace: &str) -> Result<u64, StorageError>;

    /// Deletes the namespace's items last written before `before_ms` (Unix
    /// ms); returns how many. For records the host keeps for a while only.
    fn forget_older(&self, namespace: &str, before_ms: i64) -> Result<usize, StorageError>;
}

/// A stored state value (JSON text) read back; `key` names it in the error.
fn parse_stored_value(key: &str, text: &str) -> Result<Value, StorageError> {
    serde_json::from_str(text)
        .map_err(|e| StorageError::Backend(format!("`{key}` holds invalid JSON: {e}")))
}

/// A fresh random eTag: never reused, even after a delete.
pub fn new_etag() -> String {
    crate::support::ids::random_id()
}
