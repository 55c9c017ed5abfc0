//! The SQLite outbox (`OutboxStore`): the `outbox` table, one row per
//! held-back send, in commit order (`seq`), with its claim (`claimed_until`,
//! 0 when free) and its failed posts.

use rusqlite::params;

use super::{SqliteStorage, backend};
use crate::storage::outbox::{OutboxRow, OutboxStore, Route, Unsent};
use crate::storage::{Committed, StorageError};
use crate::support::clock::now_millis;

pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS outbox (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    bot           TEXT NOT NULL,
    conversation  TEXT NOT NULL,
    activity      TEXT NOT NULL,
    route         TEXT NOT NULL,
    claimed_until INTEGER NOT NULL DEFAULT 0,
    owner         TEXT NOT NULL DEFAULT '',
    attempts      INTEGER NOT NULL DEFAULT 0,
    created       INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_by_conversation ON outbox (bot, conversation, seq);
";

/// Stores a turn's held-back sends on `conn` (in its commit): claimed by
/// `owner` until `lease_until` when no earlier row of the conversation
/// waits, else free, for the relay to post after those.
pub(super) fn insert(
    conn: &rusqlite::Connection,
    bot: &str,
    rows: &[OutboxRow],
    lease_until: i64,
    owner: &str,
) -> Result<Committed, StorageError> {
    let Some(first) = rows.first() else {
        return Ok(Committed::default());
    };
    let waiting: bool = conn
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM outbox WHERE bot = ?1 AND conversation = ?2)")
        .map_err(backend)?
        .query_row(params![bot, first.conversation], |row| row.get(0))
        .map_err(backend)?;
    let (claimed_until, owner) = if waiting {
        (0, "")
    } else {
        (lease_until, owner)
    };
    let mut statement = conn
        .prepare_cached(
            "INSERT INTO outbox (bot, conversation, activity, route, claimed_until, owner, created)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )
        .map_err(backend)?;
    let now = now_millis();
    let mut seqs = Vec::with_capacity(rows.len());
    for row in rows {
        statement
            .execute(params![
                bot,
                row.conversation,
                row.activity,
                row.route.as_str(),
                claimed_until,
                owner,
                now
            ])
            .map_err(backend)?;
        seqs.push(conn.last_insert_rowid());
    }
    Ok(Committed {
        outbox: seqs,
        post_now: !waiting,
    })
}

/// Removes rows on `conn`.
pub(super) fn remove(conn: &rusqlite::Connection, seqs: &[i64]) -> Result<(), StorageError> {
    let mut statement = conn
        .prepare_cached("DELETE FROM outbox WHERE seq = ?1")
        .map_err(backend)?;
    for seq in seqs {
        statement.execute(params![seq]).map_err(backend)?;
    }
    Ok(())
}

impl OutboxStore for SqliteStorage {
    fn claim_unsent(
        &self,
        now: i64,
        until: i64,
        owner: &str,
        conversations: u32,
    ) -> Result<Vec<Unsent>, StorageError> {
        // Most ticks find nothing: look on a reader first.
        let any: bool = self
            .reader()
            .prepare_cached("SELECT EXISTS (SELECT 1 FROM outbox WHERE claimed_until <= ?1)")
            .map_err(backend)?
            .query_row(params![now], |row| row.get(0))
            .map_err(backend)?;
        if !any {
            return Ok(Vec::new());
        }
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(backend)?;
        let heads: Vec<(String, String)> = tx
            .prepare(
                "SELECT bot, conversation FROM outbox
                 WHERE seq IN (SELECT MIN(seq) FROM outbox GROUP BY bot, conversation)
                   AND claimed_until <= ?1
                 ORDER BY seq LIMIT ?2",
            )
            .map_err(backend)?
            .query_map(params![now, conversations], |row| {
                Ok((row.get(0)?, row.get(1)?))
            })
            .map_err(backend)?
            .collect::<Result<_, _>>()
            .map_err(backend)?;
        let mut claimed = Vec::new();
        for (bot, conversation) in heads {
            let rows = tx
                .prepare_cached(
                    "UPDATE outbox SET claimed_until = ?1, owner = ?5
                     WHERE bot = ?2 AND conversation = ?3 AND claimed_until <= ?4
                     RETURNING seq, activity, route, attempts",
                )
                .map_err(backend)?
                .query_map(params![until, bot, conversation, now, owner], |row| {
                    Ok(Unsent {
                        seq: row.get(0)?,
                        bot: bot.clone(),
                        conversation: conversation.clone(),
                        activity: row.get(1)?,
                        route: Route::parse(&row.get::<_, String>(2)?),
                        attempts: row.get(3)?,
                    })
                })
                .map_err(backend)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(backend)?;
            claimed.extend(rows);
        }
        tx.commit().map_err(backend)?;
        claimed.sort_by_key(|row| row.seq);
        Ok(claimed)
    }

    fn renew_unsent(&self, seqs: &[i64], owner: &str, until: i64) -> Result<bool, StorageError> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(backend)?;
        let mut renewed = 0;
        {
            let mut statement = tx
                .prepare_cached(
                    "UPDATE outbox SET claimed_until = ?1 WHERE seq = ?2 AND owner = ?3",
                )
                .map_err(backend)?;
            for seq in seqs {
                renewed += statement
                    .execute(params![until, seq, owner])
                    .map_err(backend)?;
            }
        }
        tx.commit().map_err(backend)?;
        Ok(renewed == seqs.len())
    }

    fn release_unsent(
        &self,
        seqs: &[i64],
        owner: &str,
        at: i64,
        failed: bool,
    ) -> Result<(), StorageError> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(backend)?;
        {
            let mut statement = tx
                .prepare_cached(
                    "UPDATE outbox SET claimed_until = ?1, attempts = attempts + ?2, owner = ''
                     WHERE seq = ?3 AND owner = ?4",
                )
                .map_err(backend)?;
            for seq in seqs {
                statement
                    .execute(params![at, i64::from(failed), seq, owner])
                    .map_err(backend)?;
            }
        }
        tx.commit().map_err(backend)
    }

    fn release_all_unsent(&self) -> Result<(), StorageError> {
        self.conn()
            .execute("UPDATE outbox SET claimed_until = 0, owner = ''", [])
            .map_err(backend)?;
        Ok(())
    }
}
