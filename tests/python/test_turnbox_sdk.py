"""Unit tests of the Python SDK (sdk/python/turnbox.py) on the host's own
CPython, with the componentize-py bindings replaced by fakes: the
StreamingResponse contract (updates, sequence, stream id, throttling, the
final message, refusals), what `turnbox.http` says when the bot was built
without wasi:http, and `async def` handlers. Run by tests/e2e/streaming_sdks.rs, or by hand:

    python3 tests/python/test_turnbox_sdk.py

What needs the real host (HTTP round trips, a stream's activities on the
wire) is in tests/e2e (outbound_http.rs, languages.rs, streaming_sdks.rs).
"""

import enum
import json
import os
import sys
import types as pytypes
import unittest
from dataclasses import dataclass


# The bindings componentize-py would generate for the `bot` world, faked.

@dataclass(frozen=True)
class Err(Exception):
    value: object


class Record:
    """A WIT record: its fields as keyword arguments."""

    def __init__(self, **fields):
        self.__dict__.update(fields)


def _module(name, **attrs):
    module = pytypes.ModuleType(name)
    module.__dict__.update(attrs)
    sys.modules[name] = module
    return module


class Level(enum.Enum):
    TRACE = 0
    DEBUG = 1
    INFO = 2
    WARN = 3
    ERROR = 4


class Scope(enum.Enum):
    CONVERSATION = 0
    USER = 1
    PRIVATE_CONVERSATION = 2


LOGGED = []

_module("componentize_py_types", Err=Err, Ok=Record, Some=Record)
_module("wit_world")
_module("wit_world.exports", Handler=type("Handler", (), {}))
_module("wit_world.imports")
_module("wit_world.imports.config", get=lambda key: None)
_module("wit_world.imports.logging", Level=Level, log=lambda level, message: LOGGED.append((level, message)))
_module("wit_world.imports.state", Scope=Scope)
_module("wit_world.imports.timers")
_module("wit_world.imports.connector")
_module("wit_world.imports.context", TurnContext=object)
_module(
    "wit_world.imports.types",
    **{name: type(name, (Record,), {}) for name in (
        "Activity", "Attachment", "ChannelAccount", "InvokeResponse", "ResourceResponse",
        "ConversationResourceResponse", "BotError", "CallError")},
)
sys.modules["wit_world"].exports = sys.modules["wit_world.exports"]

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "sdk", "python"))
import turnbox  # noqa: E402  (after the fakes it imports)

types = sys.modules["wit_world.imports.types"]


class FakeTurn:
    """The host's side of a turn: the incoming activity, and `send`, which
    records and answers `id-N`, or refuses the sends numbered in `refuse`."""

    def __init__(self, channel="directline", delivery=None, refuse=()):
        self.incoming = turnbox.new_activity("message", channel_id=channel, delivery_mode=delivery, text="go")
        self.sent = []
        self.refuse = set(refuse)

    def activity(self):
        return self.incoming

    def send(self, activity):
        self.sent.append(activity)
        if len(self.sent) in self.refuse:
            raise Err(types.CallError(code="ConnectorError", message="refused", status=403))
        return types.ResourceResponse(id=f"id-{len(self.sent)}")


def context(**kwargs):
    turn = FakeTurn(**kwargs)
    return turn, turnbox.TurnContext(turn)


def data(text):
    return json.loads(text) if text is not None else None


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


