//! One turn: a fresh store and instance of a bot, the host side of the
//! `turn-context` and `logging` imports, the per-turn limits (memory,
//! deadline), and what the turn produced.

use std::sync::Arc;
use std::time::Instant;

use wasmtime::component::{Resource, ResourceTable};
use wasmtime::{ResourceLimiter, Store, Trap, UpdateDeadline};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use crate::activity::{Activity, names};
use crate::bindings::turnbox::bot::{config, context, logging, state, timers, types as wit};
use crate::bot::BotVersion;
use crate::compute_lanes::{LaneUse, NextSlice};
use crate::config::TurnLimits;
use crate::connector::{ConnectorClient, ConnectorError, Outbound};
use crate::dispatch::SharedPipeline;
use crate::engine::Runtime;
use crate::guest_log::{GuestOutput, LogBudget, Stream};
use crate::manifest::Secret;
use crate::middleware::{Flow, Outgoing};
use crate::state::{Scope, StateError, TurnStateCache};
use crate::storage::Change;
use crate::storage::timers::{Timer, TimerStore};

/// The host side of a `turn-context` resource. All turn data lives in the
/// store's [`TurnState`]; the resource only names it.
pub struct TurnContext;

/// What a finished turn produced.
#[derive(Debug, Default)]
pub struct TurnOutcome {
    /// The bot's answer to an `invoke`.
    pub invoke_response: Option<InvokeResponse>,
    /// Under `expectReplies`: every activity the bot sent, completed.
    pub buffered_replies: Vec<Activity>,
    /// How long instantiating the bot took.
    pub instantiation: std::time::Duration,
    /// The writes that save the turn's state changes.
    pub state_changes: Vec<Change>,
    /// Sends made after the turn first used state, to be posted once the
    /// state is saved (`None`: deleted again within the turn).
    pub held_back: Vec<Option<Activity>>,
    /// Ids of the sends posted before the turn first used state, in order,
    /// including those an earlier attempt posted.
    pub posted_before_state: Vec<String>,
    /// Timers scheduled and cancelled, to be stored with the state.
    pub timer_ops: Vec<TimerOp>,
}

/// A timer change made by a turn, applied when the turn commits.
#[derive(Debug, Clone, PartialEq)]
pub enum TimerOp {
    Schedule(Timer),
    Cancel(String),
}

/// What a turn runs on, besides the bot.
pub struct TurnRequest {
    pub incoming: Arc<Activity>,
    pub connector: Arc<ConnectorClient>,
    pub outbound: Outbound,
    pub state: TurnStateCache,
    /// Ids of sends an earlier attempt of this turn already posted before it
    /// used state: the same sends in this attempt are not posted again.
    pub already_posted: Vec<String>,
    /// The turn's middleware, which sees what the turn emits.
    pub pipeline: SharedPipeline,
    pub timers: Arc<dyn TimerStore>,
}

/// The provisional id of the `n`th held-back send (1-based).
fn pending_id(n: usize) -> String {
    format!("pending-{n}")
}

fn pending_index(id: &str) -> Option<usize> {
    id.strip_prefix("pending-")?
        .parse::<usize>()
        .ok()?
        .checked_sub(1)
}

/// The bot's answer to an `invoke`, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct InvokeResponse {
    pub status: u16,
    pub body: Option<serde_json::Value>,
}

/// Why a turn failed. Each variant maps to a 500 with its own code.
#[derive(Debug, thiserror::Error)]
pub enum TurnError {
    #[error("the turn exceeded its deadline of {0} ms")]
    Timeout(u128),
    #[error("the bot exceeded its memory limit of {0} MiB")]
    MemoryLimit(usize),
    #[error("the bot used up its fuel budget of {0}")]
    OutOfFuel(u64),
    #[error("the bot trapped: {0}")]
    Trap(String),
    #[error("the bot could not be instantiated: {0}")]
    Instantiate(String),
    #[error("too many turns are running; try again shortly")]
    Busy,
    #[error("the bot failed the turn: {code}: {message}")]
    Bot { code: String, message: String },
    #[error("the bot returned an invalid invoke response: {0}")]
    BadInvokeResponse(String),
    #[error("the turn's state changed under it {0} times in a row; nothing was saved")]
    StateConflict(u32),
    #[error("the turn's state could not be saved: {0}")]
    StateSave(String),
    #[error("the state was saved but a reply could not be posted: {0}")]
    ReplyFailed(String),
}

