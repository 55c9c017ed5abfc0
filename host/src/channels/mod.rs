//! Where replies go: the Bot Connector REST client (`connector`; its
//! member, history and attachment calls in `conversation_api`) and the
//! state of the built-in Direct Line channel (`directline`).

pub mod connector;
pub mod conversation_api;
pub mod directline;