class StreamingResponseTest(unittest.TestCase):
    def setUp(self):
        LOGGED.clear()

    def test_a_stream_on_direct_line_sends_updates_then_the_final(self):
        turn, ctx = context(channel="directline")
        stream = ctx.streaming_response()
        self.assertTrue(stream.is_streaming_channel)
        self.assertEqual(stream.interval, 0.5)
        stream.set_interval(0)
        stream.queue_informative_update("Thinking")
        stream.queue_text_chunk("Hel")
        stream.queue_text_chunk("lo")
        mention = {"type": "mention", "text": "Ada"}
        card = turnbox.CardFactory.hero_card(turnbox.HeroCard(title="t"))
        final = stream.end_stream(attachments=[card], entities=[mention])

        self.assertEqual(final.id, "id-4")
        self.assertEqual((stream.message, stream.stream_id, stream.updates_sent), ("Hello", "id-1", 3))
        self.assertEqual([a.type for a in turn.sent], ["typing", "typing", "typing", "message"])
        self.assertEqual([a.text for a in turn.sent], ["Thinking", "Hel", "Hello", "Hello"])
        self.assertEqual(data(turn.sent[0].channel_data), {"streamType": "informative", "streamSequence": 1})
        second = {"streamType": "streaming", "streamSequence": 2, "streamId": "id-1"}
        self.assertEqual(data(turn.sent[1].channel_data), second)
        self.assertEqual(data(turn.sent[1].entities), [{"type": "streaminfo", **second}])
        self.assertEqual(data(turn.sent[2].channel_data)["streamSequence"], 3)
        fin = {"streamType": "final", "streamId": "id-1"}
        self.assertEqual(data(turn.sent[3].channel_data), fin)
        self.assertEqual(data(turn.sent[3].entities), [{"type": "streaminfo", **fin}, mention])
        self.assertEqual(turn.sent[3].attachments, [card])
        with self.assertRaises(turnbox.TurnboxError) as ended:
            stream.queue_text_chunk("late")
        self.assertEqual(ended.exception.code, "StreamEnded")
        self.assertRaises(turnbox.TurnboxError, stream.end_stream)
        self.assertEqual(LOGGED, [])

    def test_chunks_within_the_interval_are_only_accumulated(self):
        turn, ctx = context(channel="msteams")
        stream = ctx.streaming_response()
        self.assertEqual(stream.interval, 1.5)
        clock = stream._now = Clock()
        stream.queue_text_chunk("a")  # the first: at once
        clock.now += 1.0
        stream.queue_text_chunk("b")  # 1.0 s after it: kept
        clock.now += 0.6
        stream.queue_text_chunk("c")  # 1.6 s: sent, with "b"
        clock.now += 0.1
        stream.queue_text_chunk("d")  # kept; the end sends it
        stream.end_stream()
        self.assertEqual([a.text for a in turn.sent], ["a", "abc", "abcd"])
        self.assertEqual([data(a.channel_data)["streamType"] for a in turn.sent], ["streaming", "streaming", "final"])
        self.assertEqual(stream.updates_sent, 2)

    def test_an_informative_update_goes_at_once_and_counts_in_the_sequence(self):
        turn, ctx = context(channel="webchat")
        stream = ctx.streaming_response()
        stream._now = Clock()
        stream.queue_text_chunk("a")
        stream.queue_informative_update("Looking it up")
        stream.queue_informative_update("Still looking")
        stream.end_stream()
        self.assertEqual([a.text for a in turn.sent], ["a", "Looking it up", "Still looking", "a"])
        self.assertEqual([data(a.channel_data).get("streamSequence") for a in turn.sent], [1, 2, 3, None])

    def test_other_channels_and_expect_replies_get_only_a_plain_final(self):
        for channel, delivery in (("test", None), ("emulator", "normal"), ("directline", "expectReplies"),
                                  ("msteams", "expectReplies")):
            turn, ctx = context(channel=channel, delivery=delivery)
            stream = ctx.streaming_response()
            self.assertFalse(stream.is_streaming_channel, channel)
            stream.queue_informative_update("Thinking")
            stream.queue_text_chunk("Hi ")
            stream.queue_text_chunk("there")
            stream.end_stream()
            self.assertEqual(len(turn.sent), 1, channel)
            final = turn.sent[0]
            self.assertEqual((final.type, final.text), ("message", "Hi there"))
            self.assertEqual((final.channel_data, final.entities), (None, None))
            self.assertIsNone(stream.stream_id)

    def test_a_refused_update_is_logged_and_the_stream_goes_on(self):
        turn, ctx = context(channel="directline", refuse=[1])
        stream = ctx.streaming_response()
        stream.set_interval(0)
        stream.queue_informative_update("Thinking")
        stream.queue_text_chunk("Hi")
        self.assertEqual((stream.stream_id, stream.updates_sent), ("id-2", 1))
        self.assertEqual(len(LOGGED), 1)
        self.assertEqual(LOGGED[0][0], Level.WARN)
        self.assertIn("refused", LOGGED[0][1])
        stream.end_stream()
        self.assertEqual(data(turn.sent[1].channel_data)["streamSequence"], 2)
        self.assertNotIn("streamId", data(turn.sent[1].channel_data))
        self.assertEqual(data(turn.sent[2].channel_data), {"streamType": "final", "streamId": "id-2"})

    def test_the_final_send_failing_is_raised(self):
        turn, ctx = context(channel="test", refuse=[1])
        stream = ctx.streaming_response()
        stream.queue_text_chunk("Hi")
        with self.assertRaises(turnbox.TurnboxError) as failed:
            stream.end_stream()
        self.assertEqual((failed.exception.code, failed.exception.status), ("ConnectorError", 403))
        self.assertEqual(LOGGED, [])

    def test_an_empty_chunk_sends_nothing_and_the_interval_may_be_given(self):
        turn, ctx = context(channel="directline")
        stream = turnbox.StreamingResponse(ctx, interval=2.0)
        self.assertEqual(stream.interval, 2.0)
        stream.queue_text_chunk("")
        self.assertEqual(turn.sent, [])
        stream.end_stream()
        self.assertEqual([(a.type, a.text, a.channel_data) for a in turn.sent], [("message", "", None)])


