//! The process-wide wasmtime engines and linkers: the pooling allocator (with
//! an on-demand fallback), epoch interruption and its ticker thread, and the
//! imports every bot is linked against (deny-all WASI plus the turnbox WIT).
//! Two pools with the same compiler settings (so compiled code and its cache
//! are shared): one for bots with a small memory image, one for bots with a
//! large image (JavaScript and Python runtimes), chosen per component by
//! [`Runtime::optimised_for`]. Optionally a baseline engine (Winch): it
//! compiles in a fraction of Cranelift's time to slower code, for
//! `--tiered-compile` start-ups.

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

/// A component whose largest initial linear memory is above this many bytes
/// goes to the large-image pool.
const LARGE_IMAGE: u64 = 4 << 20;

/// Bytes of each linear memory the large-image pool keeps resident, and
/// resets by copying, between instances.
const LARGE_KEEP_RESIDENT: usize = 16 << 20;

/// Freed large-image slots kept warm for other bots before a slot is reused
/// for a different one: what bounds that pool's resident memory to about
/// (peak concurrent large-image turns + this) × [`LARGE_KEEP_RESIDENT`].
const LARGE_WARM_SLOTS: u32 = 4;

/// Decommits of freed slots done together.
const DECOMMIT_BATCH: usize = 16;

/// The engines and linkers shared by every bot and every turn.
pub struct Runtime {
    /// The optimising engine, for components with a small memory image.
    pub engine: Engine,
    pub linker: Linker<TurnState>,
    /// The optimising engine for components with a large memory image,
    /// when the pooling allocator runs here (same compiler settings as
    /// `engine`, so the same compiled files).
    pub large: Option<Linked>,
    /// The baseline compiler's engine and linker, when tiered compiles are
    /// on and Winch runs on this machine.
    pub baseline: Option<Linked>,
    /// Whether the pooling allocator could be used on this machine.
    pub pooling: bool,
    /// The cores long turns may use (`compute_lanes.rs`).
    pub lanes: crate::runtime::compute_lanes::ComputeLanes,
    /// The host's settings for bots' outbound HTTP.
    pub outbound: crate::runtime::http::OutboundConfig,
}

/// An engine and the imports linked for it.
pub struct Linked {
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

impl Linked {
    /// The baseline tier: Winch, with the same fuel and epochs (the memory
    /// limit is the turn's limiter, as for every bot), and instances
    /// allocated on demand (its bots are replaced by optimised versions
    /// seconds after start-up, so they get no pool of their own). `None`
    /// (with the reason logged) where it cannot be built, e.g. on a CPU
    /// Winch does not support.
    fn baseline() -> Option<Linked> {
        let mut config = base_config();
        config
            .strategy(Strategy::Winch)
            .allocation_strategy(InstanceAllocationStrategy::OnDemand);
        let built = Engine::new(&config)
            .map_err(|e| EngineError(e.to_string()))
            .and_then(|engine| link(&engine).map(|linker| Linked { engine, linker }));
        match built {
            Ok(baseline) => Some(baseline),
            Err(err) => {
                tracing::warn!(error = %err, "no baseline compiler here; every bot is compiled optimised");
                None
            }
        }
    }
}

/// The pooling settings of the small-image pool, or (`large`) the
/// large-image pool.
fn pool(max_memory_bytes: usize, large: bool) -> PoolingAllocationConfig {
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(POOL_INSTANCES)
        .total_core_instances(POOL_INSTANCES * 4)
        .total_memories(POOL_INSTANCES * 2)
        .total_tables(POOL_INSTANCES * 4)
        .max_memory_size(max_memory_bytes)
        .table_keep_resident(64 << 10)
        .decommit_batch_size(DECOMMIT_BATCH);
    if large {
        // A large image's pages, mapped copy-on-write from the compiled
        // file, would each take a fault on a turn's first write, and each
        // fault flushes the other cores' TLBs (an inter-processor
        // interrupt). Copying the image back into pages that stay mapped
        // and writable costs less (docs/PERFORMANCE.md).
        pool.linear_memory_keep_resident(LARGE_KEEP_RESIDENT)
            .pagemap_scan(wasmtime::Enabled::No)
            .max_unused_warm_slots(LARGE_WARM_SLOTS);
    } else {
        // A slot's memory and tables are reset with memset up to these
        // sizes (to their initial image: no data survives), the pages a
        // turn wrote found by a pagemap scan, instead of madvise, whose TLB
        // shootdowns cost every core on each turn; what is left is
        // decommitted in batches.
        pool.linear_memory_keep_resident(KEEP_RESIDENT)
            .pagemap_scan(wasmtime::Enabled::Auto);
    }
    pool
}

impl Linked {
    /// The large-image engine, with the same compiler settings as `engine`;
    /// `None` (logged) if it cannot be built or would not share `engine`'s
    /// compiled code.
    fn large(engine: &Engine, max_memory_bytes: usize) -> Option<Linked> {
        let mut config = base_config();
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool(
            max_memory_bytes,
            true,
        )));
        let built = Engine::new(&config)
            .map_err(|e| EngineError(e.to_string()))
            .and_then(|large| {
                link(&large).map(|linker| Linked {
                    engine: large,
                    linker,
                })
            });
        match built {
            Ok(large) if compatibility(&large.engine) == compatibility(engine) => Some(large),
            Ok(_) => {
                tracing::warn!(
                    "the large-image pool would not share compiled code; one pool serves every bot"
                );
                None
            }
            Err(err) => {
                tracing::warn!(error = %err, "no large-image pool; one pool serves every bot");
                None
            }
        }
    }
}

