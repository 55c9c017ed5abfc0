//! Livestreaming markers (Web Chat 4.17+, Teams, the Agents SDK's
//! `StreamingResponse`): an interim update is a `typing` activity whose
//! `channelData.streamType` (or `streaminfo` entity) is `informative` or
//! `streaming`; the stream ends with a `message` whose `streamType` is
//! `final`. Which channels render streams, and how a final message loses
//! its markers on the others.

use serde_json::Value;

use super::Activity;

/// Channels that render livestreamed updates.
pub const STREAMING_CHANNELS: [&str; 3] = ["directline", "webchat", "msteams"];

/// Whether replies to `incoming` may be livestreamed: a streaming channel,
/// and not `expectReplies` (whose replies arrive all at once).
pub fn streams_to(incoming: &Activity) -> bool {
    !incoming.expects_replies()
        && incoming
            .channel_id
            .as_deref()
            .is_some_and(|channel| STREAMING_CHANNELS.contains(&channel))
}

/// The `streamType` an activity carries, in `channelData` or in a
/// `streaminfo` entity.
pub fn stream_type(activity: &Activity) -> Option<&str> {
    stream_field(activity, "streamType")
}

/// The `streamId` an activity carries, in either place.
pub fn stream_id(activity: &Activity) -> Option<&str> {
    stream_field(activity, "streamId")
}

fn stream_field<'a>(activity: &'a Activity, field: &str) -> Option<&'a str> {
    let from_channel_data = activity
        .channel_data
        .as_ref()
        .and_then(|data| data.get(field))
        .and_then(Value::as_str);
    from_channel_data.or_else(|| {
        activity
            .entities
            .as_ref()?
            .as_array()?
            .iter()
            .find(|entity| is_stream_info(entity))?
            .get(field)?
            .as_str()
    })
}

/// Whether `activity` is an interim stream update: a `typing` activity of
/// stream type `informative` or `streaming`. These are ephemeral: sent at
/// once, never held back, recorded or replayed.
pub fn is_interim_update(activity: &Activity) -> bool {
    activity.kind() == "typing"
        && matches!(stream_type(activity), Some("informative" | "streaming"))
}

/// The same test on the parts of a bot's WIT activity: its type and its
/// `channelData` / `entities` JSON text.
pub fn is_interim_parts(kind: &str, channel_data: Option<&str>, entities: Option<&str>) -> bool {
    if kind != "typing" {
        return false;
    }
    let parse = |text: Option<&str>| text.and_then(|t| serde_json::from_str::<Value>(t).ok());
    let probe = Activity {
        kind: Some(kind.to_owned()),
        channel_data: parse(channel_data),
        entities: parse(entities),
        ..Default::default()
    };
    is_interim_update(&probe)
}

fn is_stream_info(entity: &Value) -> bool {
    entity.get("type").and_then(Value::as_str) == Some("streaminfo")
}

/// Removes the stream markers from a final message sent where nothing was
/// streamed: `streamType`, `streamId` and `streamSequence` from
/// `channelData` (dropped when left empty), and `streaminfo` entities.
pub fn strip_stream_markers(activity: &mut Activity) {
    if let Some(Value::Object(data)) = activity.channel_data.as_mut() {
        for key in ["streamType", "streamId", "streamSequence"] {
            data.remove(key);
        }
        if data.is_empty() {
            activity.channel_data = None;
        }
    }
    if let Some(Value::Array(entities)) = activity.entities.as_mut() {
        entities.retain(|entity| !is_stream_info(entity));
        if entities.is_empty() {
            activity.entities = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn activity(value: Value) -> Activity {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn interim_updates_are_typing_with_a_stream_type_in_either_place() {
        let by_channel_data = activity(
            json!({"type": "typing", "channelData": {"streamType": "streaming", "streamSequence": 2}}),
        );
        let by_entity = activity(
            json!({"type": "typing", "entities": [{"type": "streaminfo", "streamType": "informative"}]}),
        );
        let plain_typing = activity(json!({"type": "typing"}));
        let final_message =
            activity(json!({"type": "message", "channelData": {"streamType": "final"}}));
        assert!(is_interim_update(&by_channel_data));
        assert!(is_interim_update(&by_entity));
        let entity_only = activity(
            json!({"type": "typing", "entities": [{"type": "streaminfo", "streamType": "streaming", "streamId": "s9"}]}),
        );
        assert_eq!(stream_id(&entity_only), Some("s9"));
        assert_eq!(stream_id(&by_channel_data), None);
        assert!(!is_interim_update(&plain_typing));
        assert!(!is_interim_update(&final_message));
        assert!(is_interim_parts(
            "typing",
            Some(r#"{"streamType":"streaming"}"#),
            None
        ));
        assert!(!is_interim_parts("typing", Some("not json"), None));
        assert!(!is_interim_parts(
            "message",
            Some(r#"{"streamType":"streaming"}"#),
            None
        ));
    }

    #[test]
    fn only_streaming_channels_outside_expect_replies_stream() {
        let on = |channel: &str, mode: Option<&str>| {
            let mut a = activity(json!({"type": "message", "channelId": channel}));
            a.delivery_mode = mode.map(str::to_owned);
            streams_to(&a)
        };
        assert!(on("directline", None));
        assert!(on("msteams", None));
        assert!(!on("directline", Some("expectReplies")));
        assert!(!on("emulator", None));
        assert!(!on("slack", None));
    }

    #[test]
    fn stripping_keeps_everything_else() {
        let mut a = activity(json!({
            "type": "message",
            "channelData": {"streamType": "final", "streamId": "s1", "other": 1},
            "entities": [{"type": "streaminfo", "streamType": "final"}, {"type": "mention"}]
        }));
        strip_stream_markers(&mut a);
        assert_eq!(a.channel_data, Some(json!({"other": 1})));
        assert_eq!(a.entities, Some(json!([{"type": "mention"}])));
        let mut bare = activity(
            json!({"type": "message", "channelData": {"streamType": "final", "streamId": "s1"}, "entities": [{"type": "streaminfo"}]}),
        );
        strip_stream_markers(&mut bare);
        assert_eq!(bare.channel_data, None);
        assert_eq!(bare.entities, None);
    }
}
