//! Where replies go: the Bot Connector REST client (`connector`), the
//! Token Service client for user sign-in (`token_service`), and the state
//! of the built-in Direct Line channel (`directline`).

pub mod connector;
pub mod directline;
pub mod token_service;
