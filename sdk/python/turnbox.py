"""turnbox guest SDK for Python: botbuilder's ActivityHandler, TurnContext,
MessageFactory, CardFactory and state property accessors, over the
turnbox:bot WIT world. Build with componentize-py (docs/LANGUAGES.md)::

    import turnbox

    class EchoBot(turnbox.ActivityHandler):
        def on_message(self, ctx):
            ctx.send_activity(f"Echo: {ctx.activity.text}")

    Handler = turnbox.export(EchoBot)

`ctx.activity` is the WIT activity record (`text`, `from_`, `members_added`,
...); its JSON fields are JSON text, and `ctx.value` and `ctx.extra` give
them parsed. Everything is synchronous: host calls block until done.
"""

import json
from dataclasses import dataclass, field
from typing import Any, Callable, List, Optional

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import config as _config
from wit_world.imports import logging as _logging
from wit_world.imports import state as _state
from wit_world.imports import timers as _timers
from wit_world.imports import types
from wit_world.imports.context import TurnContext as RawTurnContext

Activity = types.Activity
Attachment = types.Attachment
ChannelAccount = types.ChannelAccount
InvokeResponse = types.InvokeResponse


class TurnboxError(Exception):
    """A host call failed: `code` as in the WIT `call-error`."""

    def __init__(self, code: str, message: str, status: Optional[int] = None):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status


def _call(f: Callable[[], Any]) -> Any:
    """Runs a host call; a WIT `err` becomes a TurnboxError."""
    try:
        return f()
    except Err as e:
        raise TurnboxError(e.value.code, e.value.message, e.value.status) from None


def new_activity(kind: str = "message", **fields: Any) -> Activity:
    """An empty activity of type `kind` with `fields` set; the host fills in
    the routing when it is sent."""
    activity = Activity(
        type=kind, id=None, timestamp=None, local_timestamp=None, local_timezone=None,
        channel_id=None, service_url=None, from_=None, recipient=None, conversation=None,
        reply_to_id=None, text=None, text_format=None, speak=None, locale=None,
        input_hint=None, summary=None, attachment_layout=None, attachments=None,
        suggested_actions=None, entities=None, channel_data=None, members_added=None,
        members_removed=None, action=None, name=None, value=None, value_type=None,
        relates_to=None, delivery_mode=None, code=None, expiration=None, importance=None,
        extra="{}",
    )
    for key, value in fields.items():
        setattr(activity, key, value)
    return activity


def _as_activity(activity_or_text: Any) -> Activity:
    if isinstance(activity_or_text, str):
        return MessageFactory.text(activity_or_text)
    return activity_or_text


class TurnContext:
    """One turn: the incoming activity and the ways to answer it."""

    def __init__(self, raw: RawTurnContext):
        self.raw = raw
        self.activity: Activity = raw.activity()

    @property
    def value(self) -> Any:
        """The incoming `value`, parsed; None when there is none."""
        return json.loads(self.activity.value) if self.activity.value is not None else None

    @property
    def extra(self) -> dict:
        """The incoming fields the record does not model, e.g. `reactionsAdded`."""
        return json.loads(self.activity.extra or "{}")

    def send_activity(self, activity_or_text: Any) -> types.ResourceResponse:
        """Sends an activity, or a text message from a string, as a reply."""
        return _call(lambda: self.raw.send(_as_activity(activity_or_text)))

    def send_activities(self, activities: List[Any]) -> List[types.ResourceResponse]:
        return [self.send_activity(a) for a in activities]

    def update_activity(self, activity: Activity) -> types.ResourceResponse:
        """Replaces an activity the bot sent; `activity.id` names it."""
        return _call(lambda: self.raw.update(activity))

    def delete_activity(self, activity_id: str) -> None:
        _call(lambda: self.raw.delete(activity_id))

    def create_conversation(self, parameters: dict) -> types.ConversationResourceResponse:
        """Starts a conversation (`ConversationParameters`)."""
        return _call(lambda: self.raw.create_conversation(json.dumps(parameters)))

    def send_to_conversation(self, conversation_id: str, activity_or_text: Any):
        return _call(lambda: self.raw.send_to_conversation(conversation_id, _as_activity(activity_or_text)))


