//! WAL checkpoints off the commit path. SQLite's automatic checkpoint runs
//! on the connection that commits, inside the commit that crosses the
//! threshold: that turn (and every turn waiting for the committer) waits
//! while the WAL is copied back and the file is synced, tens of
//! milliseconds (docs/PERFORMANCE.md, "The latency tail"). Here the writer's
//! automatic checkpoints are off and a thread of its own, on a connection of
//! its own, runs a `PASSIVE` checkpoint every 50 ms: it never blocks the
//! writer, a page rewritten by many turns in that time is copied back once,
//! and a reset WAL is truncated back to `journal_size_limit`.
//!
//! A passive checkpoint never restarts the log: the next writer starts it
//! over only if no reader is still on it, and under steady load one always
//! is, so the WAL grew without end (934 MB after 10 s at 6,000 turns/s).
//! Once the log is past `RESTART_FRAMES` and wholly copied back, a
//! `RESTART` checkpoint follows: it copies the few frames written since,
//! waits (at most `RESTART_WAIT`, new writers waiting with it) for the
//! readers to leave the log, and the next writer starts it over.
//!
//! Each round also asks the system for the WAL file's pages just past the
//! log's end (`ReadAhead`), so that the writer does not read an evicted
//! page back from the disk before it writes a frame into it.

use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use rusqlite::Connection;

/// How often the checkpointer copies the WAL back (and syncs it first).
/// Small and often beat large and rare at the tail: 50 ms against 500 ms
/// took the 4-connection p99 from 4.3-6.1 ms to 2.2-4.6 ms (medians 5.2
/// and 3.4) at the same throughput (docs/PERFORMANCE.md, seventh round).
/// An idle host's rounds find nothing to copy (0.15% of a core).
const INTERVAL: Duration = Duration::from_millis(50);
/// The size a reset WAL file is truncated to: above the restart point, so
/// that a restarted log is reused, not cut short on the commit path (the
/// committer truncating 192 MiB took tens of milliseconds).
pub const JOURNAL_SIZE_LIMIT: i64 = 256 << 20;
/// The log length (frames) past which it is restarted: 224 MiB of 4 KiB
/// pages, below `JOURNAL_SIZE_LIMIT`. Each restart holds writers back for
/// a small checkpoint and its sync (10-16 ms: the latency tail), so only a
/// long busy stretch reaches it; a host with pauses between turns restarts
/// its log without it.
const RESTART_FRAMES: i64 = 57_344;
/// How long a restart waits for readers (and holds writers back) before it
/// gives up until the next round.
const RESTART_WAIT: Duration = Duration::from_millis(20);
/// The busy timeout of the checkpointer's other work.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The checkpointing thread; it checkpoints a last time and ends when this
/// is dropped.
pub struct Checkpointer {
    _stop: mpsc::Sender<()>,
}

impl Checkpointer {
    /// Starts checkpointing the database at `path` (already in WAL mode).
    pub fn start(
        path: &Path,
        options: super::SqliteOptions,
    ) -> Result<Checkpointer, rusqlite::Error> {
        Self::start_with(path, options, INTERVAL, RESTART_FRAMES, RESTART_WAIT)
    }

    /// The same, every `interval`, restarting logs past `restart_frames`
    /// and waiting at most `restart_wait` for readers.
    fn start_with(
        path: &Path,
        options: super::SqliteOptions,
        interval: Duration,
        restart_frames: i64,
        restart_wait: Duration,
    ) -> Result<Checkpointer, rusqlite::Error> {
        let conn = super::open_file(path, false, options)?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        let (stop, stopped) = mpsc::channel::<()>();
        let started = std::thread::Builder::new()
            .name("turnbox-checkpoint".into())
            .spawn(move || run(&conn, &stopped, interval, restart_frames, restart_wait));
        if let Err(e) = started {
            tracing::warn!(error = %e, "cannot start the WAL checkpointer; SQLite checkpoints on commit");
        }
        Ok(Checkpointer { _stop: stop })
    }
}

