//! The outbox relay: posts the outbox rows nobody is posting, on whichever
//! host runs it: rows a crashed host left behind (at start-up on SQLite,
//! once their lease lapses on a shared database), rows whose post failed
//! and is due again, and rows that waited behind earlier ones. It claims a
//! conversation only when its earliest row is free, and posts its rows in
//! order; a row that keeps failing is given up after
//! [`MAX_POSTS`](crate::turn::outbox::MAX_POSTS) tries. The turn's
//! middleware is gone by then: relayed rows are posted as stored.

use std::sync::Arc;
use std::time::Duration;

use tracing::Instrument;

use crate::schema::activity::Activity;
use crate::storage::TurnRecord;
use crate::storage::outbox::Unsent;
use crate::support::clock::now_millis;
use crate::turn::outbox::{LeaseKeeper, MAX_POSTS, hand_back, retry_at, worth_retrying};
use crate::turn::services::TurnServices;

/// How often the outbox is looked at, besides the wake-ups.
pub const TICK: Duration = Duration::from_millis(500);
/// Conversations claimed per look.
const CONVERSATIONS: u32 = 16;

/// Run before the host serves: frees the outbox claims no live host can
/// hold (SQLite: all of them; a shared database: none, they lapse).
pub async fn release_claims(app: &TurnServices) {
    let store = app.outbox.clone();
    let released = tokio::task::spawn_blocking(move || store.release_all_unsent()).await;
    if !matches!(released, Ok(Ok(()))) {
        tracing::error!("cannot release outbox claims at start-up");
    }
}

/// Starts the relay; it runs until the process ends.
pub fn start(app: Arc<TurnServices>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                () = app.relay.notified() => {}
            }
            // Held until this look's posts are spawned: a shutdown that
            // begins meanwhile waits for them.
            let _looking = app.posts.token();
            if app.records.is_closing() {
                // Stopped at the shutdown's grace: it claims no more rows
                // (the next start or another host posts them); the posts
                // it began are waited for and recorded (`server.rs`).
                return;
            }
            let store = app.outbox.clone();
            let owner = crate::support::ids::random_id();
            let until = now_millis() + app.lease.as_millis() as i64;
            let claimer = owner.clone();
            let claimed = tokio::task::spawn_blocking(move || {
                store.claim_unsent(now_millis(), until, &claimer, CONVERSATIONS)
            })
            .await;
            let rows = match claimed {
                Ok(Ok(rows)) => rows,
                Ok(Err(err)) => {
                    tracing::error!(error = %err, "cannot read the outbox");
                    continue;
                }
                Err(err) => {
                    tracing::error!(error = %err, "the outbox task failed");
                    continue;
                }
            };
            for rows in by_conversation(rows) {
                let Some(first) = rows.first() else { continue };
                let span = tracing::info_span!("relay", bot = %first.bot, conversation = %first.conversation);
                let (app, owner) = (app.clone(), owner.clone());
                let posts = app.posts.clone();
                posts.spawn(
                    async move { post_conversation(&app, rows, &owner).await }.instrument(span),
                );
            }
        }
    });
}

/// Rows grouped by (bot, conversation), each group in order.
fn by_conversation(mut rows: Vec<Unsent>) -> Vec<Vec<Unsent>> {
    rows.sort_by(|a, b| (&a.bot, &a.conversation, a.seq).cmp(&(&b.bot, &b.conversation, b.seq)));
    let mut groups: Vec<Vec<Unsent>> = Vec::new();
    for row in rows {
        match groups.last_mut() {
            Some(group)
                if group.last().is_some_and(|last| {
                    last.bot == row.bot && last.conversation == row.conversation
                }) =>
            {
                group.push(row)
            }
            _ => groups.push(vec![row]),
        }
    }
    groups
}

/// Posts one conversation's rows, claimed by `owner`, in order; stops at
/// the first that fails for now, leaving it and the rest for later. A row
/// is given up after [`MAX_POSTS`] failed tries, or at once when the
/// channel refuses it for good.
async fn post_conversation(app: &TurnServices, rows: Vec<Unsent>, owner: &str) {
    let Some(first) = rows.first() else { return };
    let (bot, conversation) = (first.bot.clone(), first.conversation.clone());
    let keeper = LeaseKeeper::start(
        app.outbox.clone(),
        rows.iter().map(|row| row.seq).collect(),
        owner.to_owned(),
        app.lease,
    );
    let mut done = Vec::new();
    let mut later: Option<(usize, i64)> = None;
    for (n, row) in rows.iter().enumerate() {
        if keeper.lost() {
            tracing::warn!("another poster took these replies over; leaving the rest to it");
            break;
        }
        let mut activity = match Activity::from_json_bytes(row.activity.as_bytes()) {
            Ok(activity) => activity,
            Err(err) => {
                tracing::error!(seq = row.seq, error = %err, "an outbox row is unreadable; given up");
                done.push(row.seq);
                continue;
            }
        };
        let gives_up = row.attempts + 1 >= MAX_POSTS;
        let bot = || app.registry.slot_named(&row.bot)?.current();
        let outbound = row
            .route
            .and_then(|route| app.outbound_for_route(route, bot, &mut activity));
        let Some(outbound) = outbound else {
            if gives_up {
                tracing::error!(
                    seq = row.seq,
                    "an outbox row has no way to its channel (its bot is not loaded, or its route unknown); given up"
                );
                done.push(row.seq);
                continue;
            }
            tracing::warn!(
                seq = row.seq,
                "an outbox row has no way to its channel now (its bot is not loaded?); retrying later"
            );
            later = Some((n, retry_at(row.attempts + 1)));
            break;
        };
        match app.connector.send(&activity, &outbound).await {
            Ok(_) => {
                tracing::info!(
                    seq = row.seq,
                    attempts = row.attempts,
                    "reply posted from the outbox"
                );
                done.push(row.seq);
            }
            Err(err) if worth_retrying(&err) && !gives_up => {
                tracing::warn!(seq = row.seq, attempts = row.attempts + 1, error = %err, "a reply could not be posted; retrying later");
                later = Some((n, retry_at(row.attempts + 1)));
                break;
            }
            Err(err) => {
                tracing::error!(seq = row.seq, attempts = row.attempts + 1, error = %err, "a reply could not be posted and is given up");
                done.push(row.seq);
            }
        }
    }
    drop(keeper);
    if let Some((n, at)) = later {
        let rest = rows[n + 1..].iter().map(|row| row.seq).collect();
        hand_back(&app.outbox, owner, rows[n].seq, rest, at).await;
    }
    if !done.is_empty() {
        app.records.submit(TurnRecord::Posted {
            bot,
            conversation,
            seqs: done,
        });
    }
}
