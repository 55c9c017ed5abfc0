//! [`TurnContext`]: the incoming activity and the ways to answer it, as in
//! botbuilder's `TurnContext`.

use std::cell::{Cell, RefCell};

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::bindings::turnbox::bot::context::TurnContext as RawTurnContext;
use crate::bindings::turnbox::bot::types::{
    Activity, ConversationResourceResponse, InvokeResponse, ResourceResponse,
};
use crate::error::Result;
use crate::factory::MessageFactory;
use crate::streaming::StreamingResponse;

/// One turn: the activity that started it and the way to answer it.
pub struct TurnContext<'a> {
    raw: &'a RawTurnContext,
    activity: Activity,
    responded: Cell<bool>,
    invoke_response: RefCell<Option<InvokeResponse>>,
}

impl<'a> TurnContext<'a> {
    /// Wraps the host's turn context.
    pub fn new(raw: &'a RawTurnContext) -> Self {
        TurnContext {
            activity: raw.activity(),
            raw,
            responded: Cell::new(false),
            invoke_response: RefCell::new(None),
        }
    }

    /// The incoming activity.
    pub fn activity(&self) -> &Activity {
        &self.activity
    }

    /// The incoming text, `""` when there is none.
    pub fn text(&self) -> &str {
        self.activity.text.as_deref().unwrap_or_default()
    }

    /// The incoming `value`, deserialised.
    pub fn value<T: DeserializeOwned>(&self) -> Result<Option<T>> {
        self.activity.value_as()
    }

    /// The bot's own account in this conversation (`recipient`).
    pub fn bot_id(&self) -> &str {
        self.activity
            .recipient
            .as_ref()
            .map(|r| r.id.as_str())
            .unwrap_or_default()
    }

    /// Sends an activity, or a text message from a string, as a reply.
    pub fn send(&self, activity: impl Into<Activity>) -> Result<ResourceResponse> {
        let sent = self.raw.send(&activity.into())?;
        self.responded.set(true);
        Ok(sent)
    }

    /// Sends activities in order (`sendActivities`), stopping at the first
    /// that fails; the responses of those sent.
    pub fn send_activities<A: Into<Activity>>(
        &self,
        activities: impl IntoIterator<Item = A>,
    ) -> Result<Vec<ResourceResponse>> {
        activities.into_iter().map(|a| self.send(a)).collect()
    }

    /// Whether this turn has sent a reply (`responded`).
    pub fn responded(&self) -> bool {
        self.responded.get()
    }

    /// Answers the turn's invoke from wherever the turn is (botbuilder
    /// sends an `invokeResponse` activity): how a dialog such as
    /// [`dialogs::OAuthPrompt`](crate::dialogs::OAuthPrompt) answers
    /// `signin/verifyState`. The last answer set wins, also over what
    /// `on_invoke` returns (botbuilder's order).
    pub fn set_invoke_response(&self, response: InvokeResponse) {
        self.invoke_response.replace(Some(response));
    }

    /// The invoke answer set in this turn, if any.
    pub fn invoke_response(&self) -> Option<InvokeResponse> {
        self.invoke_response.borrow().clone()
    }

    /// Sends a text message.
    pub fn send_text(&self, text: impl Into<String>) -> Result<ResourceResponse> {
        self.send(MessageFactory::text(text))
    }

    /// Sends a typing indicator.
    pub fn send_typing(&self) -> Result<()> {
        self.send(MessageFactory::typing()).map(|_| ())
    }

    /// A reply streamed as it is produced (an LLM's answer): interim
    /// updates on channels that show them, then one final message.
    pub fn streaming_response(&self) -> StreamingResponse<'_> {
        StreamingResponse::new(self)
    }

    /// Replaces an activity the bot sent; `activity.id` names it.
    pub fn update(&self, activity: &Activity) -> Result<ResourceResponse> {
        Ok(self.raw.update(activity)?)
    }

    /// Deletes an activity the bot sent.
    pub fn delete(&self, activity_id: &str) -> Result<()> {
        Ok(self.raw.delete(activity_id)?)
    }

    /// Starts a conversation on this channel (`ConversationParameters`).
    pub fn create_conversation(&self, parameters: &Value) -> Result<ConversationResourceResponse> {
        Ok(self.raw.create_conversation(&parameters.to_string())?)
    }

    /// Sends an activity into another conversation of this channel.
    pub fn send_to_conversation(
        &self,
        conversation_id: &str,
        activity: impl Into<Activity>,
    ) -> Result<ResourceResponse> {
        Ok(self
            .raw
            .send_to_conversation(conversation_id, &activity.into())?)
    }

    /// The host's turn context, for what this type does not wrap.
    pub fn raw(&self) -> &RawTurnContext {
        self.raw
    }
}
