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
    /// What each conversation's key in the connector's `serviceUrl` is
    /// derived from: the same on every host sharing the database, so that
    /// any of them takes any one's replies.
    connector_secret: Vec<u8>,
    /// The one key of every conversation before keys were per
    /// conversation: a stored reference or outbox row may still carry it.
    /// Recognised in such a URL, which is then rewritten; never accepted
    /// by the endpoints.
    legacy_key: String,
    /// `http://127.0.0.1:PORT/directline-connector/`, once listening.
    base_url: std::sync::OnceLock<String>,
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
            connector_secret: derive(&channel_key, "connector"),
            legacy_key: hex::encode(&derive(&channel_key, "connector")[..16]),
            base_url: std::sync::OnceLock::new(),
        })
    }

    /// The key in `conversation`'s connector URL: a bot's turn learns its
    /// own conversation's, which opens no other.
    fn connector_key(&self, conversation: &str) -> String {
        hex::encode(&derive(&self.connector_secret, conversation)[..16])
    }

    /// Sets the service URL once the host listens on `addr`.
    pub fn listening_on(&self, addr: SocketAddr) {
        let host = if addr.ip().is_unspecified() {
            std::net::IpAddr::from([127, 0, 0, 1])
        } else {
            addr.ip()
        };
        let url = format!(
            "http://{}/directline-connector/",
            SocketAddr::new(host, addr.port()),
        );
        let _ = self.base_url.set(url);
    }

    /// This host's connector endpoint for `conversation`, once listening.
    pub fn service_url(&self, conversation: &str) -> Option<String> {
        let base = self.base_url.get()?;
        Some(format!("{base}{}/", self.connector_key(conversation)))
    }

    /// Whether `key` is `conversation`'s.
    pub fn connector_key_matches(&self, key: &str, conversation: &str) -> bool {
        same_secret(key, &self.connector_key(conversation))
    }

    /// For a `serviceUrl` of this channel for `conversation`, made by any
    /// host sharing the database (which may since have stopped), or by an
    /// older host with the channel's one key, this host's own; `None` for
    /// any other service URL.
    pub fn own_service_url(&self, service_url: &str, conversation: &str) -> Option<String> {
        let url = url::Url::parse(service_url).ok()?;
        let key = url
            .path()
            .strip_prefix("/directline-connector/")?
            .strip_suffix('/')?;
        (same_secret(key, &self.connector_key(conversation)) || same_secret(key, &self.legacy_key))
            .then(|| self.service_url(conversation))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_conversation_has_its_own_connector_key_and_old_urls_are_rewritten() {
        let store = Arc::new(crate::storage::SqliteStorage::in_memory().unwrap());
        let channel = DirectLine::new(None, 60, Duration::from_secs(60), store).unwrap();
        assert_eq!(channel.service_url("a"), None, "not listening yet");
        channel.listening_on(SocketAddr::from(([0, 0, 0, 0], 3978)));
        let a = channel.service_url("a").unwrap();
        let b = channel.service_url("b").unwrap();
        assert!(
            a.starts_with("http://127.0.0.1:3978/directline-connector/"),
            "{a}"
        );
        assert_ne!(a, b);
        let key_of = |url: &str| {
            url.trim_end_matches('/')
                .rsplit('/')
                .next()
                .unwrap()
                .to_owned()
        };
        assert!(channel.connector_key_matches(&key_of(&a), "a"));
        assert!(!channel.connector_key_matches(&key_of(&a), "b"));
        assert!(!channel.connector_key_matches(&channel.legacy_key, "a"));

        // A URL another host made (another port) for the same conversation,
        // or an older host with the one key: this host's own.
        let elsewhere = a.replace(":3978", ":4000");
        assert_eq!(channel.own_service_url(&elsewhere, "a"), Some(a.clone()));
        let legacy = format!(
            "http://10.0.0.9:3978/directline-connector/{}/",
            channel.legacy_key
        );
        assert_eq!(channel.own_service_url(&legacy, "a"), Some(a.clone()));
        // Another conversation's, or another channel's: not.
        assert_eq!(channel.own_service_url(&b, "a"), None);
        assert_eq!(
            channel.own_service_url("https://smba.trafficmanager.net/teams/", "a"),
            None
        );
        assert_eq!(channel.own_service_url("not a url", "a"), None);
    }
}
