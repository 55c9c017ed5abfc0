//! Running one attempt of a turn: take a warm instance or make a store (the
//! bot's limits, stdout/stderr to the log, the epoch callback that yields
//! and stops at the deadline) and instantiate, call `on-turn` under the deadline and fuel budget, classify
//! traps into [`TurnError`]s, check the invoke response; and the native
//! echo floor used by the benchmarks.

use std::time::Instant;

use wasmtime::{CallHook, Store, Trap, UpdateDeadline};
use wasmtime_wasi::WasiCtxBuilder;

use crate::runtime::bot::BotVersion;
use crate::runtime::compute_lanes::{NextSlice, run_turn_call};
use crate::runtime::engine::Runtime;
use crate::runtime::guest_log::{GuestOutput, LogBudget, Stream};
use crate::runtime::http::turn::TurnHttp;
use crate::runtime::instances::WarmInstance;
use crate::runtime::store::{MemoryLimitExceeded, TurnLimiter, TurnState};
use crate::runtime::turn::{InvokeResponse, Turn, TurnError, TurnOutcome, TurnRequest};
use crate::schema::activity::{Activity, names};
use crate::schema::bindings::turnbox::bot::types as wit;
use crate::schema::manifest::{InstancePolicy, TurnLimits};
use wasmtime::component::ResourceTable;

/// A new store for `bot`: deny-all WASI, the bot's memory cap, and an
/// epoch callback that interrupts the running turn past its deadline.
fn new_store(bot: &BotVersion, turn: Turn, memory_bytes: usize) -> Store<TurnState> {
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
        http_ctx: Default::default(),
        table: ResourceTable::new(),
        limiter: TurnLimiter { memory_bytes },
        bot: bot.name.clone(),
        config: bot.config.clone(),
        skills: bot.skills.clone(),
        credentials: std::sync::Arc::new(bot.credentials.clone()),
        max_sent: bot.limits.max_activities_per_turn,
        max_sent_bytes: bot.limits.max_send_bytes_per_turn,
        log_budget,
        turn,
    };
    // The engine the bot was compiled for (baseline or optimised).
    let mut store = Store::new(bot.pre.engine(), state);
    store.limiter(|state| &mut state.limiter);
    // How long the turn computes (`compute_lanes.rs`): time in wasm
    // counts; time in host calls, libcalls and the epoch yield does not.
    store.call_hook(|mut store, hook| {
        let lane = &mut store.data_mut().turn.lane;
        match hook {
            CallHook::CallingWasm | CallHook::ReturningFromHost => lane.computing(),
            CallHook::CallingHost | CallHook::ReturningFromWasm => lane.waiting(),
        }
        Ok(())
    });
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
    let deadline = Instant::now() + limits.deadline;
    let mut turn = Turn::new(
        request,
        deadline,
        runtime.lanes.new_turn(bot.long_turns.clone()),
        TurnHttp::new(bot.http.clone(), deadline),
    );
    if bot.instance_policy == InstancePolicy::NativeEcho {
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
        None => (new_store(bot, turn, limits.memory_bytes), None),
    };
    // The engine always meters fuel; a bot without a budget gets all of it.
    store
        .set_fuel(fuel.unwrap_or(u64::MAX))
        .map_err(|e| TurnError::Instantiate(e.to_string()))?;
    store.set_epoch_deadline(1);

    // The call owns the store, so that a turn that turns long can move to
    // the compute runtime (`compute_lanes.rs`); it gives the store back.
    let moved = store.data().turn.lane.moved_flag();
    let pre = bot.pre.clone();
    if warm.is_none()
        && let Some(pool) = &bot.pool
    {
        pool.count_instantiation();
    }
    let run = async move {
        let mut instantiation = std::time::Duration::ZERO;
        let (instance, turns) = match warm {
            Some(warm) => warm,
            None => {
                let started = Instant::now();
                let instance = pre
                    .instantiate_async(&mut store)
                    .await
                    .map_err(|e| classify(e, &limits, fuel, true))?;
                instantiation = started.elapsed();
                (instance, 0)
            }
        };
        // The context names this turn only; a warm instance gets a new one.
        let result = instance
            .on_turn(&mut store)
            .await
            .map_err(|e| classify(e, &limits, fuel, false))?;
        Ok::<_, TurnError>((store, instance, turns, result, instantiation))
    };
    // The epoch deadline stops a bot that computes; this timeout stops one
    // that waits in a host call. Either way (and on any trap) the store is
    // dropped here, so a pooled bot never reuses an instance a turn broke.
    let call = run_turn_call(Box::pin(run), moved);
    let (mut store, instance, turns, result, instantiation) =
        match tokio::time::timeout(limits.deadline, call).await {
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