impl Runtime {
    /// The optimising engine and linker for a component: the large-image
    /// pool when its largest initial memory is above `LARGE_IMAGE` and
    /// that pool exists. Deterministic in the component's bytes, so every
    /// load of the same bytes gets the same engine.
    pub fn optimised_for(&self, wasm: &[u8]) -> (&Engine, &Linker<TurnState>) {
        match &self.large {
            Some(large) if initial_memory_bytes(wasm) > LARGE_IMAGE => {
                (&large.engine, &large.linker)
            }
            _ => (&self.engine, &self.linker),
        }
    }

    /// Where `engine`'s instances come from, for operators: `large-image`,
    /// `standard` (the small-image pool) or `on-demand` (no pool: the
    /// baseline tier, or no pooling allocator here).
    pub fn memory_pool(&self, engine: &Engine) -> &'static str {
        if self
            .large
            .as_ref()
            .is_some_and(|large| Engine::same(&large.engine, engine))
        {
            "large-image"
        } else if self.pooling && Engine::same(&self.engine, engine) {
            "standard"
        } else {
            "on-demand"
        }
    }
}

/// A digest of what decides whether `engine` can load another engine's
/// compiled code.
fn compatibility(engine: &Engine) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut hasher);
    hasher.finish()
}

/// The largest initial linear memory, in bytes, of any core module in
/// `wasm` (a component or a module); 0 if it cannot be read (the compile
/// reports why).
fn initial_memory_bytes(wasm: &[u8]) -> u64 {
    let mut largest = 0u64;
    for payload in wasmparser::Parser::new(0).parse_all(wasm) {
        let Ok(wasmparser::Payload::MemorySection(memories)) = payload else {
            if payload.is_err() {
                return 0;
            }
            continue;
        };
        for memory in memories.into_iter().flatten() {
            let page = 1u64 << memory.page_size_log2.unwrap_or(16);
            largest = largest.max(memory.initial.saturating_mul(page));
        }
    }
    largest
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
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool(
            max_memory_bytes,
            false,
        )));
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
        let large = if pooling {
            Linked::large(&engine, max_memory_bytes)
        } else {
            None
        };

        // Winch is complete on x86_64 only.
        let baseline = if tiered && cfg!(target_arch = "x86_64") {
            Linked::baseline()
        } else {
            if tiered {
                tracing::warn!("--tiered-compile needs x86_64; every bot is compiled optimised");
            }
            None
        };
        let tickers: Vec<_> = std::iter::once(engine.weak())
            .chain(large.iter().chain(&baseline).map(|l| l.engine.weak()))
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
            large,
            baseline,
            pooling,
            lanes: crate::runtime::compute_lanes::ComputeLanes::for_this_machine(),
            outbound: Default::default(),
        })
    }
}
