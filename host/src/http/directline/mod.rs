//! The Direct Line 3.0 routes (`api`, `delivery` for a user's activity on
//! its way to the bot, `upload` for files and `files` to read them back,
//! and `stream` for the WebSocket) and the Bot Connector endpoints the
//! bot's replies reach on this host (`connector`).

pub mod api;
pub mod connector;
mod delivery;
pub mod files;
pub mod stream;
pub mod upload;
