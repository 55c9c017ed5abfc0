//! One loaded version of a bot: its compiled component checked against the
//! `bot` (or `bot-owned`) world and pre-linked once (so a turn only
//! instantiates it), with the manifest it was loaded with.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use tokio::sync::Semaphore;
use wasmtime::component::{Component, Linker};

use crate::runtime::cache::{CacheOutcome, CompileCache, sha256_hex};
use crate::runtime::engine::Runtime;
use crate::runtime::entry::EntryPre;
use crate::runtime::instances::InstancePool;
use crate::runtime::store::TurnState;
use crate::schema::manifest::{
    BotDefaults, BotLimits, Credentials, InstancePolicy, Manifest, ManifestError,
    MiddlewareSwitches, Secret, is_valid_name,
};
use crate::storage::Quota;

/// A bot version ready to take turns. Turns hold an `Arc` to the version
/// they started on, so a replaced version lives until its last turn ends.
pub struct BotVersion {
    /// The file stem: the bot's identity in the bots folder.
    pub name: Arc<str>,
    /// The route name: `/api/bots/{route}/messages`.
    pub route: String,
    pub wasm_path: PathBuf,
    /// Hex sha256 of the `.wasm`.
    pub sha256: String,
    /// Hex sha256 of the manifest text ("" without a manifest).
    pub manifest_sha256: String,
    pub loaded_at: SystemTime,
    pub cache: CacheOutcome,
    pub limits: BotLimits,
    pub credentials: Credentials,
    pub config: Arc<BTreeMap<String, Secret>>,
    /// The skills it may call (`[skills]`).
    pub skills: Arc<crate::schema::manifest::skills::Skills>,
    pub state_quota: Quota,
    /// What Direct Line's `/upload` takes for this bot (`[uploads]`).
    pub uploads: crate::schema::manifest::uploads::UploadLimits,
    pub middleware: MiddlewareSwitches,
    /// The OAuth connections of `[oauth]`: the only ones its user-token
    /// calls may name.
    pub oauth_connections: Arc<Vec<String>>,
    /// This bot's own Direct Line secret, if its manifest sets one.
    pub directline_secret: Option<Secret>,
    /// Keys of the conversations API that reach this bot only (`[api]`).
    pub api_keys: Arc<Vec<Secret>>,
    /// Turns running or waiting on this version, up to the limit.
    pub permits: Arc<Semaphore>,
    /// Its component, pre-linked, and the turn handler it exports.
    pub pre: EntryPre,
    /// Held so that other bots with the same bytes share it (`cache.rs`).
    _component: Arc<wasmtime::component::Component>,
    pub instance_policy: InstancePolicy,
    /// Warm instances, under the pooled policy.
    pub pool: Option<InstancePool>,
    /// Where its instances come from: `Runtime::memory_pool`.
    pub memory_pool: &'static str,
    /// When it last had a long turn: its turns then start on the compute
    /// runtime (`compute_lanes.rs`).
    pub long_turns: Arc<crate::runtime::compute_lanes::LongTurns>,
    /// Its outbound HTTP: allowlist, limits, its own client.
    pub http: Arc<crate::runtime::http::BotHttp>,
}

impl BotVersion {
    /// The short version shown to operators: 12 hex digits of the sha256.
    pub fn version(&self) -> &str {
        &self.sha256[..12]
    }
}

/// The files of one bot, read once, so validation and loading see the same
/// bytes even while a writer is busy.
pub struct BotFiles {
    pub wasm: Vec<u8>,
    pub wasm_sha256: String,
    pub manifest_text: Option<String>,
    pub manifest_sha256: String,
}

/// Why a bot could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Manifest {
        path: PathBuf,
        source: ManifestError,
    },
    #[error("{path} is not a valid WebAssembly component: {reason}")]
    Compile { path: PathBuf, reason: String },
    #[error("{path} implements neither the turnbox:bot/bot world nor bot-owned: {reason}")]
    World { path: PathBuf, reason: String },
    #[error("`{0}` is not a valid bot name: use 1-64 letters, digits, `-` and `_`")]
    BadName(String),
    #[error("the route `{route}` is already served by bot `{other}`")]
    RouteTaken { route: String, other: String },
    #[error("cannot set up the bot's outbound HTTP: {0}")]
    Http(String),
}

impl BotFiles {
    /// Reads `NAME.wasm` and, when present, `NAME.toml`.
    pub fn read(wasm_path: &Path, manifest_path: &Path) -> Result<BotFiles, LoadError> {
        let wasm = std::fs::read(wasm_path).map_err(|source| LoadError::Read {
            path: wasm_path.to_owned(),
            source,
        })?;
        let manifest_text = match std::fs::read_to_string(manifest_path) {
            Ok(text) => Some(text),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => None,
            Err(source) => {
                return Err(LoadError::Read {
                    path: manifest_path.to_owned(),
                    source,
                });
            }
        };
        Ok(BotFiles {
            wasm_sha256: sha256_hex(&wasm),
            manifest_sha256: manifest_text
                .as_deref()
                .map(|t| sha256_hex(t.as_bytes()))
                .unwrap_or_default(),
            wasm,
            manifest_text,
        })
    }
}

