//! A committed turn's held-back sends, posted: each gets a stable activity
//! id before the commit stores it as an outbox row, so a repeat can be
//! recognised. When no earlier row of the conversation waits, the
//! committing host posts them at once, in order, through the turn's
//! middleware, and removes them; a send that fails for now is left with a
//! retry time for the relay (`relay.rs`), which also posts whatever a
//! crashed host left behind. Posting is at least once. A poster keeps its
//! claim on the rows alive while it posts ([`LeaseKeeper`]) and stops as soon
//! as another poster took them over.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::channels::connector::{ConnectorClient, ConnectorError, Outbound};
use crate::runtime::outgoing::{Flow, Outgoing, OutgoingFilter};
use crate::runtime::turn::TurnError;
use crate::schema::activity::Activity;
use crate::storage::group_commit::GroupCommit;
use crate::storage::outbox::{OutboxRow, OutboxStore, Route};
use crate::storage::{Committed, TurnRecord};
use crate::support::clock::now_millis;
use crate::support::faults;
use tracing::Instrument;

/// Failed posts of a row before it is given up.
pub const MAX_POSTS: u32 = 10;

/// Where a committed turn's sends go, and what it tells when it cannot.
pub struct Poster {
    pub connector: Arc<ConnectorClient>,
    pub outbound: Outbound,
    /// The turn's middleware.
    pub outgoing: Arc<dyn OutgoingFilter>,
    pub records: Arc<GroupCommit>,
    pub outbox: Arc<dyn OutboxStore>,
    pub relay: Arc<tokio::sync::Notify>,
    /// Where the posting task is tracked (`TurnServices::posts`).
    pub posts: tokio_util::task::TaskTracker,
    /// How long a claim on rows holds unless renewed.
    pub lease: Duration,
}

/// A turn's held-back sends, in order, each with its stable id, and the
/// attempt's claim on their rows.
pub struct HeldBack {
    pub activities: Vec<Activity>,
    pub owner: String,
}

impl HeldBack {
    /// Gives each send without an id a fresh one.
    pub fn stamp(mut activities: Vec<Activity>) -> HeldBack {
        for activity in &mut activities {
            if activity.id.as_deref().is_none_or(str::is_empty) {
                activity.id = Some(crate::support::ids::random_id());
            }
        }
        let owner = if activities.is_empty() {
            String::new()
        } else {
            crate::support::ids::random_id()
        };
        HeldBack { activities, owner }
    }

    /// The outbox rows of these sends, for the commit.
    pub fn rows(&self, route: Route) -> Result<Vec<OutboxRow>, TurnError> {
        self.activities
            .iter()
            .map(|activity| {
                Ok(OutboxRow {
                    conversation: activity.conversation_id().unwrap_or("").to_owned(),
                    activity: serde_json::to_string(activity)
                        .map_err(|e| TurnError::StateSave(format!("a held-back send: {e}")))?,
                    route,
                })
            })
            .collect()
    }
}

/// Whether a failed post is worth another try later.
pub fn worth_retrying(err: &ConnectorError) -> bool {
    err.is_transient() || matches!(err, ConnectorError::Token(_))
}

/// When a row that failed `attempts` times is tried again (Unix ms): 1 s,
/// doubling, at most 5 minutes later.
pub fn retry_at(attempts: u32) -> i64 {
    now_millis() + (1_000i64 << attempts.min(9)).min(300_000)
}

