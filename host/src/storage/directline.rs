//! Direct Line conversations in the database: each conversation's bot, user
//! and started flag, its activity log (the watermark is a position in it),
//! and the channel's key (tokens and the connector key derive from it, so
//! every host sharing the database accepts every other's). Appends take the
//! next position under the conversation's row lock, so positions are dense
//! and commit in order. A backend several hosts share also tells the other
//! hosts of each append (`listen`), so their streams push it.

use std::sync::Weak;

use rusqlite::OptionalExtension;
use serde_json::Value;

use super::sqlite::backend;
use super::{SqliteStorage, StorageError, now_millis};

pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS directline_conversations (
    id            TEXT PRIMARY KEY,
    bot           TEXT NOT NULL,
    user_id       TEXT NOT NULL,
    started       INTEGER NOT NULL DEFAULT 0,
    next_position INTEGER NOT NULL DEFAULT 0,
    updated       INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS directline_activities (
    conversation TEXT NOT NULL,
    position     INTEGER NOT NULL,
    activity     TEXT NOT NULL,
    PRIMARY KEY (conversation, position)
);
CREATE TABLE IF NOT EXISTS directline_keys (
    name TEXT PRIMARY KEY,
    key  TEXT NOT NULL
);
";

/// One Direct Line conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectLineConversation {
    pub id: String,
    /// The bot's route.
    pub bot: String,
    pub user: String,
}

/// What another host did to a conversation, as a backend shared by several
/// hosts reports it.
#[derive(Debug, Clone, PartialEq)]
pub enum Notice {
    /// An activity was appended to the conversation's log.
    Appended { conversation: String },
    /// A typing activity (not logged) for the conversation's streams.
    Typing {
        conversation: String,
        activity: Value,
    },
    /// Notices may have been missed (the listening connection was lost):
    /// every stream should read the log again.
    Resync,
}

/// Where Direct Line conversations are kept.
pub trait DirectLineStore: Send + Sync {
    fn create_conversation(
        &self,
        conversation: &DirectLineConversation,
    ) -> Result<(), StorageError>;

    fn conversation(&self, id: &str) -> Result<Option<DirectLineConversation>, StorageError>;

    /// Marks the conversation started; true the first time.
    fn start_conversation(&self, id: &str) -> Result<bool, StorageError>;

    /// Appends an activity to the log at the next position, giving it the
    /// id `{conversation}|{position}` when it has none; returns the id.
    /// Other hosts are told.
    fn append_activity(&self, conversation: &str, activity: Value) -> Result<String, StorageError>;

    /// The activities from position `watermark` on, and the next position.
    fn activities_since(
        &self,
        conversation: &str,
        watermark: usize,
    ) -> Result<(Vec<Value>, usize), StorageError>;

    /// Tells other hosts of a typing activity; nothing for a backend no
    /// other host shares.
    fn announce_typing(&self, _conversation: &str, _activity: &Value) -> Result<(), StorageError> {
        Ok(())
    }

    /// Reports what other hosts append, from now on, to `sink` (called on
    /// a thread of the backend's) until the sink is dropped; nothing for a
    /// backend no other host shares.
    fn listen(&self, _sink: Weak<dyn Fn(Notice) + Send + Sync>) -> Result<(), StorageError> {
        Ok(())
    }

    /// The channel's 32-byte key: made once, the same for every host.
    fn channel_key(&self) -> Result<Vec<u8>, StorageError>;

    /// Forgets the conversations (and their logs) with nothing appended
    /// since `before_ms` (Unix ms); returns how many.
    fn forget_idle_conversations(&self, before_ms: i64) -> Result<usize, StorageError>;
}

/// Gives `activity` its log id when it has none; returns the id.
pub(super) fn assign_id(activity: &mut Value, conversation: &str, position: i64) -> String {
    match activity.get("id").and_then(Value::as_str) {
        Some(id) if !id.is_empty() => id.to_owned(),
        _ => {
            let id = format!("{conversation}|{position:07}");
            activity["id"] = Value::String(id.clone());
            id
        }
    }
}

/// A fresh random channel key, hex-encoded as stored.
pub(super) fn new_channel_key() -> Result<String, StorageError> {
    let mut key = [0u8; 32];
    getrandom::fill(&mut key)
        .map_err(|e| StorageError::Backend(format!("no randomness for the channel key: {e}")))?;
    Ok(hex::encode(key))
}

pub(super) fn decode_channel_key(text: &str) -> Result<Vec<u8>, StorageError> {
    hex::decode(text)
        .ok()
        .filter(|key| key.len() == 32)
        .ok_or_else(|| StorageError::Backend("the stored Direct Line key is damaged".into()))
}

