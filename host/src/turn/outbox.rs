//! A committed turn's held-back sends, posted: each gets a stable activity
//! id before the commit stores it as an outbox row, so a channel (or a
//! test) recognises a repeat. When no earlier row of the conversation waits,
//! the committing host posts them at once, in order, through the turn's
//! middleware, and removes them; a send that fails for now is left with a
//! retry time for the relay (`relay.rs`), which also posts whatever a
//! crashed host left behind. Posting is at least once.

use std::sync::Arc;

use crate::channels::connector::{ConnectorClient, ConnectorError, Outbound};
use crate::runtime::outgoing::{Flow, Outgoing, OutgoingFilter};
use crate::runtime::turn::TurnError;
use crate::schema::activity::Activity;
use crate::storage::group_commit::GroupCommit;
use crate::storage::outbox::{OutboxRow, OutboxStore, Route};
use crate::storage::{Committed, TurnRecord};
use crate::support::clock::now_millis;
use crate::support::faults;

/// Failed posts of a row before it is given up.
pub const MAX_POSTS: u32 = 10;

/// Where a committed turn's sends go, and what it tells when it cannot.
pub struct Poster<'a> {
    pub connector: &'a ConnectorClient,
    pub outbound: &'a Outbound,
    /// The turn's middleware.
    pub outgoing: &'a dyn OutgoingFilter,
    pub records: &'a GroupCommit,
    pub outbox: &'a Arc<dyn OutboxStore>,
    pub relay: &'a tokio::sync::Notify,
}

/// A turn's held-back sends, in order, each with its stable id.
pub struct HeldBack {
    pub activities: Vec<Activity>,
}

impl HeldBack {
    /// Gives each send without an id a fresh one.
    pub fn stamp(mut activities: Vec<Activity>) -> HeldBack {
        for activity in &mut activities {
            if activity.id.as_deref().is_none_or(str::is_empty) {
                activity.id = Some(crate::support::ids::random_id());
            }
        }
        HeldBack { activities }
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

/// Posts a committed turn's held-back sends in order, unless earlier rows
/// of the conversation wait (then the relay posts them after those).
pub async fn post_held_back(with: &Poster<'_>, bot: &str, held: HeldBack, committed: Committed) {
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
    let mut done = Vec::new();
    for (n, mut activity) in held.activities.into_iter().enumerate() {
        let Some(&seq) = seqs.get(n) else { break };
        if n > 0 {
            faults::point("between-posts");
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
        match with.connector.send(&activity, with.outbound).await {
            Ok(_) => done.push(seq),
            Err(err) if worth_retrying(&err) => {
                tracing::warn!(error = %err, "a reply could not be posted; the outbox relay retries it");
                leave_for_relay(with, seq, seqs[n + 1..].to_vec()).await;
                break;
            }
            Err(err) => {
                tracing::error!(error = %err, "a reply could not be posted and is given up");
                done.push(seq);
            }
        }
    }
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

/// Leaves the failed row `seq` to the relay with a retry time, and the
/// rows after it free (they wait behind it).
async fn leave_for_relay(with: &Poster<'_>, seq: i64, later: Vec<i64>) {
    let store = with.outbox.clone();
    let released = tokio::task::spawn_blocking(move || {
        store.release_unsent(&[seq], retry_at(0), true)?;
        store.release_unsent(&later, 0, false)
    })
    .await;
    if !matches!(released, Ok(Ok(()))) {
        // Their lease lapses instead.
        tracing::warn!(
            "cannot hand replies to the outbox relay now; they are retried once their lease lapses"
        );
    }
    with.relay.notify_one();
}
