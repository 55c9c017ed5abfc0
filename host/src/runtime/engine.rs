//! The process-wide wasmtime engine and linker: the pooling allocator (with
//! an on-demand fallback), epoch interruption and its ticker thread, and the
//! imports every bot is linked against (deny-all WASI plus the turnbox WIT).

use std::time::Duration;

use wasmtime::component::{HasSelf, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

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
    /// Whether the pooling allocator could be used on this machine.
    pub pooling: bool,
    /// The cores long turns may use (`compute_lanes.rs`).
    pub lanes: crate::runtime::compute_lanes::ComputeLanes,
    /// The host's settings for bots' outbound HTTP.
    pub outbound: crate::runtime::http::OutboundConfig,
}

#[derive(Debug, thiserror::Error)]
#[error("cannot set up the WebAssembly engine: {0}")]
pub struct EngineError(String);

impl Runtime {
    /// Builds the engine for bots whose memory is capped at
    /// `max_memory_bytes`, starts the epoch ticker and links the imports.
    pub fn new(max_memory_bytes: usize) -> Result<Self, EngineError> {
        let mut config = Config::new();
        // Fuel is always metered so any bot's manifest may set a budget;
        // bots without one get an unlimited supply.
        config
            .wasm_component_model(true)
            .epoch_interruption(true)
            .consume_fuel(true);

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

        let ticker = engine.weak();
        std::thread::Builder::new()
            .name("turnbox-epoch".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(EPOCH_TICK);
                    match ticker.upgrade() {
                        Some(engine) => engine.increment_epoch(),
                        None => break,
                    }
                }
            })
            .map_err(|e| EngineError(format!("cannot start the epoch ticker: {e}")))?;

        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .map_err(|e| EngineError(e.to_string()))?;
        BotWorld::add_to_linker::<TurnState, HasSelf<TurnState>>(&mut linker, |state| state)
            .map_err(|e| EngineError(e.to_string()))?;
        // The standard outbound HTTP, for every language's ordinary client;
        // each request is checked in `host/http.rs`.
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)
            .map_err(|e| EngineError(e.to_string()))?;

        Ok(Runtime {
            engine,
            linker,
            pooling,
            lanes: crate::runtime::compute_lanes::ComputeLanes::for_this_machine(),
            outbound: Default::default(),
        })
    }
}
