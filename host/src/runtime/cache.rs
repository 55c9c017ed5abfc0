//! The compile cache: compiled components on disk, keyed by the sha256 of the
//! `.wasm` and the engine's compatibility hash, so a restart does not
//! recompile every bot.
//!
//! `Component::deserialize` trusts its input, so the cache loads only files
//! this host wrote: each artifact (`.cwasm`) has an HMAC-SHA256 in a side
//! file (`.tag`) under a key kept in the cache directory (created with mode
//! 0600). A file whose HMAC does not verify, or that fails to deserialize,
//! is recompiled and rewritten.
//!
//! Components are mapped from their cache file, also right after a compile:
//! code and initial guest memory are then file pages shared with the page
//! cache, the compiler's copy is freed, and wasmtime needs no memfd (whose
//! sealing can fail under memory pressure) to instantiate them.
//!
//! In memory, a component is shared by every bot loaded from the same bytes
//! while any of them is loaded: one compile, one copy of the code, however
//! many copies of a bot the folder holds.

use std::collections::HashMap;
use std::hash::Hasher;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, Weak};

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

type HmacSha256 = Hmac<Sha256>;

const MAGIC: &[u8; 8] = b"TBXCWA01";
const KEY_FILE: &str = "cache.key";

/// Where a component came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheOutcome {
    /// Loaded from a verified cache file.
    Hit,
    /// Not cached yet: compiled, and written to the cache.
    Miss,
    /// A cache file existed but failed verification: compiled and rewritten.
    Corrupt,
    /// Already in memory for another bot with the same bytes: shared.
    Shared,
    /// Not cached: compiled with the baseline compiler (not cached), to be
    /// replaced by an optimised compile in the background.
    Baseline,
}

impl CacheOutcome {
    pub fn label(self) -> &'static str {
        match self {
            CacheOutcome::Hit => "hit",
            CacheOutcome::Miss => "miss",
            CacheOutcome::Corrupt => "corrupt",
            CacheOutcome::Shared => "shared",
            CacheOutcome::Baseline => "baseline",
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("cannot use the compile cache at {path}: {source}")]
pub struct CacheError {
    path: String,
    source: std::io::Error,
}

/// The compile cache of one engine.
pub struct CompileCache {
    dir: PathBuf,
    key: Vec<u8>,
    /// Hex of the engine's `precompile_compatibility_hash`.
    engine_hash: String,
    /// The components loaded bots hold, by wasm sha256; a loader holds an
    /// entry's lock while it compiles, so the same bytes compile once.
    in_memory: Mutex<HashMap<String, Arc<Mutex<Weak<Component>>>>>,
    /// Compiles running now; at most one per core (up to four) run at once
    /// (each also compiles its functions in parallel), which bounds the
    /// compile-time memory of a folder of new bots.
    compiling: Mutex<Compiles>,
    compile_done: Condvar,
    max_compiles: usize,
}

/// Compiles running, and waiting for a slot.
#[derive(Default)]
struct Compiles {
    running: usize,
    waiting: usize,
}

/// A compile's turn to run; on drop the next compile may start, and the
/// last one running gives the freed compile memory back to the system.
struct CompileSlot<'a>(&'a CompileCache);

impl Drop for CompileSlot<'_> {
    fn drop(&mut self) {
        self.0
            .compiling
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .running -= 1;
        self.0.compile_done.notify_one();
        self.0.trim_if_idle();
    }
}

/// Feeds `Hash` output into sha256, for a hash that is stable on disk.
struct Sha256Hasher(Sha256);

