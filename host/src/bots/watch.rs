//! Watching the bots folder: file-system events (the `notify` crate,
//! debounced) become reloads of the bots whose `.wasm` or `.toml` changed.
//! Atomic renames and in-place writes both end in an event for the final
//! name; a half-written file fails validation and the next event retries.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use notify::{EventKind, RecursiveMode};
use notify_debouncer_full::{DebounceEventResult, Debouncer, RecommendedCache, new_debouncer};

use crate::bots::registry::BotRegistry;

/// How long the folder must be quiet before changes are acted on.
pub const DEBOUNCE: Duration = Duration::from_millis(100);

/// Keeps the watch alive; dropping it stops watching.
pub struct FolderWatch {
    _debouncer: Debouncer<notify::RecommendedWatcher, RecommendedCache>,
}

#[derive(Debug, thiserror::Error)]
#[error("cannot watch the bots folder {path}: {source}")]
pub struct WatchError {
    path: String,
    source: notify::Error,
}

/// The bot a path belongs to: the stem of `NAME.wasm` or `NAME.toml`
/// directly in `dir`.
fn bot_of(dir: &Path, path: &Path) -> Option<String> {
    if path.parent()? != dir {
        return None;
    }
    let ext = path.extension()?;
    if ext != "wasm" && ext != "toml" {
        return None;
    }
    let stem = path.file_stem()?.to_string_lossy();
    (!stem.starts_with('.')).then(|| stem.into_owned())
}

/// Whether an event may have changed a file. Opening and reading do not:
/// the reload itself reads the bot's files, and counting those reads made
/// every reload schedule another, for ever.
fn changes_files(kind: &EventKind) -> bool {
    use notify::event::{AccessKind, AccessMode};
    match kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) => false,
        _ => true,
    }
}

/// Starts watching the registry's folder; changes reload the bots they touch.
pub fn watch(registry: Arc<BotRegistry>) -> Result<FolderWatch, WatchError> {
    let dir = registry.dir().to_owned();
    // Events name paths under the watched path as given: watch the
    // canonical path and compare against it.
    let watched = std::fs::canonicalize(&dir).unwrap_or_else(|_| dir.clone());
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<BTreeSet<String>>();
    let event_dir = watched.clone();
    let mut debouncer =
        new_debouncer(
            DEBOUNCE,
            None,
            move |result: DebounceEventResult| match result {
                Ok(events) => {
                    let stems: BTreeSet<String> = events
                        .iter()
                        .filter(|event| changes_files(&event.kind))
                        .flat_map(|event| event.paths.iter())
                        .filter_map(|path| bot_of(&event_dir, path))
                        .collect();
                    if !stems.is_empty() {
                        let _ = tx.send(stems);
                    }
                }
                Err(errors) => {
                    for error in errors {
                        tracing::warn!(%error, "bots folder watch error");
                    }
                }
            },
        )
        .map_err(|source| WatchError {
            path: dir.display().to_string(),
            source,
        })?;
    debouncer
        .watch(&watched, RecursiveMode::NonRecursive)
        .map_err(|source| WatchError {
            path: dir.display().to_string(),
            source,
        })?;

    tokio::spawn(async move {
        while let Some(stems) = rx.recv().await {
            for stem in stems {
                let registry = registry.clone();
                // Each bot reloads on its own task: a big bot compiling does
                // not hold up the others.
                tokio::spawn(async move {
                    let result = registry.reload(&stem).await;
                    tracing::debug!(bot = %stem, ?result, "folder change handled");
                });
            }
        }
    });
    Ok(FolderWatch {
        _debouncer: debouncer,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_bot_files_directly_in_the_folder_count() {
        let dir = Path::new("/bots");
        assert_eq!(
            bot_of(dir, Path::new("/bots/echo.wasm")).as_deref(),
            Some("echo")
        );
        assert_eq!(
            bot_of(dir, Path::new("/bots/echo.toml")).as_deref(),
            Some("echo")
        );
        assert_eq!(bot_of(dir, Path::new("/bots/echo.wasm.tmp")), None);
        assert_eq!(bot_of(dir, Path::new("/bots/.echo.wasm")), None);
        assert_eq!(bot_of(dir, Path::new("/bots/sub/echo.wasm")), None);
        assert_eq!(bot_of(dir, Path::new("/other/echo.wasm")), None);
    }
}
