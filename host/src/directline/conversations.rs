//! Direct Line conversations, in memory: each one's bot and user, its
//! activity log (the watermark is a position in it, so replaying a watermark
//! loses nothing), and a feed for WebSocket streams. Typing activities go
//! only to the feed.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::Value;
use tokio::sync::broadcast;

/// An activity as pushed to streams: its log position, or `None` for an
/// activity that is not logged (typing).
#[derive(Debug, Clone)]
pub struct Pushed {
    pub position: Option<usize>,
    pub activity: Value,
}

/// One Direct Line conversation.
pub struct Conversation {
    pub id: String,
    pub bot: String,
    pub user: String,
    started: AtomicBool,
    log: Mutex<Vec<Value>>,
    feed: broadcast::Sender<Pushed>,
}

impl Conversation {
    /// Marks the conversation started; true the first time.
    pub fn start(&self) -> bool {
        !self.started.swap(true, Ordering::SeqCst)
    }

    /// Appends an activity, giving it an id when it has none, and pushes it
    /// to streams; returns the id. Typing is pushed but not logged.
    pub fn append(&self, mut activity: Value) -> String {
        let typing = activity.get("type").and_then(Value::as_str) == Some("typing");
        let mut log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        let position = log.len();
        let id = match activity.get("id").and_then(Value::as_str) {
            Some(id) if !id.is_empty() => id.to_owned(),
            _ => {
                let id = format!("{}|{position:07}", self.id);
                activity["id"] = Value::String(id.clone());
                id
            }
        };
        if typing {
            drop(log);
            let _ = self.feed.send(Pushed {
                position: None,
                activity,
            });
            return id;
        }
        log.push(activity.clone());
        // Sent under the log lock, so streams see positions in order.
        let _ = self.feed.send(Pushed {
            position: Some(position),
            activity,
        });
        id
    }

    /// The activities from `watermark` on, and the new watermark.
    pub fn since(&self, watermark: usize) -> (Vec<Value>, usize) {
        let log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        let from = watermark.min(log.len());
        (log[from..].to_vec(), log.len())
    }

    /// A feed of everything appended from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Pushed> {
        self.feed.subscribe()
    }
}

/// All conversations of the channel.
#[derive(Default)]
pub struct Conversations {
    map: Mutex<HashMap<String, Arc<Conversation>>>,
}

impl Conversations {
    pub fn create(&self, bot: &str, user: &str) -> Arc<Conversation> {
        let id = crate::storage::new_etag();
        let (feed, _) = broadcast::channel(1024);
        let conversation = Arc::new(Conversation {
            id: id.clone(),
            bot: bot.to_owned(),
            user: user.to_owned(),
            started: AtomicBool::new(false),
            log: Mutex::new(Vec::new()),
            feed,
        });
        self.map
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id, conversation.clone());
        conversation
    }

    pub fn get(&self, id: &str) -> Option<Arc<Conversation>> {
        self.map
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn watermarks_replay_without_loss_or_duplicates() {
        let all = Conversations::default();
        let c = all.create("echo", "u");
        let mut feed = c.subscribe();
        let first = c.append(json!({"type": "message", "text": "a"}));
        assert_eq!(first, format!("{}|0000000", c.id));
        c.append(json!({"type": "typing"}));
        c.append(json!({"type": "message", "text": "b", "id": "given"}));
        let (all_of_it, watermark) = c.since(0);
        assert_eq!(watermark, 2, "typing is not logged");
        assert_eq!(all_of_it[1]["id"], "given");
        let (rest, same) = c.since(1);
        assert_eq!((rest.len(), same), (1, 2));
        assert_eq!(c.since(99).0.len(), 0);
        let pushed: Vec<Option<usize>> =
            (0..3).map(|_| feed.try_recv().unwrap().position).collect();
        assert_eq!(pushed, [Some(0), None, Some(1)]);
        assert!(c.start() && !c.start());
    }
}
