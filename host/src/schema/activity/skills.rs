//! Which bot a skill's activities answer: a turn of a bot called as a
//! skill (`callerId` = `urn:botframework:aadappid:<caller>` and the bot
//! addressed with `role: skill`) replies with a token for the caller's app
//! id, not the Bot Connector's. The reply, the stored conversation
//! reference and the proactive activity made from it carry that `callerId`,
//! so the outbox relay, resumed turns and timers find the same audience.

use serde_json::Value;

use super::{Activity, ChannelAccount};

/// The `callerId` prefix of a bot calling another (botbuilder's
/// `CallerIdConstants.BotToBotPrefix`).
pub const BOT_CALLER_PREFIX: &str = "urn:botframework:aadappid:";

/// The `role` of a bot addressed as a skill.
pub const SKILL_ROLE: &str = "skill";

fn is_skill(account: Option<&ChannelAccount>) -> bool {
    account.is_some_and(|a| a.role.as_deref() == Some(SKILL_ROLE))
}

/// The app id of the bot whose skill this activity's conversation is: set
/// when `callerId` names a bot and the activity is to (incoming) or from
/// (a reply) a bot with the `skill` role.
pub fn skill_caller(activity: &Activity) -> Option<&str> {
    let caller = activity
        .extra
        .get("callerId")
        .and_then(Value::as_str)?
        .strip_prefix(BOT_CALLER_PREFIX)
        .filter(|id| !id.is_empty())?;
    (is_skill(activity.recipient.as_ref()) || is_skill(activity.from.as_ref())).then_some(caller)
}

/// Copies the skill caller's `callerId` from `incoming` onto `outgoing`
/// (nothing for other turns).
pub(super) fn carry_caller(outgoing: &mut Activity, incoming: &Activity) {
    if skill_caller(incoming).is_some()
        && let Some(caller) = incoming.extra.get("callerId")
    {
        outgoing.extra.insert("callerId".into(), caller.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::activity::{continuation_activity, conversation_reference};
    use serde_json::json;

    fn incoming(caller: &str, role: Option<&str>) -> Activity {
        serde_json::from_value(json!({
            "type": "message", "id": "a1", "channelId": "test",
            "serviceUrl": "http://root.example/api/skills",
            "conversation": {"id": "skc-1"},
            "from": {"id": "user"},
            "recipient": {"id": "skill-app", "role": role},
            "callerId": caller,
        }))
        .unwrap()
    }

    #[test]
    fn a_skill_turn_keeps_its_caller_through_replies_references_and_timers() {
        let turn = incoming("urn:botframework:aadappid:root-app", Some("skill"));
        assert_eq!(skill_caller(&turn), Some("root-app"));
        let mut reply = Activity::default();
        reply.complete_reply(&turn);
        assert_eq!(skill_caller(&reply), Some("root-app"), "{reply:?}");
        let reference = conversation_reference(&turn);
        let proactive = continuation_activity(&reference, None).unwrap();
        assert_eq!(skill_caller(&proactive), Some("root-app"));
    }

    #[test]
    fn other_turns_answer_the_bot_connector() {
        for turn in [
            incoming("urn:botframework:azure", Some("skill")),
            incoming("urn:botframework:aadappid:root-app", Some("bot")),
            incoming("urn:botframework:aadappid:root-app", None),
            incoming("urn:botframework:aadappid:", Some("skill")),
        ] {
            assert_eq!(skill_caller(&turn), None, "{turn:?}");
            let mut reply = Activity::default();
            reply.complete_reply(&turn);
            assert!(!reply.extra.contains_key("callerId"));
            assert!(conversation_reference(&turn).get("callerId").is_none());
        }
    }
}
