//! The embedded SQLite storage (WAL): `SqliteStorage`, its connections
//! and the `TurnRecords` it commits together. Each store keeps its tables
//! and queries in a file of its own here (`state.rs`: one table of items
//! keyed by namespace and key, each with its eTag; `transcripts.rs`,
//! `references.rs`, `timers.rs`, `dedup.rs`, `directline.rs`, `outbox.rs`, `uploads.rs`);
//! `commit_records` here commits turns, each in a savepoint; opening the
//! database makes every store's schema, after installing SQLite's page
//! cache with one fix (`page_cache.rs`). Calls block: use them off the
//! executor, except the point reads that `quick_reads` allows on it (a file
//! database has read-only connections of their own, which WAL never makes
//! wait for the writer).

mod accepted;
mod api_conversations;
mod checkpoint;
mod dedup;
mod delivered_filter;
mod directline;
mod outbox;
mod page_cache;
mod references;
mod skill_conversations;
mod state;
mod timers;
mod transcripts;
mod uploads;

use std::path::Path;
use std::sync::{Arc, Mutex};

use rusqlite::Connection;

use super::{Committed, RecordOutcomes, StorageError, TurnCommit, TurnRecord, TurnRecords};

pub struct SqliteStorage {
    conn: Mutex<Connection>,
    /// Read-only connections to the same file (none for an in-memory
    /// database, which no other connection can open).
    readers: Vec<Mutex<Connection>>,
    /// The exclusive lock on `<db>.lock`, held while open: one host alone
    /// uses a database file (its claims of deliveries and timers are its
    /// own memory and order).
    _lock: Option<std::fs::File>,
    /// Checkpoints the WAL off the commit path (a file database only).
    _checkpointer: Option<checkpoint::Checkpointer>,
    /// The deliveries in `delivered`, in memory: most lookups stop here.
    delivered: Arc<delivered_filter::DeliveredFilter>,
}

/// WAL pages between automatic checkpoints, when the checkpointer thread
/// does not run (an in-memory database, or `TURNBOX_SQLITE_AUTOCHECKPOINT`
/// set, to compare).
const WAL_CHECKPOINT_PAGES: i64 = 10_000;

/// The writer's page cache, in KiB (SQLite's default is 2 MiB). Each turn
/// inserts its delivery into the primary-key index of `delivered` at a
/// random place, and a minute's window of a busy host's index is tens of
/// MiB: with the default cache, most of those inserts first read their
/// page back from the WAL or the file. The cache fills only as the tables
/// grow.
const WRITER_CACHE_KIB: i64 = 64 << 10;

/// How many read-only connections a file database keeps.
fn reader_count() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get().clamp(2, 8))
}

/// How a file database is opened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SqliteOptions {
    /// Every connection on SQLite's `unix-excl` VFS: the file is locked
    /// for this process alone while open, and the WAL index lives in its
    /// heap instead of the `-shm` file, so a transaction takes no `fcntl`
    /// lock (docs/PERFORMANCE.md, thirteenth round: 4.3 such calls a
    /// turn). No other process can open the database meanwhile.
    pub exclusive: bool,
}

/// Opens a connection to the file database at `path`. A read-only one is
/// read-write with `query_only` on the exclusive VFS, whose WAL index a
/// read-only connection cannot build.
fn open_file(path: &Path, read_only: bool, options: SqliteOptions) -> rusqlite::Result<Connection> {
    use rusqlite::OpenFlags;
    let mut flags = OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI;
    if read_only && !options.exclusive {
        flags |= OpenFlags::SQLITE_OPEN_READ_ONLY;
    } else {
        flags |= OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE;
    }
    let conn = if options.exclusive {
        Connection::open_with_flags_and_vfs(path, flags, c"unix-excl")?
    } else {
        Connection::open_with_flags(path, flags)?
    };
    if read_only && options.exclusive {
        conn.pragma_update(None, "query_only", true)?;
    }
    Ok(conn)
}

/// A SQLite failure as a storage error (shared by the SQLite stores).
fn backend(err: rusqlite::Error) -> StorageError {
    StorageError::Backend(err.to_string())
}

impl SqliteStorage {
    /// Opens (creating) the database at `path`.
    pub fn open(path: &Path) -> Result<Self, StorageError> {
        Self::open_with(path, SqliteOptions::default())
    }

