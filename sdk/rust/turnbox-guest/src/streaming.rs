//! [`StreamingResponse`]: a reply that grows as it is produced (an LLM's
//! answer), in the shape of the Microsoft 365 Agents SDK's class.
//!
//! On a streaming channel (`directline`, `webchat`, `msteams`, and not under
//! `deliveryMode: expectReplies`) each update is a `typing` activity whose
//! `channelData` and `streaminfo` entity carry `streamType` (`informative`
//! or `streaming`), `streamSequence` (1, 2, …) and, after the first,
//! `streamId` (the id the channel gave the first). A streaming update's text
//! is everything so far. Chunks are throttled: the first goes at once, then
//! at most one update per interval (500 ms, 1.5 s on Teams); the others are
//! only accumulated. The stream ends with a `message` holding the whole
//! text and `streamType: "final"`. On any other channel only that final
//! message is sent, without stream markers.
//!
//! ```ignore
//! let mut stream = ctx.streaming_response();
//! stream.queue_informative_update("Thinking…")?;
//! for piece in ["Hello", ", world"] {
//!     stream.queue_text_chunk(piece)?;
//! }
//! stream.end_stream()?;
//! ```

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::bindings::turnbox::bot::types::{Activity, Attachment, ResourceResponse};
use crate::context::TurnContext;
use crate::error::{Error, Result};
use crate::{Level, log};

/// Where a stream's activities go: the turn, or a test's recorder.
pub(crate) trait Outbox {
    fn send_activity(&self, activity: Activity) -> Result<ResourceResponse>;

    /// Reports an interim update the channel refused.
    fn warn(&self, message: &str) {
        log(Level::Warn, message);
    }
}

impl Outbox for TurnContext<'_> {
    fn send_activity(&self, activity: Activity) -> Result<ResourceResponse> {
        self.send(activity)
    }
}

/// A reply streamed in updates and ended with one final message.
pub struct StreamingResponse<'a> {
    outbox: &'a dyn Outbox,
    streaming: bool,
    interval: Duration,
    text: String,
    stream_id: Option<String>,
    sequence: u32,
    updates_sent: u32,
    chunks_sent: u32,
    last_update: Option<Instant>,
    ended: bool,
}

impl<'a> StreamingResponse<'a> {
    /// A stream answering the turn of `ctx` (also `ctx.streaming_response()`).
    pub fn new(ctx: &'a TurnContext<'_>) -> Self {
        let activity = ctx.activity();
        Self::with_outbox(
            ctx,
            activity.channel_id.as_deref().unwrap_or_default(),
            activity.delivery_mode.as_deref().unwrap_or_default(),
        )
    }

    pub(crate) fn with_outbox(outbox: &'a dyn Outbox, channel: &str, delivery: &str) -> Self {
        let channel = channel.to_ascii_lowercase();
        let streaming = matches!(channel.as_str(), "directline" | "webchat" | "msteams")
            && !delivery.eq_ignore_ascii_case("expectReplies");
        let interval = if channel == "msteams" { 1500 } else { 500 };
        StreamingResponse {
            outbox,
            streaming,
            interval: Duration::from_millis(interval),
            text: String::new(),
            stream_id: None,
            sequence: 0,
            updates_sent: 0,
            chunks_sent: 0,
            last_update: None,
            ended: false,
        }
    }

    /// Whether updates are sent at all: false on channels without
    /// livestreaming, where only the final message goes out.
    pub fn is_streaming_channel(&self) -> bool {
        self.streaming
    }

    /// The least time between two text updates.
    pub fn set_interval(&mut self, interval: Duration) {
        self.interval = interval;
    }

    /// The text accumulated so far.
    pub fn message(&self) -> &str {
        &self.text
    }

    /// The stream's id: what the channel answered to its first update.
    pub fn stream_id(&self) -> Option<&str> {
        self.stream_id.as_deref()
    }

    /// How many interim updates the channel accepted.
    pub fn updates_sent(&self) -> u32 {
        self.updates_sent
    }

    /// Sends a status line ("Searching…") at once. It is not part of the
    /// message. Fails only when the stream has ended.
    pub fn queue_informative_update(&mut self, text: &str) -> Result<()> {
        self.check_open()?;
        if self.streaming {
            self.send_update("informative", text.to_owned());
        }
        Ok(())
    }

