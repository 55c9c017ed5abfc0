//! The conversations API's own records (`http::conversations`): each is a
//! Direct Line conversation (`directline.rs`: the same log, watermarks and
//! wake-ups) plus what an app keeps about it (name, description, meta, the
//! user, when it was made and changed) and a receive cursor, a position in
//! the log up to which the bot's messages were handed out. Created together
//! with its Direct Line conversation, in one transaction, and deleted with
//! it and its log; never forgotten for being idle (Direct Line's retention
//! skips conversations that have a record here).

use serde_json::Value;

use super::StorageError;

/// One conversation of the API.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiConversation {
    /// Its id, the Direct Line conversation's too.
    pub id: String,
    /// The bot's route.
    pub bot: String,
    /// The user the log's user messages come from.
    pub user: String,
    pub name: Option<String>,
    pub description: Option<String>,
    /// A JSON object of the app's own fields.
    pub meta: Option<Value>,
    /// Unix ms.
    pub created_at: i64,
    pub updated_at: i64,
    /// The log position up to which `receive` handed the bot's messages out.
    pub receive_cursor: i64,
}

/// Where a page of the listing starts: after this conversation (the
/// listing is newest first, by creation time then id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListCursor {
    pub created_at: i64,
    pub id: String,
}

impl ListCursor {
    /// The cursor's text, as the API hands it out: `{createdAt}.{id}`.
    pub fn encode(&self) -> String {
        format!("{}.{}", self.created_at, self.id)
    }

    /// `None` for text that is not a cursor.
    pub fn decode(text: &str) -> Option<ListCursor> {
        let (created, id) = text.split_once('.')?;
        Some(ListCursor {
            created_at: created.parse().ok()?,
            id: id.to_owned(),
        })
    }
}

/// Where the API's conversations are kept.
pub trait ApiConversationStore: Send + Sync {
    /// Creates the conversation and its Direct Line conversation (empty
    /// log) together; an id already taken is an error.
    fn create_api_conversation(&self, conversation: &ApiConversation) -> Result<(), StorageError>;

    fn api_conversation(&self, id: &str) -> Result<Option<ApiConversation>, StorageError>;

    /// Newest first, after `after`, at most `take`, of one bot or all.
    fn list_api_conversations(
        &self,
        bot: Option<&str>,
        after: Option<&ListCursor>,
        take: u32,
    ) -> Result<Vec<ApiConversation>, StorageError>;

    /// Writes the name, description, meta and `updated_at`; false when
    /// the conversation is gone.
    fn update_api_conversation(&self, conversation: &ApiConversation)
    -> Result<bool, StorageError>;

    /// Deletes the conversation, its Direct Line conversation and log;
    /// false when it was not there.
    fn delete_api_conversation(&self, id: &str) -> Result<bool, StorageError>;

    /// Moves the receive cursor from `from` to `to`, only if it is still at
    /// `from` (so that concurrent receives hand each message out once);
    /// false when it had moved.
    fn move_receive_cursor(&self, id: &str, from: i64, to: i64) -> Result<bool, StorageError>;

    /// How many of the bot's held-back replies to the conversation wait in
    /// the outbox (`outbox.rs`), not yet posted into the log.
    fn unsent_replies(&self, bot: &str, conversation: &str) -> Result<u64, StorageError>;
}

/// The meta stored as JSON text, read back.
pub(super) fn parse_meta(text: Option<String>) -> Result<Option<Value>, StorageError> {
    text.map(|t| {
        serde_json::from_str(&t).map_err(|e| {
            StorageError::Backend(format!("a conversation's stored meta is damaged: {e}"))
        })
    })
    .transpose()
}

/// The meta as stored.
pub(super) fn meta_text(conversation: &ApiConversation) -> Option<String> {
    conversation.meta.as_ref().map(Value::to_string)
}
