//! The echo bot: the first turnbox example.
//!
//! It implements the behaviour every example bot shares, whatever its
//! language (`tests/e2e/languages.rs` holds them all to it):
//!
//! - `message` `count`: adds one to `count` in conversation state and replies
//!   `Count: N`;
//! - `message` `card`: replies `Here is a card` with a hero card and two
//!   suggested actions;
//! - any other `message`: replies `Echo: {text}`;
//! - `conversationUpdate`: welcomes every added member other than the bot;
//! - `invoke` named `echo/ping`: answers 200 `{"pong":true}`.
//!
//! A field `echoExtra` in the incoming activity's unmodelled fields is copied
//! onto the reply, to show that fields the host does not model travel both
//! ways.

wit_bindgen::generate!({
    path: "../../wit",
    world: "bot",
});

use exports::turnbox::bot::handler::Guest;
use turnbox::bot::context::TurnContext;
use turnbox::bot::logging::{Level, log};
use turnbox::bot::state::{self, Scope};
use turnbox::bot::types::{Activity, Attachment, BotError, CallError, InvokeResponse};

struct EchoBot;

/// An empty outgoing activity of `kind`; the host fills in the routing.
fn new_activity(kind: &str) -> Activity {
    Activity {
        type_: kind.to_string(),
        id: None,
        timestamp: None,
        local_timestamp: None,
        local_timezone: None,
        channel_id: None,
        service_url: None,
        from: None,
        recipient: None,
        conversation: None,
        reply_to_id: None,
        text: None,
        text_format: None,
        speak: None,
        locale: None,
        input_hint: None,
        summary: None,
        attachment_layout: None,
        attachments: None,
        suggested_actions: None,
        entities: None,
        channel_data: None,
        members_added: None,
        members_removed: None,
        action: None,
        name: None,
        value: None,
        value_type: None,
        relates_to: None,
        delivery_mode: None,
        code: None,
        expiration: None,
        importance: None,
        extra: "{}".to_string(),
    }
}

fn text_reply(text: String) -> Activity {
    Activity {
        text: Some(text),
        ..new_activity("message")
    }
}

/// The hero card of `card`, the same in every language's example.
fn hero_card() -> Attachment {
    Attachment {
        content_type: "application/vnd.microsoft.card.hero".to_string(),
        content_url: None,
        content: Some(
            r#"{"title":"turnbox","text":"A bot in any WebAssembly language","buttons":[{"type":"openUrl","title":"Docs","value":"https://example.org/turnbox"}]}"#
                .to_string(),
        ),
        name: None,
        thumbnail_url: None,
        extra: None,
    }
}

/// The suggested actions of `card`.
const SUGGESTED_ACTIONS: &str = r#"{"actions":[{"type":"imBack","title":"Red","value":"red"},{"type":"imBack","title":"Blue","value":"blue"}]}"#;

fn failed(e: CallError) -> BotError {
    BotError {
        code: e.code,
        message: e.message,
    }
}

fn send(ctx: &TurnContext, activity: Activity) -> Result<(), BotError> {
    ctx.send(&activity).map(|_| ()).map_err(|e| BotError {
        code: "SendFailed".to_string(),
        message: format!("{}: {}", e.code, e.message),
    })
}

impl Guest for EchoBot {
    fn on_turn(ctx: &TurnContext) -> Result<Option<InvokeResponse>, BotError> {
        let incoming = ctx.activity();
        match incoming.type_.as_str() {
            "message" if incoming.text.as_deref() == Some("count") => {
                let count = state::get(Scope::Conversation, "count")
                    .map_err(failed)?
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or(0)
                    + 1;
                state::set(Scope::Conversation, "count", &count.to_string()).map_err(failed)?;
                send(ctx, text_reply(format!("Count: {count}")))?;
                Ok(None)
            }
            "message" if incoming.text.as_deref() == Some("card") => {
                let mut reply = text_reply("Here is a card".to_string());
                reply.attachments = Some(vec![hero_card()]);
                reply.suggested_actions = Some(SUGGESTED_ACTIONS.to_string());
                send(ctx, reply)?;
                Ok(None)
            }
            "message" => {
                let text = incoming.text.clone().unwrap_or_default();
                log(Level::Debug, &format!("echoing {} bytes", text.len()));
                let mut reply = text_reply(format!("Echo: {text}"));
                reply.extra = echo_extra(&incoming.extra);
                send(ctx, reply)?;
                Ok(None)
            }
            "conversationUpdate" => {
                let bot_id = incoming.recipient.as_ref().map(|r| r.id.clone());
                for member in incoming.members_added.iter().flatten() {
                    if Some(&member.id) == bot_id.as_ref() {
                        continue;
                    }
                    let name = member.name.clone().unwrap_or_else(|| member.id.clone());
                    send(ctx, text_reply(format!("Welcome, {name}!")))?;
                }
                Ok(None)
            }
            "invoke" if incoming.name.as_deref() == Some("echo/ping") => Ok(Some(InvokeResponse {
                status: 200,
                body: Some(r#"{"pong":true}"#.to_string()),
            })),
            _ => Ok(None),
        }
    }
}

/// `{"echoExtra": …}` when the incoming activity carried that field, else `{}`.
fn echo_extra(incoming_extra: &str) -> String {
    let parsed: serde_json::Value = serde_json::from_str(incoming_extra).unwrap_or_default();
    match parsed.get("echoExtra") {
        Some(value) => serde_json::json!({ "echoExtra": value }).to_string(),
        None => "{}".to_string(),
    }
}

export!(EchoBot);
