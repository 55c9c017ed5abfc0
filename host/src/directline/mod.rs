//! The built-in Direct Line 3.0 channel: clients (Web Chat, DirectLineJS,
//! `turnbox chat`) talk to a bot through `/v3/directline` (the default bot)
//! or `/bots/{bot}/v3/directline`, and the bot answers through this host's
//! own Bot Connector endpoints, the same path a real channel uses.
//!
//! - `tokens.rs`: conversation-bound tokens (signed JWTs);
//! - `conversations.rs`: each conversation's activity log and watermarks;
//! - `api.rs`: the Direct Line routes, WebSocket streaming included;
//! - `connector.rs`: the Bot Connector endpoints the bot's replies reach.

pub mod api;
pub mod connector;
pub mod conversations;
pub mod tokens;

/// The `channelId` of the built-in channel.
pub const CHANNEL_ID: &str = "directline";

/// How long a token lives, in seconds (as the real service).
pub const TOKEN_LIFETIME_SECONDS: u64 = 1800;
