//! `turnbox new NAME --lang rust|js|python`: writes a ready-to-build bot
//! project from templates embedded in the binary (`scaffold/`): source, the
//! WIT contract, a build script or command, and a README saying how to build
//! it and drop the `.wasm` into the bots folder.

use std::path::{Path, PathBuf};

/// The WIT contract, as this host speaks it: `bot.wit` and the interfaces
/// in files of their own beside it.
const WIT: [(&str, &str); 4] = [
    ("wit/bot.wit", include_str!("../../../wit/bot.wit")),
    (
        "wit/connector.wit",
        include_str!("../../../wit/connector.wit"),
    ),
    ("wit/skills.wit", include_str!("../../../wit/skills.wit")),
    (
        "wit/user-token.wit",
        include_str!("../../../wit/user-token.wit"),
    ),
];

/// The Rust SDK crate, written into Rust projects as `turnbox-guest/`.
const RUST_SDK: [(&str, &str); 24] = [
    (
        "turnbox-guest/Cargo.toml",
        include_str!("../../../sdk/rust/turnbox-guest/Cargo.toml"),
    ),
    (
        "turnbox-guest/src/lib.rs",
        include_str!("../../../sdk/rust/turnbox-guest/src/lib.rs"),
    ),
    (
        "turnbox-guest/src/activity.rs",
        include_str!("../../../sdk/rust/turnbox-guest/src/activity.rs"),
    ),
    (
        "turnbox-guest/src/connector.rs",
        include_str!("../../../sdk/rust/turnbox-guest/src/connector.rs"),
    ),
    (
        "turnbox-guest/src/oauth.rs",
        include_str!("../../../sdk/rust/turnbox-guest/src/oauth.rs"),
    ),
    (
        "turnbox-guest/src/context.rs",
        include_str!("../../../sdk/rust/turnbox-guest/src/context.rs"),
    ),
    (
        "turnbox-guest/src/error.rs",
        include_str!("../../../sdk/rust/turnbox-guest/src/error.rs"),
    ),
    (
        "turnbox-guest/src/factory.rs",
        include_str!("../../../sdk/rust/turnbox-guest/src/factory.rs"),
    ),
    (
        "turnbox-guest/src/handler.rs",
        include_str!("../../../sdk/rust/turnbox-guest/src/handler.rs"),
    ),
    (
        "turnbox-guest/src/http.rs",
        include_str!("../../../sdk/rust/turnbox-guest/src/http.rs"),
    ),
    (
        "turnbox-guest/src/state.rs",
        include_str!("../../../sdk/rust/turnbox-guest/src/state.rs"),
    ),
    (
        "turnbox-guest/src/streaming.rs",
        include_str!("../../../sdk/rust/turnbox-guest/src/streaming.rs"),
    ),
    (
        "turnbox-guest/src/skills.rs",
        include_str!("../../../sdk/rust/turnbox-guest/src/skills.rs"),
    ),
    (
        "turnbox-guest/src/teams.rs",
        include_str!("../../../sdk/rust/turnbox-guest/src/teams.rs"),
    ),
    (
        "turnbox-guest/src/dialogs/mod.rs",
        include_str!("../../../sdk/rust/turnbox-guest/src/dialogs/mod.rs"),
    ),
    (
        "turnbox-guest/src/dialogs/context.rs",
        include_str!("../../../sdk/rust/turnbox-guest/src/dialogs/context.rs"),
    ),
    (
        "turnbox-guest/src/dialogs/waterfall.rs",
        include_str!("../../../sdk/rust/turnbox-guest/src/dialogs/waterfall.rs"),
    ),
    (
        "turnbox-guest/src/dialogs/component.rs",
        include_str!("../../../sdk/rust/turnbox-guest/src/dialogs/component.rs"),
    ),
    (
        "turnbox-guest/src/dialogs/prompts.rs",
        include_str!("../../../sdk/rust/turnbox-guest/src/dialogs/prompts.rs"),
    ),
    (
        "turnbox-guest/src/dialogs/oauth.rs",
        include_str!("../../../sdk/rust/turnbox-guest/src/dialogs/oauth.rs"),
    ),
    (
        "turnbox-guest/src/dialogs/choices.rs",
        include_str!("../../../sdk/rust/turnbox-guest/src/dialogs/choices.rs"),
    ),
    (
        "turnbox-guest/src/dialogs/recognizers.rs",
        include_str!("../../../sdk/rust/turnbox-guest/src/dialogs/recognizers.rs"),
    ),
    (
        "turnbox-guest/src/dialogs/number.rs",
        include_str!("../../../sdk/rust/turnbox-guest/src/dialogs/number.rs"),
    ),
    (
        "turnbox-guest/src/dialogs/datetime.rs",
        include_str!("../../../sdk/rust/turnbox-guest/src/dialogs/datetime.rs"),
    ),
];

