//! Microsoft Teams: typed `channelData` ([`TeamsChannelData`]), the
//! [`TeamsActivityHandler`] that routes Teams' invokes (`adaptiveCard/action`,
//! `task/fetch`, `task/submit`, `composeExtension/query`,
//! `composeExtension/submitAction`, `fileConsent/invoke`) and channel and
//! team events (`channelData.eventType`) to typed methods, as botbuilder's
//! `TeamsActivityHandler` does, and the invoke responses Teams expects.
//!
//! A bot implements both traits and routes through Teams in `dispatch`:
//!
//! ```ignore
//! impl ActivityHandler for Bot {
//!     fn dispatch(&self, ctx: &TurnContext) -> Result<Option<InvokeResponse>> {
//!         self.teams_dispatch(ctx)
//!     }
//! }
//! impl TeamsActivityHandler for Bot { /* the on_teams_* methods it needs */ }
//! ```

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::bindings::turnbox::bot::types::{Activity, Attachment, InvokeResponse};
use crate::context::TurnContext;
use crate::error::{Error, Result};
use crate::handler::{ActivityHandler, dispatch_by_type};

/// A team (`TeamInfo`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TeamInfo {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub aad_group_id: Option<String>,
}

/// A channel of a team (`ChannelInfo`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChannelInfo {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
}

/// The tenant (`TenantInfo`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TenantInfo {
    #[serde(default)]
    pub id: Option<String>,
}

/// The meeting (`TeamsMeetingInfo`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MeetingInfo {
    #[serde(default)]
    pub id: Option<String>,
}

/// Teams' `channelData` (`TeamsChannelData`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TeamsChannelData {
    #[serde(default)]
    pub team: Option<TeamInfo>,
    #[serde(default)]
    pub channel: Option<ChannelInfo>,
    #[serde(default)]
    pub tenant: Option<TenantInfo>,
    #[serde(default)]
    pub meeting: Option<MeetingInfo>,
    /// `channelCreated`, `channelRenamed`, `teamRenamed`, …
    #[serde(default)]
    pub event_type: Option<String>,
}

impl TeamsChannelData {
    /// The activity's `channelData`; empty when absent or not Teams'.
    pub fn of(activity: &Activity) -> TeamsChannelData {
        activity
            .channel_data
            .as_deref()
            .and_then(|json| serde_json::from_str(json).ok())
            .unwrap_or_default()
    }
}

/// An `adaptiveCard/action` invoke's value (`AdaptiveCardInvokeValue`).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AdaptiveCardInvokeValue {
    #[serde(default)]
    pub action: AdaptiveCardInvokeAction,
}

/// The `Action.Execute` that was invoked.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AdaptiveCardInvokeAction {
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub verb: String,
    #[serde(default)]
    pub data: Value,
}

/// A `task/fetch` or `task/submit` invoke's value (`TaskModuleRequest`).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct TaskModuleRequest {
    #[serde(default)]
    pub data: Value,
    #[serde(default)]
    pub context: Value,
}

/// A `composeExtension/query` invoke's value (`MessagingExtensionQuery`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessagingExtensionQuery {
    #[serde(default)]
    pub command_id: String,
    #[serde(default)]
    pub parameters: Vec<MessagingExtensionParameter>,
    #[serde(default)]
    pub query_options: Value,
}

impl MessagingExtensionQuery {
    /// The value of parameter `name`, as text.
    pub fn parameter(&self, name: &str) -> Option<&str> {
        self.parameters
            .iter()
            .find(|p| p.name == name)
            .and_then(|p| p.value.as_str())
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct MessagingExtensionParameter {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub value: Value,
}

/// A `composeExtension/submitAction` invoke's value
/// (`MessagingExtensionAction`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessagingExtensionAction {
    #[serde(default)]
    pub command_id: String,
    #[serde(default)]
    pub command_context: Option<String>,
    #[serde(default)]
    pub data: Value,
}

/// A `fileConsent/invoke` invoke's value (`FileConsentCardResponse`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FileConsentCardResponse {
    /// `accept` or `decline`.
    #[serde(default)]
    pub action: String,
    /// The `acceptContext`/`declineContext` of the consent card.
    #[serde(default)]
    pub context: Value,
    #[serde(default)]
    pub upload_info: Option<FileUploadInfo>,
}

/// Where to upload an accepted file (`FileUploadInfo`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FileUploadInfo {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub upload_url: Option<String>,
    #[serde(default)]
    pub content_url: Option<String>,
    #[serde(default)]
    pub unique_id: Option<String>,
    #[serde(default)]
    pub file_type: Option<String>,
}

