//! Conversation references: the last inbound turn's reference per bot and
//! conversation, for proactive messages.

use serde_json::Value;

use super::StorageError;

pub trait ReferenceStore: Send + Sync {
    fn save_reference(
        &self,
        bot: &str,
        conversation: &str,
        reference: &Value,
    ) -> Result<(), StorageError>;
    fn reference(&self, bot: &str, conversation: &str) -> Result<Option<Value>, StorageError>;
}