impl TurnError {
    pub fn code(&self) -> &'static str {
        match self {
            TurnError::Timeout(_) => "TurnTimeout",
            TurnError::MemoryLimit(_) => "MemoryLimitExceeded",
            TurnError::OutOfFuel(_) => "FuelExhausted",
            TurnError::Trap(_) => "BotTrapped",
            TurnError::Instantiate(_) => "InstantiationFailed",
            TurnError::Busy => "ServerBusy",
            TurnError::Bot { .. } => "BotError",
            TurnError::BadInvokeResponse(_) => "BadInvokeResponse",
            TurnError::StateConflict(_) => "StateConflict",
            TurnError::StateSave(_) => "StateSaveFailed",
            TurnError::ReplyFailed(_) => "ReplyFailed",
        }
    }
}

/// The error a memory grow beyond the limit traps with.
#[derive(Debug, thiserror::Error)]
#[error("memory limit of {0} bytes exceeded")]
struct MemoryLimitExceeded(usize);

/// Caps a turn's linear memory and tables.
struct TurnLimiter {
    memory_bytes: usize,
}

/// Table growth limit, in elements; far above what real guests use.
const MAX_TABLE_ELEMENTS: usize = 1 << 20;

impl ResourceLimiter for TurnLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.memory_bytes {
            return Err(wasmtime::Error::new(MemoryLimitExceeded(self.memory_bytes)));
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }
}

/// The data of a bot's store: WASI (deny-all), the resource table, the
/// limiter, and the turn it is running. A fresh-policy store serves one
/// turn; a pooled one serves several, with a new [`Turn`] each time.
pub struct TurnState {
    wasi: WasiCtx,
    table: ResourceTable,
    limiter: TurnLimiter,
    bot: Arc<str>,
    config: Arc<std::collections::BTreeMap<String, Secret>>,
    /// The most activities a turn may send.
    max_sent: u32,
    /// The most bytes of activity JSON a turn may send.
    max_sent_bytes: u64,
    /// The turn's log allowance, shared with the guest's stdout and stderr.
    log_budget: Arc<LogBudget>,
    turn: Turn,
}

/// What the bot needs to answer the incoming activity, and what it produced
/// so far: everything that must not outlive one turn.
struct Turn {
    incoming: Arc<Activity>,
    connector: Arc<ConnectorClient>,
    outbound: Outbound,
    /// Past this instant the epoch callback interrupts the bot.
    deadline: Instant,
    /// Its slices so far, and the compute lane it holds once long.
    lane: LaneUse,
    buffered_replies: Vec<Activity>,
    /// Activities sent (or buffered) so far.
    sent: u32,
    /// Bytes of activity JSON sent, updated or buffered so far.
    sent_bytes: u64,
    state: TurnStateCache,
    held_back: Vec<Option<Activity>>,
    already_posted: Vec<String>,
    posted_before_state: Vec<String>,
    pipeline: SharedPipeline,
    timers: Arc<dyn TimerStore>,
    timer_ops: Vec<TimerOp>,
}

impl Turn {
    fn new(request: TurnRequest, deadline: Instant, lane: LaneUse) -> Turn {
        let TurnRequest {
            incoming,
            connector,
            outbound,
            state,
            already_posted,
            pipeline,
            timers,
        } = request;
        Turn {
            incoming,
            connector,
            outbound,
            deadline,
            lane,
            buffered_replies: Vec::new(),
            sent: 0,
            sent_bytes: 0,
            state,
            held_back: Vec::new(),
            already_posted,
            posted_before_state: Vec::new(),
            pipeline,
            timers,
            timer_ops: Vec::new(),
        }
    }
}

