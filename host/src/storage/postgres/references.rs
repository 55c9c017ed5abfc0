//! The PostgreSQL conversation references (`ReferenceStore`): the
//! `conversation_refs` table, one row per bot and conversation.

use serde_json::Value;

use super::commit::turn_error;
use super::{PgStorage, backend};
use crate::storage::StorageError;
use crate::storage::references::ReferenceStore;
use crate::support::clock::now_millis;

impl ReferenceStore for PgStorage {
    fn save_reference(
        &self,
        bot: &str,
        conversation: &str,
        reference: &Value,
    ) -> Result<(), StorageError> {
        save_reference(&mut *self.conn()?, bot, conversation, reference)
    }

    fn reference(&self, bot: &str, conversation: &str) -> Result<Option<Value>, StorageError> {
        let row = self
            .conn()?
            .query_opt(
                "SELECT reference FROM conversation_refs WHERE bot = $1 AND conversation = $2",
                &[&bot, &conversation],
            )
            .map_err(backend)?;
        Ok(row.and_then(|row| serde_json::from_str(row.get::<_, &str>(0)).ok()))
    }
}

/// Saves a conversation reference on `client` (in a transaction or not).
pub(super) fn save_reference(
    client: &mut impl postgres::GenericClient,
    bot: &str,
    conversation: &str,
    reference: &Value,
) -> Result<(), StorageError> {
    client
        .execute(
            "INSERT INTO conversation_refs (bot, conversation, reference, updated) VALUES ($1, $2, $3, $4)
             ON CONFLICT (bot, conversation) DO UPDATE SET reference = excluded.reference, updated = excluded.updated",
            &[&bot, &conversation, &reference.to_string(), &now_millis()],
        )
        .map_err(turn_error)?;
    Ok(())
}
