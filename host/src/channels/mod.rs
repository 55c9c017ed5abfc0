//! Where replies go: the Bot Connector REST client (`connector`), the
//! state of the built-in Direct Line channel (`directline`), and the client
//! root bots call their skills with (`skill_client`).

pub mod connector;
pub mod directline;
pub mod skill_client;
