//! The bot's own tokens for the Bot Connector: OAuth client credentials
//! against Azure AD (or a managed identity's, `managed_identity.rs`), cached
//! until 5 minutes before they expire, refreshed in a single flight, one
//! cache per app, tenant and scope.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Deserialize;
use url::Url;

use super::managed_identity::ManagedIdentityEndpoint;
use super::settings::AuthSettings;
use crate::channels::connector::TokenProvider;
use crate::schema::manifest::{AppType, Credentials};
use crate::support::errors::BoxFuture;

/// A token is refreshed this long before it expires.
const REFRESH_MARGIN: Duration = Duration::from_secs(300);

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    expires_in: u64,
}

struct CachedToken {
    token: String,
    refresh_at: Instant,
}

/// Client-credentials tokens of one app for one scope.
pub struct ClientCredentials {
    endpoint: String,
    client_id: String,
    client_secret: Option<crate::schema::manifest::Secret>,
    app_type: Option<AppType>,
    scope: String,
    managed_identity: ManagedIdentityEndpoint,
    http: reqwest::Client,
    /// Held across a refresh, so concurrent turns share one request.
    cache: tokio::sync::Mutex<Option<CachedToken>>,
}

impl ClientCredentials {
    async fn fetch(&self) -> Result<CachedToken, String> {
        if self.app_type == Some(AppType::UserAssignedMSI) {
            let (token, lifetime) = super::managed_identity::fetch(
                &self.http,
                &self.managed_identity,
                &self.client_id,
                &self.scope,
            )
            .await?;
            return Ok(CachedToken {
                token,
                refresh_at: Instant::now() + lifetime.saturating_sub(REFRESH_MARGIN),
            });
        }
        let Some(secret) = &self.client_secret else {
            return Err(format!(
                "the app {} has no MicrosoftAppPassword",
                self.client_id
            ));
        };
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", self.client_id.as_str()),
            ("client_secret", secret.expose()),
            ("scope", self.scope.as_str()),
        ];
        let response = self
            .http
            .post(&self.endpoint)
            .form(&form)
            .send()
            .await
            .map_err(|e| format!("the token endpoint could not be reached: {e}"))?;
        let status = response.status();
        if !status.is_success() {
            let body = response.text().await.unwrap_or_default();
            let detail: String = body.chars().take(300).collect();
            return Err(format!("the token endpoint answered {status}: {detail}"));
        }
        let parsed: TokenResponse = response
            .json()
            .await
            .map_err(|e| format!("the token endpoint's answer is unreadable: {e}"))?;
        let lifetime = Duration::from_secs(parsed.expires_in);
        Ok(CachedToken {
            token: parsed.access_token,
            refresh_at: Instant::now() + lifetime.saturating_sub(REFRESH_MARGIN),
        })
    }
}

impl TokenProvider for ClientCredentials {
    fn token<'a>(&'a self, _service_url: &'a Url) -> BoxFuture<'a, Result<Option<String>, String>> {
        Box::pin(async move {
            let mut cache = self.cache.lock().await;
            if let Some(cached) = cache.as_ref()
                && Instant::now() < cached.refresh_at
            {
                return Ok(Some(cached.token.clone()));
            }
            let fresh = self.fetch().await.inspect_err(|err| {
                tracing::warn!(app = %self.client_id, error = %err, "cannot get a Bot Connector token");
            })?;
            let token = fresh.token.clone();
            *cache = Some(fresh);
            Ok(Some(token))
        })
    }
}

/// Every app's token cache on this host.
pub struct OutboundTokens {
    settings: AuthSettings,
    http: reqwest::Client,
    providers: Mutex<HashMap<(String, String, String), Arc<ClientCredentials>>>,
}

impl OutboundTokens {
    pub fn new(settings: AuthSettings, http: reqwest::Client) -> Self {
        OutboundTokens {
            settings,
            http,
            providers: Mutex::new(HashMap::new()),
        }
    }

    /// The token provider for a bot's app, for a conversation on
    /// `channel_id`. Emulator conversations use the scope
    /// `<app id>/.default`.
    pub fn provider(
        &self,
        credentials: &Credentials,
        channel_id: Option<&str>,
    ) -> Option<Arc<ClientCredentials>> {
        let app_id = credentials.app_id.as_deref().filter(|id| !id.is_empty())?;
        let scope = if channel_id == Some("emulator") {
            format!("{app_id}/.default")
        } else {
            self.settings.oauth_scope.clone()
        };
        self.provider_for_scope(credentials, scope)
    }

    /// The token provider for a bot's app, for tokens of `scope`: another
    /// bot's `<app id>/.default` when calling a skill or answering a bot
    /// that called this one as a skill.
    pub fn provider_for_scope(
        &self,
        credentials: &Credentials,
        scope: String,
    ) -> Option<Arc<ClientCredentials>> {
        let app_id = credentials.app_id.clone().filter(|id| !id.is_empty())?;
        let tenant = match credentials.app_type {
            Some(AppType::SingleTenant) => credentials.tenant_id.as_deref(),
            _ => None,
        };
        let endpoint = self.settings.token_endpoint_for(tenant);
        let key = (app_id.clone(), endpoint.clone(), scope.clone());
        let mut providers = self.providers.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(provider) = providers.get(&key)
            && provider.client_secret == credentials.app_password
            && provider.app_type == credentials.app_type
        {
            return Some(provider.clone());
        }
        // New, or its manifest changed the password: a fresh cache.
        let provider = Arc::new(ClientCredentials {
            endpoint,
            client_id: app_id,
            client_secret: credentials.app_password.clone(),
            app_type: credentials.app_type,
            scope,
            managed_identity: self.settings.managed_identity.clone(),
            http: self.http.clone(),
            cache: tokio::sync::Mutex::new(None),
        });
        providers.insert(key, provider.clone());
        Some(provider)
    }
}
