//! `turnbox:bot/skills`: forwarding an activity to a skill the bot's
//! manifest declares, as botbuilder's `SkillHttpClient` does: a skill
//! conversation id from the factory in the database (mapped to this turn's
//! conversation reference), `serviceUrl` = this host's skill endpoint,
//! `relatesTo` = the original reference, `recipient` = the skill, and a
//! token of the bot's app for the skill's app id. The endpoint is the
//! manifest's; a bot never names a URL.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{OutputSize, call_error, from_record};
use crate::auth::OutboundTokens;
use crate::channels::connector::TokenProvider;
use crate::channels::skill_client::post_to_skill;
use crate::runtime::store::TurnState;
use crate::schema::activity::skills::{BOT_CALLER_PREFIX, SKILL_ROLE};
use crate::schema::activity::{Activity, ChannelAccount, conversation_reference};
use crate::schema::bindings::turnbox::bot::{skills, types as wit};
use crate::storage::skill_conversations::SkillConversationStore;

/// The longest a skill may take to answer, within the turn's deadline.
const MAX_SKILL_WAIT: Duration = Duration::from_secs(30);

/// What calling skills needs from the host, shared by every turn.
pub struct SkillCalls {
    /// The skill conversation id factory.
    pub conversations: Arc<dyn SkillConversationStore>,
    pub tokens: Arc<OutboundTokens>,
    pub http: reqwest::Client,
    /// This host's skill endpoint, the `serviceUrl` skills reply to, e.g.
    /// `https://bots.example/api/skills`.
    pub host_endpoint: String,
}

impl skills::Host for TurnState {
    async fn forward(
        &mut self,
        skill: String,
        activity: wit::Activity,
    ) -> wasmtime::Result<Result<skills::SkillResponse, wit::CallError>> {
        let result = self.forward_to_skill(&skill, activity).await;
        if let Err(err) = &result {
            self.log_call_error("skills.forward", err);
        }
        Ok(result)
    }
}

impl TurnState {
    async fn forward_to_skill(
        &mut self,
        name: &str,
        activity: wit::Activity,
    ) -> Result<skills::SkillResponse, wit::CallError> {
        let Some(calls) = self.turn.skills.clone() else {
            return Err(call_error(
                "NotSupported",
                "skills cannot be called here (no server)".into(),
                None,
            ));
        };
        let Some(skill) = self.skills.get(name).cloned() else {
            return Err(call_error(
                "UnknownSkill",
                format!("the manifest declares no skill `{name}` ([skills.{name}])"),
                None,
            ));
        };
        let Some(app_id) = self.credentials.app_id.clone().filter(|id| !id.is_empty()) else {
            return Err(call_error(
                "NotSupported",
                "calling a skill needs the bot's MicrosoftAppId and password".into(),
                None,
            ));
        };
        self.count_output("skills.forward", OutputSize::of(&activity), true)?;
        let mut activity = from_record(activity)?;
        let incoming = self.turn.incoming.clone();
        fill_from(&mut activity, &incoming);
        let reference = conversation_reference(&incoming);

        let (store, bot, skill_name, stored) = (
            calls.conversations.clone(),
            self.bot.to_string(),
            name.to_owned(),
            reference.clone(),
        );
        let minted = tokio::task::spawn_blocking(move || {
            store.mint_skill_conversation(&bot, &skill_name, &stored)
        })
        .await;
        let conversation_id = match minted {
            Ok(Ok(id)) => id,
            Ok(Err(e)) => return Err(call_error("StorageError", e.to_string(), None)),
            Err(e) => return Err(call_error("StorageError", e.to_string(), None)),
        };
        prepare(
            &mut activity,
            &conversation_id,
            &calls.host_endpoint,
            reference,
            &skill.app_id,
            &app_id,
        );

        let token = match calls
            .tokens
            .provider_for_scope(&self.credentials, format!("{}/.default", skill.app_id))
        {
            Some(provider) => provider
                .token(&skill.endpoint)
                .await
                .map_err(|e| call_error("TokenError", e, None))?,
            None => None,
        };
        let left = self.turn.deadline.saturating_duration_since(Instant::now());
        let answer = post_to_skill(
            &calls.http,
            &skill.endpoint,
            &conversation_id,
            &activity,
            token.as_deref(),
            left.min(MAX_SKILL_WAIT),
        )
        .await
        .map_err(|e| call_error(e.code(), e.to_string(), None))?;
        tracing::info!(bot = %self.bot, skill = name, status = answer.status, "forwarded to a skill");
        Ok(skills::SkillResponse {
            status: answer.status,
            body: answer.body,
        })
    }
}

