//! The SQLite store of uploaded files (`UploadStore`): the `uploads` table,
//! one row per file with its bytes; the quota is checked in the insert's
//! own (immediate) transaction.

use rusqlite::{OptionalExtension, params};

use super::{SqliteStorage, backend};
use crate::storage::StorageError;
use crate::storage::uploads::{StoredFile, UploadBatch, UploadStore, check_quota, record};

pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS uploads (
    bot          TEXT NOT NULL,
    id           TEXT NOT NULL,
    conversation TEXT NOT NULL,
    name         TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size         INTEGER NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    bytes        BLOB NOT NULL,
    PRIMARY KEY (bot, id)
);
CREATE INDEX IF NOT EXISTS uploads_expiry ON uploads (expires_at);
";

fn held(conn: &rusqlite::Connection, bot: &str, now: i64) -> Result<u64, StorageError> {
    let bytes: i64 = conn
        .prepare_cached(
            "SELECT COALESCE(SUM(size), 0) FROM uploads WHERE bot = ?1 AND expires_at > ?2",
        )
        .map_err(backend)?
        .query_row(params![bot, now], |row| row.get(0))
        .map_err(backend)?;
    Ok(bytes.max(0) as u64)
}

impl UploadStore for SqliteStorage {
    fn store_files(&self, batch: &UploadBatch<'_>) -> Result<Vec<StoredFile>, StorageError> {
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(backend)?;
        check_quota(batch, held(&tx, batch.bot, batch.now)?)?;
        let mut stored = Vec::with_capacity(batch.files.len());
        for file in batch.files {
            let row = record(batch, file);
            tx.prepare_cached(
                "INSERT INTO uploads
                 (bot, id, conversation, name, content_type, size, created_at, expires_at, bytes)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )
            .map_err(backend)?
            .execute(params![
                row.bot,
                row.id,
                row.conversation,
                row.name,
                row.content_type,
                row.size as i64,
                row.created_at,
                row.expires_at,
                file.bytes
            ])
            .map_err(backend)?;
            stored.push(row);
        }
        tx.commit().map_err(backend)?;
        Ok(stored)
    }

    fn file(
        &self,
        bot: &str,
        id: &str,
        now: i64,
    ) -> Result<Option<(StoredFile, Vec<u8>)>, StorageError> {
        self.reader()
            .prepare_cached(
                "SELECT conversation, name, content_type, size, created_at, expires_at, bytes
                 FROM uploads WHERE bot = ?1 AND id = ?2 AND expires_at > ?3",
            )
            .map_err(backend)?
            .query_row(params![bot, id, now], |row| {
                Ok((
                    StoredFile {
                        id: id.to_owned(),
                        bot: bot.to_owned(),
                        conversation: row.get(0)?,
                        name: row.get(1)?,
                        content_type: row.get(2)?,
                        size: row.get::<_, i64>(3)?.max(0) as u64,
                        created_at: row.get(4)?,
                        expires_at: row.get(5)?,
                    },
                    row.get(6)?,
                ))
            })
            .optional()
            .map_err(backend)
    }

    fn delete_files(&self, bot: &str, ids: &[String]) -> Result<(), StorageError> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(backend)?;
        for id in ids {
            tx.prepare_cached("DELETE FROM uploads WHERE bot = ?1 AND id = ?2")
                .map_err(backend)?
                .execute(params![bot, id])
                .map_err(backend)?;
        }
        tx.commit().map_err(backend)
    }

    fn sweep_files(&self, now: i64) -> Result<u64, StorageError> {
        let deleted = self
            .conn()
            .execute("DELETE FROM uploads WHERE expires_at <= ?1", [now])
            .map_err(backend)?;
        Ok(deleted as u64)
    }

    fn stored_bytes(&self, bot: &str, now: i64) -> Result<u64, StorageError> {
        held(&self.conn(), bot, now)
    }
}
