//! Who a Direct Line conversation's members are, for the Bot Connector's
//! member calls on this channel (`http/directline/connector.rs`): the bot,
//! the user the conversation was started for, and every other user who
//! has posted to it (a caller with the channel's secret may post as any
//! user), in the order they first appeared; not the senders of what the
//! bot sent (a history's, or a reply that names a user). Read from the conversation's log
//! (`Conversations::log`), so every host sharing the database gives the
//! same answer.

use serde_json::{Value, json};

use super::conversations::{Conversation, sent_by_bot};

/// One member as the Bot Connector's `ChannelAccount`.
fn account(id: &str, name: Option<&str>, role: &str) -> Value {
    let mut member = json!({"id": id, "role": role});
    if let Some(name) = name.filter(|n| !n.is_empty()) {
        member["name"] = Value::String(name.to_owned());
    }
    member
}

/// The members `log` shows for `conversation`: the users first (the one it
/// was started for leading), then the bot.
pub fn from_log(conversation: &Conversation, log: &[Value]) -> Vec<Value> {
    let mut members = vec![account(&conversation.user, None, "user")];
    for activity in log.iter().filter(|a| !sent_by_bot(a)) {
        let from = &activity["from"];
        let (Some(id), Some("user")) = (from["id"].as_str(), from["role"].as_str()) else {
            continue;
        };
        match members.iter_mut().find(|m| m["id"] == id) {
            // The user's name, once they give one.
            Some(known) if known.get("name").is_none() => {
                *known = account(id, from["name"].as_str(), "user");
            }
            Some(_) => {}
            None => members.push(account(id, from["name"].as_str(), "user")),
        }
    }
    members.push(account(&conversation.bot, Some(&conversation.bot), "bot"));
    members
}

/// The members of one logged activity: its sender and its recipient, as
/// the conversation's members list them (else as the activity names
/// them). `None` when the log has no activity with that id.
pub fn of_activity(
    conversation: &Conversation,
    log: &[Value],
    activity_id: &str,
) -> Option<Vec<Value>> {
    let activity = log.iter().find(|a| a["id"] == activity_id)?;
    let all = from_log(conversation, log);
    let mut members: Vec<Value> = Vec::new();
    for account in [&activity["from"], &activity["recipient"]] {
        let Some(id) = account["id"].as_str() else {
            continue;
        };
        if members.iter().any(|m| m["id"] == id) {
            continue;
        }
        let known = all.iter().find(|m| m["id"] == id);
        members.push(known.cloned().unwrap_or_else(|| account.clone()));
    }
    Some(members)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channels::directline::conversations::BOT_MARK;

    fn conversation() -> Conversation {
        Conversation {
            id: "c1".into(),
            bot: "helper".into(),
            user: "dl_ada".into(),
        }
    }

    #[test]
    fn users_in_order_of_appearance_then_the_bot() {
        let log = [
            json!({"id": "c1|0", "from": {"id": "dl_ada", "role": "user"}, "recipient": {"id": "helper"}}),
            json!({"id": "c1|1", "from": {"id": "helper", "role": "bot"}, "recipient": {"id": "dl_ada"}}),
            json!({"id": "c1|2", "from": {"id": "grace", "name": "Grace", "role": "user"}, "recipient": {"id": "helper"}}),
            json!({"id": "c1|3", "from": {"id": "dl_ada", "name": "Ada", "role": "user"}}),
            json!({"id": "c1|4", "from": {"id": "grace", "name": "Other", "role": "user"}}),
            json!({"id": "c1|5", "from": {"id": "linus", "role": "user"}, (BOT_MARK): true}),
            // The mark an earlier build gave a history.
            json!({"id": "c1|6", "from": {"id": "ken", "role": "user"}, "turnboxHistory": true}),
        ];
        assert_eq!(
            from_log(&conversation(), &log),
            [
                json!({"id": "dl_ada", "name": "Ada", "role": "user"}),
                json!({"id": "grace", "name": "Grace", "role": "user"}),
                json!({"id": "helper", "name": "helper", "role": "bot"}),
            ]
        );
    }

    #[test]
    fn a_conversation_nobody_posted_to_has_its_user_and_bot() {
        assert_eq!(
            from_log(&conversation(), &[]),
            [
                json!({"id": "dl_ada", "role": "user"}),
                json!({"id": "helper", "name": "helper", "role": "bot"}),
            ]
        );
    }

    #[test]
    fn an_activitys_members_are_its_sender_and_recipient() {
        let log = [
            json!({"id": "c1|0", "from": {"id": "grace", "role": "user"}, "recipient": {"id": "helper"}}),
            json!({"id": "c1|1", "from": {"id": "helper", "role": "bot"}, "recipient": {"id": "grace"}}),
        ];
        let members = of_activity(&conversation(), &log, "c1|1").unwrap_or_default();
        let ids: Vec<&str> = members.iter().filter_map(|m| m["id"].as_str()).collect();
        assert_eq!(ids, ["helper", "grace"]);
        assert_eq!(of_activity(&conversation(), &log, "c1|9"), None);
        // A history's sender is no member, but still the activity's.
        let log = [
            json!({"id": "c1|0", "from": {"id": "linus", "role": "user"},
                          "recipient": {"id": "helper"}, (BOT_MARK): true}),
        ];
        let members = of_activity(&conversation(), &log, "c1|0").unwrap_or_default();
        assert_eq!(members[0], json!({"id": "linus", "role": "user"}));
        assert_eq!(members[1]["id"], "helper");
    }
}
