//! The `turnbox` command line: parses flags and env, sets up logging, and
//! starts the host.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use turnbox::telemetry::OtlpSettings;

use turnbox::auth::AuthSettings;
use turnbox::auth::managed_identity::ManagedIdentityEndpoint;
use turnbox::channels::service_urls::ServiceUrlPolicy;
use turnbox::config::{DEFAULT_MAX_BODY_BYTES, ServeConfig};
use turnbox::schema::manifest::{AppType, BotDefaults, Credentials, Secret, TurnLimits};

/// jemalloc instead of glibc's malloc: a turn allocates and frees many
/// small buffers on several threads, and glibc's malloc was 13% of the
/// host's CPU under load; +18–35% echo turns/s (docs/PERFORMANCE.md,
/// "Issue #23, sixth round").
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's settings: thread caches only for objects up to 1 KiB (the
/// default, 32 KiB, left each idle compile and blocking thread holding
/// cached memory: 100 bots' cold start took 251 MiB instead of 117).
/// `_RJEM_MALLOC_CONF` in the environment overrides them.
#[allow(non_upper_case_globals)]
#[unsafe(export_name = "_rjem_malloc_conf")]
static malloc_conf: &[u8] = b"tcache_max:1024\0";

#[derive(Parser)]
#[command(
    name = "turnbox",
    version,
    about = "A WebAssembly bot runtime for the Bot Framework activity protocol"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the bots in a folder over HTTP.
    Serve(Box<ServeArgs>),
    /// Replay a Bot Framework `.transcript` against a bot and compare its
    /// replies; exits 1 on a mismatch.
    Test(TestArgs),
    /// Chat with a bot of a running host, in the terminal (Direct Line).
    Chat(ChatArgs),
    /// Write a new bot project from a template.
    New(NewArgs),
}

#[derive(clap::Args)]
struct NewArgs {
    /// The bot's name (its folder, and the `.wasm` it builds).
    name: String,
    /// The language of the project.
    #[arg(long, value_enum)]
    lang: turnbox::cli::scaffold::Language,
    /// Where to create the project folder.
    #[arg(long, default_value = ".")]
    dir: PathBuf,
}

#[derive(clap::Args)]
struct ChatArgs {
    /// The bot's route; by default the host's default bot.
    bot: Option<String>,
    /// The host.
    #[arg(long, default_value = "http://127.0.0.1:3978")]
    url: String,
    /// The host's Direct Line secret, if it has one.
    #[arg(long, env = "TURNBOX_DIRECTLINE_SECRET", hide_env_values = true)]
    secret: Option<String>,
}

#[derive(clap::Args)]
struct TestArgs {
    /// The bot component.
    bot: PathBuf,
    /// The transcript to replay.
    transcript: PathBuf,
    /// The bot's manifest; default: `BOT.toml` beside the bot, if present.
    #[arg(long)]
    manifest: Option<PathBuf>,
}

/// `--otlp-protocol`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum OtlpProtocol {
    #[value(name = "http/protobuf")]
    HttpProtobuf,
    #[value(name = "http/json")]
    HttpJson,
}

