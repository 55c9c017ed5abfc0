"""turnbox guest SDK for Python: botbuilder's ActivityHandler, TurnContext,
MessageFactory, CardFactory and state property accessors, over the
turnbox:bot WIT world, plus outbound HTTP (`turnbox.http`) and livestreamed
replies (`ctx.streaming_response()`). Build with componentize-py
(docs/LANGUAGES.md)::

    import turnbox

    class EchoBot(turnbox.ActivityHandler):
        def on_message(self, ctx):
            ctx.send_activity(f"Echo: {ctx.activity.text}")

    Handler = turnbox.export(EchoBot)

`ctx.activity` is the WIT activity record (`text`, `from_`, `members_added`,
...); its JSON fields are JSON text, and `ctx.value` and `ctx.extra` give
them parsed. Host calls are synchronous: they block until done. Handlers
may be `async def` (they then call the host without `await`).

The SDK works in two worlds: `turnbox:bot/bot` (`-d wit -w bot`), and
`turnbox:python/bot-with-http` (`sdk/python/wit`), which adds the standard
`wasi:http/outgoing-handler` that `turnbox.http` needs.
"""

import inspect
import json
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple, Union
from urllib.parse import urlsplit

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import config as _config
from wit_world.imports import connector as _connector
from wit_world.imports import logging as _logging
from wit_world.imports import state as _state
from wit_world.imports import timers as _timers
from wit_world.imports.context import TurnContext as RawTurnContext

try:  # the `bot` world
    from wit_world.imports import types
except ImportError:  # `bot-with-http`: wasi:http has a `types` too, so ours is qualified
    from wit_world.imports import turnbox_bot_types as types

try:  # `wasi:http`, in the `bot-with-http` world only
    from wit_world.imports import monotonic_clock as _clock
    from wit_world.imports import outgoing_handler as _outgoing
    from wit_world.imports import poll as _poll
    from wit_world.imports import streams as _streams
    from wit_world.imports import wasi_http_types as _http
except ImportError:
    _outgoing = None

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
        self.responded = False
        """Whether the bot has sent anything in this turn (prompts re-ask
        only when a validator said nothing)."""
        self.invoke_response: Optional[InvokeResponse] = None
        """The invoke answer set in this turn (`set_invoke_response`)."""

    def set_invoke_response(self, response: InvokeResponse) -> None:
        """Answers the turn's invoke from wherever the turn is (botbuilder
        sends an `invokeResponse` activity): how a dialog such as
        turnbox_prompts.OAuthPrompt answers `signin/verifyState`. The last
        answer set wins, also over what `on_invoke` returns (botbuilder's
        order)."""
        self.invoke_response = response

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
        sent = _call(lambda: self.raw.send(_as_activity(activity_or_text)))
        self.responded = True
        return sent

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

    def streaming_response(self) -> "StreamingResponse":
        """A new `StreamingResponse`: a reply livestreamed to this turn's
        conversation (each call starts a stream of its own)."""
        return StreamingResponse(self)


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


STREAMING_CHANNELS = ("directline", "webchat", "msteams")
"""The channels that show a livestreamed reply (Direct Line over its
WebSocket, Web Chat, Teams)."""


