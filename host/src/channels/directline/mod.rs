//! The built-in Direct Line 3.0 channel: clients (Web Chat, DirectLineJS,
//! `turnbox chat`) talk to a bot through `/v3/directline` (the default bot)
//! or `/bots/{bot}/v3/directline`, and the bot answers through this host's
//! own Bot Connector endpoints, the same path a real channel uses.
//!
//! Here, the channel's state: [`DirectLine`] (its keys and service URL),
//! `tokens.rs` (conversation-bound tokens, signed JWTs) and
//! `conversations.rs` (each conversation's activity log and watermarks),
//! `uploads.rs` (uploaded files and their signed URLs).
//! Its routes and connector endpoints are in `http::directline`.

pub mod conversations;
pub mod members;
pub mod tokens;
pub mod uploads;

/// The `channelId` of the built-in channel.
pub const CHANNEL_ID: &str = "directline";

/// How long a token lives, in seconds (as the real service).
pub const TOKEN_LIFETIME_SECONDS: u64 = 1800;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use conversations::Conversations;
use tokens::TokenIssuer;

/// The channel's state.
pub struct DirectLine {
    pub tokens: TokenIssuer,
    pub conversations: Conversations,
    /// Files uploaded to conversations (`/upload`).
    pub uploads: Arc<uploads::Uploads>,
    /// The channel secret; `None`: dev mode, loopback callers only.
    pub secret: Option<String>,
    /// The key in the connector's `serviceUrl`: the same on every host
    /// sharing the database, so that any of them takes any one's replies.
    connector_key: String,
    /// `http://127.0.0.1:PORT/directline-connector/KEY/`, once listening.
    service_url: std::sync::OnceLock<String>,
}

/// A key for one use, derived from the channel key.
fn derive(channel_key: &[u8], label: &str) -> Vec<u8> {
    use hmac::{Hmac, Mac};
    let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(channel_key)
        .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
    mac.update(label.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

impl DirectLine {
    /// The channel over the conversations in `store`, with keys derived from
    /// the store's channel key. Blocks: call it off the executor.
    pub fn new(
        secret: Option<String>,
        token_lifetime: u64,
        retention: Duration,
        store: Arc<dyn crate::storage::Database>,
    ) -> Result<Self, crate::storage::StorageError> {
        if secret.is_none() {
            tracing::warn!(
                "Direct Line is in dev mode: no secret is configured, so only loopback callers may use it"
            );
        }
        let conversations = Conversations::new(store.clone(), retention)?;
        let channel_key = conversations.channel_key()?;
        Ok(DirectLine {
            tokens: TokenIssuer::new(&derive(&channel_key, "tokens"), token_lifetime),
            conversations,
            uploads: Arc::new(uploads::Uploads::new(
                store,
                &derive(&channel_key, "uploaded-files"),
            )),
            secret,
            connector_key: hex::encode(&derive(&channel_key, "connector")[..16]),
            service_url: std::sync::OnceLock::new(),
        })
    }

    /// Sets the service URL once the host listens on `addr`.
    pub fn listening_on(&self, addr: SocketAddr) {
        let host = if addr.ip().is_unspecified() {
            std::net::IpAddr::from([127, 0, 0, 1])
        } else {
            addr.ip()
        };
        let url = format!(
            "http://{}/directline-connector/{}/",
            SocketAddr::new(host, addr.port()),
            self.connector_key
        );
        let _ = self.service_url.set(url);
    }

    /// This host's connector endpoint for the channel, once listening.
    pub fn service_url(&self) -> Option<String> {
        self.service_url.get().cloned()
    }

    pub fn connector_key_matches(&self, key: &str) -> bool {
        same_secret(key, &self.connector_key)
    }

    /// For a `serviceUrl` of this channel, made by any host sharing the
    /// database (which may since have stopped), this host's own; `None` for
    /// any other service URL.
    pub fn own_service_url(&self, service_url: &str) -> Option<String> {
        let url = url::Url::parse(service_url).ok()?;
        let ours = format!("/directline-connector/{}/", self.connector_key);
        (url.path() == ours)
            .then(|| self.service_url.get().cloned())
            .flatten()
    }
}

/// Whether a presented secret is `secret`, compared in constant time.
pub fn same_secret(presented: &str, secret: &str) -> bool {
    // Constant time: secrets are compared byte by byte without early exit.
    presented.len() == secret.len()
        && presented
            .bytes()
            .zip(secret.bytes())
            .fold(0u8, |a, (x, y)| a | (x ^ y))
            == 0
}
