"""turnbox guest SDK for Python, user sign-in: botbuilder's `UserTokenClient`
over the `user-token` interface (the host calls the Bot Framework Token
Service for the turn's user on the turn's channel), the sign-in card and
the recognition of what comes back (`send_oauth_card`, `recognize_token`: a
6-digit magic code, a `signin/verifyState` or `signin/tokenExchange` invoke,
a `tokens/response` event), and an `OAuthPrompt` without dialogs built on
them, as the Rust SDK's. The prompt as a dialog, for a DialogSet, is
turnbox_prompts.OAuthPrompt, built on the same two functions. The
connections a bot names must be listed in its manifest (`[oauth]
connections`)::

    from turnbox_oauth import OAuthPrompt, OAuthPromptSettings, PromptStatus

    PROMPT = OAuthPrompt(OAuthPromptSettings(connection_name="graph", title="Sign in"))

    class Bot(turnbox.ActivityHandler):
        def on_message(self, ctx):
            turn = PROMPT.continue_prompt(ctx)
            if turn.status is PromptStatus.SIGNED_IN:
                ctx.send_activity("Signed in")
            elif turn.status is PromptStatus.NOT_WAITING and ctx.activity.text == "login":
                PROMPT.begin(ctx)

        def on_invoke(self, ctx, name, value):
            return PROMPT.continue_prompt(ctx).invoke_response

Tokens are the WIT records, with botbuilder-python's field names:
`TokenResponse(connection_name, token, expiration, channel_id)`.
"""

import enum
import re
import time
from dataclasses import dataclass
from typing import Any, Dict, List, Optional

from wit_world.imports import user_token as _user_token

import turnbox
from turnbox import (
    CardFactory, InvokeResponse, MessageFactory, TurnContext, _call, invoke_response,
)

TokenResponse = _user_token.TokenResponse
SignInResource = _user_token.SignInResource
TokenStatus = _user_token.TokenStatus


class UserTokenClient:
    """The Token Service, for the turn's user on the turn's channel
    (botbuilder's `UserTokenClient`). Failures raise `turnbox.TurnboxError`
    with the WIT `call-error` code (`ConnectionNotAllowed`, `NotSupported`,
    `TokenServiceError`, `Unreachable`, ...)."""

    @staticmethod
    def get_user_token(connection_name: str, magic_code: Optional[str] = None) -> Optional[TokenResponse]:
        """The user's token, redeeming `magic_code` first when given; None
        when the user is not signed in (or the code is wrong or expired)."""
        return _call(lambda: _user_token.get_token(connection_name, magic_code))

    @staticmethod
    def get_sign_in_resource(connection_name: str, final_redirect: Optional[str] = None) -> SignInResource:
        """The sign-in link and SSO resources for a card."""
        return _call(lambda: _user_token.get_sign_in_resource(connection_name, final_redirect))

    @staticmethod
    def sign_out_user(connection_name: Optional[str] = None) -> None:
        """Signs the user out of `connection_name`, or, with None, of every
        connection the manifest lists."""
        _call(lambda: _user_token.sign_out(connection_name))

    @staticmethod
    def exchange_token(connection_name: str, token: str) -> Optional[TokenResponse]:
        """Exchanges a channel's SSO token; None when the service cannot."""
        return _call(lambda: _user_token.exchange_token(connection_name, token))

    @staticmethod
    def get_aad_tokens(connection_name: str, resource_urls: List[str]) -> Dict[str, TokenResponse]:
        """Microsoft Entra ID tokens, by resource URL."""
        return dict(_call(lambda: _user_token.get_aad_tokens(connection_name, list(resource_urls))))

    @staticmethod
    def get_token_status(connection_names: Optional[List[str]] = None) -> List[TokenStatus]:
        """Which connections the user has a token for (None: all listed)."""
        names = list(connection_names) if connection_names is not None else None
        return _call(lambda: _user_token.get_token_status(names))


DEFAULT_TIMEOUT_MS = 15 * 60 * 1000
"""How long a prompt waits by default: 15 minutes, as botbuilder's."""


@dataclass
class OAuthPromptSettings:
    """What the prompt shows and how long it waits (botbuilder's
    `OAuthPromptSettings`), for this module's OAuthPrompt and the dialog
    turnbox_prompts.OAuthPrompt alike: `timeout` in milliseconds (None: 15
    minutes); `end_on_invalid_message` (the dialog only): a message that
    does not sign the user in ends the dialog with no result instead of
    asking again."""

    connection_name: str
    title: str = "Sign in"
    text: Optional[str] = None
    timeout: Optional[int] = None
    end_on_invalid_message: bool = False

    @property
    def timeout_ms(self) -> int:
        """How long the prompt waits, the default filled in."""
        return self.timeout if self.timeout is not None else DEFAULT_TIMEOUT_MS