class StreamingResponse:
    """A reply that grows as it is produced (an LLM's answer), in the shape
    of the Microsoft 365 Agents SDK's `StreamingResponse`. Get one with
    `ctx.streaming_response()`::

        stream = ctx.streaming_response()
        stream.queue_informative_update("Searching the docs...")
        for piece in model_output:
            stream.queue_text_chunk(piece)
        stream.end_stream()

    On a streaming channel (`directline`, `webchat`, `msteams`, and not
    under `deliveryMode: expectReplies`) every update is a `typing`
    activity whose `channelData` and `streaminfo` entity carry `streamType`
    (`informative` or `streaming`), `streamSequence` (1, 2, ... counting both
    kinds) and, after the first, `streamId`: the id the channel gave the
    first update. A streaming update's text is everything so far. Chunks are
    throttled: the first is sent at once, later ones at most once per
    `interval` (0.5 s, 1.5 s on Teams); a chunk that comes sooner is only
    accumulated. `end_stream` sends a `message` with the whole text and
    `streamType: "final"`. On any other channel nothing is sent before that
    final message, which then carries no stream markers.

    An update the channel refuses is logged and the stream goes on; only
    the final message's failure is raised. The throttle reads
    `time.monotonic()`, so build without `--stub-wasi`.
    """

    def __init__(self, ctx: Any, interval: Optional[float] = None):
        """A stream answering the turn of `ctx` (a `TurnContext`, or
        anything with its `activity` and `send_activity`); `interval` in
        seconds overrides the channel's default."""
        self._ctx = ctx
        activity = ctx.activity
        channel = (activity.channel_id or "").lower()
        expect_replies = (activity.delivery_mode or "").lower() == "expectreplies"
        self._streaming = channel in STREAMING_CHANNELS and not expect_replies
        self.interval: float = interval if interval is not None else (1.5 if channel == "msteams" else 0.5)
        """The least time, in seconds, between a text update and the
        update before it."""
        self._text = ""
        self._stream_id: Optional[str] = None
        self._sequence = 0
        self._updates_sent = 0
        self._chunks_sent = 0
        self._last_update: Optional[float] = None
        self._ended = False
        self._now: Callable[[], float] = time.monotonic

    @property
    def is_streaming_channel(self) -> bool:
        """Whether updates are sent at all: False on channels without
        livestreaming, where only the final message goes out."""
        return self._streaming

    def set_interval(self, seconds: float) -> None:
        """Sets `interval`, the least time between text updates (0: every
        chunk is sent)."""
        self.interval = seconds

    @property
    def message(self) -> str:
        """The text accumulated so far."""
        return self._text

    @property
    def stream_id(self) -> Optional[str]:
        """The stream's id, what the channel answered to its first update;
        None until then, and on non-streaming channels."""
        return self._stream_id

    @property
    def updates_sent(self) -> int:
        """How many interim updates the channel accepted."""
        return self._updates_sent

    @property
    def ended(self) -> bool:
        """Whether `end_stream` was called."""
        return self._ended

    def queue_informative_update(self, text: str) -> None:
        """Sends a status line ("Searching...") at once. It is not part of
        the message. Raises `TurnboxError` (`StreamEnded`) only when the
        stream has ended."""
        self._check_open()
        if self._streaming:
            self._send_update("informative", text)

    def queue_text_chunk(self, text: str) -> None:
        """Adds `text` to the message and sends the whole so far, unless a
        text update went out less than `interval` ago (then the text waits
        for the next chunk or the end). Raises `TurnboxError`
        (`StreamEnded`) only when the stream has ended."""
        self._check_open()
        self._text += text
        due = (
            self._chunks_sent == 0
            or self._last_update is None
            or self._now() - self._last_update >= self.interval
        )
        if self._streaming and due and self._text:
            self._chunks_sent += 1
            self._send_update("streaming", self._text)

    def end_stream(self, attachments: Optional[List[Attachment]] = None,
                   entities: Optional[List[dict]] = None) -> types.ResourceResponse:
        """Ends the stream: sends the final message with the whole text, and
        `attachments` and `entities` (JSON objects) when given. Its send
        follows the turn's usual rules, and its failure is raised."""
        self._check_open()
        self._ended = True
        final = MessageFactory.text(self._text)
        entities = list(entities or [])
        if self._stream_id is not None:
            info = {"streamType": "final", "streamId": self._stream_id}
            entities.insert(0, {"type": "streaminfo", **info})
            final.channel_data = json.dumps(info)
        if entities:
            final.entities = json.dumps(entities)
        if attachments:
            final.attachments = list(attachments)
        return self._ctx.send_activity(final)

    def _check_open(self) -> None:
        if self._ended:
            raise TurnboxError("StreamEnded", "the stream has already ended")

    def _send_update(self, kind: str, text: str) -> None:
        """Sends one interim update; a refusal is logged, not raised."""
        self._sequence += 1
        self._last_update = self._now()
        info: Dict[str, Any] = {"streamType": kind, "streamSequence": self._sequence}
        if self._stream_id is not None:
            info["streamId"] = self._stream_id
        update = new_activity(
            "typing",
            text=text,
            channel_data=json.dumps(info),
            entities=json.dumps([{"type": "streaminfo", **info}]),
        )
        try:
            sent = self._ctx.send_activity(update)
        except TurnboxError as e:
            log("warn", f"stream update {self._sequence} ({kind}) refused, the stream goes on: {e}")
            return
        self._updates_sent += 1
        if self._stream_id is None and sent.id:
            self._stream_id = sent.id


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