#[derive(clap::Args)]
struct ServeArgs {
    /// The folder of bots: every `NAME.wasm` in it is served as bot NAME.
    #[arg(long, env = "TURNBOX_BOTS", default_value = "./bots")]
    bots: PathBuf,
    /// Export spans (a turn, its host calls, its outbound requests: one
    /// trace per turn) to this OpenTelemetry collector, over OTLP/HTTP
    /// (`{endpoint}/v1/traces`), e.g. http://localhost:4318.
    #[arg(long, env = "TURNBOX_OTLP_ENDPOINT")]
    otlp_endpoint: Option<String>,
    /// The OTLP encoding: `http/protobuf` or `http/json`.
    #[arg(
        long,
        env = "TURNBOX_OTLP_PROTOCOL",
        value_enum,
        default_value = "http/protobuf"
    )]
    otlp_protocol: OtlpProtocol,
    /// The address to listen on. Use 0.0.0.0 to accept remote callers.
    #[arg(long, env = "TURNBOX_BIND", default_value = "127.0.0.1")]
    bind: IpAddr,
    /// The port to listen on (0 picks a free one).
    #[arg(long, env = "PORT", default_value_t = 3978)]
    port: u16,
    /// The host's public base URL, e.g. `https://bots.example`: the
    /// `serviceUrl` its root bots give skills (`{url}/api/skills`). Default:
    /// `http://` and the listen address.
    #[arg(long, env = "TURNBOX_PUBLIC_URL", value_parser = parse_public_url)]
    public_url: Option<url::Url>,
    /// Where the host keeps its data; the compile cache is under `cache/`.
    #[arg(long, env = "TURNBOX_DATA", default_value = "./data")]
    data: PathBuf,
    /// Where compiled bots are cached (default: `cache/` in the data
    /// folder). Hosts may share one: entries are written atomically and
    /// checked with the folder's key.
    #[arg(long, env = "TURNBOX_CACHE_DIR")]
    cache_dir: Option<PathBuf>,
    /// At start-up, compile bots the cache lacks with the baseline compiler
    /// (Winch: a fraction of the time, slower code) so they serve at once,
    /// then recompile them optimised in the background, one at a time.
    #[arg(long, env = "TURNBOX_TIERED_COMPILE")]
    tiered_compile: bool,
    /// The route `/api/messages` serves; by default the only bot loaded.
    #[arg(long, env = "TURNBOX_DEFAULT_BOT")]
    default_bot: Option<String>,
    /// The memory limit of one turn, in MiB (a manifest may override it).
    #[arg(long, env = "TURNBOX_MEMORY_LIMIT_MIB", default_value_t = 64,
          value_parser = clap::value_parser!(u32).range(1..=4096))]
    memory_limit_mib: u32,
    /// The deadline of one turn, in milliseconds (a manifest may override it).
    #[arg(long, env = "TURNBOX_TURN_DEADLINE_MS", default_value_t = 10_000,
          value_parser = clap::value_parser!(u64).range(1..=600_000))]
    turn_deadline_ms: u64,
    /// The service URLs bots may send to, comma-separated: `loopback` and URL
    /// prefixes such as `https://smba.trafficmanager.net/`.
    #[arg(long, env = "TURNBOX_ALLOWED_SERVICE_URLS", default_value = "loopback")]
    allowed_service_urls: String,
    /// The most turns one bot runs at once; past it callers get 503 (a
    /// manifest may override it).
    #[arg(long, env = "TURNBOX_MAX_CONCURRENT_TURNS", default_value_t = 64,
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    max_concurrent_turns: u32,
    /// How long a channel's request (not `expectReplies` or `invoke`) waits
    /// for its turn, in ms: then it is answered 202 and the turn goes on,
    /// sending its replies through the connector (a manifest may override
    /// it with `limits.ack_after_ms`).
    #[arg(long, env = "TURNBOX_ACK_AFTER_MS", default_value_t = turnbox::schema::manifest::DEFAULT_ACK_AFTER.as_millis() as u64,
          value_parser = clap::value_parser!(u64).range(1..=600_000))]
    ack_after_ms: u64,
    /// The most activities one turn may send (a manifest may override it).
    #[arg(long, env = "TURNBOX_MAX_ACTIVITIES_PER_TURN", default_value_t = 100)]
    max_activities_per_turn: u32,
    /// How long a delivered activity is remembered, so that a channel's
    /// re-delivery gets the first answer instead of a second turn, in
    /// seconds; 0 turns de-duplication off.
    #[arg(long, env = "TURNBOX_DEDUP_WINDOW_SECS", default_value_t = turnbox::turn::dedup::DEFAULT_WINDOW.as_secs())]
    dedup_window_secs: u64,
    /// Where state, transcripts, timers and delivery records live: `sqlite`
    /// (the file `state.db` in the data folder) or a PostgreSQL URL
    /// (`postgres://user:password@host:5432/db`) that several hosts share.
    #[arg(long, env = "TURNBOX_STORAGE", default_value = "sqlite", hide_env_values = true,
          value_parser = turnbox::storage::StorageLocation::parse)]
    storage: turnbox::storage::StorageLocation,
    /// With PostgreSQL: a PEM file of certificate authorities the server's
    /// TLS certificate may chain to, besides the public (webpki) roots.
    /// TLS is used whenever the server offers it; add `?sslmode=require`
    /// to the URL to refuse a server without it.
    #[arg(long, env = "TURNBOX_STORAGE_CA_FILE")]
    storage_ca_file: Option<PathBuf>,
    /// With SQLite: hold `state.db` exclusively (SQLite's `unix-excl`
    /// VFS: the WAL index in this process's memory, no file lock taken per
    /// transaction; a few percent less CPU per turn). No other process can
    /// open the database while the host runs: no `sqlite3`, no online
    /// `.backup`, no Litestream.
    #[arg(long, env = "TURNBOX_SQLITE_EXCLUSIVE")]
    sqlite_exclusive: bool,
    /// With a shared database: how long a host's claim on a due timer holds
    /// before another host may take the timer over, in seconds. Keep it
    /// above the longest turn deadline.
    #[arg(long, env = "TURNBOX_TIMER_LEASE_SECS", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    timer_lease_secs: u64,
    /// A PEM file of certificate authorities bots' outbound HTTPS trusts
    /// besides the webpki roots.
    #[arg(long, env = "TURNBOX_HTTP_CA_FILE")]
    http_ca_file: Option<PathBuf>,
    /// `NAME=ADDRESS`: bots' outbound HTTP resolves NAME to ADDRESS instead
    /// of through DNS (as curl's `--resolve`; repeatable). The address
    /// guard still applies.
    #[arg(long = "http-resolve", value_name = "NAME=ADDRESS")]
    http_resolve: Vec<String>,
    #[command(flatten)]
    http_defaults: turnbox::schema::outbound::HttpDefaults,
    /// The most HTTP connections served at once (Direct Line streams
    /// included); past it a connection gets 503 with `Retry-After`. Keep
    /// the process's open-file limit above it.
    #[arg(long, env = "TURNBOX_MAX_CONNECTIONS", default_value_t = 4096,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    max_connections: u32,
    /// How long a client may take to send a request's head (and how long
    /// an idle keep-alive connection stays open), in seconds.
    #[arg(long, env = "TURNBOX_HEADER_READ_TIMEOUT_SECS", default_value_t = 15,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    header_read_timeout_secs: u64,
    /// How long a client may take to send a request's body once its head
    /// has arrived, in seconds; past it the answer is 408.
    #[arg(long, env = "TURNBOX_BODY_READ_TIMEOUT_SECS", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    body_read_timeout_secs: u64,
    /// On shutdown, how long in-flight turns may take to finish, in ms.
    #[arg(long, env = "TURNBOX_SHUTDOWN_GRACE_MS", default_value_t = 15_000)]
    shutdown_grace_ms: u64,
    /// The bearer token of the admin API (transcripts, proactive messages);
    /// without one, only loopback callers may use it.
    #[arg(long, env = "TURNBOX_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
    /// The key of the conversations API (`/api/v1/…`), for every bot;
    /// without one (and without bots' own `[api] keys`), only loopback
    /// callers may use it. At least 16 characters.
    #[arg(long, env = "TURNBOX_API_KEY", hide_env_values = true, value_parser = api_key)]
    api_key: Option<String>,
    /// Serve on a non-loopback address even with no secret configured (no
    /// app id, API key, admin token or Direct Line secret): dev mode, open
    /// to anyone who can reach the host.
    #[arg(long, env = "TURNBOX_INSECURE_DEV")]
    insecure_dev: bool,
    /// The secret of the built-in Direct Line channel; without one it
    /// answers loopback callers only.
    #[arg(long, env = "TURNBOX_DIRECTLINE_SECRET", hide_env_values = true)]
    directline_secret: Option<String>,
    /// How long Direct Line tokens live, in seconds.
    #[arg(long, env = "TURNBOX_DIRECTLINE_TOKEN_SECONDS", default_value_t = turnbox::channels::directline::TOKEN_LIFETIME_SECONDS,
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    directline_token_seconds: u64,
    /// How long a Direct Line conversation with no new activity is kept, in
    /// hours; then it and its log are forgotten.
    #[arg(long, env = "TURNBOX_DIRECTLINE_RETENTION_HOURS", default_value_t = 24,
          value_parser = clap::value_parser!(u64).range(1..=87_600))]
    directline_retention_hours: u64,
    #[command(flatten)]
    credentials: CredentialArgs,
    #[command(flatten)]
    auth: AuthArgs,
}

