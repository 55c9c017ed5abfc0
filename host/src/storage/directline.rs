//! Direct Line conversations in the database: each conversation's bot, user
//! and started flag, its activity log (the watermark is a position in it),
//! and the channel's key (tokens and the connector key derive from it, so
//! every host sharing the database accepts every other's). Appends take the
//! next position under the conversation's row lock, so positions are dense
//! and commit in order. A backend several hosts share also tells the other
//! hosts of each append (`listen`), so their streams push it.

use std::sync::Weak;

use serde_json::Value;

use super::StorageError;
use super::accepted::AcceptedTurn;
use super::outbox::Route;

/// One Direct Line conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectLineConversation {
    pub id: String,
    /// The bot's route.
    pub bot: String,
    pub user: String,
}

/// What another host did to a conversation, as a backend shared by several
/// hosts reports it.
#[derive(Debug, Clone, PartialEq)]
pub enum Notice {
    /// An activity was appended to the conversation's log.
    Appended { conversation: String },
    /// A typing activity (not logged) for the conversation's streams.
    Typing {
        conversation: String,
        activity: Value,
    },
    /// Notices may have been missed (the listening connection was lost):
    /// every stream should read the log again.
    Resync,
}

/// Where Direct Line conversations are kept.
pub trait DirectLineStore: Send + Sync {
    fn create_conversation(
        &self,
        conversation: &DirectLineConversation,
    ) -> Result<(), StorageError>;

    fn conversation(&self, id: &str) -> Result<Option<DirectLineConversation>, StorageError>;

    /// Marks the conversation started; true the first time.
    fn start_conversation(&self, id: &str) -> Result<bool, StorageError>;

    /// Appends activities to the log at the next positions, in order and
    /// all or none (one transaction), giving each the id
    /// `{conversation}|{position}` when it has none; returns the ids.
    /// Other hosts are told.
    fn append_activities(
        &self,
        conversation: &str,
        activities: Vec<Value>,
    ) -> Result<Vec<String>, StorageError>;

    /// Appends a bot's history as `append_activities` does, except that an
    /// activity whose own id the log holds already is not appended again
    /// (a history sent twice, as by a connector that retried after losing
    /// the answer): its id is returned in its place. (Other appends keep
    /// a given id as it is: an update is logged again under its id.)
    fn append_history(
        &self,
        conversation: &str,
        activities: Vec<Value>,
    ) -> Result<Vec<String>, StorageError>;

    /// Appends a user's activity as `append_activity` does and, in the same
    /// transaction, keeps its turn (`accepted.rs`) under the id it got: a
    /// host that dies after the append leaves the turn to another run
    /// (`turn::resume`), never a logged message without its turn.
    fn append_keeping(
        &self,
        conversation: &str,
        activity: Value,
        keep: KeepTurn,
    ) -> Result<String, StorageError>;

    /// Appends one activity (`append_activities`); returns its id.
    fn append_activity(&self, conversation: &str, activity: Value) -> Result<String, StorageError> {
        self.append_activities(conversation, vec![activity])?
            .pop()
            .ok_or_else(|| StorageError::Backend("an append gave no id".into()))
    }

    /// The activities from position `watermark` on, and the next position.
    fn activities_since(
        &self,
        conversation: &str,
        watermark: usize,
    ) -> Result<(Vec<Value>, usize), StorageError>;

    /// Tells other hosts of a typing activity; nothing for a backend no
    /// other host shares.
    fn announce_typing(&self, _conversation: &str, _activity: &Value) -> Result<(), StorageError> {
        Ok(())
    }

    /// Reports what other hosts append, from now on, to `sink` (called on
    /// a thread of the backend's) until the sink is dropped; nothing for a
    /// backend no other host shares.
    fn listen(&self, _sink: Weak<dyn Fn(Notice) + Send + Sync>) -> Result<(), StorageError> {
        Ok(())
    }

    /// The channel's 32-byte key: made once, the same for every host.
    fn channel_key(&self) -> Result<Vec<u8>, StorageError>;

    /// Forgets the conversations (and their logs) with nothing appended
    /// since `before_ms` (Unix ms), except the conversations API's
    /// (`api_conversations.rs`), kept until deleted; returns how many.
    fn forget_idle_conversations(&self, before_ms: i64) -> Result<usize, StorageError>;
}

