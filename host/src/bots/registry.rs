//! The bots the host serves, by file stem and by route, and how they change:
//! loading, replacing and retiring bots as files in the bots folder come and
//! go. Routes are swapped atomically (`ArcSwap`); a turn holds the version
//! it started on, so no lock is held across a turn.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use arc_swap::{ArcSwap, ArcSwapOption};

use crate::runtime::bot::{BotFiles, BotVersion, LoadError};
use crate::runtime::cache::CompileCache;
use crate::runtime::engine::Runtime;
use crate::schema::manifest::BotDefaults;
use crate::support::metrics::Metrics;
use crate::support::ordering::ConversationLocks;

/// Turn counts of one bot, across its versions.
#[derive(Default)]
pub struct TurnCounters {
    pub ok: AtomicU64,
    pub failed: AtomicU64,
    pub timed_out: AtomicU64,
    pub rejected: AtomicU64,
}

/// The last failed load of a bot.
#[derive(Debug, Clone)]
pub struct LoadFailure {
    pub at: SystemTime,
    pub message: String,
}

/// A bot in the bots folder, across its versions.
pub struct BotSlot {
    pub name: String,
    current: ArcSwapOption<BotVersion>,
    last_error: Mutex<Option<LoadFailure>>,
    pub counters: TurnCounters,
    pub conversations: ConversationLocks,
}

impl BotSlot {
    fn new(name: &str) -> Self {
        BotSlot {
            name: name.to_owned(),
            current: ArcSwapOption::empty(),
            last_error: Mutex::new(None),
            counters: TurnCounters::default(),
            conversations: ConversationLocks::default(),
        }
    }

    /// The version new turns use, if one loaded.
    pub fn current(&self) -> Option<Arc<BotVersion>> {
        self.current.load_full()
    }

    pub fn last_error(&self) -> Option<LoadFailure> {
        self.last_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn set_error(&self, error: Option<String>) {
        *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) =
            error.map(|message| LoadFailure {
                at: SystemTime::now(),
                message,
            });
    }
}

/// What a reload did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReloadResult {
    Loaded,
    Unchanged,
    Failed(String),
    Retired,
    /// Neither the `.wasm` nor a slot exists: nothing to do.
    Absent,
}

/// Why the bots folder could not be used at all.
#[derive(Debug, thiserror::Error)]
#[error("cannot read the bots folder {path}: {source}")]
pub struct RegistryError {
    path: String,
    source: std::io::Error,
}

