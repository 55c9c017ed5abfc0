//! Running a turn for a bot, whoever asks for it (an HTTP request, the
//! proactive API, a timer): admission (the bot's concurrency limit, then the
//! conversation's order, then a channel delivery's claim), the middleware
//! pipeline around the turn, the attempts to a commit, and the bot's turn
//! counters.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::bots::registry::BotSlot;
use crate::channels::connector::Outbound;
use crate::runtime::bot::BotVersion;
use crate::runtime::outgoing::{Flow, Outgoing};
use crate::runtime::turn::{TurnError, TurnOutcome};
use crate::schema::activity::Activity;
use crate::schema::activity::conversation_reference;
use crate::storage::dedup::Answer;
use crate::storage::group_commit::CommitError;
use crate::storage::{TurnCommit, TurnRecord};
use crate::turn::answer::turn_answer;
use crate::turn::attempts::{Attempts, Commitment, run_to_commit};
use crate::turn::dedup::Admission;
use crate::turn::middleware::{
    Middleware, Pipeline, SharedPipeline, ShortCircuit, ShowTyping, SsoTokenExchange,
    TranscriptLogger, TurnEnd, TurnInfo, TurnMetrics,
};
use crate::turn::services::TurnServices;

/// Who asks for a turn, which decides what its commit records.
#[derive(Debug, Clone, PartialEq)]
pub enum Origin {
    /// A channel's delivery: de-duplicated, its answer and conversation
    /// reference recorded.
    Channel,
    /// A due timer (its id): removed by the turn's commit.
    Timer(String),
    /// Anything else (Direct Line, the admin API).
    Other,
}

/// How a dispatched turn ended well.
pub enum Dispatched {
    /// The turn ran and committed; the answer to its request.
    Done(TurnOutcome, Answer),
    ShortCircuited(ShortCircuit),
    /// A channel's re-delivery of an activity already answered: no turn ran.
    Duplicate(Answer),
}

