//! The PostgreSQL store of turns accepted before they ended
//! (`AcceptedStore`): the `accepted` table, one row per turn, with its
//! claim (`claimed_until`, `owner`). Hosts claim lapsed rows with
//! `FOR UPDATE SKIP LOCKED`, so two hosts never take the same one.

use super::{PgStorage, backend};
use crate::storage::StorageError;
use crate::storage::accepted::{AcceptedStore, AcceptedTurn, ClaimedTurn};
use crate::storage::outbox::Route;
use crate::support::clock::now_millis;

/// Forgets a kept turn on `client` (in its commit, or alone).
pub(super) fn finish(
    client: &mut impl postgres::GenericClient,
    bot: &str,
    conversation: &str,
    activity_id: &str,
) -> Result<(), StorageError> {
    client
        .execute(
            "DELETE FROM accepted WHERE bot = $1 AND conversation = $2 AND activity_id = $3",
            &[&bot, &conversation, &activity_id],
        )
        .map_err(super::commit::turn_error)?;
    Ok(())
}

/// The statement that keeps a turn (`keep`).
pub(super) const KEEP: &str = "INSERT INTO accepted
     (bot, conversation, activity_id, activity, route, claimed_until, owner, created)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
     ON CONFLICT (bot, conversation, activity_id) DO UPDATE
     SET activity = EXCLUDED.activity, route = EXCLUDED.route,
         claimed_until = EXCLUDED.claimed_until, owner = EXCLUDED.owner";

/// Keeps `turn` on `client` with `statement` (`KEEP`, or it prepared),
/// alone or with its activity's append, held by `owner` until `until`.
pub(super) fn keep<T: ?Sized + postgres::ToStatement>(
    client: &mut impl postgres::GenericClient,
    statement: &T,
    turn: &AcceptedTurn,
    owner: &str,
    until: i64,
) -> Result<(), StorageError> {
    client
        .execute(
            statement,
            &[
                &turn.bot,
                &turn.conversation,
                &turn.activity_id,
                &turn.activity,
                &turn.route.as_str(),
                &until,
                &owner,
                &now_millis(),
            ],
        )
        .map_err(backend)?;
    Ok(())
}

impl AcceptedStore for PgStorage {
    fn accept_turn(
        &self,
        turn: &AcceptedTurn,
        owner: &str,
        until: i64,
    ) -> Result<(), StorageError> {
        keep(&mut *self.conn()?, KEEP, turn, owner, until)
    }

    fn finish_turn(
        &self,
        bot: &str,
        conversation: &str,
        activity_id: &str,
    ) -> Result<(), StorageError> {
        finish(&mut *self.conn()?, bot, conversation, activity_id)
    }

    fn release_accepted(&self, owner: &str) -> Result<(), StorageError> {
        self.conn()?
            .execute(
                "UPDATE accepted SET claimed_until = 0, owner = '' WHERE owner = $1",
                &[&owner],
            )
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
        let rows = self
            .conn()?
            .query(
                "UPDATE accepted SET claimed_until = $1, owner = $2
                 WHERE (bot, conversation, activity_id) IN (
                     SELECT bot, conversation, activity_id FROM accepted
                     WHERE claimed_until <= $3 ORDER BY created LIMIT $4
                     FOR UPDATE SKIP LOCKED)
                 RETURNING bot, conversation, activity_id, activity, route, created",
                &[&until, &owner, &now, &i64::from(n)],
            )
            .map_err(backend)?;
        rows.iter()
            .map(|row| {
                let route: String = row.try_get(4).map_err(backend)?;
                Ok(ClaimedTurn {
                    turn: AcceptedTurn {
                        bot: row.try_get(0).map_err(backend)?,
                        conversation: row.try_get(1).map_err(backend)?,
                        activity_id: row.try_get(2).map_err(backend)?,
                        activity: row.try_get(3).map_err(backend)?,
                        // An unknown route is retried as dev mode's: never
                        // with a token.
                        route: Route::parse(&route).unwrap_or(Route::Dev),
                    },
                    accepted_at: row.try_get(5).map_err(backend)?,
                })
            })
            .collect()
    }

    /// Other hosts may hold live claims: nothing is freed here; the claims
    /// of a host that died lapse.
    fn release_all_accepted(&self) -> Result<(), StorageError> {
        Ok(())
    }
}