/// An attachment as the JSON Teams expects in invoke responses (its
/// `content` inline).
pub fn attachment_json(attachment: &Attachment) -> Value {
    let content = attachment
        .content
        .as_deref()
        .map(|c| serde_json::from_str(c).unwrap_or_else(|_| Value::String(c.to_owned())));
    let mut json = json!({"contentType": attachment.content_type});
    for (key, value) in [
        ("content", content),
        (
            "contentUrl",
            attachment.content_url.clone().map(Value::String),
        ),
        ("name", attachment.name.clone().map(Value::String)),
    ] {
        if let Some(value) = value {
            json[key] = value;
        }
    }
    json
}

/// The invoke responses Teams expects.
pub struct TeamsInvokeResponse;

impl TeamsInvokeResponse {
    /// `adaptiveCard/action`: show `card` (an adaptive card's JSON) in
    /// place of the one invoked (`AdaptiveCardInvokeResponse`).
    pub fn adaptive_card(card: &Value) -> Value {
        json!({"statusCode": 200, "type": "application/vnd.microsoft.card.adaptive", "value": card})
    }

    /// `adaptiveCard/action`: a message instead of a card.
    pub fn adaptive_card_message(text: &str) -> Value {
        json!({"statusCode": 200, "type": "application/vnd.microsoft.activity.message", "value": text})
    }

    /// `task/fetch`, `task/submit`: open (or keep open) a task module with
    /// `card` (`TaskModuleContinueResponse`).
    pub fn task_continue(title: &str, height: u32, width: u32, card: &Attachment) -> Value {
        json!({"task": {"type": "continue", "value": {
            "title": title, "height": height, "width": width, "card": attachment_json(card),
        }}})
    }

    /// `task/submit`: close the task module with a message
    /// (`TaskModuleMessageResponse`).
    pub fn task_message(text: &str) -> Value {
        json!({"task": {"type": "message", "value": text}})
    }

    /// `composeExtension/*`: a list of results (`MessagingExtensionResult`);
    /// each attachment with an optional preview card.
    pub fn messaging_extension_result(attachments: &[(Attachment, Option<Attachment>)]) -> Value {
        let attachments: Vec<Value> = attachments
            .iter()
            .map(|(card, preview)| {
                let mut json = attachment_json(card);
                if let Some(preview) = preview {
                    json["preview"] = attachment_json(preview);
                }
                json
            })
            .collect();
        json!({"composeExtension": {"type": "result", "attachmentLayout": "list", "attachments": attachments}})
    }
}

/// The default of a Teams method the bot does not implement: the invoke is
/// answered 501.
pub fn not_implemented() -> Error {
    Error::new(
        "NotImplemented",
        "the bot does not handle this Teams invoke",
    )
}

fn value_of<T: DeserializeOwned + Default>(ctx: &TurnContext) -> Result<T> {
    Ok(ctx.value::<T>()?.unwrap_or_default())
}

/// botbuilder's `TeamsActivityHandler`: override the methods for what the
/// bot handles; route through [`teams_dispatch`](Self::teams_dispatch).
pub trait TeamsActivityHandler: ActivityHandler {
    /// Teams' invokes and events to the methods below; everything else to
    /// the `ActivityHandler` methods. An invoke whose value does not parse
    /// is answered 400, one the bot does not handle 501.
    fn teams_dispatch(&self, ctx: &TurnContext) -> Result<Option<InvokeResponse>> {
        let activity = ctx.activity();
        match activity.type_.as_str() {
            "invoke" => {
                let name = activity.name.clone().unwrap_or_default();
                let answer = match self.on_teams_invoke(ctx, &name) {
                    Ok(Some(body)) => InvokeResponse::ok(&body),
                    Ok(None) => return dispatch_by_type(self, ctx),
                    Err(Error::Json(message)) => InvokeResponse::new(
                        400,
                        &json!({"error": {"code": "BadRequest", "message": message}}),
                    ),
                    Err(Error::Bot { code, .. }) if code == "NotImplemented" => InvokeResponse {
                        status: 501,
                        body: None,
                    },
                    Err(other) => return Err(other),
                };
                Ok(Some(answer))
            }
            "conversationUpdate"
                if activity.channel_id.as_deref() == Some("msteams")
                    && self
                        .on_teams_conversation_update(ctx, &TeamsChannelData::of(activity))? =>
            {
                Ok(None)
            }
            _ => dispatch_by_type(self, ctx),
        }
    }

    /// A Teams invoke by name: the body of the 200 response, or `None` for
    /// invokes that are not Teams' (then `on_invoke` gets it).
    fn on_teams_invoke(&self, ctx: &TurnContext, name: &str) -> Result<Option<Value>> {
        Ok(Some(match name {
            "adaptiveCard/action" => self.on_adaptive_card_invoke(ctx, value_of(ctx)?)?,
            "task/fetch" => self.on_teams_task_module_fetch(ctx, value_of(ctx)?)?,
            "task/submit" => self.on_teams_task_module_submit(ctx, value_of(ctx)?)?,
            "composeExtension/query" => {
                self.on_teams_messaging_extension_query(ctx, value_of(ctx)?)?
            }
            "composeExtension/submitAction" => {
                self.on_teams_messaging_extension_submit_action(ctx, value_of(ctx)?)?
            }
            "fileConsent/invoke" => {
                let response: FileConsentCardResponse = value_of(ctx)?;
                match response.action.as_str() {
                    "accept" => self.on_teams_file_consent_accept(ctx, response)?,
                    "decline" => self.on_teams_file_consent_decline(ctx, response)?,
                    other => {
                        return Err(Error::Json(format!(
                            "fileConsent action {other:?} is neither accept nor decline"
                        )));
                    }
                }
                json!({})
            }
            _ => return Ok(None),
        }))
    }

