//! The PostgreSQL state store (`Storage`): bot state items whose eTags
//! are row versions drawn from one sequence and checked by compare-and-set
//! in SQL.

use std::collections::HashMap;

use super::commit::turn_error;
use super::{PgStorage, backend};
use crate::storage::{
    Change, Condition, Quota, Storage, StorageError, StoreItem, parse_stored_value,
};
use crate::support::clock::now_millis;

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
        let etags = write_changes(&mut tx, namespace, changes, quota)?;
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

    fn forget_older(&self, namespace: &str, before_ms: i64) -> Result<usize, StorageError> {
        let deleted = self
            .conn()?
            .execute(
                "DELETE FROM state_items WHERE namespace = $1 AND updated < $2",
                &[&namespace, &before_ms],
            )
            .map_err(backend)?;
        Ok(deleted as usize)
    }
}

/// Applies `changes` to `namespace` on `client` (a transaction: `write`'s,
/// or a turn's commit); returns the new eTag of each key. A failed
/// compare-and-set, a deadlock or a serialization failure is a `Conflict`.
pub(super) fn write_changes(
    client: &mut impl postgres::GenericClient,
    namespace: &str,
    changes: &[Change],
    quota: &Quota,
) -> Result<HashMap<String, String>, StorageError> {
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
            Condition::Any => client
                .query_opt(
                    "INSERT INTO state_items (namespace, key, value, version, updated)
                     VALUES ($1, $2, $3, nextval('state_versions'), $4)
                     ON CONFLICT (namespace, key) DO UPDATE SET
                       value = excluded.value, version = excluded.version, updated = excluded.updated
                     RETURNING version",
                    &[&namespace, key, &text, &now],
                )
                .map_err(turn_error)?,
            Condition::Absent => client
                .query_opt(insert_new, &[&namespace, key, &text, &now])
                .map_err(turn_error)?,
            Condition::Match(etag) => {
                // Compare-and-set on the version; a key that does not
                // exist is created (botbuilder's contract).
                let updated = match version_of(etag) {
                    Some(expected) => client
                        .query_opt(
                            "UPDATE state_items SET value = $3, version = nextval('state_versions'), updated = $4
                             WHERE namespace = $1 AND key = $2 AND version = $5
                             RETURNING version",
                            &[&namespace, key, &text, &now, &expected],
                        )
                        .map_err(turn_error)?,
                    None => None,
                };
                match updated {
                    Some(row) => Some(row),
                    None => client
                        .query_opt(insert_new, &[&namespace, key, &text, &now])
                        .map_err(turn_error)?,
                }
            }
        };
        let Some(row) = written else {
            return Err(StorageError::Conflict(key.clone()));
        };
        let version: i64 = row.try_get(0).map_err(backend)?;
        etags.insert(key.clone(), version.to_string());
    }
    let total = namespace_bytes(client, namespace)?;
    if total > quota.max_total_bytes {
        return Err(StorageError::QuotaExceeded {
            size: total,
            limit: quota.max_total_bytes,
        });
    }
    Ok(etags)
}
