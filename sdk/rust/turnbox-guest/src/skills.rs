//! Calling skills (other bots) from a root bot: [`SkillClient`] over the
//! `skills` interface, and [`TurnContext::forward_to_skill`] for the usual
//! case of handing the user's activity on. The skill is named as in the
//! manifest's `[skills.NAME]`; the host addresses the activity, mints the
//! skill conversation id and adds the token. The skill's replies reach the
//! user's conversation on their own; its `endOfConversation` reaches the
//! bot as a turn (`ActivityHandler::on_end_of_conversation`).

use serde::de::DeserializeOwned;

use crate::bindings::turnbox::bot::skills;
use crate::bindings::turnbox::bot::types::Activity;
use crate::context::TurnContext;
use crate::error::Result;

/// A skill's answer to a forwarded activity.
#[derive(Debug, Clone, PartialEq)]
pub struct SkillResponse {
    /// The HTTP status the skill answered with.
    pub status: u16,
    /// Its body as JSON text, if any: an invoke response's body, or
    /// `{"activities": [...]}` under `expectReplies`.
    pub body: Option<String>,
}

impl SkillResponse {
    /// Whether the skill answered with a 2xx status.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The body, deserialised; `None` when there is none.
    pub fn body_as<T: DeserializeOwned>(&self) -> Result<Option<T>> {
        Ok(self.body.as_deref().map(serde_json::from_str).transpose()?)
    }
}

/// Forwards activities to the skills of this bot's manifest.
#[derive(Debug, Clone, Copy, Default)]
pub struct SkillClient;

impl SkillClient {
    /// Posts `activity` to the skill named `skill` in the manifest. Fields
    /// it lacks (type, channel, sender, conversation, locale) come from the
    /// turn's activity. Errors: `UnknownSkill`, `NotSupported` (no app id),
    /// `TokenError`, `Unreachable`, `BadArgument`, `StorageError`.
    pub fn forward(&self, skill: &str, activity: &Activity) -> Result<SkillResponse> {
        let answer = skills::forward(skill, activity)?;
        Ok(SkillResponse {
            status: answer.status,
            body: answer.body,
        })
    }
}

impl TurnContext<'_> {
    /// Forwards `activity` (often `ctx.activity().clone()`) to the skill
    /// named `skill` in the manifest.
    pub fn forward_to_skill(
        &self,
        skill: &str,
        activity: impl Into<Activity>,
    ) -> Result<SkillResponse> {
        SkillClient.forward(skill, &activity.into())
    }
}
