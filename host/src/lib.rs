//! turnbox: a WebAssembly bot runtime that speaks the Bot Framework activity
//! protocol. See `docs/ARCHITECTURE.md` for the request path.
//!
//! The folders are layers, listed here from the top down; each imports only
//! the folders below it (`tests::layers` checks this):
//! `cli` → `http` → `turn` → `bots` → `runtime` → `auth` → `channels` →
//! `storage` → `schema` → `support`. `server.rs` and `config.rs` put them
//! together; `telemetry.rs` sets up logging and trace export.

pub mod auth;
pub mod bots;
pub mod channels;
pub mod cli;
pub mod http;
pub mod runtime;
pub mod schema;
pub mod storage;
pub mod support;
pub mod turn;

pub mod config;
pub mod server;
pub mod telemetry;

#[cfg(test)]
mod tests {
    //! `layers`: reads every source file's `crate::…` paths and checks that
    //! each folder imports only the folders below it.

    use std::path::Path;

    /// The folders from the bottom up; a folder may import itself and any
    /// folder before it. The files at the top (`main.rs`, `lib.rs`,
    /// `server.rs`, `config.rs`, `telemetry.rs`) may import any.
    const LAYERS: [&str; 10] = [
        "support", "schema", "storage", "channels", "auth", "runtime", "bots", "turn", "http",
        "cli",
    ];

    fn rank(name: &str) -> Option<usize> {
        LAYERS.iter().position(|layer| *layer == name)
    }

    fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                rust_files(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }

    #[test]
    fn layers() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = Vec::new();
        rust_files(&src, &mut files);
        let mut wrong = Vec::new();
        for file in files {
            let relative = file.strip_prefix(&src).unwrap();
            let folder = relative.components().next().unwrap().as_os_str();
            let Some(own) = rank(&folder.to_string_lossy()) else {
                continue; // a top file
            };
            let text = std::fs::read_to_string(&file).unwrap();
            for (n, line) in text.lines().enumerate() {
                let code = line.split("//").next().unwrap_or("");
                for (at, _) in code.match_indices("crate::") {
                    let target: String = code[at + 7..]
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                        .collect();
                    let allowed = rank(&target).is_some_and(|r| r <= own);
                    if !allowed {
                        wrong.push(format!("{}:{}: crate::{target}", relative.display(), n + 1));
                    }
                }
            }
        }
        assert!(
            wrong.is_empty(),
            "imports against the layers:\n{}",
            wrong.join("\n")
        );
    }
}
