//! The SQLite de-duplication records (`DedupStore`): the `delivered`
//! table, read through the read-only connections when the in-memory
//! filter in front of it (`delivered_filter.rs`) cannot rule a delivery out.
//!
//! Rows are appended in commit order (a delivery recorded again is
//! replaced, never updated in place), so `created` rises with the rowid and
//! expiry finds the old rows at the front without an index on `created`:
//! that index cost each turn a page of WAL, a fifth of its writes.

use super::{SqliteStorage, backend};
use crate::storage::StorageError;
use crate::storage::commit::DeliveryRecord;
use crate::storage::dedup::{Answer, Claim, DedupStore};
use crate::support::clock::now_millis;

pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS delivered (
    bot          TEXT NOT NULL,
    conversation TEXT NOT NULL,
    activity_id  TEXT NOT NULL,
    status       INTEGER NOT NULL,
    body         TEXT,
    created      INTEGER NOT NULL,
    PRIMARY KEY (bot, conversation, activity_id)
);
DROP INDEX IF EXISTS delivered_created;
";

/// Rowids per expiring statement (so at most this many records each).
const EXPIRE_BATCH: usize = 2_000;

impl DedupStore for SqliteStorage {
    /// One host alone uses the database, and it runs a conversation's turns
    /// in order: the claim is that order, so this only looks for an answer.
    fn claim(
        &self,
        bot: &str,
        conversation: &str,
        activity_id: &str,
        _owner: &str,
        _until: i64,
        since_ms: i64,
    ) -> Result<Claim, StorageError> {
        Ok(
            match self.answered(bot, conversation, activity_id, since_ms)? {
                Some(answer) => Claim::Answered(answer),
                None => Claim::Claimed,
            },
        )
    }

    fn release_claim(&self, _: &str, _: &str, _: &str, _: &str) -> Result<(), StorageError> {
        Ok(())
    }

