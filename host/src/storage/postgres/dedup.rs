//! The PostgreSQL de-duplication records (`DedupStore`): the `delivered`
//! table.

use super::{PgStorage, backend};
use crate::storage::StorageError;
use crate::storage::dedup::{Answer, DedupStore};
use crate::support::clock::now_millis;

impl DedupStore for PgStorage {
    fn answered(
        &self,
        bot: &str,
        conversation: &str,
        activity_id: &str,
        since_ms: i64,
    ) -> Result<Option<Answer>, StorageError> {
        let row = self
            .conn()?
            .query_opt(
                "SELECT status, body FROM delivered
                 WHERE bot = $1 AND conversation = $2 AND activity_id = $3 AND created >= $4",
                &[&bot, &conversation, &activity_id, &since_ms],
            )
            .map_err(backend)?;
        Ok(row.map(|row| {
            let status: i32 = row.get(0);
            let body: Option<String> = row.get(1);
            Answer {
                status: u16::try_from(status).unwrap_or(500),
                body,
            }
        }))
    }

    fn record(
        &self,
        bot: &str,
        conversation: &str,
        activity_id: &str,
        answer: &Answer,
    ) -> Result<(), StorageError> {
        record_delivery(&mut *self.conn()?, bot, conversation, activity_id, answer)
    }

    fn expire(&self, before_ms: i64) -> Result<usize, StorageError> {
        let removed = self
            .conn()?
            .execute("DELETE FROM delivered WHERE created < $1", &[&before_ms])
            .map_err(backend)?;
        Ok(removed as usize)
    }
}

/// Records the answer to a delivery on `client` (in a transaction or not).
pub(super) fn record_delivery(
    client: &mut impl postgres::GenericClient,
    bot: &str,
    conversation: &str,
    activity_id: &str,
    answer: &Answer,
) -> Result<(), StorageError> {
    client
        .execute(
            "INSERT INTO delivered (bot, conversation, activity_id, status, body, created)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (bot, conversation, activity_id) DO UPDATE SET
               status = excluded.status, body = excluded.body, created = excluded.created",
            &[
                &bot,
                &conversation,
                &activity_id,
                &i32::from(answer.status),
                &answer.body.as_deref(),
                &now_millis(),
            ],
        )
        .map_err(backend)?;
    Ok(())
}