impl Turn {
    /// Sends a completed reply: buffered under `expectReplies`, held back
    /// while the turn has touched state (posted once it is saved), else
    /// through the pipeline to the connector. Returns the activity's id
    /// (empty when the channel gives none).
    async fn send(&mut self, mut activity: Activity) -> Result<String, ConnectorError> {
        // Trace activities reach only the Emulator, as in botbuilder.
        let is_trace = activity.kind() == names::TRACE
            && activity.channel_id.as_deref() != Some(names::EMULATOR_CHANNEL);
        if is_trace {
            return Ok(String::new());
        }
        if self.incoming.expects_replies() {
            self.buffered_replies.push(activity);
            return Ok(String::new());
        }
        if self.state.touched() {
            self.held_back.push(Some(activity));
            return Ok(pending_id(self.held_back.len()));
        }
        if let Some(id) = self.already_posted.get(self.posted_before_state.len()) {
            // An earlier attempt of this turn posted this send already.
            let id = id.clone();
            self.posted_before_state.push(id.clone());
            return Ok(id);
        }
        if self
            .pipeline
            .lock()
            .await
            .outgoing(&mut Outgoing::Send(&mut activity))
            == Flow::Drop
        {
            self.posted_before_state.push(String::new());
            return Ok(String::new());
        }
        let response = self.connector.send(&activity, &self.outbound).await?;
        self.posted_before_state.push(response.id.clone());
        Ok(response.id)
    }

    /// What the turn produced, once it ended well.
    fn outcome(
        &mut self,
        invoke_response: Option<InvokeResponse>,
        instantiation: std::time::Duration,
    ) -> TurnOutcome {
        TurnOutcome {
            invoke_response,
            buffered_replies: std::mem::take(&mut self.buffered_replies),
            instantiation,
            state_changes: self.state.changes(),
            held_back: std::mem::take(&mut self.held_back),
            posted_before_state: std::mem::take(&mut self.posted_before_state),
            timer_ops: std::mem::take(&mut self.timer_ops),
        }
    }
}

/// The native floor (`[instances] policy = "native-echo"`): the echo bot's
/// message behaviour written in Rust and run in the host, with no
/// instance, through the same sending path. Only for measuring what the
/// sandbox costs (docs/PERFORMANCE.md).
async fn native_echo(turn: &mut Turn) -> Result<(), TurnError> {
    if turn.incoming.kind() != names::MESSAGE {
        return Ok(());
    }
    let text = turn.incoming.text.as_deref().unwrap_or_default();
    tracing::debug!("echoing {} bytes", text.len());
    let mut reply = Activity {
        kind: Some(names::MESSAGE.into()),
        text: Some(format!("Echo: {text}")),
        ..Default::default()
    };
    if let Some(extra) = turn.incoming.extra.get("echoExtra") {
        reply.extra.insert("echoExtra".into(), extra.clone());
    }
    reply.complete_reply(&turn.incoming);
    turn.send(reply)
        .await
        .map_err(|e| TurnError::ReplyFailed(e.to_string()))?;
    Ok(())
}

impl WasiView for TurnState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// A bot's store with its instance: warm between turns under the pooled
/// policy (see `instances.rs`).
pub struct WarmInstance {
    pub store: Store<TurnState>,
    pub instance: crate::bindings::Bot,
    /// Turns this instance has served.
    pub turns: u32,
}

/// A new store for `bot`: deny-all WASI, the bot's memory cap, and an
/// epoch callback that interrupts the running turn past its deadline.
fn new_store(
    runtime: &Runtime,
    bot: &BotVersion,
    turn: Turn,
    memory_bytes: usize,
) -> Store<TurnState> {
    // No preopened directories, no environment, no arguments, no network:
    // a bot reaches the world only through the turnbox imports.
    let log_budget = LogBudget::new(bot.name.clone(), bot.limits.max_log_bytes_per_turn);
    let wasi = WasiCtxBuilder::new()
        .stdout(GuestOutput::new(
            bot.name.clone(),
            Stream::Stdout,
            log_budget.clone(),
        ))
        .stderr(GuestOutput::new(
            bot.name.clone(),
            Stream::Stderr,
            log_budget.clone(),
        ))
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false)
        .build();
    let state = TurnState {
        wasi,
        table: ResourceTable::new(),
        limiter: TurnLimiter { memory_bytes },
        bot: bot.name.clone(),
        config: bot.config.clone(),
        max_sent: bot.limits.max_activities_per_turn,
        max_sent_bytes: bot.limits.max_send_bytes_per_turn,
        log_budget,
        turn,
    };
    let mut store = Store::new(&runtime.engine, state);
    store.limiter(|state| &mut state.limiter);
    // Every epoch tick the bot yields to other tasks (a long turn waits
    // for a compute lane); past the deadline it is interrupted.
    store.epoch_deadline_callback(|mut store| {
        let turn = &mut store.data_mut().turn;
        if Instant::now() >= turn.deadline {
            return Ok(UpdateDeadline::Interrupt);
        }
        Ok(match turn.lane.next_slice() {
            NextSlice::Yield => UpdateDeadline::Yield(1),
            NextSlice::Lane(wait) => UpdateDeadline::YieldCustom(1, wait),
        })
    });
    store
}

