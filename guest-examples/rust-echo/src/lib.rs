//! The echo bot, on the Rust SDK (`sdk/rust/turnbox-guest`).
//!
//! It implements the behaviour every example bot shares, whatever its
//! language (`tests/e2e/languages.rs` holds them all to it;
//! `guest-examples/README.md` is the spec).
//!
//! Besides, a field `echoExtra` in the incoming activity's unmodelled fields
//! is copied onto the echo, to show that fields the host does not model
//! travel both ways.

mod form;
mod teams;

use serde_json::{Value, json};
use turnbox_guest::teams::TeamsActivityHandler;
use turnbox_guest::{
    Activity, ActivityHandler, CardAction, CardFactory, ChannelAccount, HeroCard, InvokeResponse,
    Level, MessageFactory, MessageReaction, Result, StateProperty, TurnContext, log,
};

/// The conversation's counter.
const COUNT: StateProperty<u64> = StateProperty::conversation("count");

/// Kept in the instance's memory, not in state: what `instance` shows.
static INSTANCE_ANSWERS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

#[derive(Default)]
struct EchoBot;

impl ActivityHandler for EchoBot {
    /// Teams' invokes and events first (`teams.rs`), then the rest.
    fn dispatch(&self, ctx: &TurnContext) -> Result<Option<InvokeResponse>> {
        self.teams_dispatch(ctx)
    }

    fn on_message(&self, ctx: &TurnContext) -> Result<()> {
        // `edit` is answered without touching state: from the first state
        // call on, the host holds the turn's sends back until the commit
        // and folds an update of a held send into it, so the channel would
        // never see the draft replaced. Every other message goes to the
        // form while it runs.
        if ctx.text() != "edit" && form::on_message(ctx)? {
            return Ok(());
        }
        match ctx.text() {
            "count" => {
                let count = COUNT.get_or_default()? + 1;
                COUNT.set(&count)?;
                ctx.send_text(format!("Count: {count}"))?;
            }
            "instance" => {
                let answers =
                    INSTANCE_ANSWERS.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                ctx.send_text(format!("Instance: {answers}"))?;
            }
            "card" => {
                let mut reply = MessageFactory::suggested_actions(
                    [
                        CardAction::im_back("Red", "red"),
                        CardAction::im_back("Blue", "blue"),
                    ],
                    "Here is a card",
                );
                reply.attach(CardFactory::hero_card(
                    HeroCard::new("turnbox")
                        .text("A bot in any WebAssembly language")
                        .button(CardAction::open_url("Docs", "https://example.org/turnbox")),
                ));
                ctx.send(reply)?;
            }
            "adaptive" => {
                ctx.send(MessageFactory::attachment(CardFactory::adaptive_card(
                    &json!({
                        "type": "AdaptiveCard",
                        "version": "1.5",
                        "body": [{"type": "TextBlock", "text": "Hello from turnbox"}],
                    }),
                )))?;
            }
            "typing" => {
                ctx.send_typing()?;
                ctx.send_text("Done typing")?;
            }
            "edit" => {
                let sent = ctx.send_text("draft")?;
                let mut fin = MessageFactory::text("final");
                fin.id = Some(sent.id);
                ctx.update(&fin)?;
            }
            "members" => {
                let reply = match turnbox_guest::connector::get_conversation_members() {
                    Ok(members) => {
                        let names: Vec<&str> = members
                            .iter()
                            .map(|m| m.name.as_deref().unwrap_or(&m.id))
                            .collect();
                        format!("Members: {}", names.join(", "))
                    }
                    Err(err) => format!("members failed: {err}"),
                };
                ctx.send_text(reply)?;
            }
            "upload" => {
                let data = turnbox_guest::connector::AttachmentData {
                    type_: "text/plain".into(),
                    name: "hello.txt".into(),
                    original: b"hello".to_vec(),
                    thumbnail: None,
                };
                let reply = turnbox_guest::connector::upload_attachment(&data)
                    .and_then(|stored| {
                        let view =
                            turnbox_guest::connector::get_attachment(&stored.id, "original")?;
                        Ok(format!(
                            "Uploaded {}: {}",
                            stored.id,
                            String::from_utf8_lossy(&view.body)
                        ))
                    })
                    .unwrap_or_else(|err| format!("upload failed: {err}"));
                ctx.send_text(reply)?;
            }
            text if text.starts_with("fetch ") => {
                // Outbound HTTP: only to the manifest's [http] allowed_hosts.
                let url = text["fetch ".len()..].trim();
                let reply = match turnbox_guest::http::get(url) {
                    Ok(response) => {
                        let status = response.status;
                        match response.text() {
                            Ok(body) => {
                                let head: String = body.chars().take(64).collect();
                                format!("fetched {status}: {head}")
                            }
                            Err(err) => format!("fetch failed: {err}"),
                        }
                    }
                    Err(err) => format!("fetch failed: {err}"),
                };
                ctx.send_text(reply)?;
            }
            text => {
                log(Level::Debug, &format!("echoing {} bytes", text.len()));
                let mut reply = MessageFactory::text(format!("Echo: {text}"));
                if let Some(extra) = ctx.activity().extra_field::<Value>("echoExtra") {
                    reply.set_extra_field("echoExtra", extra);
                }
                ctx.send(reply)?;
            }
        }
        Ok(())
    }

    fn on_members_added(&self, ctx: &TurnContext, members: &[ChannelAccount]) -> Result<()> {
        for member in members {
            ctx.send_text(format!("Welcome, {}!", display_name(member)))?;
        }
        Ok(())
    }

    fn on_members_removed(&self, ctx: &TurnContext, members: &[ChannelAccount]) -> Result<()> {
        for member in members {
            ctx.send_text(format!("Goodbye, {}!", display_name(member)))?;
        }
        Ok(())
    }

    fn on_reactions_added(&self, ctx: &TurnContext, reactions: &[MessageReaction]) -> Result<()> {
        for reaction in reactions {
            ctx.send_text(format!("Thanks for the {}", reaction.kind))?;
        }
        Ok(())
    }

    fn on_event(&self, ctx: &TurnContext, name: &str, value: Option<Value>) -> Result<()> {
        if name == "greet" {
            let who = value
                .as_ref()
                .and_then(|v| v["name"].as_str())
                .unwrap_or("stranger");
            ctx.send_text(format!("Hello, {who}!"))?;
        }
        Ok(())
    }

    fn on_invoke(
        &self,
        _ctx: &TurnContext,
        name: &str,
        _value: Option<Value>,
    ) -> Result<Option<InvokeResponse>> {
        Ok(match name {
            "echo/ping" => Some(InvokeResponse::ok(&json!({"pong": true}))),
            _ => None,
        })
    }

    fn on_end_of_conversation(&self, ctx: &TurnContext) -> Result<()> {
        let code = ctx.activity().code.as_deref().unwrap_or("none");
        ctx.send_text(format!("Ended: {code}"))?;
        Ok(())
    }

    fn on_unrecognized(&self, ctx: &TurnContext) -> Result<()> {
        ctx.send(Activity::from(format!(
            "Unrecognized: {}",
            ctx.activity().type_
        )))?;
        Ok(())
    }
}

fn display_name(member: &ChannelAccount) -> &str {
    member.name.as_deref().unwrap_or(&member.id)
}

turnbox_guest::export_bot!(EchoBot);