class Connector:
    """The Bot Connector's member, history and attachment calls for the
    turn's conversation, as botbuilder's `ConnectorClient.conversations` and
    `.attachments`; the host makes them with the bot's token. Use the
    module's `connector`."""

    def get_conversation_members(self) -> List[ChannelAccount]:
        return _call(_connector.get_conversation_members)

    def get_conversation_paged_members(
        self, page_size: Optional[int] = None, continuation_token: Optional[str] = None
    ) -> Any:
        """One page: `.members` and `.continuation_token` (None on the last)."""
        return _call(lambda: _connector.get_paged_members(page_size, continuation_token))

    def get_conversation_member(self, member_id: str) -> ChannelAccount:
        return _call(lambda: _connector.get_conversation_member(member_id))

    def get_activity_members(self, activity_id: Optional[str] = None) -> List[ChannelAccount]:
        """The members an activity went to; the incoming activity's by default."""
        return _call(lambda: _connector.get_activity_members(activity_id))

    def delete_conversation_member(self, member_id: str) -> None:
        _call(lambda: _connector.delete_conversation_member(member_id))

    def send_conversation_history(self, activities: List[Any]) -> Any:
        """Uploads past activities; returns the `ResourceResponse`."""
        items = [_as_activity(a) for a in activities]
        return _call(lambda: _connector.send_conversation_history(items))

    def upload_attachment(
        self, content_type: str, name: str, original: bytes, thumbnail: Optional[bytes] = None
    ) -> Any:
        """Stores a file with the channel; returns the `ResourceResponse`."""
        data = _connector.AttachmentData(
            type=content_type, name=name, original=bytes(original),
            thumbnail=bytes(thumbnail) if thumbnail is not None else None,
        )
        return _call(lambda: _connector.upload_attachment(data))

    def get_attachment_info(self, attachment_id: str) -> Any:
        """`.name`, `.type` and `.views` (each `.view_id`, `.size`)."""
        return _call(lambda: _connector.get_attachment_info(attachment_id))

    def get_attachment(self, attachment_id: str, view_id: str) -> Any:
        """One view's bytes: `.content_type` and `.body`."""
        return _call(lambda: _connector.get_attachment(attachment_id, view_id))


connector = Connector()


class HttpError(TurnboxError):
    """An outbound request failed. `code` is the `wasi:http` error code in
    its WIT case's name: `HttpRequestDenied` (the manifest's `[http]
    allowed_hosts` does not list the host), `DestinationIpProhibited` (a
    loopback, private or metadata address), `HttpResponseTimeout`,
    `HttpResponseBodySize` (over the per-turn cap), `ConnectionRefused`, ...;
    or `HttpUnavailable` (built without `wasi:http`), `BadRequest` (an
    unusable URL, method or header), `HttpResponseBody` (the body broke off
    without a code). `error_code` is the WIT value itself, when there is
    one."""

    def __init__(self, code: str, message: str, error_code: Any = None):
        super().__init__(code, message)
        self.error_code = error_code


_HTTP_EXPLAINED = {
    "HttpRequestDenied": "the bot's manifest ([http] allowed_hosts) does not allow this host",
    "DestinationIpProhibited": "the host resolves to a prohibited address (loopback, private, link-local)",
    "HttpResponseTimeout": "no response in time",
    "HttpResponseBodySize": "the response body exceeds the bot's limit",
    "HttpRequestBodySize": "the request body exceeds the bot's limit",
    "ConnectionRefused": "the connection was refused",
    "ConnectionLimitReached": "too many requests at once",
}


def _http_error(code: Any) -> HttpError:
    """A `wasi:http` error code as an HttpError: `ErrorCode_HttpRequestDenied()`
    becomes code `HttpRequestDenied`; a payload (a size, a DNS error) ends
    the message."""
    name = type(code).__name__.removeprefix("ErrorCode_")
    payload = getattr(code, "value", None)
    message = _HTTP_EXPLAINED.get(name, "the request failed")
    if payload is not None:
        message = f"{message} ({payload})"
    return HttpError(name, message, code)


def _drop(resource: Any) -> None:
    """Releases a WIT resource now (children before their parents)."""
    if resource is not None:
        resource.__exit__(None, None, None)


