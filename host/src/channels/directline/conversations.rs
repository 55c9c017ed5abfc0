//! Direct Line conversations: kept in the database (`storage::directline`),
//! so that every host sharing it serves every conversation, and fed to this
//! host's WebSocket streams. A stream is woken when its conversation's log
//! grows, by an append on this host or, through the database's notices, on
//! another; it then reads the log from its watermark, so a missed or
//! repeated wake-up loses and repeats nothing. Typing activities are not
//! logged: they go to the streams only. Conversations with nothing
//! appended for the retention period are forgotten. No activity keeps its
//! `serviceUrl`, in the log or on its way out: on this channel it is this
//! host's connector endpoint with the conversation's connector key in it,
//! which a client must never learn (with it, anyone could post into the
//! conversation as its bot).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::broadcast;

use crate::storage::Database;
use crate::storage::StorageError;
use crate::storage::directline::{DirectLineConversation, KeepTurn, Notice};
use crate::support::clock::now_millis;

pub use crate::storage::directline::DirectLineConversation as Conversation;

/// What wakes a stream.
#[derive(Debug, Clone)]
pub enum Wake {
    /// The log may have grown: read it from the watermark.
    Appended,
    /// A typing activity, for the stream only.
    Typing(Value),
}

/// The streams open on this host, by conversation.
#[derive(Default)]
struct Feeds {
    map: Mutex<HashMap<String, broadcast::Sender<Wake>>>,
}

impl Feeds {
    fn wake(&self, conversation: &str, wake: Wake) {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(feed) = map.get(conversation)
            && feed.send(wake).is_err()
        {
            // No stream listens any more.
            map.remove(conversation);
        }
    }

    fn wake_all(&self) {
        let map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        for feed in map.values() {
            let _ = feed.send(Wake::Appended);
        }
    }

    fn notice(&self, notice: Notice) {
        match notice {
            Notice::Appended { conversation } => self.wake(&conversation, Wake::Appended),
            Notice::Typing {
                conversation,
                mut activity,
            } => {
                // (An older host's may still carry what clients never see.)
                for_clients(&mut activity);
                self.wake(&conversation, Wake::Typing(activity))
            }
            Notice::Resync => self.wake_all(),
        }
    }
}

/// Marks, in the log only, an activity the bot sent (a reply, an update,
/// a history's): its sender is not a member for that, whatever its `from`
/// says. Set by this channel alone (`append_from_bot`, `append_history`).
pub const BOT_MARK: &str = "turnboxFromBot";

/// The mark an earlier build gave a history's activities alone.
const HISTORY_MARK: &str = "turnboxHistory";

/// Whether the bot sent this logged activity (`BOT_MARK`).
pub fn sent_by_bot(activity: &Value) -> bool {
    activity.get(BOT_MARK).is_some() || activity.get(HISTORY_MARK).is_some()
}

/// The activity as clients get it: no `serviceUrl` (the connector key is
/// in it), no log-only mark.
fn for_clients(activity: &mut Value) {
    if let Some(object) = activity.as_object_mut() {
        object.remove("serviceUrl");
        object.remove(BOT_MARK);
        object.remove(HISTORY_MARK);
    }
}

/// Who sent an activity being appended.
enum Sender {
    /// A client (a user, the conversations API); with the turn to keep.
    Client(Option<KeepTurn>),
    /// The bot, through the channel's connector: marked (`BOT_MARK`).
    Bot,
}

/// All conversations of the channel.
pub struct Conversations {
    store: Arc<dyn Database>,
    feeds: Arc<Feeds>,
    /// How long an idle conversation is kept.
    retention: Duration,
    /// Idle conversations are forgotten at most once a minute.
    expiry: crate::support::clock::OncePerMinute,
    /// What the database's listener calls with other hosts' notices; the
    /// listener ends when this is dropped.
    _sink: Arc<dyn Fn(Notice) + Send + Sync>,
}

/// Runs a blocking store call off the executor.
async fn blocking<T: Send + 'static>(
    call: impl FnOnce() -> Result<T, StorageError> + Send + 'static,
) -> Result<T, StorageError> {
    tokio::task::spawn_blocking(call)
        .await
        .map_err(|e| StorageError::Backend(e.to_string()))?
}

impl Conversations {
    /// Conversations kept in `store` while not idle for longer than
    /// `retention`, with the store's notices of other hosts' appends
    /// feeding this host's streams. Blocks: call it off the executor.
    pub fn new(store: Arc<dyn Database>, retention: Duration) -> Result<Self, StorageError> {
        let feeds = Arc::new(Feeds::default());
        let sink: Arc<dyn Fn(Notice) + Send + Sync> = {
            let feeds = feeds.clone();
            Arc::new(move |notice| feeds.notice(notice))
        };
        store.listen(Arc::downgrade(&sink))?;
        Ok(Conversations {
            store,
            feeds,
            retention,
            expiry: Default::default(),
            _sink: sink,
        })
    }

