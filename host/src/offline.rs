//! A bot without a server: load one `.wasm` (and its manifest) and run turns
//! on it directly, with fresh in-memory state and replies returned rather
//! than posted (`expectReplies`). `turnbox test` and the benchmarks use it.

use std::path::Path;
use std::sync::Arc;

use crate::activity::Activity;
use crate::attempts::{Attempts, run_to_commit};
use crate::bot::{BotFiles, BotVersion};
use crate::cache::CompileCache;
use crate::connector::{ConnectorClient, Outbound, ServiceUrlPolicy};
use crate::engine::Runtime;
use crate::manifest::BotDefaults;
use crate::middleware::{Pipeline, TurnInfo};
use crate::storage::SqliteStorage;
use crate::turn::{TurnError, TurnOutcome};

/// One loaded bot and what its turns need.
pub struct OfflineBot {
    runtime: Runtime,
    pub bot: BotVersion,
    database: Arc<SqliteStorage>,
    connector: Arc<ConnectorClient>,
    /// Keeps the compile cache's folder for the bot's lifetime.
    _cache_dir: tempfile::TempDir,
}

impl OfflineBot {
    /// Compiles and links the bot at `wasm`, with `manifest` if it exists.
    pub fn load(wasm: &Path, manifest: &Path) -> Result<Self, String> {
        let runtime =
            Runtime::new(crate::manifest::MAX_MEMORY_MIB << 20).map_err(|e| e.to_string())?;
        let cache_dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let cache =
            CompileCache::open(cache_dir.path(), &runtime.engine).map_err(|e| e.to_string())?;
        let files = BotFiles::read(wasm, manifest).map_err(|e| e.to_string())?;
        let name = wasm
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "bot".into());
        let bot = BotVersion::load(
            &runtime,
            &cache,
            &BotDefaults::default(),
            &name,
            wasm,
            manifest,
            files,
        )
        .map_err(|e| e.to_string())?;
        Ok(OfflineBot {
            runtime,
            bot,
            database: Arc::new(SqliteStorage::in_memory().map_err(|e| e.to_string())?),
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
        let turn = Arc::new(TurnInfo {
            bot: self.bot.name.clone(),
            incoming: incoming.clone(),
            connector: self.connector.clone(),
            outbound: Outbound::Dev,
        });
        let attempts = Attempts {
            connector: self.connector.clone(),
            outbound: Outbound::Dev,
            storage: self.database.clone(),
            pipeline: Arc::new(tokio::sync::Mutex::new(Pipeline::new(turn, &[]))),
            timers: self.database.clone(),
        };
        run_to_commit(&self.runtime, &self.bot, incoming, &attempts).await
    }
}
