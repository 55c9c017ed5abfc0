//! The skill host: what a root bot's skills send back to this host
//! (`/api/skills/v3/conversations/{id}/activities[/{activityId}]`), as
//! botbuilder's `SkillHandler` does. The skill conversation id is mapped
//! back to the original conversation reference; the caller must hold an
//! Azure AD token for the root's app id from that skill's app; then
//! ordinary activities (and updates, deletes) go to the original channel
//! through the root's own connector client and token, while
//! `endOfConversation` and `event` activities become a turn of the root
//! bot in the original conversation (`endOfConversation` also forgets the
//! id).

use std::sync::Arc;

use serde_json::{Value, json};

use crate::auth::Authenticator;
use crate::channels::connector::ConnectorError;
use crate::runtime::bot::BotVersion;
use crate::schema::activity::skills::BOT_CALLER_PREFIX;
use crate::schema::activity::{Activity, ChannelAccount, ConversationAccount, names};
use crate::storage::skill_conversations::SkillConversation;
use crate::turn::services::TurnServices;

/// What a skill asks for.
pub enum SkillOperation {
    /// `POST …/activities` (`reply_to`: none) or `…/activities/{id}`.
    Send {
        activity: Activity,
        reply_to: Option<String>,
    },
    /// `PUT …/activities/{id}`.
    Update { activity: Activity, id: String },
    /// `DELETE …/activities/{id}`.
    Delete { id: String },
}

/// Why a skill's call was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum SkillHostError {
    #[error("no skill conversation {0}")]
    UnknownConversation(String),
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    #[error("{0}")]
    BadArgument(String),
    #[error("{0}")]
    Unavailable(String),
    #[error(transparent)]
    Connector(#[from] ConnectorError),
}

/// Serves one call of a skill; the JSON answer (`{id}` for sends and
/// updates, `null` for deletes).
pub async fn serve(
    app: &Arc<TurnServices>,
    authenticator: &Authenticator,
    authorization: Option<&str>,
    conversation_id: &str,
    operation: SkillOperation,
) -> Result<Value, SkillHostError> {
    let (store, id) = (app.skills.conversations.clone(), conversation_id.to_owned());
    let mapping = tokio::task::spawn_blocking(move || store.skill_conversation(&id))
        .await
        .map_err(|e| SkillHostError::Unavailable(e.to_string()))?
        .map_err(|e| SkillHostError::Unavailable(e.to_string()))?
        .ok_or_else(|| SkillHostError::UnknownConversation(conversation_id.to_owned()))?;
    let Some((slot, version)) = app
        .registry
        .slot_named(&mapping.bot)
        .and_then(|slot| slot.current().map(|v| (slot, v)))
    else {
        return Err(SkillHostError::Unavailable(format!(
            "the bot `{}` is not loaded",
            mapping.bot
        )));
    };
    // Only the skill this conversation was opened with may answer in it.
    let Some(skill) = version.skills.get(&mapping.skill) else {
        return Err(SkillHostError::Unauthorized(format!(
            "`{}` is no longer one of the bot's skills",
            mapping.skill
        )));
    };
    let skill_app = authenticator
        .authenticate_skill_reply(authorization, &version.credentials, &[&skill.app_id])
        .await
        .map_err(|e| SkillHostError::Unauthorized(e.to_string()))?;
    match operation {
        SkillOperation::Send { activity, reply_to } => {
            let to_bot = matches!(activity.kind(), names::END_OF_CONVERSATION | names::EVENT);
            if to_bot {
                run_root_turn(app, slot, version, &mapping, activity, &skill_app).await
            } else {
                let mut activity = to_channel(activity, &mapping.reference);
                if let Some(reply_to) = reply_to {
                    activity.reply_to_id = Some(reply_to);
                }
                let outbound = app.outbound_for_proactive(&version, &mut activity);
                let sent = app.connector.send(&activity, &outbound).await?;
                Ok(json!({"id": non_empty_or_random(sent.id)}))
            }
        }
        SkillOperation::Update { activity, id } => {
            let mut activity = to_channel(activity, &mapping.reference);
            activity.id = Some(id);
            let outbound = app.outbound_for_proactive(&version, &mut activity);
            let updated = app.connector.update(&activity, &outbound).await?;
            Ok(json!({"id": non_empty_or_random(updated.id)}))
        }
        SkillOperation::Delete { id } => {
            let mut reference = to_channel(Activity::default(), &mapping.reference);
            let outbound = app.outbound_for_proactive(&version, &mut reference);
            app.connector.delete(&reference, &id, &outbound).await?;
            Ok(Value::Null)
        }
    }
}

fn non_empty_or_random(id: String) -> String {
    if id.is_empty() {
        crate::support::ids::random_id()
    } else {
        id
    }
}

fn field<T: serde::de::DeserializeOwned>(reference: &Value, key: &str) -> Option<T> {
    reference
        .get(key)
        .and_then(|v| serde_json::from_value(v.clone()).ok())
}

/// A skill's activity addressed to the original conversation, from the
/// root bot to its user (botbuilder's `applyConversationReference`).
fn to_channel(mut activity: Activity, reference: &Value) -> Activity {
    activity.channel_id = field(reference, "channelId");
    activity.service_url = field(reference, "serviceUrl");
    activity.conversation = field::<ConversationAccount>(reference, "conversation");
    activity.from = field::<ChannelAccount>(reference, "bot");
    activity.recipient = field::<ChannelAccount>(reference, "user");
    activity.reply_to_id = field(reference, "activityId");
    if activity.locale.is_none() {
        activity.locale = field(reference, "locale");
    }
    // Addressed to the channel: it chooses nobody's callerId.
    activity.extra.remove("callerId");
    activity
}

/// `endOfConversation` and `event`: a turn of the root bot in the original
/// conversation, as if from its user, with `callerId` naming the skill
/// (unless the root is itself a skill there: then its own caller's stays,
/// so that its replies keep their audience). Answered at once: the root's
/// turn that forwarded to the skill may still hold the conversation.
async fn run_root_turn(
    app: &Arc<TurnServices>,
    slot: Arc<crate::bots::registry::BotSlot>,
    version: Arc<BotVersion>,
    mapping: &SkillConversation,
    skill_activity: Activity,
    skill_app: &str,
) -> Result<Value, SkillHostError> {
    let reference = &mapping.reference;
    let mut activity = to_channel(skill_activity, reference);
    std::mem::swap(&mut activity.from, &mut activity.recipient);
    activity.reply_to_id = None;
    let id = crate::support::ids::random_id();
    activity.id = Some(id.clone());
    let caller = reference
        .get("callerId")
        .cloned()
        .unwrap_or_else(|| Value::String(format!("{BOT_CALLER_PREFIX}{skill_app}")));
    activity.extra.insert("callerId".into(), caller);
    if activity.kind() == names::END_OF_CONVERSATION {
        let (store, skc) = (app.skills.conversations.clone(), mapping.id.clone());
        let forgotten =
            tokio::task::spawn_blocking(move || store.delete_skill_conversation(&skc)).await;
        if !matches!(forgotten, Ok(Ok(()))) {
            tracing::warn!(conversation = %mapping.id, "cannot forget an ended skill conversation");
        }
    }
    let outbound = app.outbound_for_proactive(&version, &mut activity);
    tracing::info!(bot = %mapping.bot, skill = %mapping.skill, kind = activity.kind(), "a skill's activity becomes a turn of its root bot");
    crate::turn::accept::accept_now(app, slot, version, Arc::new(activity), outbound)
        .await
        .map_err(|e| SkillHostError::Unavailable(e.to_string()))?;
    Ok(json!({"id": id}))
}
