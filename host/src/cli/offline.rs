//! A bot without a server: load one `.wasm` (and its manifest) and run turns
//! on it directly, with fresh in-memory state and replies returned rather
//! than posted (`expectReplies`). `turnbox test` and the benchmarks use it.

use std::path::Path;
use std::sync::Arc;

use crate::channels::connector::{ConnectorClient, Outbound};
use crate::channels::service_urls::ServiceUrlPolicy;
use crate::runtime::bot::{BotFiles, BotVersion};
use crate::runtime::cache::CompileCache;
use crate::runtime::engine::Runtime;
use crate::runtime::outgoing::PassThrough;
use crate::runtime::turn::{TurnError, TurnOutcome};
use crate::schema::activity::Activity;
use crate::schema::manifest::BotDefaults;
use crate::storage::SqliteStorage;
use crate::storage::group_commit::GroupCommit;
use crate::turn::attempts::{Attempts, Commitment, run_to_commit};

/// Why a bot could not be loaded offline.
#[derive(Debug, thiserror::Error)]
pub enum OfflineError {
    #[error(transparent)]
    Engine(#[from] crate::runtime::engine::EngineError),
    #[error(transparent)]
    Cache(#[from] crate::runtime::cache::CacheError),
    #[error("cannot make a folder for the compile cache: {0}")]
    CacheFolder(std::io::Error),
    #[error("cannot start the committer thread: {0}")]
    Committer(std::io::Error),
    #[error(transparent)]
    Load(#[from] crate::runtime::bot::LoadError),
    #[error(transparent)]
    Storage(#[from] crate::storage::StorageError),
}

/// One loaded bot and what its turns need.
pub struct OfflineBot {
    runtime: Runtime,
    pub bot: BotVersion,
    database: Arc<SqliteStorage>,
    /// Where turns commit (on `database`).
    records: Arc<GroupCommit>,
    connector: Arc<ConnectorClient>,
    /// Keeps the compile cache's folder for the bot's lifetime.
    _cache_dir: tempfile::TempDir,
}

impl OfflineBot {
    /// Compiles and links the bot at `wasm`, with `manifest` if it exists.
    pub fn load(wasm: &Path, manifest: &Path) -> Result<Self, OfflineError> {
        let runtime = Runtime::new(crate::schema::manifest::MAX_MEMORY_MIB << 20)?;
        let cache_dir = tempfile::tempdir().map_err(OfflineError::CacheFolder)?;
        let cache = CompileCache::open(cache_dir.path(), &runtime.engine)?;
        let files = BotFiles::read(wasm, manifest)?;
        let name = wasm
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "bot".into());
        let bot = BotVersion::load(
            &runtime,
            crate::runtime::bot::Compile {
                cache: &cache,
                baseline_first: false,
            },
            &BotDefaults::default(),
            &name,
            wasm,
            manifest,
            files,
        )?;
        let database = Arc::new(SqliteStorage::in_memory()?);
        let records = GroupCommit::start(database.clone()).map_err(OfflineError::Committer)?;
        Ok(OfflineBot {
            runtime,
            bot,
            database,
            records: Arc::new(records),
            // Replies come back in the turn's outcome: nothing is posted, so
            // the connector may reach no URL at all.
            connector: Arc::new(ConnectorClient::new(
                ServiceUrlPolicy { allow: Vec::new() },
                reqwest::Client::new(),
            )),
            _cache_dir: cache_dir,
        })
    }

    /// Runs one turn on `activity` under `expectReplies`: a fresh instance,
    /// state saved on success, the replies in the outcome.
    pub async fn turn(&self, activity: &Activity) -> Result<TurnOutcome, TurnError> {
        let mut incoming = activity.clone();
        incoming.delivery_mode = Some("expectReplies".into());
        let incoming = Arc::new(incoming);
        let attempts = Attempts {
            connector: self.connector.clone(),
            outbound: Outbound::Dev,
            storage: self.database.clone(),
            outgoing: Arc::new(PassThrough),
            timers: self.database.clone(),
            records: self.records.clone(),
            outbox: self.database.clone(),
            lease: std::time::Duration::from_secs(60),
            relay: Arc::default(),
            posts: tokio_util::task::TaskTracker::new(),
            skills: None,
            // Offline: no Token Service; user-token calls answer NotSupported.
            user_tokens: None,
        };
        let commitment = Commitment::default();
        run_to_commit(&self.runtime, &self.bot, incoming, &attempts, &commitment)
            .await
            .map(|(outcome, _)| outcome)
    }
}
