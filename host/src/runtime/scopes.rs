//! Bot state within a turn: the conversation, user and private-conversation
//! scopes, each one storage item under the Bot Framework key layout, loaded
//! lazily, changed in memory, and saved at the end of a successful turn with
//! the eTag it was read with (see `attempts.rs` for conflicts).

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::schema::activity::Activity;
use crate::storage::{Change, Condition, Quota, Storage, StorageError};

/// A state scope, as in botbuilder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    Conversation,
    User,
    PrivateConversation,
}

/// Why a state call failed; handed to the bot.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StateError {
    #[error("{0}")]
    Unavailable(String),
    #[error("the value is not valid JSON: {0}")]
    InvalidJson(String),
    #[error("the value of `{key}` is {size} bytes, over the limit of {limit}")]
    ValueTooLarge { key: String, size: u64, limit: u64 },
    #[error("the bot's state would hold {size} bytes, over the limit of {limit}")]
    QuotaExceeded { size: u64, limit: u64 },
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl StateError {
    pub fn code(&self) -> &'static str {
        match self {
            StateError::Unavailable(_) => "StateUnavailable",
            StateError::InvalidJson(_) => "BadArgument",
            StateError::ValueTooLarge { .. } | StateError::QuotaExceeded { .. } => {
                "StateQuotaExceeded"
            }
            StateError::Storage(StorageError::Conflict(_)) => "StateConflict",
            StateError::Storage(_) => "StorageError",
        }
    }
}

/// The storage key of `scope` for an activity: the Bot Framework layout.
pub fn storage_key(scope: Scope, activity: &Activity) -> Result<String, StateError> {
    let channel = activity
        .channel_id
        .as_deref()
        .filter(|c| !c.is_empty())
        .ok_or_else(|| StateError::Unavailable("the activity has no channelId".into()))?;
    let conversation = || {
        activity
            .conversation_id()
            .filter(|c| !c.is_empty())
            .ok_or_else(|| StateError::Unavailable("the activity has no conversation.id".into()))
    };
    let user = || {
        activity
            .from
            .as_ref()
            .map(|f| f.id.as_str())
            .filter(|u| !u.is_empty())
            .ok_or_else(|| StateError::Unavailable("the activity has no from.id".into()))
    };
    Ok(match scope {
        Scope::Conversation => format!("{channel}/conversations/{}/state", conversation()?),
        Scope::User => format!("{channel}/users/{}/state", user()?),
        Scope::PrivateConversation => format!(
            "{channel}/conversations/{}/users/{}/state",
            conversation()?,
            user()?
        ),
    })
}

struct LoadedScope {
    key: String,
    values: Map<String, Value>,
    /// The eTag read; `None` when the item did not exist.
    etag: Option<String>,
    dirty: bool,
}

/// One turn's view of a bot's state.
pub struct TurnStateCache {
    storage: Arc<dyn Storage>,
    namespace: String,
    quota: Quota,
    activity: Arc<Activity>,
    scopes: HashMap<Scope, LoadedScope>,
    /// The namespace's stored bytes, read on the first write.
    stored_total: Option<u64>,
}

impl TurnStateCache {
    pub fn new(
        storage: Arc<dyn Storage>,
        namespace: &str,
        quota: Quota,
        activity: Arc<Activity>,
    ) -> Self {
        TurnStateCache {
            storage,
            namespace: namespace.to_owned(),
            quota,
            activity,
            scopes: HashMap::new(),
            stored_total: None,
        }
    }

    /// Whether the turn has used state at all.
    pub fn touched(&self) -> bool {
        !self.scopes.is_empty()
    }

    async fn load(&mut self, scope: Scope) -> Result<&mut LoadedScope, StateError> {
        if !self.scopes.contains_key(&scope) {
            let key = storage_key(scope, &self.activity)?;
            let storage = self.storage.clone();
            let namespace = self.namespace.clone();
            let keys = vec![key.clone()];
            let mut items = tokio::task::spawn_blocking(move || storage.read(&namespace, &keys))
                .await
                .map_err(|e| StateError::Storage(StorageError::Backend(e.to_string())))??;
            let (values, etag) = match items.remove(&key) {
                Some(item) => match item.value {
                    Value::Object(values) => (values, Some(item.etag)),
                    _ => (Map::new(), Some(item.etag)),
                },
                None => (Map::new(), None),
            };
            self.scopes.insert(
                scope,
                LoadedScope {
                    key,
                    values,
                    etag,
                    dirty: false,
                },
            );
        }
        self.scopes
            .get_mut(&scope)
            .ok_or_else(|| StateError::Unavailable("the scope did not load".into()))
    }