/// `--api-key`: empty is none; otherwise at least 16 characters.
fn api_key(text: &str) -> Result<String, String> {
    // A key read from a file keeps its newline: it is not part of the key.
    let key = text.trim();
    if !key.is_empty() && key.len() < 16 {
        return Err("the API key must be at least 16 characters".into());
    }
    Ok(key.to_owned())
}

/// Bot Framework credentials for bots whose manifest names no app id.
#[derive(clap::Args)]
struct CredentialArgs {
    /// The bot's app id; without one, bots run in dev mode (no auth).
    #[arg(long = "app-id", env = "MicrosoftAppId")]
    app_id: Option<String>,
    /// The app's client secret.
    #[arg(
        long = "app-password",
        env = "MicrosoftAppPassword",
        hide_env_values = true
    )]
    app_password: Option<String>,
    /// The app's tenant (single-tenant bots).
    #[arg(long = "app-tenant-id", env = "MicrosoftAppTenantId")]
    app_tenant_id: Option<String>,
    /// MultiTenant, SingleTenant or UserAssignedMSI.
    #[arg(long = "app-type", env = "MicrosoftAppType")]
    app_type: Option<String>,
}

impl CredentialArgs {
    fn into_credentials(self) -> anyhow::Result<Credentials> {
        let app_type = match self.app_type.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(text) => Some(
                serde_json::from_value::<AppType>(serde_json::Value::String(text.to_owned()))
                    .map_err(|_| {
                        anyhow::anyhow!(
                            "MicrosoftAppType must be MultiTenant, SingleTenant or UserAssignedMSI, not `{text}`"
                        )
                    })?,
            ),
        };
        Ok(Credentials {
            app_id: self.app_id.filter(|s| !s.trim().is_empty()),
            app_password: self.app_password.filter(|s| !s.is_empty()).map(Secret::new),
            tenant_id: self.app_tenant_id.filter(|s| !s.trim().is_empty()),
            app_type,
            allowed_callers: Vec::new(),
        })
    }
}