    fn answered(
        &self,
        bot: &str,
        conversation: &str,
        activity_id: &str,
        since_ms: i64,
    ) -> Result<Option<Answer>, StorageError> {
        use rusqlite::OptionalExtension;
        if !self.delivered.may_hold(bot, conversation, activity_id) {
            return Ok(None);
        }
        // Cached statements: these run on every channel turn.
        let row: Option<(u16, Option<String>)> = self
            .reader()
            .prepare_cached(
                "SELECT status, body FROM delivered
                 WHERE bot = ?1 AND conversation = ?2 AND activity_id = ?3 AND created >= ?4",
            )
            .map_err(backend)?
            .query_row(
                rusqlite::params![bot, conversation, activity_id, since_ms],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()
            .map_err(backend)?;
        Ok(row.map(|(status, body)| Answer { status, body }))
    }

    fn record(
        &self,
        bot: &str,
        conversation: &str,
        activity_id: &str,
        answer: &Answer,
    ) -> Result<(), StorageError> {
        self.delivered
            .add(bot, conversation, activity_id, now_millis());
        record_delivery(&self.conn(), bot, conversation, activity_id, answer)
    }

    /// In rowid ranges of `EXPIRE_BATCH`, each a transaction of its own:
    /// the committer shares the writer connection, so it waits for one
    /// range at most, not for a minute's records (360,000 at 6,000
    /// turns/s). The ranges end where the young rows begin (`young_from`);
    /// each row's age is still checked, so a row out of order (a wall clock
    /// that stepped back) is kept, never forgotten early.
    fn expire(&self, before_ms: i64) -> Result<usize, StorageError> {
        use rusqlite::OptionalExtension;
        let Some(bound) = young_from(&self.conn(), before_ms)? else {
            self.delivered.forget(before_ms);
            return Ok(0);
        };
        let mut forgotten = 0;
        let mut cursor = i64::MIN;
        loop {
            let conn = self.conn();
            let first: Option<i64> = conn
                .prepare_cached(
                    "SELECT rowid FROM delivered WHERE rowid >= ?1 AND rowid < ?2
                     ORDER BY rowid LIMIT 1",
                )
                .map_err(backend)?
                .query_row(rusqlite::params![cursor, bound], |row| row.get(0))
                .optional()
                .map_err(backend)?;
            let Some(first) = first else { break };
            let end = first.saturating_add(EXPIRE_BATCH as i64).min(bound);
            forgotten += conn
                .prepare_cached(
                    "DELETE FROM delivered WHERE rowid >= ?1 AND rowid < ?2 AND created < ?3",
                )
                .map_err(backend)?
                .execute(rusqlite::params![first, end, before_ms])
                .map_err(backend)?;
            cursor = end;
        }
        self.delivered.forget(before_ms);
        Ok(forgotten)
    }

    fn quick_reads(&self) -> bool {
        SqliteStorage::quick_reads(self)
    }
}

/// The rowid where the young rows (`created >= before_ms`) begin, by a
/// binary search over rowids (SQLite assigns each new row the largest
/// rowid plus one, and `created` rises with them): every row before it is
/// older. `None` for an empty table. A young row out of order (a wall
/// clock that stepped back) may end the search early: the old rows after
/// it then wait until it ages out too. Expiry is late, never early.
fn young_from(conn: &rusqlite::Connection, before_ms: i64) -> Result<Option<i64>, StorageError> {
    use rusqlite::OptionalExtension;
    // Two statements: SQLite answers `min` or `max` alone from the rowid
    // B-tree's end, but both together by scanning the table.
    let end = |sql: &str| -> Result<Option<i64>, StorageError> {
        conn.prepare_cached(sql)
            .map_err(backend)?
            .query_row([], |row| row.get(0))
            .optional()
            .map_err(backend)
    };
    let first = end("SELECT rowid FROM delivered ORDER BY rowid LIMIT 1")?;
    let last = end("SELECT rowid FROM delivered ORDER BY rowid DESC LIMIT 1")?;
    let (Some(mut low), Some(last)) = (first, last) else {
        return Ok(None);
    };
    // The answer lies in [low, high]; high past the last row: all old.
    let mut high = last.saturating_add(1);
    let mut at = conn
        .prepare_cached(
            "SELECT rowid, created FROM delivered WHERE rowid >= ?1 ORDER BY rowid LIMIT 1",
        )
        .map_err(backend)?;
    while low < high {
        let middle = ((i128::from(low) + i128::from(high)) / 2) as i64;
        let row: Option<(i64, i64)> = at
            .query_row([middle], |row| Ok((row.get(0)?, row.get(1)?)))
            .optional()
            .map_err(backend)?;
        match row {
            // Old: so is every row up to it.
            Some((rowid, created)) if created < before_ms => low = rowid.saturating_add(1),
            // Young, and no row lies between `middle` and it.
            _ => high = middle,
        }
    }
    Ok(Some(low))
}

/// Records a turn's answer to the delivery it claimed, on `conn` (in its
/// commit): `ClaimLost` when an answer was recorded since the window began
/// (another attempt applied the delivery: this turn must not). An answer
/// older than that is replaced by a new row, appended like any other.
pub(super) fn record_claimed_delivery(
    conn: &rusqlite::Connection,
    bot: &str,
    delivery: &DeliveryRecord,
) -> Result<(), StorageError> {
    let insert = || {
        conn.prepare_cached(
            "INSERT INTO delivered (bot, conversation, activity_id, status, body, created)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT DO NOTHING",
        )
        .map_err(backend)?
        .execute(rusqlite::params![
            bot,
            delivery.conversation,
            delivery.activity_id,
            delivery.answer.status,
            delivery.answer.body.as_deref(),
            now_millis(),
        ])
        .map_err(backend)
    };
    if insert()? == 1 {
        return Ok(());
    }
    let outdated = conn
        .prepare_cached(
            "DELETE FROM delivered
             WHERE bot = ?1 AND conversation = ?2 AND activity_id = ?3 AND created < ?4",
        )
        .map_err(backend)?
        .execute(rusqlite::params![
            bot,
            delivery.conversation,
            delivery.activity_id,
            delivery.since
        ])
        .map_err(backend)?;
    if outdated == 0 {
        return Err(StorageError::ClaimLost);
    }
    // The key is the table's only constraint, and its row is gone.
    if insert()? == 0 {
        return Err(StorageError::Backend(
            "a replaced delivery record was not written".into(),
        ));
    }
    Ok(())
}

/// Records the answer to a delivery on `conn` (in a transaction or not),
/// replacing (as a new row) any answer recorded before.
pub(super) fn record_delivery(
    conn: &rusqlite::Connection,
    bot: &str,
    conversation: &str,
    activity_id: &str,
    answer: &Answer,
) -> Result<(), StorageError> {
    conn.prepare_cached(
        "INSERT OR REPLACE INTO delivered (bot, conversation, activity_id, status, body, created)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )
    .map_err(backend)?
    .execute(rusqlite::params![
        bot,
        conversation,
        activity_id,
        answer.status,
        answer.body.as_deref(),
        now_millis()
    ])
    .map_err(backend)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An answer without a body, as most deliveries record.
    fn empty_answer() -> Answer {
        Answer {
            status: 200,
            body: None,
        }
    }

    /// A reopened database reads its recorded deliveries into the filter:
    /// a duplicate of one is looked up, a new activity is ruled out, and
    /// one recorded while the read runs is held too.
    #[test]
    fn the_filter_holds_what_the_table_held_before_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        let answer = Answer {
            status: 200,
            body: Some("{}".into()),
        };
        {
            let store = SqliteStorage::open(&path).unwrap();
            // Few: each is a commit of its own, and the checkpoint test
            // beside it needs the disk.
            for n in 0..300 {
                store.record("b", "c", &format!("a{n}"), &answer).unwrap();
            }
        }
        let store = SqliteStorage::open(&path).unwrap();
        store.record("b", "c", "during", &answer).unwrap();
        let start = std::time::Instant::now();
        while !store.delivered.is_complete() {
            assert!(start.elapsed().as_secs() < 30, "the filter never loaded");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        for id in ["a0", "a299", "during"] {
            assert!(store.delivered.may_hold("b", "c", id), "{id}");
            assert_eq!(
                store.answered("b", "c", id, 0).unwrap(),
                Some(answer.clone())
            );
        }
        let ruled_out = (0..1_000)
            .filter(|n| !store.delivered.may_hold("b", "c", &format!("new{n}")))
            .count();
        assert!(ruled_out > 900, "{ruled_out} of 1,000 new ids ruled out");
    }

    /// Old records go in several batches; the window's stay.
    #[test]
    fn old_records_are_forgotten_in_batches_and_the_window_kept() {
        let store = SqliteStorage::in_memory().unwrap();
        let answer = empty_answer();
        let old = EXPIRE_BATCH * 2 + 7;
        for n in 0..old {
            store.record("b", "c", &format!("old{n}"), &answer).unwrap();
        }
        store
            .conn()
            .execute("UPDATE delivered SET created = 1", [])
            .unwrap();
        for n in 0..3 {
            store.record("b", "c", &format!("new{n}"), &answer).unwrap();
        }
        assert_eq!(store.expire(now_millis() - 60_000).unwrap(), old);
        assert_eq!(store.answered("b", "c", "old0", 0).unwrap(), None);
        for n in 0..3 {
            let id = format!("new{n}");
            assert_eq!(
                store.answered("b", "c", &id, 0).unwrap(),
                Some(answer.clone())
            );
        }
    }

    fn claimed(id: &str, since: i64) -> DeliveryRecord {
        DeliveryRecord {
            conversation: "c".into(),
            activity_id: id.into(),
            owner: "me".into(),
            since,
            answer: Answer {
                status: 200,
                body: Some(format!("{{\"since\":{since}}}")),
            },
        }
    }

    fn rowid(store: &SqliteStorage, id: &str) -> i64 {
        store
            .conn()
            .query_row(
                "SELECT rowid FROM delivered WHERE activity_id = ?1",
                [id],
                |row| row.get(0),
            )
            .unwrap()
    }

    /// An answer recorded within the window refuses the claim and stays;
    /// one recorded before it is replaced by a row after all the others
    /// (expiry relies on that order).
    #[test]
    fn a_claimed_delivery_is_refused_within_the_window_and_appended_after_it() {
        let store = SqliteStorage::in_memory().unwrap();
        let conn = store.conn();
        for id in ["a", "b"] {
            record_claimed_delivery(&conn, "bot", &claimed(id, 0)).unwrap();
        }
        let err = record_claimed_delivery(&conn, "bot", &claimed("a", 0)).unwrap_err();
        assert!(matches!(err, StorageError::ClaimLost), "{err:?}");
        drop(conn);
        assert_eq!(rowid(&store, "a"), 1);

        let later = now_millis() + 1_000;
        record_claimed_delivery(&store.conn(), "bot", &claimed("a", later)).unwrap();
        assert!(rowid(&store, "a") > rowid(&store, "b"));
        // (The filter is bypassed: these writes did not go through a commit.)
        let body: String = store
            .conn()
            .query_row(
                "SELECT body FROM delivered WHERE activity_id = 'a'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(body, format!("{{\"since\":{later}}}"));
        assert_eq!(
            store
                .conn()
                .query_row("SELECT count(*) FROM delivered", [], |r| r.get::<_, i64>(0))
                .unwrap(),
            2
        );
    }

    /// A delivery recorded again (an answer replaced) does not hold back the
    /// expiry of the rows recorded after its first record.
    #[test]
    fn a_delivery_recorded_again_does_not_hold_back_expiry() {
        let store = SqliteStorage::in_memory().unwrap();
        let answer = empty_answer();
        for id in ["a0", "a1", "a2"] {
            store.record("b", "c", id, &answer).unwrap();
        }
        store
            .conn()
            .execute("UPDATE delivered SET created = 1", [])
            .unwrap();
        store.record("b", "c", "a1", &answer).unwrap();
        assert_eq!(store.expire(now_millis() - 60_000).unwrap(), 2);
        assert_eq!(store.answered("b", "c", "a1", 0).unwrap(), Some(answer));
    }

    /// A young row among old ones (a wall clock that stepped back) is kept;
    /// the old rows around it go.
    #[test]
    fn a_young_row_out_of_order_is_kept() {
        let store = SqliteStorage::in_memory().unwrap();
        let answer = empty_answer();
        for n in 0..EXPIRE_BATCH * 2 {
            store.record("b", "c", &format!("r{n}"), &answer).unwrap();
        }
        let straggler = EXPIRE_BATCH + 3;
        store
            .conn()
            .execute(
                "UPDATE delivered SET created = 1 WHERE activity_id != ?1",
                [format!("r{straggler}")],
            )
            .unwrap();
        store.record("b", "c", "new", &answer).unwrap();
        // Every old row: the search's probes all land past the straggler.
        assert_eq!(
            store.expire(now_millis() - 60_000).unwrap(),
            EXPIRE_BATCH * 2 - 1
        );
        for id in [format!("r{straggler}"), "new".to_owned()] {
            assert_eq!(
                store.answered("b", "c", &id, 0).unwrap(),
                Some(answer.clone()),
                "{id}"
            );
        }
        assert_eq!(store.answered("b", "c", "r0", 0).unwrap(), None);
    }

    /// An empty table has nothing to forget, and says so.
    #[test]
    fn an_empty_table_forgets_nothing() {
        let store = SqliteStorage::in_memory().unwrap();
        assert_eq!(young_from(&store.conn(), now_millis()).unwrap(), None);
        assert_eq!(store.expire(now_millis()).unwrap(), 0);
    }
}
