//! [`ActivityHandler`]: botbuilder's activity dispatch. `on_turn` routes the
//! incoming activity by type to the method a bot overrides; every method
//! does nothing by default.

use serde::Deserialize;
use serde_json::Value;

use crate::bindings::turnbox::bot::context::TurnContext as RawTurnContext;
use crate::bindings::turnbox::bot::types::{BotError, ChannelAccount, InvokeResponse};
use crate::context::TurnContext;
use crate::error::Result;

/// A reaction to a message (`MessageReaction`): `like`, `plusOne`, …
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct MessageReaction {
    #[serde(rename = "type")]
    pub kind: String,
}

/// A bot: override the methods for the activities it handles.
pub trait ActivityHandler {
    /// Handles one turn: by default, dispatches on the activity's type as
    /// botbuilder does. Override to run code around every turn, and call
    /// [`dispatch`](ActivityHandler::dispatch) inside.
    fn on_turn(&self, ctx: &TurnContext) -> Result<Option<InvokeResponse>> {
        self.dispatch(ctx)
    }

    /// Routes the activity to the method for its type
    /// ([`dispatch_by_type`]). A Teams bot routes through
    /// [`TeamsActivityHandler::teams_dispatch`](crate::teams::TeamsActivityHandler::teams_dispatch) here.
    fn dispatch(&self, ctx: &TurnContext) -> Result<Option<InvokeResponse>> {
        dispatch_by_type(self, ctx)
    }

    /// A `message`.
    fn on_message(&self, _ctx: &TurnContext) -> Result<()> {
        Ok(())
    }

    /// A `conversationUpdate`: by default calls `on_members_added` and
    /// `on_members_removed` with the members other than the bot itself.
    fn on_conversation_update(&self, ctx: &TurnContext) -> Result<()> {
        let activity = ctx.activity();
        let added = others(ctx, activity.members_added.as_deref());
        if !added.is_empty() {
            self.on_members_added(ctx, &added)?;
        }
        let removed = others(ctx, activity.members_removed.as_deref());
        if !removed.is_empty() {
            self.on_members_removed(ctx, &removed)?;
        }
        Ok(())
    }

    /// Members other than the bot joined the conversation.
    fn on_members_added(&self, _ctx: &TurnContext, _members: &[ChannelAccount]) -> Result<()> {
        Ok(())
    }

    /// Members other than the bot left the conversation.
    fn on_members_removed(&self, _ctx: &TurnContext, _members: &[ChannelAccount]) -> Result<()> {
        Ok(())
    }

    /// A `messageReaction`: by default calls `on_reactions_added` and
    /// `on_reactions_removed`.
    fn on_message_reaction(&self, ctx: &TurnContext) -> Result<()> {
        let activity = ctx.activity();
        let added: Vec<MessageReaction> =
            activity.extra_field("reactionsAdded").unwrap_or_default();
        if !added.is_empty() {
            self.on_reactions_added(ctx, &added)?;
        }
        let removed: Vec<MessageReaction> =
            activity.extra_field("reactionsRemoved").unwrap_or_default();
        if !removed.is_empty() {
            self.on_reactions_removed(ctx, &removed)?;
        }
        Ok(())
    }

    fn on_reactions_added(&self, _ctx: &TurnContext, _reactions: &[MessageReaction]) -> Result<()> {
        Ok(())
    }

    fn on_reactions_removed(
        &self,
        _ctx: &TurnContext,
        _reactions: &[MessageReaction],
    ) -> Result<()> {
        Ok(())
    }

    /// An `event`, with its `name` and `value`: match on the name.
    fn on_event(&self, _ctx: &TurnContext, _name: &str, _value: Option<Value>) -> Result<()> {
        Ok(())
    }

    /// An `invoke`, with its `name` and `value`: return the response for the
    /// names the bot knows, `None` for others (the caller gets 501).
    fn on_invoke(
        &self,
        _ctx: &TurnContext,
        _name: &str,
        _value: Option<Value>,
    ) -> Result<Option<InvokeResponse>> {
        Ok(None)
    }

    fn on_end_of_conversation(&self, _ctx: &TurnContext) -> Result<()> {
        Ok(())
    }

    fn on_typing(&self, _ctx: &TurnContext) -> Result<()> {
        Ok(())
    }

    fn on_installation_update(&self, _ctx: &TurnContext) -> Result<()> {
        Ok(())
    }

    /// Any other activity type.
    fn on_unrecognized(&self, _ctx: &TurnContext) -> Result<()> {
        Ok(())
    }
}

/// botbuilder's dispatch: the method of `bot` for the activity's type.
pub fn dispatch_by_type<H: ActivityHandler + ?Sized>(
    bot: &H,
    ctx: &TurnContext,
) -> Result<Option<InvokeResponse>> {
    let activity = ctx.activity();
    match activity.type_.as_str() {
        "message" => bot.on_message(ctx)?,
        "conversationUpdate" => bot.on_conversation_update(ctx)?,
        "messageReaction" => bot.on_message_reaction(ctx)?,
        "event" => {
            let name = activity.name.clone().unwrap_or_default();
            bot.on_event(ctx, &name, ctx.value::<Value>()?)?
        }
        "invoke" => {
            let name = activity.name.clone().unwrap_or_default();
            return bot.on_invoke(ctx, &name, ctx.value::<Value>()?);
        }
        "endOfConversation" => bot.on_end_of_conversation(ctx)?,
        "typing" => bot.on_typing(ctx)?,
        "installationUpdate" => bot.on_installation_update(ctx)?,
        _ => bot.on_unrecognized(ctx)?,
    }
    Ok(None)
}

/// `members` without the bot itself.
fn others(ctx: &TurnContext, members: Option<&[ChannelAccount]>) -> Vec<ChannelAccount> {
    members
        .unwrap_or_default()
        .iter()
        .filter(|m| m.id != ctx.bot_id())
        .cloned()
        .collect()
}

impl InvokeResponse {
    /// An invoke response with `status` and a JSON body.
    pub fn new(status: u16, body: &Value) -> Self {
        InvokeResponse {
            status,
            body: Some(body.to_string()),
        }
    }

    /// 200 with a JSON body.
    pub fn ok(body: &Value) -> Self {
        Self::new(200, body)
    }
}

/// Runs one turn of `bot`: what [`export_bot!`](crate::export_bot) calls.
/// The invoke answer is the one set on the context
/// ([`TurnContext::set_invoke_response`]), else what `on_turn` returned.
pub fn run(
    bot: &impl ActivityHandler,
    raw: &RawTurnContext,
) -> core::result::Result<Option<InvokeResponse>, BotError> {
    let ctx = TurnContext::new(raw);
    let returned = bot.on_turn(&ctx).map_err(BotError::from)?;
    Ok(ctx.invoke_response().or(returned))
}
