//! botbuilder-dotnet's dialog transcripts (`tests/fixtures/dialogs/`),
//! replayed with `turnbox test` against a language's dialog test bot, each
//! transcript's scenario chosen by the bot's `[config] scenario`. Shared by
//! `dialogs_rust.rs`, `dialogs_js.rs` and `dialogs_python.rs`.

use crate::support::*;

pub const TRANSCRIPTS: [&str; 9] = [
    "Waterfall",
    "WaterfallPrompt",
    "WaterfallNested",
    "TextPrompt",
    "NumberPrompt",
    "ChoicePrompt",
    "ConfirmPrompt",
    "AttachmentPrompt",
    "DateTimePrompt",
];

/// Replays every transcript against the built guest `bot`: each must pass
/// with no mismatch and with replies actually compared.
pub fn replay_all(bot: &str) {
    let manifests = tempfile::tempdir().unwrap();
    for scenario in TRANSCRIPTS {
        let manifest = manifests.path().join(format!("{scenario}.toml"));
        std::fs::write(&manifest, format!("[config]\nscenario = \"{scenario}\"\n")).unwrap();
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_turnbox"))
            .arg("test")
            .arg(guest(bot))
            .arg(root().join(format!("tests/fixtures/dialogs/{scenario}.transcript")))
            .arg("--manifest")
            .arg(&manifest)
            .env("RUST_LOG", "warn")
            .output()
            .expect("run turnbox test");
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            output.status.success(),
            "{bot} {scenario}: {stdout}\n{stderr}"
        );
        assert!(
            stdout.contains(" 0 mismatches"),
            "{bot} {scenario}: {stdout}"
        );
        assert!(
            !stdout.contains(" 0 replies compared"),
            "{bot} {scenario}: {stdout}"
        );
    }
}
