//! The PostgreSQL Direct Line store (`DirectLineStore`): conversations,
//! their activity logs and the channel key, each append and typing activity
//! announced to the other hosts with `NOTIFY` (`listen.rs` hears them).

use std::sync::Weak;

use serde_json::Value;

use super::{DIRECTLINE_CHANNEL, PgStorage, backend, listen};
use crate::storage::StorageError;
use crate::storage::directline::{
    DirectLineConversation, DirectLineStore, KeepTurn, Notice, all_ids, assign_id,
    decode_channel_key, new_channel_key, parse_logged, set_known_aside,
};
use crate::support::clock::now_millis;

/// The largest notice payload PostgreSQL takes is 8000 bytes; a typing
/// activity larger than this is announced without its text and stream
/// markers (typing is ephemeral).
const MAX_NOTICE_BYTES: usize = 7900;

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

    fn append_activities(
        &self,
        conversation: &str,
        activities: Vec<Value>,
    ) -> Result<Vec<String>, StorageError> {
        let mut conn = self.conn()?;
        let mut tx = conn.transaction().map_err(backend)?;
        let ids = append_on(&mut tx, &self.origin, conversation, activities)?;
        tx.commit().map_err(backend)?;
        Ok(ids)
    }

    fn append_history(
        &self,
        conversation: &str,
        activities: Vec<Value>,
    ) -> Result<Vec<String>, StorageError> {
        let mut conn = self.conn()?;
        let mut tx = conn.transaction().map_err(backend)?;
        // The conversation's row lock first, so that a history sent twice
        // at once is appended once.
        if activities.iter().any(|a| a.get("id").is_some()) {
            tx.execute(
                "SELECT 1 FROM directline_conversations WHERE id = $1 FOR UPDATE",
                &[&conversation],
            )
            .map_err(backend)?;
        }
        let (places, fresh) = set_known_aside(conversation, activities, || {
            logged_ids(&mut tx, conversation)
        })?;
        let appended = if fresh.is_empty() {
            Vec::new()
        } else {
            append_on(&mut tx, &self.origin, conversation, fresh)?
        };
        tx.commit().map_err(backend)?;
        Ok(all_ids(places, appended))
    }

    fn append_keeping(
        &self,
        conversation: &str,
        activity: Value,
        keep: KeepTurn,
    ) -> Result<String, StorageError> {
        let mut conn = self.conn()?;
        let mut tx = conn.transaction().map_err(backend)?;
        // Prepared before the append takes the conversation's row lock.
        let statement = tx.prepare(super::accepted::KEEP).map_err(backend)?;
        let id = append_on(&mut tx, &self.origin, conversation, vec![activity])?
            .pop()
            .unwrap_or_default();
        let (owner, until) = (keep.owner.clone(), keep.until);
        let kept = keep.accepted(conversation, &id)?;
        super::accepted::keep(&mut tx, &statement, &kept, &owner, until)?;
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
        let mut notice =
            serde_json::json!({"o": self.origin, "c": conversation, "t": activity}).to_string();
        if notice.len() > MAX_NOTICE_BYTES {
            // A long livestreamed answer carries its whole text: other
            // hosts' streams then show plain typing until the final message.
            let mut plain = serde_json::Map::new();
            for key in [
                "type",
                "id",
                "channelId",
                "from",
                "recipient",
                "conversation",
                "replyToId",
            ] {
                if let Some(value) = activity.get(key) {
                    plain.insert(key.to_owned(), value.clone());
                }
            }
            notice =
                serde_json::json!({"o": self.origin, "c": conversation, "t": plain}).to_string();
            if notice.len() > MAX_NOTICE_BYTES {
                return Ok(());
            }
            tracing::debug!(
                conversation,
                "a typing activity too large for NOTIFY goes to other hosts as plain typing"
            );
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
            .spawn(move || listen::listen_forever(&config, tls, &origin, &sink))
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
                "DELETE FROM directline_conversations WHERE updated < $1
                 AND id NOT IN (SELECT id FROM api_conversations) RETURNING id",
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

/// The ids of the conversation's log (one pass over it; asked only by a
/// history that brings ids of its own). Read here, not with `->> 'id'`:
/// PostgreSQL refuses a logged `\u0000` anywhere in the activity with
/// either `json` or `jsonb`.
fn logged_ids(
    tx: &mut postgres::Transaction<'_>,
    conversation: &str,
) -> Result<std::collections::HashSet<String>, StorageError> {
    #[derive(serde::Deserialize)]
    struct Id {
        id: Option<String>,
    }
    let rows = tx
        .query(
            "SELECT activity FROM directline_activities WHERE conversation = $1",
            &[&conversation],
        )
        .map_err(backend)?;
    let mut all = std::collections::HashSet::with_capacity(rows.len());
    for row in rows {
        let text: String = row.get(0);
        let logged: Id = serde_json::from_str(&text).map_err(|e| {
            StorageError::Backend(format!("a logged Direct Line activity is damaged: {e}"))
        })?;
        all.extend(logged.id);
    }
    Ok(all)
}

/// Appends `activities` at the conversation's next positions on `tx`, in
/// order, and tells the other hosts at the commit; returns their ids.
fn append_on(
    tx: &mut postgres::Transaction<'_>,
    origin: &str,
    conversation: &str,
    activities: Vec<Value>,
) -> Result<Vec<String>, StorageError> {
    let count = activities.len() as i64;
    // Prepared before the row lock is taken.
    let insert = tx
        .prepare(
            "INSERT INTO directline_activities (conversation, position, activity)
             VALUES ($1, $2, $3)",
        )
        .map_err(backend)?;
    // The row lock, held to the commit, orders appends: a position is
    // visible only once every lower one is.
    let first: i64 = tx
        .query_opt(
            "UPDATE directline_conversations SET next_position = next_position + $3, updated = $2
             WHERE id = $1 RETURNING next_position - $3",
            &[&conversation, &now_millis(), &count],
        )
        .map_err(backend)?
        .ok_or_else(|| StorageError::Backend("no such Direct Line conversation".into()))?
        .get(0);
    let mut ids = Vec::with_capacity(activities.len());
    for (position, mut activity) in (first..).zip(activities) {
        if position > first {
            crate::support::faults::point("between-appends");
        }
        ids.push(assign_id(&mut activity, conversation, position)?);
        tx.execute(&insert, &[&conversation, &position, &activity.to_string()])
            .map_err(backend)?;
    }
    // Delivered to the listeners at the commit.
    let notice = serde_json::json!({"o": origin, "c": conversation}).to_string();
    tx.execute("SELECT pg_notify($1, $2)", &[&DIRECTLINE_CHANNEL, &notice])
        .map_err(backend)?;
    Ok(ids)
}
