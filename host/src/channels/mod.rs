//! Where replies go: the Bot Connector REST client (`connector`) and the
//! state of the built-in Direct Line channel (`directline`).

pub mod connector;
pub mod directline;
