//! The `turnbox` command line: parses flags and env, sets up logging, and
//! starts the host.

use std::io::IsTerminal;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use turnbox::config::{DEFAULT_MAX_BODY_BYTES, ServeConfig, TurnLimits};
use turnbox::connector::ServiceUrlPolicy;
use turnbox::manifest::LimitDefaults;

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
    Serve(ServeArgs),
}

#[derive(clap::Args)]
struct ServeArgs {
    /// The folder of bots: every `NAME.wasm` in it is served as bot NAME.
    #[arg(long, env = "TURNBOX_BOTS", default_value = "./bots")]
    bots: PathBuf,
    /// The address to listen on. Use 0.0.0.0 to accept remote callers.
    #[arg(long, env = "TURNBOX_BIND", default_value = "127.0.0.1")]
    bind: IpAddr,
    /// The port to listen on (0 picks a free one).
    #[arg(long, env = "PORT", default_value_t = 3978)]
    port: u16,
    /// Where the host keeps its data; the compile cache is under `cache/`.
    #[arg(long, env = "TURNBOX_DATA", default_value = "./data")]
    data: PathBuf,
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
    /// The most activities one turn may send (a manifest may override it).
    #[arg(long, env = "TURNBOX_MAX_ACTIVITIES_PER_TURN", default_value_t = 100)]
    max_activities_per_turn: u32,
    /// On shutdown, how long in-flight turns may take to finish, in ms.
    #[arg(long, env = "TURNBOX_SHUTDOWN_GRACE_MS", default_value_t = 15_000)]
    shutdown_grace_ms: u64,
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_ansi(std::io::stdout().is_terminal())
        .init();

    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => {
            let service_urls = ServiceUrlPolicy::parse(&args.allowed_service_urls)
                .map_err(anyhow::Error::msg)
                .context("invalid --allowed-service-urls")?;
            let config = ServeConfig {
                listen: SocketAddr::new(args.bind, args.port),
                bots_dir: args.bots,
                data_dir: args.data,
                default_bot: args.default_bot,
                limits: LimitDefaults {
                    turn: TurnLimits {
                        memory_bytes: (args.memory_limit_mib as usize) << 20,
                        deadline: Duration::from_millis(args.turn_deadline_ms),
                    },
                    max_concurrent_turns: args.max_concurrent_turns,
                    max_activities_per_turn: args.max_activities_per_turn,
                },
                shutdown_grace: Duration::from_millis(args.shutdown_grace_ms),
                service_urls,
                max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            };
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("cannot start the async runtime")?;
            runtime.block_on(turnbox::server::serve(config))?;
        }
    }
    Ok(())
}