@dataclass
class CardAction:
    """A button: imBack, postBack, openUrl, messageBack, ..."""

    type: str
    title: str
    value: Any
    text: Optional[str] = None
    display_text: Optional[str] = None

    @staticmethod
    def im_back(title: str, value: str) -> "CardAction":
        return CardAction("imBack", title, value)

    @staticmethod
    def post_back(title: str, value: Any) -> "CardAction":
        return CardAction("postBack", title, value)

    @staticmethod
    def open_url(title: str, url: str) -> "CardAction":
        return CardAction("openUrl", title, url)

    @staticmethod
    def message_back(title: str, text: str, display_text: str, value: Any) -> "CardAction":
        return CardAction("messageBack", title, value, text, display_text)

    def to_json(self) -> dict:
        out = {"type": self.type, "title": self.title, "value": self.value}
        if self.text is not None:
            out["text"] = self.text
        if self.display_text is not None:
            out["displayText"] = self.display_text
        return out


def _actions(actions: List[Any]) -> List[dict]:
    """CardActions, or strings as imBack buttons, as JSON."""
    return [CardAction.im_back(a, a).to_json() if isinstance(a, str) else a.to_json() for a in actions]


@dataclass
class HeroCard:
    """A hero card: title, text, images and buttons."""

    title: str = ""
    subtitle: str = ""
    text: str = ""
    images: List[str] = field(default_factory=list)
    buttons: List[Any] = field(default_factory=list)

    def to_json(self) -> dict:
        out = {}
        for key in ("title", "subtitle", "text"):
            if getattr(self, key):
                out[key] = getattr(self, key)
        if self.images:
            out["images"] = [{"url": url} for url in self.images]
        if self.buttons:
            out["buttons"] = _actions(self.buttons)
        return out


class CardFactory:
    """Makes card attachments."""

    HERO = "application/vnd.microsoft.card.hero"
    ADAPTIVE = "application/vnd.microsoft.card.adaptive"

    @staticmethod
    def card(content_type: str, content: Any) -> Attachment:
        return Attachment(content_type=content_type, content_url=None, content=json.dumps(content),
                          name=None, thumbnail_url=None, extra=None)

    @staticmethod
    def hero_card(card: HeroCard) -> Attachment:
        return CardFactory.card(CardFactory.HERO, card.to_json())

    @staticmethod
    def adaptive_card(card: dict) -> Attachment:
        return CardFactory.card(CardFactory.ADAPTIVE, card)


class MessageFactory:
    """Makes outgoing message activities."""

    @staticmethod
    def text(text: str, speak: Optional[str] = None, input_hint: Optional[str] = None) -> Activity:
        return new_activity("message", text=text, speak=speak, input_hint=input_hint)

    @staticmethod
    def suggested_actions(actions: List[Any], text: Optional[str] = None) -> Activity:
        return new_activity("message", text=text,
                            suggested_actions=json.dumps({"actions": _actions(actions)}))

    @staticmethod
    def attachment(attachment: Attachment, text: Optional[str] = None) -> Activity:
        return MessageFactory.list([attachment], text)

    @staticmethod
    def list(attachments: List[Attachment], text: Optional[str] = None) -> Activity:
        return new_activity("message", text=text, attachment_layout="list", attachments=attachments)

    @staticmethod
    def carousel(attachments: List[Attachment], text: Optional[str] = None) -> Activity:
        return new_activity("message", text=text, attachment_layout="carousel", attachments=attachments)

    @staticmethod
    def typing() -> Activity:
        return new_activity("typing")


class StatePropertyAccessor:
    """One JSON value in the bot's state, loaded on first use and saved when
    the turn ends well."""

    def __init__(self, scope: "_state.Scope", key: str):
        self.scope = scope
        self.key = key

    def get(self, default: Any = None) -> Any:
        text = _call(lambda: _state.get(self.scope, self.key))
        return json.loads(text) if text is not None else default

    def set(self, value: Any) -> None:
        _call(lambda: _state.set(self.scope, self.key, json.dumps(value)))

    def delete(self) -> None:
        _call(lambda: _state.delete(self.scope, self.key))


class BotState:
    """A state scope, as botbuilder's ConversationState and UserState."""

    def __init__(self, scope: "_state.Scope"):
        self.scope = scope

    def create_property(self, key: str) -> StatePropertyAccessor:
        return StatePropertyAccessor(self.scope, key)


ConversationState = BotState(_state.Scope.CONVERSATION)
UserState = BotState(_state.Scope.USER)
PrivateConversationState = BotState(_state.Scope.PRIVATE_CONVERSATION)


def log(level: str, message: str) -> None:
    """Writes to the host log: trace, debug, info, warn or error."""
    _logging.log(getattr(_logging.Level, level.upper()), message)


