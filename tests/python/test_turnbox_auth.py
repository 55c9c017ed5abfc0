"""Unit tests of the Python SDK's sign-in and skills modules
(sdk/python/turnbox_oauth.py, turnbox_skills.py) on the host's own CPython,
with the componentize-py bindings faked (test_turnbox_sdk.py's fakes, plus
`state`, `user-token` and `skills`): what the end-to-end tests cannot reach
cheaply, such as a prompt that times out, the `tokens/response` event, a
failing Token Service during `signin/verifyState`, bad `signin/tokenExchange`
values, SigninCards, and a skill's answer. Run by tests/e2e/streaming_sdks.rs,
or by hand:

    python3 tests/python/test_turnbox_auth.py

The flows through the real host (magic code, verifyState, token exchange,
forwarding to a skill) are in tests/e2e/signin.rs and tests/e2e/skills.rs.
"""

import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import test_turnbox_sdk as sdk  # noqa: E402  (installs the fakes)
from test_turnbox_sdk import Err, Record, _module, context  # noqa: E402

types = sdk.types

# Private conversation state, as the host keeps it for one turn.
STATE = {}
state = sys.modules["wit_world.imports.state"]
state.get = lambda scope, key: STATE.get((scope, key))
state.set = lambda scope, key, value: STATE.__setitem__((scope, key), value)
state.delete = lambda scope, key: STATE.pop((scope, key), None)


class FakeTokenService:
    """The host's `user-token` calls: records them; `tokens` maps a
    connection to the user's token, `codes` the magic codes it redeems;
    `fail` makes every call fail as the host reports an unreachable service."""

    def __init__(self):
        self.calls = []
        self.tokens = {}
        self.codes = {"123456": "from-code"}
        self.exchangeable = {"sso": "from-sso"}
        self.fail = False

    def _record(self, *call):
        self.calls.append(call)
        if self.fail:
            raise Err(types.CallError(code="Unreachable", message="down", status=None))

    def _response(self, connection, token):
        return Record(connection_name=connection, token=token, expiration=None, channel_id="test")

    def get_token(self, connection, code):
        self._record("get_token", connection, code)
        if code in self.codes:
            self.tokens[connection] = self.codes[code]
        elif code is not None:
            return None
        token = self.tokens.get(connection)
        return self._response(connection, token) if token else None

    def get_sign_in_resource(self, connection, final_redirect):
        self._record("get_sign_in_resource", connection, final_redirect)
        return Record(sign_in_link="https://signin.example/1", token_exchange_resource=None,
                      token_post_sas_url=None)

    def sign_out(self, connection):
        self._record("sign_out", connection)
        self.tokens.pop(connection, None)

    def exchange_token(self, connection, token):
        self._record("exchange_token", connection, token)
        exchanged = self.exchangeable.get(token)
        return self._response(connection, exchanged) if exchanged else None


SERVICE = FakeTokenService()
FORWARDED = []
ANSWERS = []
_module(
    "wit_world.imports.user_token",
    TokenResponse=Record, SignInResource=Record, TokenStatus=Record,
    **{name: (lambda name: lambda *a: getattr(SERVICE, name)(*a))(name)
       for name in ("get_token", "get_sign_in_resource", "sign_out", "exchange_token")},
)


def _forward(skill, activity):
    FORWARDED.append((skill, activity))
    answer = ANSWERS.pop(0)
    if isinstance(answer, Exception):
        raise answer
    return answer


_module("wit_world.imports.skills", forward=_forward)

import turnbox  # noqa: E402
import turnbox_oauth  # noqa: E402
import turnbox_skills  # noqa: E402
from turnbox_oauth import OAuthPrompt, OAuthPromptSettings, PromptStatus  # noqa: E402


def incoming(kind, channel="test", **fields):
    turn, ctx = context(channel=channel)
    turn.incoming = turnbox.new_activity(kind, channel_id=channel, **fields)
    return turn, turnbox.TurnContext(turn)


