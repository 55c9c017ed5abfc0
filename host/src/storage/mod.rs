//! Storage for bot state: a small key-value trait with optimistic
//! concurrency (every item has an eTag), namespaced per bot, with quotas.
//! SQLite (`sqlite.rs`) is the embedded default; every backend must pass the
//! suite in `suite.rs`.

pub mod dedup;
pub mod references;
pub mod sqlite;
#[cfg(test)]
mod suite;
pub mod timers;
pub mod transcripts;

use std::collections::HashMap;

use serde_json::Value;

pub use sqlite::SqliteStorage;

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
}

/// A fresh random eTag: never reused, even after a delete.
pub fn new_etag() -> String {
    let mut bytes = [0u8; 12];
    if getrandom::fill(&mut bytes).is_err() {
        // Fall back to the clock; uniqueness within a process is enough.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        return format!("{nanos:x}");
    }
    hex::encode(bytes)
}
