//! What the benchmarks share: starting the `turnbox` binary on a bots
//! folder, a lean HTTP/1.1 load generator (raw keep-alive connections, one
//! conversation each, a new activity id per request, as channels send), a
//! fast Bot Connector stand-in for normal-mode runs (or `wrk` instead of the
//! load generator: `wrk.rs`), percentiles, and the host's resident memory.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub mod wrk;

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// A built example bot, `target/guests/bots/NAME.wasm`.
pub fn guest(name: &str) -> anyhow::Result<PathBuf> {
    let wasm = root().join(format!("target/guests/bots/{name}.wasm"));
    anyhow::ensure!(
        wasm.is_file(),
        "{} is missing: run guest-examples/build.sh",
        wasm.display()
    );
    Ok(wasm)
}

/// The `turnbox` binary built beside this one (same profile).
pub fn turnbox_binary() -> anyhow::Result<PathBuf> {
    let me = std::env::current_exe()?;
    let binary = me.with_file_name("turnbox");
    if !binary.is_file() {
        bail!(
            "{} is missing: cargo build -p turnbox with the same profile",
            binary.display()
        );
    }
    Ok(binary)
}

pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// The value at fraction `p` of sorted samples.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

/// The path a turnbox host serves the bot `name` on.
pub fn bot_path(name: &str) -> String {
    format!("/api/bots/{name}/messages")
}

/// A running `turnbox serve`, killed when dropped.
pub struct HostProcess {
    child: Child,
    pub port: u16,
}

impl HostProcess {
    /// Starts the host on a free port with `bots` and `data`, logging
    /// warnings only; with `BENCH_HOST_LOG=LEVEL` (a `RUST_LOG` value), at
    /// that level, to this process's output.
    pub fn start(bots: &Path, data: &Path, extra: &[&str]) -> anyhow::Result<Self> {
        Self::spawn(|port| {
            let mut command = Command::new(turnbox_binary()?);
            command
                .args(["serve", "--port", &port.to_string(), "--bots"])
                .arg(bots)
                .arg("--data")
                .arg(data)
                .args(extra)
                .env(
                    "RUST_LOG",
                    std::env::var("BENCH_HOST_LOG").unwrap_or_else(|_| "warn".into()),
                );
            Ok(command)
        })
    }

    /// Spawns the server `command` builds for a free port, its output
    /// discarded (errors go to stderr).
    fn spawn(command: impl FnOnce(u16) -> anyhow::Result<Command>) -> anyhow::Result<Self> {
        let port = free_port()?;
        let mut command = command(port)?;
        if std::env::var_os("BENCH_HOST_LOG").is_none() {
            command.stdout(Stdio::null());
        }
        let child = command
            .spawn()
            .with_context(|| format!("cannot start {:?}", command.get_program()))?;
        Ok(HostProcess { child, port })
    }

    /// Starts the Bot Framework SDK's echo bot in `bench/botbuilder-js`
    /// (botbuilder-js on restify, Node.js) on a free port: the comparison.
    pub fn botbuilder_js() -> anyhow::Result<Self> {
        let dir = root().join("bench/botbuilder-js");
        anyhow::ensure!(
            dir.join("node_modules/botbuilder").is_dir(),
            "{} has no node_modules: run `npm ci` there (cargo xtask bench does)",
            dir.display()
        );
        Self::spawn(|port| {
            let mut command = Command::new("node");
            command
                .arg(dir.join("index.js"))
                .env("PORT", port.to_string())
                .env("NODE_ENV", "production")
                .stderr(Stdio::null());
            Ok(command)
        })
    }

    /// Starts the Bot Framework SDK's echo bot in Python
    /// (`bench/botbuilder-python`: botbuilder-python on aiohttp) on a free
    /// port, from the virtual environment `cargo xtask bench` makes there.
    pub fn botbuilder_python() -> anyhow::Result<Self> {
        let dir = root().join("bench/botbuilder-python");
        let python = dir.join(".venv/bin/python");
        anyhow::ensure!(
            python.is_file(),
            "{} is missing: make the virtual environment (cargo xtask bench does)",
            python.display()
        );
        Self::spawn(|port| {
            let mut command = Command::new(python);
            command
                .arg(dir.join("app.py"))
                .env("PORT", port.to_string())
                .stderr(Stdio::null());
            Ok(command)
        })
    }

