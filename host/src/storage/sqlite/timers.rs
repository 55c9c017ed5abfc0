//! The SQLite timers (`TimerStore`): the `timers` table with a claimed
//! flag; one host alone uses the database, so a claim needs no lease.

use serde_json::Value;

use super::{SqliteStorage, backend};
use crate::storage::StorageError;
use crate::storage::timers::{Timer, TimerOp, TimerStore};

pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS timers (
    id        TEXT PRIMARY KEY,
    bot       TEXT NOT NULL,
    due       INTEGER NOT NULL,
    name      TEXT NOT NULL,
    value     TEXT,
    reference TEXT NOT NULL,
    claimed   INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS timers_by_due ON timers (claimed, due);
";

/// Applies a turn's timer change on `conn` (in its commit).
pub(super) fn apply(
    conn: &rusqlite::Connection,
    bot: &str,
    op: &TimerOp,
) -> Result<(), StorageError> {
    match op {
        TimerOp::Schedule(timer) => schedule(conn, timer),
        TimerOp::Cancel(id) => cancel(conn, bot, id).map(|_| ()),
    }
}

fn schedule(conn: &rusqlite::Connection, timer: &Timer) -> Result<(), StorageError> {
    conn.prepare_cached(
        "INSERT INTO timers (id, bot, due, name, value, reference) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )
    .map_err(backend)?
    .execute(rusqlite::params![
        timer.id,
        timer.bot,
        timer.due,
        timer.name,
        timer.value.as_ref().map(Value::to_string),
        timer.reference.to_string()
    ])
    .map_err(backend)?;
    Ok(())
}

fn cancel(conn: &rusqlite::Connection, bot: &str, id: &str) -> Result<bool, StorageError> {
    let removed = conn
        .prepare_cached("DELETE FROM timers WHERE id = ?1 AND bot = ?2 AND claimed = 0")
        .map_err(backend)?
        .execute(rusqlite::params![id, bot])
        .map_err(backend)?;
    Ok(removed > 0)
}

/// Removes a fired timer on `conn` (in its turn's commit); false when it
/// was gone already.
pub(super) fn complete(conn: &rusqlite::Connection, id: &str) -> Result<bool, StorageError> {
    let removed = conn
        .prepare_cached("DELETE FROM timers WHERE id = ?1")
        .map_err(backend)?
        .execute(rusqlite::params![id])
        .map_err(backend)?;
    Ok(removed > 0)
}

impl TimerStore for SqliteStorage {
    fn schedule(&self, timer: &Timer) -> Result<(), StorageError> {
        schedule(&self.conn(), timer)
    }

    fn cancel(&self, bot: &str, id: &str) -> Result<bool, StorageError> {
        cancel(&self.conn(), bot, id)
    }

    fn exists(&self, bot: &str, id: &str) -> Result<bool, StorageError> {
        let count: i64 = self
            .conn()
            .query_row(
                "SELECT COUNT(*) FROM timers WHERE id = ?1 AND bot = ?2 AND claimed = 0",
                rusqlite::params![id, bot],
                |row| row.get(0),
            )
            .map_err(backend)?;
        Ok(count > 0)
    }

    fn claim_due(&self, now: i64, limit: u32) -> Result<Vec<Timer>, StorageError> {
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(backend)?;
        let timers = {
            let mut statement = tx
                .prepare(
                    "SELECT id, bot, due, name, value, reference FROM timers
                     WHERE claimed = 0 AND due <= ?1 ORDER BY due LIMIT ?2",
                )
                .map_err(backend)?;
            statement
                .query_map(rusqlite::params![now, limit], |row| {
                    Ok(Timer::from_stored(
                        row.get(0)?,
                        row.get(1)?,
                        row.get(2)?,
                        row.get(3)?,
                        row.get(4)?,
                        row.get(5)?,
                    ))
                })
                .map_err(backend)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(backend)?
        };
        for timer in &timers {
            tx.execute(
                "UPDATE timers SET claimed = 1 WHERE id = ?1",
                rusqlite::params![timer.id],
            )
            .map_err(backend)?;
        }
        tx.commit().map_err(backend)?;
        Ok(timers)
    }

    fn complete(&self, id: &str) -> Result<(), StorageError> {
        self.conn()
            .execute("DELETE FROM timers WHERE id = ?1", rusqlite::params![id])
            .map_err(backend)?;
        Ok(())
    }

    fn release(&self, id: &str, due: i64) -> Result<(), StorageError> {
        self.conn()
            .execute(
                "UPDATE timers SET claimed = 0, due = ?2 WHERE id = ?1",
                rusqlite::params![id, due],
            )
            .map_err(backend)?;
        Ok(())
    }

    fn release_all(&self) -> Result<(), StorageError> {
        self.conn()
            .execute("UPDATE timers SET claimed = 0 WHERE claimed = 1", [])
            .map_err(backend)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// (The rest of the contract is in the storage suite.)
    #[test]
    fn a_single_host_releases_every_claim_at_start_up() {
        let store = SqliteStorage::in_memory().unwrap();
        store
            .schedule(&Timer {
                id: "t".into(),
                bot: "b".into(),
                due: 100,
                name: "n".into(),
                value: Some(json!({"k": 1})),
                reference: json!({"conversation": {"id": "c"}}),
            })
            .unwrap();
        assert_eq!(store.claim_due(1000, 10).unwrap().len(), 1);
        assert!(store.claim_due(1000, 10).unwrap().is_empty());
        store.release_all().unwrap();
        assert_eq!(
            store.claim_due(1000, 10).unwrap().len(),
            1,
            "released claims fire again"
        );
    }
}
