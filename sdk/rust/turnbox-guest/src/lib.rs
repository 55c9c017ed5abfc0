//! Write turnbox bots in Rust the way botbuilder bots are written: implement
//! [`ActivityHandler`] on a type, answer through the [`TurnContext`], build
//! replies with [`MessageFactory`] and [`CardFactory`], keep typed state with
//! [`StateProperty`], livestream a growing reply with [`StreamingResponse`],
//! list members or move attachments with [`connector`], call other bots as
//! skills with [`SkillClient`], sign users in with [`OAuthPrompt`] (the
//! `oauth` module), run botbuilder's dialogs and prompts ([`dialogs`]),
//! handle Teams' invokes and events ([`teams`]), and export the bot with
//! [`export_bot!`].
//!
//! ```ignore
//! use turnbox_guest::{ActivityHandler, ChannelAccount, Result, TurnContext};
//!
//! #[derive(Default)]
//! struct Echo;
//!
//! impl ActivityHandler for Echo {
//!     fn on_message(&self, ctx: &TurnContext) -> Result<()> {
//!         ctx.send_text(format!("Echo: {}", ctx.text()))?;
//!         Ok(())
//!     }
//! }
//!
//! turnbox_guest::export_bot!(Echo);
//! ```
//!
//! Build with `cargo build --release --target wasm32-wasip2`; the `.wasm`
//! in `target/wasm32-wasip2/release/` is the bot.

mod activity;
pub mod connector;
mod context;
pub mod dialogs;
mod error;
mod factory;
mod handler;
pub mod http;
pub mod oauth;
mod skills;
mod state;
mod streaming;
pub mod teams;

/// The raw bindings of the `turnbox:bot` world, for what the SDK does not
/// wrap.
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../../wit",
        world: "bot",
        pub_export_macro: true,
        export_macro_name: "export_bindings",
        default_bindings_module: "turnbox_guest::bindings",
    });
}

pub use bindings::turnbox::bot::logging::{Level, log};
pub use bindings::turnbox::bot::types::{
    Activity, Attachment, BotError, CallError, ChannelAccount, ConversationAccount,
    ConversationResourceResponse, InvokeResponse, ResourceResponse,
};
pub use context::TurnContext;
pub use error::{Error, Result};
pub use factory::{CardAction, CardFactory, CardImage, HeroCard, MessageFactory};
pub use handler::{ActivityHandler, MessageReaction, dispatch_by_type, run};
pub use oauth::{OAuthPrompt, OAuthPromptSettings, PromptStatus, PromptTurn, UserTokenClient};
pub use skills::{SkillClient, SkillResponse};
pub use state::{StateProperty, config, timers};
pub use streaming::StreamingResponse;

/// Exports `$bot`, a type implementing [`ActivityHandler`] and `Default`,
/// as the bot's turn handler. A value of it is made for every turn.
#[macro_export]
macro_rules! export_bot {
    ($bot:ty) => {
        #[doc(hidden)]
        struct __TurnboxBot;

        impl $crate::bindings::exports::turnbox::bot::handler::Guest for __TurnboxBot {
            fn on_turn(
                ctx: &$crate::bindings::turnbox::bot::context::TurnContext,
            ) -> ::core::result::Result<
                ::core::option::Option<$crate::InvokeResponse>,
                $crate::BotError,
            > {
                $crate::run(&<$bot as ::core::default::Default>::default(), ctx)
            }
        }

        $crate::bindings::export_bindings!(__TurnboxBot);
    };
}
