//! Host middleware around a turn, in onion order (botbuilder's middleware
//! set): each middleware gives every turn a fresh [`TurnHook`], whose
//! `before` runs in order before the bot, `outgoing` sees every activity the
//! turn sends, updates or deletes (and may change or drop it), and `after`
//! runs in reverse order once the turn is over. A `before` may answer the
//! request itself: the bot and the later middleware do not run.
//!
//! To add a middleware: implement [`Middleware`] (and a [`TurnHook`]), then
//! add it in [`Pipeline::for_turn`], usually behind a manifest switch in
//! `[middleware]`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::activity::{Activity, names};
use crate::connector::{BoxFuture, ConnectorClient, Outbound};
use crate::metrics::Metrics;
use crate::storage::transcripts::{TranscriptEntry, TranscriptStore};
use crate::turn::{TurnError, TurnOutcome};

/// What a hook knows about its turn.
pub struct TurnInfo {
    /// The bot's name (its file stem).
    pub bot: Arc<str>,
    pub incoming: Arc<Activity>,
    pub connector: Arc<ConnectorClient>,
    pub outbound: Outbound,
}

/// An activity leaving the turn.
pub enum Outgoing<'a> {
    Send(&'a mut Activity),
    Update(&'a mut Activity),
    /// A delete of the activity `id` in the incoming activity's conversation.
    Delete(&'a str),
}

/// Whether an outgoing activity goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    /// Drop it: it is not sent, and later middleware do not see it.
    Drop,
}

/// A `before` that answers the request itself.
#[derive(Debug, Clone, PartialEq)]
pub struct ShortCircuit {
    pub status: u16,
    pub body: Option<Value>,
}

/// How the turn ended, as `after` sees it.
pub enum TurnEnd<'a> {
    Done(&'a TurnOutcome),
    Failed(&'a TurnError),
    ShortCircuited(&'a ShortCircuit),
}

/// A middleware: a factory of per-turn hooks.
pub trait Middleware: Send + Sync {
    fn hook(&self, turn: &TurnInfo) -> Box<dyn TurnHook>;
}

/// One middleware's part in one turn. Every method has a pass-through
/// default.
pub trait TurnHook: Send {
    fn before<'a>(&'a mut self, _turn: &'a TurnInfo) -> BoxFuture<'a, Option<ShortCircuit>> {
        Box::pin(async { None })
    }

    fn outgoing(&mut self, _turn: &TurnInfo, _activity: &mut Outgoing<'_>) -> Flow {
        Flow::Continue
    }

    fn after<'a>(&'a mut self, _turn: &'a TurnInfo, _end: &'a TurnEnd<'a>) -> BoxFuture<'a, ()> {
        Box::pin(async {})
    }
}

/// The hooks of one turn, in order.
pub struct Pipeline {
    pub turn: Arc<TurnInfo>,
    hooks: Vec<Box<dyn TurnHook>>,
    /// How many hooks' `before` ran: only those get `after`.
    entered: usize,
}

impl Pipeline {
    pub fn new(turn: Arc<TurnInfo>, middleware: &[Arc<dyn Middleware>]) -> Self {
        let hooks = middleware.iter().map(|m| m.hook(&turn)).collect();
        Pipeline {
            turn,
            hooks,
            entered: 0,
        }
    }

    /// Runs `before` in order; stops at the first short-circuit.
    pub async fn before(&mut self) -> Option<ShortCircuit> {
        for hook in &mut self.hooks {
            self.entered += 1;
            if let Some(answer) = hook.before(&self.turn).await {
                return Some(answer);
            }
        }
        None
    }

    /// Runs `outgoing` in order; `Drop` stops the activity.
    pub fn outgoing(&mut self, activity: &mut Outgoing<'_>) -> Flow {
        for hook in &mut self.hooks[..self.entered] {
            if hook.outgoing(&self.turn, activity) == Flow::Drop {
                return Flow::Drop;
            }
        }
        Flow::Continue
    }

    /// Runs `after` in reverse order, for the hooks that were entered.
    pub async fn after(&mut self, end: &TurnEnd<'_>) {
        for hook in self.hooks[..self.entered].iter_mut().rev() {
            hook.after(&self.turn, end).await;
        }
    }
}

/// Which built-in middleware a bot uses (manifest `[middleware]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct MiddlewareSwitches {
    /// Typing indicators while a message turn runs.
    #[serde(default)]
    pub typing: bool,
    /// Log incoming and outgoing activities to the transcript store.
    #[serde(default)]
    pub transcript: bool,
    /// Per-turn metrics (duration, outcome).
    #[serde(default = "yes")]
    pub metrics: bool,
}

fn yes() -> bool {
    true
}

impl Default for MiddlewareSwitches {
    fn default() -> Self {
        MiddlewareSwitches {
            typing: false,
            transcript: false,
            metrics: true,
        }
    }
}

// ---------------------------------------------------------------------------
// Built-in: turn metrics.

/// Turn duration and outcome, per bot, into `/metrics`.
pub struct TurnMetrics {
    pub metrics: Arc<Metrics>,
}

struct TurnMetricsHook {
    metrics: Arc<Metrics>,
    started: Instant,
}

impl Middleware for TurnMetrics {
    fn hook(&self, _turn: &TurnInfo) -> Box<dyn TurnHook> {
        Box::new(TurnMetricsHook {
            metrics: self.metrics.clone(),
            started: Instant::now(),
        })
    }
}

impl TurnHook for TurnMetricsHook {
    fn after<'a>(&'a mut self, turn: &'a TurnInfo, end: &'a TurnEnd<'a>) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let bot = &turn.bot;
            Metrics::bot_histogram(&self.metrics.turn_duration, bot)
                .observe(self.started.elapsed().as_secs_f64());
            let outcome = match end {
                TurnEnd::Done(outcome) => {
                    Metrics::bot_histogram(&self.metrics.instantiation, bot)
                        .observe(outcome.instantiation.as_secs_f64());
                    "ok"
                }
                TurnEnd::Failed(TurnError::Timeout(_)) => "timeout",
                TurnEnd::Failed(_) => "failed",
                TurnEnd::ShortCircuited(_) => "short_circuited",
            };
            self.metrics.turn(bot, outcome);
        })
    }
}

