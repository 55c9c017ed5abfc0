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
//!
//! At shutdown it closes in two steps: `close_turns` refuses turns' commits
//! but still records their follow-ups (outbox rows posted, answers
//! replaced), so the replies of turns committed before can be posted and
//! recorded as posted; `close` then commits what was submitted and stops.

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
    /// The host is stopping (`GroupCommit::close_turns`, `close`): the
    /// record is not committed.
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
    mark: Mark,
}

/// What a job is: a record, or one of the shutdown's two markers.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Mark {
    Record,
    /// From here on a turn's record is refused (`GroupCommit::close_turns`).
    CloseTurns,
    /// The last job the committer takes (`GroupCommit::close`).
    Last,
}

/// The committers; their threads end when it is dropped.
pub struct GroupCommit {
    shards: Vec<mpsc::Sender<Job>>,
    /// Set by `close_turns` (and `close`): a refused record is told
    /// `Closed`, not `Stopped` (a committer that died while the host runs).
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
                mark: Mark::Record,
            })
            .map_err(|_| self.refused())?;
        committed.await.map_err(|_| self.refused())?
    }

    /// Whether the shutdown's close has begun (`close_turns` or `close`):
    /// a turn's record submitted now is refused (follow-ups until `close`).
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
            mark: Mark::Record,
        });
    }

    /// The shutdown's first step: returns once every record submitted
    /// before is committed; from then on a turn's record is refused
    /// (`Closed`), while the follow-ups of turns committed before (outbox
    /// rows posted, an answer replaced) are still committed.
    pub async fn close_turns(&self) {
        self.closing
            .store(true, std::sync::atomic::Ordering::SeqCst);
        self.mark_all(Mark::CloseTurns).await;
    }

    /// Commits everything submitted before, then stops (at shutdown): a
    /// record sent after is refused (`Closed`) and a submitted one is
    /// dropped, so nothing a turn still running does is committed once this
    /// returns, and the host may hand its claims to other hosts.
    pub async fn close(&self) {
        self.closing
            .store(true, std::sync::atomic::Ordering::SeqCst);
        self.mark_all(Mark::Last).await;
    }

    /// Sends every shard `mark` and waits until each has taken it.
    async fn mark_all(&self, mark: Mark) {
        let mut taken = Vec::with_capacity(self.shards.len());
        for shard in &self.shards {
            let (done, shard_took) = tokio::sync::oneshot::channel();
            let marker = Job {
                record: None,
                done: Some(done),
                mark,
            };
            if shard.send(marker).is_ok() {
                taken.push(shard_took);
            }
        }
        for shard_took in taken {
            let _ = shard_took.await;
        }
    }
}

/// What the committer does with one job of a batch.
#[derive(Clone, Copy, PartialEq)]
enum Slot {
    Commit,
    /// A turn's record after `CloseTurns`: told `Closed`.
    Refuse,
    /// A marker: told it was taken.
    Marker,
}

/// One committer: batches of waiting jobs, one transaction each.
fn commit_loop(store: &dyn Database, waiting: &mpsc::Receiver<Job>) {
    let mut turns_closed = false;
    while let Ok(first) = waiting.recv() {
        let mut last = first.mark == Mark::Last;
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH && !last {
            match waiting.try_recv() {
                Ok(job) => {
                    last = job.mark == Mark::Last;
                    batch.push(job);
                }
                Err(_) => break,
            }
        }
        let mut slots = Vec::with_capacity(batch.len());
        let mut records = Vec::with_capacity(batch.len());
        for job in &mut batch {
            let slot = match (job.mark, job.record.take()) {
                (Mark::Record, Some(record)) if turns_closed && !record.is_follow_up() => {
                    Slot::Refuse
                }
                (Mark::Record, Some(record)) => {
                    records.push(record);
                    Slot::Commit
                }
                (mark, _) => {
                    turns_closed |= mark == Mark::CloseTurns;
                    Slot::Marker
                }
            };
            slots.push(slot);
        }
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
        // Jobs with a record get its outcome, in order; a marker is told
        // it was taken.
        for (job, slot) in batch.into_iter().zip(slots) {
            let outcome = match slot {
                Slot::Commit => outcomes
                    .next()
                    .unwrap_or_else(|| Err(StorageError::Backend("no outcome".into())))
                    .map_err(CommitError::from),
                Slot::Refuse => Err(CommitError::Closed),
                Slot::Marker => Ok(Committed::default()),
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

    fn answer(activity_id: &str, body: &str) -> TurnRecord {
        TurnRecord::Answer {
            bot: "b".into(),
            conversation: "c".into(),
            activity_id: activity_id.into(),
            answer: Answer {
                status: 200,
                body: Some(body.into()),
            },
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn after_closing_turns_a_turn_is_refused_and_follow_ups_still_commit() {
        let store = Arc::new(SqliteStorage::in_memory().unwrap());
        let committer = GroupCommit::start(store.clone()).unwrap();
        committer.commit(turn(1, Condition::Any)).await.unwrap();
        committer.submit(turn(2, Condition::Any));
        committer.close_turns().await;
        assert!(committer.is_closing());
        // Submitted before the first step: committed.
        assert!(store.answered("b", "c", "a2", 0).unwrap().is_some());
        let late = committer.commit(turn(3, Condition::Any)).await;
        assert!(matches!(late, Err(CommitError::Closed)), "{late:?}");
        assert_eq!(store.answered("b", "c", "a3", 0).unwrap(), None);
        // A committed turn's follow-up still commits.
        committer.commit(answer("a1", "replaced")).await.unwrap();
        assert_eq!(
            store.answered("b", "c", "a1", 0).unwrap().unwrap().body,
            Some("replaced".into())
        );
        committer.close().await;
        let after = committer.commit(answer("a1", "too late")).await;
        assert!(matches!(after, Err(CommitError::Closed)), "{after:?}");
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
