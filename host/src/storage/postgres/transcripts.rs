//! The PostgreSQL transcripts (`TranscriptStore`): the `transcript` table,
//! paged by its `BIGSERIAL` sequence.

use serde_json::Value;

use super::{PgStorage, backend};
use crate::storage::StorageError;
use crate::storage::transcripts::{
    ConversationSummary, Page, TranscriptEntry, TranscriptStore, page, parse_token,
};

impl TranscriptStore for PgStorage {
    fn append(&self, bot: &str, entries: &[TranscriptEntry]) -> Result<(), StorageError> {
        let mut conn = self.conn()?;
        let mut tx = conn.transaction().map_err(backend)?;
        for entry in entries {
            let text = serde_json::to_string(&entry.activity).map_err(backend)?;
            tx.execute(
                "INSERT INTO transcript (bot, channel, conversation, at, activity) VALUES ($1, $2, $3, $4, $5)",
                &[
                    &bot,
                    &entry.channel,
                    &entry.conversation,
                    &entry.activity.timestamp.clone().unwrap_or_default(),
                    &text,
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
        let rows = self
            .conn()?
            .query(
                "SELECT conversation, channel, COUNT(*), MAX(seq), MAX(at) FROM transcript WHERE bot = $1
                 GROUP BY channel, conversation HAVING MAX(seq) < $2 ORDER BY MAX(seq) DESC LIMIT $3",
                &[&bot, &before, &(i64::from(limit) + 1)],
            )
            .map_err(backend)?;
        let rows = rows
            .into_iter()
            .map(|row| {
                (
                    ConversationSummary {
                        id: row.get(0),
                        channel_id: row.get(1),
                        activity_count: row.get::<_, i64>(2) as u64,
                        last_activity_at: row.get(4),
                    },
                    row.get::<_, i64>(3),
                )
            })
            .collect();
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
        let rows = self
            .conn()?
            .query(
                "SELECT activity, seq FROM transcript WHERE bot = $1 AND conversation = $2 AND seq > $3
                 ORDER BY seq LIMIT $4",
                &[&bot, &conversation, &after, &(i64::from(limit) + 1)],
            )
            .map_err(backend)?;
        let rows = rows
            .into_iter()
            .map(|row| {
                let text: String = row.get(0);
                (
                    serde_json::from_str(&text).unwrap_or(Value::Null),
                    row.get::<_, i64>(1),
                )
            })
            .collect();
        Ok(page(rows, limit))
    }
}