/// Runs one attempt of a turn of `bot`, under the bot's limits, on a fresh
/// instance or (pooled policy) a warm one. Saving its state and posting its
/// held-back sends is the caller's (`attempts.rs`).
pub async fn run_turn(
    runtime: &Runtime,
    bot: &BotVersion,
    request: TurnRequest,
) -> Result<TurnOutcome, TurnError> {
    let limits = bot.limits.turn();
    let fuel = bot.limits.fuel;
    let mut turn = Turn::new(
        request,
        Instant::now() + limits.deadline,
        runtime.lanes.new_turn(),
    );
    if bot.instance_policy == crate::manifest::InstancePolicy::NativeEcho {
        native_echo(&mut turn).await?;
        turn.lane.release();
        return Ok(turn.outcome(None, std::time::Duration::ZERO));
    }
    let (mut store, warm) = match bot.pool.as_ref().and_then(|pool| pool.take()) {
        Some(warm) => {
            let mut store = warm.store;
            store.data_mut().turn = turn;
            store.data().log_budget.reset();
            (store, Some((warm.instance, warm.turns)))
        }
        None => (new_store(runtime, bot, turn, limits.memory_bytes), None),
    };
    // The engine always meters fuel; a bot without a budget gets all of it.
    store
        .set_fuel(fuel.unwrap_or(u64::MAX))
        .map_err(|e| TurnError::Instantiate(e.to_string()))?;
    store.set_epoch_deadline(1);

    let mut instantiation = std::time::Duration::ZERO;
    let run = async {
        let (instance, turns) = match warm {
            Some(warm) => warm,
            None => {
                let started = Instant::now();
                let instance = bot
                    .pre
                    .instantiate_async(&mut store)
                    .await
                    .map_err(|e| classify(e, &limits, fuel, true))?;
                instantiation = started.elapsed();
                if let Some(pool) = &bot.pool {
                    pool.count_instantiation();
                }
                (instance, 0)
            }
        };
        let ctx = store
            .data_mut()
            .table
            .push(TurnContext)
            .map_err(|e| TurnError::Instantiate(e.to_string()))?;
        let rep = ctx.rep();
        let result = instance
            .turnbox_bot_handler()
            .call_on_turn(&mut store, ctx)
            .await
            .map_err(|e| classify(e, &limits, fuel, false))?;
        // The context names this turn only; a warm instance gets a new one.
        let _ = store
            .data_mut()
            .table
            .delete(Resource::<TurnContext>::new_own(rep));
        Ok::<_, TurnError>((instance, turns, result))
    };
    // The epoch deadline stops a bot that computes; this timeout stops one
    // that waits in a host call. Either way (and on any trap) the store is
    // dropped here, so a pooled bot never reuses an instance a turn broke.
    let (instance, turns, result) = match tokio::time::timeout(limits.deadline, run).await {
        Ok(result) => result?,
        Err(_) => return Err(TurnError::Timeout(limits.deadline.as_millis())),
    };

    let data = store.data_mut();
    // (A failed turn gives its lane back when its store is dropped.)
    data.turn.lane.release();
    let outcome = data.turn.outcome(None, instantiation);
    // A bot that returned (even with its own error) left its instance
    // sound: a pooled bot keeps it for the next turn.
    if let Some(pool) = &bot.pool {
        pool.give_back(WarmInstance {
            store,
            instance,
            turns: turns + 1,
        });
    }
    let invoke_response = match result {
        Ok(response) => response.map(check_invoke_response).transpose()?,
        Err(e) => {
            return Err(TurnError::Bot {
                code: e.code,
                message: e.message,
            });
        }
    };
    Ok(TurnOutcome {
        invoke_response,
        ..outcome
    })
}

