//! The SQLite skill conversation ids (`SkillConversationStore`): the
//! `skill_conversations` table, one row per id, unique per bot, skill and
//! original conversation.

use rusqlite::OptionalExtension;
use serde_json::Value;

use super::{SqliteStorage, backend};
use crate::storage::StorageError;
use crate::storage::skill_conversations::{
    SkillConversation, SkillConversationStore, new_skill_conversation_id, reference_conversation,
};
use crate::support::clock::now_millis;

pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS skill_conversations (
    id           TEXT PRIMARY KEY,
    bot          TEXT NOT NULL,
    skill        TEXT NOT NULL,
    conversation TEXT NOT NULL,
    reference    TEXT NOT NULL,
    updated      INTEGER NOT NULL,
    UNIQUE (bot, skill, conversation)
);
";

impl SkillConversationStore for SqliteStorage {
    fn mint_skill_conversation(
        &self,
        bot: &str,
        skill: &str,
        reference: &Value,
    ) -> Result<String, StorageError> {
        let fresh = new_skill_conversation_id()?;
        self.conn()
            .query_row(
                "INSERT INTO skill_conversations (id, bot, skill, conversation, reference, updated)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (bot, skill, conversation)
                 DO UPDATE SET reference = excluded.reference, updated = excluded.updated
                 RETURNING id",
                rusqlite::params![
                    fresh,
                    bot,
                    skill,
                    reference_conversation(reference),
                    reference.to_string(),
                    now_millis()
                ],
                |row| row.get(0),
            )
            .map_err(backend)
    }

    fn skill_conversation(&self, id: &str) -> Result<Option<SkillConversation>, StorageError> {
        let row: Option<(String, String, String)> = self
            .conn()
            .query_row(
                "SELECT bot, skill, reference FROM skill_conversations WHERE id = ?1",
                [id],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
            )
            .optional()
            .map_err(backend)?;
        row.map(|(bot, skill, reference)| {
            let reference = serde_json::from_str(&reference).map_err(|e| {
                StorageError::Backend(format!("a skill reference is unreadable: {e}"))
            })?;
            Ok(SkillConversation {
                id: id.to_owned(),
                bot,
                skill,
                reference,
            })
        })
        .transpose()
    }

    fn delete_skill_conversation(&self, id: &str) -> Result<(), StorageError> {
        self.conn()
            .execute("DELETE FROM skill_conversations WHERE id = ?1", [id])
            .map_err(backend)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ids_are_random_reused_per_conversation_and_forgotten() {
        let db = SqliteStorage::in_memory().unwrap();
        let r1 = json!({"conversation": {"id": "c1"}, "activityId": "a1"});
        let r1b = json!({"conversation": {"id": "c1"}, "activityId": "a2"});
        let r2 = json!({"conversation": {"id": "c2"}});
        let a = db.mint_skill_conversation("root", "echo", &r1).unwrap();
        assert!(a.starts_with("skc-") && a.len() == 36, "{a}");
        let again = db.mint_skill_conversation("root", "echo", &r1b).unwrap();
        assert_eq!(a, again, "one id per bot, skill and conversation");
        let stored = db.skill_conversation(&a).unwrap().unwrap();
        assert_eq!(
            (stored.bot.as_str(), stored.skill.as_str()),
            ("root", "echo")
        );
        assert_eq!(stored.reference, r1b, "the latest reference is kept");
        let b = db.mint_skill_conversation("root", "echo", &r2).unwrap();
        let c = db.mint_skill_conversation("root", "other", &r1).unwrap();
        let d = db.mint_skill_conversation("root2", "echo", &r1).unwrap();
        let all = [&a, &b, &c, &d];
        for (i, x) in all.iter().enumerate() {
            for y in &all[i + 1..] {
                assert_ne!(x, y);
            }
        }
        db.delete_skill_conversation(&a).unwrap();
        assert_eq!(db.skill_conversation(&a).unwrap(), None);
        assert_eq!(db.skill_conversation("skc-unknown").unwrap(), None);
        let fresh = db.mint_skill_conversation("root", "echo", &r1).unwrap();
        assert_ne!(fresh, a, "a new id after the skill ended the conversation");
    }
}
