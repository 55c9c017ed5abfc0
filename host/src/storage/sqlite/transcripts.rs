//! The SQLite transcripts (`TranscriptStore`): the `transcript` table,
//! its rows numbered by an autoincrement sequence that pages them.

use serde_json::Value;

use super::{SqliteStorage, backend};
use crate::storage::StorageError;
use crate::storage::transcripts::{
    ConversationSummary, Page, TranscriptEntry, TranscriptStore, page, parse_token,
};

pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS transcript (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    bot          TEXT NOT NULL,
    channel      TEXT NOT NULL,
    conversation TEXT NOT NULL,
    at           TEXT NOT NULL,
    activity     TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS transcript_by_conversation ON transcript (bot, conversation, seq);
";

impl TranscriptStore for SqliteStorage {
    fn append(&self, bot: &str, entries: &[TranscriptEntry]) -> Result<(), StorageError> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(backend)?;
        for entry in entries {
            let text = serde_json::to_string(&entry.activity)
                .map_err(|e| StorageError::Backend(e.to_string()))?;
            tx.execute(
                "INSERT INTO transcript (bot, channel, conversation, at, activity) VALUES (?1, ?2, ?3, ?4, ?5)",
                rusqlite::params![
                    bot,
                    entry.channel,
                    entry.conversation,
                    entry.activity.timestamp.clone().unwrap_or_default(),
                    text
                ],
            )
            .map_err(backend)?;
        }
        tx.commit().map_err(backend)
    }

    fn conversations(
        &self,
        bot: &str,
        limit: u32,
        token: Option<&str>,
    ) -> Result<Page<ConversationSummary>, StorageError> {
        let before = parse_token(token)?.unwrap_or(i64::MAX);
        let conn = self.conn();
        let mut statement = conn
            .prepare_cached(
                "SELECT conversation, channel, COUNT(*), MAX(seq), MAX(at) FROM transcript WHERE bot = ?1
                 GROUP BY channel, conversation HAVING MAX(seq) < ?2 ORDER BY MAX(seq) DESC LIMIT ?3",
            )
            .map_err(backend)?;
        let rows = statement
            .query_map(rusqlite::params![bot, before, limit + 1], |row| {
                Ok((
                    ConversationSummary {
                        id: row.get(0)?,
                        channel_id: row.get(1)?,
                        activity_count: row.get::<_, i64>(2)? as u64,
                        last_activity_at: row.get(4)?,
                    },
                    row.get::<_, i64>(3)?,
                ))
            })
            .map_err(backend)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(backend)?;
        Ok(page(rows, limit))
    }

    fn activities(
        &self,
        bot: &str,
        conversation: &str,
        limit: u32,
        token: Option<&str>,
    ) -> Result<Page<Value>, StorageError> {
        let after = parse_token(token)?.unwrap_or(0);
        let conn = self.conn();
        let mut statement = conn
            .prepare_cached(
                "SELECT activity, seq FROM transcript WHERE bot = ?1 AND conversation = ?2 AND seq > ?3
                 ORDER BY seq LIMIT ?4",
            )
            .map_err(backend)?;
        let rows = statement
            .query_map(
                rusqlite::params![bot, conversation, after, limit + 1],
                |row| Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?)),
            )
            .map_err(backend)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(backend)?;
        let rows = rows
            .into_iter()
            .map(|(text, seq)| (serde_json::from_str(&text).unwrap_or(Value::Null), seq))
            .collect();
        Ok(page(rows, limit))
    }
}
