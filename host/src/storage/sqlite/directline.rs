//! The SQLite Direct Line store (`DirectLineStore`): conversations, their
//! activity logs and the channel key in three tables. One host alone uses
//! the database, so there is nothing to announce or listen to.

use rusqlite::OptionalExtension;
use serde_json::Value;

use super::{SqliteStorage, backend};
use crate::storage::StorageError;
use crate::storage::directline::{
    DirectLineConversation, DirectLineStore, KeepTurn, all_ids, assign_id, decode_channel_key,
    new_channel_key, parse_logged, set_known_aside,
};
use crate::support::clock::now_millis;

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

    fn append_activities(
        &self,
        conversation: &str,
        activities: Vec<Value>,
    ) -> Result<Vec<String>, StorageError> {
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(backend)?;
        let ids = append_on(&tx, conversation, activities)?;
        tx.commit().map_err(backend)?;
        Ok(ids)
    }

    fn append_history(
        &self,
        conversation: &str,
        activities: Vec<Value>,
    ) -> Result<Vec<String>, StorageError> {
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(backend)?;
        let (places, fresh) =
            set_known_aside(conversation, activities, || logged_ids(&tx, conversation))?;
        let appended = if fresh.is_empty() {
            Vec::new()
        } else {
            append_on(&tx, conversation, fresh)?
        };
        tx.commit().map_err(backend)?;
        Ok(all_ids(places, appended))
    }

    fn append_keeping(
        &self,
        conversation: &str,
        activity: Value,
        keep: KeepTurn,
    ) -> Result<String, StorageError> {
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(backend)?;
        let id = append_on(&tx, conversation, vec![activity])?
            .pop()
            .unwrap_or_default();
        let (owner, until) = (keep.owner.clone(), keep.until);
        super::accepted::keep(&tx, &keep.accepted(conversation, &id)?, &owner, until)?;
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
                 (SELECT id FROM directline_conversations WHERE updated < ?1
                  AND id NOT IN (SELECT id FROM api_conversations))",
            [before_ms],
        )
        .map_err(backend)?;
        let forgotten = tx
            .execute(
                "DELETE FROM directline_conversations WHERE updated < ?1
                 AND id NOT IN (SELECT id FROM api_conversations)",
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

/// The ids of the conversation's log (one pass over it; asked only by a
/// history that brings ids of its own).
fn logged_ids(
    tx: &rusqlite::Transaction<'_>,
    conversation: &str,
) -> Result<std::collections::HashSet<String>, StorageError> {
    let mut statement = tx
        .prepare_cached(
            "SELECT json_extract(activity, '$.id') FROM directline_activities
             WHERE conversation = ?1",
        )
        .map_err(backend)?;
    let ids = statement
        .query_map([conversation], |row| row.get::<_, Option<String>>(0))
        .map_err(backend)?;
    let mut all = std::collections::HashSet::new();
    for id in ids {
        all.extend(id.map_err(backend)?);
    }
    Ok(all)
}

/// Appends `activities` at the conversation's next positions on `tx`, in
/// order; returns their ids.
fn append_on(
    tx: &rusqlite::Transaction<'_>,
    conversation: &str,
    activities: Vec<Value>,
) -> Result<Vec<String>, StorageError> {
    let count = activities.len() as i64;
    let first: i64 = tx
        .query_row(
            "UPDATE directline_conversations SET next_position = next_position + ?3, updated = ?2
             WHERE id = ?1 RETURNING next_position - ?3",
            rusqlite::params![conversation, now_millis(), count],
            |row| row.get(0),
        )
        .optional()
        .map_err(backend)?
        .ok_or_else(|| StorageError::Backend("no such Direct Line conversation".into()))?;
    let mut insert = tx
        .prepare_cached(
            "INSERT INTO directline_activities (conversation, position, activity)
             VALUES (?1, ?2, ?3)",
        )
        .map_err(backend)?;
    let mut ids = Vec::with_capacity(activities.len());
    for (position, mut activity) in (first..).zip(activities) {
        if position > first {
            crate::support::faults::point("between-appends");
        }
        ids.push(assign_id(&mut activity, conversation, position)?);
        insert
            .execute(rusqlite::params![
                conversation,
                position,
                activity.to_string()
            ])
            .map_err(backend)?;
    }
    Ok(ids)
}
