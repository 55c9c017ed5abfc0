//! Host-side bindings generated from the WIT package in `wit/`.
//!
//! Every import is async (a bot's `send` awaits the Bot Connector) and may
//! trap, and `on-turn` is called asynchronously so that epoch interruption can
//! yield and stop a bot at its deadline.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "bot",
    imports: { default: async | trappable },
    exports: { default: async },
    with: {
        "turnbox:bot/context.turn-context": TurnContext,
    },
});

/// The host side of a `turn-context` resource: a name only. The turn's
/// data lives in the store (`runtime::store::TurnState`); the resource says which.
pub struct TurnContext;
