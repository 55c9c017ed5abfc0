//! The Direct Line 3.0 routes (`api`, and `stream` for the WebSocket) and the Bot Connector endpoints the
//! bot's replies reach on this host (`connector`).

pub mod api;
pub mod connector;
pub mod stream;
