//! The host side of the WIT interfaces a bot imports, one file each, all
//! implemented on the store's [`TurnState`]: `context` (the turn context:
//! activity, send, update, delete, conversations), `connector` (members,
//! history, attachments), `state`, `timers`, `config`, `logging`, `skills`
//! (calling other bots), `user-token` (user sign-in through the Token
//! Service), and the standard `wasi:http/outgoing-handler`
//! (`http`). A new guest capability is its interface in the
//! WIT world (the generated `add_to_linker` links it), a new file here,
//! its manifest section and its docs.
//!
//! This file holds what they share: call errors and the output limits.

use crate::channels::connector::ConnectorError;
use crate::runtime::store::TurnState;
use crate::schema::activity::Activity;
use crate::schema::activity::streaming::{is_interim_parts, is_interim_update};
use crate::schema::activity::wit_size;
use crate::schema::bindings::turnbox::bot::types as wit;

mod config;
mod connector;
mod context;
pub(super) mod http;
mod logging;
pub(super) mod skills;
mod state;
mod timers;
mod user_token;

/// The most interim stream updates one turn may send: ten minutes of
/// updates every 500 ms, with room to spare. They count against neither
/// `max_activities_per_turn` nor `max_send_bytes_per_turn`.
pub const MAX_STREAM_UPDATES_PER_TURN: u32 = 2000;
/// The largest interim stream update, in bytes of activity JSON: the whole
/// text so far rides on each one.
pub const MAX_STREAM_UPDATE_BYTES: u64 = 256 << 10;

/// What the output limits count of an activity a bot gives: its size, and
/// whether it is an interim stream update. The record's size is the length
/// of its text (`wit_size`); JSON text's is the text's length.
#[derive(Debug, Clone, Copy)]
pub(super) struct OutputSize {
    bytes: u64,
    interim: bool,
}

impl OutputSize {
    pub(super) fn of(activity: &wit::Activity) -> Self {
        OutputSize {
            bytes: wit_size(activity),
            interim: is_interim_parts(
                &activity.type_,
                activity.channel_data.as_deref(),
                activity.entities.as_deref(),
            ),
        }
    }
}

pub(super) fn call_error(code: &str, message: String, status: Option<u16>) -> wit::CallError {
    wit::CallError {
        code: code.to_owned(),
        message,
        status,
    }
}

impl From<ConnectorError> for wit::CallError {
    fn from(err: ConnectorError) -> Self {
        call_error(err.code(), err.to_string(), err.status())
    }
}

/// A bot's activity given as the WIT record, converted (`BadArgument` when
/// a JSON field in it does not parse).
pub(super) fn from_record(activity: wit::Activity) -> Result<Activity, wit::CallError> {
    Activity::try_from(activity).map_err(|e| call_error("BadArgument", e.to_string(), None))
}

impl TurnState {
    /// Completes a bot's activity as a reply to the incoming activity
    /// (`keep_id`: as an update of one of its activities).
    pub(super) fn outgoing(&self, mut activity: Activity, keep_id: bool) -> Activity {
        if keep_id {
            activity.apply_conversation_reference(&self.turn.incoming);
        } else {
            activity.complete_reply(&self.turn.incoming);
        }
        activity
    }

    /// A bot's activity given as Bot Framework JSON text (`send-json`,
    /// `update-json`), parsed, with what the output limits count of it:
    /// the text's length. Text that is not a JSON object with a non-empty
    /// `type` is refused with `BadArgument`; text more than twice the
    /// largest send the turn allows is refused with `LimitExceeded` before
    /// it is parsed (parsed JSON can take many times its text's size).
    pub(super) fn activity_from_json(
        &self,
        operation: &str,
        text: &str,
    ) -> Result<(Activity, OutputSize), wit::CallError> {
        let most = self
            .max_sent_bytes
            .max(MAX_STREAM_UPDATE_BYTES)
            .saturating_mul(2);
        if text.len() as u64 > most {
            let err = call_error(
                "LimitExceeded",
                format!(
                    "the activity JSON ({} bytes) is larger than any send this turn could make",
                    text.len()
                ),
                None,
            );
            self.log_call_error(operation, &err);
            return Err(err);
        }
        match Activity::from_json_bytes(text.as_bytes()) {
            Ok(activity) => {
                let size = OutputSize {
                    bytes: text.len() as u64,
                    interim: is_interim_update(&activity),
                };
                Ok((activity, size))
            }
            Err(err) => {
                let err = call_error("BadArgument", format!("the activity JSON: {err}"), None);
                self.log_call_error(operation, &err);
                Err(err)
            }
        }
    }

    pub(super) fn log_call_error(&self, operation: &str, err: &wit::CallError) {
        tracing::warn!(bot = %self.bot, operation, code = %err.code, "{}", err.message);
    }

    /// Counts what a turn emits against its manifest: the activity's size
    /// against `max_send_bytes_per_turn` (before converting it), and, for a
    /// new activity, one more against `max_activities_per_turn`. Nothing is
    /// counted when either limit refuses it.
    pub(super) fn count_output(
        &mut self,
        operation: &str,
        size: OutputSize,
        new_activity: bool,
    ) -> Result<(), wit::CallError> {
        let OutputSize { bytes, interim } = size;
        if new_activity && interim {
            return self.count_stream_update(operation, bytes);
        }
        let refusal = if new_activity && self.turn.sent >= self.max_sent {
            Some(format!(
                "this turn already sent {} activities, the most its manifest allows",
                self.max_sent
            ))
        } else if self.turn.sent_bytes.saturating_add(bytes) > self.max_sent_bytes {
            Some(format!(
                "this activity ({bytes} bytes) would take the turn past the {} bytes its manifest allows",
                self.max_sent_bytes
            ))
        } else {
            None
        };
        if let Some(message) = refusal {
            let err = call_error("LimitExceeded", message, None);
            self.log_call_error(operation, &err);
            return Err(err);
        }
        self.turn.sent_bytes += bytes;
        self.turn.sent += u32::from(new_activity);
        Ok(())
    }

    /// Interim stream updates are counted on their own (a long answer
    /// streams many), against [`MAX_STREAM_UPDATES_PER_TURN`].
    fn count_stream_update(&mut self, operation: &str, bytes: u64) -> Result<(), wit::CallError> {
        if bytes > MAX_STREAM_UPDATE_BYTES {
            let err = call_error(
                "LimitExceeded",
                format!(
                    "this stream update ({bytes} bytes) is over the {MAX_STREAM_UPDATE_BYTES} bytes one may carry"
                ),
                None,
            );
            self.log_call_error(operation, &err);
            return Err(err);
        }
        if self.turn.stream_updates >= MAX_STREAM_UPDATES_PER_TURN {
            let err = call_error(
                "LimitExceeded",
                format!(
                    "this turn already sent {MAX_STREAM_UPDATES_PER_TURN} stream updates, the most a turn may"
                ),
                None,
            );
            self.log_call_error(operation, &err);
            return Err(err);
        }
        self.turn.stream_updates += 1;
        Ok(())
    }

    /// A connector failure as the bot sees it, logged.
    pub(super) fn connector_failed(&self, operation: &str, err: ConnectorError) -> wit::CallError {
        let err = wit::CallError::from(err);
        self.log_call_error(operation, &err);
        err
    }
}

impl wit::Host for TurnState {}
