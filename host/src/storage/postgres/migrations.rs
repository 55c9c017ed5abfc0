//! The PostgreSQL schema: one migration per version, applied in order at
//! start-up under an advisory lock (hosts may start together), and the
//! version the database is at.

use super::{PgStorage, backend};
use crate::storage::StorageError;

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
    (
        3,
        "
-- A delivery with status 0 is claimed, in progress: `owner`'s attempt
-- holds it until `claimed_until` (Unix ms).
ALTER TABLE delivered
    ADD COLUMN owner TEXT,
    ADD COLUMN claimed_until BIGINT NOT NULL DEFAULT 0;
CREATE TABLE outbox (
    seq           BIGSERIAL PRIMARY KEY,
    bot           TEXT NOT NULL,
    conversation  TEXT NOT NULL,
    activity      TEXT NOT NULL,
    route         TEXT NOT NULL,
    claimed_until BIGINT NOT NULL DEFAULT 0,
    owner         TEXT NOT NULL DEFAULT '',
    attempts      INTEGER NOT NULL DEFAULT 0,
    created       BIGINT NOT NULL
);
CREATE INDEX outbox_by_conversation ON outbox (bot, conversation, seq);
",
    ),
    (
        4,
        "
-- Turns whose request was answered before they ended, kept until they are
-- over; `owner` runs the turn until `claimed_until` (Unix ms).
CREATE TABLE accepted (
    bot           TEXT NOT NULL,
    conversation  TEXT NOT NULL,
    activity_id   TEXT NOT NULL,
    activity      TEXT NOT NULL,
    route         TEXT NOT NULL,
    claimed_until BIGINT NOT NULL,
    owner         TEXT NOT NULL,
    created       BIGINT NOT NULL,
    PRIMARY KEY (bot, conversation, activity_id)
);
",
    ),
    (
        5,
        "
-- The conversations API: an app's record of a Direct Line conversation
-- (same id), and the log position `receive` handed messages out up to.
CREATE TABLE api_conversations (
    id             TEXT PRIMARY KEY,
    bot            TEXT NOT NULL,
    user_id        TEXT NOT NULL,
    name           TEXT,
    description    TEXT,
    meta           TEXT,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL,
    receive_cursor BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX api_conversations_newest ON api_conversations (created_at DESC, id DESC);
",
    ),
    (
        6,
        "
-- Files uploaded through Direct Line, kept until `expires_at` (Unix ms).
CREATE TABLE uploads (
    bot          TEXT NOT NULL,
    id           TEXT NOT NULL,
    conversation TEXT NOT NULL,
    name         TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size         BIGINT NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    bytes        BYTEA NOT NULL,
    PRIMARY KEY (bot, id)
);
CREATE INDEX uploads_expiry ON uploads (expires_at);
",
    ),
    (
        7,
        "
-- Skill conversation ids a root bot minted (storage/skill_conversations.rs):
-- each maps to the bot, the skill and the original conversation reference.
CREATE TABLE skill_conversations (
    id           TEXT PRIMARY KEY,
    bot          TEXT NOT NULL,
    skill        TEXT NOT NULL,
    conversation TEXT NOT NULL,
    reference    TEXT NOT NULL,
    updated      BIGINT NOT NULL,
    UNIQUE (bot, skill, conversation)
);
",
    ),
    (
        8,
        "
-- Exchanged SSO ids (turn/middleware/signin.rs) moved out of the bots' state,
-- where they counted against its quota and never expired, into a namespace
-- of their own that forgets them after a day: the old records go.
DELETE FROM state_items WHERE key LIKE 'turnbox/signin-token-exchange/%';
",
    ),
];

/// The advisory lock that serialises migrations between hosts.
const MIGRATION_LOCK: i64 = 0x0074_7572_6e62_6f78; // "turnbox" in ASCII

/// The advisory lock that serialises the outbox relays' claims between
/// hosts (`outbox.rs`); distinct from `MIGRATION_LOCK`.
pub(super) const OUTBOX_LOCK: i64 = MIGRATION_LOCK + 1;

impl PgStorage {
    /// Applies the migrations this database lacks; refuses a schema newer
    /// than this binary knows.
    pub(super) fn migrate(&self) -> Result<(), StorageError> {
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