    /// Starts `bench-ceiling` (a bare hyper server that answers every
    /// request at once, built beside this binary) on a free port: what any
    /// HTTP server can serve on this machine under the same load.
    pub fn ceiling() -> anyhow::Result<Self> {
        Self::spawn(|port| {
            let mut command = Command::new(turnbox_binary()?.with_file_name("bench-ceiling"));
            command.arg(port.to_string());
            Ok(command)
        })
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits until `/healthz` answers 200; how long since `since`.
    pub async fn wait_ready(&self, since: Instant) -> anyhow::Result<Duration> {
        let deadline = Instant::now() + Duration::from_secs(300);
        loop {
            if let Ok((200, _)) = request(self.addr(), "GET", "/healthz", None).await {
                return Ok(since.elapsed());
            }
            anyhow::ensure!(Instant::now() < deadline, "the host never became ready");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// CPU time the process has used so far (user and system), in seconds.
    pub fn cpu_seconds(&self) -> anyhow::Result<f64> {
        cpu_seconds(&format!("/proc/{}/stat", self.pid()))
    }

    /// Resident memory (VmRSS), in bytes.
    pub fn resident_bytes(&self) -> anyhow::Result<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))?;
        let kib: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .context("no VmRSS in /proc/PID/status")?;
        Ok(kib * 1024)
    }
}

impl Drop for HostProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// User and system CPU seconds from a `/proc/…/stat` file (clock ticks of
/// 1/100 s, as on every Linux this runs on).
pub fn cpu_seconds(stat_file: &str) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(stat_file)?;
    // The fields after the command name, which is in parentheses.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .context("no command name in stat")?
        .1
        .split_whitespace()
        .collect();
    let ticks = |n: usize| -> anyhow::Result<f64> {
        Ok(fields.get(n).context("short stat")?.parse::<f64>()?)
    };
    // utime and stime are fields 14 and 15, so 11 and 12 after the name.
    Ok((ticks(11)? + ticks(12)?) / 100.0)
}

/// One HTTP/1.1 keep-alive connection, requests written and answers read by
/// hand (`httparse` for the head): the load generator must cost the shared
/// cores as little as it can.
pub struct Connection {
    stream: TcpStream,
    buffer: Vec<u8>,
}

impl Connection {
    pub async fn open(addr: SocketAddr) -> anyhow::Result<Self> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Connection {
            stream,
            buffer: Vec::with_capacity(16 << 10),
        })
    }

    /// Sends one request; the answer's status and body.
    pub async fn call(
        &mut self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
    ) -> anyhow::Result<(u16, Vec<u8>)> {
        let body = body.unwrap_or_default();
        let head = format!(
            "{method} {path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
            body.len()
        );
        let mut request = Vec::with_capacity(head.len() + body.len());
        request.extend_from_slice(head.as_bytes());
        request.extend_from_slice(body);
        self.stream.write_all(&request).await?;
        self.buffer.clear();
        loop {
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut response = httparse::Response::new(&mut headers);
            if let httparse::Status::Complete(head_len) = response.parse(&self.buffer)? {
                let status = response.code.unwrap_or(0);
                let length: usize = response
                    .headers
                    .iter()
                    .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                    .and_then(|h| std::str::from_utf8(h.value).ok())
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0);
                while self.buffer.len() < head_len + length {
                    self.read_more().await?;
                }
                let body = self.buffer[head_len..head_len + length].to_vec();
                return Ok((status, body));
            }
            self.read_more().await?;
        }
    }

    async fn read_more(&mut self) -> anyhow::Result<()> {
        let mut chunk = [0u8; 8192];
        let n = self.stream.read(&mut chunk).await?;
        anyhow::ensure!(n > 0, "the host closed the connection");
        self.buffer.extend_from_slice(&chunk[..n]);
        Ok(())
    }
}

/// One request on a new connection.
pub async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&[u8]>,
) -> anyhow::Result<(u16, Vec<u8>)> {
    Connection::open(addr).await?.call(method, path, body).await
}

/// A message `text` (JSON-safe: no quotes or backslashes) for
/// conversation `conversation` with id `id`.
pub fn activity(
    id: &str,
    conversation: &str,
    service_url: &str,
    expect_replies: bool,
    text: &str,
) -> Vec<u8> {
    let mode = if expect_replies {
        r#","deliveryMode":"expectReplies""#
    } else {
        ""
    };
    format!(
        r#"{{"type":"message","id":"{id}","text":"{text}","channelId":"bench","serviceUrl":"{service_url}"{mode},"from":{{"id":"user-{conversation}"}},"recipient":{{"id":"bot"}},"conversation":{{"id":"{conversation}"}}}}"#
    )
    .into_bytes()
}

