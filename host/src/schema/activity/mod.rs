//! The Bot Framework Activity as JSON on the wire (its conversion to and
//! from the WIT `activity` record is in `wit.rs`), and how outgoing activities are completed from
//! the incoming one (botbuilder's `applyConversationReference`).
//!
//! Every struct keeps the fields it does not model in `extra`, so an activity
//! survives the trip JSON → WIT → JSON without losing anything (spec rule
//! A2005).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub mod skills;
pub mod streaming;
mod wit;
pub use wit::wit_size;

/// A JSON object of fields that a struct does not model.
pub type Extra = Map<String, Value>;

/// `ChannelAccount`: a user, bot or other participant.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChannelAccount {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aad_object_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `ConversationAccount`: the conversation an activity belongs to.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConversationAccount {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_group: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `Attachment`: a file, card or media item.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Attachment {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub content_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thumbnail_url: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// A Bot Framework activity. Field names follow the Activity schema.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Activity {
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_timestamp: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_timezone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<ChannelAccount>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipient: Option<ChannelAccount>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation: Option<ConversationAccount>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text_format: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speak: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_hint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attachment_layout: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attachments: Option<Vec<Attachment>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suggested_actions: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entities: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel_data: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub members_added: Option<Vec<ChannelAccount>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub members_removed: Option<Vec<ChannelAccount>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relates_to: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery_mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiration: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub importance: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// Activity types and delivery modes the host itself acts on.
pub mod names {
    pub const MESSAGE: &str = "message";
    pub const INVOKE: &str = "invoke";
    pub const TRACE: &str = "trace";
    pub const EVENT: &str = "event";
    pub const END_OF_CONVERSATION: &str = "endOfConversation";
    pub const EXPECT_REPLIES: &str = "expectReplies";
    pub const EMULATOR_CHANNEL: &str = "emulator";
    /// The span label of proactive turns.
    pub const PROACTIVE: &str = "proactive";
}

