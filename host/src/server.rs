//! Starting the host: the engine, the compile cache, the bots and the folder
//! watch, the connector client and the HTTP listener; and shutting down on
//! Ctrl-C or SIGTERM, letting in-flight turns finish up to a bound.

use std::sync::Arc;

use crate::auth::{Authenticator, OutboundTokens};
use crate::bots::registry::BotRegistry;
use crate::channels::connector::{ConnectorClient, http_client};
use crate::config::ServeConfig;
use crate::http::app::AppState;
use crate::http::routes::router;
use crate::runtime::cache::CompileCache;
use crate::runtime::engine::Runtime;
use crate::support::metrics::Metrics;
use crate::turn::services::TurnServices;

/// Why the host could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Engine(#[from] crate::runtime::engine::EngineError),
    #[error(transparent)]
    Registry(#[from] crate::bots::registry::RegistryError),
    #[error(transparent)]
    Cache(#[from] crate::runtime::cache::CacheError),
    #[error(transparent)]
    Watch(#[from] crate::bots::watch::WatchError),
    #[error("cannot open the state database: {0}")]
    Storage(#[from] crate::storage::StorageError),
    #[error("cannot set up Direct Line: {0}")]
    DirectLine(String),
    #[error("the Token Service URL is unusable: {0}")]
    TokenService(String),
    #[error(transparent)]
    Connector(#[from] crate::channels::connector::ConnectorError),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("the server failed: {0}")]
    Serve(std::io::Error),
}

/// Loads the bots, watches their folder and serves until a shutdown signal.
pub async fn serve(config: ServeConfig) -> Result<(), ServeError> {
    // Pool slots are sized for the largest memory a manifest may ask for.
    let metrics = Arc::new(Metrics::new());
    let mut runtime = Runtime::with_tiers(
        crate::schema::manifest::MAX_MEMORY_MIB << 20,
        config.tiered_compile,
    )?;
    runtime.outbound = config.outbound.clone();
    runtime.outbound.metrics = Some(metrics.clone());
    let runtime = Arc::new(runtime);
    tracing::info!(pooling = runtime.pooling, "engine ready");
    let cache = Arc::new(CompileCache::open(&config.cache_dir, &runtime.engine)?);
    // One database holds state, transcripts, references, timers, delivery
    // records and the outbox.
    let database = open_database(&config).await?;
    let registry = Arc::new(BotRegistry::new(
        &config.bots_dir,
        runtime.clone(),
        cache,
        config.limits,
        metrics.clone(),
        config.default_bot.clone(),
    ));
    registry.load_all().await?;
    if runtime.baseline.is_some() {
        let registry = registry.clone();
        tokio::spawn(async move { registry.tier_up().await });
    }
    let _watch = crate::bots::watch::watch(registry.clone())?;
    tracing::info!(
        routes = ?registry.route_names(),
        dir = %config.bots_dir.display(),
        "bots folder loaded and watched"
    );

    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| ServeError::Listen {
            addr: config.listen,
            source,
        })?;
    let local = listener.local_addr().map_err(ServeError::Serve)?;
    let http = http_client()?;
    let directline = {
        let (secret, lifetime, retention) = (
            config.directline_secret.clone(),
            config.directline_token_seconds,
            config.directline_retention,
        );
        let store = database.clone();
        tokio::task::spawn_blocking(move || {
            crate::channels::directline::DirectLine::new(secret, lifetime, retention, store)
        })
        .await
        .map_err(|e| ServeError::DirectLine(e.to_string()))?
        .map_err(|e| ServeError::DirectLine(e.to_string()))?
    };
    directline.listening_on(local);
    let connector = ConnectorClient::new(config.service_urls.clone(), http.clone());
    let tokens = Arc::new(OutboundTokens::new(config.auth.clone(), http.clone()));
    let skills = Arc::new(crate::runtime::SkillCalls {
        conversations: database.clone(),
        tokens: tokens.clone(),
        http: http.clone(),
        host_endpoint: skill_host_endpoint(config.public_url.as_ref(), local),
    });
    let token_service = crate::channels::token_service::TokenServiceClient::new(
        &config.auth.token_service_url,
        http.clone(),
    )
    .map_err(|e| ServeError::TokenService(e.to_string()))?;
    let records = Arc::new(
        crate::storage::group_commit::GroupCommit::start(database.clone())
            .map_err(ServeError::Serve)?,
    );
    let turns = Arc::new(TurnServices {
        runtime,
        registry,
        connector: Arc::new(connector),
        tokens: tokens.clone(),
        token_service: Arc::new(token_service),
        metrics,
        storage: database.clone(),
        transcripts: database.clone(),
        references: database.clone(),
        dedup: crate::turn::dedup::Deduplicator::new(database.clone(), config.dedup_window),
        records,
        outbox: database.clone(),
        accepted: database.clone(),
        background: tokio_util::task::TaskTracker::new(),
        posts: tokio_util::task::TaskTracker::new(),
        owner: crate::support::ids::random_id(),
        relay: Arc::default(),
        lease: config.timer_lease,
        timers: database.clone(),
        directline,
        skills,
    });
    let api = {
        let store = database.clone();
        let key = tokio::task::spawn_blocking(move || store.channel_key())
            .await
            .map_err(|e| ServeError::DirectLine(e.to_string()))??;
        crate::http::conversations::ApiState::new(config.api_key.clone(), &key, database.clone())
    };
    let state = Arc::new(AppState {
        turns: turns.clone(),
        authenticator: Authenticator::new(config.auth.clone(), http),
        admin_token: config.admin_token.clone(),
        api,
        bound_to_loopback: config.listen.ip().is_loopback(),
        insecure_dev: config.insecure_dev,
        max_body_bytes: config.max_body_bytes,
        body_read_timeout: config.connections.body_read_timeout,
    });

    crate::turn::relay::release_claims(&turns).await;
    crate::turn::resume::release_claims(&turns).await;
    crate::turn::scheduler::start(turns.clone());
    crate::turn::relay::start(turns.clone());
    crate::turn::resume::start(turns.clone());
    crate::channels::directline::uploads::start_sweep(
        Arc::downgrade(&turns.directline.uploads),
        std::time::Duration::from_secs(60),
    );

    let shutdown = shutdown_signal();
    tracing::info!("turnbox listening on http://{local}");

    let (stopping_tx, stopping_rx) = tokio::sync::oneshot::channel::<()>();
    let app = router(state.clone());
    let background = turns.background.clone();
    let server = crate::http::server::serve(
        listener,
        app,
        config.connections,
        turns.metrics.clone(),
        async move {
            shutdown.await;
            // No more kept turns are taken up (`turn::resume`); those
            // running finish.
            background.close();
            let _ = stopping_tx.send(());
        },
    );
    let grace = config.shutdown_grace;
    let grace_expired = async move {
        if stopping_rx.await.is_err() {
            std::future::pending::<()>().await;
        }
        tokio::time::sleep(grace).await;
    };
    let background = turns.background.clone();
    let all_turns = async move {
        server.await;
        // Turns whose requests were answered before they ended.
        background.close();
        background.wait().await;
    };
    tokio::select! {
        () = all_turns => {
            tracing::info!("all turns finished; bye");
        }
        _ = grace_expired => {
            tracing::warn!(grace_ms = grace.as_millis() as u64, "turns still running when the shutdown grace ran out; exiting");
        }
    }
    close_committer(&turns).await;
    Ok(())
}

/// The end of a graceful shutdown, within `WAIT`. A turn still running
/// commits nothing more; the replies of turns committed before are posted
/// and recorded as posted, so the next start does not post them again;
/// then the committer stops. Only then are this host's claims handed on,
/// so that a turn another host takes up is not also committed here.
async fn close_committer(turns: &TurnServices) {
    const WAIT: std::time::Duration = std::time::Duration::from_secs(5);
    let until = tokio::time::Instant::now() + WAIT;
    let late = || {
        tracing::warn!(
            "the last turn records were not committed in time; this host's claims lapse with their lease"
        )
    };
    if tokio::time::timeout_at(until, turns.records.close_turns())
        .await
        .is_err()
    {
        return late();
    }
    turns.posts.close();
    if tokio::time::timeout_at(until, turns.posts.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            "replies were still being posted when the shutdown ended; the next start posts them again, with the same ids"
        );
    }
    // The posts' records, submitted before, commit; then it stops (given
    // a second of its own if the posts took the rest).
    let stop = until.max(tokio::time::Instant::now() + std::time::Duration::from_secs(1));
    if tokio::time::timeout_at(stop, turns.records.close())
        .await
        .is_ok()
    {
        crate::support::faults::pause("after-close").await;
        crate::turn::resume::release_own_claims(turns).await;
    } else {
        late();
    }
}

/// The embedded SQLite database in the data folder, or PostgreSQL.
async fn open_database(
    config: &ServeConfig,
) -> Result<Arc<dyn crate::storage::Database>, ServeError> {
    use crate::storage::{PgStorage, SqliteStorage, StorageLocation};
    let location = config.storage.clone();
    let path = config.data_dir.join("state.db");
    let lease = config.timer_lease;
    let ca_file = config.storage_ca_file.clone();
    let options = crate::storage::SqliteOptions {
        exclusive: config.sqlite_exclusive,
    };
    if options.exclusive && location != StorageLocation::Sqlite {
        tracing::warn!("--sqlite-exclusive applies to SQLite only; ignored with PostgreSQL");
    }
    tracing::info!(storage = ?location, exclusive = options.exclusive, "opening the database");
    let opened = tokio::task::spawn_blocking(
        move || -> Result<Arc<dyn crate::storage::Database>, crate::storage::StorageError> {
            Ok(match location {
                StorageLocation::Sqlite => Arc::new(SqliteStorage::open_with(&path, options)?),
                StorageLocation::Postgres(url) => {
                    Arc::new(PgStorage::connect(&url, lease, ca_file.as_deref())?)
                }
            })
        },
    )
    .await
    .map_err(|e| ServeError::Storage(crate::storage::StorageError::Backend(e.to_string())))?;
    Ok(opened?)
}

/// Resolves on SIGTERM or Ctrl-C. The handlers are registered here, before
/// the future is first polled: a signal sent as soon as "listening" is
/// logged (as a supervisor or a test may) must not meet the default action
/// and kill the host without its shutdown.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let signals = {
        use tokio::signal::unix::{SignalKind, signal};
        (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        )
    };
    async move {
        #[cfg(unix)]
        {
            let wait = |s: std::io::Result<tokio::signal::unix::Signal>| async move {
                match s {
                    Ok(mut s) => {
                        s.recv().await;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot listen for a shutdown signal");
                        std::future::pending::<()>().await;
                    }
                }
            };
            let (terminate, interrupt) = signals;
            tokio::select! {
                () = wait(terminate) => {},
                () = wait(interrupt) => {},
            }
        }
        #[cfg(not(unix))]
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
        tracing::info!("shutting down: finishing in-flight turns");
    }
}

/// The `serviceUrl` skills reply to: `{public url}/api/skills`, or the
/// listen address's.
fn skill_host_endpoint(public_url: Option<&url::Url>, local: std::net::SocketAddr) -> String {
    let base = public_url.map_or_else(|| format!("http://{local}"), |u| u.to_string());
    format!("{}/api/skills", base.trim_end_matches('/'))
}
