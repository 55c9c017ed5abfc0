//! One loaded bot: a compiled component checked against the `bot` world and
//! pre-linked once, so that every turn only instantiates it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use wasmtime::component::Component;

use crate::bindings::BotPre;
use crate::engine::Runtime;
use crate::turn::TurnState;

/// A bot ready to take turns.
pub struct Bot {
    pub name: Arc<str>,
    pub path: PathBuf,
    pub pre: BotPre<TurnState>,
}

/// Why a `.wasm` file could not be loaded as a bot.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a valid WebAssembly component: {reason}")]
    Compile { path: PathBuf, reason: String },
    #[error("{path} does not implement the turnbox:bot/bot world: {reason}")]
    World { path: PathBuf, reason: String },
    #[error("`{0}` is not a valid bot name: use letters, digits, `-` and `_`")]
    BadName(String),
}

/// Whether `name` may name a bot (and so appear in a URL path).
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

impl Bot {
    /// Compiles and links the component at `path`. This is CPU-heavy: call it
    /// off the async executor (`spawn_blocking`).
    pub fn load(runtime: &Runtime, name: &str, path: &Path) -> Result<Bot, LoadError> {
        if !is_valid_name(name) {
            return Err(LoadError::BadName(name.to_owned()));
        }
        let bytes = std::fs::read(path).map_err(|source| LoadError::Read {
            path: path.to_owned(),
            source,
        })?;
        let component =
            Component::new(&runtime.engine, &bytes).map_err(|e| LoadError::Compile {
                path: path.to_owned(),
                reason: format!("{e:#}"),
            })?;
        let world_error = |e: wasmtime::Error| LoadError::World {
            path: path.to_owned(),
            reason: format!("{e:#}"),
        };
        let instance_pre = runtime
            .linker
            .instantiate_pre(&component)
            .map_err(world_error)?;
        let pre = BotPre::new(instance_pre).map_err(world_error)?;
        Ok(Bot {
            name: name.into(),
            path: path.to_owned(),
            pre,
        })
    }
}
