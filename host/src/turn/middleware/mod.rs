//! Host middleware around a turn, in onion order (botbuilder's middleware
//! set): each middleware gives every turn a fresh [`TurnHook`], whose
//! `before` runs in order before the bot, `outgoing` sees every activity the
//! turn sends, updates or deletes (and may change or drop it), and `after`
//! runs in reverse order once the turn is over. A `before` may answer the
//! request itself: the bot and the later middleware do not run.
//!
//! To add a middleware: implement [`Middleware`] (and a [`TurnHook`]) in a
//! file of its own here, then add it in `turn::dispatch`'s list of the
//! bot's middleware, usually behind a manifest switch in `[middleware]`
//! (`schema::manifest::MiddlewareSwitches`).

use std::sync::Arc;

use serde_json::Value;

use crate::channels::connector::{ConnectorClient, Outbound};
use crate::runtime::outgoing::{Flow, Outgoing, OutgoingFilter};
use crate::runtime::turn::{TurnError, TurnOutcome};
use crate::schema::activity::Activity;
use crate::support::errors::BoxFuture;

/// What a hook knows about its turn.
pub struct TurnInfo {
    /// The bot's name (its file stem).
    pub bot: Arc<str>,
    pub incoming: Arc<Activity>,
    pub connector: Arc<ConnectorClient>,
    pub outbound: Outbound,
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

/// The pipeline of a turn, shared with the host calls that emit activities.
pub type SharedPipeline = Arc<tokio::sync::Mutex<Pipeline>>;

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

/// The runtime's view of the pipeline: each activity a turn emits goes
/// through the hooks' `outgoing`.
impl OutgoingFilter for tokio::sync::Mutex<Pipeline> {
    fn filter<'a>(&'a self, activity: &'a mut Outgoing<'_>) -> BoxFuture<'a, Flow> {
        Box::pin(async move { self.lock().await.outgoing(activity) })
    }
}

mod metrics;
pub mod signin;
mod transcript;
mod typing;

pub use metrics::TurnMetrics;
pub use signin::SsoTokenExchange;
pub use transcript::TranscriptLogger;
pub use typing::ShowTyping;

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
