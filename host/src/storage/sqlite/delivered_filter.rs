//! An in-memory filter of the deliveries in the `delivered` table, in
//! front of the de-duplication lookup: a delivery it rules out was never
//! recorded, so a new activity (nearly every one) is admitted without a
//! read of the database. A duplicate, or one of the ~1% false positives,
//! is looked up as before.
//!
//! It is exact in one direction only, which is the one that matters: every
//! key in the table is in the filter. That holds because one host alone
//! writes an SQLite database (its lock file), every write of a delivery is
//! added here before its transaction commits (`mod.rs`), and the rows
//! already in the table when the host starts are read in on a thread of
//! their own; until that read is done, every lookup goes to the database.
//!
//! Bloom filters cannot forget, so keys go into generations of
//! `GENERATION_ITEMS` each; a generation is dropped once the newest key in
//! it is older than what the table has forgotten (`forget`, beside the
//! table's own expiry). Past `MAX_GENERATIONS` (a rate the window cannot
//! hold in memory) keys go into the newest generation, whose false
//! positives then grow: more lookups, never a missed duplicate.

use std::collections::VecDeque;
use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use fastbloom::BloomFilter;

/// Keys per generation: 1% false positives in ~240 KiB (touched as it fills).
const GENERATION_ITEMS: usize = 200_000;
const FALSE_POSITIVES: f64 = 0.01;
/// At most this many generations (~15 MiB; 12.8 million keys: 10 minutes
/// of 21,000 turns/s).
const MAX_GENERATIONS: usize = 64;

pub(super) struct DeliveredFilter {
    generations: Mutex<VecDeque<Generation>>,
    /// The table's rows are all in: a key not in the filter is not in the table.
    complete: AtomicBool,
    /// Keys per generation (`GENERATION_ITEMS`; fewer in tests).
    per_generation: usize,
}

struct Generation {
    bloom: BloomFilter,
    items: usize,
    /// When the newest key in it was recorded (Unix ms).
    newest: i64,
}

impl Generation {
    fn new(items: usize) -> Self {
        Generation {
            bloom: BloomFilter::with_false_pos(FALSE_POSITIVES).expected_items(items),
            items: 0,
            newest: i64::MIN,
        }
    }
}

impl DeliveredFilter {
    /// An empty filter, not yet complete.
    pub(super) fn new() -> Self {
        Self::with_generation_items(GENERATION_ITEMS)
    }

    fn with_generation_items(per_generation: usize) -> Self {
        DeliveredFilter {
            generations: Mutex::new(VecDeque::from([Generation::new(per_generation)])),
            complete: AtomicBool::new(false),
            per_generation,
        }
    }

    fn generations(&self) -> std::sync::MutexGuard<'_, VecDeque<Generation>> {
        self.generations.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds a delivery recorded at `created` (Unix ms).
    pub(super) fn add(&self, bot: &str, conversation: &str, activity_id: &str, created: i64) {
        let key = key(bot, conversation, activity_id);
        let mut generations = self.generations();
        let full = generations
            .back()
            .is_none_or(|newest| newest.items >= self.per_generation);
        if full && generations.len() < MAX_GENERATIONS {
            generations.push_back(Generation::new(self.per_generation));
        }
        if let Some(newest) = generations.back_mut() {
            newest.bloom.insert_hash(key);
            newest.items += 1;
            newest.newest = newest.newest.max(created);
        }
    }

    /// Whether the table may hold this delivery: `false` only when it
    /// surely does not.
    pub(super) fn may_hold(&self, bot: &str, conversation: &str, activity_id: &str) -> bool {
        if !self.complete.load(Ordering::Acquire) {
            return true;
        }
        let key = key(bot, conversation, activity_id);
        self.generations()
            .iter()
            .any(|generation| generation.bloom.contains_hash(key))
    }

    /// The table's rows before the host started are all added.
    pub(super) fn mark_complete(&self) {
        self.complete.store(true, Ordering::Release);
    }

