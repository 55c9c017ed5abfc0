//! `turnbox:bot/state`: get, set and delete in the bot's state scopes,
//! through the turn's view of them (`runtime::scopes`).

use crate::runtime::scopes::{Scope, StateError};
use crate::runtime::store::TurnState;
use crate::schema::bindings::turnbox::bot::{state, types as wit};

use super::call_error;

impl From<state::Scope> for Scope {
    fn from(scope: state::Scope) -> Self {
        match scope {
            state::Scope::Conversation => Scope::Conversation,
            state::Scope::User => Scope::User,
            state::Scope::PrivateConversation => Scope::PrivateConversation,
        }
    }
}

impl From<StateError> for wit::CallError {
    fn from(err: StateError) -> Self {
        call_error(err.code(), err.to_string(), None)
    }
}

impl state::Host for TurnState {
    async fn get(
        &mut self,
        scope: state::Scope,
        key: String,
    ) -> wasmtime::Result<Result<Option<String>, wit::CallError>> {
        Ok(self
            .turn
            .state
            .get(scope.into(), &key)
            .await
            .map_err(Into::into))
    }

    async fn set(
        &mut self,
        scope: state::Scope,
        key: String,
        value: String,
    ) -> wasmtime::Result<Result<(), wit::CallError>> {
        let result = self.turn.state.set(scope.into(), &key, &value).await;
        if let Err(err) = &result {
            tracing::warn!(bot = %self.bot, code = err.code(), "{err}");
        }
        Ok(result.map_err(Into::into))
    }

    async fn delete(
        &mut self,
        scope: state::Scope,
        key: String,
    ) -> wasmtime::Result<Result<(), wit::CallError>> {
        Ok(self
            .turn
            .state
            .delete(scope.into(), &key)
            .await
            .map_err(Into::into))
    }
}
