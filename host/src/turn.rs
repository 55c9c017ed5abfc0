//! One turn: a fresh store and instance of a bot, the host side of the
//! `turn-context` and `logging` imports, the per-turn limits (memory,
//! deadline), and what the turn produced.

use std::sync::Arc;
use std::time::Instant;

use wasmtime::component::{Resource, ResourceTable};
use wasmtime::{ResourceLimiter, Store, Trap, UpdateDeadline};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use crate::activity::{Activity, names};
use crate::bindings::turnbox::bot::{config, context, logging, types as wit};
use crate::bot::BotVersion;
use crate::config::TurnLimits;
use crate::connector::{ConnectorClient, ConnectorError, Outbound};
use crate::engine::Runtime;
use crate::guest_log::{GuestOutput, Stream};
use crate::manifest::Secret;

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

/// The data of a turn's store: WASI (deny-all), the resource table, the
/// limiter and what the bot needs to answer the incoming activity.
pub struct TurnState {
    wasi: WasiCtx,
    table: ResourceTable,
    limiter: TurnLimiter,
    bot: Arc<str>,
    incoming: Arc<Activity>,
    connector: Arc<ConnectorClient>,
    outbound: Outbound,
    buffered_replies: Vec<Activity>,
    config: Arc<std::collections::BTreeMap<String, Secret>>,
    /// Activities sent (or buffered) so far, and the most allowed.
    sent: u32,
    max_sent: u32,
}

impl WasiView for TurnState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// Runs one turn of `bot` on `incoming`, under the bot's limits.
pub async fn run_turn(
    runtime: &Runtime,
    bot: &BotVersion,
    incoming: Arc<Activity>,
    connector: Arc<ConnectorClient>,
    outbound: Outbound,
) -> Result<TurnOutcome, TurnError> {
    let limits = bot.limits.turn();
    let fuel = bot.limits.fuel;
    let deadline = Instant::now() + limits.deadline;
    // No preopened directories, no environment, no arguments, no network:
    // a bot reaches the world only through the turnbox imports.
    let wasi = WasiCtxBuilder::new()
        .stdout(GuestOutput::new(bot.name.clone(), Stream::Stdout))
        .stderr(GuestOutput::new(bot.name.clone(), Stream::Stderr))
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false)
        .build();
    let state = TurnState {
        wasi,
        table: ResourceTable::new(),
        limiter: TurnLimiter {
            memory_bytes: limits.memory_bytes,
        },
        bot: bot.name.clone(),
        incoming: incoming.clone(),
        connector,
        outbound,
        buffered_replies: Vec::new(),
        config: bot.config.clone(),
        sent: 0,
        max_sent: bot.limits.max_activities_per_turn,
    };
    let mut store = Store::new(&runtime.engine, state);
    store.limiter(|state| &mut state.limiter);
    // The engine always meters fuel; a bot without a budget gets all of it.
    store
        .set_fuel(fuel.unwrap_or(u64::MAX))
        .map_err(|e| TurnError::Instantiate(e.to_string()))?;
    // Every epoch tick the bot yields to other tasks; past the deadline it
    // is interrupted.
    store.set_epoch_deadline(1);
    store.epoch_deadline_callback(move |_| {
        if Instant::now() >= deadline {
            Ok(UpdateDeadline::Interrupt)
        } else {
            Ok(UpdateDeadline::Yield(1))
        }
    });

    let mut instantiation = std::time::Duration::ZERO;
    let run = async {
        let started = Instant::now();
        let instance = bot
            .pre
            .instantiate_async(&mut store)
            .await
            .map_err(|e| classify(e, &limits, fuel, true))?;
        instantiation = started.elapsed();
        let ctx = store
            .data_mut()
            .table
            .push(TurnContext)
            .map_err(|e| TurnError::Instantiate(e.to_string()))?;
        instance
            .turnbox_bot_handler()
            .call_on_turn(&mut store, ctx)
            .await
            .map_err(|e| classify(e, &limits, fuel, false))
    };
    // The epoch deadline stops a bot that computes; this timeout stops one
    // that waits in a host call.
    let result = match tokio::time::timeout(limits.deadline, run).await {
        Ok(result) => result?,
        Err(_) => return Err(TurnError::Timeout(limits.deadline.as_millis())),
    };

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
        buffered_replies: std::mem::take(&mut store.data_mut().buffered_replies),
        instantiation,
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
            activity.apply_conversation_reference(&self.incoming);
        } else {
            activity.complete_reply(&self.incoming);
        }
        Ok(activity)
    }

    fn log_call_error(&self, operation: &str, err: &wit::CallError) {
        tracing::warn!(bot = %self.bot, operation, code = %err.code, "{}", err.message);
    }
}

