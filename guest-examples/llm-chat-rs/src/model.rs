//! The model: an OpenAI-compatible `POST {base_url}/chat/completions` with
//! `stream: true`, its server-sent events read as they arrive, and what can
//! go wrong, said politely.

use serde_json::{Value, json};
use turnbox_guest::config;
use turnbox_guest::http;

use crate::history::Message;
use crate::sse::SseParser;

/// Where the model is and how to call it: the manifest's `[config]`.
pub struct Model {
    pub base_url: String,
    pub model: String,
    pub api_key: Option<String>,
}

impl Model {
    /// From the config; `None` without a `base_url`.
    pub fn from_config() -> Option<Model> {
        let base_url = config::get("base_url").filter(|url| !url.trim().is_empty())?;
        Some(Model {
            base_url: base_url.trim().trim_end_matches('/').to_owned(),
            model: config::get("model").unwrap_or_else(|| "gpt-4o-mini".into()),
            api_key: config::get("api_key").filter(|key| !key.is_empty()),
        })
    }

    /// Streams the answer to `messages`, handing each piece of its text to
    /// `on_text` as it arrives.
    pub fn stream_chat(
        &self,
        messages: &[Message],
        mut on_text: impl FnMut(&str),
    ) -> Result<(), ModelError> {
        let body = json!({"model": self.model, "messages": messages, "stream": true});
        let body = body.to_string();
        let bearer = self.api_key.as_ref().map(|key| format!("Bearer {key}"));
        let mut headers = vec![
            ("content-type", "application/json"),
            ("accept", "text/event-stream"),
        ];
        if let Some(bearer) = &bearer {
            headers.push(("authorization", bearer));
        }
        let url = format!("{}/chat/completions", self.base_url);
        let mut response = http::send("POST", &url, &headers, Some(body.as_bytes()))
            .map_err(ModelError::from_http)?;
        if !(200..300).contains(&response.status) {
            let status = response.status;
            let head = response.chunk().ok().flatten().unwrap_or_default();
            let head: String = String::from_utf8_lossy(&head).chars().take(200).collect();
            return Err(ModelError::Status(status, head));
        }
        let mut parser = SseParser::default();
        let mut answered = false;
        let mut events = |events: Vec<String>| -> Result<bool, ModelError> {
            for data in events {
                if data.trim() == "[DONE]" {
                    return Ok(true);
                }
                if let Some(text) = delta(&data)? {
                    answered |= !text.is_empty();
                    on_text(&text);
                }
            }
            Ok(false)
        };
        let mut done = false;
        for piece in response.chunks() {
            let piece = piece.map_err(ModelError::from_http)?;
            done = events(parser.feed(&piece))?;
            if done {
                break;
            }
        }
        if !done {
            // Without `[DONE]`, an answer that came is taken as whole.
            events(parser.finish())?;
        }
        match answered {
            true => Ok(()),
            false => Err(ModelError::Failed("no answer in the stream".into())),
        }
    }
}

/// The text of one streamed chunk: `choices[0].delta.content`, `None` for
/// a chunk without (the role, the finish reason, usage).
pub fn delta(data: &str) -> Result<Option<String>, ModelError> {
    let chunk: Value = serde_json::from_str(data)
        .map_err(|e| ModelError::Malformed(format!("not JSON ({e}): {data:.80}")))?;
    if let Some(error) = chunk.get("error") {
        let message = error["message"].as_str().unwrap_or("an error");
        return Err(ModelError::Failed(message.to_owned()));
    }
    if !chunk["choices"].is_array() {
        return Err(ModelError::Malformed(format!("no choices: {data:.80}")));
    }
    Ok(chunk["choices"][0]["delta"]["content"]
        .as_str()
        .map(str::to_owned))
}

