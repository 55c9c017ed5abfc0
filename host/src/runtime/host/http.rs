//! `wasi:http/outgoing-handler` for bots: the standard interface, linked in
//! `runtime/engine.rs`, served from the store's resource table with the
//! running turn's hooks (`runtime/http/turn.rs`: the allowlist, the limits,
//! the bot's client).

use wasmtime_wasi_http::{WasiHttpCtxView, WasiHttpView};

use crate::runtime::store::TurnState;

impl WasiHttpView for TurnState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http_ctx,
            table: &mut self.table,
            hooks: &mut self.turn.http,
        }
    }
}
