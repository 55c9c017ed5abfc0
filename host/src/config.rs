//! The settings of `turnbox serve`, gathered from the command line and the
//! environment by `main.rs` and read by `server.rs` to start the host.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::channels::connector::ServiceUrlPolicy;
use crate::schema::manifest::BotDefaults;

/// Everything `turnbox serve` needs.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub listen: SocketAddr,
    pub bots_dir: PathBuf,
    /// Where the host keeps its data (the compile cache, under `cache/`).
    pub data_dir: PathBuf,
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
    pub service_urls: ServiceUrlPolicy,
    /// The largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Where state, transcripts, timers and delivery records live.
    pub storage: crate::storage::StorageLocation,
    /// Certificate authorities (PEM) PostgreSQL's TLS certificate may chain
    /// to, besides the webpki roots.
    pub storage_ca_file: Option<PathBuf>,
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
}

/// The body limit of botbuilder-compatible ingress: 256 KiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 256 << 10;
