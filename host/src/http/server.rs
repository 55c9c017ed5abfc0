//! The HTTP/1.1 server under the router, and the limits that protect it
//! from slow or greedy clients: at most `max_connections` connections at
//! once (past the cap a connection gets a short 503 with `Retry-After` and
//! is closed), a deadline for every request head (slowloris: hyper closes
//! the connection), and a graceful drain on shutdown. Request bodies are
//! read within their own deadline and limit in `body.rs`.
//!
//! HTTP/2 and TLS belong to the proxy or load balancer in front of the host;
//! WebSocket upgrades (Direct Line streams) are served.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tower::ServiceExt;

use crate::support::metrics::Metrics;

/// How many connections the host serves and how long it waits for clients.
#[derive(Clone, Copy, Debug)]
pub struct ConnectionLimits {
    /// Connections served at once (Direct Line streams count too).
    pub max_connections: usize,
    /// From the first byte a connection may send (or the end of its last
    /// response) to the end of the request head; idle keep-alive
    /// connections are closed after it too.
    pub header_read_timeout: Duration,
    /// From the end of the request head to the end of its body.
    pub body_read_timeout: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            max_connections: 4096,
            header_read_timeout: Duration::from_secs(15),
            body_read_timeout: Duration::from_secs(30),
        }
    }
}

/// Connections turned away at the cap are answered by at most this many
/// small tasks at once; past it they are closed without an answer.
const MAX_TURN_AWAY_TASKS: usize = 64;

/// How long a turned-away connection may take to be told so.
const TURN_AWAY_TIMEOUT: Duration = Duration::from_secs(2);

/// Serves `app` on `listener` until `shutdown` resolves, then stops
/// accepting and waits for the open connections to finish their requests.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    metrics: Arc<Metrics>,
    shutdown: impl Future<Output = ()>,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let turn_away_slots = Arc::new(Semaphore::new(MAX_TURN_AWAY_TASKS));
    // Every connection task holds a receiver: the sender learns both when
    // to signal a drain (send) and when the last connection ended (closed).
    let (drain_tx, drain_rx) = watch::channel(false);
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true);
    let http = Arc::new(http);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    pause_after_accept_error(err).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Small requests and answers go out at once.
        let _ = stream.set_nodelay(true);
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            metrics.connections_refused.inc();
            tracing::warn!(%remote, max = limits.max_connections, "connection refused: too many connections");
            if let Ok(task) = turn_away_slots.clone().try_acquire_owned() {
                tokio::spawn(async move {
                    let _ = tokio::time::timeout(TURN_AWAY_TIMEOUT, turn_away(stream)).await;
                    drop(task);
                });
            }
            continue;
        };
        let service =
            app.clone()
                .map_request(move |mut request: Request<hyper::body::Incoming>| {
                    // For extractors that tell loopback callers apart.
                    request.extensions_mut().insert(ConnectInfo(remote));
                    request.map(Body::new)
                });
        let http = http.clone();
        // Held until the connection ends: the drain waits for every one.
        let alive = drain_rx.clone();
        let mut drain = drain_rx.clone();
        let stream = CountedStream::new(stream, slot, metrics.clone());
        tokio::spawn(async move {
            let _alive = alive;
            let connection = http
                .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service))
                .with_upgrades();
            let mut connection = std::pin::pin!(connection);
            let draining = async move {
                // (A closed channel means the server is gone: drain too.)
                let _ = drain.wait_for(|draining| *draining).await;
            };
            let result = tokio::select! {
                result = connection.as_mut() => result,
                () = draining => {
                    connection.as_mut().graceful_shutdown();
                    connection.as_mut().await
                }
            };
            if let Err(err) = result {
                log_connection_error(&remote, &err);
            }
        });
    }
    drop(listener);
    drop(drain_rx);
    let _ = drain_tx.send(true);
    drain_tx.closed().await;
}

/// A connection's socket holding its slot: the slot is free again when
/// the socket is dropped, after its last request or, for a WebSocket,
/// after the upgraded stream ends.
struct CountedStream {
    stream: TcpStream,
    _slot: OwnedSemaphorePermit,
    metrics: Arc<Metrics>,
}

impl CountedStream {
    fn new(stream: TcpStream, slot: OwnedSemaphorePermit, metrics: Arc<Metrics>) -> Self {
        metrics.connections_open.inc();
        CountedStream {
            stream,
            _slot: slot,
            metrics,
        }
    }
}

impl Drop for CountedStream {
    fn drop(&mut self) {
        self.metrics.connections_open.dec();
    }
}

impl AsyncRead for CountedStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for CountedStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// Accept fails when the process is out of file descriptors (or a
/// connection died before it was accepted); wait a moment rather than spin.
async fn pause_after_accept_error(err: std::io::Error) {
    use std::io::ErrorKind;
    match err.kind() {
        ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset | ErrorKind::Interrupted => {}
        _ => {
            tracing::error!(error = %err, "cannot accept connections; retrying in 1 s");
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
}

fn log_connection_error(remote: &SocketAddr, err: &hyper::Error) {
    if err.is_timeout() {
        tracing::info!(%remote, "connection closed: the request head did not arrive in time");
    } else {
        tracing::debug!(%remote, error = %err, "connection ended with an error");
    }
}

/// Tells a connection past the cap to come back later: reads what the
/// client has sent so far (closing with unread data would reset the
/// connection and lose the answer), answers 503, and closes.
async fn turn_away(mut stream: TcpStream) {
    let body = serde_json::json!({"error": {
        "code": "TooManyConnections",
        "message": "the host is serving as many connections as it may; retry later",
    }})
    .to_string();
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
         retry-after: 1\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut sink = [0u8; 4096];
    let _ = tokio::time::timeout(Duration::from_millis(200), stream.read(&mut sink)).await;
    if stream.write_all(answer.as_bytes()).await.is_err() {
        return;
    }
    let _ = stream.shutdown().await;
    // Drain what is left so that the close is orderly.
    while matches!(stream.read(&mut sink).await, Ok(n) if n > 0) {}
}
