//! Group commit of what the host records on every channel turn (the
//! delivery's answer for de-duplication, the conversation reference): one
//! thread takes every record waiting and commits them in one transaction.
//! A caller that awaits its record is answered once it is committed, so
//! nothing is acknowledged before it is durable, but a busy host pays one
//! transaction (and one thread wake-up) per batch instead of one per record.

use std::sync::Arc;
use std::sync::mpsc;

use crate::storage::{Database, StorageError, TurnRecord};

/// The most records in one transaction.
const MAX_BATCH: usize = 512;

/// Why a record was not committed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CommitError {
    #[error("the record committer has stopped")]
    Stopped,
    #[error(transparent)]
    Storage(#[from] StorageError),
}

struct Job {
    record: Option<TurnRecord>,
    /// Told the outcome once the batch is committed.
    done: Option<tokio::sync::oneshot::Sender<Result<(), CommitError>>>,
}

/// The committer; its thread ends when it is dropped.
pub struct GroupCommit {
    jobs: mpsc::Sender<Job>,
}

impl GroupCommit {
    /// Starts the committing thread over `store`.
    pub fn start(store: Arc<dyn Database>) -> std::io::Result<Self> {
        let (jobs, waiting) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("turnbox-records".into())
            .spawn(move || {
                while let Ok(first) = waiting.recv() {
                    let mut batch = vec![first];
                    while batch.len() < MAX_BATCH {
                        match waiting.try_recv() {
                            Ok(job) => batch.push(job),
                            Err(_) => break,
                        }
                    }
                    let records: Vec<TurnRecord> =
                        batch.iter_mut().filter_map(|job| job.record.take()).collect();
                    let outcome = if records.is_empty() {
                        Ok(())
                    } else {
                        store.commit_records(&records).map_err(CommitError::from)
                    };
                    if let Err(err) = &outcome {
                        tracing::warn!(error = %err, records = records.len(), "cannot record turns");
                    }
                    for done in batch.into_iter().filter_map(|job| job.done) {
                        let _ = done.send(outcome.clone());
                    }
                }
            })?;
        Ok(GroupCommit { jobs })
    }

    /// Commits `record` with the others waiting; returns once it is durable.
    pub async fn commit(&self, record: TurnRecord) -> Result<(), CommitError> {
        let (done, committed) = tokio::sync::oneshot::channel();
        self.jobs
            .send(Job {
                record: Some(record),
                done: Some(done),
            })
            .map_err(|_| CommitError::Stopped)?;
        committed.await.map_err(|_| CommitError::Stopped)?
    }

    /// Commits `record` with the next batch, without waiting for it.
    pub fn submit(&self, record: TurnRecord) {
        let _ = self.jobs.send(Job {
            record: Some(record),
            done: None,
        });
    }

    /// Returns once everything submitted before has been committed (at
    /// shutdown).
    pub async fn drain(&self) {
        let (done, drained) = tokio::sync::oneshot::channel();
        if self
            .jobs
            .send(Job {
                record: None,
                done: Some(done),
            })
            .is_ok()
        {
            let _ = drained.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::SqliteStorage;
    use crate::storage::dedup::{Answer, DedupStore};
    use crate::storage::references::ReferenceStore;
    use serde_json::json;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn records_are_durable_when_answered_and_drained_at_the_end() {
        let store = Arc::new(SqliteStorage::in_memory().unwrap());
        let committer = Arc::new(GroupCommit::start(store.clone()).unwrap());
        let mut turns = Vec::new();
        for n in 0..200 {
            let committer = committer.clone();
            turns.push(tokio::spawn(async move {
                let answer = Answer {
                    status: 200,
                    body: Some(json!({"n": n}).to_string()),
                };
                committer
                    .commit(TurnRecord::Delivered {
                        bot: "b".into(),
                        conversation: "c".into(),
                        activity_id: format!("a{n}"),
                        answer,
                    })
                    .await
            }));
        }
        for (n, turn) in turns.into_iter().enumerate() {
            turn.await.unwrap().unwrap();
            // Answered means committed.
            let found = store.answered("b", "c", &format!("a{n}"), 0).unwrap();
            assert_eq!(found.unwrap().body, Some(json!({"n": n}).to_string()));
        }
        for n in 0..50 {
            committer.submit(TurnRecord::Reference {
                bot: "b".into(),
                conversation: "c".into(),
                reference: json!({"activityId": n}),
            });
        }
        committer.drain().await;
        assert_eq!(
            store.reference("b", "c").unwrap(),
            Some(json!({"activityId": 49})),
            "the last one submitted wins"
        );
    }
}
