//! A bot's turn handler, as its component exports it: the `bot` world's
//! `handler` (the host lends the turn's context for the call) or the
//! `bot-owned` world's `owned-handler` (the host hands it over: for
//! componentize-qjs guests, which cannot drop a borrow before they return).
//! Which one is decided once, when the bot is loaded; a turn only
//! instantiates and calls.

use wasmtime::component::{InstancePre, Resource};
use wasmtime::{Engine, Store};

use crate::runtime::store::TurnState;
use crate::schema::bindings::owned::{BotOwned, BotOwnedPre};
use crate::schema::bindings::turnbox::bot::types::{BotError, InvokeResponse};
use crate::schema::bindings::{Bot, BotPre, TurnContext};

/// A bot's component, pre-linked, with the handler it exports.
#[derive(Clone)]
pub enum EntryPre {
    Borrowed(BotPre<TurnState>),
    Owned(BotOwnedPre<TurnState>),
}

/// One instance of a bot.
pub enum BotInstance {
    Borrowed(Bot),
    Owned(BotOwned),
}

/// What `on-turn` returned: the bot's invoke response or its own error.
pub type TurnResult = Result<Option<InvokeResponse>, BotError>;

impl EntryPre {
    /// The entry `pre` exports; the `bot` world's error when it exports
    /// neither handler.
    pub fn new(pre: InstancePre<TurnState>) -> wasmtime::Result<EntryPre> {
        match BotPre::new(pre.clone()) {
            Ok(borrowed) => Ok(EntryPre::Borrowed(borrowed)),
            Err(err) => BotOwnedPre::new(pre).map(EntryPre::Owned).map_err(|_| err),
        }
    }

    /// The engine the component was compiled for.
    pub fn engine(&self) -> &Engine {
        match self {
            EntryPre::Borrowed(pre) => pre.instance_pre().engine(),
            EntryPre::Owned(pre) => pre.instance_pre().engine(),
        }
    }

    /// Which handler it exports, as `/api/bots` shows it.
    pub fn handler(&self) -> &'static str {
        match self {
            EntryPre::Borrowed(_) => "handler",
            EntryPre::Owned(_) => "owned-handler",
        }
    }

    pub async fn instantiate_async(
        &self,
        store: &mut Store<TurnState>,
    ) -> wasmtime::Result<BotInstance> {
        Ok(match self {
            EntryPre::Borrowed(pre) => BotInstance::Borrowed(pre.instantiate_async(store).await?),
            EntryPre::Owned(pre) => BotInstance::Owned(pre.instantiate_async(store).await?),
        })
    }
}

impl BotInstance {
    /// Calls `on-turn` with a new context for the turn in `store`. A lent
    /// context is removed when the call returns; a handed-over one is the
    /// guest's, removed when it drops it (or with the store).
    pub async fn on_turn(&self, store: &mut Store<TurnState>) -> wasmtime::Result<TurnResult> {
        let ctx = store.data_mut().table.push(TurnContext)?;
        match self {
            BotInstance::Borrowed(bot) => {
                let rep = ctx.rep();
                let result = bot
                    .turnbox_bot_handler()
                    .call_on_turn(&mut *store, ctx)
                    .await;
                let _ = store
                    .data_mut()
                    .table
                    .delete(Resource::<TurnContext>::new_own(rep));
                result
            }
            BotInstance::Owned(bot) => {
                bot.turnbox_bot_owned_handler()
                    .call_on_turn(&mut *store, ctx)
                    .await
            }
        }
    }
}
