//! `turnbox test BOT.wasm FILE.transcript`: replays the user side of a Bot
//! Framework `.transcript` against a bot, with fresh in-memory state, and
//! compares the bot's replies with the transcript's, in order: type, text,
//! attachment content types, and suggested actions where the transcript has
//! them. `typing` and `trace` activities are not compared.

use std::path::Path;

use serde_json::Value;

use crate::cli::offline::OfflineBot;
use crate::schema::activity::Activity;

/// Why a replay could not run (as opposed to a mismatch).
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is not a transcript: {reason}")]
    NotATranscript { path: String, reason: String },
    #[error("cannot load the bot: {0}")]
    Bot(#[from] crate::cli::offline::OfflineError),
}

/// What the comparison found.
#[derive(Debug, Default)]
pub struct ReplayReport {
    pub turns: usize,
    pub compared: usize,
    pub mismatches: Vec<String>,
}

/// Reads a `.transcript`: a JSON array of activities, or an object with a
/// `transcript` array; a UTF-8 byte-order mark is ignored.
pub fn read_transcript(path: &Path) -> Result<Vec<Activity>, ReplayError> {
    let bytes = std::fs::read(path).map_err(|source| ReplayError::Read {
        path: path.display().to_string(),
        source,
    })?;
    let text = bytes
        .strip_prefix(b"\xEF\xBB\xBF".as_slice())
        .unwrap_or(&bytes);
    let not = |reason: String| ReplayError::NotATranscript {
        path: path.display().to_string(),
        reason,
    };
    let value: Value = serde_json::from_slice(text).map_err(|e| not(e.to_string()))?;
    let list = match value {
        Value::Array(list) => list,
        Value::Object(mut object) => match object.remove("transcript") {
            Some(Value::Array(list)) => list,
            _ => return Err(not("an object needs a `transcript` array".into())),
        },
        _ => return Err(not("expected an array of activities".into())),
    };
    list.into_iter()
        .enumerate()
        .map(|(n, v)| serde_json::from_value(v).map_err(|e| not(format!("activity {n}: {e}"))))
        .collect()
}

fn compared_kind(activity: &Activity) -> bool {
    !matches!(activity.kind(), "typing" | "trace")
}

/// The bot's side of a transcript: `from.role == "bot"`, or the account the
/// first user activity was addressed to.
fn is_from_bot(activity: &Activity, bot_id: Option<&str>) -> bool {
    let from = activity.from.as_ref();
    from.and_then(|f| f.role.as_deref()) == Some("bot")
        || (bot_id.is_some() && from.map(|f| f.id.as_str()) == bot_id)
}

/// Compares one expected reply with the actual one; adds what differs.
fn compare(
    turn: usize,
    index: usize,
    expected: &Activity,
    actual: Option<&Activity>,
    out: &mut Vec<String>,
) {
    let at = format!("turn {turn}, reply {index}");
    let Some(actual) = actual else {
        out.push(format!(
            "{at}: expected a {} {:?}, got nothing",
            expected.kind(),
            expected.text.as_deref().unwrap_or("")
        ));
        return;
    };
    if expected.kind() != actual.kind() {
        out.push(format!(
            "{at}: type: expected {:?}, got {:?}",
            expected.kind(),
            actual.kind()
        ));
    }
    if expected.text != actual.text {
        out.push(format!(
            "{at}: text:\n    - {}\n    + {}",
            expected.text.as_deref().unwrap_or("(none)"),
            actual.text.as_deref().unwrap_or("(none)")
        ));
    }
    let types = |a: &Activity| -> Vec<String> {
        a.attachments
            .iter()
            .flatten()
            .map(|x| x.content_type.clone())
            .collect()
    };
    if types(expected) != types(actual) {
        out.push(format!(
            "{at}: attachments: expected {:?}, got {:?}",
            types(expected),
            types(actual)
        ));
    }
    if expected.suggested_actions.is_some()
        && expected.suggested_actions != actual.suggested_actions
    {
        out.push(format!(
            "{at}: suggestedActions: expected {}, got {}",
            expected.suggested_actions.clone().unwrap_or_default(),
            actual.suggested_actions.clone().unwrap_or_default()
        ));
    }
}

/// Replays `transcript` against the bot in `wasm` (with its `manifest`, if
/// any).
pub async fn replay(
    wasm: &Path,
    manifest: &Path,
    transcript: &[Activity],
) -> Result<ReplayReport, ReplayError> {
    let offline = OfflineBot::load(wasm, manifest)?;
    let bot_id = transcript
        .iter()
        .find(|a| a.from.as_ref().and_then(|f| f.role.as_deref()) != Some("bot"))
        .and_then(|a| a.recipient.as_ref().map(|r| r.id.clone()));
    let mut report = ReplayReport::default();
    let mut position = 0;
    while position < transcript.len() {
        let activity = &transcript[position];
        position += 1;
        if is_from_bot(activity, bot_id.as_deref()) || !compared_kind(activity) {
            continue;
        }
        report.turns += 1;
        let turn_number = report.turns;
        let expected: Vec<&Activity> = transcript[position..]
            .iter()
            .take_while(|a| is_from_bot(a, bot_id.as_deref()))
            .filter(|a| compared_kind(a))
            .collect();

        let actual: Vec<Activity> = match offline.turn(activity).await {
            Ok(outcome) => outcome
                .buffered_replies
                .into_iter()
                .filter(compared_kind)
                .collect(),
            Err(err) => {
                report
                    .mismatches
                    .push(format!("turn {turn_number}: the turn failed: {err}"));
                continue;
            }
        };
        for (index, expected) in expected.iter().enumerate() {
            report.compared += 1;
            compare(
                turn_number,
                index + 1,
                expected,
                actual.get(index),
                &mut report.mismatches,
            );
        }
        for (index, extra) in actual.iter().enumerate().skip(expected.len()) {
            report.mismatches.push(format!(
                "turn {turn_number}, reply {}: unexpected {} {:?}",
                index + 1,
                extra.kind(),
                extra.text.as_deref().unwrap_or("")
            ));
        }
    }
    Ok(report)
}
