//! The SQLite state store (`Storage`): bot state items in the
//! `state_items` table, keyed by namespace and key, each with a random eTag
//! checked in the write's immediate transaction.

use std::collections::HashMap;

use rusqlite::{OptionalExtension, params};

use super::{SqliteStorage, backend};
use crate::storage::{
    Change, Condition, Quota, Storage, StorageError, StoreItem, new_etag, parse_stored_value,
};
use crate::support::clock::now_millis;

pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS state_items (
    namespace TEXT NOT NULL,
    key       TEXT NOT NULL,
    value     TEXT NOT NULL,
    etag      TEXT NOT NULL,
    updated   INTEGER NOT NULL,
    PRIMARY KEY (namespace, key)
);
";

/// The data's version (`PRAGMA user_version`) after `migrate`.
const DATA_VERSION: i64 = 1;

/// Brings the state of an older host's database up to date (after
/// `SCHEMA`), once. Version 1: exchanged SSO ids moved out of the bots'
/// state, where they counted against its quota and never expired
/// (`turn/middleware/signin.rs`); the old records go.
pub(super) fn migrate(conn: &rusqlite::Connection) -> Result<(), StorageError> {
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(backend)?;
    if version >= DATA_VERSION {
        return Ok(());
    }
    let gone = conn
        .execute(
            "DELETE FROM state_items WHERE key GLOB 'turnbox/signin-token-exchange/*'",
            [],
        )
        .map_err(backend)?;
    if gone > 0 {
        tracing::info!(
            records = gone,
            "exchanged SSO ids moved out of the bots' state"
        );
    }
    conn.pragma_update(None, "user_version", DATA_VERSION)
        .map_err(backend)
}

impl Storage for SqliteStorage {
    fn read(
        &self,
        namespace: &str,
        keys: &[String],
    ) -> Result<HashMap<String, StoreItem>, StorageError> {
        let conn = self.conn();
        let mut statement = conn
            .prepare_cached("SELECT value, etag FROM state_items WHERE namespace = ?1 AND key = ?2")
            .map_err(backend)?;
        let mut items = HashMap::new();
        for key in keys {
            let row: Option<(String, String)> = statement
                .query_row(params![namespace, key], |row| {
                    Ok((row.get(0)?, row.get(1)?))
                })
                .optional()
                .map_err(backend)?;
            if let Some((text, etag)) = row {
                let value = parse_stored_value(key, &text)?;
                items.insert(key.clone(), StoreItem { value, etag });
            }
        }
        Ok(items)
    }

    fn write(
        &self,
        namespace: &str,
        changes: &[Change],
        quota: &Quota,
    ) -> Result<HashMap<String, String>, StorageError> {
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(backend)?;
        let etags = write_changes(&tx, namespace, changes, quota)?;
        tx.commit().map_err(backend)?;
        Ok(etags)
    }

    fn delete(&self, namespace: &str, keys: &[String]) -> Result<(), StorageError> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(backend)?;
        for key in keys {
            tx.execute(
                "DELETE FROM state_items WHERE namespace = ?1 AND key = ?2",
                params![namespace, key],
            )
            .map_err(backend)?;
        }
        tx.commit().map_err(backend)
    }

    fn total_bytes(&self, namespace: &str) -> Result<u64, StorageError> {
        let total: i64 = self
            .conn()
            .query_row(
                "SELECT COALESCE(SUM(LENGTH(value)), 0) FROM state_items WHERE namespace = ?1",
                params![namespace],
                |row| row.get(0),
            )
            .map_err(backend)?;
        Ok(total as u64)
    }

    fn forget_older(&self, namespace: &str, before_ms: i64) -> Result<usize, StorageError> {
        self.conn()
            .execute(
                "DELETE FROM state_items WHERE namespace = ?1 AND updated < ?2",
                params![namespace, before_ms],
            )
            .map_err(backend)
    }
}