/// Where tokens come from: the cloud, and overrides of its endpoints.
#[derive(clap::Args)]
struct AuthArgs {
    /// `https://botframework.azure.us` selects the US Government cloud.
    #[arg(long, env = "ChannelService")]
    channel_service: Option<String>,
    /// OpenID metadata of the Bot Connector's signing keys.
    #[arg(long, env = "TURNBOX_CHANNEL_OPENID_METADATA")]
    channel_openid_metadata: Option<String>,
    /// The issuer of Bot Connector tokens.
    #[arg(long, env = "TURNBOX_CHANNEL_ISSUER")]
    channel_issuer: Option<String>,
    /// OpenID metadata of Azure AD keys (Emulator and skill tokens).
    #[arg(long, env = "TURNBOX_EMULATOR_OPENID_METADATA")]
    emulator_openid_metadata: Option<String>,
    /// Issuers of Emulator and skill tokens, comma-separated (replace the defaults).
    #[arg(long, env = "TURNBOX_EMULATOR_ISSUERS", value_delimiter = ',')]
    emulator_issuers: Option<Vec<String>>,
    /// The client-credentials token endpoint; `{tenant}` stands for the tenant.
    #[arg(long, env = "TURNBOX_TOKEN_ENDPOINT")]
    token_endpoint: Option<String>,
    /// The scope of the bot's tokens for the Bot Connector.
    #[arg(long, env = "TURNBOX_OAUTH_SCOPE")]
    oauth_scope: Option<String>,
    /// The Instance Metadata Service's token endpoint, for `UserAssignedMSI`
    /// bots (App Service's `IDENTITY_ENDPOINT`, when set, is used instead).
    #[arg(long, env = "TURNBOX_IMDS_ENDPOINT")]
    imds_endpoint: Option<String>,
    /// App Service's managed identity endpoint (set by the platform).
    #[arg(long, env = "IDENTITY_ENDPOINT", hide = true)]
    identity_endpoint: Option<String>,
    /// The secret App Service sets for its identity endpoint.
    #[arg(long, env = "IDENTITY_HEADER", hide = true, hide_env_values = true)]
    identity_header: Option<String>,
    /// The Bot Framework Token Service for user sign-in (default: the
    /// cloud's, `https://token.botframework.com`).
    #[arg(long, env = "TURNBOX_TOKEN_SERVICE_URL")]
    token_service_url: Option<String>,
}

