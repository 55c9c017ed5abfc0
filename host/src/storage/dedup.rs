//! De-duplication records: the answer given to each delivered activity, by
//! bot, conversation and activity id, kept for a window. Channels re-send
//! an activity they got no answer to in time; the ingress answers such a
//! duplicate with the first answer instead of running the turn again.

use super::sqlite::backend;
use super::{SqliteStorage, StorageError, now_millis};

pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS delivered (
    bot          TEXT NOT NULL,
    conversation TEXT NOT NULL,
    activity_id  TEXT NOT NULL,
    status       INTEGER NOT NULL,
    body         TEXT,
    created      INTEGER NOT NULL,
    PRIMARY KEY (bot, conversation, activity_id)
);
CREATE INDEX IF NOT EXISTS delivered_created ON delivered (created);
";

/// The answer a turn's request got: what a duplicate gets too.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub status: u16,
    /// The body as JSON text, serialized once: the same bytes are sent and
    /// recorded.
    pub body: Option<String>,
}

/// Where delivered activities are remembered.
pub trait DedupStore: Send + Sync {
    /// The answer recorded for this activity since `since_ms` (Unix ms).
    fn answered(
        &self,
        bot: &str,
        conversation: &str,
        activity_id: &str,
        since_ms: i64,
    ) -> Result<Option<Answer>, StorageError>;

    /// Records the answer to an activity, now.
    fn record(
        &self,
        bot: &str,
        conversation: &str,
        activity_id: &str,
        answer: &Answer,
    ) -> Result<(), StorageError>;

    /// Forgets records older than `before_ms`; returns how many.
    fn expire(&self, before_ms: i64) -> Result<usize, StorageError>;

    /// Whether `answered` is quick enough (a local point read that no
    /// writer holds up) to call on the async executor instead of the
    /// blocking pool: one thread crossing less per turn.
    fn quick_reads(&self) -> bool {
        false
    }
}

impl DedupStore for SqliteStorage {
    fn answered(
        &self,
        bot: &str,
        conversation: &str,
        activity_id: &str,
        since_ms: i64,
    ) -> Result<Option<Answer>, StorageError> {
        use rusqlite::OptionalExtension;
        // Cached statements: these run on every channel turn.
        let row: Option<(u16, Option<String>)> = self
            .reader()
            .prepare_cached(
                "SELECT status, body FROM delivered
                 WHERE bot = ?1 AND conversation = ?2 AND activity_id = ?3 AND created >= ?4",
            )
            .map_err(backend)?
            .query_row(
                rusqlite::params![bot, conversation, activity_id, since_ms],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()
            .map_err(backend)?;
        Ok(row.map(|(status, body)| Answer { status, body }))
    }

    fn record(
        &self,
        bot: &str,
        conversation: &str,
        activity_id: &str,
        answer: &Answer,
    ) -> Result<(), StorageError> {
        record_delivery(&self.conn(), bot, conversation, activity_id, answer)
    }

    fn expire(&self, before_ms: i64) -> Result<usize, StorageError> {
        self.conn()
            .execute(
                "DELETE FROM delivered WHERE created < ?1",
                rusqlite::params![before_ms],
            )
            .map_err(backend)
    }

    fn quick_reads(&self) -> bool {
        SqliteStorage::quick_reads(self)
    }
}

/// Records the answer to a delivery on `conn` (in a transaction or not).
pub(super) fn record_delivery(
    conn: &rusqlite::Connection,
    bot: &str,
    conversation: &str,
    activity_id: &str,
    answer: &Answer,
) -> Result<(), StorageError> {
    conn.prepare_cached(
        "INSERT INTO delivered (bot, conversation, activity_id, status, body, created)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (bot, conversation, activity_id) DO UPDATE SET
           status = excluded.status, body = excluded.body, created = excluded.created",
    )
    .map_err(backend)?
    .execute(rusqlite::params![
        bot,
        conversation,
        activity_id,
        answer.status,
        answer.body.as_deref(),
        now_millis()
    ])
    .map_err(backend)?;
    Ok(())
}
