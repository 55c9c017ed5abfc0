//! The SQLite de-duplication records (`DedupStore`): the `delivered`
//! table, read through the read-only connections when the in-memory
//! filter in front of it (`delivered_filter.rs`) cannot rule a delivery out.

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
CREATE INDEX IF NOT EXISTS delivered_created ON delivered (created);
";

/// Records forgotten per statement.
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

    /// In batches of `EXPIRE_BATCH`, each a transaction of its own: the
    /// committer shares the writer connection, so it waits for one batch
    /// at most, not for a minute's records (360,000 at 6,000 turns/s).
    fn expire(&self, before_ms: i64) -> Result<usize, StorageError> {
        let mut forgotten = 0;
        loop {
            let deleted = self
                .conn()
                .prepare_cached(
                    "DELETE FROM delivered WHERE rowid IN
                       (SELECT rowid FROM delivered WHERE created < ?1 LIMIT ?2)",
                )
                .map_err(backend)?
                .execute(rusqlite::params![before_ms, EXPIRE_BATCH as i64])
                .map_err(backend)?;
            forgotten += deleted;
            if deleted < EXPIRE_BATCH {
                self.delivered.forget(before_ms);
                return Ok(forgotten);
            }
        }
    }

    fn quick_reads(&self) -> bool {
        SqliteStorage::quick_reads(self)
    }
}

/// Records a turn's answer to the delivery it claimed, on `conn` (in its
/// commit): `ClaimLost` when an answer was recorded since the window began
/// (another attempt applied the delivery: this turn must not).
pub(super) fn record_claimed_delivery(
    conn: &rusqlite::Connection,
    bot: &str,
    delivery: &DeliveryRecord,
) -> Result<(), StorageError> {
    let written = conn
        .prepare_cached(
            "INSERT INTO delivered (bot, conversation, activity_id, status, body, created)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (bot, conversation, activity_id) DO UPDATE SET
               status = excluded.status, body = excluded.body, created = excluded.created
             WHERE delivered.created < ?7",
        )
        .map_err(backend)?
        .execute(rusqlite::params![
            bot,
            delivery.conversation,
            delivery.activity_id,
            delivery.answer.status,
            delivery.answer.body.as_deref(),
            now_millis(),
            delivery.since
        ])
        .map_err(backend)?;
    if written == 0 {
        return Err(StorageError::ClaimLost);
    }
    Ok(())
}

/// Records the answer to a delivery on `conn` (in a transaction or not).
pub(super) fn record_delivery(
    conn: &rusqlite::Connection,
    bot: &str,
    conversation: &str,
    activity_id: &str,
    answer: &Answer,
) -> Result<(), StorageError> {
    conn.prepare_cached(
        "INSERT INTO delivered (bot, conversation, activity_id, status, body, created)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (bot, conversation, activity_id) DO UPDATE SET
           status = excluded.status, body = excluded.body, created = excluded.created",
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
        let answer = Answer {
            status: 200,
            body: None,
        };
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
}
