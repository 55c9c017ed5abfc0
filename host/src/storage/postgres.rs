//! The PostgreSQL backend (`--storage postgres://…`): state, transcripts,
//! conversation references, timers and de-duplication records in one
//! database that several hosts share. The schema is versioned and migrated
//! at start-up under an advisory lock (hosts may start together). State
//! eTags are the row's version, drawn from one sequence and checked by
//! compare-and-set in SQL, so an eTag is never reused, even after a delete.
//! Timers are claimed with `FOR UPDATE SKIP LOCKED` and a lease: a claim
//! that its host never completes (the host died) lapses, and another host
//! takes the timer over. Connections use TLS (rustls) whenever the server
//! offers it, verified against the webpki roots and an optional CA file;
//! `sslmode=require` in the URL refuses a server without TLS. Calls block:
//! use them off the executor.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Weak};
use std::time::Duration;

use r2d2_postgres::PostgresConnectionManager;
use serde_json::Value;
use tokio_postgres_rustls::MakeRustlsConnect;

use super::dedup::{Answer, DedupStore};
use super::directline::{
    DirectLineConversation, DirectLineStore, Notice, assign_id, decode_channel_key,
    new_channel_key, parse_logged,
};
use super::references::ReferenceStore;
use super::timers::{Timer, TimerStore};
use super::transcripts::{ConversationSummary, Page, TranscriptEntry, TranscriptStore, page};
use super::{
    Change, Condition, Quota, Storage, StorageError, StoreItem, now_millis, parse_stored_value,
};

type Pool = r2d2::Pool<PostgresConnectionManager<MakeRustlsConnect>>;
type Connection = r2d2::PooledConnection<PostgresConnectionManager<MakeRustlsConnect>>;

/// The schema, one migration per version, applied in order. Never edit a
/// released migration: add the next one.
const MIGRATIONS: &[(i32, &str)] = &[
    (
        1,
        "
CREATE SEQUENCE state_versions;
CREATE TABLE state_items (
    namespace TEXT NOT NULL,
    key       TEXT NOT NULL,
    value     TEXT NOT NULL,
    version   BIGINT NOT NULL,
    updated   BIGINT NOT NULL,
    PRIMARY KEY (namespace, key)
);
CREATE TABLE transcript (
    seq          BIGSERIAL PRIMARY KEY,
    bot          TEXT NOT NULL,
    channel      TEXT NOT NULL,
    conversation TEXT NOT NULL,
    at           TEXT NOT NULL,
    activity     TEXT NOT NULL
);
CREATE INDEX transcript_by_conversation ON transcript (bot, conversation, seq);
CREATE TABLE conversation_refs (
    bot          TEXT NOT NULL,
    conversation TEXT NOT NULL,
    reference    TEXT NOT NULL,
    updated      BIGINT NOT NULL,
    PRIMARY KEY (bot, conversation)
);
CREATE TABLE timers (
    id            TEXT PRIMARY KEY,
    bot           TEXT NOT NULL,
    due           BIGINT NOT NULL,
    name          TEXT NOT NULL,
    value         TEXT,
    reference     TEXT NOT NULL,
    claimed_until BIGINT
);
CREATE INDEX timers_by_due ON timers (due);
CREATE TABLE delivered (
    bot          TEXT NOT NULL,
    conversation TEXT NOT NULL,
    activity_id  TEXT NOT NULL,
    status       INTEGER NOT NULL,
    body         TEXT,
    created      BIGINT NOT NULL,
    PRIMARY KEY (bot, conversation, activity_id)
);
CREATE INDEX delivered_created ON delivered (created);
",
    ),
    (
        2,
        "
CREATE TABLE directline_conversations (
    id            TEXT PRIMARY KEY,
    bot           TEXT NOT NULL,
    user_id       TEXT NOT NULL,
    started       BOOLEAN NOT NULL DEFAULT false,
    next_position BIGINT NOT NULL DEFAULT 0,
    updated       BIGINT NOT NULL
);
CREATE TABLE directline_activities (
    conversation TEXT NOT NULL,
    position     BIGINT NOT NULL,
    activity     TEXT NOT NULL,
    PRIMARY KEY (conversation, position)
);
CREATE TABLE directline_keys (
    name TEXT PRIMARY KEY,
    key  TEXT NOT NULL
);
",
    ),
];

