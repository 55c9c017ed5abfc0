//! A botbuilder-js root calling a turnbox bot as its skill: the SDK's own
//! simple root (`tests/botbuilder-js/root.js`: CloudAdapter,
//! SkillConversationIdFactory, the bot-to-bot client, CloudSkillHandler on
//! ChannelServiceRoutes) forwards the user's messages to `skill-root-rs`
//! (`[config] role = "skill"`) on the real host; the skill's replies come
//! back through botbuilder's skill host and reach the user's conversation
//! at the stand-in connector, and its endOfConversation reaches the root.
//! Both run without app ids: botbuilder-js takes its tokens through MSAL,
//! which needs an https authority and Microsoft's instance discovery, so
//! the tokens between two turnbox bots are tested in `skills.rs` instead.
//! `tests/botbuilder-js/setup.sh` installs the npm packages when missing.

use std::process::{Child, Command};

use serde_json::Value;

use crate::support::*;

/// The botbuilder-js root, stopped on drop.
struct Root {
    child: Child,
    port: u16,
    /// Its standard output and error.
    log: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Root {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Root {
    async fn start(skill_endpoint: String) -> Root {
        let dir = root().join("tests/botbuilder-js");
        run_setup_script("tests/botbuilder-js/setup.sh").await;
        let logs = tempfile::tempdir().unwrap();
        let log = logs.path().join("root.log");
        let out = std::fs::File::create(&log).unwrap();
        let child = Command::new("node")
            .arg(dir.join("root.js"))
            .env("SKILL_ENDPOINT", skill_endpoint)
            .env("PORT", "0")
            // Only loopback here: no proxy a CI machine may set.
            .env("NO_PROXY", "127.0.0.1,localhost")
            .env_remove("HTTP_PROXY")
            .env_remove("http_proxy")
            .current_dir(&dir)
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("node runs");
        // Killed on drop from here on, whatever happens next.
        let mut root = Root {
            child,
            port: 0,
            log,
            _dir: logs,
        };
        let until = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while root.port == 0 {
            let port = root.output().lines().find_map(|l| {
                l.strip_prefix("listening on ")
                    .and_then(|p| p.trim().parse().ok())
            });
            match port {
                Some(port) => root.port = port,
                None if std::time::Instant::now() > until
                    || root.child.try_wait().ok().flatten().is_some() =>
                {
                    panic!("the botbuilder-js root did not start:\n{}", root.output())
                }
                None => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
            }
        }
        root
    }

    fn messages_url(&self) -> String {
        format!("http://127.0.0.1:{}/api/messages", self.port)
    }

    /// What it printed.
    fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// The texts that reached the user's conversation, and where.
fn texts(connector: &Connector) -> Vec<(String, Value)> {
    connector
        .received()
        .iter()
        .filter_map(|r| Some((r.body["text"].as_str()?.to_owned(), r.body.clone())))
        .collect()
}

/// The user says `text` to the root through the channel; the message.
async fn say(root: &Root, connector: &Connector, text: &str) -> Value {
    let user = message(&connector.service_url(), text);
    let (status, body) = post_activity(&root.messages_url(), &user).await;
    assert!(status.is_success(), "{status} {body}\n{}", root.output());
    user
}

/// Waits for `text` in the user's conversation; that activity.
async fn wait_for(connector: &Connector, text: &str) -> Value {
    eventually(&format!("`{text}` in the user's conversation"), || async {
        texts(connector).iter().any(|(t, _)| t == text)
    })
    .await;
    let found = texts(connector).into_iter().find(|(t, _)| t == text);
    found.map(|(_, body)| body).unwrap_or_default()
}

#[tokio::test]
async fn a_botbuilder_js_root_calls_a_turnbox_bot_as_its_skill() {
    let connector = Connector::start().await;
    let bots = BotsDir::with_manifest("skill", "skill-root-rs", "[config]\nrole = \"skill\"\n");
    let host = Host::start(bots, &[]);
    let root = Root::start(host.url("/api/bots/skill/messages")).await;
    let user = say(&root, &connector, "hello").await;
    let reply = wait_for(&connector, "skill heard: hello").await;
    // botbuilder's skill host mapped the skill's conversation back to the
    // user's, and the reply answers the user's message.
    let conversation = user["conversation"]["id"].clone();
    assert_eq!(reply["conversation"]["id"], conversation, "{reply}");
    assert_eq!(reply["replyToId"], user["id"], "{reply}");

    // A reply the skill holds back for its commit, posted from its outbox.
    say(&root, &connector, "count").await;
    wait_for(&connector, "skill count: 1").await;

    // "bye": the skill's goodbye, then its endOfConversation reaches the
    // root, which says so in the user's conversation.
    say(&root, &connector, "bye").await;
    wait_for(&connector, "root: the skill ended (completedSuccessfully)").await;
    let order: Vec<String> = texts(&connector).into_iter().map(|(t, _)| t).collect();
    let goodbye = order.iter().position(|t| t == "skill: goodbye");
    let ended = order
        .iter()
        .position(|t| t.starts_with("root: the skill ended"));
    assert!(goodbye.is_some() && goodbye < ended, "{order:?}");
    assert!(
        texts(&connector)
            .iter()
            .all(|(_, body)| body["conversation"]["id"] == conversation),
        "{order:?}"
    );
    assert!(
        !root.output().contains("root turn failed"),
        "{}",
        root.output()
    );
    host.assert_no_panic();
}
