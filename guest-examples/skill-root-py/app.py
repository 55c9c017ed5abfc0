"""skill-root-py: skill-root-rs's bot on the Python SDK (turnbox_skills), a
root bot and a skill in one; which one comes from its manifest's
`[config] role` (`root`, the default, or `skill`).

As the root, it forwards every user message to the skill named by
`[config] skill` (declared in `[skills.NAME]`; "@NAME text" sends "text" to
the skill NAME instead) and, when the skill ends the conversation, says so:
"the skill ended: <code>". A call that fails is reported: "the skill call
failed: <code>"; a skill's error status: "the skill answered <status>".

As the skill, it answers "skill heard: <text>", "callerid" with "skill
callerId=<callerId>", and on "bye" says goodbye and ends the conversation
(`endOfConversation`, code `completedSuccessfully`). "count" counts in the
conversation's state and answers "skill count: <n>" (a reply the host holds
back for the turn's commit and posts from its outbox); "later" answers
"skill: later" and sets a timer of 100 ms, whose turn (proactive, from the
stored conversation reference) says "skill: the timer fired".
tests/e2e/skills.rs runs it.
"""

import copy

import turnbox
from turnbox_skills import forward_to_skill


# How many "count" messages the skill got in this conversation.
COUNT = turnbox.ConversationState.create_property("count")


def is_skill():
    return turnbox.config("role") == "skill"


def skill_message(ctx):
    text = ctx.activity.text or ""
    if text == "bye":
        ctx.send_activity("skill: goodbye")
        ctx.send_activity(turnbox.new_activity("endOfConversation", code="completedSuccessfully"))
    elif text == "count":
        count = COUNT.get(0) + 1
        COUNT.set(count)
        ctx.send_activity(f"skill count: {count}")
    elif text == "later":
        turnbox.schedule_timer(100, "later")
        ctx.send_activity("skill: later")
    elif text == "callerid":
        ctx.send_activity(f"skill callerId={ctx.extra.get('callerId') or ''}")
    else:
        ctx.send_activity(f"skill heard: {text}")


class SkillOrRoot(turnbox.ActivityHandler):
    def on_message(self, ctx):
        if is_skill():
            skill_message(ctx)
            return
        text = ctx.activity.text or ""
        activity = ctx.activity
        skill = turnbox.config("skill") or "echo"
        if text.startswith("@") and " " in text:
            skill, rest = text[1:].split(" ", 1)
            activity = copy.copy(ctx.activity)
            activity.text = rest
        try:
            answer = forward_to_skill(ctx, skill, activity)
        except turnbox.TurnboxError as e:
            ctx.send_activity(f"the skill call failed: {e.code}")
            return
        if not answer.is_successful_status_code():
            ctx.send_activity(f"the skill answered {answer.status}")

    def on_event(self, ctx, name, value):
        if is_skill() and name == "later":
            ctx.send_activity("skill: the timer fired")

    def on_end_of_conversation(self, ctx):
        if not is_skill():
            ctx.send_activity(f"the skill ended: {ctx.activity.code or 'none'}")


Handler = turnbox.export(SkillOrRoot)