def _wait(pollable: Any, timeout: Optional[float]) -> bool:
    """Blocks until `pollable` is ready (True) or `timeout` seconds have
    passed (False); drops the pollable."""
    try:
        if timeout is None:
            pollable.block()
            return True
        with _clock.subscribe_duration(max(0, int(timeout * 1e9))) as timer:
            return 0 in _poll.poll([pollable, timer])
    finally:
        _drop(pollable)


_METHODS = {
    "GET": "Method_Get", "HEAD": "Method_Head", "POST": "Method_Post", "PUT": "Method_Put",
    "DELETE": "Method_Delete", "CONNECT": "Method_Connect", "OPTIONS": "Method_Options",
    "TRACE": "Method_Trace", "PATCH": "Method_Patch",
}

Headers = Union[Dict[str, Union[str, bytes]], List[Tuple[str, Union[str, bytes]]], None]


class Response:
    """An HTTP response: `status`, `headers` (lower-case names; repeated
    headers joined with ", "), `raw_headers` (as sent, a list of (name,
    bytes)), and the body. Unless the request asked for `stream=True` the
    body was read before the request returned; otherwise read it as it
    arrives with `iter_chunks()` (or iterate the response), or whole with
    `body`, `text` or `json()`. A response used as a context manager is
    closed at the end of the block; `close()` abandons the rest of a body."""

    def __init__(self, status: int, raw_headers: List[Tuple[str, bytes]],
                 body: Any, stream: Any, timeout: Optional[float]):
        self.status = status
        self.raw_headers = raw_headers
        self.headers: Dict[str, str] = {}
        for name, value in raw_headers:
            name, text = name.lower(), value.decode("utf-8", "replace")
            self.headers[name] = f"{self.headers[name]}, {text}" if name in self.headers else text
        self._body, self._stream, self._timeout = body, stream, timeout
        self._read = bytearray()
        self._done = False

    def header(self, name: str) -> Optional[str]:
        """The value of header `name` (any case), or None."""
        return self.headers.get(name.lower())

    @property
    def ok(self) -> bool:
        """Whether the status is 2xx."""
        return 200 <= self.status < 300

    def iter_chunks(self) -> Iterator[bytes]:
        """The body's pieces as they arrive (what is left of it), for
        streaming APIs such as server-sent events. Raises HttpError when the
        body breaks off, goes over the per-turn cap, or a piece takes longer
        than the request's `timeout`."""
        while not self._done:
            chunk = self._next_chunk()
            if chunk is None:
                break
            yield chunk

    __iter__ = iter_chunks

    @property
    def body(self) -> bytes:
        """The whole body, read to its end on first use (less what
        `iter_chunks` already gave)."""
        for chunk in self.iter_chunks():
            self._read += chunk
        return bytes(self._read)

    @property
    def text(self) -> str:
        """The whole body as UTF-8 text (invalid bytes replaced)."""
        return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        """The whole body parsed as JSON."""
        return json.loads(self.body)

    def close(self) -> None:
        """Stops reading: releases the body (the host stops receiving it)."""
        self._done = True
        stream, body = self._stream, self._body
        self._stream = self._body = None
        _drop(stream)  # the stream is the body's child: dropped first
        _drop(body)

    def __enter__(self) -> "Response":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass

    def _next_chunk(self) -> Optional[bytes]:
        """The next piece of the body, None at its end."""
        while True:
            try:
                data = self._stream.read(64 * 1024)
            except Err as e:
                failure = e.value
                self.close()
                if isinstance(failure, _streams.StreamError_Closed):
                    return None
                raise _stream_error(failure.value) from None
            if data:
                return data
            if not _wait(self._stream.subscribe(), self._timeout):
                self.close()
                raise HttpError("HttpResponseTimeout", f"no more of the body in {self._timeout} s")


def _stream_error(error: Any) -> HttpError:
    """A failed body read: its `wasi:http` code when it has one, else the
    host's description."""
    try:
        code = _http.http_error_code(error)
        if code is not None:
            return _http_error(code)
        text = error.to_debug_string()
        return HttpError("HttpResponseBody", text.splitlines()[0] if text else "the body broke off")
    finally:
        _drop(error)