impl wit::Host for TurnState {}

impl context::Host for TurnState {}

impl context::HostTurnContext for TurnState {
    async fn activity(&mut self, _ctx: Resource<TurnContext>) -> wasmtime::Result<wit::Activity> {
        Ok(self.incoming.as_ref().into())
    }

    async fn send(
        &mut self,
        _ctx: Resource<TurnContext>,
        activity: wit::Activity,
    ) -> wasmtime::Result<Result<wit::ResourceResponse, wit::CallError>> {
        let activity = match self.outgoing(activity, false) {
            Ok(activity) => activity,
            Err(err) => {
                self.log_call_error("send", &err);
                return Ok(Err(err));
            }
        };
        if self.sent >= self.max_sent {
            let err = call_error(
                "LimitExceeded",
                format!(
                    "this turn already sent {} activities, the most its manifest allows",
                    self.max_sent
                ),
                None,
            );
            self.log_call_error("send", &err);
            return Ok(Err(err));
        }
        self.sent += 1;
        // Trace activities reach only the Emulator, as in botbuilder.
        let is_trace = activity.kind() == names::TRACE
            && activity.channel_id.as_deref() != Some(names::EMULATOR_CHANNEL);
        if is_trace {
            return Ok(Ok(wit::ResourceResponse { id: String::new() }));
        }
        if self.incoming.expects_replies() {
            self.buffered_replies.push(activity);
            return Ok(Ok(wit::ResourceResponse { id: String::new() }));
        }
        let connector = self.connector.clone();
        Ok(match connector.send(&activity, &self.outbound).await {
            Ok(response) => Ok(wit::ResourceResponse { id: response.id }),
            Err(err) => {
                let err = wit::CallError::from(err);
                self.log_call_error("send", &err);
                Err(err)
            }
        })
    }

    async fn update(
        &mut self,
        _ctx: Resource<TurnContext>,
        activity: wit::Activity,
    ) -> wasmtime::Result<Result<wit::ResourceResponse, wit::CallError>> {
        if self.incoming.expects_replies() {
            return Ok(Err(call_error(
                "NotSupported",
                "activities cannot be updated under expectReplies".into(),
                None,
            )));
        }
        let activity = match self.outgoing(activity, true) {
            Ok(activity) => activity,
            Err(err) => return Ok(Err(err)),
        };
        let connector = self.connector.clone();
        Ok(match connector.update(&activity, &self.outbound).await {
            Ok(response) => Ok(wit::ResourceResponse { id: response.id }),
            Err(err) => {
                let err = wit::CallError::from(err);
                self.log_call_error("update", &err);
                Err(err)
            }
        })
    }

    async fn delete(
        &mut self,
        _ctx: Resource<TurnContext>,
        activity_id: String,
    ) -> wasmtime::Result<Result<(), wit::CallError>> {
        if self.incoming.expects_replies() {
            return Ok(Err(call_error(
                "NotSupported",
                "activities cannot be deleted under expectReplies".into(),
                None,
            )));
        }
        let connector = self.connector.clone();
        let incoming = self.incoming.clone();
        Ok(
            match connector
                .delete(&incoming, &activity_id, &self.outbound)
                .await
            {
                Ok(()) => Ok(()),
                Err(err) => {
                    let err = wit::CallError::from(err);
                    self.log_call_error("delete", &err);
                    Err(err)
                }
            },
        )
    }

    async fn drop(&mut self, ctx: Resource<TurnContext>) -> wasmtime::Result<()> {
        self.table.delete(ctx)?;
        Ok(())
    }
}

impl config::Host for TurnState {
    async fn get(&mut self, key: String) -> wasmtime::Result<Option<String>> {
        Ok(self.config.get(&key).map(|v| v.expose().to_owned()))
    }
}

impl logging::Host for TurnState {
    async fn log(&mut self, level: logging::Level, message: String) -> wasmtime::Result<()> {
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
