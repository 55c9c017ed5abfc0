//! Typed state accessors over the `state` interface (botbuilder's state
//! property accessors), and the bot's `config` and `timers`.

use std::marker::PhantomData;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::bindings::turnbox::bot::state::{self, Scope};
use crate::error::Result;

pub use crate::bindings::turnbox::bot::{config, timers};

/// One value in the bot's state, of type `T` (stored as JSON). The host
/// loads it on first use and saves it when the turn ends well.
pub struct StateProperty<T> {
    scope: Scope,
    key: &'static str,
    _value: PhantomData<fn() -> T>,
}

impl<T: Serialize + DeserializeOwned> StateProperty<T> {
    /// `key` in the conversation's state.
    pub const fn conversation(key: &'static str) -> Self {
        Self::new(Scope::Conversation, key)
    }

    /// `key` in the user's state, across conversations.
    pub const fn user(key: &'static str) -> Self {
        Self::new(Scope::User, key)
    }

    /// `key` in the user's state within this conversation.
    pub const fn private_conversation(key: &'static str) -> Self {
        Self::new(Scope::PrivateConversation, key)
    }

    const fn new(scope: Scope, key: &'static str) -> Self {
        StateProperty {
            scope,
            key,
            _value: PhantomData,
        }
    }

    /// The value, or `None` when unset.
    pub fn get(&self) -> Result<Option<T>> {
        match state::get(self.scope, self.key)? {
            Some(json) => Ok(Some(serde_json::from_str(&json)?)),
            None => Ok(None),
        }
    }

    /// The value, or `T::default()` when unset.
    pub fn get_or_default(&self) -> Result<T>
    where
        T: Default,
    {
        Ok(self.get()?.unwrap_or_default())
    }

    pub fn set(&self, value: &T) -> Result<()> {
        Ok(state::set(
            self.scope,
            self.key,
            &serde_json::to_string(value)?,
        )?)
    }

    pub fn delete(&self) -> Result<()> {
        Ok(state::delete(self.scope, self.key)?)
    }
}
