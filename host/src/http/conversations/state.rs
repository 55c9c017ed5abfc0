//! What the conversations API keeps beside the turn services: its
//! host-wide key, its session issuer and its store. Held by `AppState`;
//! it imports nothing of the http layer above it.

use std::sync::Arc;

use super::sessions;
use crate::storage::api_conversations::ApiConversationStore;

/// What the API keeps beside the turn services.
pub struct ApiState {
    /// The host-wide key; `None`: local callers (and bots' own keys) only.
    pub key: Option<String>,
    pub sessions: sessions::SessionIssuer,
    pub store: Arc<dyn ApiConversationStore>,
}

impl ApiState {
    /// The API over `store`, its sessions signed under a key derived from
    /// the Direct Line channel key.
    pub fn new(
        key: Option<String>,
        channel_key: &[u8],
        store: Arc<dyn ApiConversationStore>,
    ) -> Self {
        if key.is_none() {
            tracing::info!(
                "the conversations API has no host-wide key: local callers and bots' own keys only"
            );
        }
        ApiState {
            key,
            sessions: sessions::SessionIssuer::new(channel_key),
            store,
        }
    }
}
