"""turnbox guest SDK for Python, calling skills (other bots) from a root bot:
`SkillClient` over the `skills` interface, as botbuilder's
`SkillHttpClient`, and `forward_to_skill` for the usual case of handing the
user's activity on. A skill is named as in the manifest's `[skills.NAME]`;
the host addresses the activity, mints the skill conversation id and adds
the token. The skill's replies reach the user's conversation on their own;
its `endOfConversation` reaches the bot as a turn
(`on_end_of_conversation`)::

    from turnbox_skills import forward_to_skill

    class Root(turnbox.ActivityHandler):
        def on_message(self, ctx):
            forward_to_skill(ctx, "echo")
"""

import json
from dataclasses import dataclass
from typing import Any, Optional

from wit_world.imports import skills as _skills

from turnbox import Activity, TurnContext, _call


@dataclass
class SkillResponse:
    """A skill's answer to a forwarded activity (botbuilder's
    `InvokeResponse`): its HTTP status and its body, parsed (an invoke's
    answer, or {"activities": [...]} under expectReplies), None when there
    is none."""

    status: int
    body: Any = None

    def is_successful_status_code(self) -> bool:
        """Whether the skill answered with a 2xx status."""
        return 200 <= self.status < 300


def _parsed(text: Optional[str]) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


class SkillClient:
    """Forwards activities to the skills of this bot's manifest."""

    def post_activity(self, skill: str, activity: Activity) -> SkillResponse:
        """Posts `activity` to the skill named `skill` in the manifest; fields
        it lacks (type, channel, sender, conversation, locale) come from the
        turn's activity. Raises `turnbox.TurnboxError` when the skill never
        answered: `UnknownSkill`, `NotSupported` (no app id), `TokenError`,
        `Unreachable`, `BadArgument`, `StorageError`."""
        answer = _call(lambda: _skills.forward(skill, activity))
        return SkillResponse(status=answer.status, body=_parsed(answer.body))


def forward_to_skill(ctx: TurnContext, skill: str, activity: Optional[Activity] = None) -> SkillResponse:
    """Forwards `activity` (the turn's own by default) to the skill named
    `skill` in the manifest."""
    return SkillClient().post_activity(skill, activity if activity is not None else ctx.activity)