fn run(
    conn: &Connection,
    stopped: &mpsc::Receiver<()>,
    interval: Duration,
    restart_frames: i64,
    restart_wait: Duration,
) {
    let mut ahead = ReadAhead::new(conn);
    loop {
        // The storage gone (or a stop sent): one last checkpoint.
        let last = !matches!(
            stopped.recv_timeout(interval),
            Err(mpsc::RecvTimeoutError::Timeout)
        );
        let result = checkpoint(conn, "PASSIVE");
        if let Ok((_, log, _)) = &result {
            ahead.fetch(*log);
        }
        match result {
            Ok((_, log, copied)) if log >= restart_frames && copied == log => {
                let started = std::time::Instant::now();
                let micros = || started.elapsed().as_micros() as u64;
                match restart(conn, restart_wait) {
                    Ok(true) => {
                        tracing::debug!(wal_frames = log, micros = micros(), "WAL restarted")
                    }
                    // A reader on the whole log (none of its frames were
                    // written after the read began). Any commit ends this:
                    // its frames cannot be copied back while the reader
                    // stays, so no restart is tried until it has left.
                    Ok(false) => tracing::debug!(
                        wal_frames = log,
                        micros = micros(),
                        "WAL restart gave up waiting for a reader; trying again"
                    ),
                    Err(e) => tracing::warn!(error = %e, "WAL restart failed; trying again"),
                }
            }
            Ok((_, log, copied)) if log > 0 => {
                tracing::trace!(wal_frames = log, copied, "WAL checkpoint");
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "WAL checkpoint failed; trying again"),
        }
        if last {
            return;
        }
    }
}

/// The WAL's pages just past its end, asked into the page cache before the
/// writer reaches them, each round. A restarted log is written again from
/// its start, into the file's old pages, and a frame (24 bytes more than a
/// page) starts inside an OS page: when the system has evicted that page
/// (this VM's DAMON reclaims cold page cache), the write first reads it
/// back from the disk, on the commit path. `perf record -e
/// sched:sched_switch` put 4.7% of the committer's switches in that read
/// (`ext4_block_write_begin`) at 4 connections, and none with this.
struct ReadAhead {
    wal: Option<std::fs::File>,
    path: Option<std::path::PathBuf>,
    frame_bytes: i64,
}

/// How far past the log's end the pages are asked for: more than the
/// writer appends between two rounds at full load (about 9 MiB in 50 ms).
const READ_AHEAD_BYTES: i64 = 32 << 20;
/// The WAL file's header, before its first frame.
const WAL_HEADER_BYTES: i64 = 32;
/// A frame's header, before its page.
const FRAME_HEADER_BYTES: i64 = 24;

impl ReadAhead {
    fn new(conn: &Connection) -> ReadAhead {
        let page: i64 = conn
            .query_row("PRAGMA page_size", [], |row| row.get(0))
            .unwrap_or(4096);
        let path = conn
            .path()
            .filter(|p| !p.is_empty())
            .map(|p| std::path::PathBuf::from(format!("{p}-wal")));
        ReadAhead {
            wal: None,
            path,
            frame_bytes: page + FRAME_HEADER_BYTES,
        }
    }

    /// Asks for the pages past the log's `frames` (advice: the reads run in
    /// the background, and pages already cached are skipped). A file
    /// system that refuses the advice is not asked again (logged once).
    fn fetch(&mut self, frames: i64) {
        use std::os::fd::AsRawFd;
        if self.wal.is_none() {
            self.wal = self.path.as_ref().and_then(|p| std::fs::File::open(p).ok());
        }
        let Some(wal) = &self.wal else { return };
        let from = WAL_HEADER_BYTES + frames * self.frame_bytes;
        // SAFETY: advice about an open descriptor; no memory is passed.
        let refused = unsafe {
            libc::posix_fadvise(
                wal.as_raw_fd(),
                from,
                READ_AHEAD_BYTES,
                libc::POSIX_FADV_WILLNEED,
            )
        };
        if refused != 0 {
            tracing::debug!(
                error = %std::io::Error::from_raw_os_error(refused),
                "the WAL's pages cannot be read ahead; not asked again"
            );
            (self.wal, self.path) = (None, None);
        }
    }
}

