//! The SQLite conversation references (`ReferenceStore`): the
//! `conversation_refs` table, one row per bot and conversation.

use serde_json::Value;

use super::{SqliteStorage, backend};
use crate::storage::StorageError;
use crate::storage::references::ReferenceStore;

pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS conversation_refs (
    bot          TEXT NOT NULL,
    conversation TEXT NOT NULL,
    reference    TEXT NOT NULL,
    updated      INTEGER NOT NULL,
    PRIMARY KEY (bot, conversation)
);
";

impl ReferenceStore for SqliteStorage {
    fn save_reference(
        &self,
        bot: &str,
        conversation: &str,
        reference: &Value,
    ) -> Result<(), StorageError> {
        save(&self.conn(), bot, conversation, reference)
    }

    fn reference(&self, bot: &str, conversation: &str) -> Result<Option<Value>, StorageError> {
        use rusqlite::OptionalExtension;
        let text: Option<String> = self
            .conn()
            .query_row(
                "SELECT reference FROM conversation_refs WHERE bot = ?1 AND conversation = ?2",
                rusqlite::params![bot, conversation],
                |row| row.get(0),
            )
            .optional()
            .map_err(backend)?;
        Ok(text.and_then(|t| serde_json::from_str(&t).ok()))
    }
}

/// Saves a reference on `conn` (in a transaction or not).
pub(super) fn save(
    conn: &rusqlite::Connection,
    bot: &str,
    conversation: &str,
    reference: &Value,
) -> Result<(), StorageError> {
    conn.prepare_cached(
        "INSERT INTO conversation_refs (bot, conversation, reference, updated) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (bot, conversation) DO UPDATE SET reference = excluded.reference, updated = excluded.updated",
    )
    .map_err(backend)?
    .execute(rusqlite::params![
        bot,
        conversation,
        reference.to_string(),
        crate::support::clock::now_millis()
    ])
    .map_err(backend)?;
    Ok(())
}