fn classify(
    err: wasmtime::Error,
    limits: &TurnLimits,
    fuel: Option<u64>,
    instantiating: bool,
) -> TurnError {
    if err
        .downcast_ref::<wasmtime::PoolConcurrencyLimitError>()
        .is_some()
    {
        return TurnError::Busy;
    }
    if err.downcast_ref::<MemoryLimitExceeded>().is_some() {
        return TurnError::MemoryLimit(limits.memory_bytes >> 20);
    }
    if let Some(trap) = err.downcast_ref::<Trap>() {
        return match *trap {
            Trap::Interrupt => TurnError::Timeout(limits.deadline.as_millis()),
            Trap::OutOfFuel => TurnError::OutOfFuel(fuel.unwrap_or(u64::MAX)),
            _ => {
                // The wasm backtrace is for the bot's author, not the caller.
                tracing::debug!(backtrace = %format!("{err:#}"), "bot trap");
                TurnError::Trap(trap.to_string())
            }
        };
    }
    if instantiating {
        TurnError::Instantiate(format!("{err:#}"))
    } else {
        TurnError::Trap(format!("{err:#}"))
    }
}

fn check_invoke_response(response: wit::InvokeResponse) -> Result<InvokeResponse, TurnError> {
    if !(200..=599).contains(&response.status) {
        return Err(TurnError::BadInvokeResponse(format!(
            "status {} is not a final HTTP status",
            response.status
        )));
    }
    let body = response
        .body
        .map(|text| serde_json::from_str(&text))
        .transpose()
        .map_err(|e| TurnError::BadInvokeResponse(format!("the body is not JSON: {e}")))?;
    Ok(InvokeResponse {
        status: response.status,
        body,
    })
}

fn call_error(code: &str, message: String, status: Option<u16>) -> wit::CallError {
    wit::CallError {
        code: code.to_owned(),
        message,
        status,
    }
}

impl From<ConnectorError> for wit::CallError {
    fn from(err: ConnectorError) -> Self {
        call_error(err.code(), err.to_string(), err.status())
    }
}

impl TurnState {
    /// Converts a bot's activity and completes it as a reply to the incoming
    /// activity.
    fn outgoing(&self, activity: wit::Activity, keep_id: bool) -> Result<Activity, wit::CallError> {
        let mut activity = Activity::try_from(activity)
            .map_err(|e| call_error("BadArgument", e.to_string(), None))?;
        if keep_id {
            activity.apply_conversation_reference(&self.turn.incoming);
        } else {
            activity.complete_reply(&self.turn.incoming);
        }
        Ok(activity)
    }

    fn log_call_error(&self, operation: &str, err: &wit::CallError) {
        tracing::warn!(bot = %self.bot, operation, code = %err.code, "{}", err.message);
    }

    /// Counts what a turn emits against its manifest: the activity's size
    /// against `max_send_bytes_per_turn` (before converting it), and, for a
    /// new activity, one more against `max_activities_per_turn`. Nothing is
    /// counted when either limit refuses it.
    fn count_output(
        &mut self,
        operation: &str,
        activity: &wit::Activity,
        new_activity: bool,
    ) -> Result<(), wit::CallError> {
        let bytes = crate::activity::wit_size(activity);
        let refusal = if new_activity && self.turn.sent >= self.max_sent {
            Some(format!(
                "this turn already sent {} activities, the most its manifest allows",
                self.max_sent
            ))
        } else if self.turn.sent_bytes.saturating_add(bytes) > self.max_sent_bytes {
            Some(format!(
                "this activity ({bytes} bytes) would take the turn past the {} bytes its manifest allows",
                self.max_sent_bytes
            ))
        } else {
            None
        };
        if let Some(message) = refusal {
            let err = call_error("LimitExceeded", message, None);
            self.log_call_error(operation, &err);
            return Err(err);
        }
        self.turn.sent_bytes += bytes;
        self.turn.sent += u32::from(new_activity);
        Ok(())
    }

