//! The Bot Framework Activity as JSON on the wire, its conversion to and from
//! the WIT `activity` record, and how outgoing activities are completed from
//! the incoming one (botbuilder's `applyConversationReference`).
//!
//! Every struct keeps the fields it does not model in `extra`, so an activity
//! survives the trip JSON → WIT → JSON without losing anything (spec rule
//! A2005).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::bindings::turnbox::bot::types as wit;

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
        id: Some(crate::storage::new_etag()),
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
        ..Default::default()
    })
}

fn json_text(value: &Value) -> String {
    value.to_string()
}

fn extra_text(extra: &Extra) -> Option<String> {
    (!extra.is_empty()).then(|| Value::Object(extra.clone()).to_string())
}

fn parse_json(field: &'static str, text: &str) -> Result<Value, ActivityError> {
    serde_json::from_str(text).map_err(|source| ActivityError::InvalidJsonField { field, source })
}

fn parse_extra(field: &'static str, text: Option<&str>) -> Result<Extra, ActivityError> {
    match text {
        None => Ok(Extra::new()),
        Some(text) => match parse_json(field, text)? {
            Value::Object(map) => Ok(map),
            _ => Err(ActivityError::ExtraNotAnObject(field)),
        },
    }
}

fn parse_opt(field: &'static str, text: Option<String>) -> Result<Option<Value>, ActivityError> {
    text.map(|t| parse_json(field, &t)).transpose()
}

impl From<&ChannelAccount> for wit::ChannelAccount {
    fn from(a: &ChannelAccount) -> Self {
        wit::ChannelAccount {
            id: a.id.clone(),
            name: a.name.clone(),
            aad_object_id: a.aad_object_id.clone(),
            role: a.role.clone(),
            extra: extra_text(&a.extra),
        }
    }
}

impl TryFrom<wit::ChannelAccount> for ChannelAccount {
    type Error = ActivityError;
    fn try_from(a: wit::ChannelAccount) -> Result<Self, ActivityError> {
        Ok(ChannelAccount {
            id: a.id,
            name: a.name,
            aad_object_id: a.aad_object_id,
            role: a.role,
            extra: parse_extra("channel-account.extra", a.extra.as_deref())?,
        })
    }
}

impl From<&ConversationAccount> for wit::ConversationAccount {
    fn from(c: &ConversationAccount) -> Self {
        wit::ConversationAccount {
            id: c.id.clone(),
            name: c.name.clone(),
            is_group: c.is_group,
            conversation_type: c.conversation_type.clone(),
            tenant_id: c.tenant_id.clone(),
            extra: extra_text(&c.extra),
        }
    }
}

impl TryFrom<wit::ConversationAccount> for ConversationAccount {
    type Error = ActivityError;
    fn try_from(c: wit::ConversationAccount) -> Result<Self, ActivityError> {
        Ok(ConversationAccount {
            id: c.id,
            name: c.name,
            is_group: c.is_group,
            conversation_type: c.conversation_type,
            tenant_id: c.tenant_id,
            extra: parse_extra("conversation-account.extra", c.extra.as_deref())?,
        })
    }
}

impl From<&Attachment> for wit::Attachment {
    fn from(a: &Attachment) -> Self {
        wit::Attachment {
            content_type: a.content_type.clone(),
            content_url: a.content_url.clone(),
            content: a.content.as_ref().map(json_text),
            name: a.name.clone(),
            thumbnail_url: a.thumbnail_url.clone(),
            extra: extra_text(&a.extra),
        }
    }
}

impl TryFrom<wit::Attachment> for Attachment {
    type Error = ActivityError;
    fn try_from(a: wit::Attachment) -> Result<Self, ActivityError> {
        Ok(Attachment {
            content_type: a.content_type,
            content_url: a.content_url,
            content: parse_opt("attachment.content", a.content)?,
            name: a.name,
            thumbnail_url: a.thumbnail_url,
            extra: parse_extra("attachment.extra", a.extra.as_deref())?,
        })
    }
}

fn accounts_to_wit(list: &Option<Vec<ChannelAccount>>) -> Option<Vec<wit::ChannelAccount>> {
    list.as_ref().map(|l| l.iter().map(Into::into).collect())
}

fn accounts_from_wit(
    list: Option<Vec<wit::ChannelAccount>>,
) -> Result<Option<Vec<ChannelAccount>>, ActivityError> {
    list.map(|l| l.into_iter().map(TryInto::try_into).collect())
        .transpose()
}

