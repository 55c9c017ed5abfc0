//! The Bot Framework SDK's echo sample (botbuilder's `02.echo-bot`) on the
//! Rust SDK: it echoes each message (text and speak) and welcomes members
//! who join, and keeps no state. The benchmarks set it beside the same
//! sample on botbuilder-js and botbuilder-python (docs/PERFORMANCE.md); the
//! shared example bot, `rust-echo`, does much more on every message.

use turnbox_guest::{ActivityHandler, ChannelAccount, MessageFactory, Result, TurnContext};

#[derive(Default)]
struct SampleEcho;

impl ActivityHandler for SampleEcho {
    fn on_message(&self, ctx: &TurnContext) -> Result<()> {
        let text = format!("Echo: {}", ctx.text());
        let mut reply = MessageFactory::text(text.clone());
        reply.speak = Some(text);
        ctx.send(reply)?;
        Ok(())
    }

    fn on_members_added(&self, ctx: &TurnContext, members: &[ChannelAccount]) -> Result<()> {
        for _ in members {
            ctx.send_text("Hello and welcome!")?;
        }
        Ok(())
    }
}

turnbox_guest::export_bot!(SampleEcho);
