//! The compatibility proof: Microsoft's Web Chat (botframework-webchat from
//! npm, over WebSocket and over polling) and turnbox's own chat page, in
//! headless Chromium, against the real host; and Web Chat rendering the
//! JavaScript LLM bot's livestreamed answer as it grows (against the
//! stand-in model of `model_standin.rs`); and Web Chat's attachment
//! button (Direct Line's `/upload`, `uploads.rs`). `tests/browser/setup.sh`
//! installs Chromium (Debian's package) and the npm packages when missing;
//! screenshots land in `target/browser-artifacts/`.

use std::process::Command;

use crate::model_standin::{ModelStandIn, answer_to};
use crate::support::*;

#[tokio::test]
async fn web_chat_and_the_chat_page_work_in_chromium() {
    let browser_dir = root().join("tests/browser");
    run_setup_script("tests/browser/setup.sh").await;

    let model = ModelStandIn::start().await;
    let bots = BotsDir::with(&[
        ("echo", "rust-echo"),
        ("llm", "llm-chat"),
        ("files", "misbehave"),
    ]);
    let manifest = format!(
        "[limits]\nturn_deadline_ms = 30000\n[http]\nallowed_hosts = [\"{}\"]\n\
         [config]\nbase_url = \"{}\"\n",
        model.origin(),
        model.base_url()
    );
    std::fs::write(bots.path().join("llm.toml"), manifest).unwrap();
    let host = Host::start(bots, &["--default-bot", "echo"]);
    let question = "stream to the browser";
    let artifacts = root().join("target/browser-artifacts");
    let output = tokio::task::spawn_blocking({
        let (url, dir) = (host.url(""), browser_dir.clone());
        move || {
            Command::new("node")
                .arg(dir.join("run.mjs"))
                .arg(url)
                .arg(artifacts)
                .env("LLM_BOT", "llm")
                .env("LLM_QUESTION", question)
                .env("LLM_ANSWER", answer_to(question))
                .env("UPLOAD_BOT", "files")
                .current_dir(dir)
                .output()
        }
    })
    .await
    .unwrap()
    .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("5 passed, 0 failed"), "{stdout}");
    host.assert_no_panic();
}
