//! Messages as the conversations API shows them: the `message` activities
//! of a conversation's Direct Line log, each as `{id, type: "user"|"bot",
//! text, attachments, meta?, createdAt}`. Typing and the interim updates of
//! a livestreamed answer are never logged, so never items; a bot's final
//! streamed message is an item like any other.

use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

/// One message.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Item {
    pub id: String,
    /// `user` or `bot`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub text: String,
    /// Bot Framework attachments, as the bot sent them.
    #[schema(value_type = Vec<Object>)]
    pub attachments: Vec<Value>,
    /// What the app gave with a user's message.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub meta: Option<Value>,
    /// RFC 3339.
    pub created_at: String,
}

/// A page of items.
#[derive(Debug, Serialize, ToSchema)]
pub struct Items {
    pub items: Vec<Item>,
}

/// Where the app's `meta` of a user's message travels in its activity
/// (the bot reads it from there).
pub const META_FIELD: &str = "meta";

/// The logged activity as an item; `None` for what is no message.
pub fn item(activity: &Value) -> Option<Item> {
    if activity.get("type").and_then(Value::as_str) != Some("message") {
        return None;
    }
    let role = activity
        .pointer("/from/role")
        .and_then(Value::as_str)
        .unwrap_or("bot");
    let text = |field: &str| {
        activity
            .get(field)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    Some(Item {
        id: text("id"),
        kind: if role == "user" { "user" } else { "bot" },
        text: text("text"),
        attachments: activity
            .get("attachments")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default(),
        meta: activity
            .pointer(&format!("/channelData/{META_FIELD}"))
            .cloned(),
        created_at: text("timestamp"),
    })
}

/// The bot's messages among `activities`.
pub fn bot_items(activities: &[Value]) -> Vec<Item> {
    activities
        .iter()
        .filter_map(item)
        .filter(|i| i.kind == "bot")
        .collect()
}

/// The conversation's messages as they stand: an updated message (logged
/// again under its id) keeps its place with its last content, a deleted one
/// (`messageDelete`) is gone.
pub fn history(activities: &[Value]) -> Vec<Item> {
    let mut items: Vec<Item> = Vec::new();
    for activity in activities {
        if activity.get("type").and_then(Value::as_str) == Some("messageDelete") {
            if let Some(id) = activity.pointer("/value/id").and_then(Value::as_str) {
                items.retain(|i| i.id != id);
            }
            continue;
        }
        let Some(item) = item(activity) else {
            continue;
        };
        match items
            .iter_mut()
            .find(|i| i.id == item.id && !i.id.is_empty())
        {
            Some(earlier) => *earlier = item,
            None => items.push(item),
        }
    }
    items
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_messages_are_items_and_updates_replace() {
        let log = [
            json!({"type": "message", "id": "u1", "text": "hi", "from": {"role": "user"},
                   "channelData": {"meta": {"k": 1}}, "timestamp": "t0"}),
            json!({"type": "event", "id": "e"}),
            json!({"type": "message", "id": "b1", "text": "hel", "from": {"id": "bot"}}),
            json!({"type": "message", "id": "b2", "text": "x", "from": {"role": "bot"}}),
            json!({"type": "message", "id": "b1", "text": "hello", "from": {"role": "bot"}}),
            json!({"type": "messageDelete", "value": {"id": "b2"}}),
        ];
        let all = history(&log);
        let shown: Vec<(&str, &str, &str)> = all
            .iter()
            .map(|i| (i.id.as_str(), i.kind, i.text.as_str()))
            .collect();
        assert_eq!(shown, [("u1", "user", "hi"), ("b1", "bot", "hello")]);
        assert_eq!(all[0].meta, Some(json!({"k": 1})));
        assert_eq!(bot_items(&log).len(), 3);
    }
}
