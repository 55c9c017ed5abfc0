//! Test support: building the guest bots, starting the host, and a stand-in
//! Bot Connector.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{Method, StatusCode, Uri};
use axum::response::IntoResponse;
use serde_json::{Value, json};

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the host crate lives in the workspace")
        .to_path_buf()
}

/// Builds every guest once per test run (`guest-examples/build.sh`, as
/// `cargo xtask guests` does) and returns the folder of `.wasm` files.
pub fn guest_dir() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let root = root();
        let out = root.join("target").join("guests").join("bots");
        let status = Command::new("bash")
            .arg(root.join("guest-examples").join("build.sh"))
            .arg(&out)
            .env_remove("RUSTFLAGS")
            .env_remove("CARGO_ENCODED_RUSTFLAGS")
            .env_remove("CARGO_TARGET_DIR")
            .status()
            .expect("bash runs");
        assert!(status.success(), "building the guests failed");
        out
    })
}

/// The path of a built guest, e.g. `guest("rust-echo")`.
pub fn guest(name: &str) -> PathBuf {
    let path = guest_dir().join(format!("{name}.wasm"));
    assert!(path.is_file(), "{} was not built", path.display());
    path
}

/// A temporary bots folder.
pub struct BotsDir {
    pub dir: tempfile::TempDir,
}

impl BotsDir {
    /// A folder holding `(bot name, guest)` pairs.
    pub fn with(bots: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        for (name, guest_name) in bots {
            std::fs::copy(guest(guest_name), dir.path().join(format!("{name}.wasm")))
                .expect("copy guest");
        }
        BotsDir { dir }
    }

