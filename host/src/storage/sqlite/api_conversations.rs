//! The SQLite store of the conversations API (`ApiConversationStore`): the
//! `api_conversations` table beside Direct Line's, whose conversations and
//! logs it creates and deletes with its own rows.

use rusqlite::OptionalExtension;

use super::{SqliteStorage, backend};
use crate::storage::StorageError;
use crate::storage::api_conversations::{
    ApiConversation, ApiConversationStore, ListCursor, meta_text, parse_meta,
};

pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS api_conversations (
    id             TEXT PRIMARY KEY,
    bot            TEXT NOT NULL,
    user_id        TEXT NOT NULL,
    name           TEXT,
    description    TEXT,
    meta           TEXT,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    receive_cursor INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS api_conversations_newest ON api_conversations (created_at DESC, id DESC);
";

const COLUMNS: &str =
    "id, bot, user_id, name, description, meta, created_at, updated_at, receive_cursor";

fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<(ApiConversation, Option<String>)> {
    Ok((
        ApiConversation {
            id: row.get(0)?,
            bot: row.get(1)?,
            user: row.get(2)?,
            name: row.get(3)?,
            description: row.get(4)?,
            meta: None,
            created_at: row.get(6)?,
            updated_at: row.get(7)?,
            receive_cursor: row.get(8)?,
        },
        row.get(5)?,
    ))
}

fn with_meta(
    (mut conversation, meta): (ApiConversation, Option<String>),
) -> Result<ApiConversation, StorageError> {
    conversation.meta = parse_meta(meta)?;
    Ok(conversation)
}

impl ApiConversationStore for SqliteStorage {
    fn create_api_conversation(&self, c: &ApiConversation) -> Result<(), StorageError> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(backend)?;
        tx.execute(
            "INSERT INTO directline_conversations (id, bot, user_id, updated) VALUES (?1, ?2, ?3, ?4)",
            rusqlite::params![c.id, c.bot, c.user, c.created_at],
        )
        .map_err(backend)?;
        tx.execute(
            &format!("INSERT INTO api_conversations ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"),
            rusqlite::params![
                c.id,
                c.bot,
                c.user,
                c.name,
                c.description,
                meta_text(c),
                c.created_at,
                c.updated_at,
                c.receive_cursor
            ],
        )
        .map_err(backend)?;
        tx.commit().map_err(backend)
    }

    fn api_conversation(&self, id: &str) -> Result<Option<ApiConversation>, StorageError> {
        self.conn()
            .query_row(
                &format!("SELECT {COLUMNS} FROM api_conversations WHERE id = ?1"),
                [id],
                from_row,
            )
            .optional()
            .map_err(backend)?
            .map(with_meta)
            .transpose()
    }

    fn list_api_conversations(
        &self,
        bot: Option<&str>,
        after: Option<&ListCursor>,
        take: u32,
    ) -> Result<Vec<ApiConversation>, StorageError> {
        let conn = self.conn();
        let mut statement = conn
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM api_conversations
                 WHERE (?1 IS NULL OR bot = ?1)
                   AND (?2 IS NULL OR created_at < ?2 OR (created_at = ?2 AND id < ?3))
                 ORDER BY created_at DESC, id DESC LIMIT ?4"
            ))
            .map_err(backend)?;
        let rows = statement
            .query_map(
                rusqlite::params![
                    bot,
                    after.map(|a| a.created_at),
                    after.map(|a| a.id.as_str()),
                    take
                ],
                from_row,
            )
            .map_err(backend)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(backend)?;
        rows.into_iter().map(with_meta).collect()
    }

    fn update_api_conversation(&self, c: &ApiConversation) -> Result<bool, StorageError> {
        let changed = self
            .conn()
            .execute(
                "UPDATE api_conversations SET name = ?2, description = ?3, meta = ?4, updated_at = ?5
                 WHERE id = ?1",
                rusqlite::params![c.id, c.name, c.description, meta_text(c), c.updated_at],
            )
            .map_err(backend)?;
        Ok(changed == 1)
    }

    fn delete_api_conversation(&self, id: &str) -> Result<bool, StorageError> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(backend)?;
        let deleted = tx
            .execute("DELETE FROM api_conversations WHERE id = ?1", [id])
            .map_err(backend)?;
        if deleted == 1 {
            tx.execute(
                "DELETE FROM directline_activities WHERE conversation = ?1",
                [id],
            )
            .map_err(backend)?;
            tx.execute("DELETE FROM directline_conversations WHERE id = ?1", [id])
                .map_err(backend)?;
        }
        tx.commit().map_err(backend)?;
        Ok(deleted == 1)
    }

    fn move_receive_cursor(&self, id: &str, from: i64, to: i64) -> Result<bool, StorageError> {
        let changed = self
            .conn()
            .execute(
                "UPDATE api_conversations SET receive_cursor = ?3 WHERE id = ?1 AND receive_cursor = ?2",
                rusqlite::params![id, from, to],
            )
            .map_err(backend)?;
        Ok(changed == 1)
    }

    fn unsent_replies(&self, bot: &str, conversation: &str) -> Result<u64, StorageError> {
        let count: i64 = self
            .conn()
            .query_row(
                "SELECT COUNT(*) FROM outbox WHERE bot = ?1 AND conversation = ?2",
                rusqlite::params![bot, conversation],
                |row| row.get(0),
            )
            .map_err(backend)?;
        Ok(count.max(0) as u64)
    }
}
