//! Starting the host: the engine, the bots, the connector client and the
//! HTTP listener, and shutting down on Ctrl-C or SIGTERM.

use std::sync::Arc;

use crate::config::ServeConfig;
use crate::connector::{Anonymous, ConnectorClient};
use crate::engine::Runtime;
use crate::ingress::{AppState, router};
use crate::registry::BotRegistry;

/// Why the host could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Engine(#[from] crate::engine::EngineError),
    #[error(transparent)]
    Registry(#[from] crate::registry::RegistryError),
    #[error(transparent)]
    Connector(#[from] crate::connector::ConnectorError),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("the server failed: {0}")]
    Serve(std::io::Error),
}

/// Loads the bots and serves until a shutdown signal.
pub async fn serve(config: ServeConfig) -> Result<(), ServeError> {
    let runtime = Arc::new(Runtime::new(config.limits.memory_bytes)?);
    tracing::info!(pooling = runtime.pooling, "engine ready");
    let registry = BotRegistry::load_dir(
        runtime.clone(),
        &config.bots_dir,
        config.default_bot.clone(),
    )
    .await?;
    let loaded: Vec<&str> = registry.names().collect();
    tracing::info!(bots = ?loaded, dir = %config.bots_dir.display(), "bots folder loaded");

    // Inbound authentication and outbound tokens are not implemented yet:
    // every bot runs in dev mode, anonymous, with the allowlist in force.
    let connector = ConnectorClient::new(config.service_urls.clone(), Arc::new(Anonymous))?;
    let state = Arc::new(AppState {
        runtime,
        registry: Arc::new(registry),
        connector: Arc::new(connector),
        limits: config.limits,
        max_body_bytes: config.max_body_bytes,
    });

    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| ServeError::Listen {
            addr: config.listen,
            source,
        })?;
    let local = listener.local_addr().map_err(ServeError::Serve)?;
    tracing::info!("turnbox listening on http://{local}");
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown_signal())
        .await
        .map_err(ServeError::Serve)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down: finishing in-flight turns");
}
