//! The PostgreSQL de-duplication records (`DedupStore`): the `delivered`
//! table. A row with `status = 0` is a claim in progress: `owner`'s attempt
//! holds it until `claimed_until`; a turn's commit answers it only while
//! the claim is still its owner's (or lapsed, and nobody took it over).

use super::commit::turn_error;
use super::{PgStorage, backend};
use crate::storage::StorageError;
use crate::storage::commit::DeliveryRecord;
use crate::storage::dedup::{Answer, Claim, DedupStore};
use crate::support::clock::now_millis;

/// A stored status as the answer's (a status out of range answers 500).
fn answer_of(status: i32, body: Option<String>) -> Answer {
    Answer {
        status: u16::try_from(status).unwrap_or(500),
        body,
    }
}

impl DedupStore for PgStorage {
    fn claim(
        &self,
        bot: &str,
        conversation: &str,
        activity_id: &str,
        owner: &str,
        until: i64,
        since_ms: i64,
    ) -> Result<Claim, StorageError> {
        let mut conn = self.conn()?;
        let now = now_millis();
        // Twice at most: the row may vanish between the insert that found
        // it and the read (its claim released, or expired).
        for _ in 0..2 {
            // A new claim, one taken over from a lapsed claim (or from this
            // owner's own), or an old record outside the window replaced.
            let claimed = conn
                .query_opt(
                    "INSERT INTO delivered
                       (bot, conversation, activity_id, status, body, created, owner, claimed_until)
                     VALUES ($1, $2, $3, 0, NULL, $4, $5, $6)
                     ON CONFLICT (bot, conversation, activity_id) DO UPDATE SET
                       status = 0, body = NULL, created = excluded.created,
                       owner = excluded.owner, claimed_until = excluded.claimed_until
                     WHERE (delivered.status = 0
                            AND (delivered.claimed_until < excluded.created
                                 OR delivered.owner = excluded.owner))
                        OR delivered.created < $7
                     RETURNING 1",
                    &[
                        &bot,
                        &conversation,
                        &activity_id,
                        &now,
                        &owner,
                        &until,
                        &since_ms,
                    ],
                )
                .map_err(backend)?;
            if claimed.is_some() {
                return Ok(Claim::Claimed);
            }
            let found = conn
                .query_opt(
                    "SELECT status, body, claimed_until FROM delivered
                     WHERE bot = $1 AND conversation = $2 AND activity_id = $3",
                    &[&bot, &conversation, &activity_id],
                )
                .map_err(backend)?;
            if let Some(row) = found {
                let status: i32 = row.try_get(0).map_err(backend)?;
                return Ok(if status == 0 {
                    Claim::Held {
                        until: row.try_get(2).map_err(backend)?,
                    }
                } else {
                    Claim::Answered(answer_of(status, row.try_get(1).map_err(backend)?))
                });
            }
        }
        Ok(Claim::Held { until: now })
    }

    fn release_claim(
        &self,
        bot: &str,
        conversation: &str,
        activity_id: &str,
        owner: &str,
    ) -> Result<(), StorageError> {
        self.conn()?
            .execute(
                "DELETE FROM delivered
                 WHERE bot = $1 AND conversation = $2 AND activity_id = $3
                   AND owner = $4 AND status = 0",
                &[&bot, &conversation, &activity_id, &owner],
            )
            .map_err(backend)?;
        Ok(())
    }

    fn answered(
        &self,
        bot: &str,
        conversation: &str,
        activity_id: &str,
        since_ms: i64,
    ) -> Result<Option<Answer>, StorageError> {
        let row = self
            .conn()?
            .query_opt(
                "SELECT status, body FROM delivered
                 WHERE bot = $1 AND conversation = $2 AND activity_id = $3 AND created >= $4
                   AND status <> 0",
                &[&bot, &conversation, &activity_id, &since_ms],
            )
            .map_err(backend)?;
        match row {
            Some(row) => Ok(Some(answer_of(
                row.try_get(0).map_err(backend)?,
                row.try_get(1).map_err(backend)?,
            ))),
            None => Ok(None),
        }
    }

    fn record(
        &self,
        bot: &str,
        conversation: &str,
        activity_id: &str,
        answer: &Answer,
    ) -> Result<(), StorageError> {
        record_delivery(&mut *self.conn()?, bot, conversation, activity_id, answer)
    }

    fn expire(&self, before_ms: i64) -> Result<usize, StorageError> {
        let removed = self
            .conn()?
            .execute("DELETE FROM delivered WHERE created < $1", &[&before_ms])
            .map_err(backend)?;
        Ok(removed as usize)
    }
}

/// Records the answer to a delivery on `client` (in a transaction or not),
/// whoever holds it: a recorded answer replaced.
pub(super) fn record_delivery(
    client: &mut impl postgres::GenericClient,
    bot: &str,
    conversation: &str,
    activity_id: &str,
    answer: &Answer,
) -> Result<(), StorageError> {
    client
        .execute(
            "INSERT INTO delivered
               (bot, conversation, activity_id, status, body, created, owner, claimed_until)
             VALUES ($1, $2, $3, $4, $5, $6, NULL, 0)
             ON CONFLICT (bot, conversation, activity_id) DO UPDATE SET
               status = excluded.status, body = excluded.body, created = excluded.created,
               owner = NULL, claimed_until = 0",
            &[
                &bot,
                &conversation,
                &activity_id,
                &i32::from(answer.status),
                &answer.body.as_deref(),
                &now_millis(),
            ],
        )
        .map_err(turn_error)?;
    Ok(())
}

/// Records a turn's answer to its delivery on `client` (in the turn's
/// commit), only while the claim is still `delivery.owner`'s, or lapsed
/// with nobody else's answer; a delivery never claimed is simply recorded.
/// `ClaimLost` when another attempt took the claim over or answered it.
pub(super) fn record_claimed_delivery(
    client: &mut impl postgres::GenericClient,
    bot: &str,
    delivery: &DeliveryRecord,
) -> Result<(), StorageError> {
    let written = client
        .query_opt(
            "INSERT INTO delivered
               (bot, conversation, activity_id, status, body, created, owner, claimed_until)
             VALUES ($1, $2, $3, $4, $5, $6, NULL, 0)
             ON CONFLICT (bot, conversation, activity_id) DO UPDATE SET
               status = excluded.status, body = excluded.body, created = excluded.created,
               owner = NULL, claimed_until = 0
             WHERE (delivered.status = 0
                    AND (delivered.owner IS NOT DISTINCT FROM $7 OR delivered.claimed_until < $6))
                OR (delivered.status <> 0 AND delivered.created < $8)
             RETURNING 1",
            &[
                &bot,
                &delivery.conversation,
                &delivery.activity_id,
                &i32::from(delivery.answer.status),
                &delivery.answer.body.as_deref(),
                &now_millis(),
                &delivery.owner,
                &delivery.since,
            ],
        )
        .map_err(turn_error)?;
    match written {
        Some(_) => Ok(()),
        None => Err(StorageError::ClaimLost),
    }
}
