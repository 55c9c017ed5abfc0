//! Warm instances for bots whose manifest picks `instances.policy =
//! "pooled"`: a small free list of stores with their instances, per bot
//! version. A turn takes one (or instantiates afresh when none is idle) and
//! `run.rs` gives it back when the bot returned normally; an instance that
//! trapped, timed out, ran out of fuel or memory, or served `max_turns`
//! turns is dropped instead. A replaced bot version drops its pool with it.
//!
//! What survives between the turns of one warm instance is the guest's own
//! memory: its globals, heap and caches (in JavaScript and Python, module
//! level variables). Nothing of the host's does: every turn gets a new turn
//! context, state cache, send counter, fuel budget and deadline. Turns of
//! different conversations and users may share an instance, so a pooled bot
//! must not keep one user's data in memory for the next: docs/LANGUAGES.md.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

use wasmtime::Store;

use crate::runtime::entry::BotInstance;
use crate::runtime::store::TurnState;

/// A bot's store with its instance: warm between turns under the pooled
/// policy.
pub struct WarmInstance {
    pub store: Store<TurnState>,
    pub instance: BotInstance,
    /// Turns this instance has served.
    pub turns: u32,
}

/// The idle warm instances of one bot version.
pub struct InstancePool {
    pool_size: usize,
    max_turns: u32,
    idle: Mutex<Vec<WarmInstance>>,
    instantiations: AtomicU64,
    recycled: AtomicU64,
}

/// What `/api/bots` shows of a pool.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PoolStatus {
    pub idle: usize,
    /// Instances created (or tried, when the pool was full) for turns since
    /// the version was loaded.
    pub instantiations: u64,
    /// Instances dropped after serving `max_turns` turns.
    pub recycled: u64,
}

impl InstancePool {
    pub fn new(pool_size: u32, max_turns: u32) -> Self {
        InstancePool {
            pool_size: pool_size as usize,
            max_turns,
            idle: Mutex::new(Vec::with_capacity(pool_size as usize)),
            instantiations: AtomicU64::new(0),
            recycled: AtomicU64::new(0),
        }
    }

    /// An idle warm instance, the most recently used (its memory is the
    /// likeliest to be in cache), or `None`: then the turn instantiates.
    pub fn take(&self) -> Option<WarmInstance> {
        self.lock().pop()
    }

    /// Keeps `instance` for a later turn, unless it has served its turns or
    /// the pool is full.
    pub fn give_back(&self, instance: WarmInstance) {
        if instance.turns >= self.max_turns {
            self.recycled.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let mut idle = self.lock();
        if idle.len() < self.pool_size {
            idle.push(instance);
        }
    }

    pub fn count_instantiation(&self) {
        self.instantiations.fetch_add(1, Ordering::Relaxed);
    }

    pub fn status(&self) -> PoolStatus {
        PoolStatus {
            idle: self.lock().len(),
            instantiations: self.instantiations.load(Ordering::Relaxed),
            recycled: self.recycled.load(Ordering::Relaxed),
        }
    }

    /// The free list; a panic elsewhere while it was held leaves it usable.
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<WarmInstance>> {
        self.idle
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
