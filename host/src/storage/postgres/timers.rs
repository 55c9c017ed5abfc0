//! The PostgreSQL timers (`TimerStore`): claimed with `FOR UPDATE SKIP
//! LOCKED` and a lease, so that a claim its host never completes lapses and
//! another host takes the timer over.

use serde_json::Value;

use super::commit::turn_error;
use super::{PgStorage, backend};
use crate::storage::StorageError;
use crate::storage::timers::{Timer, TimerOp, TimerStore};
use crate::support::clock::now_millis;

/// A timer no host holds: never claimed, or its claim lapsed.
const UNCLAIMED: &str = "(claimed_until IS NULL OR claimed_until < $3)";

/// Applies a turn's timer change on `client` (in its commit).
pub(super) fn apply(
    client: &mut impl postgres::GenericClient,
    bot: &str,
    op: &TimerOp,
) -> Result<(), StorageError> {
    match op {
        TimerOp::Schedule(timer) => schedule(client, timer),
        TimerOp::Cancel(id) => cancel(client, bot, id).map(|_| ()),
    }
}

fn schedule(client: &mut impl postgres::GenericClient, timer: &Timer) -> Result<(), StorageError> {
    client
        .execute(
            "INSERT INTO timers (id, bot, due, name, value, reference) VALUES ($1, $2, $3, $4, $5, $6)",
            &[
                &timer.id,
                &timer.bot,
                &timer.due,
                &timer.name,
                &timer.value.as_ref().map(Value::to_string),
                &timer.reference.to_string(),
            ],
        )
        .map_err(turn_error)?;
    Ok(())
}

/// Removes a pending (unclaimed) timer; false when there was none.
fn cancel(
    client: &mut impl postgres::GenericClient,
    bot: &str,
    id: &str,
) -> Result<bool, StorageError> {
    let removed = client
        .execute(
            &format!("DELETE FROM timers WHERE id = $1 AND bot = $2 AND {UNCLAIMED}"),
            &[&id, &bot, &now_millis()],
        )
        .map_err(turn_error)?;
    Ok(removed > 0)
}

/// Removes a fired timer on `client` (in a turn's commit or not).
pub(super) fn complete(
    client: &mut impl postgres::GenericClient,
    id: &str,
) -> Result<bool, StorageError> {
    let removed = client
        .execute("DELETE FROM timers WHERE id = $1", &[&id])
        .map_err(turn_error)?;
    Ok(removed > 0)
}

impl TimerStore for PgStorage {
    fn schedule(&self, timer: &Timer) -> Result<(), StorageError> {
        schedule(&mut *self.conn()?, timer)
    }

    fn cancel(&self, bot: &str, id: &str) -> Result<bool, StorageError> {
        cancel(&mut *self.conn()?, bot, id)
    }

    fn exists(&self, bot: &str, id: &str) -> Result<bool, StorageError> {
        let row = self
            .conn()?
            .query_opt(
                &format!("SELECT 1 FROM timers WHERE id = $1 AND bot = $2 AND {UNCLAIMED}"),
                &[&id, &bot, &now_millis()],
            )
            .map_err(backend)?;
        Ok(row.is_some())
    }

    fn claim_due(&self, now: i64, limit: u32) -> Result<Vec<Timer>, StorageError> {
        // Rows another host is claiming right now are skipped, not waited
        // for: each due timer goes to exactly one claim.
        let rows = self
            .conn()?
            .query(
                "UPDATE timers SET claimed_until = $1 + $2
                 WHERE id IN (
                     SELECT id FROM timers
                     WHERE due <= $1 AND (claimed_until IS NULL OR claimed_until < $1)
                     ORDER BY due LIMIT $3
                     FOR UPDATE SKIP LOCKED
                 )
                 RETURNING id, bot, due, name, value, reference",
                &[&now, &self.timer_lease_ms, &i64::from(limit)],
            )
            .map_err(backend)?;
        let mut timers: Vec<Timer> = rows
            .into_iter()
            .map(|row| {
                Timer::from_stored(
                    row.get(0),
                    row.get(1),
                    row.get(2),
                    row.get(3),
                    row.get(4),
                    row.get(5),
                )
            })
            .collect();
        timers.sort_by_key(|t| t.due);
        Ok(timers)
    }

    fn complete(&self, id: &str) -> Result<(), StorageError> {
        complete(&mut *self.conn()?, id).map(|_| ())
    }

    fn release(&self, id: &str, due: i64) -> Result<(), StorageError> {
        self.conn()?
            .execute(
                "UPDATE timers SET claimed_until = NULL, due = $2 WHERE id = $1",
                &[&id, &due],
            )
            .map_err(backend)?;
        Ok(())
    }

    /// Other hosts may hold live claims: nothing is released here; the
    /// claims of a host that died lapse with their lease.
    fn release_all(&self) -> Result<(), StorageError> {
        Ok(())
    }
}
