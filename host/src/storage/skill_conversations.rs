//! The skill conversation id factory's records (botbuilder's
//! `SkillConversationIdFactory`): a root bot forwarding to a skill mints a
//! random, unguessable id for the skill's side of the conversation, kept
//! with the bot, the skill's name and the original conversation reference,
//! so that the skill's replies (to `/api/skills/v3/conversations/{id}/…`)
//! find their way back. One id per bot, skill and original conversation,
//! reused until the skill ends the conversation; stored in the database,
//! so it survives a restart and is known to every host.

use serde_json::Value;

use super::StorageError;

/// What a skill conversation id stands for.
#[derive(Debug, Clone, PartialEq)]
pub struct SkillConversation {
    pub id: String,
    /// The root bot's name (its file stem).
    pub bot: String,
    /// The skill's name in the bot's manifest.
    pub skill: String,
    /// The original conversation's reference (`conversation_reference`).
    pub reference: Value,
}

/// A fresh skill conversation id: 128 random bits, hex.
pub fn new_skill_conversation_id() -> Result<String, StorageError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes)
        .map_err(|e| StorageError::Backend(format!("no randomness for an id: {e}")))?;
    Ok(format!("skc-{}", hex::encode(bytes)))
}

/// The original conversation's id in a reference ("" when it has none).
pub fn reference_conversation(reference: &Value) -> &str {
    reference
        .pointer("/conversation/id")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

pub trait SkillConversationStore: Send + Sync {
    /// The id for (`bot`, `skill`, the reference's conversation): the one
    /// already minted (its reference updated to this one), or a new one.
    fn mint_skill_conversation(
        &self,
        bot: &str,
        skill: &str,
        reference: &Value,
    ) -> Result<String, StorageError>;

    fn skill_conversation(&self, id: &str) -> Result<Option<SkillConversation>, StorageError>;

    /// Forgets an id (the skill ended the conversation).
    fn delete_skill_conversation(&self, id: &str) -> Result<(), StorageError>;
}
