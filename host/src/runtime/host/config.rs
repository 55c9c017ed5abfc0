//! `turnbox:bot/config`: the bot's config values from its manifest.

use crate::runtime::store::TurnState;
use crate::schema::bindings::turnbox::bot::config;

impl config::Host for TurnState {
    async fn get(&mut self, key: String) -> wasmtime::Result<Option<String>> {
        Ok(self.config.get(&key).map(|v| v.expose().to_owned()))
    }
}