impl From<&Activity> for wit::Activity {
    fn from(a: &Activity) -> Self {
        wit::Activity {
            type_: a.kind().to_owned(),
            id: a.id.clone(),
            timestamp: a.timestamp.clone(),
            local_timestamp: a.local_timestamp.clone(),
            local_timezone: a.local_timezone.clone(),
            channel_id: a.channel_id.clone(),
            service_url: a.service_url.clone(),
            from: a.from.as_ref().map(Into::into),
            recipient: a.recipient.as_ref().map(Into::into),
            conversation: a.conversation.as_ref().map(Into::into),
            reply_to_id: a.reply_to_id.clone(),
            text: a.text.clone(),
            text_format: a.text_format.clone(),
            speak: a.speak.clone(),
            locale: a.locale.clone(),
            input_hint: a.input_hint.clone(),
            summary: a.summary.clone(),
            attachment_layout: a.attachment_layout.clone(),
            attachments: a
                .attachments
                .as_ref()
                .map(|l| l.iter().map(Into::into).collect()),
            suggested_actions: a.suggested_actions.as_ref().map(json_text),
            entities: a.entities.as_ref().map(json_text),
            channel_data: a.channel_data.as_ref().map(json_text),
            members_added: accounts_to_wit(&a.members_added),
            members_removed: accounts_to_wit(&a.members_removed),
            action: a.action.clone(),
            name: a.name.clone(),
            value: a.value.as_ref().map(json_text),
            value_type: a.value_type.clone(),
            relates_to: a.relates_to.as_ref().map(json_text),
            delivery_mode: a.delivery_mode.clone(),
            code: a.code.clone(),
            expiration: a.expiration.clone(),
            importance: a.importance.clone(),
            extra: Value::Object(a.extra.clone()).to_string(),
        }
    }
}

impl TryFrom<wit::Activity> for Activity {
    type Error = ActivityError;
    fn try_from(a: wit::Activity) -> Result<Self, ActivityError> {
        let extra = if a.extra.trim().is_empty() {
            Extra::new()
        } else {
            parse_extra("activity.extra", Some(&a.extra))?
        };
        Ok(Activity {
            kind: (!a.type_.is_empty()).then_some(a.type_),
            id: a.id,
            timestamp: a.timestamp,
            local_timestamp: a.local_timestamp,
            local_timezone: a.local_timezone,
            channel_id: a.channel_id,
            service_url: a.service_url,
            from: a.from.map(TryInto::try_into).transpose()?,
            recipient: a.recipient.map(TryInto::try_into).transpose()?,
            conversation: a.conversation.map(TryInto::try_into).transpose()?,
            reply_to_id: a.reply_to_id,
            text: a.text,
            text_format: a.text_format,
            speak: a.speak,
            locale: a.locale,
            input_hint: a.input_hint,
            summary: a.summary,
            attachment_layout: a.attachment_layout,
            attachments: a
                .attachments
                .map(|l| l.into_iter().map(TryInto::try_into).collect())
                .transpose()?,
            suggested_actions: parse_opt("suggested-actions", a.suggested_actions)?,
            entities: parse_opt("entities", a.entities)?,
            channel_data: parse_opt("channel-data", a.channel_data)?,
            members_added: accounts_from_wit(a.members_added)?,
            members_removed: accounts_from_wit(a.members_removed)?,
            action: a.action,
            name: a.name,
            value: parse_opt("value", a.value)?,
            value_type: a.value_type,
            relates_to: parse_opt("relates-to", a.relates_to)?,
            delivery_mode: a.delivery_mode,
            code: a.code,
            expiration: a.expiration,
            importance: a.importance,
            extra,
        })
    }
}

/// About how many bytes of JSON a bot's activity makes: the lengths of all
/// its text, without the cost of converting it. What the per-turn send
/// limit counts.
pub fn wit_size(a: &wit::Activity) -> u64 {
    fn text(s: &Option<String>) -> u64 {
        s.as_ref().map_or(0, |s| s.len() as u64 + 16)
    }
    fn account(c: &wit::ChannelAccount) -> u64 {
        c.id.len() as u64 + text(&c.name) + text(&c.aad_object_id) + text(&c.role) + text(&c.extra)
    }
    let accounts = |list: &Option<Vec<wit::ChannelAccount>>| -> u64 {
        list.iter().flatten().map(account).sum()
    };
    let attachments: u64 = a
        .attachments
        .iter()
        .flatten()
        .map(|at| {
            at.content_type.len() as u64
                + text(&at.content_url)
                + text(&at.content)
                + text(&at.name)
                + text(&at.thumbnail_url)
                + text(&at.extra)
        })
        .sum();
    let conversation = a.conversation.as_ref().map_or(0, |c| {
        c.id.len() as u64
            + text(&c.name)
            + text(&c.conversation_type)
            + text(&c.tenant_id)
            + text(&c.extra)
    });
    [
        &a.id,
        &a.timestamp,
        &a.local_timestamp,
        &a.local_timezone,
        &a.channel_id,
        &a.service_url,
        &a.reply_to_id,
        &a.text,
        &a.text_format,
        &a.speak,
        &a.locale,
        &a.input_hint,
        &a.summary,
        &a.attachment_layout,
        &a.suggested_actions,
        &a.entities,
        &a.channel_data,
        &a.action,
        &a.name,
        &a.value,
        &a.value_type,
        &a.relates_to,
        &a.delivery_mode,
        &a.code,
        &a.expiration,
        &a.importance,
    ]
    .into_iter()
    .map(text)
    .sum::<u64>()
        + a.type_.len() as u64
        + a.extra.len() as u64
        + a.from.as_ref().map_or(0, account)
        + a.recipient.as_ref().map_or(0, account)
        + conversation
        + attachments
        + accounts(&a.members_added)
        + accounts(&a.members_removed)
}

#[cfg(test)]
mod tests {
    use super::*;
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