/// Where the Rust SDK finds the WIT: in this repository, and in a project.
const SDK_WIT_PATH: (&str, &str) = (r#"path: "../../../wit""#, r#"path: "../wit""#);

/// A language `turnbox new` can scaffold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Language {
    Rust,
    Js,
    Python,
}

#[derive(Debug, thiserror::Error)]
pub enum ScaffoldError {
    #[error("`{0}` is not a valid bot name: use 1-64 letters, digits, `-` and `_`")]
    BadName(String),
    #[error("{0} already exists; pick another name or folder")]
    Exists(PathBuf),
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The world Python bots build against for outbound HTTP (`bot` plus
/// `wasi:http`, with the WASI 0.2 WIT it needs), as in `sdk/python/wit`.
const PYTHON_HTTP_WIT: [(&str, &str); 11] = [
    (
        "wit-http/bot-with-http.wit",
        include_str!("../../../sdk/python/wit/bot-with-http.wit"),
    ),
    (
        "wit-http/deps/http/package.wit",
        include_str!("../../../sdk/python/wit/deps/http/package.wit"),
    ),
    (
        "wit-http/deps/http/types.wit",
        include_str!("../../../sdk/python/wit/deps/http/types.wit"),
    ),
    (
        "wit-http/deps/http/handler.wit",
        include_str!("../../../sdk/python/wit/deps/http/handler.wit"),
    ),
    (
        "wit-http/deps/io/error.wit",
        include_str!("../../../sdk/python/wit/deps/io/error.wit"),
    ),
    (
        "wit-http/deps/io/poll.wit",
        include_str!("../../../sdk/python/wit/deps/io/poll.wit"),
    ),
    (
        "wit-http/deps/io/streams.wit",
        include_str!("../../../sdk/python/wit/deps/io/streams.wit"),
    ),
    (
        "wit-http/deps/io/world.wit",
        include_str!("../../../sdk/python/wit/deps/io/world.wit"),
    ),
    (
        "wit-http/deps/clocks/monotonic-clock.wit",
        include_str!("../../../sdk/python/wit/deps/clocks/monotonic-clock.wit"),
    ),
    (
        "wit-http/deps/clocks/wall-clock.wit",
        include_str!("../../../sdk/python/wit/deps/clocks/wall-clock.wit"),
    ),
    (
        "wit-http/deps/clocks/world.wit",
        include_str!("../../../sdk/python/wit/deps/clocks/world.wit"),
    ),
];

/// The files of a project: (relative path, contents, executable).
fn files(language: Language) -> Vec<(&'static str, &'static str, bool)> {
    match language {
        Language::Rust => vec![
            (
                "Cargo.toml",
                include_str!("scaffold/rust/Cargo.toml.tmpl"),
                false,
            ),
            (
                "src/lib.rs",
                include_str!("scaffold/rust/lib.rs.tmpl"),
                false,
            ),
            (
                "README.md",
                include_str!("scaffold/rust/README.md.tmpl"),
                false,
            ),
            (".gitignore", "target/\n*.wasm\n", false),
        ]
        .into_iter()
        .chain(RUST_SDK.map(|(path, text)| (path, text, false)))
        .collect(),
        Language::Python => vec![
            ("app.py", include_str!("scaffold/python/app.py.tmpl"), false),
            (
                "turnbox.py",
                include_str!("../../../sdk/python/turnbox.py"),
                false,
            ),
            (
                "turnbox_oauth.py",
                include_str!("../../../sdk/python/turnbox_oauth.py"),
                false,
            ),
            (
                "turnbox_skills.py",
                include_str!("../../../sdk/python/turnbox_skills.py"),
                false,
            ),
            (
                "turnbox_dialogs.py",
                include_str!("../../../sdk/python/turnbox_dialogs.py"),
                false,
            ),
            (
                "turnbox_prompts.py",
                include_str!("../../../sdk/python/turnbox_prompts.py"),
                false,
            ),
            (
                "turnbox_recognizers.py",
                include_str!("../../../sdk/python/turnbox_recognizers.py"),
                false,
            ),
            (
                "turnbox_teams.py",
                include_str!("../../../sdk/python/turnbox_teams.py"),
                false,
            ),
            (
                "build.sh",
                include_str!("scaffold/python/build.sh.tmpl"),
                true,
            ),
            (
                "README.md",
                include_str!("scaffold/python/README.md.tmpl"),
                false,
            ),
            (".gitignore", "__pycache__/\n*.wasm\n", false),
        ]
        .into_iter()
        .chain(PYTHON_HTTP_WIT.map(|(path, text)| (path, text, false)))
        .collect(),
        Language::Js => vec![
            (
                "package.json",
                include_str!("scaffold/js/package.json.tmpl"),
                false,
            ),
            ("src/bot.js", include_str!("scaffold/js/bot.js.tmpl"), false),
            (
                "src/quickjs.js",
                include_str!("scaffold/js/quickjs.js.tmpl"),
                false,
            ),
            (
                "src/turnbox.js",
                include_str!("../../../sdk/js/turnbox.js"),
                false,
            ),
            // The SDK's dialogs and Teams layer (issue #24), beside it.
            (
                "src/dialogs.js",
                include_str!("../../../sdk/js/dialogs.js"),
                false,
            ),
            (
                "src/prompts.js",
                include_str!("../../../sdk/js/prompts.js"),
                false,
            ),
            (
                "src/choices.js",
                include_str!("../../../sdk/js/choices.js"),
                false,
            ),
            (
                "src/recognizers.js",
                include_str!("../../../sdk/js/recognizers.js"),
                false,
            ),
            (
                "src/teams.js",
                include_str!("../../../sdk/js/teams.js"),
                false,
            ),
            (
                "src/oauth.js",
                include_str!("../../../sdk/js/oauth.js"),
                false,
            ),
            (
                "src/skills.js",
                include_str!("../../../sdk/js/skills.js"),
                false,
            ),
            (
                "README.md",
                include_str!("scaffold/js/README.md.tmpl"),
                false,
            ),
            (".gitignore", "node_modules/\n*.wasm\n", false),
        ],
    }
}

/// Writes the project for `name` into `parent/name`; returns its folder.
pub fn scaffold(name: &str, language: Language, parent: &Path) -> Result<PathBuf, ScaffoldError> {
    if !crate::schema::manifest::is_valid_name(name) {
        return Err(ScaffoldError::BadName(name.to_owned()));
    }
    let root = parent.join(name);
    if root.exists() {
        return Err(ScaffoldError::Exists(root));
    }
    let crate_name = name.replace('-', "_");
    let mut all = files(language);
    all.extend(WIT.iter().map(|(path, text)| (*path, *text, false)));
    for (relative, template, executable) in all {
        let path = root.join(relative);
        // The SDK files hold no placeholders; only the Rust SDK's path to
        // the WIT changes.
        let text = template
            .replace("{{name}}", name)
            .replace("{{crate}}", &crate_name)
            .replace(SDK_WIT_PATH.0, SDK_WIT_PATH.1);
        let write = || -> std::io::Result<()> {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            std::fs::write(&path, text)?;
            #[cfg(unix)]
            if executable {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
            }
            Ok(())
        };
        write().map_err(|source| ScaffoldError::Write {
            path: path.clone(),
            source,
        })?;
    }
    Ok(root)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn projects_are_written_with_the_name_filled_in() {
        let dir = tempfile::tempdir().unwrap();
        let root = scaffold("my-bot", Language::Rust, dir.path()).unwrap();
        let cargo = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
        assert!(cargo.contains("name = \"my-bot\""));
        let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
        assert!(readme.contains("release/my_bot.wasm"), "{readme}");
        assert!(root.join("wit/bot.wit").is_file());
        let sdk = std::fs::read_to_string(root.join("turnbox-guest/src/lib.rs")).unwrap();
        assert!(sdk.contains(SDK_WIT_PATH.1) && !sdk.contains(SDK_WIT_PATH.0));
        assert!(matches!(
            scaffold("my-bot", Language::Rust, dir.path()),
            Err(ScaffoldError::Exists(_))
        ));
        assert!(matches!(
            scaffold("../x", Language::Js, dir.path()),
            Err(ScaffoldError::BadName(_))
        ));
        let py = scaffold("py", Language::Python, dir.path()).unwrap();
        for module in [
            "turnbox_dialogs.py",
            "turnbox_prompts.py",
            "turnbox_teams.py",
        ] {
            assert!(py.join(module).is_file(), "{module}");
        }
        assert!(
            !std::fs::read_to_string(py.join("app.py"))
                .unwrap()
                .contains("{{")
        );
    }
}
