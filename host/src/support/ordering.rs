//! Per-conversation ordering: the turns of one bot in one conversation run
//! one at a time, in arrival order (tokio's mutex is fair: FIFO). Different
//! conversations run concurrently. A conversation's lock is dropped from the
//! map as soon as nobody holds or waits for it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{Mutex as TurnMutex, OwnedMutexGuard};

/// The conversation locks of one bot.
#[derive(Default)]
pub struct ConversationLocks {
    locks: Mutex<HashMap<String, Arc<TurnMutex<()>>>>,
}

/// Held for the length of a turn; releases the conversation on drop.
pub struct ConversationTurn<'a> {
    owner: &'a ConversationLocks,
    conversation: String,
    guard: Option<OwnedMutexGuard<()>>,
}

impl ConversationLocks {
    /// Waits until every earlier turn of `conversation` is done.
    pub async fn enter(&self, conversation: &str) -> ConversationTurn<'_> {
        let lock = {
            let mut locks = self.locks.lock().unwrap_or_else(|p| p.into_inner());
            locks.entry(conversation.to_owned()).or_default().clone()
        };
        // The clone above is moved into the guard, so the map entry's count
        // tells how many turns hold or wait for this conversation.
        let guard = lock.lock_owned().await;
        ConversationTurn {
            owner: self,
            conversation: conversation.to_owned(),
            guard: Some(guard),
        }
    }

    /// How many conversations have a turn running or waiting.
    pub fn active(&self) -> usize {
        self.locks.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

impl Drop for ConversationTurn<'_> {
    fn drop(&mut self) {
        let mut locks = self.owner.locks.lock().unwrap_or_else(|p| p.into_inner());
        drop(self.guard.take());
        if let Some(lock) = locks.get(&self.conversation)
            && Arc::strong_count(lock) == 1
        {
            locks.remove(&self.conversation);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn turns_of_one_conversation_run_in_arrival_order() {
        let locks = Arc::new(ConversationLocks::default());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let first = locks.enter("c").await;
        let mut tasks = Vec::new();
        for n in 0..5 {
            let locks = locks.clone();
            let seen = seen.clone();
            tasks.push(tokio::spawn(async move {
                let _turn = locks.enter("c").await;
                seen.lock().unwrap().push(n);
            }));
            // On this single-threaded runtime, yielding lets task n run
            // until it waits in the queue, before task n+1 is spawned.
            for _ in 0..3 {
                tokio::task::yield_now().await;
            }
        }
        // Another conversation is not blocked.
        drop(locks.enter("other").await);
        drop(first);
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(*seen.lock().unwrap(), vec![0, 1, 2, 3, 4]);
        assert_eq!(locks.active(), 0, "released conversations leave the map");
    }
}
