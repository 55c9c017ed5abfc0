//! An LLM chat bot: each message goes, with the conversation so far, to an
//! OpenAI-compatible model (`POST {base_url}/chat/completions`, streamed),
//! and the answer is livestreamed back as it arrives (README.md).
//!
//! Config (the manifest's `[config]`): `base_url`, `model`, `api_key`
//! (optional), `backstory` (the system prompt), `history_chars` (the
//! history's budget, default 8000). `/reset` forgets the conversation.

mod history;
mod model;
mod sse;

use turnbox_guest::{ActivityHandler, Level, Result, StateProperty, TurnContext, config, log};

use crate::history::Message;
use crate::model::Model;

/// The conversation so far, without the system prompt.
const HISTORY: StateProperty<Vec<Message>> = StateProperty::conversation("history");

const DEFAULT_BACKSTORY: &str = "You are a helpful assistant. Answer briefly.";
const DEFAULT_HISTORY_CHARS: usize = 8000;

#[derive(Default)]
struct ChatBot;

impl ActivityHandler for ChatBot {
    fn on_message(&self, ctx: &TurnContext) -> Result<()> {
        let text = ctx.text().trim();
        if text.eq_ignore_ascii_case("/reset") {
            HISTORY.delete()?;
            ctx.send_text("I have forgotten our conversation. What shall we talk about?")?;
            return Ok(());
        }
        if text.is_empty() {
            ctx.send_text("Say something and I will answer.")?;
            return Ok(());
        }
        let Some(model) = Model::from_config() else {
            ctx.send_text("Sorry, I am not set up yet: my config has no `base_url`.")?;
            return Ok(());
        };
        let mut history = HISTORY.get_or_default()?;
        let backstory = config::get("backstory").unwrap_or_else(|| DEFAULT_BACKSTORY.into());
        let mut messages = vec![Message::new("system", &backstory)];
        messages.extend(history.iter().cloned());
        messages.push(Message::new("user", text));

        let mut stream = ctx.streaming_response();
        stream.queue_informative_update("Thinking…")?;
        let result = model.stream_chat(&messages, |piece| {
            // Fails only once the stream has ended, which it has not.
            let _ = stream.queue_text_chunk(piece);
        });
        match result {
            Ok(()) => {
                let answer = stream.message().to_owned();
                stream.end_stream()?;
                history.push(Message::new("user", text));
                history.push(Message::new("assistant", &answer));
                history::trim(&mut history, budget());
                HISTORY.set(&history)?;
            }
            Err(err) => {
                // Whatever came is kept in view; the exchange is not stored.
                log(Level::Warn, &format!("the model failed: {err}"));
                let sep = if stream.message().is_empty() {
                    ""
                } else {
                    "\n\n"
                };
                stream.queue_text_chunk(&format!("{sep}{}", err.polite()))?;
                stream.end_stream()?;
            }
        }
        Ok(())
    }
}

/// The history's budget in characters: `history_chars`, or 8000.
fn budget() -> usize {
    config::get("history_chars")
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(DEFAULT_HISTORY_CHARS)
}

turnbox_guest::export_bot!(ChatBot);