    /// A connector failure as the bot sees it, logged.
    fn connector_failed(&self, operation: &str, err: ConnectorError) -> wit::CallError {
        let err = wit::CallError::from(err);
        self.log_call_error(operation, &err);
        err
    }
}

impl wit::Host for TurnState {}

impl context::Host for TurnState {}

impl context::HostTurnContext for TurnState {
    async fn activity(&mut self, _ctx: Resource<TurnContext>) -> wasmtime::Result<wit::Activity> {
        Ok(self.turn.incoming.as_ref().into())
    }

    async fn send(
        &mut self,
        _ctx: Resource<TurnContext>,
        activity: wit::Activity,
    ) -> wasmtime::Result<Result<wit::ResourceResponse, wit::CallError>> {
        if let Err(err) = self.count_output("send", &activity, true) {
            return Ok(Err(err));
        }
        let activity = match self.outgoing(activity, false) {
            Ok(activity) => activity,
            Err(err) => {
                self.log_call_error("send", &err);
                return Ok(Err(err));
            }
        };
        Ok(match self.turn.send(activity).await {
            Ok(id) => Ok(wit::ResourceResponse { id }),
            Err(err) => Err(self.connector_failed("send", err)),
        })
    }

    async fn update(
        &mut self,
        _ctx: Resource<TurnContext>,
        activity: wit::Activity,
    ) -> wasmtime::Result<Result<wit::ResourceResponse, wit::CallError>> {
        if self.turn.incoming.expects_replies() {
            return Ok(Err(call_error(
                "NotSupported",
                "activities cannot be updated under expectReplies".into(),
                None,
            )));
        }
        if let Err(err) = self.count_output("update", &activity, false) {
            return Ok(Err(err));
        }
        let activity = match self.outgoing(activity, true) {
            Ok(activity) => activity,
            Err(err) => return Ok(Err(err)),
        };
        if let Some(index) = activity.id.as_deref().and_then(pending_index) {
            return Ok(match self.turn.held_back.get_mut(index) {
                Some(slot @ Some(_)) => {
                    let id = pending_id(index + 1);
                    let mut replacement = activity;
                    replacement.id = None;
                    *slot = Some(replacement);
                    Ok(wit::ResourceResponse { id })
                }
                _ => Err(call_error(
                    "BadArgument",
                    "no held-back activity has that id".into(),
                    None,
                )),
            });
        }
        let mut activity = activity;
        if self
            .turn
            .pipeline
            .lock()
            .await
            .outgoing(&mut Outgoing::Update(&mut activity))
            == Flow::Drop
        {
            return Ok(Ok(wit::ResourceResponse {
                id: activity.id.unwrap_or_default(),
            }));
        }
        let connector = self.turn.connector.clone();
        Ok(
            match connector.update(&activity, &self.turn.outbound).await {
                Ok(response) => Ok(wit::ResourceResponse { id: response.id }),
                Err(err) => Err(self.connector_failed("update", err)),
            },
        )
    }

    async fn delete(
        &mut self,
        _ctx: Resource<TurnContext>,
        activity_id: String,
    ) -> wasmtime::Result<Result<(), wit::CallError>> {
        if self.turn.incoming.expects_replies() {
            return Ok(Err(call_error(
                "NotSupported",
                "activities cannot be deleted under expectReplies".into(),
                None,
            )));
        }
        if let Some(index) = pending_index(&activity_id) {
            return Ok(match self.turn.held_back.get_mut(index) {
                Some(slot @ Some(_)) => {
                    *slot = None;
                    Ok(())
                }
                _ => Err(call_error(
                    "BadArgument",
                    "no held-back activity has that id".into(),
                    None,
                )),
            });
        }
        if self
            .turn
            .pipeline
            .lock()
            .await
            .outgoing(&mut Outgoing::Delete(&activity_id))
            == Flow::Drop
        {
            return Ok(Ok(()));
        }
        let connector = self.turn.connector.clone();
        let incoming = self.turn.incoming.clone();
        Ok(
            match connector
                .delete(&incoming, &activity_id, &self.turn.outbound)
                .await
            {
                Ok(()) => Ok(()),
                Err(err) => Err(self.connector_failed("delete", err)),
            },
        )
    }