/// Fills what the bot left out from the turn's incoming activity: type,
/// channel, sender, conversation, locale.
fn fill_from(activity: &mut Activity, incoming: &Activity) {
    if activity.kind().is_empty() {
        activity.kind = Some("message".into());
    }
    if activity.channel_id.is_none() {
        activity.channel_id = incoming.channel_id.clone();
    }
    if activity.from.is_none() {
        activity.from = incoming.from.clone();
    }
    if activity.conversation.is_none() {
        activity.conversation = incoming.conversation.clone();
    }
    if activity.locale.is_none() {
        activity.locale = incoming.locale.clone();
    }
}

/// Addresses the activity to the skill (`BotFrameworkHttpClient.postActivity`).
fn prepare(
    activity: &mut Activity,
    conversation_id: &str,
    host_endpoint: &str,
    reference: Value,
    skill_app: &str,
    root_app: &str,
) {
    let mut conversation = activity.conversation.take().unwrap_or_default();
    conversation.id = conversation_id.to_owned();
    activity.conversation = Some(conversation);
    activity.service_url = Some(host_endpoint.to_owned());
    activity.relates_to = Some(reference);
    activity.recipient = Some(ChannelAccount {
        id: skill_app.to_owned(),
        role: Some(SKILL_ROLE.into()),
        ..Default::default()
    });
    activity.extra.insert(
        "callerId".into(),
        Value::String(format!("{BOT_CALLER_PREFIX}{root_app}")),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_forwarded_activity_is_addressed_to_the_skill() {
        let incoming: Activity = serde_json::from_value(json!({
            "type": "message", "id": "u1", "channelId": "msteams",
            "serviceUrl": "https://smba.example/", "text": "hi",
            "from": {"id": "user"}, "recipient": {"id": "root-bot"},
            "conversation": {"id": "c1", "tenantId": "t"}, "locale": "fr-FR",
            "callerId": "urn:botframework:azure"
        }))
        .unwrap();
        let mut activity = Activity {
            text: Some("hi".into()),
            ..Default::default()
        };
        fill_from(&mut activity, &incoming);
        let reference = conversation_reference(&incoming);
        prepare(
            &mut activity,
            "skc-1",
            "http://root.example/api/skills",
            reference,
            "skill-app",
            "root-app",
        );
        let json = serde_json::to_value(&activity).unwrap();
        assert_eq!(json["type"], "message");
        assert_eq!(
            json["conversation"],
            json!({"id": "skc-1", "tenantId": "t"})
        );
        assert_eq!(json["serviceUrl"], "http://root.example/api/skills");
        assert_eq!(
            json["recipient"],
            json!({"id": "skill-app", "role": "skill"})
        );
        assert_eq!(json["from"], json!({"id": "user"}));
        assert_eq!(json["relatesTo"]["conversation"]["id"], "c1");
        assert_eq!(json["relatesTo"]["serviceUrl"], "https://smba.example/");
        assert_eq!(json["relatesTo"]["activityId"], "u1");
        assert_eq!(json["callerId"], "urn:botframework:aadappid:root-app");
        assert_eq!(json["locale"], "fr-FR");
    }
}
