//! The PostgreSQL skill conversation ids (`SkillConversationStore`): the
//! `skill_conversations` table (migration 7), one row per id, unique per
//! bot, skill and original conversation.

use serde_json::Value;

use super::{PgStorage, backend};
use crate::storage::StorageError;
use crate::storage::skill_conversations::{
    SkillConversation, SkillConversationStore, new_skill_conversation_id, reference_conversation,
};
use crate::support::clock::now_millis;

impl SkillConversationStore for PgStorage {
    fn mint_skill_conversation(
        &self,
        bot: &str,
        skill: &str,
        reference: &Value,
    ) -> Result<String, StorageError> {
        let fresh = new_skill_conversation_id()?;
        let row = self
            .conn()?
            .query_one(
                "INSERT INTO skill_conversations (id, bot, skill, conversation, reference, updated)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (bot, skill, conversation)
                 DO UPDATE SET reference = excluded.reference, updated = excluded.updated
                 RETURNING id",
                &[
                    &fresh,
                    &bot,
                    &skill,
                    &reference_conversation(reference),
                    &reference.to_string(),
                    &now_millis(),
                ],
            )
            .map_err(backend)?;
        Ok(row.get(0))
    }

    fn skill_conversation(&self, id: &str) -> Result<Option<SkillConversation>, StorageError> {
        let row = self
            .conn()?
            .query_opt(
                "SELECT bot, skill, reference FROM skill_conversations WHERE id = $1",
                &[&id],
            )
            .map_err(backend)?;
        row.map(|row| {
            let reference = serde_json::from_str(row.get::<_, &str>(2)).map_err(|e| {
                StorageError::Backend(format!("a skill reference is unreadable: {e}"))
            })?;
            Ok(SkillConversation {
                id: id.to_owned(),
                bot: row.get(0),
                skill: row.get(1),
                reference,
            })
        })
        .transpose()
    }

    fn delete_skill_conversation(&self, id: &str) -> Result<(), StorageError> {
        self.conn()?
            .execute("DELETE FROM skill_conversations WHERE id = $1", &[&id])
            .map_err(backend)?;
        Ok(())
    }
}
