//! Transcripts: every logged activity of a bot's conversations, in order,
//! and the read side (conversations newest first; a conversation's
//! activities), paged by an opaque continuation token (a sequence number).

use serde_json::Value;

use super::sqlite::backend;
use super::{SqliteStorage, StorageError};
use crate::activity::Activity;

/// One logged activity.
#[derive(Debug, Clone, PartialEq)]
pub struct TranscriptEntry {
    pub channel: String,
    pub conversation: String,
    pub activity: Activity,
}

/// A conversation in the listing.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConversationSummary {
    pub id: String,
    pub channel_id: String,
    pub activity_count: u64,
    pub last_activity_at: String,
}

/// A page of results and the token for the next one.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Page<T> {
    pub items: Vec<T>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub continuation_token: Option<String>,
}

pub trait TranscriptStore: Send + Sync {
    fn append(&self, bot: &str, entries: &[TranscriptEntry]) -> Result<(), StorageError>;

    /// Conversations by their newest activity, newest first.
    fn conversations(
        &self,
        bot: &str,
        limit: u32,
        token: Option<&str>,
    ) -> Result<Page<ConversationSummary>, StorageError>;

    /// A conversation's activities, oldest first.
    fn activities(
        &self,
        bot: &str,
        conversation: &str,
        limit: u32,
        token: Option<&str>,
    ) -> Result<Page<Value>, StorageError>;
}

pub(super) fn parse_token(token: Option<&str>) -> Result<Option<i64>, StorageError> {
    token
        .map(|t| {
            t.parse::<i64>()
                .map_err(|_| StorageError::Backend(format!("`{t}` is not a continuation token")))
        })
        .transpose()
}

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

/// Cuts `rows` (fetched one past `limit`) into a page; the token is the
/// sequence number of the page's last item.
pub(super) fn page<T>(mut rows: Vec<(T, i64)>, limit: u32) -> Page<T> {
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let continuation_token = if more {
        rows.last().map(|(_, seq)| seq.to_string())
    } else {
        None
    };
    Page {
        items: rows.into_iter().map(|(item, _)| item).collect(),
        continuation_token,
    }
}