impl Hasher for Sha256Hasher {
    fn finish(&self) -> u64 {
        0
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

/// The lowercase hex sha256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

impl CompileCache {
    /// Opens (creating if needed) the cache in `dir` for `engine`.
    pub fn open(dir: &Path, engine: &Engine) -> Result<Self, CacheError> {
        let io = |source| CacheError {
            path: dir.display().to_string(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        let key = read_or_create_key(&dir.join(KEY_FILE)).map_err(io)?;
        let mut hasher = Sha256Hasher(Sha256::new());
        std::hash::Hash::hash(&engine.precompile_compatibility_hash(), &mut hasher);
        let engine_hash = hex::encode(&hasher.0.finalize()[..8]);
        Ok(CompileCache {
            dir: dir.to_owned(),
            key,
            engine_hash,
            in_memory: Mutex::new(HashMap::new()),
            compiling: Mutex::new(Compiles::default()),
            compile_done: Condvar::new(),
            // One per core, at most four: each compile is parallel inside,
            // and more at once only adds to the compile-time peak.
            max_compiles: std::thread::available_parallelism().map_or(1, |n| n.get().min(4)),
        })
    }

    fn path_for(&self, wasm_sha256: &str) -> PathBuf {
        self.dir
            .join(format!("{wasm_sha256}-{}.cwasm", self.engine_hash))
    }

    /// The HMAC for `wasm_sha256`'s artifact, before the artifact's bytes.
    fn mac(&self, wasm_sha256: &str) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC takes keys of any length");
        mac.update(self.engine_hash.as_bytes());
        mac.update(wasm_sha256.as_bytes());
        mac
    }

    /// The component for `wasm`: the one a loaded bot with the same bytes
    /// holds, else from the cache when a verified artifact exists, else
    /// compiled (and cached). The caller keeps the `Arc` as long as it uses
    /// the component. CPU-heavy: call it off the async executor.
    pub fn load_or_compile(
        &self,
        engine: &Engine,
        wasm: &[u8],
        wasm_sha256: &str,
    ) -> Result<(Arc<Component>, CacheOutcome), wasmtime::Error> {
        let entry = {
            let mut in_memory = self.in_memory.lock().unwrap_or_else(|p| p.into_inner());
            // Forget components no bot holds any more (and no loader).
            in_memory.retain(|_, entry| {
                Arc::strong_count(entry) > 1
                    || entry
                        .try_lock()
                        .map_or(true, |held| held.strong_count() > 0)
            });
            in_memory.entry(wasm_sha256.to_owned()).or_default().clone()
        };
        let mut held = entry.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(component) = held.upgrade() {
            return Ok((component, CacheOutcome::Shared));
        }
        let (component, outcome) = self.read_or_compile(engine, wasm, wasm_sha256)?;
        let component = Arc::new(component);
        *held = Arc::downgrade(&component);
        Ok((component, outcome))
    }

    /// The component for `wasm_sha256` if it is already at hand: held by a
    /// loaded bot, or in a verified cache file. Never compiles.
    pub fn load_cached(
        &self,
        engine: &Engine,
        wasm_sha256: &str,
    ) -> Option<(Arc<Component>, CacheOutcome)> {
        let held = self
            .in_memory
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(wasm_sha256)
            .and_then(|entry| entry.try_lock().ok()?.upgrade());
        if let Some(component) = held {
            return Some((component, CacheOutcome::Shared));
        }
        let path = self.path_for(wasm_sha256);
        let file = std::fs::File::open(&path).ok()?;
        if !self.verified_tag(&path, &file, wasm_sha256).ok()? {
            return None;
        }
        let component = Arc::new(map_component(engine, &file).ok()?);
        // Shared from now on, as a compile would be.
        let entry = self
            .in_memory
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(wasm_sha256.to_owned())
            .or_default()
            .clone();
        let mut slot = entry.lock().unwrap_or_else(|p| p.into_inner());
        match slot.upgrade() {
            Some(existing) => Some((existing, CacheOutcome::Shared)),
            None => {
                *slot = Arc::downgrade(&component);
                Some((component, CacheOutcome::Hit))
            }
        }
    }

    fn read_or_compile(
        &self,
        engine: &Engine,
        wasm: &[u8],
        wasm_sha256: &str,
    ) -> Result<(Component, CacheOutcome), wasmtime::Error> {
        let path = self.path_for(wasm_sha256);
        let mut outcome = CacheOutcome::Miss;
        match std::fs::File::open(&path) {
            // No tag: another host is writing this entry, or it predates
            // side-file tags; compiled and written again, not "corrupt".
            Ok(_) if !tag_path(&path).exists() => {}
            Ok(file) => match self.verified_tag(&path, &file, wasm_sha256) {
                Ok(true) => match map_component(engine, &file) {
                    Ok(component) => return Ok((component, CacheOutcome::Hit)),
                    Err(err) => {
                        tracing::warn!(path = %path.display(), error = %err, "cached component unusable; recompiling");
                        outcome = CacheOutcome::Corrupt;
                    }
                },
                Ok(false) => {
                    tracing::warn!(path = %path.display(), "cached component failed verification; recompiling");
                    outcome = CacheOutcome::Corrupt;
                }
                Err(err) => {
                    tracing::warn!(path = %path.display(), error = %err, "cannot read a cached component; recompiling");
                    outcome = CacheOutcome::Corrupt;
                }
            },
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => {
                tracing::warn!(path = %path.display(), error = %err, "cannot open a cached component; recompiling");
                outcome = CacheOutcome::Corrupt;
            }
        }
        let _slot = self.compile_slot();
        self.compile(engine, wasm, wasm_sha256, &path)
            .map(|component| (component, outcome))
    }

    /// `wasm` compiled by `engine` (the baseline engine), in a compile slot
    /// like any compile, and not cached.
    pub fn compile_uncached(
        &self,
        engine: &Engine,
        wasm: &[u8],
    ) -> Result<Component, wasmtime::Error> {
        let _slot = self.compile_slot();
        Component::new(engine, wasm)
    }

    /// Gives freed heap back to the system unless a compile runs or waits
    /// (not between two compiles of a folder). The trim runs under the
    /// slots' lock, so no compile starts during it; it takes milliseconds.
    pub fn trim_if_idle(&self) {
        let compiles = self.compiling.lock().unwrap_or_else(|p| p.into_inner());
        if compiles.running == 0 && compiles.waiting == 0 {
            crate::support::memory::release_free_heap();
        }
    }

    /// Waits for a compile slot.
    fn compile_slot(&self) -> CompileSlot<'_> {
        let mut compiles = self.compiling.lock().unwrap_or_else(|p| p.into_inner());
        compiles.waiting += 1;
        while compiles.running >= self.max_compiles {
            compiles = self
                .compile_done
                .wait(compiles)
                .unwrap_or_else(|p| p.into_inner());
        }
        compiles.waiting -= 1;
        compiles.running += 1;
        CompileSlot(self)
    }

    /// Compiles `wasm`, writes it to the cache at `path` and maps it back.
    fn compile(
        &self,
        engine: &Engine,
        wasm: &[u8],
        wasm_sha256: &str,
        path: &Path,
    ) -> Result<Component, wasmtime::Error> {
        let component = Component::new(engine, wasm)?;
        let artifact = match component.serialize() {
            Ok(artifact) => artifact,
            Err(err) => {
                tracing::warn!(error = %err, "cannot serialize a component for the cache");
                return Ok(component);
            }
        };
        match self.write(path, wasm_sha256, &artifact) {
            // The written file, mapped: its pages are the page cache's, and
            // the compiler's copy is freed.
            Ok(file) => match map_component(engine, &file) {
                Ok(mapped) => Ok(mapped),
                Err(err) => {
                    tracing::warn!(path = %path.display(), error = %err, "cannot map the component just cached");
                    Ok(component)
                }
            },
            Err(err) => {
                tracing::warn!(path = %path.display(), error = %err, "cannot write the compile cache");
                Ok(component)
            }
        }
    }

    /// Whether the artifact open as `file` (at `path`) carries a valid tag
    /// in its side file. Reads the artifact through `file`, so what is
    /// checked is the file later mapped, whatever happens to `path`.
    fn verified_tag(
        &self,
        path: &Path,
        file: &std::fs::File,
        wasm_sha256: &str,
    ) -> std::io::Result<bool> {
        let side = match std::fs::read(tag_path(path)) {
            Ok(side) => side,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(err) => return Err(err),
        };
        let Some(tag) = side.strip_prefix(MAGIC.as_slice()) else {
            return Ok(false);
        };
        let mut mac = self.mac(wasm_sha256);
        let mut reader = file;
        let mut chunk = vec![0u8; 1 << 16];
        loop {
            match reader.read(&mut chunk)? {
                0 => break,
                n => mac.update(&chunk[..n]),
            }
        }
        Ok(mac.verify_slice(tag).is_ok())
    }

    /// Writes the tag and then `artifact`, each to a temporary file renamed
    /// into place (so a reader never finds an artifact without a tag), the
    /// artifact read-only; returns the artifact's file, still open.
    fn write(
        &self,
        path: &Path,
        wasm_sha256: &str,
        artifact: &[u8],
    ) -> std::io::Result<std::fs::File> {
        let mut mac = self.mac(wasm_sha256);
        mac.update(artifact);
        let tag = mac.finalize().into_bytes();
        // No fsync: a file torn by a crash fails its tag and is recompiled,
        // and a folder of new bots would wait for 200 syncs.
        let mut tmp = tempfile::NamedTempFile::new_in(&self.dir)?;
        tmp.write_all(MAGIC)?;
        tmp.write_all(&tag)?;
        tmp.persist(tag_path(path)).map_err(|e| e.error)?;
        let mut tmp = tempfile::NamedTempFile::new_in(&self.dir)?;
        tmp.write_all(artifact)?;
        // Mapped for as long as the bot is loaded: nobody writes it again.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            tmp.as_file()
                .set_permissions(std::fs::Permissions::from_mode(0o400))?;
        }
        tmp.persist(path).map_err(|e| e.error)
    }
}

/// The side file holding the tag of the artifact at `path`.
fn tag_path(path: &Path) -> PathBuf {
    path.with_extension("tag")
}

/// The component in the verified artifact `file`, mapped from the file
/// itself (through `/proc/self/fd`, so the very file that was verified):
/// wasmtime then takes its code and the guest's initial memory from the
/// mapping, copy-on-write, rather than from anonymous memory and a memfd.
/// Where `/proc` is missing, the artifact is read into memory instead.
#[cfg(target_os = "linux")]
fn map_component(engine: &Engine, file: &std::fs::File) -> Result<Component, wasmtime::Error> {
    use std::os::fd::AsRawFd;
    let by_fd = format!("/proc/self/fd/{}", file.as_raw_fd());
    if !Path::new(&by_fd).exists() {
        return read_component(engine, file);
    }
    // SAFETY: the file carries a valid tag under this cache's private key,
    // so this host serialized it for an engine with the same compatibility
    // hash; the cache writes its files read-only and replaces them only by
    // renaming, never in place.
    unsafe { Component::deserialize_file(engine, by_fd) }
}

#[cfg(not(target_os = "linux"))]
fn map_component(engine: &Engine, file: &std::fs::File) -> Result<Component, wasmtime::Error> {
    read_component(engine, file)
}

/// The component in the verified artifact `file`, read into memory.
fn read_component(engine: &Engine, file: &std::fs::File) -> Result<Component, wasmtime::Error> {
    let mut bytes = Vec::new();
    let mut reader = file;
    std::io::Seek::rewind(&mut reader)?;
    reader.read_to_end(&mut bytes)?;
    // SAFETY: as above, a verified artifact this host wrote.
    unsafe { Component::deserialize(engine, bytes) }
}

fn read_or_create_key(path: &Path) -> std::io::Result<Vec<u8>> {
    if let Ok(key) = std::fs::read(path)
        && key.len() == 32
    {
        return Ok(key);
    }
    let mut key = vec![0u8; 32];
    getrandom::fill(&mut key).map_err(|e| std::io::Error::other(e.to_string()))?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    tmp.write_all(&key)?;
    tmp.as_file().sync_all()?;
    // Hosts sharing the folder may start together: the first key written
    // stays, and the others read it.
    match tmp.persist_noclobber(path) {
        Ok(_) => Ok(key),
        Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => {
            match std::fs::read(path) {
                Ok(existing) if existing.len() == 32 => Ok(existing),
                // Not a key (a damaged file): replaced by ours.
                _ => {
                    e.file.persist(path).map_err(|e| e.error)?;
                    Ok(key)
                }
            }
        }
        Err(e) => Err(e.error),
    }
}