// ---------------------------------------------------------------------------
// Built-in: typing indicator.

/// botbuilder's ShowTypingMiddleware: for message activities, a `typing`
/// activity after 500 ms, then every 2 s until the turn ends.
pub struct ShowTyping {
    pub delay: Duration,
    pub period: Duration,
}

impl Default for ShowTyping {
    fn default() -> Self {
        ShowTyping {
            delay: Duration::from_millis(500),
            period: Duration::from_secs(2),
        }
    }
}

struct ShowTypingHook {
    delay: Duration,
    period: Duration,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Middleware for ShowTyping {
    fn hook(&self, _turn: &TurnInfo) -> Box<dyn TurnHook> {
        Box::new(ShowTypingHook {
            delay: self.delay,
            period: self.period,
            task: None,
        })
    }
}

impl TurnHook for ShowTypingHook {
    fn before<'a>(&'a mut self, turn: &'a TurnInfo) -> BoxFuture<'a, Option<ShortCircuit>> {
        Box::pin(async move {
            // Typing goes to the channel; under expectReplies there is none.
            if turn.incoming.kind() != names::MESSAGE || turn.incoming.expects_replies() {
                return None;
            }
            let mut typing = Activity {
                kind: Some("typing".into()),
                ..Default::default()
            };
            typing.complete_reply(&turn.incoming);
            let (connector, outbound) = (turn.connector.clone(), turn.outbound.clone());
            let (delay, period) = (self.delay, self.period);
            self.task = Some(tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                loop {
                    if let Err(err) = connector.send(&typing, &outbound).await {
                        tracing::debug!(error = %err, "typing indicator not sent");
                    }
                    tokio::time::sleep(period).await;
                }
            }));
            None
        })
    }

    fn after<'a>(&'a mut self, _turn: &'a TurnInfo, _end: &'a TurnEnd<'a>) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            if let Some(task) = self.task.take() {
                task.abort();
            }
        })
    }
}