def config(key: str) -> Optional[str]:
    """A value from the `[config]` table of the bot's manifest."""
    return _config.get(key)


def schedule_timer(delay_ms: int, name: str, value: Any = None) -> str:
    """A durable timer: an `event` named `name` with `value` after `delay_ms`."""
    text = json.dumps(value) if value is not None else None
    return _call(lambda: _timers.schedule(delay_ms, name, text))


def cancel_timer(timer_id: str) -> bool:
    return _call(lambda: _timers.cancel(timer_id))


class ActivityHandler:
    """A bot: override the methods for the activities it handles. Every
    method does nothing by default; `on_turn` dispatches by type."""

    def on_turn(self, ctx: TurnContext) -> Optional[InvokeResponse]:
        activity = ctx.activity
        kind = activity.type
        if kind == "message":
            self.on_message(ctx)
        elif kind == "conversationUpdate":
            self.on_conversation_update(ctx)
        elif kind == "messageReaction":
            self.on_message_reaction(ctx)
        elif kind == "event":
            self.on_event(ctx, activity.name or "", ctx.value)
        elif kind == "invoke":
            return self.on_invoke(ctx, activity.name or "", ctx.value)
        elif kind == "endOfConversation":
            self.on_end_of_conversation(ctx)
        elif kind == "typing":
            self.on_typing(ctx)
        elif kind == "installationUpdate":
            self.on_installation_update(ctx)
        else:
            self.on_unrecognized(ctx)
        return None

    def on_message(self, ctx: TurnContext) -> None:
        pass

    def on_conversation_update(self, ctx: TurnContext) -> None:
        """Calls on_members_added and on_members_removed with the members
        other than the bot itself."""
        bot_id = ctx.activity.recipient.id if ctx.activity.recipient else None
        added = [m for m in ctx.activity.members_added or [] if m.id != bot_id]
        if added:
            self.on_members_added(ctx, added)
        removed = [m for m in ctx.activity.members_removed or [] if m.id != bot_id]
        if removed:
            self.on_members_removed(ctx, removed)

    def on_members_added(self, ctx: TurnContext, members: List[ChannelAccount]) -> None:
        pass

    def on_members_removed(self, ctx: TurnContext, members: List[ChannelAccount]) -> None:
        pass

    def on_message_reaction(self, ctx: TurnContext) -> None:
        """Calls on_reactions_added and on_reactions_removed; a reaction is a
        dict such as {"type": "like"}."""
        extra = ctx.extra
        if extra.get("reactionsAdded"):
            self.on_reactions_added(ctx, extra["reactionsAdded"])
        if extra.get("reactionsRemoved"):
            self.on_reactions_removed(ctx, extra["reactionsRemoved"])

    def on_reactions_added(self, ctx: TurnContext, reactions: List[dict]) -> None:
        pass

    def on_reactions_removed(self, ctx: TurnContext, reactions: List[dict]) -> None:
        pass

    def on_event(self, ctx: TurnContext, name: str, value: Any) -> None:
        """An event, with its name and parsed value: branch on the name."""

    def on_invoke(self, ctx: TurnContext, name: str, value: Any) -> Optional[InvokeResponse]:
        """An invoke: return invoke_response(...) for the names the bot
        knows, None for others (the caller gets 501)."""
        return None

    def on_end_of_conversation(self, ctx: TurnContext) -> None:
        pass

    def on_typing(self, ctx: TurnContext) -> None:
        pass

    def on_installation_update(self, ctx: TurnContext) -> None:
        pass

    def on_unrecognized(self, ctx: TurnContext) -> None:
        """Any other activity type."""


def invoke_response(status: int = 200, body: Any = None) -> InvokeResponse:
    """The answer to an invoke, with a JSON body."""
    return InvokeResponse(status=status, body=json.dumps(body) if body is not None else None)


def export(bot_class: type) -> type:
    """The `Handler` class componentize-py exports: `Handler = export(MyBot)`.
    A bot object is made for every turn."""

    class Handler(exports.Handler):
        def on_turn(self, raw: RawTurnContext) -> Optional[InvokeResponse]:
            try:
                return bot_class().on_turn(TurnContext(raw))
            except TurnboxError as e:
                raise Err(types.BotError(code=e.code, message=e.message))
            except Exception as e:  # the bot's own failure fails the turn
                raise Err(types.BotError(code=type(e).__name__, message=str(e)))

    return Handler
