"""The echo bot in Python, built with componentize-py.

It implements the behaviour every example bot shares, whatever its language
(tests/e2e/languages.rs holds them all to it):

- message `count`: adds one to `count` in conversation state, replies `Count: N`;
- message `card`: replies `Here is a card` with a hero card and two suggested actions;
- any other message: replies `Echo: {text}`;
- conversationUpdate: welcomes every added member other than the bot;
- invoke `echo/ping`: answers 200 {"pong": true}.
"""

import json

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import state, types
from wit_world.imports.context import TurnContext

HERO_CARD = {
    "title": "turnbox",
    "text": "A bot in any WebAssembly language",
    "buttons": [{"type": "openUrl", "title": "Docs", "value": "https://example.org/turnbox"}],
}
SUGGESTED_ACTIONS = {
    "actions": [
        {"type": "imBack", "title": "Red", "value": "red"},
        {"type": "imBack", "title": "Blue", "value": "blue"},
    ]
}


def new_activity(text: str) -> types.Activity:
    """An outgoing message; the host fills in the routing."""
    return types.Activity(
        type="message", id=None, timestamp=None, local_timestamp=None, local_timezone=None,
        channel_id=None, service_url=None, from_=None, recipient=None, conversation=None,
        reply_to_id=None, text=text, text_format=None, speak=None, locale=None,
        input_hint=None, summary=None, attachment_layout=None, attachments=None,
        suggested_actions=None, entities=None, channel_data=None, members_added=None,
        members_removed=None, action=None, name=None, value=None, value_type=None,
        relates_to=None, delivery_mode=None, code=None, expiration=None, importance=None,
        extra="{}",
    )


def send(ctx: TurnContext, activity: types.Activity) -> None:
    try:
        ctx.send(activity)
    except Err as e:
        raise Err(types.BotError(code="SendFailed", message=f"{e.value.code}: {e.value.message}"))


class Handler(exports.Handler):
    def on_turn(self, ctx: TurnContext):
        incoming = ctx.activity()
        if incoming.type == "message":
            text = incoming.text or ""
            if text == "count":
                count = int(state.get(state.Scope.CONVERSATION, "count") or "0") + 1
                state.set(state.Scope.CONVERSATION, "count", json.dumps(count))
                send(ctx, new_activity(f"Count: {count}"))
            elif text == "card":
                reply = new_activity("Here is a card")
                reply.attachments = [types.Attachment(
                    content_type="application/vnd.microsoft.card.hero", content_url=None,
                    content=json.dumps(HERO_CARD), name=None, thumbnail_url=None, extra=None,
                )]
                reply.suggested_actions = json.dumps(SUGGESTED_ACTIONS)
                send(ctx, reply)
            else:
                send(ctx, new_activity(f"Echo: {text}"))
        elif incoming.type == "conversationUpdate":
            bot_id = incoming.recipient.id if incoming.recipient else None
            for member in incoming.members_added or []:
                if member.id != bot_id:
                    send(ctx, new_activity(f"Welcome, {member.name or member.id}!"))
        elif incoming.type == "invoke" and incoming.name == "echo/ping":
            return types.InvokeResponse(status=200, body=json.dumps({"pong": True}))
        return None