    /// Adds `text` to the message and sends the whole so far, unless an
    /// update went out less than an interval ago. Fails only when the
    /// stream has ended.
    pub fn queue_text_chunk(&mut self, text: &str) -> Result<()> {
        self.check_open()?;
        self.text.push_str(text);
        let due = self.chunks_sent == 0
            || self
                .last_update
                .is_none_or(|at| at.elapsed() >= self.interval);
        if self.streaming && due && !self.text.is_empty() {
            self.chunks_sent += 1;
            self.send_update("streaming", self.text.clone());
        }
        Ok(())
    }

    /// Ends the stream: sends the final message with the whole text.
    pub fn end_stream(&mut self) -> Result<ResourceResponse> {
        self.end_stream_with(Vec::new(), Vec::new())
    }

    /// Ends the stream with attachments and entities on the final message.
    /// Its send's failure is returned.
    pub fn end_stream_with(
        &mut self,
        attachments: Vec<Attachment>,
        mut entities: Vec<Value>,
    ) -> Result<ResourceResponse> {
        self.check_open()?;
        self.ended = true;
        let mut activity = Activity::new("message");
        activity.text = Some(self.text.clone());
        if let Some(id) = &self.stream_id {
            let info = json!({"streamType": "final", "streamId": id});
            entities.insert(0, stream_info(&info));
            activity.channel_data = Some(info.to_string());
        }
        if !entities.is_empty() {
            activity.entities = Some(Value::Array(entities).to_string());
        }
        if !attachments.is_empty() {
            activity.attachments = Some(attachments);
        }
        self.outbox.send_activity(activity)
    }

    fn check_open(&self) -> Result<()> {
        if self.ended {
            return Err(Error::new("StreamEnded", "the stream has already ended"));
        }
        Ok(())
    }

    /// Sends one interim update; a refusal is logged, not returned.
    fn send_update(&mut self, kind: &str, text: String) {
        self.sequence += 1;
        self.last_update = Some(Instant::now());
        let mut info = json!({"streamType": kind, "streamSequence": self.sequence});
        if let Some(id) = &self.stream_id {
            info["streamId"] = json!(id);
        }
        let mut activity = Activity::new("typing");
        activity.text = Some(text);
        activity.entities = Some(json!([stream_info(&info)]).to_string());
        activity.channel_data = Some(info.to_string());
        match self.outbox.send_activity(activity) {
            Ok(sent) => {
                self.updates_sent += 1;
                if self.stream_id.is_none() && !sent.id.is_empty() {
                    self.stream_id = Some(sent.id);
                }
            }
            Err(err) => self
                .outbox
                .warn(&format!("a {kind} stream update was refused: {err}")),
        }
    }
}

