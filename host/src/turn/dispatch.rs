//! Running a turn for a bot, whoever asks for it (an HTTP request, the
//! proactive API, a timer): admission (the bot's concurrency limit, then the
//! conversation's order), the middleware pipeline around the turn, the
//! attempts to a committed state, and the bot's turn counters.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::bots::registry::BotSlot;
use crate::channels::connector::Outbound;
use crate::runtime::bot::BotVersion;
use crate::runtime::outgoing::{Flow, Outgoing};
use crate::runtime::turn::{TurnError, TurnOutcome};
use crate::schema::activity::Activity;
use crate::storage::dedup::Answer;
use crate::turn::attempts::{Attempts, run_to_commit};
use crate::turn::middleware::{
    Middleware, Pipeline, SharedPipeline, ShortCircuit, ShowTyping, TranscriptLogger, TurnEnd,
    TurnInfo, TurnMetrics,
};
use crate::turn::services::TurnServices;

/// How a dispatched turn ended well.
pub enum Dispatched {
    Done(TurnOutcome),
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
    list
}

/// Runs a turn of `version` on `activity`. With `deduplicate` (a channel's
/// delivery), an activity already answered gets that answer again
/// (`dedup.rs`), and this turn's answer is recorded.
pub async fn dispatch(
    app: &TurnServices,
    slot: &BotSlot,
    version: &Arc<BotVersion>,
    activity: Arc<Activity>,
    outbound: Outbound,
    deduplicate: bool,
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

    // Inside the conversation's order: an original still running is ahead.
    let dedup = app.dedup.as_ref().filter(|_| deduplicate);
    if let Some(dedup) = dedup
        && let Some(answer) = dedup.answered(&slot.name, &activity).await
    {
        tracing::info!(
            status = answer.status,
            "duplicate delivery: answered as the first time"
        );
        app.metrics.turn(&slot.name, "duplicate");
        return Ok(Dispatched::Duplicate(answer));
    }

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

    if let Some(answer) = pipeline.lock().await.before().await {
        pipeline
            .lock()
            .await
            .after(&TurnEnd::ShortCircuited(&answer))
            .await;
        slot.counters.ok.fetch_add(1, Ordering::Relaxed);
        if let Some(dedup) = dedup {
            let recorded = Answer {
                status: answer.status,
                body: answer.body.as_ref().map(|body| body.to_string()),
            };
            dedup.record(&slot.name, &activity, recorded).await;
        }
        return Ok(Dispatched::ShortCircuited(answer));
    }

    let attempts = Attempts {
        connector: app.connector.clone(),
        outbound,
        storage: app.storage.clone(),
        outgoing: pipeline.clone(),
        timers: app.timers.clone(),
    };
    let result = run_to_commit(&app.runtime, version, activity.clone(), &attempts).await;
    let mut pipeline = pipeline.lock().await;
    match result {
        Ok(mut outcome) => {
            // Replies returned in the response leave the turn now.
            outcome.buffered_replies.retain_mut(|reply| {
                pipeline.outgoing(&mut Outgoing::Send(reply)) == Flow::Continue
            });
            pipeline.after(&TurnEnd::Done(&outcome)).await;
            slot.counters.ok.fetch_add(1, Ordering::Relaxed);
            if let Some(dedup) = dedup {
                let answer = crate::turn::answer::turn_answer(&activity, &outcome);
                dedup.record(&slot.name, &activity, answer).await;
            }
            Ok(Dispatched::Done(outcome))
        }
        Err(err) => {
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