/// The advisory lock that serialises migrations between hosts.
const MIGRATION_LOCK: i64 = 0x0074_7572_6e62_6f78; // "turnbox" in ASCII

/// The default lease of a claimed timer: longer than any turn may take.
pub const DEFAULT_TIMER_LEASE: Duration = Duration::from_secs(60);

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

fn backend(err: impl std::fmt::Display) -> StorageError {
    StorageError::Backend(err.to_string())
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
                crate::connector::error_chain(&e)
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
            origin: super::new_etag(),
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

    /// Applies the migrations this database lacks; refuses a schema newer
    /// than this binary knows.
    fn migrate(&self) -> Result<(), StorageError> {
        let mut conn = self.conn()?;
        let mut tx = conn.transaction().map_err(backend)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .map_err(backend)?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS turnbox_schema (
                 version    INTEGER PRIMARY KEY,
                 applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
             )",
        )
        .map_err(backend)?;
        let current: i32 = tx
            .query_one("SELECT COALESCE(MAX(version), 0) FROM turnbox_schema", &[])
            .map_err(backend)?
            .get(0);
        let newest = MIGRATIONS.last().map_or(0, |(v, _)| *v);
        if current > newest {
            return Err(StorageError::Backend(format!(
                "the database schema is version {current}, newer than this turnbox knows ({newest}): upgrade turnbox"
            )));
        }
        for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > current) {
            tx.batch_execute(sql)
                .map_err(|e| StorageError::Backend(format!("migration {version} failed: {e}")))?;
            tx.execute(
                "INSERT INTO turnbox_schema (version) VALUES ($1)",
                &[version],
            )
            .map_err(backend)?;
            tracing::info!(version, "PostgreSQL schema migrated");
        }
        tx.commit().map_err(backend)
    }

    /// The schema version the database is at.
    pub fn schema_version(&self) -> Result<i32, StorageError> {
        Ok(self
            .conn()?
            .query_one("SELECT COALESCE(MAX(version), 0) FROM turnbox_schema", &[])
            .map_err(backend)?
            .get(0))
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

/// An eTag as the version it names; anything else names no version.
fn version_of(etag: &str) -> Option<i64> {
    etag.parse().ok()
}

fn namespace_bytes(
    client: &mut impl postgres::GenericClient,
    namespace: &str,
) -> Result<u64, StorageError> {
    let total: i64 = client
        .query_one(
            "SELECT COALESCE(SUM(octet_length(value)), 0)::BIGINT FROM state_items WHERE namespace = $1",
            &[&namespace],
        )
        .map_err(backend)?
        .get(0);
    Ok(total as u64)
}

impl Storage for PgStorage {
    fn read(
        &self,
        namespace: &str,
        keys: &[String],
    ) -> Result<HashMap<String, StoreItem>, StorageError> {
        let rows = self
            .conn()?
            .query(
                "SELECT key, value, version FROM state_items WHERE namespace = $1 AND key = ANY($2)",
                &[&namespace, &keys],
            )
            .map_err(backend)?;
        let mut items = HashMap::new();
        for row in rows {
            let key: String = row.get(0);
            let text: String = row.get(1);
            let version: i64 = row.get(2);
            let value = parse_stored_value(&key, &text)?;
            items.insert(
                key,
                StoreItem {
                    value,
                    etag: version.to_string(),
                },
            );
        }
        Ok(items)
    }

    fn write(
        &self,
        namespace: &str,
        changes: &[Change],
        quota: &Quota,
    ) -> Result<HashMap<String, String>, StorageError> {
        let mut conn = self.conn()?;
        let mut tx = conn.transaction().map_err(backend)?;
        let mut etags = HashMap::new();
        let now = now_millis();
        for change in changes {
            let text = change.value.to_string();
            let size = text.len() as u64;
            if size > quota.max_value_bytes {
                return Err(StorageError::ValueTooLarge {
                    key: change.key.clone(),
                    size,
                    limit: quota.max_value_bytes,
                });
            }
            let key = &change.key;
            let insert_new = "INSERT INTO state_items (namespace, key, value, version, updated)
                 VALUES ($1, $2, $3, nextval('state_versions'), $4)
                 ON CONFLICT (namespace, key) DO NOTHING RETURNING version";
            let written = match &change.condition {
                Condition::Any => tx
                    .query_opt(
                        "INSERT INTO state_items (namespace, key, value, version, updated)
                         VALUES ($1, $2, $3, nextval('state_versions'), $4)
                         ON CONFLICT (namespace, key) DO UPDATE SET
                           value = excluded.value, version = excluded.version, updated = excluded.updated
                         RETURNING version",
                        &[&namespace, key, &text, &now],
                    )
                    .map_err(backend)?,
                Condition::Absent => tx
                    .query_opt(insert_new, &[&namespace, key, &text, &now])
                    .map_err(backend)?,
                Condition::Match(etag) => {
                    // Compare-and-set on the version; a key that does not
                    // exist is created (botbuilder's contract).
                    let updated = match version_of(etag) {
                        Some(expected) => tx
                            .query_opt(
                                "UPDATE state_items SET value = $3, version = nextval('state_versions'), updated = $4
                                 WHERE namespace = $1 AND key = $2 AND version = $5
                                 RETURNING version",
                                &[&namespace, key, &text, &now, &expected],
                            )
                            .map_err(backend)?,
                        None => None,
                    };
                    match updated {
                        Some(row) => Some(row),
                        None => tx
                            .query_opt(insert_new, &[&namespace, key, &text, &now])
                            .map_err(backend)?,
                    }
                }
            };
            let Some(row) = written else {
                return Err(StorageError::Conflict(key.clone()));
            };
            let version: i64 = row.get(0);
            etags.insert(key.clone(), version.to_string());
        }
        let total = namespace_bytes(&mut tx, namespace)?;
        if total > quota.max_total_bytes {
            return Err(StorageError::QuotaExceeded {
                size: total,
                limit: quota.max_total_bytes,
            });
        }
        tx.commit().map_err(backend)?;
        Ok(etags)
    }

    fn delete(&self, namespace: &str, keys: &[String]) -> Result<(), StorageError> {
        self.conn()?
            .execute(
                "DELETE FROM state_items WHERE namespace = $1 AND key = ANY($2)",
                &[&namespace, &keys],
            )
            .map_err(backend)?;
        Ok(())
    }

    fn total_bytes(&self, namespace: &str) -> Result<u64, StorageError> {
        namespace_bytes(&mut *self.conn()?, namespace)
    }
}

impl TranscriptStore for PgStorage {
    fn append(&self, bot: &str, entries: &[TranscriptEntry]) -> Result<(), StorageError> {
        let mut conn = self.conn()?;
        let mut tx = conn.transaction().map_err(backend)?;
        for entry in entries {
            let text = serde_json::to_string(&entry.activity).map_err(backend)?;
            tx.execute(
                "INSERT INTO transcript (bot, channel, conversation, at, activity) VALUES ($1, $2, $3, $4, $5)",
                &[
                    &bot,
                    &entry.channel,
                    &entry.conversation,
                    &entry.activity.timestamp.clone().unwrap_or_default(),
                    &text,
                ],
            )
            .map_err(backend)?;
        }
        tx.commit().map_err(backend)
    }

    fn conversations(
        &self,
        bot: &str,
        limit: u32,
        token: Option<&str>,
    ) -> Result<Page<ConversationSummary>, StorageError> {
        let before = super::transcripts::parse_token(token)?.unwrap_or(i64::MAX);
        let rows = self
            .conn()?
            .query(
                "SELECT conversation, channel, COUNT(*), MAX(seq), MAX(at) FROM transcript WHERE bot = $1
                 GROUP BY channel, conversation HAVING MAX(seq) < $2 ORDER BY MAX(seq) DESC LIMIT $3",
                &[&bot, &before, &(i64::from(limit) + 1)],
            )
            .map_err(backend)?;
        let rows = rows
            .into_iter()
            .map(|row| {
                (
                    ConversationSummary {
                        id: row.get(0),
                        channel_id: row.get(1),
                        activity_count: row.get::<_, i64>(2) as u64,
                        last_activity_at: row.get(4),
                    },
                    row.get::<_, i64>(3),
                )
            })
            .collect();
        Ok(page(rows, limit))
    }

    fn activities(
        &self,
        bot: &str,
        conversation: &str,
        limit: u32,
        token: Option<&str>,
    ) -> Result<Page<Value>, StorageError> {
        let after = super::transcripts::parse_token(token)?.unwrap_or(0);
        let rows = self
            .conn()?
            .query(
                "SELECT activity, seq FROM transcript WHERE bot = $1 AND conversation = $2 AND seq > $3
                 ORDER BY seq LIMIT $4",
                &[&bot, &conversation, &after, &(i64::from(limit) + 1)],
            )
            .map_err(backend)?;
        let rows = rows
            .into_iter()
            .map(|row| {
                let text: String = row.get(0);
                (
                    serde_json::from_str(&text).unwrap_or(Value::Null),
                    row.get::<_, i64>(1),
                )
            })
            .collect();
        Ok(page(rows, limit))
    }
}

impl ReferenceStore for PgStorage {
    fn save_reference(
        &self,
        bot: &str,
        conversation: &str,
        reference: &Value,
    ) -> Result<(), StorageError> {
        save_reference(&mut *self.conn()?, bot, conversation, reference)
    }

    fn reference(&self, bot: &str, conversation: &str) -> Result<Option<Value>, StorageError> {
        let row = self
            .conn()?
            .query_opt(
                "SELECT reference FROM conversation_refs WHERE bot = $1 AND conversation = $2",
                &[&bot, &conversation],
            )
            .map_err(backend)?;
        Ok(row.and_then(|row| serde_json::from_str(row.get::<_, &str>(0)).ok()))
    }
}

/// A timer no host holds: never claimed, or its claim lapsed.
const UNCLAIMED: &str = "(claimed_until IS NULL OR claimed_until < $3)";

impl TimerStore for PgStorage {
    fn schedule(&self, timer: &Timer) -> Result<(), StorageError> {
        self.conn()?
            .execute(
                "INSERT INTO timers (id, bot, due, name, value, reference) VALUES ($1, $2, $3, $4, $5, $6)",
                &[
                    &timer.id,
                    &timer.bot,
                    &timer.due,
                    &timer.name,
                    &timer.value.as_ref().map(Value::to_string),
                    &timer.reference.to_string(),
                ],
            )
            .map_err(backend)?;
        Ok(())
    }

    fn cancel(&self, bot: &str, id: &str) -> Result<bool, StorageError> {
        let removed = self
            .conn()?
            .execute(
                &format!("DELETE FROM timers WHERE id = $1 AND bot = $2 AND {UNCLAIMED}"),
                &[&id, &bot, &now_millis()],
            )
            .map_err(backend)?;
        Ok(removed > 0)
    }

    fn exists(&self, bot: &str, id: &str) -> Result<bool, StorageError> {
        let row = self
            .conn()?
            .query_opt(
                &format!("SELECT 1 FROM timers WHERE id = $1 AND bot = $2 AND {UNCLAIMED}"),
                &[&id, &bot, &now_millis()],
            )
            .map_err(backend)?;
        Ok(row.is_some())
    }

    fn claim_due(&self, now: i64, limit: u32) -> Result<Vec<Timer>, StorageError> {
        // Rows another host is claiming right now are skipped, not waited
        // for: each due timer goes to exactly one claim.
        let rows = self
            .conn()?
            .query(
                "UPDATE timers SET claimed_until = $1 + $2
                 WHERE id IN (
                     SELECT id FROM timers
                     WHERE due <= $1 AND (claimed_until IS NULL OR claimed_until < $1)
                     ORDER BY due LIMIT $3
                     FOR UPDATE SKIP LOCKED
                 )
                 RETURNING id, bot, due, name, value, reference",
                &[&now, &self.timer_lease_ms, &i64::from(limit)],
            )
            .map_err(backend)?;
        let mut timers: Vec<Timer> = rows
            .into_iter()
            .map(|row| {
                Timer::from_stored(
                    row.get(0),
                    row.get(1),
                    row.get(2),
                    row.get(3),
                    row.get(4),
                    row.get(5),
                )
            })
            .collect();
        timers.sort_by_key(|t| t.due);
        Ok(timers)
    }

    fn complete(&self, id: &str) -> Result<(), StorageError> {
        self.conn()?
            .execute("DELETE FROM timers WHERE id = $1", &[&id])
            .map_err(backend)?;
        Ok(())
    }

    fn release(&self, id: &str, due: i64) -> Result<(), StorageError> {
        self.conn()?
            .execute(
                "UPDATE timers SET claimed_until = NULL, due = $2 WHERE id = $1",
                &[&id, &due],
            )
            .map_err(backend)?;
        Ok(())
    }

    /// Other hosts may hold live claims: nothing is released here; the
    /// claims of a host that died lapse with their lease.
    fn release_all(&self) -> Result<(), StorageError> {
        Ok(())
    }
}

impl DedupStore for PgStorage {
    fn answered(
        &self,
        bot: &str,
        conversation: &str,
        activity_id: &str,
        since_ms: i64,
    ) -> Result<Option<Answer>, StorageError> {
        let row = self
            .conn()?
            .query_opt(
                "SELECT status, body FROM delivered
                 WHERE bot = $1 AND conversation = $2 AND activity_id = $3 AND created >= $4",
                &[&bot, &conversation, &activity_id, &since_ms],
            )
            .map_err(backend)?;
        Ok(row.map(|row| {
            let status: i32 = row.get(0);
            let body: Option<String> = row.get(1);
            Answer {
                status: u16::try_from(status).unwrap_or(500),
                body,
            }
        }))
    }

    fn record(
        &self,
        bot: &str,
        conversation: &str,
        activity_id: &str,
        answer: &Answer,
    ) -> Result<(), StorageError> {
        record_delivery(&mut *self.conn()?, bot, conversation, activity_id, answer)
    }

    fn expire(&self, before_ms: i64) -> Result<usize, StorageError> {
        let removed = self
            .conn()?
            .execute("DELETE FROM delivered WHERE created < $1", &[&before_ms])
            .map_err(backend)?;
        Ok(removed as usize)
    }
}

/// Saves a conversation reference on `client` (in a transaction or not).
fn save_reference(
    client: &mut impl postgres::GenericClient,
    bot: &str,
    conversation: &str,
    reference: &Value,
) -> Result<(), StorageError> {
    client
        .execute(
            "INSERT INTO conversation_refs (bot, conversation, reference, updated) VALUES ($1, $2, $3, $4)
             ON CONFLICT (bot, conversation) DO UPDATE SET reference = excluded.reference, updated = excluded.updated",
            &[&bot, &conversation, &reference.to_string(), &now_millis()],
        )
        .map_err(backend)?;
    Ok(())
}

/// Records the answer to a delivery on `client` (in a transaction or not).
fn record_delivery(
    client: &mut impl postgres::GenericClient,
    bot: &str,
    conversation: &str,
    activity_id: &str,
    answer: &Answer,
) -> Result<(), StorageError> {
    client
        .execute(
            "INSERT INTO delivered (bot, conversation, activity_id, status, body, created)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (bot, conversation, activity_id) DO UPDATE SET
               status = excluded.status, body = excluded.body, created = excluded.created",
            &[
                &bot,
                &conversation,
                &activity_id,
                &i32::from(answer.status),
                &answer.body.as_deref(),
                &now_millis(),
            ],
        )
        .map_err(backend)?;
    Ok(())
}

impl super::TurnRecords for PgStorage {
    fn commit_records(&self, records: &[super::TurnRecord]) -> Result<(), StorageError> {
        use super::TurnRecord;
        let mut conn = self.conn()?;
        let mut tx = conn.transaction().map_err(backend)?;
        for record in records {
            match record {
                TurnRecord::Delivered {
                    bot,
                    conversation,
                    activity_id,
                    answer,
                } => record_delivery(&mut tx, bot, conversation, activity_id, answer)?,
                TurnRecord::Reference {
                    bot,
                    conversation,
                    reference,
                } => save_reference(&mut tx, bot, conversation, reference)?,
            }
        }
        tx.commit().map_err(backend)
    }
}

/// The channel of Direct Line notices.
const DIRECTLINE_CHANNEL: &str = "turnbox_directline";

/// The largest notice payload PostgreSQL takes is 8000 bytes; a typing
/// activity larger than this is not announced (typing is ephemeral).
const MAX_NOTICE_BYTES: usize = 7900;

/// How long the listener waits for a notice before it checks that its
/// connection is alive.
const LISTEN_CHECK: Duration = Duration::from_secs(20);

impl DirectLineStore for PgStorage {
    fn create_conversation(
        &self,
        conversation: &DirectLineConversation,
    ) -> Result<(), StorageError> {
        self.conn()?
            .execute(
                "INSERT INTO directline_conversations (id, bot, user_id, updated) VALUES ($1, $2, $3, $4)",
                &[&conversation.id, &conversation.bot, &conversation.user, &now_millis()],
            )
            .map_err(backend)?;
        Ok(())
    }

    fn conversation(&self, id: &str) -> Result<Option<DirectLineConversation>, StorageError> {
        Ok(self
            .conn()?
            .query_opt(
                "SELECT id, bot, user_id FROM directline_conversations WHERE id = $1",
                &[&id],
            )
            .map_err(backend)?
            .map(|row| DirectLineConversation {
                id: row.get(0),
                bot: row.get(1),
                user: row.get(2),
            }))
    }

    fn start_conversation(&self, id: &str) -> Result<bool, StorageError> {
        let changed = self
            .conn()?
            .execute(
                "UPDATE directline_conversations SET started = true WHERE id = $1 AND NOT started",
                &[&id],
            )
            .map_err(backend)?;
        Ok(changed == 1)
    }

    fn append_activity(
        &self,
        conversation: &str,
        mut activity: Value,
    ) -> Result<String, StorageError> {
        let mut conn = self.conn()?;
        let mut tx = conn.transaction().map_err(backend)?;
        // The row lock, held to the commit, orders appends: a position is
        // visible only once every lower one is.
        let position: i64 = tx
            .query_opt(
                "UPDATE directline_conversations SET next_position = next_position + 1, updated = $2
                 WHERE id = $1 RETURNING next_position - 1",
                &[&conversation, &now_millis()],
            )
            .map_err(backend)?
            .ok_or_else(|| StorageError::Backend("no such Direct Line conversation".into()))?
            .get(0);
        let id = assign_id(&mut activity, conversation, position);
        tx.execute(
            "INSERT INTO directline_activities (conversation, position, activity) VALUES ($1, $2, $3)",
            &[&conversation, &position, &activity.to_string()],
        )
        .map_err(backend)?;
        // Delivered to the listeners at the commit.
        let notice = serde_json::json!({"o": self.origin, "c": conversation}).to_string();
        tx.execute("SELECT pg_notify($1, $2)", &[&DIRECTLINE_CHANNEL, &notice])
            .map_err(backend)?;
        tx.commit().map_err(backend)?;
        Ok(id)
    }

    fn activities_since(
        &self,
        conversation: &str,
        watermark: usize,
    ) -> Result<(Vec<Value>, usize), StorageError> {
        let mut conn = self.conn()?;
        let Some(next) = conn
            .query_opt(
                "SELECT next_position FROM directline_conversations WHERE id = $1",
                &[&conversation],
            )
            .map_err(backend)?
            .map(|row| row.get::<_, i64>(0))
        else {
            return Ok((Vec::new(), 0));
        };
        // Every position below `next` has committed (see the append).
        let from = watermark.min(next as usize) as i64;
        let rows = conn
            .query(
                "SELECT activity FROM directline_activities
                 WHERE conversation = $1 AND position >= $2 AND position < $3 ORDER BY position",
                &[&conversation, &from, &next],
            )
            .map_err(backend)?;
        let activities = rows
            .iter()
            .map(|row| parse_logged(row.get(0)))
            .collect::<Result<_, _>>()?;
        Ok((activities, next as usize))
    }

    fn announce_typing(&self, conversation: &str, activity: &Value) -> Result<(), StorageError> {
        let notice =
            serde_json::json!({"o": self.origin, "c": conversation, "t": activity}).to_string();
        if notice.len() > MAX_NOTICE_BYTES {
            return Ok(());
        }
        self.conn()?
            .execute("SELECT pg_notify($1, $2)", &[&DIRECTLINE_CHANNEL, &notice])
            .map_err(backend)?;
        Ok(())
    }

    fn listen(&self, sink: Weak<dyn Fn(Notice) + Send + Sync>) -> Result<(), StorageError> {
        let (config, tls, origin) = (self.config.clone(), self.tls.clone(), self.origin.clone());
        std::thread::Builder::new()
            .name("turnbox-directline-listen".into())
            .spawn(move || listen_forever(&config, tls, &origin, &sink))
            .map_err(|e| StorageError::Backend(format!("cannot start the listener: {e}")))?;
        Ok(())
    }

    fn forget_idle_conversations(&self, before_ms: i64) -> Result<usize, StorageError> {
        let mut conn = self.conn()?;
        let mut tx = conn.transaction().map_err(backend)?;
        // The conversations first: a row an append holds is re-checked
        // after it commits (and then kept, being fresh); only the logs of
        // the conversations really gone are deleted.
        let gone: Vec<String> = tx
            .query(
                "DELETE FROM directline_conversations WHERE updated < $1 RETURNING id",
                &[&before_ms],
            )
            .map_err(backend)?
            .iter()
            .map(|row| row.get(0))
            .collect();
        tx.execute(
            "DELETE FROM directline_activities WHERE conversation = ANY($1)",
            &[&gone],
        )
        .map_err(backend)?;
        tx.commit().map_err(backend)?;
        Ok(gone.len())
    }

    fn channel_key(&self) -> Result<Vec<u8>, StorageError> {
        let mut conn = self.conn()?;
        conn.execute(
            "INSERT INTO directline_keys (name, key) VALUES ('channel', $1) ON CONFLICT (name) DO NOTHING",
            &[&new_channel_key()?],
        )
        .map_err(backend)?;
        let text: String = conn
            .query_one(
                "SELECT key FROM directline_keys WHERE name = 'channel'",
                &[],
            )
            .map_err(backend)?
            .get(0);
        decode_channel_key(&text)
    }
}

/// The Direct Line listener: one connection of its own that `LISTEN`s,
/// reconnecting (with a `Resync`, as notices may have been missed) whenever
/// it is lost. Ends when the sink no longer wants notices.
fn listen_forever(
    config: &postgres::Config,
    tls: MakeRustlsConnect,
    origin: &str,
    sink: &Weak<dyn Fn(Notice) + Send + Sync>,
) {
    use postgres::fallible_iterator::FallibleIterator;
    loop {
        match config.connect(tls.clone()) {
            Ok(mut client) => match client.batch_execute(&format!("LISTEN {DIRECTLINE_CHANNEL}")) {
                Ok(()) => {
                    // Whatever came before this connection listened was
                    // missed.
                    if !deliver(sink, Notice::Resync) {
                        return;
                    }
                    loop {
                        let next = client.notifications().timeout_iter(LISTEN_CHECK).next();
                        match next {
                            Ok(Some(notification)) => {
                                if let Some(notice) = parse_notice(notification.payload(), origin)
                                    && !deliver(sink, notice)
                                {
                                    return;
                                }
                            }
                            // Quiet for a while: is the connection alive?
                            Ok(None) => {
                                if sink.strong_count() == 0 {
                                    return;
                                }
                                if let Err(err) = client.batch_execute("SELECT 1") {
                                    tracing::warn!(error = %err, "Direct Line listener lost its connection");
                                    break;
                                }
                            }
                            Err(err) => {
                                tracing::warn!(error = %err, "Direct Line listener lost its connection");
                                break;
                            }
                        }
                    }
                }
                Err(err) => tracing::warn!(error = %err, "Direct Line listener cannot LISTEN"),
            },
            Err(err) => tracing::warn!(
                error = %crate::connector::error_chain(&err),
                "Direct Line listener cannot connect"
            ),
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// Hands a notice to the sink; false once the sink is gone.
fn deliver(sink: &Weak<dyn Fn(Notice) + Send + Sync>, notice: Notice) -> bool {
    match sink.upgrade() {
        Some(sink) => {
            sink(notice);
            true
        }
        None => false,
    }
}

/// A notice's payload (`{"o": origin, "c": conversation, "t": typing?}`);
/// `None` for this storage's own notices and for anything unreadable.
fn parse_notice(payload: &str, origin: &str) -> Option<Notice> {
    let value: Value = serde_json::from_str(payload).ok()?;
    if value.get("o").and_then(Value::as_str) == Some(origin) {
        return None;
    }
    let conversation = value.get("c")?.as_str()?.to_owned();
    Some(match value.get("t") {
        Some(activity) => Notice::Typing {
            conversation,
            activity: activity.clone(),
        },
        None => Notice::Appended { conversation },
    })
}