    /// A Teams `conversationUpdate` by `eventType`: `true` when handled
    /// here, `false` to let `on_conversation_update` (members) have it.
    fn on_teams_conversation_update(
        &self,
        ctx: &TurnContext,
        data: &TeamsChannelData,
    ) -> Result<bool> {
        let channel = data.channel.clone().unwrap_or_default();
        let team = data.team.clone().unwrap_or_default();
        match data.event_type.as_deref().unwrap_or_default() {
            "channelCreated" => self.on_teams_channel_created(ctx, channel, team)?,
            "channelRenamed" => self.on_teams_channel_renamed(ctx, channel, team)?,
            "channelDeleted" => self.on_teams_channel_deleted(ctx, channel, team)?,
            "channelRestored" => self.on_teams_channel_restored(ctx, channel, team)?,
            "teamRenamed" => self.on_teams_team_renamed(ctx, team)?,
            "teamArchived" | "teamDeleted" | "teamHardDeleted" | "teamRestored"
            | "teamUnarchived" => {
                self.on_teams_team_event(ctx, data.event_type.as_deref().unwrap_or_default(), team)?
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// `adaptiveCard/action` (`Action.Execute`): e.g.
    /// [`TeamsInvokeResponse::adaptive_card`].
    fn on_adaptive_card_invoke(
        &self,
        _ctx: &TurnContext,
        _value: AdaptiveCardInvokeValue,
    ) -> Result<Value> {
        Err(not_implemented())
    }

    /// `task/fetch`: e.g. [`TeamsInvokeResponse::task_continue`].
    fn on_teams_task_module_fetch(
        &self,
        _ctx: &TurnContext,
        _request: TaskModuleRequest,
    ) -> Result<Value> {
        Err(not_implemented())
    }

    /// `task/submit`: e.g. [`TeamsInvokeResponse::task_message`].
    fn on_teams_task_module_submit(
        &self,
        _ctx: &TurnContext,
        _request: TaskModuleRequest,
    ) -> Result<Value> {
        Err(not_implemented())
    }

    /// `composeExtension/query`: e.g.
    /// [`TeamsInvokeResponse::messaging_extension_result`].
    fn on_teams_messaging_extension_query(
        &self,
        _ctx: &TurnContext,
        _query: MessagingExtensionQuery,
    ) -> Result<Value> {
        Err(not_implemented())
    }

    /// `composeExtension/submitAction`.
    fn on_teams_messaging_extension_submit_action(
        &self,
        _ctx: &TurnContext,
        _action: MessagingExtensionAction,
    ) -> Result<Value> {
        Err(not_implemented())
    }

    /// The user accepted a file consent card: upload to `upload_info`.
    fn on_teams_file_consent_accept(
        &self,
        _ctx: &TurnContext,
        _response: FileConsentCardResponse,
    ) -> Result<()> {
        Err(not_implemented())
    }

    /// The user declined a file consent card.
    fn on_teams_file_consent_decline(
        &self,
        _ctx: &TurnContext,
        _response: FileConsentCardResponse,
    ) -> Result<()> {
        Err(not_implemented())
    }

    fn on_teams_channel_created(
        &self,
        _ctx: &TurnContext,
        _channel: ChannelInfo,
        _team: TeamInfo,
    ) -> Result<()> {
        Ok(())
    }

    fn on_teams_channel_renamed(
        &self,
        _ctx: &TurnContext,
        _channel: ChannelInfo,
        _team: TeamInfo,
    ) -> Result<()> {
        Ok(())
    }

    fn on_teams_channel_deleted(
        &self,
        _ctx: &TurnContext,
        _channel: ChannelInfo,
        _team: TeamInfo,
    ) -> Result<()> {
        Ok(())
    }

    fn on_teams_channel_restored(
        &self,
        _ctx: &TurnContext,
        _channel: ChannelInfo,
        _team: TeamInfo,
    ) -> Result<()> {
        Ok(())
    }

    fn on_teams_team_renamed(&self, _ctx: &TurnContext, _team: TeamInfo) -> Result<()> {
        Ok(())
    }

    /// `teamArchived`, `teamDeleted`, `teamHardDeleted`, `teamRestored`,
    /// `teamUnarchived`.
    fn on_teams_team_event(
        &self,
        _ctx: &TurnContext,
        _event_type: &str,
        _team: TeamInfo,
    ) -> Result<()> {
        Ok(())
    }
}
