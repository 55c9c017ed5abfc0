//! The PostgreSQL outbox (`OutboxStore`): the `outbox` table, one row per
//! held-back send, in commit order (`seq`), with its claim (`claimed_until`,
//! 0 when free) and its failed posts. Hosts' relays claim under an advisory
//! lock, one at a time, so that a conversation's rows go to one host; a
//! claim its host never settles lapses, and another host's relay takes the
//! rows over.

use super::commit::turn_error;
use super::migrations::OUTBOX_LOCK;
use super::{PgStorage, backend};
use crate::storage::outbox::{OutboxRow, OutboxStore, Route, Unsent};
use crate::storage::{Committed, StorageError};
use crate::support::clock::now_millis;

/// Stores a turn's held-back sends on `client` (in its commit): claimed by
/// `owner` until `lease_until` when no earlier row of the conversation
/// waits, else free, for the relay to post after those.
pub(super) fn insert(
    client: &mut impl postgres::GenericClient,
    bot: &str,
    rows: &[OutboxRow],
    lease_until: i64,
    owner: &str,
) -> Result<Committed, StorageError> {
    let Some(first) = rows.first() else {
        return Ok(Committed::default());
    };
    let waiting: bool = client
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM outbox WHERE bot = $1 AND conversation = $2)",
            &[&bot, &first.conversation],
        )
        .map_err(turn_error)?
        .try_get(0)
        .map_err(backend)?;
    let (claimed_until, owner) = if waiting {
        (0, "")
    } else {
        (lease_until, owner)
    };
    let statement = client
        .prepare(
            "INSERT INTO outbox (bot, conversation, activity, route, claimed_until, owner, created)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             RETURNING seq",
        )
        .map_err(turn_error)?;
    let now = now_millis();
    let mut seqs = Vec::with_capacity(rows.len());
    for row in rows {
        let seq: i64 = client
            .query_one(
                &statement,
                &[
                    &bot,
                    &row.conversation,
                    &row.activity,
                    &row.route.as_str(),
                    &claimed_until,
                    &owner,
                    &now,
                ],
            )
            .map_err(turn_error)?
            .try_get(0)
            .map_err(backend)?;
        seqs.push(seq);
    }
    Ok(Committed {
        outbox: seqs,
        post_now: !waiting,
    })
}

/// Removes rows on `client` (in a transaction or not).
pub(super) fn remove(
    client: &mut impl postgres::GenericClient,
    seqs: &[i64],
) -> Result<(), StorageError> {
    if seqs.is_empty() {
        return Ok(());
    }
    client
        .execute("DELETE FROM outbox WHERE seq = ANY($1)", &[&seqs])
        .map_err(turn_error)?;
    Ok(())
}

impl OutboxStore for PgStorage {
    fn claim_unsent(
        &self,
        now: i64,
        until: i64,
        owner: &str,
        conversations: u32,
    ) -> Result<Vec<Unsent>, StorageError> {
        let mut conn = self.conn()?;
        // Most ticks find nothing: look before taking the lock.
        let any: bool = conn
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM outbox WHERE claimed_until <= $1)",
                &[&now],
            )
            .map_err(backend)?
            .try_get(0)
            .map_err(backend)?;
        if !any {
            return Ok(Vec::new());
        }
        let mut tx = conn.transaction().map_err(backend)?;
        // One relay claims at a time, on every host: a conversation's free
        // rows go to one claim, and its head decides for all of them.
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&OUTBOX_LOCK])
            .map_err(backend)?;
        let heads = tx
            .query(
                "SELECT bot, conversation FROM (
                     SELECT DISTINCT ON (bot, conversation) bot, conversation, seq, claimed_until
                     FROM outbox ORDER BY bot, conversation, seq
                 ) heads
                 WHERE claimed_until <= $1
                 ORDER BY seq LIMIT $2",
                &[&now, &i64::from(conversations)],
            )
            .map_err(backend)?;
        let statement = tx
            .prepare(
                "UPDATE outbox SET claimed_until = $1, owner = $5
                 WHERE bot = $2 AND conversation = $3 AND claimed_until <= $4
                 RETURNING seq, activity, route, attempts",
            )
            .map_err(backend)?;
        let mut claimed = Vec::new();
        for head in heads {
            let bot: String = head.try_get(0).map_err(backend)?;
            let conversation: String = head.try_get(1).map_err(backend)?;
            for row in tx
                .query(&statement, &[&until, &bot, &conversation, &now, &owner])
                .map_err(backend)?
            {
                let route: String = row.try_get(2).map_err(backend)?;
                let attempts: i32 = row.try_get(3).map_err(backend)?;
                claimed.push(Unsent {
                    seq: row.try_get(0).map_err(backend)?,
                    bot: bot.clone(),
                    conversation: conversation.clone(),
                    activity: row.try_get(1).map_err(backend)?,
                    route: Route::parse(&route),
                    attempts: u32::try_from(attempts).unwrap_or(0),
                });
            }
        }
        tx.commit().map_err(backend)?;
        claimed.sort_by_key(|row| row.seq);
        Ok(claimed)
    }

    fn renew_unsent(&self, seqs: &[i64], owner: &str, until: i64) -> Result<bool, StorageError> {
        if seqs.is_empty() {
            return Ok(true);
        }
        let renewed = self
            .conn()?
            .execute(
                "UPDATE outbox SET claimed_until = $1 WHERE seq = ANY($2) AND owner = $3",
                &[&until, &seqs, &owner],
            )
            .map_err(backend)?;
        Ok(renewed as usize == seqs.len())
    }

    fn release_unsent(
        &self,
        seqs: &[i64],
        owner: &str,
        at: i64,
        failed: bool,
    ) -> Result<(), StorageError> {
        if seqs.is_empty() {
            return Ok(());
        }
        self.conn()?
            .execute(
                "UPDATE outbox SET claimed_until = $1, attempts = attempts + $2, owner = ''
                 WHERE seq = ANY($3) AND owner = $4",
                &[&at, &i32::from(failed), &seqs, &owner],
            )
            .map_err(backend)?;
        Ok(())
    }

    /// Other hosts may hold live claims: nothing is freed here; the claims
    /// of a host that died lapse.
    fn release_all_unsent(&self) -> Result<(), StorageError> {
        Ok(())
    }
}