/// Applies `changes` on `conn` (inside the caller's transaction or
/// savepoint, which the caller rolls back on an error): each checked
/// against its condition, then the namespace's quota.
pub(super) fn write_changes(
    conn: &rusqlite::Connection,
    namespace: &str,
    changes: &[Change],
    quota: &Quota,
) -> Result<HashMap<String, String>, StorageError> {
    let mut etags = HashMap::new();
    let now = now_millis();
    for change in changes {
        let text = change.value.to_string();
        let size = text.len() as u64;
        if size > quota.max_value_bytes {
            return Err(StorageError::ValueTooLarge {
                key: change.key.clone(),
                size,
                limit: quota.max_value_bytes,
            });
        }
        let current: Option<String> = conn
            .prepare_cached("SELECT etag FROM state_items WHERE namespace = ?1 AND key = ?2")
            .map_err(backend)?
            .query_row(params![namespace, change.key], |row| row.get(0))
            .optional()
            .map_err(backend)?;
        let allowed = match (&change.condition, &current) {
            (Condition::Any, _) => true,
            (Condition::Match(_), None) => true,
            (Condition::Match(expected), Some(actual)) => expected == actual,
            (Condition::Absent, current) => current.is_none(),
        };
        if !allowed {
            return Err(StorageError::Conflict(change.key.clone()));
        }
        let etag = new_etag();
        conn.prepare_cached(
            "INSERT INTO state_items (namespace, key, value, etag, updated) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value, etag = excluded.etag, updated = excluded.updated",
        )
        .map_err(backend)?
        .execute(params![namespace, change.key, text, etag, now])
        .map_err(backend)?;
        etags.insert(change.key.clone(), etag);
    }
    let total: i64 = conn
        .prepare_cached(
            "SELECT COALESCE(SUM(LENGTH(value)), 0) FROM state_items WHERE namespace = ?1",
        )
        .map_err(backend)?
        .query_row(params![namespace], |row| row.get(0))
        .map_err(backend)?;
    if total as u64 > quota.max_total_bytes {
        return Err(StorageError::QuotaExceeded {
            size: total as u64,
            limit: quota.max_total_bytes,
        });
    }
    Ok(etags)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A database an older host wrote, with exchanged SSO ids in a bot's
    /// state: reopened, those records are gone and the bot's own state and
    /// a key of a like name stay; opened again, nothing more is touched.
    #[test]
    fn older_exchange_records_leave_the_bots_state_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        {
            let conn = rusqlite::Connection::open(&path).unwrap();
            conn.execute_batch(SCHEMA).unwrap();
            for key in [
                "turnbox/signin-token-exchange/msteams/c1/id-1",
                "turnbox/signin-token-exchange/msteams/c1/id-2",
                "msteams/conversations/c1/state",
                "turnbox/conversations/turnbox-signin-token-exchange/state",
            ] {
                conn.execute(
                    "INSERT INTO state_items (namespace, key, value, etag, updated) VALUES ('bot', ?1, '{}', 'e', 0)",
                    params![key],
                )
                .unwrap();
            }
        }
        let all = |storage: &SqliteStorage| -> Vec<String> {
            let conn = storage.conn();
            let mut keys = conn
                .prepare("SELECT key FROM state_items ORDER BY key")
                .unwrap();
            keys.query_map([], |row| row.get(0))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap()
        };
        let storage = SqliteStorage::open(&path).unwrap();
        assert_eq!(
            all(&storage),
            [
                "msteams/conversations/c1/state",
                "turnbox/conversations/turnbox-signin-token-exchange/state"
            ]
        );
        // Written after the migration, by today's host: kept on reopening.
        storage
            .conn()
            .execute(
                "INSERT INTO state_items (namespace, key, value, etag, updated) VALUES ('bot', 'turnbox/signin-token-exchange/x', '{}', 'e', 0)",
                [],
            )
            .unwrap();
        drop(storage);
        let storage = SqliteStorage::open(&path).unwrap();
        assert_eq!(all(&storage).len(), 3);
    }
}