impl Drop for ShowTypingHook {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

// ---------------------------------------------------------------------------
// Built-in: transcript logger.

/// Logs the incoming activity and everything the turn sends (updates as
/// `messageUpdate`, deletes as `messageDelete`) to the transcript store,
/// stamping a timestamp where one is missing.
pub struct TranscriptLogger {
    pub store: Arc<dyn TranscriptStore>,
}

struct TranscriptHook {
    store: Arc<dyn TranscriptStore>,
    entries: Vec<TranscriptEntry>,
}

impl Middleware for TranscriptLogger {
    fn hook(&self, _turn: &TurnInfo) -> Box<dyn TurnHook> {
        Box::new(TranscriptHook {
            store: self.store.clone(),
            entries: Vec::new(),
        })
    }
}

fn now_rfc3339() -> String {
    humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string()
}

impl TranscriptHook {
    fn record(&mut self, turn: &TurnInfo, mut activity: Activity) {
        if activity.timestamp.is_none() {
            activity.timestamp = Some(now_rfc3339());
        }
        self.entries.push(TranscriptEntry {
            channel: turn.incoming.channel_id.clone().unwrap_or_default(),
            conversation: turn
                .incoming
                .conversation_id()
                .unwrap_or_default()
                .to_owned(),
            activity,
        });
    }
}

impl TurnHook for TranscriptHook {
    fn before<'a>(&'a mut self, turn: &'a TurnInfo) -> BoxFuture<'a, Option<ShortCircuit>> {
        Box::pin(async move {
            self.record(turn, turn.incoming.as_ref().clone());
            None
        })
    }

    fn outgoing(&mut self, turn: &TurnInfo, activity: &mut Outgoing<'_>) -> Flow {
        let logged = match activity {
            Outgoing::Send(a) => (**a).clone(),
            Outgoing::Update(a) => Activity {
                kind: Some("messageUpdate".into()),
                ..(**a).clone()
            },
            Outgoing::Delete(id) => {
                let mut deleted = Activity {
                    kind: Some("messageDelete".into()),
                    id: Some((*id).to_owned()),
                    ..Default::default()
                };
                deleted.apply_conversation_reference(&turn.incoming);
                deleted.reply_to_id = None;
                deleted
            }
        };
        self.record(turn, logged);
        Flow::Continue
    }

    fn after<'a>(&'a mut self, turn: &'a TurnInfo, _end: &'a TurnEnd<'a>) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let entries = std::mem::take(&mut self.entries);
            let store = self.store.clone();
            let bot = turn.bot.to_string();
            let written = tokio::task::spawn_blocking(move || store.append(&bot, &entries)).await;
            match written {
                Ok(Ok(())) => {}
                Ok(Err(err)) => tracing::error!(error = %err, "cannot write the transcript"),
                Err(err) => tracing::error!(error = %err, "the transcript task failed"),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// Records its calls into a shared log; may short-circuit or drop.
    struct Recorder {
        name: &'static str,
        log: Arc<Mutex<Vec<String>>>,
        short_circuit: bool,
        drop_sends: bool,
    }

    struct RecorderHook {
        name: &'static str,
        log: Arc<Mutex<Vec<String>>>,
        short_circuit: bool,
        drop_sends: bool,
    }

    impl Middleware for Recorder {
        fn hook(&self, _turn: &TurnInfo) -> Box<dyn TurnHook> {
            Box::new(RecorderHook {
                name: self.name,
                log: self.log.clone(),
                short_circuit: self.short_circuit,
                drop_sends: self.drop_sends,
            })
        }
    }

    impl TurnHook for RecorderHook {
        fn before<'a>(&'a mut self, _turn: &'a TurnInfo) -> BoxFuture<'a, Option<ShortCircuit>> {
            Box::pin(async move {
                self.log
                    .lock()
                    .unwrap()
                    .push(format!("before {}", self.name));
                self.short_circuit.then(|| ShortCircuit {
                    status: 202,
                    body: None,
                })
            })
        }

        fn outgoing(&mut self, _turn: &TurnInfo, activity: &mut Outgoing<'_>) -> Flow {
            self.log
                .lock()
                .unwrap()
                .push(format!("outgoing {}", self.name));
            if let Outgoing::Send(a) = activity {
                a.text = Some(format!(
                    "{} {}",
                    a.text.clone().unwrap_or_default(),
                    self.name
                ));
            }
            if self.drop_sends {
                Flow::Drop
            } else {
                Flow::Continue
            }
        }

        fn after<'a>(
            &'a mut self,
            _turn: &'a TurnInfo,
            _end: &'a TurnEnd<'a>,
        ) -> BoxFuture<'a, ()> {
            Box::pin(async move {
                self.log
                    .lock()
                    .unwrap()
                    .push(format!("after {}", self.name));
            })
        }
    }