    /// The JSON text of `key` in `scope`.
    pub async fn get(&mut self, scope: Scope, key: &str) -> Result<Option<String>, StateError> {
        Ok(self
            .load(scope)
            .await?
            .values
            .get(key)
            .map(Value::to_string))
    }

    /// Sets `key` in `scope` to the JSON `text`, within the quotas.
    pub async fn set(&mut self, scope: Scope, key: &str, text: &str) -> Result<(), StateError> {
        let value: Value =
            serde_json::from_str(text).map_err(|e| StateError::InvalidJson(e.to_string()))?;
        let size = text.len() as u64;
        if size > self.quota.max_value_bytes {
            return Err(StateError::ValueTooLarge {
                key: key.to_owned(),
                size,
                limit: self.quota.max_value_bytes,
            });
        }
        let stored_total = match self.stored_total {
            Some(total) => total,
            None => {
                let storage = self.storage.clone();
                let namespace = self.namespace.clone();
                let total = tokio::task::spawn_blocking(move || storage.total_bytes(&namespace))
                    .await
                    .map_err(|e| StateError::Storage(StorageError::Backend(e.to_string())))??;
                self.stored_total = Some(total);
                total
            }
        };
        let quota = self.quota;
        let loaded = self.load(scope).await?;
        let before = Value::Object(loaded.values.clone()).to_string().len() as u64;
        let mut after_values = loaded.values.clone();
        after_values.insert(key.to_owned(), value);
        let after_text = Value::Object(after_values.clone()).to_string();
        let after = after_text.len() as u64;
        if after > quota.max_value_bytes {
            return Err(StateError::ValueTooLarge {
                key: loaded.key.clone(),
                size: after,
                limit: quota.max_value_bytes,
            });
        }
        let estimate =
            stored_total.saturating_sub(if loaded.etag.is_some() { before } else { 0 }) + after;
        if estimate > quota.max_total_bytes {
            return Err(StateError::QuotaExceeded {
                size: estimate,
                limit: quota.max_total_bytes,
            });
        }
        loaded.values = after_values;
        loaded.dirty = true;
        Ok(())
    }

    pub async fn delete(&mut self, scope: Scope, key: &str) -> Result<(), StateError> {
        let loaded = self.load(scope).await?;
        if loaded.values.remove(key).is_some() {
            loaded.dirty = true;
        }
        Ok(())
    }

    /// The writes that save this turn's changes, conditioned on what was
    /// read: the eTag, or absence.
    pub fn changes(&self) -> Vec<Change> {
        self.scopes
            .values()
            .filter(|s| s.dirty)
            .map(|s| Change {
                key: s.key.clone(),
                value: Value::Object(s.values.clone()),
                condition: match &s.etag {
                    Some(etag) => Condition::Match(etag.clone()),
                    None => Condition::Absent,
                },
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::SqliteStorage;
    use serde_json::json;

    fn activity() -> Arc<Activity> {
        Arc::new(
            serde_json::from_value(json!({
                "type": "message", "channelId": "test",
                "from": {"id": "u1"}, "conversation": {"id": "c1"}
            }))
            .unwrap(),
        )
    }

    #[test]
    fn keys_follow_the_bot_framework_layout() {
        let a = activity();
        assert_eq!(
            storage_key(Scope::Conversation, &a).unwrap(),
            "test/conversations/c1/state"
        );
        assert_eq!(storage_key(Scope::User, &a).unwrap(), "test/users/u1/state");
        assert_eq!(
            storage_key(Scope::PrivateConversation, &a).unwrap(),
            "test/conversations/c1/users/u1/state"
        );
    }

    #[tokio::test]
    async fn only_changed_scopes_are_saved_with_the_etag_read() {
        let storage: Arc<dyn Storage> = Arc::new(SqliteStorage::in_memory().unwrap());
        let mut cache = TurnStateCache::new(storage.clone(), "bot", Quota::default(), activity());
        assert_eq!(cache.get(Scope::User, "n").await.unwrap(), None);
        cache.set(Scope::Conversation, "n", "1").await.unwrap();
        let changes = cache.changes();
        assert_eq!(changes.len(), 1, "the user scope was only read");
        assert_eq!(changes[0].condition, Condition::Absent);
        storage.write("bot", &changes, &Quota::default()).unwrap();

        let mut next = TurnStateCache::new(storage.clone(), "bot", Quota::default(), activity());
        assert_eq!(
            next.get(Scope::Conversation, "n").await.unwrap().as_deref(),
            Some("1")
        );
        next.set(Scope::Conversation, "n", "2").await.unwrap();
        assert!(matches!(next.changes()[0].condition, Condition::Match(_)));
        assert!(cache.set(Scope::User, "x", "{bad").await.is_err());
    }
}
