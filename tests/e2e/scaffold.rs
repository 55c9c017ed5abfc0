//! `turnbox new`: a project in each language is scaffolded, built with its
//! own toolchain as its README says, dropped into a bots folder, and talks.

use std::path::Path;
use std::process::Command;

use axum::http::StatusCode;

use crate::support::*;

fn run(command: &mut Command) {
    let output = command.output().expect("the command runs");
    assert!(
        output.status.success(),
        "{command:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

fn new_project(dir: &Path, name: &str, lang: &str) -> std::path::PathBuf {
    run(Command::new(env!("CARGO_BIN_EXE_turnbox"))
        .args(["new", name, "--lang", lang, "--dir"])
        .arg(dir));
    dir.join(name)
}

#[tokio::test]
async fn new_projects_build_and_answer_in_every_language() {
    // The example builds install the Python and JavaScript toolchains.
    guest_dir();
    let root = root();
    let work = tempfile::tempdir().unwrap();
    let bots = BotsDir::with(&[]);

    let rust = new_project(work.path(), "rusty-bot", "rust");
    let python = new_project(work.path(), "snake-bot", "python");
    let js = new_project(work.path(), "script-bot", "js");
    // The sign-in and skills modules of the SDKs come with the project:
    // the builds below fail unless they are there and load.
    let app = python.join("app.py");
    let text = std::fs::read_to_string(&app).unwrap();
    std::fs::write(
        &app,
        format!("import turnbox_oauth, turnbox_skills\n{text}"),
    )
    .unwrap();
    let bot = js.join("src/bot.js");
    let text = std::fs::read_to_string(&bot).unwrap();
    std::fs::write(
        &bot,
        format!("import './oauth.js';\nimport './skills.js';\n{text}"),
    )
    .unwrap();

    let target = root.join("target/scaffold");
    let rust_build = {
        let (rust, target) = (rust.clone(), target.clone());
        tokio::task::spawn_blocking(move || {
            run(
                Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
                    .args([
                        "build",
                        "--quiet",
                        "--release",
                        "--target",
                        "wasm32-wasip2",
                        "--target-dir",
                    ])
                    .arg(&target)
                    .current_dir(&rust)
                    .env_remove("RUSTFLAGS")
                    .env_remove("CARGO_ENCODED_RUSTFLAGS"),
            );
        })
    };
    let python_build = {
        let (python, venv) = (
            python.clone(),
            root.join("target/toolchains/venv/bin/componentize-py"),
        );
        tokio::task::spawn_blocking(move || {
            run(Command::new("bash")
                .arg("build.sh")
                .current_dir(&python)
                .env("COMPONENTIZE_PY", venv));
        })
    };
    let js_build = {
        let (js, modules) = (js.clone(), root.join("guest-examples/js-echo/node_modules"));
        tokio::task::spawn_blocking(move || {
            // The same pinned componentize-js the example uses, already
            // installed: linked rather than downloaded again.
            std::os::unix::fs::symlink(modules, js.join("node_modules")).unwrap();
            run(Command::new("npm")
                .args(["run", "--silent", "build"])
                .current_dir(&js));
            // And on QuickJS, the same source (src/quickjs.js as entry).
            std::fs::rename(js.join("script-bot.wasm"), js.join("script-bot-sm.wasm")).unwrap();
            run(Command::new("npm")
                .args(["run", "--silent", "build:quickjs"])
                .current_dir(&js));
            std::fs::rename(js.join("script-bot.wasm"), js.join("script-bot-qjs.wasm")).unwrap();
        })
    };
    rust_build.await.unwrap();
    python_build.await.unwrap();
    js_build.await.unwrap();

    std::fs::copy(
        target.join("wasm32-wasip2/release/rusty_bot.wasm"),
        bots.path().join("rusty-bot.wasm"),
    )
    .unwrap();
    std::fs::copy(
        python.join("snake-bot.wasm"),
        bots.path().join("snake-bot.wasm"),
    )
    .unwrap();
    std::fs::copy(
        js.join("script-bot-sm.wasm"),
        bots.path().join("script-bot.wasm"),
    )
    .unwrap();
    std::fs::copy(
        js.join("script-bot-qjs.wasm"),
        bots.path().join("script-bot-qjs.wasm"),
    )
    .unwrap();
    let host = Host::start(bots, &[]);
    for bot in ["rusty-bot", "snake-bot", "script-bot", "script-bot-qjs"] {
        assert_eq!(
            host.ask(bot, "hi").await,
            (StatusCode::OK, Some("Echo: hi".into())),
            "{bot}"
        );
        // The SDK's state accessor, as the project was written.
        for expected in ["Count: 1", "Count: 2"] {
            assert_eq!(
                host.ask(bot, "count").await,
                (StatusCode::OK, Some(expected.into())),
                "{bot}"
            );
        }
    }
}
