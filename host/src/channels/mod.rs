//! Where replies go: the Bot Connector REST client (`connector`; its
//! member, history and attachment calls in `conversation_api`; the
//! service URLs it may contact in `service_urls`), the Token
//! Service client for user sign-in (`token_service`), the state of the
//! built-in Direct Line channel (`directline`), and the client root bots
//! call their skills with (`skill_client`).

pub mod connector;
pub mod conversation_api;
pub mod directline;
pub mod service_urls;
pub mod skill_client;
pub mod token_service;