class OAuthPromptTest(unittest.TestCase):
    def setUp(self):
        global SERVICE
        SERVICE = FakeTokenService()
        STATE.clear()
        self.prompt = OAuthPrompt(OAuthPromptSettings(connection_name="graph", title="Log in", text="Please"))

    def begin(self, channel="test"):
        turn, ctx = incoming("message", channel=channel, text="login")
        self.assertIs(self.prompt.begin(ctx).status, PromptStatus.WAITING)
        return turn

    def test_magic_codes_are_six_ascii_digits(self):
        self.assertEqual(turnbox_oauth.magic_code("my code is 654321."), "654321")
        self.assertEqual(turnbox_oauth.magic_code("1234567"), "123456")
        self.assertIsNone(turnbox_oauth.magic_code("12 34 56"))
        self.assertIsNone(turnbox_oauth.magic_code("\u0661\u0662\u0663\u0664\u0665\u0666"))  # Arabic-Indic
        self.assertIsNone(turnbox_oauth.magic_code(None))

    def test_skype_gets_a_signin_card_with_the_link(self):
        turn = self.begin(channel="skype")
        card = turn.sent[0].attachments[0]
        self.assertEqual(card.content_type, "application/vnd.microsoft.card.signin")
        self.assertEqual(json.loads(card.content), {
            "text": "Please",
            "buttons": [{"type": "signin", "title": "Log in", "value": "https://signin.example/1"}],
        })
        self.assertEqual(turn.sent[0].input_hint, "acceptingInput")

    def test_a_prompt_that_waited_too_long_times_out_and_stops_waiting(self):
        self.prompt = OAuthPrompt(OAuthPromptSettings(connection_name="graph", timeout=-1))
        self.begin()
        _, ctx = incoming("message", text="123456")
        self.assertIs(self.prompt.continue_prompt(ctx).status, PromptStatus.TIMED_OUT)
        self.assertNotIn(("get_token", "graph", "123456"), SERVICE.calls, "the code was not redeemed")
        self.assertIs(self.prompt.continue_prompt(ctx).status, PromptStatus.NOT_WAITING)

    def test_a_tokens_response_event_is_checked_with_the_service(self):
        self.begin()
        _, ctx = incoming("event", name="tokens/response", value=json.dumps({"token": "forged"}))
        self.assertIs(self.prompt.continue_prompt(ctx).status, PromptStatus.WAITING)
        SERVICE.tokens["graph"] = "real"
        turn = self.prompt.continue_prompt(ctx)
        self.assertIs(turn.status, PromptStatus.SIGNED_IN)
        self.assertEqual(turn.token.token, "real")

    def test_verify_state_answers_500_when_the_service_fails(self):
        self.begin()
        SERVICE.fail = True
        _, ctx = incoming("invoke", name="signin/verifyState", value=json.dumps({"state": "123456"}))
        turn = self.prompt.continue_prompt(ctx)
        self.assertIs(turn.status, PromptStatus.WAITING)
        self.assertEqual(turn.invoke_response.status, 500)

    def test_bad_token_exchanges_are_400_and_a_failing_service_412(self):
        self.begin()
        for value in ({"id": "1", "connectionName": "graph"}, {"id": "1", "connectionName": "github", "token": "sso"},
                      "not an object"):
            _, ctx = incoming("invoke", name="signin/tokenExchange", value=json.dumps(value))
            self.assertEqual(self.prompt.continue_prompt(ctx).invoke_response.status, 400, value)
        SERVICE.fail = True
        _, ctx = incoming("invoke", name="signin/tokenExchange",
                          value=json.dumps({"id": "7", "connectionName": "graph", "token": "sso"}))
        answer = self.prompt.continue_prompt(ctx).invoke_response
        self.assertEqual(answer.status, 412)
        self.assertEqual(json.loads(answer.body)["id"], "7")
        self.assertEqual(json.loads(answer.body)["connectionName"], "graph")

    def test_sign_out_stops_waiting(self):
        self.begin()
        self.prompt.sign_out_user()
        self.assertIn(("sign_out", "graph"), SERVICE.calls)
        _, ctx = incoming("message", text="123456")
        self.assertIs(self.prompt.continue_prompt(ctx).status, PromptStatus.NOT_WAITING)


class SkillClientTest(unittest.TestCase):
    def setUp(self):
        FORWARDED.clear()
        ANSWERS.clear()

    def test_the_turns_activity_is_forwarded_and_the_body_parsed(self):
        _, ctx = incoming("message", text="hi")
        ANSWERS.append(Record(status=200, body='{"activities": []}'))
        answer = turnbox_skills.forward_to_skill(ctx, "echo")
        self.assertEqual(FORWARDED, [("echo", ctx.activity)])
        self.assertEqual((answer.status, answer.body), (200, {"activities": []}))
        self.assertTrue(answer.is_successful_status_code())

    def test_an_error_status_and_a_failed_call(self):
        _, ctx = incoming("message", text="hi")
        ANSWERS.append(Record(status=502, body=None))
        answer = turnbox_skills.SkillClient().post_activity("echo", ctx.activity)
        self.assertEqual((answer.status, answer.body), (502, None))
        self.assertFalse(answer.is_successful_status_code())
        ANSWERS.append(Err(types.CallError(code="UnknownSkill", message="no such skill", status=None)))
        with self.assertRaises(turnbox.TurnboxError) as failed:
            turnbox_skills.forward_to_skill(ctx, "nosuch")
        self.assertEqual(failed.exception.code, "UnknownSkill")


if __name__ == "__main__":
    unittest.main()
