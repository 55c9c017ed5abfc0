//! WAL checkpoints off the commit path. SQLite's automatic checkpoint runs
//! on the connection that commits, inside the commit that crosses the
//! threshold: that turn (and every turn waiting for the committer) waits
//! while the WAL is copied back and the file is synced, tens of
//! milliseconds (docs/PERFORMANCE.md, "The latency tail"). Here the writer's
//! automatic checkpoints are off and a thread of its own, on a connection of
//! its own, runs a `PASSIVE` checkpoint twice a second: it never blocks the
//! writer, a page rewritten by many turns in that time is copied back once,
//! and a reset WAL is truncated back to `journal_size_limit`.

use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use rusqlite::Connection;

/// How often the checkpointer copies the WAL back.
const INTERVAL: Duration = Duration::from_millis(500);
/// The size a reset WAL file is truncated to.
pub const JOURNAL_SIZE_LIMIT: i64 = 64 << 20;

/// The checkpointing thread; it checkpoints a last time and ends when this
/// is dropped.
pub struct Checkpointer {
    _stop: mpsc::Sender<()>,
}

impl Checkpointer {
    /// Starts checkpointing the database at `path` (already in WAL mode).
    pub fn start(path: &Path) -> Result<Checkpointer, rusqlite::Error> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(Duration::from_secs(5))?;
        conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        let (stop, stopped) = mpsc::channel::<()>();
        let started = std::thread::Builder::new()
            .name("turnbox-checkpoint".into())
            .spawn(move || run(&conn, &stopped));
        if let Err(e) = started {
            tracing::warn!(error = %e, "cannot start the WAL checkpointer; SQLite checkpoints on commit");
        }
        Ok(Checkpointer { _stop: stop })
    }
}

fn run(conn: &Connection, stopped: &mpsc::Receiver<()>) {
    loop {
        // The storage gone (or a stop sent): one last checkpoint.
        let last = !matches!(
            stopped.recv_timeout(INTERVAL),
            Err(mpsc::RecvTimeoutError::Timeout)
        );
        match checkpoint(conn) {
            Ok((log, copied)) if log > 0 => {
                tracing::trace!(wal_pages = log, copied, "WAL checkpoint");
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "WAL checkpoint failed; trying again"),
        }
        if last {
            return;
        }
    }
}

/// A passive checkpoint: the WAL's pages and how many are now copied back.
fn checkpoint(conn: &Connection) -> Result<(i64, i64), rusqlite::Error> {
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| {
        Ok((row.get(1)?, row.get(2)?))
    })
}