class _Http:
    """Outbound HTTP over the standard `wasi:http/outgoing-handler`, as
    `turnbox.http`: `request`, `get`, `post_json`. Synchronous: a call
    blocks until the response's head has arrived. The host lets a request
    go only to the hosts in the bot's manifest (`[http] allowed_hosts`);
    anything else raises HttpError `HttpRequestDenied`::

        r = turnbox.http.get("https://api.example.com/today", timeout=5)
        if r.ok:
            weather = r.json()

        with turnbox.http.post_json(url, {"stream": True}, stream=True) as r:
            for chunk in r.iter_chunks():
                ...

    Needs the `turnbox:python/bot-with-http` world (docs/LANGUAGES.md).
    """

    def request(self, method: str, url: str, headers: Headers = None,
                body: Union[bytes, str, None] = None, timeout: Optional[float] = None,
                stream: bool = False) -> Response:
        """Sends `method url` with `headers` (a dict or a list of pairs) and
        `body` (bytes, or text sent as UTF-8). `timeout` in seconds bounds
        the wait for the response's head and then for each piece of its
        body (the host's own limits and the turn's deadline apply anyway).
        With `stream=True` the body is left to read from the Response as it
        arrives; otherwise it is read before this returns."""
        if _outgoing is None:
            raise HttpError(
                "HttpUnavailable",
                "this bot was built without wasi:http: build it against the world "
                "turnbox:python/bot-with-http (docs/LANGUAGES.md)",
            )
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https") or not parts.netloc:
            raise HttpError("BadRequest", f"`{url}` is not an http(s) URL")
        if isinstance(body, str):
            body = body.encode("utf-8")
        pairs = list(headers.items()) if isinstance(headers, dict) else list(headers or [])
        fields = [(name, value.encode("utf-8") if isinstance(value, str) else bytes(value))
                  for name, value in pairs]
        if body is not None and not any(name.lower() == "content-length" for name, _ in fields):
            fields.append(("content-length", str(len(body)).encode()))
        try:
            request = _http.OutgoingRequest(_http.Fields.from_list(fields))
        except Err as e:
            raise HttpError("BadRequest", f"unusable headers: {type(e.value).__name__}") from None
        upper = method.upper()
        wit_method = (getattr(_http, _METHODS[upper])() if upper in _METHODS
                      else _http.Method_Other(method))
        for what, set_part, value in (
            ("method", request.set_method, wit_method),
            ("scheme", request.set_scheme, _http.Scheme_Http() if scheme == "http" else _http.Scheme_Https()),
            ("host", request.set_authority, parts.netloc),
            ("path", request.set_path_with_query,
             (parts.path or "/") + (f"?{parts.query}" if parts.query else "")),
        ):
            try:
                set_part(value)
            except Err:
                _drop(request)
                raise HttpError("BadRequest", f"cannot set the {what} of {url}") from None
        outgoing = request.body()
        try:
            future = _outgoing.handle(request, None)
        except Err as e:
            _drop(outgoing)
            raise _http_error(e.value) from None
        # The body goes after `handle`, so a large one streams to the host
        # rather than filling a buffer nobody reads yet.
        write_failed = _write_body(outgoing, body)
        try:
            _http.OutgoingBody.finish(outgoing, None)
        except Err as e:
            write_failed = write_failed or _http_error(e.value)
        try:
            if not _wait(future.subscribe(), timeout):
                raise HttpError("HttpResponseTimeout", f"no response in {timeout} s")
            outcome = future.get()
        finally:
            _drop(future)
        if outcome is None or isinstance(outcome, Err):  # cannot happen once ready
            raise HttpError("HttpProtocolError", "no response")
        if isinstance(outcome.value, Err):
            raise _http_error(outcome.value.value)
        if write_failed:
            raise write_failed
        incoming = outcome.value.value
        try:
            status = incoming.status()
            with incoming.headers() as head:
                raw_headers = head.entries()
            body_resource = incoming.consume()
        finally:
            _drop(incoming)
        response = Response(status, raw_headers, body_resource, body_resource.stream(), timeout)
        if not stream:
            _ = response.body  # read it all now: its errors belong to this call
            response.close()
        return response

    def get(self, url: str, headers: Headers = None, timeout: Optional[float] = None,
            stream: bool = False) -> Response:
        """`GET url`."""
        return self.request("GET", url, headers, None, timeout, stream)

    def post_json(self, url: str, value: Any, headers: Headers = None,
                  timeout: Optional[float] = None, stream: bool = False) -> Response:
        """`POST url` with `value` as a JSON body."""
        pairs = list(headers.items()) if isinstance(headers, dict) else list(headers or [])
        pairs.append(("content-type", "application/json"))
        return self.request("POST", url, pairs, json.dumps(value), timeout, stream)


