//! Signing keys from OpenID metadata: fetched through the metadata's
//! `jwks_uri`, cached, refreshed on a period, refetched at once (rate
//! limited) when a token names an unknown `kid`, and kept when the metadata
//! endpoint fails.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jsonwebtoken::DecodingKey;
use serde::Deserialize;

/// A signing key and the channels it endorses (empty: any).
pub struct SigningKey {
    pub decoding: DecodingKey,
    pub endorsements: Vec<String>,
}

#[derive(Deserialize)]
struct Metadata {
    jwks_uri: String,
}

#[derive(Deserialize)]
struct JwkSet {
    keys: Vec<Jwk>,
}

#[derive(Deserialize)]
struct Jwk {
    kty: String,
    kid: Option<String>,
    n: Option<String>,
    e: Option<String>,
    #[serde(default)]
    endorsements: Vec<String>,
}

/// How soon a failed fetch is retried.
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(30);

#[derive(Default)]
struct KeyState {
    keys: HashMap<String, Arc<SigningKey>>,
    /// When the keys are next fetched; `None` before the first fetch.
    next_refresh: Option<Instant>,
    last_unknown_kid_refetch: Option<Instant>,
}

/// The keys published by one OpenID metadata document.
pub struct KeyCache {
    metadata_url: String,
    http: reqwest::Client,
    refresh: Duration,
    unknown_kid_refetch: Duration,
    /// Held while fetching: concurrent lookups share one fetch.
    state: tokio::sync::Mutex<KeyState>,
}

impl KeyCache {
    pub fn new(
        metadata_url: String,
        http: reqwest::Client,
        refresh: Duration,
        unknown_kid_refetch: Duration,
    ) -> Self {
        KeyCache {
            metadata_url,
            http,
            refresh,
            unknown_kid_refetch,
            state: tokio::sync::Mutex::new(KeyState::default()),
        }
    }

    /// The key named `kid`, fetching the key set when it is stale or does
    /// not know `kid` (at most once per `unknown_kid_refetch` for the
    /// latter).
    pub async fn key(&self, kid: &str) -> Option<Arc<SigningKey>> {
        let mut state = self.state.lock().await;
        let due = state.next_refresh.is_none_or(|at| Instant::now() >= at);
        if due {
            self.refetch(&mut state).await;
        }
        if let Some(key) = state.keys.get(kid) {
            return Some(key.clone());
        }
        let may_refetch = !due
            && state
                .last_unknown_kid_refetch
                .is_none_or(|at| at.elapsed() >= self.unknown_kid_refetch);
        if may_refetch {
            state.last_unknown_kid_refetch = Some(Instant::now());
            tracing::info!(metadata = %self.metadata_url, "unknown signing key id; refetching the keys");
            self.refetch(&mut state).await;
        }
        state.keys.get(kid).cloned()
    }

    async fn refetch(&self, state: &mut KeyState) {
        match self.fetch().await {
            Ok(keys) => {
                state.keys = keys;
                state.next_refresh = Some(Instant::now() + self.refresh);
            }
            Err(err) => {
                tracing::warn!(metadata = %self.metadata_url, error = %err, cached = state.keys.len(), "cannot refresh signing keys; keeping the cached ones");
                state.next_refresh = Some(Instant::now() + RETRY_AFTER_FAILURE);
            }
        }
    }

    async fn fetch(&self) -> Result<HashMap<String, Arc<SigningKey>>, String> {
        let metadata: Metadata = self
            .http
            .get(&self.metadata_url)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| format!("metadata: {e}"))?
            .json()
            .await
            .map_err(|e| format!("metadata: {e}"))?;
        let set: JwkSet = self
            .http
            .get(&metadata.jwks_uri)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| format!("keys: {e}"))?
            .json()
            .await
            .map_err(|e| format!("keys: {e}"))?;
        let mut keys = HashMap::new();
        for jwk in set.keys {
            let (Some(kid), Some(n), Some(e)) = (jwk.kid, jwk.n, jwk.e) else {
                continue;
            };
            if jwk.kty != "RSA" {
                continue;
            }
            match DecodingKey::from_rsa_components(&n, &e) {
                Ok(decoding) => {
                    keys.insert(
                        kid,
                        Arc::new(SigningKey {
                            decoding,
                            endorsements: jwk.endorsements,
                        }),
                    );
                }
                Err(err) => tracing::warn!(%kid, error = %err, "skipping an unusable signing key"),
            }
        }
        Ok(keys)
    }
}
