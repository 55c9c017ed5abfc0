//! PostgreSQL: the storage suite against a throwaway cluster, timer claims
//! that lapse when their host dies, and several turnbox hosts sharing one
//! database: state, de-duplication, timers and Direct Line conversations
//! correct across hosts, and a host killed mid-run loses no answered turn.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use axum::http::StatusCode;
use serde_json::{Value, json};
use turnbox::storage::PgStorage;
use turnbox::storage::timers::{Timer, TimerStore};

use crate::support::*;

/// A PostgreSQL cluster of its own in a temporary folder, on a free
/// loopback port, stopped on drop. As root it runs as the `postgres` user
/// (PostgreSQL refuses to run as root). Needs Debian's `postgresql`
/// package (`cargo xtask test` installs it).
pub struct PgCluster {
    bin: PathBuf,
    data: PathBuf,
    as_postgres: bool,
    pub port: u16,
    _dir: tempfile::TempDir,
}

impl PgCluster {
    pub fn start() -> PgCluster {
        PgCluster::launch(false).0
    }

    /// A cluster that also speaks TLS, with a certificate for 127.0.0.1
    /// from a CA of its own; also returns the CA's PEM file.
    pub fn start_with_tls() -> (PgCluster, PathBuf) {
        let (cluster, ca) = PgCluster::launch(true);
        (cluster, ca.expect("the CA file"))
    }

    fn launch(tls: bool) -> (PgCluster, Option<PathBuf>) {
        let bin = postgres_bin_dir();
        let dir = tempfile::tempdir().expect("temp dir");
        let as_postgres = is_root();
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        if as_postgres {
            // The postgres user must reach and own its folder.
            run(Command::new("chmod").arg("755").arg(dir.path()));
            run(Command::new("chown").arg("postgres:").arg(&data));
        }
        let port = free_port();
        let cluster = PgCluster {
            bin,
            data,
            as_postgres,
            port,
            _dir: dir,
        };
        run(cluster
            .command("initdb")
            .arg("-D")
            .arg(&cluster.data)
            .args(["-U", "turnbox", "--auth=trust", "-E", "UTF8", "--no-sync"]));
        let mut options = format!(
            "-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c fsync=off -c max_connections=200"
        );
        let ca = tls.then(|| {
            let ca = cluster.make_certificates();
            options.push_str(" -c ssl=on -c ssl_cert_file=server.pem -c ssl_key_file=server.key");
            ca
        });
        let log = cluster.data.join("server.log");
        run(cluster
            .command("pg_ctl")
            .arg("-D")
            .arg(&cluster.data)
            .arg("-l")
            .arg(&log)
            .arg("-o")
            .arg(options)
            .args(["-w", "-t", "60", "start"]));
        (cluster, ca)
    }

    /// A CA and a server certificate for 127.0.0.1 signed by it (openssl);
    /// the server's pair goes into the data folder. Returns the CA's PEM.
    fn make_certificates(&self) -> PathBuf {
        let dir = self.data.parent().unwrap().join("tls");
        std::fs::create_dir(&dir).unwrap();
        let path = |name: &str| dir.join(name);
        run(Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            ])
            .args(["-subj", "/CN=turnbox test CA", "-keyout"])
            .arg(path("ca.key"))
            .arg("-out")
            .arg(path("ca.pem")));
        run(Command::new("openssl")
            .args([
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-subj",
                "/CN=127.0.0.1",
                "-keyout",
            ])
            .arg(path("server.key"))
            .arg("-out")
            .arg(path("server.csr")));
        std::fs::write(
            path("server.ext"),
            "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
        )
        .unwrap();
        run(Command::new("openssl")
            .args(["x509", "-req", "-days", "2", "-in"])
            .arg(path("server.csr"))
            .arg("-CA")
            .arg(path("ca.pem"))
            .arg("-CAkey")
            .arg(path("ca.key"))
            .args(["-CAcreateserial", "-out"])
            .arg(path("server.pem"))
            .arg("-extfile")
            .arg(path("server.ext")));
        for name in ["server.pem", "server.key"] {
            std::fs::copy(path(name), self.data.join(name)).unwrap();
            if self.as_postgres {
                run(Command::new("chown")
                    .arg("postgres:")
                    .arg(self.data.join(name)));
            }
        }
        run(Command::new("chmod")
            .arg("600")
            .arg(self.data.join("server.key")));
        path("ca.pem")
    }

    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        if self.as_postgres {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(path);
            command
        } else {
            Command::new(path)
        }
    }

    /// A new, empty database in the cluster; its URL.
    pub fn database(&self, name: &str) -> String {
        let admin_url = format!(
            "host=127.0.0.1 port={} user=turnbox dbname=postgres",
            self.port
        );
        let create = format!("CREATE DATABASE {name}");
        // The blocking client runs a runtime of its own: not on the test's.
        std::thread::spawn(move || {
            let mut admin = postgres::Client::connect(&admin_url, postgres::NoTls)
                .expect("connect to the test cluster");
            admin.batch_execute(&create).expect("create database");
        })
        .join()
        .expect("create the test database");
        format!("postgres://turnbox@127.0.0.1:{}/{name}", self.port)
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let _ = self
            .command("pg_ctl")
            .arg("-D")
            .arg(&self.data)
            .args(["-m", "immediate", "-w", "stop"])
            .output();
    }
}

