//! The SQLite store of turns accepted before they ended
//! (`AcceptedStore`): the `accepted` table, one row per turn, with its
//! claim (`claimed_until`, `owner`).

use rusqlite::params;

use super::{SqliteStorage, backend};
use crate::storage::StorageError;
use crate::storage::accepted::{AcceptedStore, AcceptedTurn, ClaimedTurn};
use crate::storage::outbox::Route;
use crate::support::clock::now_millis;

pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS accepted (
    bot           TEXT NOT NULL,
    conversation  TEXT NOT NULL,
    activity_id   TEXT NOT NULL,
    activity      TEXT NOT NULL,
    route         TEXT NOT NULL,
    claimed_until INTEGER NOT NULL,
    owner         TEXT NOT NULL,
    created       INTEGER NOT NULL,
    PRIMARY KEY (bot, conversation, activity_id)
);
";

/// Forgets a kept turn on `conn` (in its commit, or alone).
pub(super) fn finish(
    conn: &rusqlite::Connection,
    bot: &str,
    conversation: &str,
    activity_id: &str,
) -> Result<(), StorageError> {
    conn.prepare_cached(
        "DELETE FROM accepted WHERE bot = ?1 AND conversation = ?2 AND activity_id = ?3",
    )
    .map_err(backend)?
    .execute(params![bot, conversation, activity_id])
    .map_err(backend)?;
    Ok(())
}

/// Keeps `turn` on `conn` (alone, or with its activity's append), held by
/// `owner` until `until`.
pub(super) fn keep(
    conn: &rusqlite::Connection,
    turn: &AcceptedTurn,
    owner: &str,
    until: i64,
) -> Result<(), StorageError> {
    conn.prepare_cached(
        "INSERT INTO accepted
         (bot, conversation, activity_id, activity, route, claimed_until, owner, created)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         ON CONFLICT (bot, conversation, activity_id) DO UPDATE
         SET activity = excluded.activity, route = excluded.route,
             claimed_until = excluded.claimed_until, owner = excluded.owner",
    )
    .map_err(backend)?
    .execute(params![
        turn.bot,
        turn.conversation,
        turn.activity_id,
        turn.activity,
        turn.route.as_str(),
        until,
        owner,
        now_millis()
    ])
    .map_err(backend)?;
    Ok(())
}

impl AcceptedStore for SqliteStorage {
    fn accept_turn(
        &self,
        turn: &AcceptedTurn,
        owner: &str,
        until: i64,
    ) -> Result<(), StorageError> {
        keep(&self.conn(), turn, owner, until)
    }

    fn finish_turn(
        &self,
        bot: &str,
        conversation: &str,
        activity_id: &str,
    ) -> Result<(), StorageError> {
        finish(&self.conn(), bot, conversation, activity_id)
    }

    fn release_accepted(&self, owner: &str) -> Result<(), StorageError> {
        self.conn()
            .prepare_cached("UPDATE accepted SET claimed_until = 0, owner = '' WHERE owner = ?1")
            .map_err(backend)?
            .execute(params![owner])
            .map_err(backend)?;
        Ok(())
    }

    fn claim_accepted(
        &self,
        now: i64,
        until: i64,
        owner: &str,
        n: u32,
    ) -> Result<Vec<ClaimedTurn>, StorageError> {
        let any: bool = self
            .reader()
            .prepare_cached("SELECT EXISTS (SELECT 1 FROM accepted WHERE claimed_until <= ?1)")
            .map_err(backend)?
            .query_row(params![now], |row| row.get(0))
            .map_err(backend)?;
        if !any {
            return Ok(Vec::new());
        }
        let conn = self.conn();
        let mut statement = conn
            .prepare_cached(
                "UPDATE accepted SET claimed_until = ?1, owner = ?2
                 WHERE rowid IN (SELECT rowid FROM accepted WHERE claimed_until <= ?3
                                 ORDER BY created LIMIT ?4)
                 RETURNING bot, conversation, activity_id, activity, route, created",
            )
            .map_err(backend)?;
        let rows = statement
            .query_map(params![until, owner, now, n], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, String>(2)?,
                    row.get::<_, String>(3)?,
                    row.get::<_, String>(4)?,
                    row.get::<_, i64>(5)?,
                ))
            })
            .map_err(backend)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(backend)?;
        Ok(rows
            .into_iter()
            .map(
                |(bot, conversation, activity_id, activity, route, created)| ClaimedTurn {
                    turn: AcceptedTurn {
                        bot,
                        conversation,
                        activity_id,
                        activity,
                        // An unknown route is retried as dev mode's: never with a token.
                        route: Route::parse(&route).unwrap_or(Route::Dev),
                    },
                    accepted_at: created,
                },
            )
            .collect())
    }

    fn release_all_accepted(&self) -> Result<(), StorageError> {
        self.conn()
            .execute("UPDATE accepted SET claimed_until = 0, owner = ''", [])
            .map_err(backend)?;
        Ok(())
    }
}
