//! The HTTP client of skills: posting an activity to a skill bot's
//! endpoint (botbuilder's `BotFrameworkHttpClient.postActivity`) with the
//! root's bearer token and the skill conversation id header, within a
//! timeout, and reading its answer (status and JSON body) whatever the
//! status: a skill's 4xx/5xx is its answer, not a failure of the call.

use std::time::Duration;

use url::Url;

use crate::schema::activity::Activity;
use crate::support::errors::error_chain;

/// The header botbuilder sends the skill conversation id in.
const CONVERSATION_ID_HEADER: &str = "x-ms-conversation-id";

/// The largest answer body read from a skill.
pub const MAX_SKILL_BODY_BYTES: usize = 4 << 20;

/// A skill's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct SkillAnswer {
    pub status: u16,
    /// The body as JSON text; `None` when empty. A body that is not JSON
    /// is passed on as a JSON string.
    pub body: Option<String>,
}

/// Why a skill gave no answer.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SkillCallError {
    #[error("the activity cannot be sent: {0}")]
    BadArgument(String),
    #[error("the skill could not be reached: {0}")]
    Unreachable(String),
    #[error("the skill did not answer within {0:?}")]
    TimedOut(Duration),
    #[error("the skill's answer is over {MAX_SKILL_BODY_BYTES} bytes")]
    TooLarge,
}

impl SkillCallError {
    /// The code handed to the bot (`call-error` in WIT).
    pub fn code(&self) -> &'static str {
        match self {
            SkillCallError::BadArgument(_) => "BadArgument",
            SkillCallError::Unreachable(_) | SkillCallError::TimedOut(_) => "Unreachable",
            SkillCallError::TooLarge => "SkillError",
        }
    }
}

/// Posts `activity` to `endpoint` within `timeout`; no retries (an
/// activity may start a turn on the skill: it is sent once).
pub async fn post_to_skill(
    http: &reqwest::Client,
    endpoint: &Url,
    conversation_id: &str,
    activity: &Activity,
    token: Option<&str>,
    timeout: Duration,
) -> Result<SkillAnswer, SkillCallError> {
    let body =
        serde_json::to_vec(activity).map_err(|e| SkillCallError::BadArgument(e.to_string()))?;
    let mut request = http
        .post(endpoint.clone())
        .timeout(timeout)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(reqwest::header::ACCEPT, "application/json")
        .header(CONVERSATION_ID_HEADER, conversation_id)
        .body(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let failed = |e: reqwest::Error| {
        if e.is_timeout() {
            SkillCallError::TimedOut(timeout)
        } else {
            SkillCallError::Unreachable(error_chain(&e))
        }
    };
    let mut response = request.send().await.map_err(failed)?;
    let status = response.status().as_u16();
    let mut bytes = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(failed)? {
        if bytes.len() + chunk.len() > MAX_SKILL_BODY_BYTES {
            return Err(SkillCallError::TooLarge);
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(SkillAnswer {
        status,
        body: json_body(&bytes),
    })
}

/// A body as JSON text: as it is when it is JSON, as a JSON string when it
/// is other text, `None` when empty.
fn json_body(bytes: &[u8]) -> Option<String> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return None;
    }
    if serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_ok() {
        return Some(String::from_utf8_lossy(bytes).into_owned());
    }
    serde_json::to_string(&String::from_utf8_lossy(bytes)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_become_json_text() {
        assert_eq!(json_body(b""), None);
        assert_eq!(json_body(b" \n"), None);
        assert_eq!(json_body(br#"{"a":1}"#).as_deref(), Some(r#"{"a":1}"#));
        assert_eq!(json_body(b"oops").as_deref(), Some(r#""oops""#));
    }
}