fn run(command: &mut Command) {
    let output = command.output().expect("run a PostgreSQL tool");
    assert!(
        output.status.success(),
        "{command:?} failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Debian's /usr/lib/postgresql/VERSION/bin (the newest), else the PATH's.
fn postgres_bin_dir() -> PathBuf {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
                .filter(|bin| bin.join("initdb").exists())
                .collect()
        })
        .unwrap_or_default();
    versions.sort_by_key(|bin| {
        bin.parent()
            .and_then(Path::file_name)
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    });
    versions.pop().unwrap_or_else(|| {
        let found = Command::new("sh")
            .args(["-c", "command -v initdb"])
            .output()
            .expect("sh");
        let path = String::from_utf8_lossy(&found.stdout).trim().to_owned();
        assert!(
            !path.is_empty(),
            "PostgreSQL is not installed (apt-get install postgresql)"
        );
        PathBuf::from(path).parent().unwrap().to_path_buf()
    })
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn postgres_passes_the_storage_suite_and_migrates_once() {
    let cluster = PgCluster::start();
    let url = cluster.database("suite");
    let storage = tokio::task::spawn_blocking(move || {
        let storage = PgStorage::connect(&url, Duration::from_secs(60), None).unwrap();
        crate::storage_suite::conformance(&storage);
        // A second host connecting finds the schema current.
        let second = PgStorage::connect(&url, Duration::from_secs(60), None).unwrap();
        assert_eq!(second.schema_version().unwrap(), 8);
        drop(second);
        // Migration 8: a database at version 7 loses the exchanged SSO ids
        // an older host kept in a bot's state, and keeps the bot's state.
        let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        client
            .batch_execute(
                "DELETE FROM turnbox_schema WHERE version = 8;
                 INSERT INTO state_items (namespace, key, value, version, updated) VALUES
                   ('old', 'turnbox/signin-token-exchange/msteams/c/1', '{}', 1, 0),
                   ('old', 'msteams/conversations/c/state', '{}', 2, 0);",
            )
            .unwrap();
        let third = PgStorage::connect(&url, Duration::from_secs(60), None).unwrap();
        assert_eq!(third.schema_version().unwrap(), 8);
        let keys: Vec<String> = client
            .query("SELECT key FROM state_items WHERE namespace = 'old'", &[])
            .unwrap()
            .iter()
            .map(|row| row.get(0))
            .collect();
        assert_eq!(keys, ["msteams/conversations/c/state"]);
        storage
    })
    .await
    .unwrap();
    drop(storage);
}

#[tokio::test]
async fn connections_use_tls_verified_against_the_given_ca() {
    let (cluster, ca) = PgCluster::start_with_tls();
    let url = format!("{}?sslmode=require", cluster.database("tls"));
    tokio::task::spawn_blocking(move || {
        let storage = PgStorage::connect(&url, Duration::from_secs(60), Some(&ca)).unwrap();
        assert!(storage.connection_is_encrypted().unwrap());
        crate::storage_suite::state_conformance(&storage);
        // The public roots alone do not vouch for this server.
        let refused = PgStorage::connect(&url, Duration::from_secs(60), None)
            .err()
            .expect("an unknown CA was accepted");
        assert!(
            refused.to_string().to_lowercase().contains("certificate"),
            "{refused}"
        );
    })
    .await
    .unwrap();
    // Without TLS on the server, a URL that requires it is refused, and one
    // that does not is served in plain text (the default, `prefer`).
    let plain = PgCluster::start();
    let url = plain.database("plain");
    tokio::task::spawn_blocking(move || {
        let refused = PgStorage::connect(
            &format!("{url}?sslmode=require"),
            Duration::from_secs(60),
            None,
        );
        assert!(refused.is_err());
        let storage = PgStorage::connect(&url, Duration::from_secs(60), None).unwrap();
        assert!(!storage.connection_is_encrypted().unwrap());
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn a_dead_hosts_timer_claim_lapses_and_another_host_fires_it() {
    let cluster = PgCluster::start();
    let url = cluster.database("lease");
    tokio::task::spawn_blocking(move || {
        let lease = Duration::from_millis(1500);
        let host_a = PgStorage::connect(&url, lease, None).unwrap();
        let host_b = PgStorage::connect(&url, lease, None).unwrap();
        let now = || {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis() as i64
        };
        host_a
            .schedule(&Timer {
                id: "t".into(),
                bot: "b".into(),
                due: now() - 1,
                name: "n".into(),
                value: None,
                reference: json!({}),
            })
            .unwrap();
        assert_eq!(host_a.claim_due(now(), 10).unwrap().len(), 1);
        // Host A "dies" holding the claim: host B cannot take the timer
        // while the lease holds, and takes it over once it lapsed.
        assert!(host_b.claim_due(now(), 10).unwrap().is_empty());
        host_b.release_all().unwrap();
        assert!(
            host_b.claim_due(now(), 10).unwrap().is_empty(),
            "a starting host released another's live claim"
        );
        std::thread::sleep(lease + Duration::from_millis(200));
        assert_eq!(host_b.claim_due(now(), 10).unwrap().len(), 1);
        host_b.complete("t").unwrap();
        assert!(host_a.claim_due(now() + 10_000, 10).unwrap().is_empty());
    })
    .await
    .unwrap();
}

/// `count` bot hosts sharing `url`, each with a bots folder of its own.
fn start_hosts(url: &str, count: usize) -> Vec<Host> {
    (0..count)
        .map(|_| {
            Host::start(
                BotsDir::with(&[("count", "misbehave")]),
                &["--storage", url, "--timer-lease-secs", "5"],
            )
        })
        .collect()
}

fn turn(service_url: &str, conversation: &str, text: &str) -> Value {
    let mut activity = message(service_url, text);
    activity["conversation"]["id"] = json!(conversation);
    activity["from"]["id"] = json!(format!("user-of-{conversation}"));
    activity
}

/// The reply texts the connector received for `conversation`, in order.
fn replies_in(connector: &Connector, conversation: &str) -> Vec<String> {
    let prefix = format!("/v3/conversations/{conversation}/");
    connector
        .received()
        .iter()
        .filter(|r| r.path.starts_with(&prefix))
        .filter_map(|r| r.body["text"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn three_hosts_share_state_deliveries_and_timers() {
    let cluster = PgCluster::start();
    let url = cluster.database("shared");
    let connector = Connector::start().await;
    let service_url = connector.service_url();
    let hosts = std::sync::Arc::new(start_hosts(&url, 3));

    // Each host says which version of the bot it serves: the same file.
    let mut served = Vec::new();
    for host in hosts.iter() {
        served.push(host.bot_status("count").await.expect("count is served")["sha256"].clone());
    }
    assert!(
        served[0].is_string() && served.iter().all(|s| *s == served[0]),
        "{served:?}"
    );

    // 20 conversations at once, each 6 turns round-robin over the hosts.
    const TURNS: usize = 6;
    let mut drivers = Vec::new();
    for c in 0..20 {
        let hosts = hosts.clone();
        let service_url = service_url.clone();
        drivers.push(tokio::spawn(async move {
            let conversation = format!("conv-{c}");
            for t in 0..TURNS {
                let host = &hosts[(c + t) % hosts.len()];
                let (status, body) = post_activity(
                    &host.url("/api/bots/count/messages"),
                    &turn(&service_url, &conversation, "incr conversation counter"),
                )
                .await;
                assert_eq!(status, StatusCode::OK, "{conversation} turn {t}: {body}");
            }
        }));
    }
    for driver in drivers {
        driver.await.unwrap();
    }
    for c in 0..20 {
        let conversation = format!("conv-{c}");
        let expected: Vec<String> = (1..=TURNS).map(|n| format!("counter={n}")).collect();
        assert_eq!(
            replies_in(&connector, &conversation),
            expected,
            "every turn counted once, no reply lost or doubled"
        );
    }

    // A channel's re-delivery to another host gets the first answer.
    let mut delivery = turn(&service_url, "conv-dedup", "incr conversation counter");
    delivery["deliveryMode"] = json!("expectReplies");
    let (first_status, first) =
        post_activity(&hosts[0].url("/api/bots/count/messages"), &delivery).await;
    let (again_status, again) =
        post_activity(&hosts[1].url("/api/bots/count/messages"), &delivery).await;
    assert_eq!(first_status, StatusCode::OK);
    assert_eq!(again_status, first_status);
    assert_eq!(again, first, "the duplicate got the first answer");
    assert_eq!(first["activities"][0]["text"], "counter=1");
    assert!(
        hosts[1].wait_for_log("duplicate delivery").await,
        "host 1 did not take the second delivery for a duplicate"
    );

    // A timer scheduled through one host fires once, on whichever host.
    let (status, _) = post_activity(
        &hosts[2].url("/api/bots/count/messages"),
        &turn(&service_url, "conv-timer", "timer ring 500"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    eventually("the timer fires", || async {
        replies_in(&connector, "conv-timer").len() >= 2
    })
    .await;
    // Every host polls every 200 ms: a second firing would come soon.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        replies_in(&connector, "conv-timer"),
        vec![
            "scheduled ring".to_string(),
            "event ring value=\"ring\"".to_string()
        ]
    );
    for host in hosts.iter() {
        host.assert_no_panic();
    }
}

#[tokio::test]
async fn a_host_killed_mid_run_loses_no_answered_turn() {
    let cluster = PgCluster::start();
    let url = cluster.database("failover");
    let connector = Connector::start().await;
    let service_url = connector.service_url();
    let mut hosts = start_hosts(&url, 3);

    // A timer scheduled through the host about to die, due after it died.
    let (status, _) = post_activity(
        &hosts[0].url("/api/bots/count/messages"),
        &turn(&service_url, "conv-timer", "timer orphan 3000"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    let urls: Vec<String> = hosts
        .iter()
        .map(|h| h.url("/api/bots/count/messages"))
        .collect();
    let progress = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let mut drivers = Vec::new();
    for c in 0..10 {
        let urls = urls.clone();
        let service_url = service_url.clone();
        let progress = progress.clone();
        drivers.push(tokio::spawn(async move {
            let conversation = format!("conv-{c}");
            let (mut answered, mut lost) = (0u32, 0u32);
            for t in 0..60 {
                progress.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let activity = turn(&service_url, &conversation, "incr conversation counter");
                let result = client()
                    .post(&urls[(c + t) % urls.len()])
                    .json(&activity)
                    .send()
                    .await;
                match result {
                    Ok(response) if response.status() == reqwest::StatusCode::OK => answered += 1,
                    // The killed host: refused, reset, or cut mid-answer.
                    _ => lost += 1,
                }
            }
            (conversation, answered, lost)
        }));
    }
    // kill -9, once a sixth of the turns were sent.
    eventually("the run is under way", || async {
        progress.load(std::sync::atomic::Ordering::Relaxed) >= 100
    })
    .await;
    drop(hosts.remove(0));
    let mut results = Vec::new();
    for driver in drivers {
        results.push(driver.await.unwrap());
    }
    let survivor = &hosts[0];
    assert!(
        results.iter().any(|(_, _, lost)| *lost > 0),
        "the kill came after the run"
    );
    for (conversation, answered, lost) in results {
        let mut ask = turn(
            &service_url,
            &conversation,
            "state get conversation counter",
        );
        ask["deliveryMode"] = json!("expectReplies");
        let (status, body) = post_activity(&survivor.url("/api/bots/count/messages"), &ask).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let counter: u32 = body["activities"][0]["text"]
            .as_str()
            .and_then(|t| t.parse().ok())
            .unwrap_or(0);
        // Every answered turn is in the state; a turn cut by the kill may
        // have committed before its answer was lost.
        assert!(
            counter >= answered && counter <= answered + lost,
            "{conversation}: counter {counter}, {answered} answered, {lost} lost"
        );
    }

    // The surviving hosts fire the dead host's timer, once.
    eventually("the orphaned timer fires", || async {
        replies_in(&connector, "conv-timer").len() >= 2
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        replies_in(&connector, "conv-timer"),
        vec![
            "scheduled orphan".to_string(),
            "event orphan value=\"orphan\"".to_string()
        ]
    );
    for host in &hosts {
        host.assert_no_panic();
    }
    // A graceful stop closes the database connections cleanly.
    let stopped = hosts[1].terminate().await;
    assert!(stopped.is_some_and(|s| s.success()), "{}", hosts[1].log());
    hosts[1].assert_no_panic();
}

const DIRECT_LINE_SECRET: &str = "one-secret-for-every-host";

/// What a Direct Line client is shown, one entry per activity: the text, or
/// the type of an activity without one.
fn shown(set: &Value) -> Vec<String> {
    set["activities"]
        .as_array()
        .map(|activities| {
            activities
                .iter()
                .map(|a| {
                    a["text"]
                        .as_str()
                        .or(a["type"].as_str())
                        .unwrap_or_default()
                        .to_owned()
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Reads `socket` until `last` is shown (within 30 s; keep-alives do not
/// count); everything shown on the way.
async fn read_until(socket: &mut DirectLineSocket, last: &str) -> Vec<String> {
    let mut seen = Vec::new();
    let reading = async {
        while !seen.iter().any(|s| s == last) {
            seen.extend(shown(&next_set(socket).await));
        }
    };
    if tokio::time::timeout(Duration::from_secs(30), reading)
        .await
        .is_err()
    {
        panic!("`{last}` never arrived; seen: {seen:?}");
    }
    seen
}

#[tokio::test]
async fn a_direct_line_socket_on_one_host_gets_the_replies_of_turns_on_others() {
    let cluster = PgCluster::start();
    let url = cluster.database("directline");
    let mut hosts: Vec<Host> = (0..3)
        .map(|_| {
            let bots = BotsDir::with(&[("count", "misbehave")]);
            std::fs::write(
                bots.path().join("count.toml"),
                "[middleware]\ntyping = true\n",
            )
            .unwrap();
            Host::start(
                bots,
                &[
                    "--storage",
                    &url,
                    "--timer-lease-secs",
                    "5",
                    "--directline-secret",
                    DIRECT_LINE_SECRET,
                ],
            )
        })
        .collect();
    let base = "/bots/count/v3/directline";

    // The conversation starts on host 0, whose socket the user holds.
    let started: Value = client()
        .post(hosts[0].url(&format!("{base}/conversations")))
        .bearer_auth(DIRECT_LINE_SECRET)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let (id, token) = (
        started["conversationId"].as_str().unwrap().to_owned(),
        started["token"].as_str().unwrap().to_owned(),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(started["streamUrl"].as_str().unwrap())
        .await
        .expect("websocket on host 0");
    let post = |host: &Host, text: &str| {
        let request = client()
            .post(host.url(&format!("{base}/conversations/{id}/activities")))
            .bearer_auth(&token)
            .json(&json!({"type": "message", "from": {"id": "ignored"}, "text": text}));
        async move { read(request.send().await.unwrap()).await }
    };

    // Turns on hosts 1 and 2 (the token, made by host 0, is good there):
    // the socket on host 0 gets the user's message, the bot's typing and
    // its reply, in order.
    let (status, body) = post(&hosts[1], "sleep 1200").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let seen = read_until(&mut socket, "ok: sleep 1200").await;
    assert_eq!(
        seen.first().map(String::as_str),
        Some("sleep 1200"),
        "{seen:?}"
    );
    assert!(
        seen.contains(&"typing".to_string()),
        "the typing of a turn on another host arrives too: {seen:?}"
    );
    for (n, host) in [2, 1, 2].into_iter().enumerate() {
        let (status, body) = post(&hosts[host], "incr conversation counter").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let seen = read_until(&mut socket, &format!("counter={}", n + 1)).await;
        assert_eq!(
            seen,
            [
                "incr conversation counter".to_string(),
                format!("counter={}", n + 1)
            ],
            "each turn's message and reply once, in order"
        );
    }

    // Every host reads the same log, with the same ids and watermark.
    let mut logs = Vec::new();
    for host in &hosts {
        let (status, log) = read(
            client()
                .get(host.url(&format!("{base}/conversations/{id}/activities")))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{log}");
        logs.push(log);
    }
    assert_eq!(logs[0]["watermark"], "8", "{}", logs[0]);
    assert!(logs.iter().all(|log| *log == logs[0]));

    // A timer set in a turn on host 2, which then dies: another host fires
    // it, and its reply still reaches the socket on host 0.
    let (status, body) = post(&hosts[2], "timer ring 1500").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        read_until(&mut socket, "scheduled ring").await,
        ["timer ring 1500", "scheduled ring"]
    );
    drop(hosts.remove(2)); // kill -9
    assert_eq!(
        read_until(&mut socket, "event ring value=\"ring\"").await,
        ["event ring value=\"ring\""]
    );
    for host in &hosts {
        host.assert_no_panic();
    }
}