class PromptStatus(enum.Enum):
    """Where a prompt stands after a turn."""

    SIGNED_IN = "signedIn"
    """The user is signed in: the turn's `token`."""
    WAITING = "waiting"
    """The prompt waits for the user (the card is out)."""
    NOT_WAITING = "notWaiting"
    """No prompt of this connection waits in this conversation."""
    TIMED_OUT = "timedOut"
    """The prompt waited longer than its timeout and stopped waiting."""


@dataclass
class PromptTurn:
    """A prompt's turn: its status, the token when signed in, and, when it
    handled an invoke, the answer to return from `on_invoke`."""

    status: PromptStatus
    token: Optional[TokenResponse] = None
    invoke_response: Optional[InvokeResponse] = None


@dataclass
class RecognizedToken:
    """What `recognize_token` made of a turn: the token, when it signed the
    user in, and the answer the turn's invoke gets, when it was one."""

    token: Optional[TokenResponse] = None
    invoke_response: Optional[InvokeResponse] = None


_MAGIC_CODE = re.compile(r"[0-9]{6}")


def magic_code(text: Optional[str]) -> Optional[str]:
    """The first run of 6 digits in `text` (botbuilder's `(\\d{6})`, ASCII)."""
    found = _MAGIC_CODE.search(text or "")
    return found.group(0) if found else None


def channel_supports_oauth_card(channel_id: Optional[str]) -> bool:
    """Whether the channel shows OAuthCards (botbuilder's
    `channel_supports_oauth_card`): all but Cortana, Skype and Skype for
    Business, which get a SigninCard."""
    return channel_id not in ("cortana", "skype", "skypeforbusiness")


_FAILED_EXCHANGE = "The bot is unable to exchange token. Proceed with regular login."


def now_ms() -> int:
    """Milliseconds since the Unix epoch."""
    return int(time.time() * 1000)


def _card(settings: OAuthPromptSettings, channel_id: Optional[str], resource: SignInResource) -> Any:
    """The OAuthCard, or a SigninCard where the channel has no OAuthCard.
    The sign-in link is always on the button."""
    buttons = [{"type": "signin", "title": settings.title, "value": resource.sign_in_link}]
    content: Dict[str, Any] = {}
    if settings.text is not None:
        content["text"] = settings.text
    if not channel_supports_oauth_card(channel_id):
        content["buttons"] = buttons
        return CardFactory.card("application/vnd.microsoft.card.signin", content)
    content["connectionName"] = settings.connection_name
    exchange = resource.token_exchange_resource
    if exchange is not None:
        fields = {"id": exchange.id, "uri": exchange.uri, "providerId": exchange.provider_id}
        content["tokenExchangeResource"] = {k: v for k, v in fields.items() if v is not None}
    if resource.token_post_sas_url is not None:
        content["tokenPostResource"] = {"sasUrl": resource.token_post_sas_url}
    content["buttons"] = buttons
    return CardFactory.card("application/vnd.microsoft.card.oauth", content)


def send_oauth_card(settings: OAuthPromptSettings, ctx: TurnContext, prompt: Any = None) -> None:
    """Sends the sign-in card for `settings` (botbuilder's
    `send_oauth_card`): attached to `prompt` (a message activity, or its
    text) when given, accepting input unless the prompt says otherwise."""
    resource = UserTokenClient.get_sign_in_resource(settings.connection_name)
    card = _card(settings, ctx.activity.channel_id, resource)
    if prompt is None or isinstance(prompt, str):
        message = MessageFactory.attachment(card, prompt)
    else:
        message = prompt
        message.attachments = list(message.attachments or []) + [card]
    message.input_hint = message.input_hint or "acceptingInput"
    ctx.send_activity(message)