    /// The channel's key, the same on every host sharing the database.
    pub fn channel_key(&self) -> Result<Vec<u8>, StorageError> {
        self.store.channel_key()
    }

    /// A new conversation; now and then (once a minute at most) the idle
    /// ones are forgotten too.
    pub async fn create(&self, bot: &str, user: &str) -> Result<Conversation, StorageError> {
        let conversation = DirectLineConversation {
            id: crate::support::ids::random_id(),
            bot: bot.to_owned(),
            user: user.to_owned(),
        };
        let now = now_millis();
        let forget_before = self
            .expiry
            .due(now)
            .then(|| now - self.retention.as_millis() as i64);
        let store = self.store.clone();
        let created = conversation.clone();
        blocking(move || {
            if let Some(before) = forget_before {
                match store.forget_idle_conversations(before) {
                    Ok(0) => {}
                    Ok(forgotten) => {
                        tracing::info!(forgotten, "idle Direct Line conversations forgotten")
                    }
                    Err(err) => {
                        tracing::warn!(error = %err, "cannot forget idle Direct Line conversations")
                    }
                }
            }
            store.create_conversation(&created)
        })
        .await?;
        Ok(conversation)
    }

    pub async fn get(&self, id: &str) -> Result<Option<Conversation>, StorageError> {
        let (store, id) = (self.store.clone(), id.to_owned());
        blocking(move || store.conversation(&id)).await
    }

    /// Marks the conversation started; true the first time.
    pub async fn start(&self, id: &str) -> Result<bool, StorageError> {
        let (store, id) = (self.store.clone(), id.to_owned());
        blocking(move || store.start_conversation(&id)).await
    }

    /// Appends a client's activity (a user's, or the conversations API's)
    /// and wakes the streams, here and on other hosts; returns its id
    /// (given when it has none) and whether its turn was kept: in the same
    /// transaction (`DirectLineStore::append_keeping`) when `keep` is given
    /// and the activity is logged. Typing is pushed to streams but not
    /// logged. Not an object: refused. A mark the client wrote itself is
    /// dropped: only the bot's sends carry one.
    pub async fn append_from_user(
        &self,
        conversation: &str,
        activity: Value,
        keep: Option<KeepTurn>,
    ) -> Result<(String, bool), StorageError> {
        self.append_one(conversation, activity, Sender::Client(keep))
            .await
    }

    /// Appends what the bot sent (a reply, an update, a delete), as
    /// `append_from_user` does, marked in the log as the bot's (`BOT_MARK`): whatever
    /// its `from` says, its sender is no member for that.
    pub async fn append_from_bot(
        &self,
        conversation: &str,
        activity: Value,
    ) -> Result<String, StorageError> {
        Ok(self
            .append_one(conversation, activity, Sender::Bot)
            .await?
            .0)
    }

    /// The id, and whether a turn was kept with it.
    async fn append_one(
        &self,
        conversation: &str,
        mut activity: Value,
        sender: Sender,
    ) -> Result<(String, bool), StorageError> {
        for_clients(&mut activity);
        let Some(object) = activity.as_object_mut() else {
            return Err(StorageError::Backend(
                "a Direct Line activity must be a JSON object".into(),
            ));
        };
        let store = self.store.clone();
        let id_of = conversation.to_owned();
        if object.get("type").and_then(Value::as_str) == Some("typing") {
            let id = match object.get("id").and_then(Value::as_str) {
                Some(id) if !id.is_empty() => id.to_owned(),
                _ => {
                    let id = format!("{conversation}|typing-{}", crate::support::ids::random_id());
                    object.insert("id".into(), Value::String(id.clone()));
                    id
                }
            };
            self.feeds
                .wake(conversation, Wake::Typing(activity.clone()));
            blocking(move || store.announce_typing(&id_of, &activity)).await?;
            return Ok((id, false));
        }
        let keep = match sender {
            Sender::Bot => {
                object.insert(BOT_MARK.into(), Value::Bool(true));
                None
            }
            Sender::Client(keep) => keep,
        };
        let kept = keep.is_some();
        let id = blocking(move || match keep {
            Some(keep) => store.append_keeping(&id_of, activity, keep),
            None => store.append_activity(&id_of, activity),
        })
        .await?;
        self.feeds.wake(conversation, Wake::Appended);
        Ok((id, kept))
    }

