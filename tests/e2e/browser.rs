//! The compatibility proof: Microsoft's Web Chat (botframework-webchat from
//! npm, over WebSocket and over polling) and turnbox's own chat page, in
//! headless Chromium, against the real host. `tests/browser/setup.sh`
//! installs Chromium (Debian's package) and the npm packages when missing;
//! screenshots land in `target/browser-artifacts/`.

use std::process::Command;

use crate::support::*;

#[tokio::test]
async fn web_chat_and_the_chat_page_work_in_chromium() {
    let browser_dir = root().join("tests/browser");
    let setup = tokio::task::spawn_blocking({
        let script = browser_dir.join("setup.sh");
        move || Command::new("bash").arg(script).status()
    })
    .await
    .unwrap()
    .expect("bash runs");
    assert!(
        setup.success(),
        "tests/browser/setup.sh could not install Chromium and the npm packages"
    );

    let host = Host::start(BotsDir::with(&[("echo", "rust-echo")]), &[]);
    let artifacts = root().join("target/browser-artifacts");
    let output = tokio::task::spawn_blocking({
        let (url, dir) = (host.url(""), browser_dir.clone());
        move || {
            Command::new("node")
                .arg(dir.join("run.mjs"))
                .arg(url)
                .arg(artifacts)
                .current_dir(dir)
                .output()
        }
    })
    .await
    .unwrap()
    .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("3 passed, 0 failed"), "{stdout}");
    host.assert_no_panic();
}