    /// Drops the generations whose keys were all recorded before
    /// `before_ms`, which the table forgets (or no lookup accepts).
    pub(super) fn forget(&self, before_ms: i64) {
        let mut generations = self.generations();
        while generations.len() > 1 && generations.front().is_some_and(|g| g.newest < before_ms) {
            generations.pop_front();
        }
        if generations.len() == 1 && generations[0].newest < before_ms {
            generations[0] = Generation::new(self.per_generation);
        }
    }

    #[cfg(test)]
    pub(super) fn is_complete(&self) -> bool {
        self.complete.load(Ordering::Acquire)
    }

    #[cfg(test)]
    fn generation_count(&self) -> usize {
        self.generations().len()
    }
}

/// A delivery's hash (SipHash with fixed keys: the same in every run).
fn key(bot: &str, conversation: &str, activity_id: &str) -> u64 {
    BuildHasherDefault::<DefaultHasher>::default().hash_one((bot, conversation, activity_id))
}

/// Reads every row of `delivered` into `filter` through `reader`, then marks
/// it complete (a thread of its own: a large table takes seconds).
pub(super) fn load(
    filter: &DeliveredFilter,
    reader: &rusqlite::Connection,
) -> Result<usize, rusqlite::Error> {
    let mut rows = 0;
    let mut statement = reader
        .prepare("SELECT bot, conversation, activity_id, created FROM delivered ORDER BY rowid")?;
    let mut query = statement.query([])?;
    while let Some(row) = query.next()? {
        let (bot, conversation, id): (String, String, String) =
            (row.get(0)?, row.get(1)?, row.get(2)?);
        filter.add(&bot, &conversation, &id, row.get(3)?);
        rows += 1;
    }
    filter.mark_complete();
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Keys per generation in these tests.
    const ITEMS: usize = 2_000;

    #[test]
    fn an_incomplete_filter_rules_nothing_out() {
        let filter = DeliveredFilter::new();
        assert!(filter.may_hold("b", "c", "never"));
        filter.mark_complete();
        assert!(!filter.may_hold("b", "c", "never"));
    }

    #[test]
    fn every_added_key_is_held_across_generations_until_forgotten() {
        let filter = DeliveredFilter::with_generation_items(ITEMS);
        filter.mark_complete();
        let count = ITEMS * 2 + 10;
        for n in 0..count {
            filter.add("b", "c", &n.to_string(), n as i64);
        }
        assert_eq!(filter.generation_count(), 3);
        assert!((0..count).all(|n| filter.may_hold("b", "c", &n.to_string())));
        let strangers = (0..10_000)
            .filter(|n| filter.may_hold("b", "c", &format!("x{n}")))
            .count();
        // Three generations at 1% each: a few percent, far from all.
        assert!(strangers < 600, "{strangers} false positives in 10,000");

        // The first generation's newest key is ITEMS - 1.
        filter.forget(ITEMS as i64);
        assert_eq!(filter.generation_count(), 2);
        assert!((ITEMS..count).all(|n| filter.may_hold("b", "c", &n.to_string())));
        filter.forget(i64::MAX);
        assert_eq!(filter.generation_count(), 1);
        assert!(!filter.may_hold("b", "c", &(count - 1).to_string()));
    }

    #[test]
    fn past_the_cap_keys_go_into_the_newest_generation() {
        let filter = DeliveredFilter::with_generation_items(ITEMS);
        filter.mark_complete();
        for n in 0..ITEMS * (MAX_GENERATIONS + 1) {
            filter.add("b", "c", &n.to_string(), 0);
        }
        assert_eq!(filter.generation_count(), MAX_GENERATIONS);
        assert!(filter.may_hold("b", "c", "0"));
        assert!(filter.may_hold("b", "c", &(ITEMS * (MAX_GENERATIONS + 1) - 1).to_string()));
    }
}
