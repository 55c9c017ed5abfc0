//! Group commit of what the host records on every turn (`commit.rs`: a
//! turn's state, timers, delivery record, reference and outbox; outbox rows
//! posted): a committer thread takes every record waiting and commits them
//! in one transaction, each turn in a savepoint of its own, so a turn whose
//! compare-and-set fails is rolled back alone and told so. A caller that
//! awaits its record is answered once it is committed, so nothing is
//! acknowledged before it is durable, but a busy host pays one transaction
//! (and one thread wake-up) per batch instead of one per turn.
//!
//! A database that takes concurrent transactions (PostgreSQL) gets several
//! committers; a conversation's records always go to the same one, so they
//! commit in the order they were submitted.

use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::sync::mpsc;

use crate::storage::{Committed, Database, StorageError, TurnRecord};

/// The most records in one transaction (PostgreSQL keeps up to 64
/// subtransactions per transaction in its cache; each turn is one).
const MAX_BATCH: usize = 64;

/// Why a record was not committed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CommitError {
    #[error("the record committer has stopped")]
    Stopped,
    /// The host is stopping (`GroupCommit::close`): nothing more is
    /// committed.
    #[error("the host is stopping; nothing more is committed")]
    Closed,
    #[error(transparent)]
    Storage(#[from] StorageError),
}

type Outcome = Result<Committed, CommitError>;

struct Job {
    record: Option<TurnRecord>,
    /// Told the outcome once the batch is committed.
    done: Option<tokio::sync::oneshot::Sender<Outcome>>,
    /// The last job the committer takes (`GroupCommit::close`).
    last: bool,
}

/// The committers; their threads end when it is dropped.
pub struct GroupCommit {
    shards: Vec<mpsc::Sender<Job>>,
    /// Set by `close`: a refused record is told `Closed`, not `Stopped`
    /// (a committer that died while the host runs).
    closing: std::sync::atomic::AtomicBool,
}

