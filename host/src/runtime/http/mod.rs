//! Outbound HTTP for bots (`wasi:http`), the policy side: a bot's own
//! client (its connection pool, reused across its turns and never shared
//! with another bot; TLS through rustls with the webpki roots and the
//! host's extra CA file; HTTP/1.1 and HTTP/2; no redirects followed), its
//! allowlist and limits from the manifest's `[http]`, and the address guard
//! (`guard.rs`) through which every name is resolved; a turn's requests
//! and what they used of the limits (`turn.rs`). The WIT side is
//! `runtime/host/http.rs`.

pub mod guard;
pub mod turn;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use crate::schema::outbound::{AllowedHost, HostPattern, HttpLimits, HttpSection};
use crate::support::metrics::Metrics;

/// The host's settings for every bot's outbound HTTP.
#[derive(Clone, Default)]
pub struct OutboundConfig {
    /// Certificate authorities trusted besides the webpki roots.
    pub extra_roots: Vec<reqwest::Certificate>,
    /// Names resolved to these addresses instead of through DNS (as
    /// curl's `--resolve`); the guard still checks the addresses.
    pub resolve: HashMap<String, Vec<IpAddr>>,
    /// Where requests are counted (the host's `/metrics`).
    pub metrics: Option<Arc<Metrics>>,
    /// The limits a manifest's `[http]` leaves unset.
    pub defaults: HttpLimits,
}

impl std::fmt::Debug for OutboundConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutboundConfig")
            .field("extra_roots", &self.extra_roots.len())
            .field("resolve", &self.resolve)
            .field("defaults", &self.defaults)
            .finish()
    }
}

/// Why the outbound HTTP settings or a bot's client could not be made.
#[derive(Debug, thiserror::Error)]
pub enum HttpSetupError {
    #[error("cannot read the CA file {path}: {reason}")]
    CaFile { path: String, reason: String },
    #[error("`{0}` is not NAME=ADDRESS")]
    Resolve(String),
    #[error("cannot build the bot's HTTP client: {0}")]
    Client(String),
}

impl OutboundConfig {
    /// From the host's flags: a PEM file of extra CAs, `NAME=ADDRESS` pairs.
    pub fn new(
        ca_file: Option<&std::path::Path>,
        resolve: &[String],
        defaults: HttpLimits,
    ) -> Result<Self, HttpSetupError> {
        let mut config = OutboundConfig {
            defaults,
            ..Default::default()
        };
        if let Some(path) = ca_file {
            let bad = |reason: String| HttpSetupError::CaFile {
                path: path.display().to_string(),
                reason,
            };
            let pem = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
            config.extra_roots =
                reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| bad(e.to_string()))?;
            if config.extra_roots.is_empty() {
                return Err(bad("no certificate in it".into()));
            }
        }
        for pair in resolve {
            let (name, address) = pair
                .split_once('=')
                .ok_or_else(|| HttpSetupError::Resolve(pair.clone()))?;
            let address: IpAddr = address
                .trim_matches(['[', ']'])
                .parse()
                .map_err(|_| HttpSetupError::Resolve(pair.clone()))?;
            config
                .resolve
                .entry(name.to_ascii_lowercase())
                .or_default()
                .push(address);
        }
        Ok(config)
    }
}

/// A bot's outbound HTTP: what it may reach, its limits, its client.
pub struct BotHttp {
    pub bot: Arc<str>,
    pub metrics: Option<Arc<Metrics>>,
    pub allowed: Vec<AllowedHost>,
    pub limits: HttpLimits,
    /// `None` when nothing is allowed: no client, no pool.
    pub client: Option<reqwest::Client>,
}

impl BotHttp {
    /// The bot's outbound HTTP from its manifest's `[http]`.
    pub fn new(
        bot: Arc<str>,
        section: &HttpSection,
        config: &OutboundConfig,
    ) -> Result<BotHttp, HttpSetupError> {
        let limits = section.limits(&config.defaults);
        let allowed = section.allowed_hosts.clone();
        let client = if allowed.is_empty() {
            None
        } else {
            let localhost = allowed
                .iter()
                .any(|entry| entry.host == HostPattern::Exact("localhost".into()));
            let guard = guard::Guard {
                bot: bot.clone(),
                resolve: config.resolve.clone(),
                allow_localhost: localhost,
            };
            let mut builder = reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .no_proxy()
                .connect_timeout(limits.connect_timeout)
                .pool_idle_timeout(std::time::Duration::from_secs(90))
                .dns_resolver(Arc::new(guard));
            for root in &config.extra_roots {
                builder = builder.add_root_certificate(root.clone());
            }
            Some(
                builder
                    .build()
                    .map_err(|e| HttpSetupError::Client(e.to_string()))?,
            )
        };
        Ok(BotHttp {
            bot,
            metrics: config.metrics.clone(),
            allowed,
            limits,
            client,
        })
    }

    /// Whether the allowlist lets a request to `scheme://host:port` go.
    pub fn allows(&self, scheme: &str, host: &str, port: u16) -> bool {
        self.allowed
            .iter()
            .any(|entry| entry.matches(scheme, host, port))
    }
}
