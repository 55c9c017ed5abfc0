//! The echo bot: the first turnbox example.
//!
//! - `message`: replies `Echo: {text}`.
//! - `conversationUpdate`: welcomes every added member other than the bot.
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
use turnbox::bot::types::{Activity, BotError, InvokeResponse};

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