impl GroupCommit {
    /// Starts the committing threads over `store` (`store.committers()`).
    pub fn start(store: Arc<dyn Database>) -> std::io::Result<Self> {
        let count = store.committers().max(1);
        let mut shards = Vec::with_capacity(count);
        for n in 0..count {
            let (jobs, waiting) = mpsc::channel::<Job>();
            let store = store.clone();
            std::thread::Builder::new()
                .name(format!("turnbox-commit-{n}"))
                .spawn(move || {
                    let run = std::panic::AssertUnwindSafe(|| commit_loop(&*store, &waiting));
                    if std::panic::catch_unwind(run).is_err() {
                        // A host that can commit nothing must not go on
                        // claiming work: its failed turns would forget kept
                        // rows and timers. It dies as after `kill -9`, which
                        // loses nothing; the next start takes over.
                        tracing::error!("a record committer panicked; the host stops");
                        std::process::abort();
                    }
                })?;
            shards.push(jobs);
        }
        Ok(GroupCommit {
            shards,
            closing: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// The committer of `record`'s conversation.
    fn shard(&self, record: Option<&TurnRecord>) -> &mpsc::Sender<Job> {
        let index = match record.and_then(TurnRecord::conversation) {
            Some(key) if self.shards.len() > 1 => {
                let mut hasher = std::collections::hash_map::DefaultHasher::new();
                key.hash(&mut hasher);
                (hasher.finish() % self.shards.len() as u64) as usize
            }
            _ => 0,
        };
        &self.shards[index]
    }

    /// Commits `record` with the others waiting; returns once it is durable,
    /// with its own outcome.
    pub async fn commit(&self, record: TurnRecord) -> Result<Committed, CommitError> {
        let (done, committed) = tokio::sync::oneshot::channel();
        self.shard(Some(&record))
            .send(Job {
                record: Some(record),
                done: Some(done),
                last: false,
            })
            .map_err(|_| self.refused())?;
        committed.await.map_err(|_| self.refused())?
    }

    /// Whether `close` has begun: nothing submitted now is committed.
    pub fn is_closing(&self) -> bool {
        self.closing.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Why a record was refused.
    fn refused(&self) -> CommitError {
        if self.is_closing() {
            CommitError::Closed
        } else {
            CommitError::Stopped
        }
    }

    /// Commits `record` with the next batch, without waiting for it.
    pub fn submit(&self, record: TurnRecord) {
        let _ = self.shard(Some(&record)).send(Job {
            record: Some(record),
            done: None,
            last: false,
        });
    }

    /// Commits everything submitted before, then stops (at shutdown): a
    /// record sent after is refused (`Closed`) and a submitted one is
    /// dropped, so nothing a turn still running does is committed once this
    /// returns, and the host may hand its claims to other hosts.
    pub async fn close(&self) {
        self.closing
            .store(true, std::sync::atomic::Ordering::SeqCst);
        let mut closed = Vec::with_capacity(self.shards.len());
        for shard in &self.shards {
            let (done, shard_closed) = tokio::sync::oneshot::channel();
            let marker = Job {
                record: None,
                done: Some(done),
                last: true,
            };
            if shard.send(marker).is_ok() {
                closed.push(shard_closed);
            }
        }
        for shard_closed in closed {
            let _ = shard_closed.await;
        }
    }
}

/// One committer: batches of waiting jobs, one transaction each.
fn commit_loop(store: &dyn Database, waiting: &mpsc::Receiver<Job>) {
    while let Ok(first) = waiting.recv() {
        let mut last = first.last;
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH && !last {
            match waiting.try_recv() {
                Ok(job) => {
                    last = job.last;
                    batch.push(job);
                }
                Err(_) => break,
            }
        }
        let has_record: Vec<bool> = batch.iter().map(|job| job.record.is_some()).collect();
        let records: Vec<TurnRecord> = batch.iter_mut().filter_map(|j| j.record.take()).collect();
        let outcomes = if records.is_empty() {
            Ok(Vec::new())
        } else {
            store.commit_records(&records)
        };
        let mut outcomes = match outcomes {
            Ok(outcomes) => outcomes,
            Err(err) => {
                tracing::warn!(error = %err, records = records.len(), "cannot commit turns");
                vec![Err(err); records.len()]
            }
        }
        .into_iter();
        // Jobs with a record get its outcome, in order; the closing marker
        // (no record) is told it is done.
        for (job, has_record) in batch.into_iter().zip(has_record) {
            let outcome = if has_record {
                outcomes
                    .next()
                    .unwrap_or_else(|| Err(StorageError::Backend("no outcome".into())))
                    .map_err(CommitError::from)
            } else {
                Ok(Committed::default())
            };
            if let Some(done) = job.done {
                let _ = done.send(outcome);
            }
        }
        if last {
            // Jobs sent after the marker are dropped with the receiver:
            // their callers are told `Closed`.
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::commit::DeliveryRecord;
    use crate::storage::dedup::{Answer, DedupStore};
    use crate::storage::references::ReferenceStore;
    use crate::storage::{Change, Condition, SqliteStorage, Storage, TurnCommit};
    use serde_json::json;

    fn turn(n: usize, condition: Condition) -> TurnRecord {
        TurnRecord::Turn(Box::new(TurnCommit {
            bot: "b".into(),
            state: vec![Change {
                key: format!("k{}", n % 7),
                value: json!(n),
                condition,
            }],
            delivery: Some(DeliveryRecord {
                conversation: "c".into(),
                activity_id: format!("a{n}"),
                owner: "me".into(),
                since: 0,
                answer: Answer {
                    status: 200,
                    body: Some(json!({"n": n}).to_string()),
                },
            }),
            reference: Some(("c".into(), json!({"activityId": n}))),
            ..Default::default()
        }))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn turns_are_durable_when_answered_and_a_conflict_fails_alone() {
        let store = Arc::new(SqliteStorage::in_memory().unwrap());
        let keys: Vec<Change> = (0..7)
            .map(|k| Change {
                key: format!("k{k}"),
                value: json!(0),
                condition: Condition::Any,
            })
            .collect();
        store.write("b", &keys, &Default::default()).unwrap();
        let committer = Arc::new(GroupCommit::start(store.clone()).unwrap());
        let mut turns = Vec::new();
        for n in 0..200 {
            let committer = committer.clone();
            // Every tenth turn expects an eTag no key has: it conflicts.
            let condition = if n % 10 == 3 {
                Condition::Match("stale".into())
            } else {
                Condition::Any
            };
            turns.push(tokio::spawn(async move {
                committer.commit(turn(n, condition)).await
            }));
        }
        for (n, turn) in turns.into_iter().enumerate() {
            let outcome = turn.await.unwrap();
            let found = store.answered("b", "c", &format!("a{n}"), 0).unwrap();
            if n % 10 == 3 {
                // The conflict rolls back the whole turn, its record too;
                // the turns beside it in the batch commit.
                assert!(
                    matches!(
                        outcome,
                        Err(CommitError::Storage(StorageError::Conflict(_)))
                    ),
                    "{outcome:?}"
                );
                assert_eq!(found, None, "a conflicting turn records nothing");
                continue;
            }
            outcome.unwrap();
            // Answered means committed, with the turn's answer.
            assert_eq!(found.unwrap().body, Some(json!({"n": n}).to_string()));
        }
        assert!(store.reference("b", "c").unwrap().is_some());
        assert!(!store.read("b", &["k0".to_string()]).unwrap().is_empty());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_turn_applied_already_loses_its_claim_and_saves_nothing() {
        let store = Arc::new(SqliteStorage::in_memory().unwrap());
        let committer = GroupCommit::start(store.clone()).unwrap();
        committer.commit(turn(1, Condition::Any)).await.unwrap();
        // The same delivery again, within the window: another attempt
        // applied it; this one must not.
        let again = committer.commit(turn(1, Condition::Any)).await;
        assert!(
            matches!(again, Err(CommitError::Storage(StorageError::ClaimLost))),
            "{again:?}"
        );
        // A timer's turn whose timer is gone (another host fired it).
        let fired = TurnRecord::Turn(Box::new(TurnCommit {
            bot: "b".into(),
            state: vec![Change {
                key: "fired".into(),
                value: json!(true),
                condition: Condition::Any,
            }],
            fired_timer: Some("gone".into()),
            ..Default::default()
        }));
        let outcome = committer.commit(fired).await;
        assert!(
            matches!(outcome, Err(CommitError::Storage(StorageError::ClaimLost))),
            "{outcome:?}"
        );
        assert!(store.read("b", &["fired".to_string()]).unwrap().is_empty());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn submitted_records_are_committed_by_the_close_and_later_ones_refused() {
        let store = Arc::new(SqliteStorage::in_memory().unwrap());
        let committer = GroupCommit::start(store.clone()).unwrap();
        for n in 0..50 {
            committer.submit(TurnRecord::Answer {
                bot: "b".into(),
                conversation: "c".into(),
                activity_id: "a".into(),
                answer: Answer {
                    status: 200,
                    body: Some(n.to_string()),
                },
            });
        }
        committer.close().await;
        // After the close, nothing more is committed.
        let late = committer.commit(turn(1, Condition::Any)).await;
        assert!(matches!(late, Err(CommitError::Closed)), "{late:?}");
        committer.submit(TurnRecord::Answer {
            bot: "b".into(),
            conversation: "c".into(),
            activity_id: "late".into(),
            answer: Answer {
                status: 200,
                body: None,
            },
        });
        assert_eq!(store.answered("b", "c", "a1", 0).unwrap(), None);
        assert_eq!(store.answered("b", "c", "late", 0).unwrap(), None);
        assert_eq!(
            store.answered("b", "c", "a", 0).unwrap().unwrap().body,
            Some("49".into()),
            "the last one submitted wins"
        );
    }
}