    /// A folder holding one bot, `name`, built from `guest`, with
    /// `manifest` as its `name.toml`.
    pub fn with_manifest(name: &str, guest_name: &str, manifest: &str) -> Self {
        let bots = BotsDir::with(&[(name, guest_name)]);
        std::fs::write(bots.path().join(format!("{name}.toml")), manifest).expect("write manifest");
        bots
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// A running `turnbox serve`, killed on drop.
pub struct Host {
    child: Child,
    pub addr: SocketAddr,
    log: Arc<Mutex<Vec<String>>>,
    /// The threads reading its stdout and stderr into `log`.
    readers: Vec<std::thread::JoinHandle<()>>,
    _bots: Option<BotsDir>,
    _data: Option<tempfile::TempDir>,
}

impl Host {
    /// Starts the host on a free port, serving `bots`, with extra flags and
    /// a data folder of its own.
    pub fn start(bots: BotsDir, args: &[&str]) -> Host {
        Host::start_with(bots, args, &[])
    }

    /// As `start`, with extra environment variables.
    /// Hosts started this way share one compile cache (`--cache-dir`), so
    /// each guest compiles once per test run, not once per test; a test
    /// about the cache passes a `--cache-dir` of its own, or keeps its data
    /// folder (`start_in`).
    pub fn start_with(bots: BotsDir, args: &[&str], env: &[(&str, &str)]) -> Host {
        let data = tempfile::tempdir().expect("temp dir");
        let cache = shared_compile_cache();
        let mut env = env.to_vec();
        env.push(("TURNBOX_CACHE_DIR", cache.to_str().expect("UTF-8 path")));
        let mut host = Host::start_with_env(bots.path(), data.path(), args, &env);
        host._bots = Some(bots);
        host._data = Some(data);
        host
    }

    /// Starts the host on folders the caller keeps.
    pub fn start_in(bots: &Path, data: &Path, args: &[&str]) -> Host {
        Host::start_with_env(bots, data, args, &[])
    }

    /// Starts the host on folders the caller keeps, with extra environment
    /// variables (e.g. `TURNBOX_FAULT`).
    pub fn start_with_env(bots: &Path, data: &Path, args: &[&str], env: &[(&str, &str)]) -> Host {
        let mut child = Command::new(env!("CARGO_BIN_EXE_turnbox"))
            .arg("serve")
            .arg("--bots")
            .arg(bots)
            .arg("--data")
            .arg(data)
            .args(["--bind", "127.0.0.1"])
            // A free port, unless the test names one (to restart on it).
            .args(if args.contains(&"--port") {
                &[][..]
            } else {
                &["--port", "0"][..]
            })
            .args(args)
            .env("RUST_LOG", "info,turnbox::turn::dispatch=debug")
            .envs(env.iter().copied())
            .env_remove("PORT")
            .env_remove("MicrosoftAppId")
            .env_remove("MicrosoftAppPassword")
            .env_remove("MicrosoftAppTenantId")
            .env_remove("MicrosoftAppType")
            .env_remove("ChannelService")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start turnbox");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let mut readers = Vec::new();
        for stream in [
            Box::new(child.stdout.take().expect("stdout")) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().expect("stderr")),
        ] {
            let log = log.clone();
            let addr_tx = addr_tx.clone();
            readers.push(std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    if let Some(rest) = line.split("turnbox listening on http://").nth(1) {
                        let _ = addr_tx.send(rest.trim().to_string());
                    }
                    log.lock().unwrap().push(line);
                }
            }));
        }
        let addr = match addr_rx.recv_timeout(Duration::from_secs(180)) {
            Ok(addr) => addr.parse().expect("listen address"),
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "turnbox did not start; log:\n{}",
                    log.lock().unwrap().join("\n")
                );
            }
        };
        Host {
            child,
            addr,
            log,
            readers,
            _bots: None,
            _data: None,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Everything the host has logged so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// Waits (bounded) until the log contains `needle`; logs arrive
    /// asynchronously.
    pub async fn wait_for_log(&self, needle: &str) -> bool {
        self.wait_for_count(needle, 1).await >= 1
    }

    /// Waits (bounded) until `needle` occurs at least `count` times in
    /// the log, and answers how many times it occurs then.
    pub async fn wait_for_count(&self, needle: &str, count: usize) -> usize {
        let until = Instant::now() + Duration::from_secs(20);
        loop {
            let seen = self.log().matches(needle).count();
            if seen >= count || Instant::now() >= until {
                return seen;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM and waits (bounded) for the process to exit.
    pub async fn terminate(&mut self) -> Option<std::process::ExitStatus> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status();
        let until = Instant::now() + Duration::from_secs(30);
        while Instant::now() < until {
            if let Ok(Some(status)) = self.child.try_wait() {
                self.drain_log().await;
                return Some(status);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        None
    }

    /// Waits (up to 30 s) for the process to end by itself, e.g. at an
    /// injected fault.
    pub async fn wait_exit(&mut self) -> Option<std::process::ExitStatus> {
        let until = Instant::now() + Duration::from_secs(30);
        while Instant::now() < until {
            if let Ok(Some(status)) = self.child.try_wait() {
                self.drain_log().await;
                return Some(status);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        None
    }

    /// Waits (bounded) until the log readers reached the end of the exited
    /// process's output, so its last lines are in the log.
    async fn drain_log(&self) {
        let until = Instant::now() + Duration::from_secs(5);
        while !self.readers.iter().all(|r| r.is_finished()) && Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// `GET path`: the body as text.
    pub async fn get_text(&self, path: &str) -> String {
        client()
            .get(self.url(path))
            .send()
            .await
            .expect("get")
            .text()
            .await
            .expect("body")
    }

    /// `GET /api/bots`, the bot named `name`.
    pub async fn bot_status(&self, name: &str) -> Option<Value> {
        let (_, body) = read(client().get(self.url("/api/bots")).send().await.ok()?).await;
        body["bots"]
            .as_array()?
            .iter()
            .find(|bot| bot["name"] == name)
            .cloned()
    }

    /// Posts `text` under `expectReplies` to `route`; returns the status and
    /// the text of the first reply, if any.
    pub async fn ask(&self, route: &str, text: &str) -> (StatusCode, Option<String>) {
        let mut activity = message("http://127.0.0.1:9/", text);
        activity["deliveryMode"] = json!("expectReplies");
        let (status, body) =
            post_activity(&self.url(&format!("/api/bots/{route}/messages")), &activity).await;
        let text = body["activities"][0]["text"].as_str().map(str::to_owned);
        (status, text)
    }

    /// Asserts that the host itself never panicked. A bot's own panic
    /// message arrives through its stderr (`turnbox::runtime::guest_log`) and is
    /// not a host panic.
    pub fn assert_no_panic(&self) {
        let log = self.log.lock().unwrap();
        let host_panics: Vec<&String> = log
            .iter()
            .filter(|line| {
                line.contains("panicked") && !line.contains("turnbox::runtime::guest_log")
            })
            .collect();
        assert!(
            host_panics.is_empty(),
            "the host panicked: {host_panics:#?}"
        );
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The compile cache the hosts of this test run share:
/// `target/tmp/e2e-compile-cache`, emptied once per run.
pub fn shared_compile_cache() -> &'static Path {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let dir = root().join("target/tmp/e2e-compile-cache");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("the shared compile cache");
        dir
    })
}

/// One request the stand-in connector received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: Method,
    /// The path as sent, still percent-encoded.
    pub path: String,
    pub authorization: Option<String>,
    pub body: Value,
    /// When it arrived.
    pub at: Instant,
}

/// How the stand-in connector fails a request.
#[derive(Debug, Clone)]
pub enum Failure {
    /// An error status with an `ErrorResponse` body.
    Status(StatusCode),
    /// An error status with a `Retry-After` header of this value.
    RetryAfter(StatusCode, &'static str),
    /// An error status with a `Retry-After` HTTP date this far ahead.
    RetryAfterDate(StatusCode, Duration),
    /// The connection breaks before a whole answer was sent.
    Reset,
    /// No answer at all (until the client gives up).
    Hang,
    /// Not a failure: answered as usual, only this late (a slow channel).
    Late(Duration),
}

#[derive(Default)]
struct ConnectorState {
    received: Vec<Recorded>,
    /// Failures to answer with before answering 200, one per request.
    failures: Vec<Failure>,
}

/// A stand-in Bot Connector: records every request and answers
/// `ResourceResponse`s.
pub struct Connector {
    pub addr: SocketAddr,
    state: Arc<Mutex<ConnectorState>>,
    _server: tokio::task::JoinHandle<()>,
}

impl Connector {
    pub async fn start() -> Connector {
        let state = Arc::new(Mutex::new(ConnectorState::default()));
        let app = Router::new().fallback(record).with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Connector {
            addr,
            state,
            _server: server,
        }
    }

    /// The `serviceUrl` to put on activities, with a trailing slash as real
    /// channels send it.
    pub fn service_url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// The next `statuses.len()` requests fail with these statuses.
    pub fn fail_next(&self, statuses: &[StatusCode]) {
        self.fail_next_with(statuses.iter().map(|s| Failure::Status(*s)).collect());
    }

    /// The next `failures.len()` requests fail in these ways.
    pub fn fail_next_with(&self, failures: Vec<Failure>) {
        self.state.lock().unwrap().failures = failures;
    }

    pub fn received(&self) -> Vec<Recorded> {
        self.state.lock().unwrap().received.clone()
    }
}

async fn record(
    State(state): State<Arc<Mutex<ConnectorState>>>,
    method: Method,
    uri: Uri,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> axum::response::Response {
    let failure = {
        let mut state = state.lock().unwrap();
        let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
        state.received.push(Recorded {
            method,
            path: uri.path().to_string(),
            authorization: headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            body,
            at: Instant::now(),
        });
        (!state.failures.is_empty()).then(|| state.failures.remove(0))
    };
    let error_body =
        || axum::Json(json!({"error": {"code": "ServiceUnavailable", "message": "try again"}}));
    match failure {
        None => {}
        Some(Failure::Status(status)) => return (status, error_body()).into_response(),
        Some(Failure::RetryAfter(status, after)) => {
            return (status, [("retry-after", after)], error_body()).into_response();
        }
        Some(Failure::RetryAfterDate(status, ahead)) => {
            let date = httpdate::fmt_http_date(std::time::SystemTime::now() + ahead);
            return (status, [("retry-after", date)], error_body()).into_response();
        }
        Some(Failure::Reset) => {
            // A body that fails after its head: hyper aborts the connection.
            let broken = futures_util::stream::once(async {
                Err::<Bytes, _>(std::io::Error::other("connection reset by the stand-in"))
            });
            return axum::body::Body::from_stream(broken).into_response();
        }
        Some(Failure::Hang) => {
            std::future::pending::<()>().await;
        }
        Some(Failure::Late(after)) => tokio::time::sleep(after).await,
    }
    let state = state.lock().unwrap();
    let id = format!("sent-{}", state.received.len());
    axum::Json(json!({ "id": id })).into_response()
}

/// Runs a test's set-up script (`path` from the repository root), which
/// installs what the test needs when it is missing; panics if it fails.
pub async fn run_setup_script(path: &str) {
    let script = root().join(path);
    let status = tokio::task::spawn_blocking(move || {
        std::process::Command::new("bash").arg(script).status()
    })
    .await
    .unwrap()
    .expect("bash runs");
    assert!(
        status.success(),
        "{path} could not install what the test needs"
    );
}

/// Polls `check` every 50 ms until it holds; panics after 30 s.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let until = Instant::now() + Duration::from_secs(30);
    while Instant::now() < until {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for: {what}");
}

/// Replaces `dir/name` the way build tools do: write a temporary file in the
/// same folder, then rename it over the old one.
pub fn replace_atomically(dir: &Path, name: &str, bytes: &[u8]) {
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, bytes).expect("write temp file");
    std::fs::rename(&tmp, dir.join(name)).expect("rename");
}

/// Rewrites `path` in place in `chunks` writes with pauses between them,
/// the way an editor or a slow copy does.
pub fn write_in_place(path: &Path, bytes: &[u8], chunks: usize) {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .expect("open for writing");
    for chunk in bytes.chunks(bytes.len().div_ceil(chunks).max(1)) {
        file.write_all(chunk).expect("write chunk");
        file.sync_data().expect("sync");
        // Longer than the host's debounce: it sees the half-written file.
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// The texts of a list of activities (an `expectReplies` answer, or what
/// reached the connector), in order; activities without text are skipped.
pub fn reply_texts(list: &[Value]) -> Vec<&str> {
    list.iter().filter_map(|a| a["text"].as_str()).collect()
}

/// A message from a user to the bot, as a channel would send it: each with
/// its own id (`activity/N`), as channels give them.
pub fn message(service_url: &str, text: &str) -> Value {
    static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let id = NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    json!({
        "type": "message",
        "id": format!("activity/{id}"),
        "timestamp": "2026-11-21T10:00:00.000Z",
        "channelId": "test",
        "serviceUrl": service_url,
        "from": {"id": "user-1", "name": "Ada"},
        "recipient": {"id": "bot-1", "name": "Echo", "role": "bot"},
        "conversation": {"id": "a:conv;messageid=7"},
        "locale": "en-GB",
        "text": text
    })
}

/// The path segment of an activity id, as the connector client encodes it.
pub fn encoded_id(activity: &Value) -> String {
    activity["id"]
        .as_str()
        .unwrap_or_default()
        .replace('/', "%2F")
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

/// Posts an activity; returns the status and the body as JSON (`Null` when
/// empty).
pub async fn post_activity(url: &str, activity: &Value) -> (StatusCode, Value) {
    let response = client()
        .post(url)
        .json(activity)
        .send()
        .await
        .expect("post");
    read(response).await
}

pub async fn read(response: reqwest::Response) -> (StatusCode, Value) {
    let status = StatusCode::from_u16(response.status().as_u16()).unwrap();
    let bytes = response.bytes().await.expect("body");
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| panic!("body is not JSON: {}", String::from_utf8_lossy(&bytes)))
    };
    (status, body)
}

/// Asserts a JSON error body `{"error":{"code","message"}}` with `code`.
pub fn assert_error(body: &Value, code: &str) {
    assert_eq!(body["error"]["code"], code, "unexpected error body: {body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "error without a message: {body}"
    );
}

/// A Direct Line stream socket, as a test holds it.
pub type DirectLineSocket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The next `ActivitySet` on a Direct Line stream (keep-alives skipped).
pub async fn next_set(socket: &mut DirectLineSocket) -> Value {
    use futures_util::StreamExt;
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(20), socket.next())
            .await
            .expect("a frame in time")
            .expect("the socket is open")
            .expect("a frame");
        if let tokio_tungstenite::tungstenite::Message::Text(text) = frame {
            if text.is_empty() {
                continue; // keep-alive
            }
            return serde_json::from_str(&text).unwrap();
        }
    }
}