/// How a bot's component is compiled.
#[derive(Clone, Copy)]
pub struct Compile<'a> {
    pub cache: &'a CompileCache,
    /// When the cache cannot serve the component and the runtime has a
    /// baseline engine: compile with it, for the registry to replace with
    /// an optimised compile later.
    pub baseline_first: bool,
}

/// The component for `files`, how it was obtained, and the linker of the
/// engine it belongs to.
fn compile_for<'r>(
    runtime: &'r Runtime,
    compile: Compile<'_>,
    files: &BotFiles,
) -> Result<(Arc<Component>, CacheOutcome, &'r Linker<TurnState>), wasmtime::Error> {
    let (engine, linker) = runtime.optimised_for(&files.wasm);
    if compile.baseline_first
        && let Some(baseline) = &runtime.baseline
    {
        if let Some((component, outcome)) = compile.cache.load_cached(engine, &files.wasm_sha256) {
            return Ok((component, outcome, linker));
        }
        match compile
            .cache
            .compile_uncached(&baseline.engine, &files.wasm)
        {
            Ok(component) => {
                return Ok((
                    Arc::new(component),
                    CacheOutcome::Baseline,
                    &baseline.linker,
                ));
            }
            // Something Winch does not compile (a proposal it lacks): the
            // optimising compiler takes it now.
            Err(err) => {
                tracing::info!(error = %format!("{err:#}"), "the baseline compiler declined; compiling optimised")
            }
        }
    }
    let (component, outcome) =
        compile
            .cache
            .load_or_compile(engine, &files.wasm, &files.wasm_sha256)?;
    Ok((component, outcome, linker))
}

impl BotVersion {
    /// Parses the manifest, compiles (or loads from the cache) and links the
    /// component. CPU-heavy: call it off the async executor.
    pub fn load(
        runtime: &Runtime,
        compile: Compile<'_>,
        defaults: &BotDefaults,
        name: &str,
        wasm_path: &Path,
        manifest_path: &Path,
        files: BotFiles,
    ) -> Result<BotVersion, LoadError> {
        let manifest_error = |source| LoadError::Manifest {
            path: manifest_path.to_owned(),
            source,
        };
        if !is_valid_name(name) {
            return Err(LoadError::BadName(name.to_owned()));
        }
        let manifest = match &files.manifest_text {
            Some(text) => Manifest::parse(text).map_err(manifest_error)?,
            None => Manifest::default(),
        };
        let (component, cache_outcome, linker) =
            compile_for(runtime, compile, &files).map_err(|e| LoadError::Compile {
                path: wasm_path.to_owned(),
                reason: format!("{e:#}"),
            })?;
        let world_error = |e: wasmtime::Error| LoadError::World {
            path: wasm_path.to_owned(),
            reason: format!("{e:#}"),
        };
        let instance_pre = linker.instantiate_pre(&component).map_err(world_error)?;
        let pre = EntryPre::new(instance_pre).map_err(world_error)?;
        let limits = manifest.limits(defaults);
        let http =
            crate::runtime::http::BotHttp::new(name.into(), &manifest.http, &runtime.outbound)
                .map_err(|e| LoadError::Http(e.to_string()))?;
        let instance_policy = manifest.instance_policy().map_err(manifest_error)?;
        let pool = match instance_policy {
            InstancePolicy::Fresh | InstancePolicy::NativeEcho => None,
            InstancePolicy::Pooled {
                pool_size,
                max_turns,
            } => Some(InstancePool::new(pool_size, max_turns)),
        };
        Ok(BotVersion {
            name: name.into(),
            route: manifest.route.clone().unwrap_or_else(|| name.to_owned()),
            wasm_path: wasm_path.to_owned(),
            sha256: files.wasm_sha256,
            manifest_sha256: files.manifest_sha256,
            loaded_at: SystemTime::now(),
            cache: cache_outcome,
            limits,
            credentials: manifest.credentials(defaults),
            state_quota: state_quota(&manifest),
            uploads: manifest.uploads.limits(),
            middleware: manifest.middleware,
            oauth_connections: Arc::new(manifest.oauth.connections.clone()),
            directline_secret: manifest.directline.secret.clone(),
            api_keys: Arc::new(manifest.api.keys.clone()),
            skills: Arc::new(manifest.skills),
            config: Arc::new(manifest.config),
            permits: Arc::new(Semaphore::new(limits.max_concurrent_turns as usize)),
            pre,
            instance_policy,
            pool,
            memory_pool: runtime.memory_pool(component.engine()),
            long_turns: Default::default(),
            _component: component,
            http: Arc::new(http),
        })
    }
}

/// The manifest's state quotas, the storage defaults filled in.
pub fn state_quota(manifest: &Manifest) -> Quota {
    let defaults = Quota::default();
    Quota {
        max_value_bytes: manifest
            .state
            .max_value_bytes
            .unwrap_or(defaults.max_value_bytes),
        max_total_bytes: manifest
            .state
            .max_total_bytes
            .unwrap_or(defaults.max_total_bytes),
    }
}
