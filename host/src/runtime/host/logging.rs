//! `turnbox:bot/logging`: the bot's log lines as tracing events, within the
//! turn's log budget.

use crate::runtime::store::TurnState;
use crate::schema::bindings::turnbox::bot::logging;

impl logging::Host for TurnState {
    async fn log(&mut self, level: logging::Level, message: String) -> wasmtime::Result<()> {
        if !self.log_budget.take(message.len()) {
            return Ok(());
        }
        let bot = &*self.bot;
        match level {
            logging::Level::Trace => tracing::trace!(bot, "{message}"),
            logging::Level::Debug => tracing::debug!(bot, "{message}"),
            logging::Level::Info => tracing::info!(bot, "{message}"),
            logging::Level::Warn => tracing::warn!(bot, "{message}"),
            logging::Level::Error => tracing::error!(bot, "{message}"),
        }
        Ok(())
    }
}