/// Why no answer came.
#[derive(Debug, PartialEq)]
pub enum ModelError {
    /// An error status, with the start of its body.
    Status(u16, String),
    /// No answer in time (the manifest's `[http]` timeouts).
    Timeout,
    /// The request was not allowed (`[http] allowed_hosts`).
    Denied,
    /// The model could not be reached, or the connection broke.
    Network(String),
    /// Something that is not a chat completion stream.
    Malformed(String),
    /// The model reported an error in the stream.
    Failed(String),
}

impl ModelError {
    fn from_http(err: turnbox_guest::Error) -> ModelError {
        let code = match &err {
            turnbox_guest::Error::Call(call) => call.code.as_str(),
            _ => "",
        };
        // A body cut by a timeout may come without its code, only its text.
        let text = err.to_string();
        match code {
            "HttpRequestDenied" | "DestinationIpProhibited" => ModelError::Denied,
            _ if text.to_ascii_lowercase().contains("timeout") => ModelError::Timeout,
            _ => ModelError::Network(text),
        }
    }

    /// What to tell the user.
    pub fn polite(&self) -> String {
        let text = match self {
            ModelError::Status(401 | 403, _) => {
                "Sorry, my language model turned my credentials down. Please let the bot's owner know."
            }
            ModelError::Status(429, _) => {
                "Sorry, my language model is busy right now. Please try again in a moment."
            }
            ModelError::Status(500.., _) | ModelError::Failed(_) => {
                "Sorry, my language model ran into a problem. Please try again shortly."
            }
            ModelError::Status(..) => {
                "Sorry, my language model could not take that request. Please try rephrasing it."
            }
            ModelError::Timeout => {
                "Sorry, my language model took too long to answer. Please try again."
            }
            ModelError::Denied => {
                "Sorry, I am not allowed to reach my language model. Please let the bot's owner know."
            }
            ModelError::Network(_) => {
                "Sorry, I could not reach my language model. Please try again later."
            }
            ModelError::Malformed(_) => {
                "Sorry, my language model's answer came back garbled. Please try again."
            }
        };
        text.to_owned()
    }
}

impl std::fmt::Display for ModelError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ModelError::Status(status, body) => write!(f, "status {status}: {body}"),
            ModelError::Timeout => write!(f, "timed out"),
            ModelError::Denied => write!(f, "denied by [http] allowed_hosts"),
            ModelError::Network(e) => write!(f, "network: {e}"),
            ModelError::Malformed(e) => write!(f, "malformed stream: {e}"),
            ModelError::Failed(e) => write!(f, "the model failed: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_is_the_first_choices_delta() {
        let chunk = r#"{"choices":[{"index":0,"delta":{"content":"Hi"}}]}"#;
        assert_eq!(delta(chunk), Ok(Some("Hi".into())));
        let role = r#"{"choices":[{"delta":{"role":"assistant"}}]}"#;
        assert_eq!(delta(role), Ok(None));
        let end = r#"{"choices":[{"delta":{},"finish_reason":"stop"}]}"#;
        assert_eq!(delta(end), Ok(None));
        assert_eq!(delta(r#"{"choices":[]}"#), Ok(None));
    }

    #[test]
    fn anything_else_is_an_error() {
        assert!(matches!(delta("{not json"), Err(ModelError::Malformed(_))));
        assert!(matches!(delta("{}"), Err(ModelError::Malformed(_))));
        let error = r#"{"error":{"message":"overloaded"}}"#;
        assert_eq!(delta(error), Err(ModelError::Failed("overloaded".into())));
    }

    #[test]
    fn each_failure_has_its_own_polite_message() {
        let statuses = [401, 429, 500, 400].map(|s| ModelError::Status(s, String::new()));
        let mut messages: Vec<String> = statuses.iter().map(ModelError::polite).collect();
        messages.push(ModelError::Timeout.polite());
        messages.push(ModelError::Network(String::new()).polite());
        messages.sort();
        messages.dedup();
        assert_eq!(messages.len(), 6);
        assert!(messages.iter().all(|m| m.starts_with("Sorry")));
    }
}