/// The turn `append_keeping` keeps with its activity's append.
#[derive(Debug, Clone, PartialEq)]
pub struct KeepTurn {
    pub bot: String,
    /// The activity as its turn gets it; the append gives it its id.
    pub turn: Value,
    pub route: Route,
    /// The claim: held by `owner` until `until` (Unix ms).
    pub owner: String,
    pub until: i64,
}

impl KeepTurn {
    /// The kept row, once the append has given the activity `id`.
    pub(super) fn accepted(
        mut self,
        conversation: &str,
        id: &str,
    ) -> Result<AcceptedTurn, StorageError> {
        let Some(turn) = self.turn.as_object_mut() else {
            return Err(StorageError::Backend(
                "a kept turn's activity must be a JSON object".into(),
            ));
        };
        turn.insert("id".into(), Value::String(id.to_owned()));
        Ok(AcceptedTurn {
            bot: self.bot,
            conversation: conversation.to_owned(),
            activity_id: id.to_owned(),
            activity: self.turn.to_string(),
            route: self.route,
        })
    }
}

/// Gives `activity` its log id when it has none; returns the id. Not an
/// object: refused (a log holds activities only).
pub(super) fn assign_id(
    activity: &mut Value,
    conversation: &str,
    position: i64,
) -> Result<String, StorageError> {
    let Some(object) = activity.as_object_mut() else {
        return Err(StorageError::Backend(
            "a Direct Line activity must be a JSON object".into(),
        ));
    };
    Ok(match object.get("id").and_then(Value::as_str) {
        Some(id) if !id.is_empty() => id.to_owned(),
        _ => {
            let id = format!("{conversation}|{position:07}");
            object.insert("id".into(), Value::String(id.clone()));
            id
        }
    })
}

/// `append_history`'s activities with what the log holds set aside: each
/// one's id where it is known (`None` where it is to be appended), and the
/// activities to append, in order. Known: an id in the log (`logged`, read
/// only when some activity brings an id) or earlier in the same history.
/// An id in the log's own namespace (`{conversation}|…`) that the log does
/// not hold is dropped, and the log gives one: it would collide with an
/// id the log gives later.
pub(super) fn set_known_aside(
    conversation: &str,
    activities: Vec<Value>,
    logged: impl FnOnce() -> Result<std::collections::HashSet<String>, StorageError>,
) -> Result<(Vec<Option<String>>, Vec<Value>), StorageError> {
    let given = |a: &Value| {
        a.get("id")
            .and_then(Value::as_str)
            .filter(|id| !id.is_empty())
            .map(str::to_owned)
    };
    let mut known = if activities.iter().any(|a| given(a).is_some()) {
        logged()?
    } else {
        Default::default()
    };
    let namespace = format!("{conversation}|");
    let mut places = Vec::with_capacity(activities.len());
    let mut fresh = Vec::with_capacity(activities.len());
    for mut activity in activities {
        match given(&activity) {
            Some(id) if known.contains(&id) => places.push(Some(id)),
            Some(id) if id.starts_with(&namespace) => {
                if let Some(object) = activity.as_object_mut() {
                    object.remove("id");
                }
                places.push(None);
                fresh.push(activity);
            }
            given => {
                known.extend(given);
                places.push(None);
                fresh.push(activity);
            }
        }
    }
    Ok((places, fresh))
}

/// The ids of `set_known_aside`'s activities, in order: the known ones in
/// their places, the `appended` ones' in the others.
pub(super) fn all_ids(places: Vec<Option<String>>, appended: Vec<String>) -> Vec<String> {
    let mut appended = appended.into_iter();
    places
        .into_iter()
        .map(|place| place.or_else(|| appended.next()).unwrap_or_default())
        .collect()
}

/// A fresh random channel key, hex-encoded as stored.
pub(super) fn new_channel_key() -> Result<String, StorageError> {
    let mut key = [0u8; 32];
    getrandom::fill(&mut key)
        .map_err(|e| StorageError::Backend(format!("no randomness for the channel key: {e}")))?;
    Ok(hex::encode(key))
}

pub(super) fn decode_channel_key(text: &str) -> Result<Vec<u8>, StorageError> {
    hex::decode(text)
        .ok()
        .filter(|key| key.len() == 32)
        .ok_or_else(|| StorageError::Backend("the stored Direct Line key is damaged".into()))
}

pub(super) fn parse_logged(text: &str) -> Result<Value, StorageError> {
    serde_json::from_str(text).map_err(|e| {
        StorageError::Backend(format!("a logged Direct Line activity is damaged: {e}"))
    })
}
