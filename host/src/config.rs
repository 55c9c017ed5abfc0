//! The settings of `turnbox serve`, gathered from the command line and the
//! environment by `main.rs` and read by `server.rs` to start the host.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::channels::service_urls::ServiceUrlPolicy;
use crate::schema::manifest::BotDefaults;

/// Everything `turnbox serve` needs.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub listen: SocketAddr,
    pub bots_dir: PathBuf,
    /// Where the host keeps its data.
    pub data_dir: PathBuf,
    /// Where compiled bots are cached (`--cache-dir`; by default `cache/`
    /// in the data folder).
    pub cache_dir: PathBuf,
    /// Baseline compiles at start-up, optimised ones after (`--tiered-compile`).
    pub tiered_compile: bool,
    /// The route `/api/messages` serves; `None` means "the only one".
    pub default_bot: Option<String>,
    /// Limits for bots whose manifest does not set them.
    pub limits: BotDefaults,
    /// How long in-flight turns may take to finish on shutdown.
    pub shutdown_grace: Duration,
    /// Where tokens come from and what they must say.
    pub auth: crate::auth::AuthSettings,
    /// The Direct Line channel secret; `None`: dev mode, loopback only.
    pub directline_secret: Option<String>,
    /// How long Direct Line tokens live, in seconds.
    pub directline_token_seconds: u64,
    /// How long a Direct Line conversation with no new activity is kept.
    pub directline_retention: Duration,
    /// The bearer token of the admin API (transcripts, proactive); without
    /// one, only loopback callers may use it.
    pub admin_token: Option<String>,
    /// The host-wide key of the conversations API (`/api/v1/…`), which
    /// reaches every bot; without one (and without a bot's own keys), only
    /// loopback callers may use it.
    pub api_key: Option<String>,
    /// Serve on a non-loopback address with no secret at all (see
    /// [`ServeConfig::check_exposure`]).
    pub insecure_dev: bool,
    pub service_urls: ServiceUrlPolicy,
    /// The largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Where state, transcripts, timers and delivery records live.
    pub storage: crate::storage::StorageLocation,
    /// Certificate authorities (PEM) PostgreSQL's TLS certificate may chain
    /// to, besides the webpki roots.
    pub storage_ca_file: Option<PathBuf>,
    /// SQLite: the database file held exclusively (`--sqlite-exclusive`).
    pub sqlite_exclusive: bool,
    /// How long a claimed timer stays claimed on a shared database before
    /// another host may take it over.
    pub timer_lease: Duration,
    /// Bots' outbound HTTP: extra CAs, fixed name resolutions.
    pub outbound: crate::runtime::http::OutboundConfig,
    /// Connections served at once, and the head and body read deadlines.
    pub connections: crate::http::server::ConnectionLimits,
    /// How long channel deliveries are remembered for de-duplication;
    /// zero: off.
    pub dedup_window: Duration,
    /// This host's public base URL (`--public-url`): skills reply to
    /// `{url}/api/skills`. `None`: `http://` and the listen address.
    pub public_url: Option<url::Url>,
}

/// The body limit of botbuilder-compatible ingress: 256 KiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 256 << 10;

/// Why the host refuses to start.
#[derive(Debug, thiserror::Error)]
pub enum ExposureError {
    #[error(
        "refusing to serve on {0}, a non-loopback address, with no secret configured: \
         every bot without an app id would take unauthenticated turns from anyone who \
         can reach it. Configure one of --app-id (MicrosoftAppId), --api-key \
         (TURNBOX_API_KEY), --admin-token (TURNBOX_ADMIN_TOKEN) or --directline-secret \
         (TURNBOX_DIRECTLINE_SECRET), bind 127.0.0.1, or pass --insecure-dev \
         (TURNBOX_INSECURE_DEV=true) to serve in dev mode anyway"
    )]
    NoSecret(SocketAddr),
}

impl ServeConfig {
    /// Whether any secret is configured host-wide: the Bot Framework app id
    /// (bots without their own credentials then authenticate every
    /// request), the API key, the admin token or the Direct Line secret.
    /// Secrets in bots' manifests do not count: bots come and go while the
    /// host runs.
    pub fn has_secret(&self) -> bool {
        self.limits.credentials.has_app_id()
            || self.api_key.is_some()
            || self.admin_token.is_some()
            || self.directline_secret.is_some()
    }

    /// Dev mode (no secret at all) is for loopback: on any other address
    /// the host refuses to start unless `insecure_dev` says otherwise.
    pub fn check_exposure(&self) -> Result<(), ExposureError> {
        if self.listen.ip().is_loopback() || self.has_secret() || self.insecure_dev {
            return Ok(());
        }
        Err(ExposureError::NoSecret(self.listen))
    }
}