/// What a load run measured.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LoadResult {
    pub concurrency: usize,
    pub seconds: f64,
    pub turns: usize,
    pub failed: u64,
    pub turns_per_second: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

/// How to load a host.
#[derive(Debug, Clone)]
pub struct Load {
    pub addr: SocketAddr,
    /// The request paths; connection `n` posts to `paths[n % len]`.
    pub paths: Vec<String>,
    pub concurrency: usize,
    pub duration: Duration,
    pub expect_replies: bool,
    pub service_url: String,
    /// Stops after this many turns in all, if set.
    pub max_turns: Option<u64>,
    /// GETs the paths instead of posting activities: HTTP alone, no turn.
    pub get_only: bool,
    /// The messages' text (`hi`; `count` makes the Rust echo bot use state).
    pub text: String,
}

/// Runs `load`: each connection posts one conversation's turns back to
/// back; every answer must be 2xx (others count as failed; the Python SDK
/// answers a turn in normal mode with 201).
pub async fn run_load(load: &Load, run: &str) -> anyhow::Result<LoadResult> {
    if wrk::applies(load) {
        return wrk::run(load).await;
    }
    let sent = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let end = started + load.duration;
    let mut workers = Vec::new();
    for worker in 0..load.concurrency {
        let load = load.clone();
        let (run, sent) = (run.to_owned(), sent.clone());
        workers.push(tokio::spawn(async move {
            let path = load.paths[worker % load.paths.len()].clone();
            let conversation = format!("{run}-c{worker}");
            let mut micros = Vec::with_capacity(1 << 16);
            let mut failed = 0u64;
            let mut connection = Connection::open(load.addr).await?;
            let mut n = 0u64;
            while Instant::now() < end {
                if load
                    .max_turns
                    .is_some_and(|max| sent.fetch_add(1, Ordering::Relaxed) >= max)
                {
                    break;
                }
                n += 1;
                let begun;
                let call = if load.get_only {
                    begun = Instant::now();
                    connection.call("GET", &path, None).await
                } else {
                    let body = activity(
                        &format!("{run}-{worker}-{n}"),
                        &conversation,
                        &load.service_url,
                        load.expect_replies,
                        &load.text,
                    );
                    begun = Instant::now();
                    connection.call("POST", &path, Some(&body)).await
                };
                match call {
                    Ok((200..=299, _)) => micros.push(begun.elapsed().as_secs_f64() * 1e6),
                    Ok(_) => failed += 1,
                    Err(_) => {
                        failed += 1;
                        connection = Connection::open(load.addr).await?;
                    }
                }
            }
            anyhow::Ok((micros, failed))
        }));
    }
    let (mut micros, mut failed) = (Vec::new(), 0);
    for worker in workers {
        let (m, f) = worker.await??;
        micros.extend(m);
        failed += f;
    }
    let seconds = started.elapsed().as_secs_f64();
    micros.sort_by(f64::total_cmp);
    Ok(LoadResult {
        concurrency: load.concurrency,
        seconds,
        turns: micros.len(),
        failed,
        turns_per_second: micros.len() as f64 / seconds,
        p50_ms: percentile(&micros, 0.5) / 1e3,
        p99_ms: percentile(&micros, 0.99) / 1e3,
    })
}

/// A Bot Connector stand-in that answers every call at once with
/// `{"id": …}` and counts the calls: the channel side of normal-mode runs.
pub struct FastConnector {
    pub addr: SocketAddr,
    pub calls: Arc<AtomicU64>,
}

impl FastConnector {
    pub async fn start() -> anyhow::Result<Self> {
        Self::start_on(0).await
    }

    /// The same on loopback port `port` (0: a free one).
    pub async fn start_on(port: u16) -> anyhow::Result<Self> {
        use hyper::service::service_fn;
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        let addr = listener.local_addr()?;
        let calls = Arc::new(AtomicU64::new(0));
        let counted = calls.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let counted = counted.clone();
                tokio::spawn(async move {
                    let service =
                        service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                            let counted = counted.clone();
                            async move {
                                use http_body_util::BodyExt;
                                let _ = request.into_body().collect().await;
                                let n = counted.fetch_add(1, Ordering::Relaxed);
                                let body = format!(r#"{{"id":"reply-{n}"}}"#);
                                hyper::Response::builder()
                                    .header("content-type", "application/json")
                                    .body(http_body_util::Full::new(hyper::body::Bytes::from(body)))
                            }
                        });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(FastConnector { addr, calls })
    }

    pub fn service_url(&self) -> String {
        format!("http://{}/", self.addr)
    }
}