/// Why an activity from the wire or from a bot is unusable.
#[derive(Debug, thiserror::Error)]
pub enum ActivityError {
    #[error("the body is not valid JSON: {0}")]
    InvalidJson(serde_json::Error),
    #[error("the body must be a JSON object")]
    NotAnObject,
    #[error("the activity has no `type`")]
    MissingType,
    #[error("the activity has a field of the wrong type: {0}")]
    WrongFieldType(serde_json::Error),
    #[error("`{field}` is not valid JSON: {source}")]
    InvalidJsonField {
        field: &'static str,
        source: serde_json::Error,
    },
    #[error("`{0}` must be a JSON object")]
    ExtraNotAnObject(&'static str),
    #[error("`{0}` must not be empty")]
    EmptyId(&'static str),
}

impl Activity {
    /// Parses an incoming activity: a JSON object with a non-empty `type`.
    pub fn from_json_bytes(body: &[u8]) -> Result<Self, ActivityError> {
        let value: Value = serde_json::from_slice(body).map_err(ActivityError::InvalidJson)?;
        if !value.is_object() {
            return Err(ActivityError::NotAnObject);
        }
        let activity: Activity =
            serde_json::from_value(value).map_err(ActivityError::WrongFieldType)?;
        match activity.kind.as_deref() {
            Some(kind) if !kind.is_empty() => Ok(activity),
            _ => Err(ActivityError::MissingType),
        }
    }

    /// Checks what a channel's delivery must carry besides a type: a
    /// conversation with a non-empty id (replies and state are routed by
    /// it), and an `id` that is not empty when given.
    pub fn check_delivery(&self) -> Result<(), ActivityError> {
        if self.conversation_id().is_none_or(str::is_empty) {
            return Err(ActivityError::EmptyId("conversation.id"));
        }
        if self.id.as_deref() == Some("") {
            return Err(ActivityError::EmptyId("id"));
        }
        Ok(())
    }

    /// The activity's type, or "" when it has none.
    pub fn kind(&self) -> &str {
        self.kind.as_deref().unwrap_or("")
    }

    pub fn conversation_id(&self) -> Option<&str> {
        self.conversation.as_ref().map(|c| c.id.as_str())
    }

    pub fn expects_replies(&self) -> bool {
        self.delivery_mode.as_deref() == Some(names::EXPECT_REPLIES)
    }

    /// Completes an activity a bot sends in reply to `incoming`, as
    /// botbuilder's `applyConversationReference` does: the routing fields come
    /// from the incoming activity, `from`/`recipient` are swapped, `replyToId`
    /// names the incoming activity, `locale` is filled when unset and `type`
    /// defaults to `message`. The `id` is removed: the channel assigns it.
    pub fn complete_reply(&mut self, incoming: &Activity) {
        self.id = None;
        self.apply_conversation_reference(incoming);
    }

    /// The routing part of [`Activity::complete_reply`], which keeps `id`
    /// (an update names the activity it replaces by its id).
    pub fn apply_conversation_reference(&mut self, incoming: &Activity) {
        if self.kind().is_empty() {
            self.kind = Some(names::MESSAGE.to_owned());
        }
        self.channel_id = incoming.channel_id.clone();
        self.service_url = incoming.service_url.clone();
        self.conversation = incoming.conversation.clone();
        self.from = incoming.recipient.clone();
        self.recipient = incoming.from.clone();
        if incoming.id.is_some() {
            self.reply_to_id = incoming.id.clone();
        }
        if self.locale.is_none() {
            self.locale = incoming.locale.clone();
        }
        skills::carry_caller(self, incoming);
    }
}

/// A conversation reference (botbuilder's `getConversationReference`):
/// what is needed to continue a conversation later.
pub fn conversation_reference(activity: &Activity) -> Value {
    let mut reference = serde_json::Map::new();
    let mut put = |key: &str, value: Option<Value>| {
        if let Some(value) = value {
            reference.insert(key.to_owned(), value);
        }
    };
    put("activityId", activity.id.clone().map(Value::String));
    put(
        "user",
        activity
            .from
            .as_ref()
            .and_then(|a| serde_json::to_value(a).ok()),
    );
    put(
        "bot",
        activity
            .recipient
            .as_ref()
            .and_then(|a| serde_json::to_value(a).ok()),
    );
    put(
        "conversation",
        activity
            .conversation
            .as_ref()
            .and_then(|c| serde_json::to_value(c).ok()),
    );
    put("channelId", activity.channel_id.clone().map(Value::String));
    put("locale", activity.locale.clone().map(Value::String));
    put(
        "serviceUrl",
        activity.service_url.clone().map(Value::String),
    );
    if skills::skill_caller(activity).is_some() {
        put("callerId", activity.extra.get("callerId").cloned());
    }
    Value::Object(reference)
}

/// The activity of a proactive turn (botbuilder's
/// `getContinuationActivity`): an `event` named `ContinueConversation`
/// that relates to `reference`, seen as coming from the reference's user.
pub fn continuation_activity(
    reference: &Value,
    value: Option<Value>,
) -> Result<Activity, ActivityError> {
    let field = |key: &str| reference.get(key).cloned();
    let account = |key: &str| -> Result<Option<ChannelAccount>, ActivityError> {
        field(key)
            .map(serde_json::from_value)
            .transpose()
            .map_err(ActivityError::WrongFieldType)
    };
    Ok(Activity {
        kind: Some("event".into()),
        name: Some("ContinueConversation".into()),
        id: Some(crate::support::ids::random_id()),
        channel_id: field("channelId").and_then(|v| v.as_str().map(str::to_owned)),
        service_url: field("serviceUrl").and_then(|v| v.as_str().map(str::to_owned)),
        locale: field("locale").and_then(|v| v.as_str().map(str::to_owned)),
        conversation: field("conversation")
            .map(serde_json::from_value)
            .transpose()
            .map_err(ActivityError::WrongFieldType)?,
        from: account("user")?,
        recipient: account("bot")?,
        relates_to: Some(reference.clone()),
        value,
        extra: reference
            .get("callerId")
            .filter(|v| v.is_string())
            .map(|caller| Extra::from_iter([("callerId".to_owned(), caller.clone())]))
            .unwrap_or_default(),
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::bindings::turnbox::bot::types as wit;
    use serde_json::json;

    fn sample() -> Value {
        json!({
            "type": "message",
            "id": "act-1",
            "timestamp": "2026-11-21T10:00:00.1234567Z",
            "localTimestamp": "2026-11-21T11:00:00.123+01:00",
            "channelId": "msteams",
            "serviceUrl": "https://smba.example/amer/",
            "from": {"id": "u1", "name": "Ada", "aadObjectId": "aad", "x-from": [1, 2]},
            "recipient": {"id": "b1", "name": "Bot", "role": "bot"},
            "conversation": {"id": "a:1;messageid=2", "isGroup": false, "tenantId": "t", "x-c": true},
            "text": "hi",
            "attachments": [{"contentType": "text/plain", "content": {"a": 1}, "x-att": null}],
            "entities": [{"type": "mention"}],
            "channelData": {"tenant": {"id": "t"}},
            "membersAdded": [],
            "value": 12.5,
            "x-unknown": {"nested": ["kept", 1, null]},
            "anotherField": 42
        })
    }

    #[test]
    fn json_to_wit_and_back_is_lossless() {
        let original = sample();
        let activity: Activity = serde_json::from_value(original.clone()).unwrap();
        let wit_form: wit::Activity = (&activity).into();
        let back = Activity::try_from(wit_form).unwrap();
        assert_eq!(serde_json::to_value(&back).unwrap(), original);
    }

    #[test]
    fn rejects_what_is_not_an_activity() {
        assert!(matches!(
            Activity::from_json_bytes(b"{"),
            Err(ActivityError::InvalidJson(_))
        ));
        assert!(matches!(
            Activity::from_json_bytes(b"[1]"),
            Err(ActivityError::NotAnObject)
        ));
        assert!(matches!(
            Activity::from_json_bytes(br#"{"text":"x"}"#),
            Err(ActivityError::MissingType)
        ));
        assert!(matches!(
            Activity::from_json_bytes(br#"{"type":"message","text":5}"#),
            Err(ActivityError::WrongFieldType(_))
        ));
    }

    #[test]
    fn reply_is_completed_from_the_incoming_activity() {
        let incoming: Activity = serde_json::from_value(sample()).unwrap();
        let mut reply = Activity {
            id: Some("bot-chosen".into()),
            text: Some("hello".into()),
            ..Default::default()
        };
        reply.complete_reply(&incoming);
        assert_eq!(reply.kind(), "message");
        assert_eq!(reply.id, None);
        assert_eq!(reply.from, incoming.recipient);
        assert_eq!(reply.recipient, incoming.from);
        assert_eq!(reply.conversation, incoming.conversation);
        assert_eq!(reply.reply_to_id.as_deref(), Some("act-1"));
        assert_eq!(reply.service_url, incoming.service_url);
        assert_eq!(reply.channel_id, incoming.channel_id);
    }

    #[test]
    fn bad_json_from_a_bot_is_an_error() {
        let mut w: wit::Activity = (&Activity::default()).into();
        w.value = Some("{not json".into());
        assert!(Activity::try_from(w.clone()).is_err());
        w.value = None;
        w.extra = "[1]".into();
        assert!(matches!(
            Activity::try_from(w),
            Err(ActivityError::ExtraNotAnObject(_))
        ));
    }

    /// Found by the `activity_roundtrip` fuzz target: a float whose
    /// shortest text needs exact parsing came back one unit off.
    #[test]
    fn floats_survive_the_round_trip_exactly() {
        let body = br#"{"type":"message","conversation":{"id":"c"},"x":4.9999999999999995e90,"value":{"y":0.30000000000000004}}"#;
        let activity = Activity::from_json_bytes(body).unwrap();
        let back = Activity::try_from(wit::Activity::from(&activity)).unwrap();
        assert_eq!(
            serde_json::to_value(&activity).unwrap(),
            serde_json::to_value(&back).unwrap()
        );
        assert_eq!(back.extra["x"], serde_json::json!(4.9999999999999995e90));
    }
}