pub(super) fn parse_logged(text: &str) -> Result<Value, StorageError> {
    serde_json::from_str(text).map_err(|e| {
        StorageError::Backend(format!("a logged Direct Line activity is damaged: {e}"))
    })
}

impl DirectLineStore for SqliteStorage {
    fn create_conversation(
        &self,
        conversation: &DirectLineConversation,
    ) -> Result<(), StorageError> {
        self.conn()
            .execute(
                "INSERT INTO directline_conversations (id, bot, user_id, updated) VALUES (?1, ?2, ?3, ?4)",
                rusqlite::params![conversation.id, conversation.bot, conversation.user, now_millis()],
            )
            .map_err(backend)?;
        Ok(())
    }

    fn conversation(&self, id: &str) -> Result<Option<DirectLineConversation>, StorageError> {
        self.conn()
            .query_row(
                "SELECT id, bot, user_id FROM directline_conversations WHERE id = ?1",
                [id],
                |row| {
                    Ok(DirectLineConversation {
                        id: row.get(0)?,
                        bot: row.get(1)?,
                        user: row.get(2)?,
                    })
                },
            )
            .optional()
            .map_err(backend)
    }

    fn start_conversation(&self, id: &str) -> Result<bool, StorageError> {
        let changed = self
            .conn()
            .execute(
                "UPDATE directline_conversations SET started = 1 WHERE id = ?1 AND started = 0",
                [id],
            )
            .map_err(backend)?;
        Ok(changed == 1)
    }

    fn append_activity(
        &self,
        conversation: &str,
        mut activity: Value,
    ) -> Result<String, StorageError> {
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(backend)?;
        let position: i64 = tx
            .query_row(
                "UPDATE directline_conversations SET next_position = next_position + 1, updated = ?2
                 WHERE id = ?1 RETURNING next_position - 1",
                rusqlite::params![conversation, now_millis()],
                |row| row.get(0),
            )
            .optional()
            .map_err(backend)?
            .ok_or_else(|| StorageError::Backend("no such Direct Line conversation".into()))?;
        let id = assign_id(&mut activity, conversation, position);
        tx.execute(
            "INSERT INTO directline_activities (conversation, position, activity) VALUES (?1, ?2, ?3)",
            rusqlite::params![conversation, position, activity.to_string()],
        )
        .map_err(backend)?;
        tx.commit().map_err(backend)?;
        Ok(id)
    }

    fn activities_since(
        &self,
        conversation: &str,
        watermark: usize,
    ) -> Result<(Vec<Value>, usize), StorageError> {
        let conn = self.conn();
        let next: Option<i64> = conn
            .query_row(
                "SELECT next_position FROM directline_conversations WHERE id = ?1",
                [conversation],
                |row| row.get(0),
            )
            .optional()
            .map_err(backend)?;
        let Some(next) = next else {
            return Ok((Vec::new(), 0));
        };
        let mut statement = conn
            .prepare_cached(
                "SELECT activity FROM directline_activities
                 WHERE conversation = ?1 AND position >= ?2 AND position < ?3 ORDER BY position",
            )
            .map_err(backend)?;
        let from = watermark.min(next as usize) as i64;
        let texts = statement
            .query_map(rusqlite::params![conversation, from, next], |row| {
                row.get::<_, String>(0)
            })
            .map_err(backend)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(backend)?;
        let activities = texts
            .iter()
            .map(|t| parse_logged(t))
            .collect::<Result<_, _>>()?;
        Ok((activities, next as usize))
    }

    fn forget_idle_conversations(&self, before_ms: i64) -> Result<usize, StorageError> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(backend)?;
        tx.execute(
            "DELETE FROM directline_activities WHERE conversation IN
                 (SELECT id FROM directline_conversations WHERE updated < ?1)",
            [before_ms],
        )
        .map_err(backend)?;
        let forgotten = tx
            .execute(
                "DELETE FROM directline_conversations WHERE updated < ?1",
                [before_ms],
            )
            .map_err(backend)?;
        tx.commit().map_err(backend)?;
        Ok(forgotten)
    }

    fn channel_key(&self) -> Result<Vec<u8>, StorageError> {
        let conn = self.conn();
        conn.execute(
            "INSERT INTO directline_keys (name, key) VALUES ('channel', ?1) ON CONFLICT (name) DO NOTHING",
            [new_channel_key()?],
        )
        .map_err(backend)?;
        let text: String = conn
            .query_row(
                "SELECT key FROM directline_keys WHERE name = 'channel'",
                [],
                |row| row.get(0),
            )
            .map_err(backend)?;
        decode_channel_key(&text)
    }
}
