//! Developer tasks: `cargo xtask run` builds the example bots and serves
//! them, `cargo xtask test` runs every check and test (cargo-deny on the
//! dependencies, the fuzz targets as short smoke runs), `cargo xtask fuzz
//! [SECONDS]` runs each fuzz target for a while, `cargo xtask bench
//! [--seconds N]` builds in release and runs the benchmark harness
//! (docs/PERFORMANCE.md), `cargo xtask guests` only builds the bots. Each
//! installs the `wasm32-wasip2` target first when it is missing.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

const GUEST_TARGET: &str = "wasm32-wasip2";

/// The fuzz targets in fuzz/fuzz_targets/.
const FUZZ_TARGETS: &[&str] = &["activity_roundtrip", "jwt_header", "manifest", "directline"];

/// How long `cargo xtask test` runs each fuzz target, in seconds.
const FUZZ_SMOKE_SECONDS: u64 = 20;

/// The example bots `cargo xtask run` serves: (bot name, built file stem).
/// `echo` is the default bot behind `/api/messages`.
const EXAMPLE_BOTS: &[(&str, &str)] = &[
    ("echo", "rust-echo"),
    ("python-echo", "python-echo"),
    ("js-echo", "js-echo"),
];

fn main() -> Result<()> {
    // `cargo xtask run -- --port 4000` hands us a `--` to drop.
    let args: Vec<String> = std::env::args().skip(1).filter(|arg| arg != "--").collect();
    let root = workspace_root();
    match args.first().map(String::as_str) {
        Some("guests") => {
            ensure_guest_target()?;
            build_guests(&root)?;
        }
        Some("bench") => {
            ensure_guest_target()?;
            build_guests(&root)?;
            run({
                let mut c = cargo(&root);
                c.args([
                    "build",
                    "--release",
                    "--package",
                    "turnbox",
                    "--package",
                    "turnbox-bench",
                ]);
                c
            })?;
            // The Bot Framework SDK's echo bot, the comparison in the suite.
            run({
                let mut c = Command::new("npm");
                c.args(["ci", "--no-audit", "--no-fund"])
                    .current_dir(root.join("bench/botbuilder-js"));
                c
            })?;
            // And its Python edition, in a virtual environment of its own.
            let python = root.join("bench/botbuilder-python");
            if !python.join(".venv/bin/python").is_file() {
                run({
                    let mut c = Command::new("python3");
                    c.args(["-m", "venv", ".venv"]).current_dir(&python);
                    c
                })?;
            }
            run({
                let mut c = Command::new(python.join(".venv/bin/pip"));
                c.args([
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                    "-r",
                    "requirements.txt",
                ])
                .current_dir(&python);
                c
            })?;
            let release = root.join("target/release");
            // The sandbox cost per turn, then everything over HTTP.
            run({
                let mut c = Command::new(release.join("turn-cost"));
                c.arg("1000").current_dir(&root);
                c
            })?;
            run({
                let mut c = Command::new(release.join("bench-suite"));
                c.args(&args[1..]).current_dir(&root);
                c
            })?;
        }
        Some("run") => {
            ensure_guest_target()?;
            let built = build_guests(&root)?;
            let bots = install_example_bots(&root, &built)?;
            let mut serve = cargo(&root);
            serve
                .args(["run", "--package", "turnbox", "--", "serve", "--bots"])
                .arg(&bots)
                .args(&args[1..]);
            if !args.iter().any(|a| a == "--default-bot") {
                serve.args(["--default-bot", "echo"]);
            }
            run(serve)?;
        }
        Some("test") => {
            ensure_guest_target()?;
            report_free_disk(&root);
            run({
                let mut c = cargo(&root);
                c.args(["fmt", "--all", "--check"]);
                c
            })?;
            run({
                let mut c = cargo(&root);
                c.args(["fmt", "--all", "--check", "--manifest-path"])
                    .arg(root.join("guest-examples/Cargo.toml"));
                c
            })?;
            run({
                let mut c = cargo(&root);
                c.args([
                    "clippy",
                    "--workspace",
                    "--all-targets",
                    "--",
                    "-D",
                    "warnings",
                ]);
                c
            })?;
            // The fuzz targets are a workspace of their own (built
            // instrumented later): checked here, before the long tests, in
            // the workspace's target directory so that they reuse its checks.
            run({
                let mut c = cargo(&root);
                c.args(["clippy", "--all-targets", "--manifest-path"])
                    .arg(root.join("fuzz/Cargo.toml"))
                    .arg("--target-dir")
                    .arg(root.join("target"))
                    .args(["--", "-D", "warnings"]);
                c
            })?;
            dependency_checks(&root)?;
            // The guests, and the Rust guest SDK: a path dependency of theirs
            // (formatted with them above) but a package of its own.
            for manifest in [
                "guest-examples/Cargo.toml",
                "sdk/rust/turnbox-guest/Cargo.toml",
            ] {
                run({
                    let mut c = cargo(&root);
                    c.args(["clippy", "--target", GUEST_TARGET, "--manifest-path"])
                        .arg(root.join(manifest))
                        .arg("--target-dir")
                        .arg(guest_target_dir(&root))
                        .args(["--", "-D", "warnings"]);
                    c
                })?;
            }
            // Their unit tests (the SDK's stream, the chat bot's SSE parser)
            // need no host calls: they run on this machine's own target.
            for (manifest, package) in [
                ("sdk/rust/turnbox-guest/Cargo.toml", "turnbox-guest"),
                ("guest-examples/Cargo.toml", "llm-chat-rs"),
            ] {
                run({
                    let mut c = cargo(&root);
                    c.args(["test", "--quiet", "--lib", "--package", package])
                        .arg("--manifest-path")
                        .arg(root.join(manifest))
                        .arg("--target-dir")
                        .arg(guest_target_dir(&root));
                    c
                })?;
            }
            build_guests(&root)?;
            // The PostgreSQL tests start clusters of their own.
            run({
                let mut c = Command::new("bash");
                c.arg(root.join("tests/postgres-setup.sh"));
                c
            })?;
            // The botbuilder-js root's npm packages, installed before the
            // tests rather than beside them (the test runs it again: a no-op).
            run({
                let mut c = Command::new("bash");
                c.arg(root.join("tests/botbuilder-js/setup.sh"));
                c
            })?;
            run({
                let mut c = cargo(&root);
                c.args(["test", "--workspace"]).args(&args[1..]);
                c
            })?;
            if std::env::var_os(PRUNE_ENV).is_some() {
                prune_test_builds(&root)?;
            }
            report_free_disk(&root);
            fuzz(&root, FUZZ_SMOKE_SECONDS)?;
        }
        Some("fuzz") => {
            let seconds = match args.get(1) {
                Some(n) => n.parse().context("SECONDS must be a number")?,
                None => 600,
            };
            fuzz(&root, seconds)?;
        }
        _ => {
            eprintln!(
                "usage: cargo xtask <command>\n\n\
                 commands:\n  \
                 run [serve flags]   build the example bots and serve them (port 3978)\n  \
                 test [test flags]   fmt, clippy, build the bots, run every test and a fuzz smoke run\n  \
                 fuzz [SECONDS]      run each fuzz target for SECONDS (default 600)\n  \
                 guests              build the bots in guest-examples/"
            );
            std::process::exit(2);
        }
    }
    Ok(())
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

fn cargo(root: &Path) -> Command {
    let mut command = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    command.current_dir(root);
    command
}

fn run(mut command: Command) -> Result<()> {
    eprintln!("xtask: {command:?}");
    let status = command
        .status()
        .with_context(|| format!("cannot run {command:?}"))?;
    if !status.success() {
        bail!("{command:?} failed: {status}");
    }
    Ok(())
}

/// Prints the free space where the build goes: a full build and the
/// instrumented fuzz build take several GiB, and a machine that runs out
/// fails with errors that do not say so plainly.
fn report_free_disk(root: &Path) {
    let mut df = Command::new("df");
    df.arg("-h").arg(root);
    if run(df).is_err() {
        eprintln!("xtask: cannot tell the free disk space (no df)");
    }
}

/// Set (by `.ci/run`) to delete the test build before the fuzz build.
const PRUNE_ENV: &str = "TURNBOX_PRUNE_TEST_BUILD";

/// Deletes what the tests were built and run with, once they have passed:
/// the debug build (test binaries), the guests' debug build (their clippy
/// and unit tests) and the tests' scratch files. The instrumented fuzz build
/// comes next and needs none of it; on a one-shot clean clone (CI, whose
/// disk is shared and once ran out in the fuzz build) this keeps the peak
/// near one build instead of two. A developer's `cargo xtask test` keeps
/// them, so that the next run rebuilds only what changed.
fn prune_test_builds(root: &Path) -> Result<()> {
    let target = root.join("target");
    for dir in [
        target.join("debug"),
        guest_target_dir(root).join("debug"),
        target.join("tmp"),
    ] {
        if dir.exists() {
            eprintln!("xtask: deleting {} (the tests are done)", dir.display());
            std::fs::remove_dir_all(&dir)
                .with_context(|| format!("cannot delete {}", dir.display()))?;
        }
    }
    Ok(())
}

fn ensure_guest_target() -> Result<()> {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .context("rustup is needed to install the wasm32-wasip2 target")?;
    if String::from_utf8_lossy(&installed.stdout)
        .lines()
        .any(|line| line.trim() == GUEST_TARGET)
    {
        return Ok(());
    }
    let mut add = Command::new("rustup");
    add.args(["target", "add", GUEST_TARGET]);
    run(add)
}

/// Runs every fuzz target for `seconds`, from the committed seeds in
/// fuzz/corpus/TARGET (read only) plus a working corpus under target/,
/// which starts from the minimised corpus in fuzz/corpus-archives/. A
/// crash fails the run and leaves its input in fuzz/artifacts/TARGET/.
/// cargo-fuzz is installed when missing; the instrumented build needs
/// nightly features, which `RUSTC_BOOTSTRAP=1` unlocks on the stable
/// toolchain (the only one this project's machines can fetch).
fn fuzz(root: &Path, seconds: u64) -> Result<()> {
    let has_cargo_fuzz = cargo(root)
        .args(["fuzz", "--version"])
        .output()
        .is_ok_and(|out| out.status.success());
    if !has_cargo_fuzz {
        run({
            let mut c = cargo(root);
            c.args(["install", "cargo-fuzz", "--locked", "--version", "0.13.2"]);
            c
        })?;
    }
    for target in FUZZ_TARGETS {
        let working = root.join("target/fuzz-corpus").join(target);
        std::fs::create_dir_all(&working)
            .with_context(|| format!("cannot create {}", working.display()))?;
        // The minimised corpus of the last long runs starts the working one.
        let archive = root
            .join("fuzz/corpus-archives")
            .join(format!("{target}.tar.gz"));
        if archive.is_file() {
            run({
                let mut c = Command::new("tar");
                c.arg("-xzf").arg(&archive).arg("-C").arg(&working);
                c
            })?;
        }
        run({
            let mut c = cargo(root);
            c.env("RUSTC_BOOTSTRAP", "1")
                // No sanitizer: the code under fuzz is safe Rust, the
                // fuzzers look for panics and broken invariants, and
                // AddressSanitizer would double the build's time and disk.
                .args(["fuzz", "run", "-O", "--sanitizer", "none", target])
                .arg(&working)
                .arg(root.join("fuzz/corpus").join(target))
                .arg("--")
                .arg(format!("-max_total_time={seconds}"))
                .arg("-print_final_stats=1");
            c
        })?;
    }
    Ok(())
}

/// The dependency graph against deny.toml: licenses, bans and sources
/// always; RustSec advisories when their database (on GitHub) is reachable,
/// which it is not from every build machine.
fn dependency_checks(root: &Path) -> Result<()> {
    let has_cargo_deny = cargo(root)
        .args(["deny", "--version"])
        .output()
        .is_ok_and(|out| out.status.success());
    if !has_cargo_deny {
        run({
            let mut c = cargo(root);
            c.args(["install", "cargo-deny", "--locked", "--version", "0.20.2"]);
            c
        })?;
    }
    run({
        let mut c = cargo(root);
        c.args(["deny", "check", "licenses", "bans", "sources"]);
        c
    })?;
    let advisories_reachable = Command::new("git")
        // A stalled connection gives up after 15 s.
        .args(["-c", "http.lowSpeedLimit=1", "-c", "http.lowSpeedTime=15"])
        .args(["ls-remote", "--exit-code", ADVISORY_DB, "HEAD"])
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if advisories_reachable {
        run({
            let mut c = cargo(root);
            c.args(["deny", "check", "advisories"]);
            c
        })
    } else {
        eprintln!(
            "xtask: SKIPPED the advisories check: the RustSec database ({ADVISORY_DB}) \
             is not reachable from this machine"
        );
        Ok(())
    }
}

/// The RustSec advisory database cargo-deny reads.
const ADVISORY_DB: &str = "https://github.com/RustSec/advisory-db";

fn guest_target_dir(root: &Path) -> PathBuf {
    root.join("target").join("guests")
}

/// Builds every bot in guest-examples/ with its `build.sh` (the end-to-end
/// tests use the same script); returns the folder of `.wasm` files.
fn build_guests(root: &Path) -> Result<PathBuf> {
    let out = guest_target_dir(root).join("bots");
    let mut build = Command::new("bash");
    build
        .arg(root.join("guest-examples/build.sh"))
        .arg(&out)
        .current_dir(root);
    run(build)?;
    Ok(out)
}

/// Copies the example bots into target/bots, named as they are served.
fn install_example_bots(root: &Path, built: &Path) -> Result<PathBuf> {
    let bots = root.join("target").join("bots");
    std::fs::create_dir_all(&bots).with_context(|| format!("cannot create {}", bots.display()))?;
    for (name, stem) in EXAMPLE_BOTS {
        let from = built.join(format!("{stem}.wasm"));
        let to = bots.join(format!("{name}.wasm"));
        std::fs::copy(&from, &to)
            .with_context(|| format!("cannot copy {} to {}", from.display(), to.display()))?;
    }
    Ok(bots)
}
