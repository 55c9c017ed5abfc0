//! The process-wide wasmtime engine and linker: the pooling allocator (with
//! an on-demand fallback), epoch interruption and its ticker thread, and the
//! imports every bot is linked against (deny-all WASI plus the turnbox WIT).
//! Optionally a second, baseline engine (Winch): it compiles in a fraction
//! of Cranelift's time to slower code, for `--tiered-compile` start-ups.

use std::time::Duration;

use wasmtime::component::{HasSelf, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Strategy};

use crate::runtime::store::TurnState;
use crate::schema::bindings::Bot as BotWorld;

/// How often the epoch advances. Deadlines are checked, and a busy bot
/// yields to other tasks, once per tick.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// How many instances may be live at once in the pooling allocator.
const POOL_INSTANCES: u32 = 256;

/// Bytes of each linear memory kept resident between instances.
const KEEP_RESIDENT: usize = 2 << 20;

/// Decommits of freed slots done together.
const DECOMMIT_BATCH: usize = 16;

/// The engine and linker shared by every bot and every turn.
pub struct Runtime {
    pub engine: Engine,
    pub linker: Linker<TurnState>,
    /// The baseline compiler's engine and linker, when tiered compiles are
    /// on and Winch runs on this machine.
    pub baseline: Option<Baseline>,
    /// Whether the pooling allocator could be used on this machine.
    pub pooling: bool,
    /// The cores long turns may use (`compute_lanes.rs`).
    pub lanes: crate::runtime::compute_lanes::ComputeLanes,
    /// The host's settings for bots' outbound HTTP.
    pub outbound: crate::runtime::http::OutboundConfig,
}

/// The baseline tier: Winch, with the same fuel and epochs (the memory
/// limit is the turn's limiter, as for every bot), and
/// instances allocated on demand (its bots are replaced by optimised
/// versions seconds after start-up, so they get no pool of their own).
pub struct Baseline {
    pub engine: Engine,
    pub linker: Linker<TurnState>,
}

#[derive(Debug, thiserror::Error)]
#[error("cannot set up the WebAssembly engine: {0}")]
pub struct EngineError(String);

/// The settings both tiers share.
fn base_config() -> Config {
    let mut config = Config::new();
    // Fuel is always metered so any bot's manifest may set a budget;
    // bots without one get an unlimited supply.
    config
        .wasm_component_model(true)
        .epoch_interruption(true)
        .consume_fuel(true);
    config
}

/// The imports every bot is linked against, for `engine`.
fn link(engine: &Engine) -> Result<Linker<TurnState>, EngineError> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(|e| EngineError(e.to_string()))?;
    BotWorld::add_to_linker::<TurnState, HasSelf<TurnState>>(&mut linker, |state| state)
        .map_err(|e| EngineError(e.to_string()))?;
    // The standard outbound HTTP, for every language's ordinary client;
    // each request is checked in `host/http.rs`.
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)
        .map_err(|e| EngineError(e.to_string()))?;
    Ok(linker)
}

impl Baseline {
    /// The Winch engine, or `None` (with the reason logged) where it cannot
    /// be built, e.g. on a CPU Winch does not support.
    fn new() -> Option<Baseline> {
        let mut config = base_config();
        config
            .strategy(Strategy::Winch)
            .allocation_strategy(InstanceAllocationStrategy::OnDemand);
        let built = Engine::new(&config)
            .map_err(|e| EngineError(e.to_string()))
            .and_then(|engine| link(&engine).map(|linker| Baseline { engine, linker }));
        match built {
            Ok(baseline) => Some(baseline),
            Err(err) => {
                tracing::warn!(error = %err, "no baseline compiler here; every bot is compiled optimised");
                None
            }
        }
    }
}

impl Runtime {
    /// Builds the engine for bots whose memory is capped at
    /// `max_memory_bytes`, starts the epoch ticker and links the imports.
    pub fn new(max_memory_bytes: usize) -> Result<Self, EngineError> {
        Self::with_tiers(max_memory_bytes, false)
    }

    /// The same, with a baseline engine too when `tiered`.
    pub fn with_tiers(max_memory_bytes: usize, tiered: bool) -> Result<Self, EngineError> {
        let mut config = base_config();

        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(POOL_INSTANCES)
            .total_core_instances(POOL_INSTANCES * 4)
            .total_memories(POOL_INSTANCES * 2)
            .total_tables(POOL_INSTANCES * 4)
            .max_memory_size(max_memory_bytes)
            // A slot's memory and tables are reset with memset up to these
            // sizes (to their initial image: no data survives), instead of
            // madvise, whose TLB shootdowns cost every core on each turn;
            // what is left is decommitted in batches.
            .linear_memory_keep_resident(KEEP_RESIDENT)
            .table_keep_resident(64 << 10)
            .decommit_batch_size(DECOMMIT_BATCH)
            .pagemap_scan(wasmtime::Enabled::Auto);
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));

        let (engine, pooling) = match Engine::new(&config) {
            Ok(engine) => (engine, true),
            Err(err) => {
                tracing::warn!(
                    error = %err,
                    "the pooling allocator is unavailable here; using on-demand allocation"
                );
                config.allocation_strategy(InstanceAllocationStrategy::OnDemand);
                (
                    Engine::new(&config).map_err(|e| EngineError(e.to_string()))?,
                    false,
                )
            }
        };

        // Winch is complete on x86_64 only.
        let baseline = if tiered && cfg!(target_arch = "x86_64") {
            Baseline::new()
        } else {
            if tiered {
                tracing::warn!("--tiered-compile needs x86_64; every bot is compiled optimised");
            }
            None
        };
        let tickers: Vec<_> = std::iter::once(engine.weak())
            .chain(baseline.as_ref().map(|b| b.engine.weak()))
            .collect();
        std::thread::Builder::new()
            .name("turnbox-epoch".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(EPOCH_TICK);
                    let mut alive = false;
                    for ticker in &tickers {
                        if let Some(engine) = ticker.upgrade() {
                            engine.increment_epoch();
                            alive = true;
                        }
                    }
                    if !alive {
                        break;
                    }
                }
            })
            .map_err(|e| EngineError(format!("cannot start the epoch ticker: {e}")))?;

        let linker = link(&engine)?;
        Ok(Runtime {
            engine,
            linker,
            baseline,
            pooling,
            lanes: crate::runtime::compute_lanes::ComputeLanes::for_this_machine(),
            outbound: Default::default(),
        })
    }
}