    fn turn() -> Arc<TurnInfo> {
        let http = reqwest::Client::new();
        Arc::new(TurnInfo {
            bot: "b".into(),
            incoming: Arc::new(Activity::default()),
            connector: Arc::new(ConnectorClient::new(Default::default(), http)),
            outbound: Outbound::Dev,
        })
    }

    fn recorder(
        name: &'static str,
        log: &Arc<Mutex<Vec<String>>>,
        short_circuit: bool,
        drop_sends: bool,
    ) -> Arc<dyn Middleware> {
        Arc::new(Recorder {
            name,
            log: log.clone(),
            short_circuit,
            drop_sends,
        })
    }

    #[tokio::test]
    async fn hooks_run_in_onion_order_and_may_change_outgoing_activities() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let list = [
            recorder("a", &log, false, false),
            recorder("b", &log, false, false),
        ];
        let mut pipeline = Pipeline::new(turn(), &list);
        assert_eq!(pipeline.before().await, None);
        let mut reply = Activity {
            text: Some("hi".into()),
            ..Default::default()
        };
        assert_eq!(
            pipeline.outgoing(&mut Outgoing::Send(&mut reply)),
            Flow::Continue
        );
        assert_eq!(reply.text.as_deref(), Some("hi a b"));
        pipeline
            .after(&TurnEnd::Failed(&TurnError::Timeout(1)))
            .await;
        assert_eq!(
            *log.lock().unwrap(),
            [
                "before a",
                "before b",
                "outgoing a",
                "outgoing b",
                "after b",
                "after a"
            ]
        );
    }

    #[tokio::test]
    async fn a_short_circuit_skips_the_rest_and_unwinds_what_ran() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let list = [
            recorder("a", &log, false, false),
            recorder("stop", &log, true, false),
            recorder("c", &log, false, false),
        ];
        let mut pipeline = Pipeline::new(turn(), &list);
        let answer = pipeline.before().await.expect("short-circuited");
        assert_eq!(answer.status, 202);
        pipeline.after(&TurnEnd::ShortCircuited(&answer)).await;
        assert_eq!(
            *log.lock().unwrap(),
            ["before a", "before stop", "after stop", "after a"]
        );
    }

    #[tokio::test]
    async fn a_dropped_activity_stops_at_the_dropping_middleware() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let list = [
            recorder("drop", &log, false, true),
            recorder("later", &log, false, false),
        ];
        let mut pipeline = Pipeline::new(turn(), &list);
        pipeline.before().await;
        let mut reply = Activity::default();
        assert_eq!(
            pipeline.outgoing(&mut Outgoing::Send(&mut reply)),
            Flow::Drop
        );
        assert!(!log.lock().unwrap().contains(&"outgoing later".to_string()));
    }
}