    /// Opens (creating) the database at `path`, as `options` say.
    pub fn open_with(path: &Path, options: SqliteOptions) -> Result<Self, StorageError> {
        page_cache::install();
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| StorageError::Backend(e.to_string()))?;
        }
        let lock_path = path.with_extension("db.lock");
        let lock = std::fs::File::create(&lock_path).map_err(|e| {
            StorageError::Backend(format!("cannot create {}: {e}", lock_path.display()))
        })?;
        lock.try_lock().map_err(|e| {
            StorageError::Backend(format!(
                "{} is in use by another turnbox host ({e}); one host alone may use an SQLite database: \
                 stop it, use another --data folder, or share a PostgreSQL database (--storage)",
                path.display()
            ))
        })?;
        let conn = open_file(path, false, options)
            .map_err(|e| StorageError::Backend(format!("cannot open {}: {e}", path.display())))?;
        conn.pragma_update(None, "cache_size", -WRITER_CACHE_KIB)
            .map_err(backend)?;
        let mut storage = Self::init(conn)?;
        storage._lock = Some(lock);
        if std::env::var_os("TURNBOX_SQLITE_AUTOCHECKPOINT").is_none() {
            storage._checkpointer =
                Some(checkpoint::Checkpointer::start(path, options).map_err(backend)?);
            storage
                .conn()
                .pragma_update(None, "wal_autocheckpoint", 0)
                .map_err(backend)?;
        }
        // Opened after the writer made the schema and switched to WAL.
        for _ in 0..reader_count() {
            let reader = open_file(path, true, options).map_err(backend)?;
            reader
                .busy_timeout(std::time::Duration::from_secs(5))
                .map_err(backend)?;
            storage.readers.push(Mutex::new(reader));
        }
        storage.load_delivered(path, options)?;
        Ok(storage)
    }

    /// Reads the deliveries already recorded into the filter, on a thread
    /// of its own (a busy host's table holds millions); lookups go to the
    /// database until it is done, or for good if it fails.
    fn load_delivered(&self, path: &Path, options: SqliteOptions) -> Result<(), StorageError> {
        let reader = open_file(path, true, options).map_err(backend)?;
        let filter = self.delivered.clone();
        std::thread::Builder::new()
            .name("delivered-filter".into())
            .spawn(move || match delivered_filter::load(&filter, &reader) {
                Ok(rows) => tracing::debug!(rows, "recorded deliveries read into the filter"),
                Err(err) => tracing::warn!(
                    error = %err,
                    "cannot read the recorded deliveries; every de-duplication lookup reads the database"
                ),
            })
            .map_err(|e| StorageError::Backend(e.to_string()))?;
        Ok(())
    }

    /// A private in-memory database (tests, `turnbox test`).
    pub fn in_memory() -> Result<Self, StorageError> {
        page_cache::install();
        let storage = Self::init(Connection::open_in_memory().map_err(backend)?)?;
        delivered_filter::load(&storage.delivered, &storage.conn()).map_err(backend)?;
        Ok(storage)
    }

    fn init(conn: Connection) -> Result<Self, StorageError> {
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(backend)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(backend)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(backend)?;
        // Every channel turn writes a few rows (`group_commit.rs`): with
        // checkpoints every 10,000 pages (a WAL of up to ~40 MiB) instead of
        // SQLite's 1,000, a page rewritten by many turns is copied back to
        // the database once per checkpoint, not ten times (+6% turns/s in
        // docs/PERFORMANCE.md's harness).
        conn.pragma_update(None, "wal_autocheckpoint", WAL_CHECKPOINT_PAGES)
            .map_err(backend)?;
        conn.pragma_update(None, "journal_size_limit", checkpoint::JOURNAL_SIZE_LIMIT)
            .map_err(backend)?;
        conn.execute_batch(state::SCHEMA).map_err(backend)?;
        conn.execute_batch(transcripts::SCHEMA).map_err(backend)?;
        conn.execute_batch(references::SCHEMA).map_err(backend)?;
        conn.execute_batch(timers::SCHEMA).map_err(backend)?;
        conn.execute_batch(dedup::SCHEMA).map_err(backend)?;
        conn.execute_batch(directline::SCHEMA).map_err(backend)?;
        conn.execute_batch(outbox::SCHEMA).map_err(backend)?;
        conn.execute_batch(accepted::SCHEMA).map_err(backend)?;
        conn.execute_batch(api_conversations::SCHEMA)
            .map_err(backend)?;
        conn.execute_batch(uploads::SCHEMA).map_err(backend)?;
        conn.execute_batch(skill_conversations::SCHEMA)
            .map_err(backend)?;
        state::migrate(&conn)?;
        Ok(SqliteStorage {
            conn: Mutex::new(conn),
            readers: Vec::new(),
            _lock: None,
            _checkpointer: None,
            delivered: Arc::new(delivered_filter::DeliveredFilter::new()),
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether point reads through `reader` are quick enough to run on the
    /// async executor: only with read-only connections, which no writer
    /// holds up.
    pub fn quick_reads(&self) -> bool {
        !self.readers.is_empty()
    }

    /// A free read-only connection (the writer's when there are none).
    fn reader(&self) -> std::sync::MutexGuard<'_, Connection> {
        for reader in &self.readers {
            if let Ok(free) = reader.try_lock() {
                return free;
            }
        }
        match self.readers.first() {
            Some(reader) => reader.lock().unwrap_or_else(|p| p.into_inner()),
            None => self.conn(),
        }
    }

    /// Adds the deliveries `records` write to the filter, before their
    /// commit: a duplicate that follows the commit must not be ruled out.
    /// (A batch that fails leaves false positives: lookups, no harm.)
    fn add_deliveries(&self, records: &[TurnRecord]) {
        let now = crate::support::clock::now_millis();
        for record in records {
            match record {
                TurnRecord::Turn(turn) => {
                    if let Some(d) = &turn.delivery {
                        self.delivered
                            .add(&turn.bot, &d.conversation, &d.activity_id, now);
                    }
                }
                TurnRecord::Answer {
                    bot,
                    conversation,
                    activity_id,
                    ..
                } => self.delivered.add(bot, conversation, activity_id, now),
                TurnRecord::Posted { .. } => {}
            }
        }
    }
}

impl TurnRecords for SqliteStorage {
    fn commit_records(&self, records: &[TurnRecord]) -> Result<RecordOutcomes, StorageError> {
        self.add_deliveries(records);
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(backend)?;
        let mut outcomes = Vec::with_capacity(records.len());
        for record in records {
            let outcome = match record {
                TurnRecord::Turn(turn) if writes_before_checks(turn) => {
                    // Rolled back alone on an error.
                    run_cached(&tx, "SAVEPOINT turn")?;
                    let committed = commit_turn(&tx, turn);
                    if committed.is_err() {
                        run_cached(&tx, "ROLLBACK TO turn")?;
                    }
                    run_cached(&tx, "RELEASE turn")?;
                    committed
                }
                // Its first write is its only check (the delivery's): a
                // refusal there wrote nothing; any other failure after a
                // write fails the batch, which writes nothing at all.
                TurnRecord::Turn(turn) => match commit_turn(&tx, turn) {
                    Err(err @ StorageError::ClaimLost) => Err(err),
                    Err(err) => return Err(err),
                    ok => ok,
                },
                TurnRecord::Answer {
                    bot,
                    conversation,
                    activity_id,
                    answer,
                } => dedup::record_delivery(&tx, bot, conversation, activity_id, answer)
                    .map(|()| Committed::default()),
                TurnRecord::Posted { seqs, .. } => {
                    outbox::remove(&tx, seqs).map(|()| Committed::default())
                }
            };
            outcomes.push(outcome);
        }
        tx.commit().map_err(backend)?;
        Ok(outcomes)
    }
}

/// Whether a turn writes before a step that may refuse it (the delivery
/// record comes first; then its state's eTag checks and its fired timer's
/// presence): then it needs a savepoint of its own to be rolled back
/// alone.
fn writes_before_checks(turn: &TurnCommit) -> bool {
    !turn.state.is_empty() || !turn.timers.is_empty() || turn.fired_timer.is_some()
}

/// Runs a statement without parameters through the statement cache (a
/// savepoint per turn is on every commit's path).
fn run_cached(conn: &Connection, sql: &str) -> Result<(), StorageError> {
    conn.prepare_cached(sql)
        .map_err(backend)?
        .execute([])
        .map_err(backend)?;
    Ok(())
}

/// Everything one turn commits, on `conn` (its savepoint).
fn commit_turn(conn: &Connection, turn: &TurnCommit) -> Result<Committed, StorageError> {
    // The delivery first: a duplicate is refused before anything else.
    if let Some(delivery) = &turn.delivery {
        dedup::record_claimed_delivery(conn, &turn.bot, delivery)?;
    }
    if !turn.state.is_empty() {
        state::write_changes(conn, &turn.bot, &turn.state, &turn.quota)?;
    }
    for op in &turn.timers {
        timers::apply(conn, &turn.bot, op)?;
    }
    if let Some(id) = &turn.fired_timer
        && !timers::complete(conn, id)?
    {
        return Err(StorageError::ClaimLost);
    }
    if let Some((conversation, reference)) = &turn.reference {
        references::save(conn, &turn.bot, conversation, reference)?;
    }
    if let Some((conversation, activity_id)) = &turn.accepted {
        accepted::finish(conn, &turn.bot, conversation, activity_id)?;
    }
    outbox::insert(
        conn,
        &turn.bot,
        &turn.outbox,
        turn.outbox_lease_until,
        &turn.outbox_owner,
    )
}
