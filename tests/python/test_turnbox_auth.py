"""Unit tests of the Python SDK's sign-in and skills modules
(sdk/python/turnbox_oauth.py, turnbox_skills.py, and turnbox_prompts.py's
OAuthPrompt dialog) on the host's own CPython, with the componentize-py
bindings faked (test_turnbox_sdk.py's fakes, plus `state`, `user-token` and
`skills`): what the end-to-end tests cannot reach
cheaply, such as a prompt that times out, the `tokens/response` event, a
failing Token Service during `signin/verifyState`, bad `signin/tokenExchange`
values, SigninCards, and a skill's answer. Run by tests/e2e/streaming_sdks.rs,
or by hand:

    python3 tests/python/test_turnbox_auth.py

The flows through the real host (magic code, verifyState, token exchange,
forwarding to a skill, the dialog) are in tests/e2e/signin.rs, oauth_dialog.rs
and skills.rs.
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
import turnbox_prompts  # noqa: E402
import turnbox_skills  # noqa: E402
from turnbox_dialogs import DialogSet, DialogTurnStatus  # noqa: E402
from turnbox_oauth import OAuthPrompt, OAuthPromptSettings, PromptStatus  # noqa: E402
from turnbox_prompts import PromptOptions  # noqa: E402


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


class OAuthPromptDialogTest(unittest.TestCase):
    """turnbox_prompts.OAuthPrompt, the prompt as a dialog, on a stack in
    (faked) conversation state."""

    def setUp(self):
        global SERVICE
        SERVICE = FakeTokenService()
        STATE.clear()

    @staticmethod
    def dialogs(validator=None, **settings):
        dialogs = DialogSet(turnbox.ConversationState.create_property("dialogState"))
        prompt = turnbox_prompts.OAuthPrompt("oauth", OAuthPromptSettings(connection_name="graph", **settings),
                                             validator)
        return dialogs.add(prompt)

    @staticmethod
    def turn(dialogs, kind="message", begin=False, **fields):
        """One turn of `dialogs`: the prompt begun, or the stack continued."""
        turn, ctx = incoming(kind, **fields)
        dc = turnbox._settle(dialogs.create_context(ctx))
        if begin:
            options = PromptOptions(prompt="Please sign in", retry_prompt="Paste the code")
            result = turnbox._settle(dc.prompt("oauth", options))
        else:
            result = turnbox._settle(dc.continue_dialog())
        return turn, ctx, result

    def test_begin_sends_the_card_with_the_prompt_and_waits(self):
        dialogs = self.dialogs()
        turn, _, result = self.turn(dialogs, begin=True, text="profile")
        self.assertIs(result.status, DialogTurnStatus.Waiting)
        [card] = turn.sent
        self.assertEqual(card.text, "Please sign in")
        self.assertEqual(card.input_hint, "acceptingInput")
        self.assertEqual(card.attachments[0].content_type, "application/vnd.microsoft.card.oauth")
        self.assertEqual(json.loads(card.attachments[0].content)["connectionName"], "graph")
        stack = json.loads(STATE[(sdk.Scope.CONVERSATION, "dialogState")])["dialogStack"]
        self.assertEqual(stack[0]["id"], "oauth")
        self.assertGreater(stack[0]["state"]["expires"], turnbox_oauth.now_ms() + 14 * 60 * 1000)

    def test_a_signed_in_user_gets_the_token_at_once(self):
        SERVICE.tokens["graph"] = "had-it"
        turn, _, result = self.turn(self.dialogs(), begin=True, text="profile")
        self.assertIs(result.status, DialogTurnStatus.Complete)
        self.assertEqual(result.result.token, "had-it")
        self.assertEqual(turn.sent, [])

    def test_a_wrong_code_gets_the_retry_prompt_and_the_right_one_the_token(self):
        dialogs = self.dialogs()
        self.turn(dialogs, begin=True, text="profile")
        for text in ("000000", "hello"):
            turn, _, result = self.turn(dialogs, text=text)
            self.assertIs(result.status, DialogTurnStatus.Waiting)
            self.assertEqual([a.text for a in turn.sent], ["Paste the code"], text)
        turn, _, result = self.turn(dialogs, text="my code is 123456")
        self.assertIs(result.status, DialogTurnStatus.Complete)
        self.assertEqual((result.result.connection_name, result.result.token), ("graph", "from-code"))
        self.assertEqual(turn.sent, [])

    def test_verify_state_is_answered_on_the_context(self):
        dialogs = self.dialogs()
        self.turn(dialogs, begin=True, text="profile")
        turn, ctx, result = self.turn(dialogs, "invoke", name="signin/verifyState",
                                      value=json.dumps({"state": "000000"}))
        self.assertIs(result.status, DialogTurnStatus.Waiting)
        self.assertEqual(ctx.invoke_response.status, 404)
        self.assertEqual(turn.sent, [], "no retry prompt for an invoke")
        _, ctx, result = self.turn(dialogs, "invoke", name="signin/verifyState",
                                   value=json.dumps({"state": "123456"}))
        self.assertIs(result.status, DialogTurnStatus.Complete)
        self.assertEqual(ctx.invoke_response.status, 200)
        self.assertEqual(result.result.token, "from-code")

    def test_token_exchange_is_answered_on_the_context(self):
        dialogs = self.dialogs()
        self.turn(dialogs, begin=True, text="profile")
        exchange = {"id": "7", "connectionName": "graph", "token": "forged"}
        _, ctx, result = self.turn(dialogs, "invoke", name="signin/tokenExchange", value=json.dumps(exchange))
        self.assertIs(result.status, DialogTurnStatus.Waiting)
        self.assertEqual(ctx.invoke_response.status, 412)
        exchange["token"] = "sso"
        _, ctx, result = self.turn(dialogs, "invoke", name="signin/tokenExchange", value=json.dumps(exchange))
        self.assertIs(result.status, DialogTurnStatus.Complete)
        self.assertEqual((ctx.invoke_response.status, json.loads(ctx.invoke_response.body)),
                         (200, {"id": "7", "connectionName": "graph"}))
        self.assertEqual(result.result.token, "from-sso")

    def test_a_prompt_that_timed_out_ends_with_no_result(self):
        dialogs = self.dialogs(timeout=-1)
        self.turn(dialogs, begin=True, text="profile")
        turn, _, result = self.turn(dialogs, text="123456")
        self.assertEqual((result.status, result.result), (DialogTurnStatus.Complete, None))
        self.assertNotIn(("get_token", "graph", "123456"), SERVICE.calls, "the code was not redeemed")
        self.assertEqual(turn.sent, [])

    def test_end_on_invalid_message_ends_with_no_result(self):
        dialogs = self.dialogs(end_on_invalid_message=True)
        self.turn(dialogs, begin=True, text="profile")
        turn, _, result = self.turn(dialogs, text="hello")
        self.assertEqual((result.status, result.result), (DialogTurnStatus.Complete, None))
        self.assertEqual(turn.sent, [])

    def test_the_validator_decides(self):
        dialogs = self.dialogs(validator=lambda pc: pc.recognized.succeeded and pc.attempt_count >= 2)
        self.turn(dialogs, begin=True, text="profile")
        _, _, result = self.turn(dialogs, text="123456")
        self.assertIs(result.status, DialogTurnStatus.Waiting)
        _, _, result = self.turn(dialogs, text="123456")
        self.assertIs(result.status, DialogTurnStatus.Complete)

    def test_sign_out_user(self):
        SERVICE.tokens["graph"] = "had-it"
        prompt = turnbox_prompts.OAuthPrompt("oauth", OAuthPromptSettings(connection_name="graph"))
        self.assertEqual(prompt.get_user_token().token, "had-it")
        prompt.sign_out_user()
        self.assertIn(("sign_out", "graph"), SERVICE.calls)
        self.assertIsNone(prompt.get_user_token())

    def test_an_answer_set_on_the_context_wins_over_the_handlers(self):
        class Bot(turnbox.ActivityHandler):
            def on_invoke(self, ctx, name, value):
                if name == "set":
                    ctx.set_invoke_response(turnbox.invoke_response(404))
                return turnbox.invoke_response(200)

        for name, status in (("set", 404), ("plain", 200)):
            turn, _ = incoming("invoke", name=name)
            self.assertEqual(turnbox.export(Bot)().on_turn(turn).status, status, name)


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
