//! The PostgreSQL backend (`--storage postgres://…`): state, transcripts,
//! conversation references, timers, de-duplication records and the outbox
//! in one database that several hosts share. The schema is versioned and
//! migrated at start-up under an advisory lock (hosts may start together).
//! State eTags are the row's version, drawn from one sequence and checked
//! by compare-and-set in SQL, so an eTag is never reused, even after a
//! delete. Timers are claimed with `FOR UPDATE SKIP LOCKED` and a lease: a
//! claim that its host never completes (the host died) lapses, and another
//! host takes the timer over; deliveries (an "in progress" row with an
//! owner) and outbox rows are claimed with leases too. A turn commits
//! everything it changed (state, timers, its delivery's answer, the
//! conversation reference, its outbox rows) in one transaction, several
//! turns together, each in a savepoint of its own; a deadlock between
//! concurrent commits fails the turn with a `Conflict`, and it runs again.
//! Connections use TLS (rustls) whenever the server offers it, verified
//! against the webpki roots and an optional CA file; `sslmode=require` in
//! the URL refuses a server without TLS. Calls block: use them off the
//! executor.
//!
//! One file per concern: this one holds `PgStorage`, its connection pool,
//! connecting and TLS; `commit.rs` the turn records committed together
//! (`commit_records`, `commit_turn`); `migrations.rs` the versioned
//! schema; `state.rs`, `transcripts.rs`, `references.rs`, `timers.rs`,
//! `dedup.rs`, `directline.rs` and `outbox.rs` one store each; `listen.rs`
//! the Direct Line listener (`LISTEN`/`NOTIFY`).

mod accepted;
mod api_conversations;
mod commit;
mod dedup;
mod directline;
mod listen;
mod migrations;
mod outbox;
mod references;
mod skill_conversations;
mod state;
mod timers;
mod transcripts;
mod uploads;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use r2d2_postgres::PostgresConnectionManager;
use tokio_postgres_rustls::MakeRustlsConnect;

use super::StorageError;

type Pool = r2d2::Pool<PostgresConnectionManager<MakeRustlsConnect>>;
type Connection = r2d2::PooledConnection<PostgresConnectionManager<MakeRustlsConnect>>;

/// The default lease of a claimed timer: longer than any turn may take.
pub const DEFAULT_TIMER_LEASE: Duration = Duration::from_secs(60);

/// The channel of Direct Line notices (`directline.rs` sends them, `listen.rs`
/// receives them).
const DIRECTLINE_CHANNEL: &str = "turnbox_directline";

pub struct PgStorage {
    /// Always `Some` until dropped (see `Drop`).
    pool: Option<Pool>,
    timer_lease_ms: i64,
    /// How to open a connection of its own (the Direct Line listener).
    config: postgres::Config,
    tls: MakeRustlsConnect,
    /// This storage's random name in Direct Line notices, so that it
    /// ignores its own.
    origin: String,
}

/// The blocking client closes its connections on a runtime of its own,
/// which cannot run on an async thread: a storage dropped there (the host
/// shutting down) closes them on a thread of their own.
impl Drop for PgStorage {
    fn drop(&mut self) {
        if let Some(pool) = self.pool.take()
            && tokio::runtime::Handle::try_current().is_ok()
        {
            let _ = std::thread::spawn(move || drop(pool)).join();
        }
    }
}

/// A backend error with its reason: a server error's own message and code
/// (`postgres::Error` shows only "db error" for one; its detail, which may
/// hold row values, is left out, as the message may reach a client), or
/// the cause of a client-side one.
fn backend<E: std::fmt::Display + 'static>(err: E) -> StorageError {
    let Some(pg) = (&err as &dyn std::any::Any).downcast_ref::<postgres::Error>() else {
        return StorageError::Backend(err.to_string());
    };
    StorageError::Backend(match (pg.as_db_error(), std::error::Error::source(pg)) {
        (Some(db), _) => format!("{err}: {} ({})", db.message(), db.code().code()),
        (None, Some(cause)) => format!("{err}: {cause}"),
        (None, None) => err.to_string(),
    })
}

impl PgStorage {
    /// Connects to `url` (`postgres://user:password@host:port/db`, or the
    /// key=value form), migrates the schema and checks it. `ca_file` (PEM)
    /// adds certificate authorities to the webpki roots for TLS.
    pub fn connect(
        url: &str,
        timer_lease: Duration,
        ca_file: Option<&Path>,
    ) -> Result<Self, StorageError> {
        let config: postgres::Config = url
            .parse()
            .map_err(|e| StorageError::Backend(format!("bad PostgreSQL URL: {e}")))?;
        let tls = tls(ca_file)?;
        // One connection first: a wrong address, password or certificate
        // fails here at once, with its cause.
        config.connect(tls.clone()).map_err(|e| {
            StorageError::Backend(format!(
                "cannot connect to PostgreSQL: {}",
                crate::support::errors::error_chain(&e)
            ))
        })?;
        let manager = PostgresConnectionManager::new(config.clone(), tls.clone());
        let pool = r2d2::Pool::builder()
            .max_size(16)
            // Connections open as turns need them, not all at start-up.
            .min_idle(Some(2))
            .connection_timeout(Duration::from_secs(10))
            .build(manager)
            .map_err(|e| StorageError::Backend(format!("cannot connect to PostgreSQL: {e}")))?;
        let storage = PgStorage {
            pool: Some(pool),
            timer_lease_ms: timer_lease.as_millis() as i64,
            config,
            tls,
            origin: crate::support::ids::random_id(),
        };
        storage.migrate()?;
        tracing::info!(
            tls = storage.connection_is_encrypted()?,
            schema = storage.schema_version()?,
            "PostgreSQL ready"
        );
        Ok(storage)
    }

    /// Whether this host's connections to the server are encrypted.
    pub fn connection_is_encrypted(&self) -> Result<bool, StorageError> {
        Ok(self
            .conn()?
            .query_one(
                "SELECT COALESCE((SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()), false)",
                &[],
            )
            .map_err(backend)?
            .get(0))
    }

    fn conn(&self) -> Result<Connection, StorageError> {
        self.pool
            .as_ref()
            .ok_or_else(|| StorageError::Backend("the PostgreSQL pool is closed".into()))?
            .get()
            .map_err(|e| StorageError::Backend(format!("no PostgreSQL connection: {e}")))
    }
}

/// The TLS connector: rustls with ring, the webpki roots, and the
/// certificates of `ca_file` if given.
fn tls(ca_file: Option<&Path>) -> Result<MakeRustlsConnect, StorageError> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    if let Some(path) = ca_file {
        let bad = |e: &dyn std::fmt::Display| {
            StorageError::Backend(format!("cannot read the CA file {}: {e}", path.display()))
        };
        let certs = CertificateDer::pem_file_iter(path)
            .map_err(|e| bad(&e))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| bad(&e))?;
        if certs.is_empty() {
            return Err(bad(&"no certificate in it"));
        }
        for cert in certs {
            roots.add(cert).map_err(|e| bad(&e))?;
        }
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| StorageError::Backend(format!("cannot set up TLS: {e}")))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}
