//! The data of a bot's store ([`TurnState`]: deny-all WASI, the resource
//! table, the memory limiter, the bot's settings and the running
//! [`Turn`]).

use std::sync::Arc;

use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::runtime::guest_log::LogBudget;
use crate::runtime::turn::Turn;
use crate::schema::manifest::skills::Skills;
use crate::schema::manifest::{Credentials, Secret};

/// The error a memory grow beyond the limit traps with.
#[derive(Debug, thiserror::Error)]
#[error("memory limit of {0} bytes exceeded")]
pub(super) struct MemoryLimitExceeded(pub usize);

/// Caps a turn's linear memory and tables.
pub(super) struct TurnLimiter {
    pub(super) memory_bytes: usize,
}

/// Table growth limit, in elements; far above what real guests use.
const MAX_TABLE_ELEMENTS: usize = 1 << 20;

impl ResourceLimiter for TurnLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.memory_bytes {
            return Err(wasmtime::Error::new(MemoryLimitExceeded(self.memory_bytes)));
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }
}

/// The data of a bot's store: WASI (deny-all), the resource table, the
/// limiter, and the turn it is running. A fresh-policy store serves one
/// turn; a pooled one serves several, with a new [`Turn`] each time.
/// The host side of each WIT interface is implemented on it in `host/`.
pub struct TurnState {
    pub(super) wasi: WasiCtx,
    pub(super) http_ctx: wasmtime_wasi_http::WasiHttpCtx,
    pub(super) table: ResourceTable,
    pub(super) limiter: TurnLimiter,
    pub(super) bot: Arc<str>,
    pub(super) config: Arc<std::collections::BTreeMap<String, Secret>>,
    /// The skills its manifest declares, and its credentials (to call them).
    pub(super) skills: Arc<Skills>,
    pub(super) credentials: Arc<Credentials>,
    /// The most activities a turn may send.
    pub(super) max_sent: u32,
    /// The most bytes of activity JSON a turn may send.
    pub(super) max_sent_bytes: u64,
    /// The turn's log allowance, shared with the guest's stdout and stderr.
    pub(super) log_budget: Arc<LogBudget>,
    pub(super) turn: Turn,
}

impl WasiView for TurnState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}