/// The `streaminfo` entity (Teams' form) carrying the same fields as
/// `channelData`.
fn stream_info(fields: &Value) -> Value {
    let mut entity = json!({"type": "streaminfo"});
    if let (Some(entity), Some(fields)) = (entity.as_object_mut(), fields.as_object()) {
        entity.extend(fields.clone());
    }
    entity
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::*;

    /// Records what is sent; answers `id-N`, or refuses the sends whose
    /// number (1, 2, …) is in `refuse`.
    #[derive(Default)]
    struct Recorder {
        sent: RefCell<Vec<Activity>>,
        refuse: Vec<usize>,
        warnings: RefCell<Vec<String>>,
    }

    impl Outbox for Recorder {
        fn send_activity(&self, activity: Activity) -> Result<ResourceResponse> {
            let mut sent = self.sent.borrow_mut();
            sent.push(activity);
            if self.refuse.contains(&sent.len()) {
                return Err(Error::new("ConnectorError", "refused"));
            }
            Ok(ResourceResponse {
                id: format!("id-{}", sent.len()),
            })
        }

        fn warn(&self, message: &str) {
            self.warnings.borrow_mut().push(message.to_owned());
        }
    }

    fn json_of(text: &Option<String>) -> Value {
        serde_json::from_str(text.as_deref().unwrap_or("null")).unwrap()
    }

    #[test]
    fn a_stream_on_direct_line_sends_updates_then_the_final() {
        let out = Recorder::default();
        let mut stream = StreamingResponse::with_outbox(&out, "directline", "normal");
        assert!(stream.is_streaming_channel());
        stream.set_interval(Duration::ZERO);
        stream.queue_informative_update("Thinking").unwrap();
        stream.queue_text_chunk("Hel").unwrap();
        stream.queue_text_chunk("lo").unwrap();
        let entity = json!({"type": "https://schema.org/Message"});
        stream
            .end_stream_with(Vec::new(), vec![entity.clone()])
            .unwrap();
        assert_eq!(
            (stream.message(), stream.stream_id()),
            ("Hello", Some("id-1"))
        );
        assert_eq!(stream.updates_sent(), 3);

        let sent = out.sent.borrow();
        let kinds: Vec<&str> = sent.iter().map(|a| a.type_.as_str()).collect();
        assert_eq!(kinds, ["typing", "typing", "typing", "message"]);
        let texts: Vec<&str> = sent.iter().filter_map(|a| a.text.as_deref()).collect();
        assert_eq!(texts, ["Thinking", "Hel", "Hello", "Hello"]);
        assert_eq!(
            json_of(&sent[0].channel_data),
            json!({"streamType": "informative", "streamSequence": 1})
        );
        let second = json!({"streamType": "streaming", "streamSequence": 2, "streamId": "id-1"});
        assert_eq!(json_of(&sent[1].channel_data), second);
        let mut info = second.clone();
        info["type"] = json!("streaminfo");
        assert_eq!(json_of(&sent[1].entities), json!([info]));
        let fin = json!({"streamType": "final", "streamId": "id-1"});
        assert_eq!(json_of(&sent[3].channel_data), fin);
        let mut fin_info = fin;
        fin_info["type"] = json!("streaminfo");
        assert_eq!(json_of(&sent[3].entities), json!([fin_info, entity]));
        assert!(stream.queue_text_chunk("late").is_err());
    }

    #[test]
    fn chunks_within_the_interval_are_only_accumulated() {
        let out = Recorder::default();
        let mut stream = StreamingResponse::with_outbox(&out, "msteams", "normal");
        assert_eq!(stream.interval, Duration::from_millis(1500));
        stream.set_interval(Duration::from_secs(3600));
        for piece in ["a", "b", "c"] {
            stream.queue_text_chunk(piece).unwrap();
        }
        stream.end_stream().unwrap();
        let sent = out.sent.borrow();
        let texts: Vec<&str> = sent.iter().filter_map(|a| a.text.as_deref()).collect();
        assert_eq!(texts, ["a", "abc"]);
        assert_eq!(stream.updates_sent(), 1);
    }

    #[test]
    fn other_channels_and_expect_replies_get_only_a_plain_final() {
        for (channel, delivery) in [("test", "normal"), ("directline", "expectReplies")] {
            let out = Recorder::default();
            let mut stream = StreamingResponse::with_outbox(&out, channel, delivery);
            assert!(!stream.is_streaming_channel());
            stream.queue_informative_update("Thinking").unwrap();
            stream.queue_text_chunk("Hi").unwrap();
            stream.end_stream().unwrap();
            let sent = out.sent.borrow();
            assert_eq!(sent.len(), 1, "{channel}");
            assert_eq!(sent[0].text.as_deref(), Some("Hi"));
            assert_eq!((&sent[0].channel_data, &sent[0].entities), (&None, &None));
        }
    }

    #[test]
    fn a_refused_update_is_logged_and_the_stream_goes_on() {
        let out = Recorder {
            refuse: vec![1],
            ..Recorder::default()
        };
        let mut stream = StreamingResponse::with_outbox(&out, "webchat", "");
        stream.set_interval(Duration::ZERO);
        stream.queue_informative_update("Thinking").unwrap();
        stream.queue_text_chunk("Hi").unwrap();
        assert_eq!(stream.stream_id(), Some("id-2"));
        assert_eq!(stream.updates_sent(), 1);
        assert_eq!(out.warnings.borrow().len(), 1);
        stream.end_stream().unwrap();
        let sent = out.sent.borrow();
        assert_eq!(json_of(&sent[1].channel_data)["streamSequence"], 2);
        assert_eq!(json_of(&sent[2].channel_data)["streamId"], "id-2");
    }

    #[test]
    fn the_final_send_failing_is_returned() {
        let out = Recorder {
            refuse: vec![1],
            ..Recorder::default()
        };
        let mut stream = StreamingResponse::with_outbox(&out, "test", "");
        stream.queue_text_chunk("Hi").unwrap();
        assert!(stream.end_stream().is_err());
        assert!(out.warnings.borrow().is_empty());
    }
}