    async fn create_conversation(
        &mut self,
        _ctx: Resource<TurnContext>,
        parameters: String,
    ) -> wasmtime::Result<Result<wit::ConversationResourceResponse, wit::CallError>> {
        let mut parameters: serde_json::Value = match serde_json::from_str(&parameters) {
            Ok(serde_json::Value::Object(map)) => serde_json::Value::Object(map),
            _ => {
                return Ok(Err(call_error(
                    "BadArgument",
                    "the parameters must be a JSON object".into(),
                    None,
                )));
            }
        };
        if parameters.get("bot").is_none()
            && let Some(bot) = &self.turn.incoming.recipient
        {
            parameters["bot"] = serde_json::to_value(bot).unwrap_or_default();
        }
        let Some(service_url) = self.turn.incoming.service_url.clone() else {
            return Ok(Err(call_error(
                "BadArgument",
                "the incoming activity has no serviceUrl".into(),
                None,
            )));
        };
        let connector = self.turn.connector.clone();
        Ok(
            match connector
                .create_conversation(&service_url, &parameters, &self.turn.outbound)
                .await
            {
                Ok(answer) => {
                    let text =
                        |key: &str| answer.get(key).and_then(|v| v.as_str()).map(str::to_owned);
                    match text("id") {
                        Some(id) => Ok(wit::ConversationResourceResponse {
                            id,
                            activity_id: text("activityId"),
                            service_url: text("serviceUrl"),
                        }),
                        None => Err(call_error(
                            "ConnectorError",
                            "the Bot Connector answered without a conversation id".into(),
                            None,
                        )),
                    }
                }
                Err(err) => Err(self.connector_failed("create-conversation", err)),
            },
        )
    }

    async fn send_to_conversation(
        &mut self,
        _ctx: Resource<TurnContext>,
        conversation_id: String,
        activity: wit::Activity,
    ) -> wasmtime::Result<Result<wit::ResourceResponse, wit::CallError>> {
        if let Err(err) = self.count_output("send-to-conversation", &activity, true) {
            return Ok(Err(err));
        }
        let mut activity = match self.outgoing(activity, false) {
            Ok(activity) => activity,
            Err(err) => return Ok(Err(err)),
        };
        activity.conversation = Some(crate::activity::ConversationAccount {
            id: conversation_id,
            ..Default::default()
        });
        activity.reply_to_id = None;
        activity.recipient = None;
        if self
            .turn
            .pipeline
            .lock()
            .await
            .outgoing(&mut Outgoing::Send(&mut activity))
            == Flow::Drop
        {
            return Ok(Ok(wit::ResourceResponse { id: String::new() }));
        }
        let connector = self.turn.connector.clone();
        Ok(match connector.send(&activity, &self.turn.outbound).await {
            Ok(response) => Ok(wit::ResourceResponse { id: response.id }),
            Err(err) => Err(self.connector_failed("send-to-conversation", err)),
        })
    }

    async fn drop(&mut self, ctx: Resource<TurnContext>) -> wasmtime::Result<()> {
        self.table.delete(ctx)?;
        Ok(())
    }
}

impl From<state::Scope> for Scope {
    fn from(scope: state::Scope) -> Self {
        match scope {
            state::Scope::Conversation => Scope::Conversation,
            state::Scope::User => Scope::User,
            state::Scope::PrivateConversation => Scope::PrivateConversation,
        }
    }
}

impl From<StateError> for wit::CallError {
    fn from(err: StateError) -> Self {
        call_error(err.code(), err.to_string(), None)
    }
}

impl state::Host for TurnState {
    async fn get(
        &mut self,
        scope: state::Scope,
        key: String,
    ) -> wasmtime::Result<Result<Option<String>, wit::CallError>> {
        Ok(self
            .turn
            .state
            .get(scope.into(), &key)
            .await
            .map_err(Into::into))
    }