/// A checkpoint in `mode`: whether it gave up waiting (SQLite's `busy`
/// column), the WAL's frames and how many are now copied back.
fn checkpoint(conn: &Connection, mode: &str) -> Result<(bool, i64, i64), rusqlite::Error> {
    conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |row| {
        Ok((row.get::<_, i64>(0)? != 0, row.get(1)?, row.get(2)?))
    })
}

/// A `RESTART` checkpoint that waits at most `wait` for readers: whether
/// it restarted the log (a busy result is no error: the next round tries
/// again).
fn restart(conn: &Connection, wait: Duration) -> Result<bool, rusqlite::Error> {
    conn.busy_timeout(wait)?;
    let done = checkpoint(conn, "RESTART");
    conn.busy_timeout(BUSY_TIMEOUT)?;
    done.map(|(busy, _, _)| !busy)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A new WAL database with a table `t (k, v)`, as the host opens its
    /// own (no automatic checkpoints): its folder, path and writer. The
    /// folder is under the build's `target/`, on a disk: a `/tmp` on tmpfs
    /// would keep every page in memory, and the read-ahead test could not
    /// drop them.
    fn wal_database() -> (tempfile::TempDir, std::path::PathBuf, Connection) {
        super::super::page_cache::install();
        let on_disk = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/tmp");
        std::fs::create_dir_all(&on_disk).unwrap();
        let dir = tempfile::tempdir_in(on_disk).unwrap();
        let path = dir.path().join("wal.db");
        let writer = Connection::open(&path).unwrap();
        writer.pragma_update(None, "journal_mode", "WAL").unwrap();
        writer.pragma_update(None, "synchronous", "NORMAL").unwrap();
        writer.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
        writer.busy_timeout(Duration::from_secs(5)).unwrap();
        writer
            .execute_batch("CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB)")
            .unwrap();
        (dir, path, writer)
    }

    /// Pages of the WAL file resident in the page cache, of the first `len`
    /// bytes (`mincore` over a read-only mapping).
    fn resident_pages(file: &std::fs::File, len: usize) -> usize {
        use std::os::fd::AsRawFd;
        let page = 4096;
        let pages = len.div_ceil(page);
        let mut flags = vec![0u8; pages];
        // SAFETY: a read-only shared mapping of an open file, unmapped
        // before returning; `flags` has a byte per page.
        unsafe {
            let map = libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_SHARED,
                file.as_raw_fd(),
                0,
            );
            assert_ne!(map, libc::MAP_FAILED);
            assert_eq!(libc::mincore(map, len, flags.as_mut_ptr()), 0);
            libc::munmap(map, len);
        }
        flags.iter().filter(|f| **f & 1 == 1).count()
    }

    /// The pages past the log's end come back into the page cache after
    /// the system dropped them: a WAL file synced and its pages dropped
    /// with `POSIX_FADV_DONTNEED`, then read ahead from the end of a log of
    /// 0 frames (as right after a restart, when the writer starts over at
    /// the file's start).
    #[test]
    fn the_pages_past_the_logs_end_are_read_ahead() {
        use std::os::fd::AsRawFd;
        let (_dir, path, writer) = wal_database();
        for k in 0..200 {
            writer
                .execute("INSERT INTO t (k, v) VALUES (?1, zeroblob(4000))", [k])
                .unwrap();
        }
        let wal_path = format!("{}-wal", path.display());
        let wal = std::fs::File::open(&wal_path).unwrap();
        let len = wal.metadata().unwrap().len() as usize;
        assert!(len > 400 * 4096, "{len} bytes of WAL");
        wal.sync_all().unwrap();
        // SAFETY: advice about an open descriptor.
        unsafe { libc::posix_fadvise(wal.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
        let dropped = resident_pages(&wal, len);
        assert!(
            dropped < 16,
            "{dropped} pages still resident after DONTNEED"
        );

        let checkpointer = Connection::open(&path).unwrap();
        let mut ahead = ReadAhead::new(&checkpointer);
        ahead.fetch(0);
        let start = std::time::Instant::now();
        let mut resident = resident_pages(&wal, len);
        while resident < len / 4096 && start.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(10));
            resident = resident_pages(&wal, len);
        }
        assert_eq!(
            resident,
            len.div_ceil(4096),
            "pages resident after read-ahead"
        );
    }

    /// A restart tells whether it restarted: a reader whose snapshot is the
    /// whole log (copied back, so a restart is tried) holds it, and it gives
    /// up after its wait; once the reader has left, it restarts.
    #[test]
    fn a_restart_that_waits_in_vain_for_a_reader_says_so() {
        let (_dir, path, writer) = wal_database();
        writer
            .execute_batch("INSERT INTO t (k) VALUES (1)")
            .unwrap();
        let reader = Connection::open(&path).unwrap();
        reader.execute_batch("BEGIN").unwrap();
        let _: i64 = reader
            .query_row("SELECT count(*) FROM t", [], |row| row.get(0))
            .unwrap();
        let checkpointer = Connection::open(&path).unwrap();
        let (_, log, copied) = checkpoint(&checkpointer, "PASSIVE").unwrap();
        assert!(log > 0 && copied == log, "{log} frames, {copied} copied");
        assert!(!restart(&checkpointer, Duration::from_millis(50)).unwrap());
        reader.execute_batch("COMMIT").unwrap();
        assert!(restart(&checkpointer, Duration::from_millis(50)).unwrap());
    }

    /// The WAL header's checkpoint sequence (bytes 12-15, big-endian):
    /// SQLite adds one each time the log starts over. 0 before the file
    /// has a header.
    fn wal_restarts(dir: &std::path::Path) -> u32 {
        use std::io::Read;
        let mut header = [0u8; 16];
        match std::fs::File::open(dir.join("wal.db-wal"))
            .and_then(|mut f| f.read_exact(&mut header))
        {
            Ok(()) => u32::from_be_bytes([header[12], header[13], header[14], header[15]]),
            Err(_) => 0,
        }
    }

    /// Under steady writes and reads the log is restarted, again and
    /// again, so its file stays bounded. Without the restart the log starts
    /// over only when the writer finds it wholly copied back and no reader
    /// on it, which readers that never stop rarely allow: three restarts
    /// took 14,000-221,000 writes here (most 20,000-47,000), against
    /// 400-3,600 with it (7,100 beside four busy loops on the two cores):
    /// this test with its `128` set to `i64::MAX`, its loop limit lifted
    /// and `n` printed, run a few times (`cargo test -p turnbox --lib
    /// the_log_stays_bounded -- --nocapture`).
    /// Restarts are counted in the WAL header, not bounded by the file's
    /// size: a size bound failed a fresh-clone run when the checkpointer
    /// lost rounds to the writer beside other tests.
    #[test]
    fn the_log_stays_bounded_while_readers_never_stop() {
        let (dir, path, writer) = wal_database();
        let _checkpointer = Checkpointer::start_with(
            &path,
            super::super::SqliteOptions::default(),
            Duration::from_millis(10),
            128,
            Duration::from_millis(200),
        )
        .unwrap();

        // Two readers, always in a read somewhere.
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let (path, stop) = (path.clone(), stop.clone());
                std::thread::spawn(move || {
                    let reader = Connection::open(&path).unwrap();
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        let _: i64 = reader
                            .query_row("SELECT count(*) FROM t", [], |row| row.get(0))
                            .unwrap();
                    }
                })
            })
            .collect();
        // A few frames at a time, until the log has started over three
        // times, or 12,000 writes.
        let mut n = 0i64;
        while wal_restarts(dir.path()) < 3 && n < 12_000 {
            writer
                .execute(
                    "INSERT OR REPLACE INTO t (k, v) VALUES (?1, zeroblob(3000))",
                    [n % 500],
                )
                .unwrap();
            n += 1;
            if n % 100 == 0 {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for reader in readers {
            reader.join().unwrap();
        }
        let restarts = wal_restarts(dir.path());
        assert!(
            restarts >= 3,
            "the WAL started over {restarts} times in {n} writes: it is not restarted"
        );
    }
}
