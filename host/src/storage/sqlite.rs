//! The embedded SQLite storage (WAL): one table of items keyed by namespace
//! and key, each with its eTag. Calls block: use them off the executor,
//! except the point reads that `quick_reads` allows on it (a file database
//! has read-only connections of their own, which WAL never makes wait for
//! the writer).

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;

use rusqlite::{Connection, OptionalExtension, params};

use super::{
    Change, Condition, Quota, Storage, StorageError, StoreItem, new_etag, now_millis,
    parse_stored_value,
};

pub struct SqliteStorage {
    conn: Mutex<Connection>,
    /// Read-only connections to the same file (none for an in-memory
    /// database, which no other connection can open).
    readers: Vec<Mutex<Connection>>,
}

/// WAL pages between automatic checkpoints.
const WAL_CHECKPOINT_PAGES: i64 = 10_000;

/// How many read-only connections a file database keeps.
fn reader_count() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get().clamp(2, 8))
}

/// A SQLite failure as a storage error (shared by the SQLite stores).
pub(super) fn backend(err: rusqlite::Error) -> StorageError {
    StorageError::Backend(err.to_string())
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS state_items (
    namespace TEXT NOT NULL,
    key       TEXT NOT NULL,
    value     TEXT NOT NULL,
    etag      TEXT NOT NULL,
    updated   INTEGER NOT NULL,
    PRIMARY KEY (namespace, key)
);
";

impl SqliteStorage {
    /// Opens (creating) the database at `path`.
    pub fn open(path: &Path) -> Result<Self, StorageError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| StorageError::Backend(e.to_string()))?;
        }
        let conn = Connection::open(path).map_err(backend)?;
        let mut storage = Self::init(conn)?;
        // Opened after the writer made the schema and switched to WAL.
        for _ in 0..reader_count() {
            let reader = Connection::open_with_flags(
                path,
                rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY
                    | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )
            .map_err(backend)?;
            reader
                .busy_timeout(std::time::Duration::from_secs(5))
                .map_err(backend)?;
            storage.readers.push(Mutex::new(reader));
        }
        Ok(storage)
    }

    /// A private in-memory database (tests, `turnbox test`).
    pub fn in_memory() -> Result<Self, StorageError> {
        Self::init(Connection::open_in_memory().map_err(backend)?)
    }

    fn init(conn: Connection) -> Result<Self, StorageError> {
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(backend)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(backend)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(backend)?;
        // Every channel turn writes a few rows (`group_commit.rs`): with
        // checkpoints every 10,000 pages (a WAL of up to ~40 MiB) instead of
        // SQLite's 1,000, a page rewritten by many turns is copied back to
        // the database once per checkpoint, not ten times (+6% turns/s in
        // docs/PERFORMANCE.md's harness).
        conn.pragma_update(None, "wal_autocheckpoint", WAL_CHECKPOINT_PAGES)
            .map_err(backend)?;
        conn.execute_batch(SCHEMA).map_err(backend)?;
        conn.execute_batch(super::transcripts::SCHEMA)
            .map_err(backend)?;
        conn.execute_batch(super::references::SCHEMA)
            .map_err(backend)?;
        conn.execute_batch(super::timers::SCHEMA).map_err(backend)?;
        conn.execute_batch(super::dedup::SCHEMA).map_err(backend)?;
        conn.execute_batch(super::directline::SCHEMA)
            .map_err(backend)?;
        Ok(SqliteStorage {
            conn: Mutex::new(conn),
            readers: Vec::new(),
        })
    }

    pub(super) fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether point reads through `reader` are quick enough to run on the
    /// async executor: only with read-only connections, which no writer
    /// holds up.
    pub(super) fn quick_reads(&self) -> bool {
        !self.readers.is_empty()
    }

    /// A free read-only connection (the writer's when there are none).
    pub(super) fn reader(&self) -> std::sync::MutexGuard<'_, Connection> {
        for reader in &self.readers {
            if let Ok(free) = reader.try_lock() {
                return free;
            }
        }
        match self.readers.first() {
            Some(reader) => reader.lock().unwrap_or_else(|p| p.into_inner()),
            None => self.conn(),
        }
    }
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
        let mut etags = HashMap::new();
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
            let current: Option<String> = tx
                .query_row(
                    "SELECT etag FROM state_items WHERE namespace = ?1 AND key = ?2",
                    params![namespace, change.key],
                    |row| row.get(0),
                )
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
            tx.execute(
                "INSERT INTO state_items (namespace, key, value, etag, updated) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value, etag = excluded.etag, updated = excluded.updated",
                params![namespace, change.key, text, etag, now_millis()],
            )
            .map_err(backend)?;
            etags.insert(change.key.clone(), etag);
        }
        let total: i64 = tx
            .query_row(
                "SELECT COALESCE(SUM(LENGTH(value)), 0) FROM state_items WHERE namespace = ?1",
                params![namespace],
                |row| row.get(0),
            )
            .map_err(backend)?;
        if total as u64 > quota.max_total_bytes {
            return Err(StorageError::QuotaExceeded {
                size: total as u64,
                limit: quota.max_total_bytes,
            });
        }
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
}

impl super::TurnRecords for SqliteStorage {
    fn commit_records(&self, records: &[super::TurnRecord]) -> Result<(), StorageError> {
        use super::TurnRecord;
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(backend)?;
        for record in records {
            match record {
                TurnRecord::Delivered {
                    bot,
                    conversation,
                    activity_id,
                    answer,
                } => super::dedup::record_delivery(&tx, bot, conversation, activity_id, answer)?,
                TurnRecord::Reference {
                    bot,
                    conversation,
                    reference,
                } => super::references::save(&tx, bot, conversation, reference)?,
            }
        }
        tx.commit().map_err(backend)
    }
}
