//! A root bot and a skill in one, on the Rust SDK: which one it is comes
//! from its manifest's `[config] role` (`root`, the default, or `skill`).
//!
//! As the root, it forwards every user message to the skill named by
//! `[config] skill` (declared in `[skills.NAME]`; "@NAME text" sends
//! "text" to the skill NAME instead) and, when the skill ends
//! the conversation, says so: "the skill ended: <code>". A call that fails
//! (the skill is down) is reported: "the skill call failed: <code>".
//!
//! As the skill, it answers "skill heard: <text>", and on "bye" says
//! goodbye and ends the conversation (`endOfConversation`, code
//! `completedSuccessfully`). Also (as the JavaScript and Python ones):
//! - "count": counts in the conversation's state and answers "skill count:
//!   <n>", a reply the host holds back for the turn's commit and posts from
//!   its outbox;
//! - "later": answers "skill: later" and sets a timer of 100 ms, whose turn
//!   (proactive, from the stored conversation reference) says "skill: the
//!   timer fired".
//!
//! `tests/e2e/skills.rs` runs the two together.

use turnbox_guest::{
    Activity, ActivityHandler, Result, StateProperty, TurnContext, config, timers,
};

/// How many "count" messages the skill got in this conversation.
const COUNT: StateProperty<u32> = StateProperty::conversation("count");

#[derive(Default)]
struct SkillOrRoot;

fn is_skill() -> bool {
    config::get("role").as_deref() == Some("skill")
}

impl ActivityHandler for SkillOrRoot {
    fn on_message(&self, ctx: &TurnContext) -> Result<()> {
        if is_skill() {
            return skill_message(ctx);
        }
        // "@NAME text" forwards "text" to the skill NAME; anything else
        // goes to the `skill` of the config.
        let mut activity = ctx.activity().clone();
        let skill = match ctx.text().strip_prefix('@').and_then(|t| t.split_once(' ')) {
            Some((name, rest)) => {
                activity.text = Some(rest.to_owned());
                name.to_owned()
            }
            None => config::get("skill").unwrap_or_else(|| "echo".into()),
        };
        match ctx.forward_to_skill(&skill, activity) {
            Ok(answer) if answer.is_success() => {}
            Ok(answer) => {
                ctx.send_text(format!("the skill answered {}", answer.status))?;
            }
            Err(turnbox_guest::Error::Call(err)) => {
                ctx.send_text(format!("the skill call failed: {}", err.code))?;
            }
            Err(err) => return Err(err),
        }
        Ok(())
    }

    fn on_event(
        &self,
        ctx: &TurnContext,
        name: &str,
        _value: Option<serde_json::Value>,
    ) -> Result<()> {
        if is_skill() && name == "later" {
            ctx.send_text("skill: the timer fired")?;
        }
        Ok(())
    }

    fn on_end_of_conversation(&self, ctx: &TurnContext) -> Result<()> {
        if is_skill() {
            return Ok(());
        }
        let code = ctx.activity().code.as_deref().unwrap_or("none");
        ctx.send_text(format!("the skill ended: {code}"))?;
        Ok(())
    }
}

fn skill_message(ctx: &TurnContext) -> Result<()> {
    match ctx.text() {
        "bye" => {
            ctx.send_text("skill: goodbye")?;
            let mut end = Activity::new("endOfConversation");
            end.code = Some("completedSuccessfully".into());
            ctx.send(end)?;
        }
        "count" => {
            let count = COUNT.get_or_default()? + 1;
            COUNT.set(&count)?;
            ctx.send_text(format!("skill count: {count}"))?;
        }
        "later" => {
            timers::schedule(100, "later", None)?;
            ctx.send_text("skill: later")?;
        }
        "callerid" => {
            let caller: Option<String> = ctx.activity().extra_field("callerId");
            ctx.send_text(format!("skill callerId={}", caller.unwrap_or_default()))?;
        }
        text => {
            ctx.send_text(format!("skill heard: {text}"))?;
        }
    }
    Ok(())
}

turnbox_guest::export_bot!(SkillOrRoot);
