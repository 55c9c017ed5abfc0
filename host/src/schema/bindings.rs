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

/// The `bot-owned` world (`owned-handler`, for componentize-qjs guests):
/// its imports are the `bot` world's, so the host implements them once.
pub mod owned {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "bot-owned",
        imports: { default: async | trappable },
        exports: { default: async },
        with: {
            "turnbox:bot/types": super::turnbox::bot::types,
            "turnbox:bot/context": super::turnbox::bot::context,
            "turnbox:bot/logging": super::turnbox::bot::logging,
            "turnbox:bot/config": super::turnbox::bot::config,
            "turnbox:bot/state": super::turnbox::bot::state,
            "turnbox:bot/timers": super::turnbox::bot::timers,
            "turnbox:bot/connector": super::turnbox::bot::connector,
            "turnbox:bot/skills": super::turnbox::bot::skills,
            "turnbox:bot/user-token": super::turnbox::bot::user_token,
        },
    });
}
