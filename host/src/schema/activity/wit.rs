//! The lossless conversion between the wire [`Activity`] and the WIT
//! `activity` record: open-ended parts (`value`, `channelData`, `entities`,
//! attachment `content`, ...) and every `extra` map travel as JSON text.

use serde_json::Value;

use super::{Activity, ActivityError, Attachment, ChannelAccount, ConversationAccount, Extra};
use crate::schema::bindings::turnbox::bot::types as wit;

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