/// Renews a claim on outbox rows every third of the lease while they are
/// posted (a slow channel may take longer than the lease); stops when
/// dropped. `lost()` once another poster holds them.
pub struct LeaseKeeper {
    lost: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl LeaseKeeper {
    pub fn start(
        store: Arc<dyn OutboxStore>,
        seqs: Vec<i64>,
        owner: String,
        lease: Duration,
    ) -> LeaseKeeper {
        let lost = Arc::new(AtomicBool::new(false));
        let flag = lost.clone();
        let task = tokio::spawn(async move {
            loop {
                tokio::time::sleep(lease / 3).await;
                let (store, seqs, owner) = (store.clone(), seqs.clone(), owner.clone());
                let until = now_millis() + lease.as_millis() as i64;
                let renewed =
                    tokio::task::spawn_blocking(move || store.renew_unsent(&seqs, &owner, until))
                        .await;
                match renewed {
                    Ok(Ok(true)) => {}
                    Ok(Ok(false)) => {
                        flag.store(true, Ordering::SeqCst);
                        return;
                    }
                    _ => tracing::warn!("cannot renew the claim on replies being posted"),
                }
            }
        });
        LeaseKeeper { lost, task }
    }

    /// Whether another poster took the rows over.
    pub fn lost(&self) -> bool {
        self.lost.load(Ordering::SeqCst)
    }
}

impl Drop for LeaseKeeper {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Posts a committed turn's held-back sends in order, unless earlier rows
/// of the conversation wait (then the relay posts them after those). On a
/// task of its own, tracked in `posts`: a channel that hangs up (it waits
/// 15 s) and so drops the turn does not cut the posts short, and a
/// graceful shutdown waits for them.
pub async fn post_held_back(with: Poster, bot: &str, held: HeldBack, committed: Committed) {
    if held.activities.is_empty() {
        return;
    }
    let bot = bot.to_owned();
    let posts = with.posts.clone();
    let posting =
        posts.spawn(async move { post(&with, &bot, held, committed).await }.in_current_span());
    if let Err(err) = posting.await {
        tracing::error!(error = %err, "posting the replies failed; the relay posts them once their lease lapses");
    }
}

async fn post(with: &Poster, bot: &str, held: HeldBack, committed: Committed) {
    let Some(conversation) = held.activities.first().and_then(Activity::conversation_id) else {
        return;
    };
    let conversation = conversation.to_owned();
    if !committed.post_now {
        tracing::info!(
            rows = committed.outbox.len(),
            "earlier replies of this conversation wait in the outbox; the relay posts these after them"
        );
        with.relay.notify_one();
        return;
    }
    let seqs = committed.outbox;
    let keeper = LeaseKeeper::start(
        with.outbox.clone(),
        seqs.clone(),
        held.owner.clone(),
        with.lease,
    );
    let mut done = Vec::new();
    for (n, mut activity) in held.activities.into_iter().enumerate() {
        let Some(&seq) = seqs.get(n) else { break };
        if n > 0 {
            faults::point("between-posts");
        }
        if keeper.lost() {
            tracing::warn!("another poster took these replies over; leaving the rest to it");
            break;
        }
        if with
            .outgoing
            .filter(&mut Outgoing::Send(&mut activity))
            .await
            == Flow::Drop
        {
            done.push(seq);
            continue;
        }
        match with.connector.send(&activity, &with.outbound).await {
            Ok(_) => done.push(seq),
            Err(err) if worth_retrying(&err) => {
                tracing::warn!(error = %err, "a reply could not be posted; the outbox relay retries it");
                let rest = seqs[n + 1..].to_vec();
                hand_back(&with.outbox, &held.owner, seq, rest, retry_at(0)).await;
                with.relay.notify_one();
                break;
            }
            Err(err) => {
                tracing::error!(error = %err, "a reply could not be posted and is given up");
                done.push(seq);
            }
        }
    }
    drop(keeper);
    faults::point("after-posts");
    if !done.is_empty() {
        // Awaited: the conversation's next turn, on any host, must find
        // these gone, or it would leave its own replies to the relay.
        let posted = TurnRecord::Posted {
            bot: bot.to_owned(),
            conversation,
            seqs: done,
        };
        if let Err(err) = with.records.commit(posted).await {
            tracing::warn!(error = %err, "cannot remove posted replies from the outbox; the relay posts them again once their lease lapses");
        }
    }
}

/// Hands `owner`'s rows back after the post of `head` failed for now:
/// `head` due again at `at`, one more failure counted, the rows after it
/// free (they wait behind it). Used by the committer and the relay alike.
pub async fn hand_back(
    store: &Arc<dyn OutboxStore>,
    owner: &str,
    head: i64,
    rest: Vec<i64>,
    at: i64,
) {
    let (store, owner) = (store.clone(), owner.to_owned());
    let released = tokio::task::spawn_blocking(move || {
        store.release_unsent(&[head], &owner, at, true)?;
        store.release_unsent(&rest, &owner, 0, false)
    })
    .await;
    if !matches!(released, Ok(Ok(()))) {
        // Their lease lapses instead.
        tracing::warn!(
            "cannot hand replies back to the outbox; they are retried once their lease lapses"
        );
    }
}
