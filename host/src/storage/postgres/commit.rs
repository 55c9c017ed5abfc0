//! The PostgreSQL side of the turn records (`TurnRecords`): a batch in one
//! transaction, each record in a savepoint of its own, and everything one
//! turn commits (`commit_turn`). A deadlock or a serialization failure
//! between concurrent commits (several committers, several hosts) fails the
//! turn with a `Conflict`, and it runs again.

use super::{PgStorage, accepted, backend, dedup, outbox, references, state, timers};
use crate::storage::{
    Committed, RecordOutcomes, StorageError, TurnCommit, TurnRecord, TurnRecords,
};

impl TurnRecords for PgStorage {
    /// One transaction; each record in a savepoint of its own, rolled back
    /// alone when it fails (a record alone needs none: its failure rolls
    /// the transaction back). Answers and posted rows too, not only turns:
    /// a failed statement aborts the whole transaction, whose `COMMIT`
    /// PostgreSQL then answers with a silent rollback.
    fn commit_records(&self, records: &[TurnRecord]) -> Result<RecordOutcomes, StorageError> {
        let mut conn = self.conn()?;
        let mut tx = conn.transaction().map_err(backend)?;
        if let [record] = records {
            let outcome = commit_record(&mut tx, record);
            if outcome.is_ok() {
                tx.commit().map_err(backend)?;
            } else {
                tx.rollback().map_err(backend)?;
            }
            return Ok(vec![outcome]);
        }
        let mut outcomes = Vec::with_capacity(records.len());
        for record in records {
            let mut savepoint = tx.transaction().map_err(backend)?;
            let outcome = commit_record(&mut savepoint, record);
            if outcome.is_ok() {
                savepoint.commit().map_err(backend)?;
            } else {
                savepoint.rollback().map_err(backend)?;
            }
            outcomes.push(outcome);
        }
        tx.commit().map_err(backend)?;
        Ok(outcomes)
    }

    /// PostgreSQL takes concurrent transactions (the pool has 16
    /// connections).
    fn committers(&self) -> usize {
        4
    }
}

/// One record, on `client` (its savepoint, or the transaction).
fn commit_record(
    client: &mut impl postgres::GenericClient,
    record: &TurnRecord,
) -> Result<Committed, StorageError> {
    match record {
        TurnRecord::Turn(turn) => commit_turn(client, turn),
        TurnRecord::Answer {
            bot,
            conversation,
            activity_id,
            answer,
        } => dedup::record_delivery(client, bot, conversation, activity_id, answer)
            .map(|()| Committed::default()),
        TurnRecord::Posted { seqs, .. } => {
            outbox::remove(client, seqs).map(|()| Committed::default())
        }
    }
}

/// Everything one turn commits, on `client` (its savepoint).
fn commit_turn(
    client: &mut impl postgres::GenericClient,
    turn: &TurnCommit,
) -> Result<Committed, StorageError> {
    // The delivery first: a duplicate is refused before anything else.
    if let Some(delivery) = &turn.delivery {
        dedup::record_claimed_delivery(client, &turn.bot, delivery)?;
    }
    if !turn.state.is_empty() {
        state::write_changes(client, &turn.bot, &turn.state, &turn.quota)?;
    }
    for op in &turn.timers {
        timers::apply(client, &turn.bot, op)?;
    }
    if let Some(id) = &turn.fired_timer
        && !timers::complete(client, id)?
    {
        return Err(StorageError::ClaimLost);
    }
    if let Some((conversation, reference)) = &turn.reference {
        references::save_reference(client, &turn.bot, conversation, reference)?;
    }
    if let Some((conversation, activity_id)) = &turn.accepted {
        accepted::finish(client, &turn.bot, conversation, activity_id)?;
    }
    outbox::insert(
        client,
        &turn.bot,
        &turn.outbox,
        turn.outbox_lease_until,
        &turn.outbox_owner,
    )
}

/// A failed statement of a turn's commit as a storage error: a deadlock or
/// a serialization failure between concurrent commits is a `Conflict`, and
/// the turn runs again; anything else is the backend's.
pub(super) fn turn_error(err: postgres::Error) -> StorageError {
    use postgres::error::SqlState;
    match err.code() {
        Some(code)
            if *code == SqlState::T_R_DEADLOCK_DETECTED
                || *code == SqlState::T_R_SERIALIZATION_FAILURE =>
        {
            StorageError::Conflict(format!("a concurrent commit (SQLSTATE {})", code.code()))
        }
        _ => backend(err),
    }
}