    /// Appends a history the bot sent (`sendConversationHistory`): in
    /// order, all or none (a store failure or a crash part-way logs none of
    /// them), each marked as the bot's; wakes the streams once and returns
    /// the ids. Each must be an object and not typing; none is nothing.
    pub async fn append_history(
        &self,
        conversation: &str,
        mut activities: Vec<Value>,
    ) -> Result<Vec<String>, StorageError> {
        if activities.is_empty() {
            return Ok(Vec::new());
        }
        for activity in &mut activities {
            for_clients(activity);
            let Some(object) = activity.as_object_mut().filter(|o| o["type"] != "typing") else {
                return Err(StorageError::Backend(
                    "a history's activities must be JSON objects, not typing".into(),
                ));
            };
            object.insert(BOT_MARK.into(), Value::Bool(true));
        }
        let (store, id_of) = (self.store.clone(), conversation.to_owned());
        let ids = blocking(move || store.append_history(&id_of, activities)).await?;
        self.feeds.wake(conversation, Wake::Appended);
        Ok(ids)
    }

    /// The activities from `watermark` on, and the new watermark.
    pub async fn since(
        &self,
        conversation: &str,
        watermark: usize,
    ) -> Result<(Vec<Value>, usize), StorageError> {
        let (store, id) = (self.store.clone(), conversation.to_owned());
        let (mut activities, next) =
            blocking(move || store.activities_since(&id, watermark)).await?;
        // (A log an older host wrote may still hold a `serviceUrl`.)
        activities.iter_mut().for_each(for_clients);
        Ok((activities, next))
    }

    /// The whole log as kept, marks included (for the member calls).
    pub async fn log(&self, conversation: &str) -> Result<Vec<Value>, StorageError> {
        let (store, id) = (self.store.clone(), conversation.to_owned());
        Ok(blocking(move || store.activities_since(&id, 0)).await?.0)
    }

    /// Wake-ups for the conversation's log, from now on.
    pub fn subscribe(&self, conversation: &str) -> broadcast::Receiver<Wake> {
        let mut map = self.feeds.map.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(conversation.to_owned())
            .or_insert_with(|| broadcast::channel(256).0)
            .subscribe()
    }

    /// Forgets the conversation's feed once no stream listens to it.
    pub fn unsubscribe(&self, conversation: &str) {
        let mut map = self.feeds.map.lock().unwrap_or_else(|p| p.into_inner());
        if map
            .get(conversation)
            .is_some_and(|feed| feed.receiver_count() == 0)
        {
            map.remove(conversation);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::SqliteStorage;
    use serde_json::json;

    #[tokio::test]
    async fn watermarks_replay_without_loss_or_duplicates() {
        let store = Arc::new(SqliteStorage::in_memory().unwrap());
        let all = Conversations::new(store, Duration::from_secs(3600)).unwrap();
        let c = all.create("echo", "u").await.unwrap();
        let mut feed = all.subscribe(&c.id);
        let first = all
            .append_from_user(&c.id, json!({"type": "message", "text": "a"}), None)
            .await
            .unwrap()
            .0;
        assert_eq!(first, format!("{}|0000000", c.id));
        all.append_from_user(&c.id, json!({"type": "typing"}), None)
            .await
            .unwrap();
        all.append_from_user(
            &c.id,
            json!({"type": "message", "text": "b", "id": "given"}),
            None,
        )
        .await
        .unwrap();
        let (all_of_it, watermark) = all.since(&c.id, 0).await.unwrap();
        assert_eq!(watermark, 2, "typing is not logged");
        assert_eq!(all_of_it[1]["id"], "given");
        let (rest, same) = all.since(&c.id, 1).await.unwrap();
        assert_eq!((rest.len(), same), (1, 2));
        assert_eq!(all.since(&c.id, 99).await.unwrap().0.len(), 0);
        let woken: Vec<bool> = (0..3)
            .map(|_| matches!(feed.try_recv().unwrap(), Wake::Typing(_)))
            .collect();
        assert_eq!(woken, [false, true, false]);
        assert!(all.start(&c.id).await.unwrap() && !all.start(&c.id).await.unwrap());
        assert_eq!(all.get(&c.id).await.unwrap(), Some(c.clone()));
        assert_eq!(all.get("nope").await.unwrap(), None);
        drop(feed);
        all.unsubscribe(&c.id);
        assert!(all.feeds.map.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn idle_conversations_are_forgotten_when_new_ones_start() {
        let store = Arc::new(SqliteStorage::in_memory().unwrap());
        let all = Conversations::new(store, Duration::from_millis(1)).unwrap();
        let old = all.create("echo", "u").await.unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
        let kept = all.create("echo", "u").await.unwrap();
        assert!(all.get(&old.id).await.unwrap().is_some(), "once a minute");
        all.expiry.reset();
        tokio::time::sleep(Duration::from_millis(5)).await;
        let new = all.create("echo", "u").await.unwrap();
        assert_eq!(all.get(&old.id).await.unwrap(), None);
        assert_eq!(all.get(&kept.id).await.unwrap(), None);
        assert_eq!(all.get(&new.id).await.unwrap(), Some(new));
    }
}
