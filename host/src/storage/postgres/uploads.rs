//! The PostgreSQL store of uploaded files (`UploadStore`): the `uploads`
//! table (migration 6). An upload takes the bot's advisory transaction lock
//! before it sums the bot's files, so that concurrent uploads (on any host)
//! check the quota one after another.

use super::{PgStorage, backend};
use crate::storage::StorageError;
use crate::storage::uploads::{StoredFile, UploadBatch, UploadStore, check_quota, record};

/// The first key of the bots' upload locks (the second is the bot's hash),
/// apart from the single-key locks of `migrations.rs`.
const UPLOAD_LOCK_CLASS: i32 = 0x7570_6c64; // "upld"

fn held(conn: &mut impl postgres::GenericClient, bot: &str, now: i64) -> Result<u64, StorageError> {
    let bytes: i64 = conn
        .query_one(
            "SELECT COALESCE(SUM(size), 0)::BIGINT FROM uploads WHERE bot = $1 AND expires_at > $2",
            &[&bot, &now],
        )
        .map_err(backend)?
        .get(0);
    Ok(bytes.max(0) as u64)
}

impl UploadStore for PgStorage {
    fn store_files(&self, batch: &UploadBatch<'_>) -> Result<Vec<StoredFile>, StorageError> {
        let mut conn = self.conn()?;
        let mut tx = conn.transaction().map_err(backend)?;
        tx.execute(
            "SELECT pg_advisory_xact_lock($1, hashtext($2))",
            &[&UPLOAD_LOCK_CLASS, &batch.bot],
        )
        .map_err(backend)?;
        check_quota(batch, held(&mut tx, batch.bot, batch.now)?)?;
        let mut stored = Vec::with_capacity(batch.files.len());
        for file in batch.files {
            let row = record(batch, file);
            tx.execute(
                "INSERT INTO uploads
                 (bot, id, conversation, name, content_type, size, created_at, expires_at, bytes)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                &[
                    &row.bot,
                    &row.id,
                    &row.conversation,
                    &row.name,
                    &row.content_type,
                    &(row.size as i64),
                    &row.created_at,
                    &row.expires_at,
                    &file.bytes,
                ],
            )
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
        let row = self
            .conn()?
            .query_opt(
                "SELECT conversation, name, content_type, size, created_at, expires_at, bytes
                 FROM uploads WHERE bot = $1 AND id = $2 AND expires_at > $3",
                &[&bot, &id, &now],
            )
            .map_err(backend)?;
        Ok(row.map(|row| {
            (
                StoredFile {
                    id: id.to_owned(),
                    bot: bot.to_owned(),
                    conversation: row.get(0),
                    name: row.get(1),
                    content_type: row.get(2),
                    size: row.get::<_, i64>(3).max(0) as u64,
                    created_at: row.get(4),
                    expires_at: row.get(5),
                },
                row.get(6),
            )
        }))
    }

    fn delete_files(&self, bot: &str, ids: &[String]) -> Result<(), StorageError> {
        self.conn()?
            .execute(
                "DELETE FROM uploads WHERE bot = $1 AND id = ANY($2)",
                &[&bot, &ids],
            )
            .map_err(backend)?;
        Ok(())
    }

    fn sweep_files(&self, now: i64) -> Result<u64, StorageError> {
        self.conn()?
            .execute("DELETE FROM uploads WHERE expires_at <= $1", &[&now])
            .map_err(backend)
    }

    fn stored_bytes(&self, bot: &str, now: i64) -> Result<u64, StorageError> {
        let mut conn = self.conn()?;
        held(&mut *conn, bot, now)
    }
}