/// All bots, the default bot, and what loading needs.
pub struct BotRegistry {
    dir: PathBuf,
    runtime: Arc<Runtime>,
    cache: Arc<CompileCache>,
    defaults: BotDefaults,
    metrics: Arc<Metrics>,
    default_bot: Option<String>,
    /// By file stem. Changed only under this lock, which is never held
    /// across an await.
    slots: Mutex<BTreeMap<String, Arc<BotSlot>>>,
    /// Route name → slot, for `http::messages`: rebuilt and swapped on every change.
    routes: ArcSwap<BTreeMap<String, Arc<BotSlot>>>,
    /// One lock per stem: reloads of one bot run one at a time (the watcher
    /// and start-up may race); different bots load in parallel.
    reloading: Mutex<BTreeMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl BotRegistry {
    pub fn new(
        dir: &Path,
        runtime: Arc<Runtime>,
        cache: Arc<CompileCache>,
        defaults: BotDefaults,
        metrics: Arc<Metrics>,
        default_bot: Option<String>,
    ) -> Self {
        BotRegistry {
            dir: dir.to_owned(),
            runtime,
            cache,
            defaults,
            metrics,
            default_bot,
            slots: Mutex::new(BTreeMap::new()),
            routes: ArcSwap::from_pointee(BTreeMap::new()),
            reloading: Mutex::new(BTreeMap::new()),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Loads every `*.wasm` in the folder, several at once.
    pub async fn load_all(self: &Arc<Self>) -> Result<(), RegistryError> {
        let entries = std::fs::read_dir(&self.dir).map_err(|source| RegistryError {
            path: self.dir.display().to_string(),
            source,
        })?;
        let stems: BTreeSet<String> = entries
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|path| path.extension().is_some_and(|ext| ext == "wasm"))
            .filter_map(|path| path.file_stem().map(|s| s.to_string_lossy().into_owned()))
            .collect();
        let mut tasks = tokio::task::JoinSet::new();
        for stem in stems {
            let registry = self.clone();
            tasks.spawn(async move { registry.reload_with(&stem, true).await });
        }
        while tasks.join_next().await.is_some() {}
        if let Some(name) = &self.default_bot
            && !self.routes.load().contains_key(name)
        {
            tracing::warn!(bot = %name, "the default bot is not loaded; /api/messages answers 404 until it is");
        }
        Ok(())
    }

    /// Recompiles, optimised and one at a time, every bot serving code from
    /// the baseline compiler (`--tiered-compile`); each new version replaces
    /// the old as a hot reload does, without dropping a turn.
    pub async fn tier_up(self: &Arc<Self>) {
        let baseline: Vec<String> = self
            .slots
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|(_, slot)| {
                slot.current()
                    .is_some_and(|v| v.cache == crate::runtime::cache::CacheOutcome::Baseline)
            })
            .map(|(stem, _)| stem.clone())
            .collect();
        if baseline.is_empty() {
            return;
        }
        let started = std::time::Instant::now();
        for stem in &baseline {
            self.reload(stem).await;
        }
        // The baseline versions are gone now (bar turns still on them): give
        // their memory back, unless a hot reload is compiling.
        let cache = self.cache.clone();
        let _ = tokio::task::spawn_blocking(move || cache.trim_if_idle()).await;
        tracing::info!(
            bots = baseline.len(),
            ms = started.elapsed().as_millis() as u64,
            "optimised code serves the bots compiled at start-up"
        );
    }

    /// Brings bot `stem` in line with its files: loads a new or changed
    /// version (or replaces baseline code with optimised), keeps the old
    /// one when the new one fails, retires the bot when its `.wasm` is gone.
    pub async fn reload(self: &Arc<Self>, stem: &str) -> ReloadResult {
        self.reload_with(stem, false).await
    }

    /// `reload`, compiling with the baseline compiler when `baseline_first`
    /// and the cache cannot serve the bot (start-up under `--tiered-compile`).
    async fn reload_with(self: &Arc<Self>, stem: &str, baseline_first: bool) -> ReloadResult {
        let serial = self
            .reloading
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(stem.to_owned())
            .or_default()
            .clone();
        let _serial = serial.lock().await;
        let wasm_path = self.dir.join(format!("{stem}.wasm"));
        let manifest_path = self.dir.join(format!("{stem}.toml"));
        let existing = self.slot(stem);

        if !wasm_path.is_file() {
            return match existing {
                Some(_) => {
                    self.remove_slot(stem);
                    self.metrics.reload(stem, "retired");
                    tracing::info!(bot = %stem, "bot retired: its .wasm is gone; in-flight turns finish");
                    ReloadResult::Retired
                }
                None => ReloadResult::Absent,
            };
        }

        let runtime = self.runtime.clone();
        let cache = self.cache.clone();
        let defaults = self.defaults.clone();
        let name = stem.to_owned();
        let current = existing.as_ref().and_then(|slot| slot.current());
        let (wasm, manifest) = (wasm_path.clone(), manifest_path.clone());
        let started = std::time::Instant::now();
        let loaded = tokio::task::spawn_blocking(move || {
            let files = BotFiles::read(&wasm, &manifest)?;
            if let Some(current) = &current
                && current.sha256 == files.wasm_sha256
                && current.manifest_sha256 == files.manifest_sha256
                && current.cache != crate::runtime::cache::CacheOutcome::Baseline
            {
                return Ok(None);
            }
            let compile = crate::runtime::bot::Compile {
                cache: &cache,
                baseline_first,
            };
            BotVersion::load(&runtime, compile, &defaults, &name, &wasm, &manifest, files).map(Some)
        })
        .await
        .unwrap_or_else(|join| {
            Err(LoadError::Compile {
                path: wasm_path.clone(),
                reason: format!("the load task failed: {join}"),
            })
        });

        let result = match loaded {
            Ok(None) => ReloadResult::Unchanged,
            Ok(Some(version)) => {
                self.metrics
                    .compile_cache
                    .get_or_create(&crate::support::metrics::CacheLabel {
                        result: version.cache.label(),
                    })
                    .inc();
                let (version_text, route, cache) = (
                    version.version().to_owned(),
                    version.route.clone(),
                    version.cache.label(),
                );
                match self.install(stem, version) {
                    Ok(()) => {
                        tracing::info!(
                            bot = %stem, %route, version = %version_text, cache,
                            ms = started.elapsed().as_millis() as u64,
                            "bot loaded"
                        );
                        ReloadResult::Loaded
                    }
                    Err(err) => ReloadResult::Failed(err.to_string()),
                }
            }
            Err(err) => ReloadResult::Failed(err.to_string()),
        };
        match &result {
            ReloadResult::Loaded => self.metrics.reload(stem, "loaded"),
            ReloadResult::Failed(message) => {
                self.metrics.reload(stem, "failed");
                let slot = self.slot_or_insert(stem);
                slot.set_error(Some(message.clone()));
                if slot.current().is_some() {
                    tracing::error!(bot = %stem, error = %message, "reload failed; the previous version keeps serving");
                } else {
                    tracing::error!(bot = %stem, error = %message, "bot skipped: it failed to load");
                }
            }
            _ => {}
        }
        result
    }

    /// Makes `version` the current version of `stem`, unless its route is
    /// another bot's.
    fn install(&self, stem: &str, version: BotVersion) -> Result<(), LoadError> {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((other, _)) = slots.iter().find(|(other, slot)| {
            other.as_str() != stem
                && slot
                    .current()
                    .is_some_and(|current| current.route == version.route)
        }) {
            return Err(LoadError::RouteTaken {
                route: version.route.clone(),
                other: other.clone(),
            });
        }
        let slot = slots
            .entry(stem.to_owned())
            .or_insert_with(|| Arc::new(BotSlot::new(stem)))
            .clone();
        slot.current.store(Some(Arc::new(version)));
        slot.set_error(None);
        self.publish_routes(&slots);
        Ok(())
    }

    fn remove_slot(&self, stem: &str) {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        slots.remove(stem);
        self.publish_routes(&slots);
    }

    fn publish_routes(&self, slots: &BTreeMap<String, Arc<BotSlot>>) {
        let routes = slots
            .values()
            .filter_map(|slot| slot.current().map(|v| (v.route.clone(), slot.clone())))
            .collect();
        self.routes.store(Arc::new(routes));
    }

    fn slot(&self, stem: &str) -> Option<Arc<BotSlot>> {
        self.slots
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(stem)
            .cloned()
    }

    fn slot_or_insert(&self, stem: &str) -> Arc<BotSlot> {
        self.slots
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(stem.to_owned())
            .or_insert_with(|| Arc::new(BotSlot::new(stem)))
            .clone()
    }

    /// The bot whose file stem is `name`.
    pub fn slot_named(&self, name: &str) -> Option<Arc<BotSlot>> {
        self.slot(name)
    }

    /// The bot behind `/api/bots/{route}/messages`.
    pub fn route(&self, route: &str) -> Option<Arc<BotSlot>> {
        self.routes.load().get(route).cloned()
    }

    /// The bot behind `/api/messages`: the one named as default, or the only
    /// bot served.
    pub fn default_bot(&self) -> Option<Arc<BotSlot>> {
        let routes = self.routes.load();
        match &self.default_bot {
            Some(route) => routes.get(route).cloned(),
            None if routes.len() == 1 => routes.values().next().cloned(),
            None => None,
        }
    }

    /// Every bot in the folder, serving or failed, by file stem.
    pub fn slots(&self) -> Vec<Arc<BotSlot>> {
        self.slots
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect()
    }

    /// The routes being served.
    pub fn route_names(&self) -> Vec<String> {
        self.routes.load().keys().cloned().collect()
    }
}

impl TurnCounters {
    pub fn get(&self) -> (u64, u64, u64, u64) {
        (
            self.ok.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
            self.timed_out.load(Ordering::Relaxed),
            self.rejected.load(Ordering::Relaxed),
        )
    }
}