def _write_body(outgoing: Any, body: Optional[bytes]) -> Optional[HttpError]:
    """Writes a request body (4 KiB at a time, what a blocking write may
    take); the failure, if any, is returned: the response may say why."""
    if not body:
        return None
    with outgoing.write() as out:
        for at in range(0, len(body), 4096):
            try:
                out.blocking_write_and_flush(body[at:at + 4096])
            except Err as e:
                failure = e.value
                if isinstance(failure, _streams.StreamError_LastOperationFailed):
                    return _stream_error(failure.value)
                return HttpError("HttpRequestBody", "the host stopped reading the request body")
    return None


http = _Http()
"""Outbound HTTP: `turnbox.http.get(url)`, `post_json`, `request` (see
`_Http`)."""


def _settle(result: Any) -> Any:
    """The value of a handler that may be an `async def`: its coroutine is
    run to its end here. Host calls (send_activity, state, turnbox.http)
    are plain synchronous calls, so an async handler calls them without
    `await` and awaits only other coroutines (its own helpers); awaiting an
    asyncio future (asyncio.sleep, a task) has nothing to drive it and
    fails the turn with `NotSupported`."""
    if not inspect.iscoroutine(result):
        return result
    try:
        result.send(None)
    except StopIteration as done:
        return done.value
    result.close()
    raise TurnboxError(
        "NotSupported",
        "an async handler awaited an asyncio future; turnbox host calls are "
        "synchronous, so call them without await",
    )


class ActivityHandler:
    """A bot: override the methods for the activities it handles. Every
    method does nothing by default; `on_turn` dispatches by type."""

    def on_turn(self, ctx: TurnContext) -> Optional[InvokeResponse]:
        activity = ctx.activity
        kind = activity.type
        if kind == "message":
            _settle(self.on_message(ctx))
        elif kind == "conversationUpdate":
            _settle(self.on_conversation_update(ctx))
        elif kind == "messageReaction":
            _settle(self.on_message_reaction(ctx))
        elif kind == "event":
            _settle(self.on_event(ctx, activity.name or "", ctx.value))
        elif kind == "invoke":
            return _settle(self.on_invoke(ctx, activity.name or "", ctx.value))
        elif kind == "endOfConversation":
            _settle(self.on_end_of_conversation(ctx))
        elif kind == "typing":
            _settle(self.on_typing(ctx))
        elif kind == "installationUpdate":
            _settle(self.on_installation_update(ctx))
        else:
            _settle(self.on_unrecognized(ctx))
        return None

    def on_message(self, ctx: TurnContext) -> None:
        pass

    def on_conversation_update(self, ctx: TurnContext) -> None:
        """Calls on_members_added and on_members_removed with the members
        other than the bot itself."""
        bot_id = ctx.activity.recipient.id if ctx.activity.recipient else None
        added = [m for m in ctx.activity.members_added or [] if m.id != bot_id]
        if added:
            _settle(self.on_members_added(ctx, added))
        removed = [m for m in ctx.activity.members_removed or [] if m.id != bot_id]
        if removed:
            _settle(self.on_members_removed(ctx, removed))

    def on_members_added(self, ctx: TurnContext, members: List[ChannelAccount]) -> None:
        pass

    def on_members_removed(self, ctx: TurnContext, members: List[ChannelAccount]) -> None:
        pass

    def on_message_reaction(self, ctx: TurnContext) -> None:
        """Calls on_reactions_added and on_reactions_removed; a reaction is a
        dict such as {"type": "like"}."""
        extra = ctx.extra
        if extra.get("reactionsAdded"):
            _settle(self.on_reactions_added(ctx, extra["reactionsAdded"]))
        if extra.get("reactionsRemoved"):
            _settle(self.on_reactions_removed(ctx, extra["reactionsRemoved"]))

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
                ctx = TurnContext(raw)
                returned = _settle(bot_class().on_turn(ctx))
                # An answer set on the context wins over the handler's.
                return ctx.invoke_response if ctx.invoke_response is not None else returned
            except TurnboxError as e:
                raise Err(types.BotError(code=e.code, message=e.message))
            except Exception as e:  # the bot's own failure fails the turn
                raise Err(types.BotError(code=type(e).__name__, message=str(e)))

    return Handler
