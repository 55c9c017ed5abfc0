//! The Teams scenario of `guest-examples/README.md`: task modules, a search
//! and an action messaging extension, a refreshed adaptive card, file
//! consent, and channel and team events.

use serde_json::{Value, json};
use turnbox_guest::teams::{
    AdaptiveCardInvokeValue, ChannelInfo, FileConsentCardResponse, MessagingExtensionAction,
    MessagingExtensionQuery, TaskModuleRequest, TeamInfo, TeamsActivityHandler,
    TeamsInvokeResponse, not_implemented,
};
use turnbox_guest::{CardFactory, HeroCard, Result, TurnContext};

use crate::EchoBot;

fn card(text: &str) -> Value {
    json!({
        "type": "AdaptiveCard",
        "version": "1.5",
        "body": [{"type": "TextBlock", "text": text}],
    })
}

fn name(info: Option<String>) -> String {
    info.unwrap_or_default()
}

impl TeamsActivityHandler for EchoBot {
    fn on_adaptive_card_invoke(
        &self,
        ctx: &TurnContext,
        value: AdaptiveCardInvokeValue,
    ) -> Result<Value> {
        if value.action.verb != "refresh" {
            return Err(not_implemented());
        }
        let who = ctx
            .activity()
            .from
            .as_ref()
            .and_then(|f| f.name.clone())
            .unwrap_or_default();
        Ok(TeamsInvokeResponse::adaptive_card(&card(&format!(
            "Refreshed by {who}"
        ))))
    }

    fn on_teams_task_module_fetch(
        &self,
        _ctx: &TurnContext,
        _request: TaskModuleRequest,
    ) -> Result<Value> {
        let form = CardFactory::adaptive_card(&card("Your name?"));
        Ok(TeamsInvokeResponse::task_continue("Form", 200, 400, &form))
    }

    fn on_teams_task_module_submit(
        &self,
        _ctx: &TurnContext,
        request: TaskModuleRequest,
    ) -> Result<Value> {
        let name = request.data["name"].as_str().unwrap_or_default();
        Ok(TeamsInvokeResponse::task_message(&format!(
            "Thanks, {name}"
        )))
    }

    fn on_teams_messaging_extension_query(
        &self,
        _ctx: &TurnContext,
        query: MessagingExtensionQuery,
    ) -> Result<Value> {
        if query.command_id != "search" {
            return Err(not_implemented());
        }
        let q = query.parameter("query").unwrap_or_default();
        let result = CardFactory::hero_card(HeroCard::new(q));
        let preview = CardFactory::hero_card(HeroCard::new(q));
        Ok(TeamsInvokeResponse::messaging_extension_result(&[(
            result,
            Some(preview),
        )]))
    }

    fn on_teams_messaging_extension_submit_action(
        &self,
        _ctx: &TurnContext,
        action: MessagingExtensionAction,
    ) -> Result<Value> {
        if action.command_id != "create" {
            return Err(not_implemented());
        }
        let title = action.data["title"].as_str().unwrap_or_default();
        Ok(TeamsInvokeResponse::messaging_extension_result(&[(
            CardFactory::hero_card(HeroCard::new(title)),
            None,
        )]))
    }

    fn on_teams_file_consent_accept(
        &self,
        ctx: &TurnContext,
        response: FileConsentCardResponse,
    ) -> Result<()> {
        let file = response.upload_info.map(|u| u.name).unwrap_or_default();
        ctx.send_text(format!("File accepted: {file}"))?;
        Ok(())
    }

    fn on_teams_file_consent_decline(
        &self,
        ctx: &TurnContext,
        response: FileConsentCardResponse,
    ) -> Result<()> {
        let file = response.context["filename"].as_str().unwrap_or_default();
        ctx.send_text(format!("File declined: {file}"))?;
        Ok(())
    }

    fn on_teams_channel_created(
        &self,
        ctx: &TurnContext,
        channel: ChannelInfo,
        _team: TeamInfo,
    ) -> Result<()> {
        ctx.send_text(format!("Channel created: {}", name(channel.name)))?;
        Ok(())
    }

    fn on_teams_channel_renamed(
        &self,
        ctx: &TurnContext,
        channel: ChannelInfo,
        _team: TeamInfo,
    ) -> Result<()> {
        ctx.send_text(format!("Channel renamed: {}", name(channel.name)))?;
        Ok(())
    }

    fn on_teams_channel_deleted(
        &self,
        ctx: &TurnContext,
        channel: ChannelInfo,
        _team: TeamInfo,
    ) -> Result<()> {
        ctx.send_text(format!("Channel deleted: {}", name(channel.name)))?;
        Ok(())
    }

    fn on_teams_team_renamed(&self, ctx: &TurnContext, team: TeamInfo) -> Result<()> {
        ctx.send_text(format!("Team renamed: {}", name(team.name)))?;
        Ok(())
    }
}
