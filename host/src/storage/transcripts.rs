//! Transcripts: every logged activity of a bot's conversations, in order,
//! and the read side (conversations newest first; a conversation's
//! activities), paged by an opaque continuation token (a sequence number).

use serde_json::Value;

use super::StorageError;
use crate::schema::activity::Activity;

/// One logged activity.
#[derive(Debug, Clone, PartialEq)]
pub struct TranscriptEntry {
    pub channel: String,
    pub conversation: String,
    pub activity: Activity,
}

/// A conversation in the listing.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConversationSummary {
    pub id: String,
    pub channel_id: String,
    pub activity_count: u64,
    pub last_activity_at: String,
}

/// A page of results and the token for the next one.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Page<T> {
    pub items: Vec<T>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub continuation_token: Option<String>,
}

pub trait TranscriptStore: Send + Sync {
    fn append(&self, bot: &str, entries: &[TranscriptEntry]) -> Result<(), StorageError>;

    /// Conversations by their newest activity, newest first.
    fn conversations(
        &self,
        bot: &str,
        limit: u32,
        token: Option<&str>,
    ) -> Result<Page<ConversationSummary>, StorageError>;

    /// A conversation's activities, oldest first.
    fn activities(
        &self,
        bot: &str,
        conversation: &str,
        limit: u32,
        token: Option<&str>,
    ) -> Result<Page<Value>, StorageError>;
}

pub(super) fn parse_token(token: Option<&str>) -> Result<Option<i64>, StorageError> {
    token
        .map(|t| {
            t.parse::<i64>()
                .map_err(|_| StorageError::Backend(format!("`{t}` is not a continuation token")))
        })
        .transpose()
}

/// Cuts `rows` (fetched one past `limit`) into a page; the token is the
/// sequence number of the page's last item.
pub(super) fn page<T>(mut rows: Vec<(T, i64)>, limit: u32) -> Page<T> {
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let continuation_token = if more {
        rows.last().map(|(_, seq)| seq.to_string())
    } else {
        None
    };
    Page {
        items: rows.into_iter().map(|(item, _)| item).collect(),
        continuation_token,
    }
}