/// Why a turn did not run or did not finish.
#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    /// Not admitted: the caller may retry shortly.
    #[error("{message}")]
    Busy { code: &'static str, message: String },
    #[error(transparent)]
    Turn(#[from] TurnError),
}

/// The tracing span of a turn: bot, channel, conversation, activity id, and
/// what started it (`kind`: the activity type, `proactive` or `timer`).
pub fn turn_span(bot: &str, activity: &Activity, kind: &str) -> tracing::Span {
    tracing::info_span!(
        "turn",
        bot = %bot,
        channel = activity.channel_id.as_deref().unwrap_or(""),
        conversation = activity.conversation_id().unwrap_or(""),
        activity_id = activity.id.as_deref().unwrap_or(""),
        activity_type = kind,
    )
}

/// Whether a channel's delivery may be answered before its turn ends
/// (`accept.rs`): not `expectReplies` nor `invoke` (their answer is the
/// reply), a bot whose `ack_after_ms` is inside its deadline, and an
/// activity with the ids its kept row is found by.
pub fn may_answer_early(version: &BotVersion, activity: &Activity) -> bool {
    may_answer_early_with_an_id(version, activity)
        && activity.id.as_deref().is_some_and(|id| !id.is_empty())
}

/// `may_answer_early`, but for an activity whose id is still to come (a
/// delivery the host logs, which gives it its id).
pub fn may_answer_early_with_an_id(version: &BotVersion, activity: &Activity) -> bool {
    let answer_is_the_reply =
        activity.expects_replies() || activity.kind() == crate::schema::activity::names::INVOKE;
    !answer_is_the_reply
        && std::time::Duration::from_millis(version.limits.ack_after_ms)
            < version.limits.turn().deadline
        && activity.conversation_id().is_some_and(|c| !c.is_empty())
}

/// The middleware a bot's manifest switches on, outermost first.
fn middleware_for(app: &TurnServices, version: &BotVersion) -> Vec<Arc<dyn Middleware>> {
    let switches = version.middleware;
    let mut list: Vec<Arc<dyn Middleware>> = Vec::new();
    if switches.metrics {
        list.push(Arc::new(TurnMetrics {
            metrics: app.metrics.clone(),
        }));
    }
    if switches.transcript {
        list.push(Arc::new(TranscriptLogger {
            store: app.transcripts.clone(),
        }));
    }
    if switches.typing {
        list.push(Arc::new(ShowTyping::default()));
    }
    // Always on: it touches only signin/tokenExchange and signin/failure
    // invokes.
    list.push(Arc::new(SsoTokenExchange {
        service: app.token_service_for(version),
        storage: app.storage.clone(),
        bot: version.name.clone(),
        quota: version.state_quota,
    }));
    list
}

/// Runs a turn of `version` on `activity`. A channel's delivery
/// (`Origin::Channel`) already answered gets that answer again (`dedup.rs`);
/// otherwise the turn's answer is recorded with its effects.
pub async fn dispatch(
    app: &TurnServices,
    slot: &BotSlot,
    version: &Arc<BotVersion>,
    activity: Arc<Activity>,
    outbound: Outbound,
    origin: Origin,
) -> Result<Dispatched, DispatchError> {
    // Past the bot's concurrency limit the caller is told to come back,
    // rather than piling up turns without bound.
    let Ok(_permit) = version.permits.clone().try_acquire_owned() else {
        return Err(DispatchError::Busy {
            code: "TooManyTurns",
            message: format!(
                "the bot is running its maximum of {} concurrent turns",
                version.limits.max_concurrent_turns
            ),
        });
    };
    tracing::debug!("turn admitted");
    let conversation = activity.conversation_id().unwrap_or("").to_owned();
    let deadline = version.limits.turn().deadline;
    let Ok(_in_order) =
        tokio::time::timeout(deadline, slot.conversations.enter(&conversation)).await
    else {
        return Err(DispatchError::Busy {
            code: "ConversationBusy",
            message: "earlier turns of this conversation did not finish in time".into(),
        });
    };

    // Inside the conversation's order: an original still running here is
    // ahead; one on another host holds the claim.
    let dedup = app.dedup.as_ref().filter(|_| origin == Origin::Channel);
    let mut delivery = None;
    if let Some(dedup) = dedup {
        match dedup
            .claim(&slot.name, &activity, deadline + app.lease, deadline)
            .await
        {
            Admission::Answered(answer) => {
                tracing::info!(
                    status = answer.status,
                    "duplicate delivery: answered as the first time"
                );
                app.metrics.turn(&slot.name, "duplicate");
                return Ok(Dispatched::Duplicate(answer));
            }
            Admission::Run(claimed) => delivery = claimed,
            Admission::Busy(code) => {
                return Err(DispatchError::Busy {
                    code,
                    message: "this activity's first delivery is still being answered; deliver it again shortly".into(),
                });
            }
        }
        crate::support::faults::point("after-claim");
    }
    let commitment = Commitment {
        delivery: delivery.clone(),
        reference: (origin == Origin::Channel && !conversation.is_empty())
            .then(|| (conversation.clone(), conversation_reference(&activity))),
        fired_timer: match &origin {
            Origin::Timer(id) => Some(id.clone()),
            _ => None,
        },
        accepted: (origin == Origin::Channel && may_answer_early(version, &activity))
            .then(|| Some((conversation.clone(), activity.id.clone()?)))
            .flatten(),
    };

    let turn = Arc::new(TurnInfo {
        bot: version.name.clone(),
        incoming: activity.clone(),
        connector: app.connector.clone(),
        outbound: outbound.clone(),
    });
    let pipeline: SharedPipeline = Arc::new(tokio::sync::Mutex::new(Pipeline::new(
        turn,
        &middleware_for(app, version),
    )));

    // Bound first: a guard in the `if let` scrutinee would live through
    // its block, and `after` below locks the pipeline again.
    let short_circuit = pipeline.lock().await.before().await;
    if let Some(answer) = short_circuit {
        pipeline
            .lock()
            .await
            .after(&TurnEnd::ShortCircuited(&answer))
            .await;
        slot.counters.ok.fetch_add(1, Ordering::Relaxed);
        let recorded = Answer {
            status: answer.status,
            body: answer.body.as_ref().map(|body| body.to_string()),
        };
        let committed = commit_short_circuit(app, &version.name, commitment, recorded).await;
        if !matches!(committed, Ok(true))
            && let (Some(dedup), Some(d)) = (dedup, &delivery)
        {
            dedup.release(&slot.name, d).await;
        }
        committed.map_err(DispatchError::Turn)?;
        return Ok(Dispatched::ShortCircuited(answer));
    }

    let attempts = Attempts {
        connector: app.connector.clone(),
        outbound,
        storage: app.storage.clone(),
        outgoing: pipeline.clone(),
        timers: app.timers.clone(),
        records: app.records.clone(),
        outbox: app.outbox.clone(),
        lease: app.lease,
        relay: app.relay.clone(),
        posts: app.posts.clone(),
        skills: Some(app.skills.clone()),
        user_tokens: Some(app.token_service_for(version)),
    };
    let result = run_to_commit(
        &app.runtime,
        version,
        activity.clone(),
        &attempts,
        &commitment,
    )
    .await;
    let mut pipeline = pipeline.lock().await;
    match result {
        Ok((mut outcome, mut answer)) => {
            // Replies returned in the response leave the turn now.
            outcome.buffered_replies.retain_mut(|reply| {
                pipeline.outgoing(&mut Outgoing::Send(reply)) == Flow::Continue
            });
            if activity.expects_replies() {
                let filtered = turn_answer(&activity, &outcome);
                if filtered != answer {
                    // The middleware changed the replies: a duplicate gets
                    // them as they left.
                    if let Some(d) = &delivery {
                        let corrected = TurnRecord::Answer {
                            bot: version.name.to_string(),
                            conversation: d.conversation.clone(),
                            activity_id: d.activity_id.clone(),
                            answer: filtered.clone(),
                        };
                        if let Err(err) = app.records.commit(corrected).await {
                            tracing::warn!(error = %err, "cannot record the replies as the middleware left them");
                        }
                    }
                    answer = filtered;
                }
            }
            pipeline.after(&TurnEnd::Done(&outcome)).await;
            slot.counters.ok.fetch_add(1, Ordering::Relaxed);
            if let Some(dedup) = dedup {
                dedup.forget_old().await;
            }
            Ok(Dispatched::Done(outcome, answer))
        }
        Err(err) => {
            if let (Some(dedup), Some(d)) = (dedup, &delivery) {
                dedup.release(&slot.name, d).await;
            }
            // The reference is host bookkeeping, not the bot's effect: kept
            // for proactive messages even when the turn failed.
            if let Some(reference) = commitment.reference {
                app.records.submit(TurnRecord::Turn(Box::new(TurnCommit {
                    bot: version.name.to_string(),
                    reference: Some(reference),
                    ..Default::default()
                })));
            }
            pipeline.after(&TurnEnd::Failed(&err)).await;
            let counter = match err {
                TurnError::Timeout(_) => &slot.counters.timed_out,
                _ => &slot.counters.failed,
            };
            counter.fetch_add(1, Ordering::Relaxed);
            Err(DispatchError::Turn(err))
        }
    }
}

/// Commits what a turn answered by middleware records: its delivery's
/// answer, the reference, the fired timer. False when it could not.
async fn commit_short_circuit(
    app: &TurnServices,
    bot: &str,
    commitment: Commitment,
    answer: Answer,
) -> Result<bool, TurnError> {
    let commit = TurnCommit {
        bot: bot.to_owned(),
        fired_timer: commitment.fired_timer,
        delivery: commitment.delivery.map(|d| d.record(answer)),
        reference: commitment.reference,
        accepted: commitment.accepted,
        ..Default::default()
    };
    if commit.is_empty() {
        return Ok(true);
    }
    let keeps = commit.accepted.is_some() || commit.fired_timer.is_some();
    match app.records.commit(TurnRecord::Turn(Box::new(commit))).await {
        Ok(_) => Ok(true),
        // The host is stopping: a kept turn's row or a timer is left as it
        // is, to run again (any other answer stands).
        Err(CommitError::Closed) if keeps => Err(TurnError::Stopping),
        Err(err) => {
            tracing::warn!(error = %err, "cannot record the answer of a turn answered by middleware");
            Ok(false)
        }
    }
}
