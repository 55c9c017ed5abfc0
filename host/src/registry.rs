//! The set of bots the host serves, loaded from the bots folder: one bot per
//! `*.wasm` file, named after the file stem. Files that fail to load are
//! logged with the reason and skipped.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use crate::bot::Bot;
use crate::engine::Runtime;

/// The loaded bots and which one `/api/messages` serves.
pub struct BotRegistry {
    bots: BTreeMap<String, Arc<Bot>>,
    default_bot: Option<String>,
}

/// Why the bots folder could not be read at all.
#[derive(Debug, thiserror::Error)]
#[error("cannot read the bots folder {path}: {source}")]
pub struct RegistryError {
    path: String,
    source: std::io::Error,
}

impl BotRegistry {
    /// Loads every `*.wasm` file in `dir`. Compilation runs on blocking
    /// threads, several bots at once.
    pub async fn load_dir(
        runtime: Arc<Runtime>,
        dir: &Path,
        default_bot: Option<String>,
    ) -> Result<Self, RegistryError> {
        let entries = std::fs::read_dir(dir).map_err(|source| RegistryError {
            path: dir.display().to_string(),
            source,
        })?;
        let mut files: Vec<_> = entries
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|path| path.extension().is_some_and(|ext| ext == "wasm") && path.is_file())
            .collect();
        files.sort();

        let mut tasks = tokio::task::JoinSet::new();
        for path in files {
            let runtime = runtime.clone();
            tasks.spawn_blocking(move || {
                let name = path
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let started = std::time::Instant::now();
                let result = Bot::load(&runtime, &name, &path);
                (name, path, started.elapsed(), result)
            });
        }

        let mut bots = BTreeMap::new();
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok((name, path, took, Ok(bot))) => {
                    tracing::info!(bot = %name, path = %path.display(), ms = took.as_millis() as u64, "bot loaded");
                    bots.insert(name, Arc::new(bot));
                }
                Ok((name, _, _, Err(err))) => {
                    tracing::error!(bot = %name, error = %err, "bot skipped");
                }
                Err(err) => tracing::error!(error = %err, "a bot load task failed"),
            }
        }
        if let Some(name) = &default_bot
            && !bots.contains_key(name)
        {
            tracing::warn!(bot = %name, "the default bot is not loaded; /api/messages answers 404");
        }
        Ok(BotRegistry { bots, default_bot })
    }

    pub fn get(&self, name: &str) -> Option<Arc<Bot>> {
        self.bots.get(name).cloned()
    }

    /// The bot `/api/messages` serves: the one named as default, or the only
    /// bot loaded.
    pub fn default_bot(&self) -> Option<Arc<Bot>> {
        match &self.default_bot {
            Some(name) => self.get(name),
            None if self.bots.len() == 1 => self.bots.values().next().cloned(),
            None => None,
        }
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.bots.keys().map(String::as_str)
    }
}