class HttpTest(unittest.TestCase):
    def test_without_wasi_http_a_request_says_how_to_build(self):
        with self.assertRaises(turnbox.HttpError) as unavailable:
            turnbox.http.get("https://example.org/")
        self.assertEqual(unavailable.exception.code, "HttpUnavailable")
        self.assertIn("bot-with-http", str(unavailable.exception))
        self.assertIsInstance(unavailable.exception, turnbox.TurnboxError)

    def test_a_wasi_error_code_keeps_its_case_name(self):
        ErrorCode_HttpRequestDenied = type("ErrorCode_HttpRequestDenied", (), {})
        error = turnbox._http_error(ErrorCode_HttpRequestDenied())
        self.assertEqual(error.code, "HttpRequestDenied")
        self.assertTrue(str(error).startswith("HttpRequestDenied: "))
        ErrorCode_HttpResponseBodySize = type("ErrorCode_HttpResponseBodySize", (Record,), {})
        error = turnbox._http_error(ErrorCode_HttpResponseBodySize(value=1024))
        self.assertEqual(error.code, "HttpResponseBodySize")
        self.assertEqual(str(error), "HttpResponseBodySize: the response body exceeds the bot's limit (1024)")
        error = turnbox._http_error(type("ErrorCode_LoopDetected", (), {})())
        self.assertEqual(str(error), "LoopDetected: the request failed")


class AsyncHandlerTest(unittest.TestCase):
    def test_async_handlers_run_to_their_end(self):
        async def helper(ctx):
            return f"Echo: {ctx.activity.text}"

        class Bot(turnbox.ActivityHandler):
            async def on_message(self, ctx):
                ctx.send_activity(await helper(ctx))

            async def on_invoke(self, ctx, name, value):
                return turnbox.invoke_response(200, {"ok": True})

        turn, ctx = context(channel="test")
        self.assertIsNone(Bot().on_turn(ctx))
        self.assertEqual([a.text for a in turn.sent], ["Echo: go"])
        turn = FakeTurn()
        turn.incoming = turnbox.new_activity("invoke", name="x")
        self.assertEqual(Bot().on_turn(turnbox.TurnContext(turn)).status, 200)

    def test_awaiting_an_asyncio_future_is_refused_not_hung(self):
        class Pending:
            """What an asyncio future does when awaited: yields to a loop."""

            def __await__(self):
                yield "waiting"

        class Bot(turnbox.ActivityHandler):
            async def on_message(self, ctx):
                await Pending()

        with self.assertRaises(turnbox.TurnboxError) as refused:
            Bot().on_turn(context()[1])
        self.assertEqual(refused.exception.code, "NotSupported")


if __name__ == "__main__":
    unittest.main()