    async fn set(
        &mut self,
        scope: state::Scope,
        key: String,
        value: String,
    ) -> wasmtime::Result<Result<(), wit::CallError>> {
        let result = self.turn.state.set(scope.into(), &key, &value).await;
        if let Err(err) = &result {
            tracing::warn!(bot = %self.bot, code = err.code(), "{err}");
        }
        Ok(result.map_err(Into::into))
    }

    async fn delete(
        &mut self,
        scope: state::Scope,
        key: String,
    ) -> wasmtime::Result<Result<(), wit::CallError>> {
        Ok(self
            .turn
            .state
            .delete(scope.into(), &key)
            .await
            .map_err(Into::into))
    }
}

/// The longest delay a timer may have: a year.
const MAX_TIMER_DELAY_MS: u64 = 366 * 24 * 3600 * 1000;

impl timers::Host for TurnState {
    async fn schedule(
        &mut self,
        delay_ms: u64,
        name: String,
        value: Option<String>,
    ) -> wasmtime::Result<Result<String, wit::CallError>> {
        if delay_ms > MAX_TIMER_DELAY_MS {
            return Ok(Err(call_error(
                "BadArgument",
                "a timer may be at most a year away".into(),
                None,
            )));
        }
        if self
            .turn
            .incoming
            .conversation_id()
            .is_none_or(str::is_empty)
        {
            return Ok(Err(call_error(
                "BadArgument",
                "timers need a conversation: the activity has none".into(),
                None,
            )));
        }
        let value = match value.map(|v| serde_json::from_str(&v)).transpose() {
            Ok(value) => value,
            Err(e) => {
                return Ok(Err(call_error(
                    "BadArgument",
                    format!("the value is not JSON: {e}"),
                    None,
                )));
            }
        };
        let id = crate::storage::new_etag();
        self.turn.timer_ops.push(TimerOp::Schedule(Timer {
            id: id.clone(),
            bot: self.bot.to_string(),
            due: crate::storage::now_millis() + delay_ms as i64,
            name,
            value,
            reference: crate::activity::conversation_reference(&self.turn.incoming),
        }));
        Ok(Ok(id))
    }

    async fn cancel(&mut self, timer_id: String) -> wasmtime::Result<Result<bool, wit::CallError>> {
        let scheduled_here = self
            .turn
            .timer_ops
            .iter()
            .position(|op| matches!(op, TimerOp::Schedule(t) if t.id == timer_id));
        if let Some(index) = scheduled_here {
            self.turn.timer_ops.remove(index);
            return Ok(Ok(true));
        }
        let (store, bot, id) = (
            self.turn.timers.clone(),
            self.bot.to_string(),
            timer_id.clone(),
        );
        let exists = tokio::task::spawn_blocking(move || store.exists(&bot, &id)).await;
        match exists {
            Ok(Ok(true)) => {
                self.turn.timer_ops.push(TimerOp::Cancel(timer_id));
                Ok(Ok(true))
            }
            Ok(Ok(false)) => Ok(Ok(false)),
            Ok(Err(e)) => Ok(Err(call_error("StorageError", e.to_string(), None))),
            Err(e) => Ok(Err(call_error("StorageError", e.to_string(), None))),
        }
    }
}

impl config::Host for TurnState {
    async fn get(&mut self, key: String) -> wasmtime::Result<Option<String>> {
        Ok(self.config.get(&key).map(|v| v.expose().to_owned()))
    }
}

impl logging::Host for TurnState {
    async fn log(&mut self, level: logging::Level, message: String) -> wasmtime::Result<()> {
        if !self.log_budget.take(message.len()) {
            return Ok(());
        }
        let bot = &*self.bot;
        match level {
            logging::Level::Trace => tracing::trace!(bot, "{message}"),
            logging::Level::Debug => tracing::debug!(bot, "{message}"),
            logging::Level::Info => tracing::info!(bot, "{message}"),
            logging::Level::Warn => tracing::warn!(bot, "{message}"),
            logging::Level::Error => tracing::error!(bot, "{message}"),
        }
        Ok(())
    }
}