def recognize_token(settings: OAuthPromptSettings, ctx: TurnContext) -> RecognizedToken:
    """Recognises the user's answer to the card (botbuilder's
    `recognize_token`): a message with a 6-digit magic code,
    `signin/verifyState` (200; 404 for a wrong or expired code; 500 when the
    call failed), `signin/tokenExchange` (200; 412 when the token cannot be
    exchanged; 400 for a bad request) or a `tokens/response` event (checked
    with the Token Service, never trusted as sent)."""
    connection = settings.connection_name
    activity = ctx.activity
    value = ctx.value if isinstance(ctx.value, dict) else {}
    if activity.type == "message":
        code = magic_code(activity.text)
        return RecognizedToken(UserTokenClient.get_user_token(connection, code) if code else None)
    if activity.type == "invoke" and activity.name == "signin/verifyState":
        state = value.get("state")
        try:
            token = UserTokenClient.get_user_token(connection, state) if isinstance(state, str) and state else None
        except turnbox.TurnboxError:
            return RecognizedToken(None, invoke_response(500))
        return RecognizedToken(token, invoke_response(200 if token is not None else 404))
    if activity.type == "invoke" and activity.name == "signin/tokenExchange":
        return _exchange(settings, value)
    if activity.type == "event" and activity.name == "tokens/response":
        return RecognizedToken(UserTokenClient.get_user_token(connection))
    return RecognizedToken()


def _exchange(settings: OAuthPromptSettings, value: dict) -> RecognizedToken:
    """`signin/tokenExchange`, answered as botbuilder's prompt does."""
    connection = settings.connection_name

    def field(name: str) -> str:
        v = value.get(name)
        return v if isinstance(v, str) else ""

    if not field("token"):
        return RecognizedToken(None, invoke_response(
            400, "The bot received an InvokeActivity that is missing a TokenExchangeInvokeRequest value."))
    if field("connectionName") != connection:
        return RecognizedToken(None, invoke_response(
            400, "The TokenExchangeInvokeRequest names another ConnectionName than the prompt's."))
    try:
        token = UserTokenClient.exchange_token(connection, field("token"))
    except turnbox.TurnboxError:
        token = None
    if token is not None:
        return RecognizedToken(token, invoke_response(200, {"id": field("id"), "connectionName": connection}))
    return RecognizedToken(None, invoke_response(
        412, {"id": field("id"), "connectionName": connection, "failureDetail": _FAILED_EXCHANGE}))


class OAuthPrompt:
    """botbuilder's `OAuthPrompt`, without dialogs: `begin` signs the user in
    (at once when there is a token, else with a card), `continue_prompt`
    recognises the answer on the turns after. Inside a DialogSet, use
    turnbox_prompts.OAuthPrompt instead."""

    def __init__(self, settings: OAuthPromptSettings):
        if not settings.connection_name:
            raise ValueError("OAuthPrompt needs a connection_name")
        self.settings = settings
        # The marker kept in private conversation state while the prompt
        # waits, saved with the turn: {"expires_at_ms": ...}, as the Rust SDK's.
        self._waiting = turnbox.PrivateConversationState.create_property(
            f"turnbox.oauthPrompt.{settings.connection_name}")

    def get_user_token(self, ctx: TurnContext, code: Optional[str] = None) -> Optional[TokenResponse]:
        """The user's token now (`code`: a magic code to redeem first)."""
        return UserTokenClient.get_user_token(self.settings.connection_name, code)

    def begin(self, ctx: TurnContext) -> PromptTurn:
        """Starts signing in: SIGNED_IN with the token at once when the user
        has one; else sends the card, records that the prompt waits and
        returns WAITING."""
        token = self.get_user_token(ctx)
        if token is not None:
            self._waiting.delete()
            return PromptTurn(PromptStatus.SIGNED_IN, token)
        send_oauth_card(self.settings, ctx)
        self._waiting.set({"expires_at_ms": now_ms() + self.settings.timeout_ms})
        return PromptTurn(PromptStatus.WAITING)

    def continue_prompt(self, ctx: TurnContext) -> PromptTurn:
        """Recognises the user's answer while the prompt waits, as
        `recognize_token` does. Signed in or timed out, the prompt stops
        waiting."""
        waiting = self._waiting.get()
        expires = waiting.get("expires_at_ms") if isinstance(waiting, dict) else None
        if not isinstance(expires, (int, float)):
            return PromptTurn(PromptStatus.NOT_WAITING)
        if now_ms() > expires:
            self._waiting.delete()
            return PromptTurn(PromptStatus.TIMED_OUT)
        recognized = recognize_token(self.settings, ctx)
        if recognized.token is not None:
            self._waiting.delete()
            return PromptTurn(PromptStatus.SIGNED_IN, recognized.token, recognized.invoke_response)
        return PromptTurn(PromptStatus.WAITING, None, recognized.invoke_response)

    def sign_out_user(self, ctx: Optional[TurnContext] = None) -> None:
        """Signs the user out of this prompt's connection, and stops waiting."""
        self._waiting.delete()
        UserTokenClient.sign_out_user(self.settings.connection_name)