impl AuthArgs {
    fn into_settings(self) -> AuthSettings {
        let mut settings = AuthSettings::for_channel_service(self.channel_service.as_deref());
        if let Some(v) = self.channel_openid_metadata {
            settings.channel_openid_metadata = v;
        }
        if let Some(v) = self.channel_issuer {
            settings.channel_issuer = v;
        }
        if let Some(v) = self.emulator_openid_metadata {
            settings.emulator_openid_metadata = v;
        }
        if let Some(v) = self.emulator_issuers {
            settings.emulator_issuers = v;
        }
        if let Some(v) = self.token_endpoint {
            settings.token_endpoint = v;
        }
        if let Some(v) = self.oauth_scope {
            settings.oauth_scope = v;
        }
        if let Some(v) = self.imds_endpoint {
            settings.managed_identity = ManagedIdentityEndpoint::Imds(v);
        }
        if let (Some(endpoint), Some(header)) = (self.identity_endpoint, self.identity_header) {
            settings.managed_identity = ManagedIdentityEndpoint::AppService {
                endpoint,
                header: turnbox::schema::manifest::Secret::new(header),
            };
        }
        if let Some(v) = self.token_service_url {
            settings.token_service_url = v;
        }
        settings
    }
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let otlp = match &cli.command {
        Command::Serve(args) => args.otlp_endpoint.clone().map(|endpoint| OtlpSettings {
            endpoint,
            json: args.otlp_protocol == OtlpProtocol::HttpJson,
        }),
        _ => None,
    };
    let telemetry = turnbox::telemetry::init(otlp.as_ref())?;
    let result = run(cli);
    telemetry.shutdown();
    result
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::New(args) => {
            let root = turnbox::cli::scaffold::scaffold(&args.name, args.lang, &args.dir)?;
            println!(
                "Created {}. See its README.md to build it and drop the .wasm into the bots folder.",
                root.display()
            );
        }
        Command::Chat(args) => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("cannot start the async runtime")?;
            runtime.block_on(turnbox::cli::terminal_chat::chat(
                &args.url,
                args.bot.as_deref(),
                args.secret.as_deref(),
            ))?;
        }
        Command::Test(args) => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("cannot start the async runtime")?;
            let manifest = args
                .manifest
                .unwrap_or_else(|| args.bot.with_extension("toml"));
            let transcript = turnbox::cli::replay::read_transcript(&args.transcript)?;
            let report = runtime.block_on(turnbox::cli::replay::replay(
                &args.bot,
                &manifest,
                &transcript,
            ))?;
            for mismatch in &report.mismatches {
                println!("MISMATCH {mismatch}");
            }
            println!(
                "{} turns replayed, {} replies compared, {} mismatches",
                report.turns,
                report.compared,
                report.mismatches.len()
            );
            if !report.mismatches.is_empty() {
                std::process::exit(1);
            }
        }
        Command::Serve(args) => {
            let service_urls = ServiceUrlPolicy::parse(&args.allowed_service_urls)
                .map_err(anyhow::Error::msg)
                .context("invalid --allowed-service-urls")?;
            let config = ServeConfig {
                listen: SocketAddr::new(args.bind, args.port),
                bots_dir: args.bots,
                cache_dir: args.cache_dir.unwrap_or_else(|| args.data.join("cache")),
                tiered_compile: args.tiered_compile,
                data_dir: args.data,
                default_bot: args.default_bot,
                limits: BotDefaults {
                    turn: TurnLimits {
                        memory_bytes: (args.memory_limit_mib as usize) << 20,
                        deadline: Duration::from_millis(args.turn_deadline_ms),
                    },
                    max_concurrent_turns: args.max_concurrent_turns,
                    max_activities_per_turn: args.max_activities_per_turn,
                    ack_after: Duration::from_millis(args.ack_after_ms),
                    credentials: args.credentials.into_credentials()?,
                },
                shutdown_grace: Duration::from_millis(args.shutdown_grace_ms),
                auth: args.auth.into_settings(),
                admin_token: args.admin_token.filter(|t| !t.is_empty()),
                api_key: args.api_key.filter(|t| !t.is_empty()),
                insecure_dev: args.insecure_dev,
                directline_secret: args.directline_secret.filter(|t| !t.is_empty()),
                directline_token_seconds: args.directline_token_seconds,
                directline_retention: Duration::from_secs(args.directline_retention_hours * 3600),
                service_urls,
                max_body_bytes: DEFAULT_MAX_BODY_BYTES,
                storage: args.storage,
                storage_ca_file: args.storage_ca_file,
                sqlite_exclusive: args.sqlite_exclusive,
                timer_lease: Duration::from_secs(args.timer_lease_secs),
                outbound: turnbox::runtime::http::OutboundConfig::new(
                    args.http_ca_file.as_deref(),
                    &args.http_resolve,
                    args.http_defaults.limits(),
                )?,
                connections: turnbox::http::server::ConnectionLimits {
                    max_connections: args.max_connections as usize,
                    header_read_timeout: Duration::from_secs(args.header_read_timeout_secs),
                    body_read_timeout: Duration::from_secs(args.body_read_timeout_secs),
                },
                dedup_window: Duration::from_secs(args.dedup_window_secs),
                public_url: args.public_url,
            };
            config.check_exposure()?;
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("cannot start the async runtime")?;
            runtime.block_on(turnbox::server::serve(config))?;
        }
    }
    Ok(())
}

/// `--public-url`: an http(s) URL with a host, no query or fragment.
fn parse_public_url(text: &str) -> Result<url::Url, String> {
    let url = url::Url::parse(text.trim()).map_err(|e| format!("not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err("not an http(s) URL with a host".into());
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("a base URL has no query or fragment".into());
    }
    Ok(url)
}
