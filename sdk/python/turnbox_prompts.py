"""botbuilder-dialogs' prompts: `TextPrompt`, `NumberPrompt`,
`ChoicePrompt`, `ConfirmPrompt`, `DateTimePrompt`, `AttachmentPrompt`, each
asking with `PromptOptions.prompt`, re-asking with `retry_prompt` and
checking with an optional validator; and how choices are shown
(`ListStyle`, `ChoiceFactory`). What the user's words mean is in
turnbox_recognizers. `OAuthPrompt` signs the user in as a dialog (its card
and recognition are turnbox_oauth's).

A prompt keeps its options in the dialog stack, so they must survive JSON:
a prompt or retry prompt is a string or a message activity (its type,
text, speak, input hint, attachments, layout, suggested actions, entities
and channel data are kept).
"""

import datetime
import inspect
import json
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Callable, Dict, List, Optional, Sequence, Union

import turnbox
import turnbox_oauth
import turnbox_recognizers as rec
from turnbox import Attachment, CardAction, CardFactory, HeroCard, MessageFactory
from turnbox_dialogs import Dialog, DialogContext, DialogInstance, DialogReason, DialogTurnResult

_KEPT = ("type", "text", "speak", "input_hint", "text_format", "attachment_layout",
         "suggested_actions", "entities", "channel_data")
_ATTACHMENT = ("content_type", "content_url", "content", "name", "thumbnail_url", "extra")


def _activity_to_json(activity: Any) -> Optional[dict]:
    if activity is None:
        return None
    if isinstance(activity, str):
        return {"type": "message", "text": activity}
    out = {key: getattr(activity, key, None) for key in _KEPT}
    out["attachments"] = [{k: getattr(a, k, None) for k in _ATTACHMENT}
                          for a in getattr(activity, "attachments", None) or []] or None
    return out


def _activity_from_json(data: Optional[dict]) -> Any:
    if data is None:
        return None
    fields = {k: v for k, v in data.items() if k in _KEPT and k != "type" and v is not None}
    if data.get("attachments"):
        fields["attachments"] = [Attachment(**a) for a in data["attachments"]]
    return turnbox.new_activity(data.get("type") or "message", **fields)


class ListStyle(Enum):
    """How a ChoicePrompt or ConfirmPrompt shows its choices."""

    none = 0
    auto = 1
    in_line = 2
    list_style = 3
    suggested_action = 4
    hero_card = 5


@dataclass
class Choice:
    """One choice: its `value`, an optional button `action` (its title is
    shown) and `synonyms` that also pick it."""

    value: str
    action: Optional[CardAction] = None
    synonyms: List[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return {"value": self.value, "synonyms": self.synonyms,
                "action": self.action.to_json() if self.action else None}

    @staticmethod
    def from_json(data: dict) -> "Choice":
        action = data.get("action")
        return Choice(data["value"], CardAction(action["type"], action["title"], action["value"])
                      if action else None, list(data.get("synonyms") or []))


def _choices(items: Optional[Sequence[Union[str, Choice]]]) -> List[Choice]:
    return [Choice(c) if isinstance(c, str) else c for c in items or []]


_SUGGESTED_ACTIONS_MAX = {"facebook": 10, "skype": 10, "line": 13, "kik": 20, "telegram": 100,
                          "emulator": 100, "directline": 100, "webchat": 100}


class ChoiceFactory:
    """Messages that offer choices, as botbuilder's ChoiceFactory."""

    @staticmethod
    def _title(choice: Choice) -> str:
        return choice.action.title if choice.action and choice.action.title else choice.value

    @staticmethod
    def for_channel(channel_id: Optional[str], choices: List[Choice], text: str = "") -> Any:
        """Suggested actions where the channel shows them, else an inline
        list when every title is short, else a numbered list."""
        if len(choices) <= _SUGGESTED_ACTIONS_MAX.get((channel_id or "").lower(), 0):
            return ChoiceFactory.suggested_action(choices, text)
        if all(len(ChoiceFactory._title(c)) <= 20 for c in choices):
            return ChoiceFactory.inline(choices, text)
        return ChoiceFactory.list_style(choices, text)

    @staticmethod
    def inline(choices: List[Choice], text: str = "") -> Any:
        """`text (1) red, (2) green, or (3) blue`."""
        items = [f"({n}) {ChoiceFactory._title(c)}" for n, c in enumerate(choices, 1)]
        if len(items) > 2:
            body = ", ".join(items[:-1]) + ", or " + items[-1]
        else:
            body = " or ".join(items)
        return MessageFactory.text(f"{text} {body}" if text else body, input_hint="expectingInput")

    @staticmethod
    def list_style(choices: List[Choice], text: str = "") -> Any:
        """`text`, then one numbered line per choice."""
        lines = "\n   ".join(f"{n}. {ChoiceFactory._title(c)}" for n, c in enumerate(choices, 1))
        return MessageFactory.text(f"{text}\n\n   {lines}", input_hint="expectingInput")

    @staticmethod
    def suggested_action(choices: List[Choice], text: str = "") -> Any:
        """`text` with one imBack suggested action per choice."""
        actions = [c.action or CardAction.im_back(c.value, c.value) for c in choices]
        reply = MessageFactory.suggested_actions(actions, text or None)
        reply.input_hint = "expectingInput"
        return reply

    @staticmethod
    def hero_card(choices: List[Choice], text: str = "") -> Any:
        """A hero card with `text` and one imBack button per choice."""
        buttons = [c.action or CardAction.im_back(c.value, c.value) for c in choices]
        return MessageFactory.attachment(CardFactory.hero_card(HeroCard(text=text, buttons=buttons)))


@dataclass
class PromptOptions:
    """What a prompt says: `prompt`, `retry_prompt` (after input it did not
    accept; default: the prompt again), `choices` (ChoicePrompt), `style`
    (overrides the prompt's) and `validations` (anything JSON, for the
    validator)."""

    prompt: Any = None
    retry_prompt: Any = None
    choices: Optional[List[Union[str, Choice]]] = None
    style: Optional[ListStyle] = None
    validations: Any = None

    def to_json(self) -> dict:
        return {"prompt": _activity_to_json(self.prompt), "retryPrompt": _activity_to_json(self.retry_prompt),
                "choices": [c.to_json() for c in _choices(self.choices)] if self.choices else None,
                "style": self.style.name if self.style else None, "validations": self.validations}

    @staticmethod
    def from_json(data: dict) -> "PromptOptions":
        return PromptOptions(
            _activity_from_json(data.get("prompt")), _activity_from_json(data.get("retryPrompt")),
            [Choice.from_json(c) for c in data["choices"]] if data.get("choices") else None,
            ListStyle[data["style"]] if data.get("style") else None, data.get("validations"))


@dataclass
class PromptRecognizerResult:
    succeeded: bool = False
    value: Any = None


class PromptValidatorContext:
    """What a validator gets: the turn `context`, the `recognized` result,
    the prompt's `state` and `options`, and `attempt_count`."""

    def __init__(self, context: Any, recognized: PromptRecognizerResult, state: Dict[str, Any],
                 options: PromptOptions):
        self.context = context
        self.recognized = recognized
        self.state = state
        self.options = options

    @property
    def attempt_count(self) -> int:
        return int(self.state.get("attemptCount", 0))


Validator = Callable[[PromptValidatorContext], Any]


class Prompt(Dialog):
    """The prompt cycle: ask, recognise each reply, validate, ask again."""

    def __init__(self, dialog_id: str, validator: Optional[Validator] = None):
        super().__init__(dialog_id)
        self._validator = validator

    async def begin_dialog(self, dialog_context: DialogContext, options: Any = None) -> DialogTurnResult:
        if not isinstance(options, PromptOptions):
            raise TypeError(f"prompt {self.id!r} needs PromptOptions, got {type(options).__name__}")
        state = dialog_context.active_dialog.state
        state["options"] = options.to_json()
        state["state"] = {}
        options = PromptOptions.from_json(state["options"])  # a copy, prompts as activities
        await self.on_prompt(dialog_context.context, state["state"], options, False)
        return Dialog.end_of_turn

    async def continue_dialog(self, dialog_context: DialogContext) -> DialogTurnResult:
        context = dialog_context.context
        if context.activity.type != "message":
            return Dialog.end_of_turn
        state = dialog_context.active_dialog.state
        options = PromptOptions.from_json(state["options"])
        recognized = await self.on_recognize(context, state["state"], options)
        state["state"]["attemptCount"] = int(state["state"].get("attemptCount", 0)) + 1
        if self._validator is not None:
            valid = self._validator(PromptValidatorContext(context, recognized, state["state"], options))
            if inspect.isawaitable(valid):
                valid = await valid
        else:
            valid = recognized.succeeded
        if valid:
            return await dialog_context.end_dialog(recognized.value)
        if not getattr(context, "responded", False):
            await self.on_prompt(context, state["state"], options, True)
        return Dialog.end_of_turn

    async def resume_dialog(self, dialog_context: DialogContext, reason: DialogReason,
                            result: Any) -> DialogTurnResult:
        await self.reprompt_dialog(dialog_context.context, dialog_context.active_dialog)
        return Dialog.end_of_turn

    async def reprompt_dialog(self, context: Any, instance: DialogInstance) -> None:
        await self.on_prompt(context, instance.state["state"],
                             PromptOptions.from_json(instance.state["options"]), False)

    async def on_prompt(self, context: Any, state: Dict[str, Any], options: PromptOptions,
                        is_retry: bool) -> None:
        prompt = options.retry_prompt if is_retry and options.retry_prompt is not None else options.prompt
        if prompt is not None:
            context.send_activity(prompt)

    async def on_recognize(self, context: Any, state: Dict[str, Any],
                           options: PromptOptions) -> PromptRecognizerResult:
        raise NotImplementedError(f"{type(self).__name__}.on_recognize")

    @staticmethod
    def append_choices(prompt: Any, channel_id: Optional[str], choices: List[Choice],
                       style: ListStyle) -> Any:
        """`prompt` with `choices` shown in `style`."""
        text = getattr(prompt, "text", None) or "" if prompt is not None else ""
        if style == ListStyle.none or not choices:
            return prompt
        msg = {
            ListStyle.in_line: ChoiceFactory.inline, ListStyle.list_style: ChoiceFactory.list_style,
            ListStyle.suggested_action: ChoiceFactory.suggested_action,
            ListStyle.hero_card: ChoiceFactory.hero_card,
        }.get(style, lambda c, t: ChoiceFactory.for_channel(channel_id, c, t))(choices, text)
        if prompt is None:
            return msg
        if msg.attachments:
            prompt.attachments = list(prompt.attachments or []) + list(msg.attachments)
            if style == ListStyle.hero_card:
                prompt.text = None
        else:
            prompt.text = msg.text
        if msg.suggested_actions:
            prompt.suggested_actions = msg.suggested_actions
        prompt.input_hint = prompt.input_hint or "expectingInput"
        return prompt


def _locale(context: Any, default_locale: Optional[str]) -> str:
    return context.activity.locale or default_locale or "en-US"


class TextPrompt(Prompt):
    """Any non-empty text; the value is the text."""

    async def on_recognize(self, context: Any, state: Dict[str, Any],
                           options: PromptOptions) -> PromptRecognizerResult:
        text = context.activity.text
        return PromptRecognizerResult(bool(text), text if text else None)


class NumberPrompt(Prompt):
    """A number in the activity's locale (else `default_locale`, else
    en-US); the value is an int for whole numbers, else a float."""

    def __init__(self, dialog_id: str, validator: Optional[Validator] = None,
                 default_locale: Optional[str] = None):
        super().__init__(dialog_id, validator)
        self.default_locale = default_locale

    async def on_recognize(self, context: Any, state: Dict[str, Any],
                           options: PromptOptions) -> PromptRecognizerResult:
        value = rec.recognize_number(context.activity.text or "", _locale(context, self.default_locale))
        return PromptRecognizerResult(value is not None, value)


class ChoicePrompt(Prompt):
    """One of `options.choices`, by number, value or synonym; the value is
    a FoundChoice. `style` (default auto) says how choices are shown."""

    def __init__(self, dialog_id: str, validator: Optional[Validator] = None,
                 default_locale: Optional[str] = None, style: ListStyle = ListStyle.auto):
        super().__init__(dialog_id, validator)
        self.default_locale = default_locale
        self.style = style

    async def on_prompt(self, context: Any, state: Dict[str, Any], options: PromptOptions,
                        is_retry: bool) -> None:
        prompt = options.retry_prompt if is_retry and options.retry_prompt is not None else options.prompt
        style = options.style or self.style
        reply = self.append_choices(prompt, context.activity.channel_id, _choices(options.choices), style)
        if reply is not None:
            context.send_activity(reply)

    async def on_recognize(self, context: Any, state: Dict[str, Any],
                           options: PromptOptions) -> PromptRecognizerResult:
        choices = _choices(options.choices)
        found = rec.recognize_choice(context.activity.text or "", [c.value for c in choices],
                                     [c.synonyms for c in choices])
        return PromptRecognizerResult(found is not None, found)


class ConfirmPrompt(Prompt):
    """Yes or no, in the activity's locale (English always understood), or
    the number of a shown choice; the value is a bool. Its Yes/No choices
    follow the locale unless `confirm_choices` gives them; `style` (default
    auto) says how they are shown."""

    def __init__(self, dialog_id: str, validator: Optional[Validator] = None,
                 default_locale: Optional[str] = None, style: ListStyle = ListStyle.auto,
                 confirm_choices: Optional[Sequence[str]] = None):
        super().__init__(dialog_id, validator)
        self.default_locale = default_locale
        self.style = style
        self.confirm_choices = confirm_choices

    def _yes_no(self, context: Any) -> List[Choice]:
        if self.confirm_choices:
            return _choices(list(self.confirm_choices))
        language = _locale(context, self.default_locale).split("-")[0].lower()
        return _choices(list(rec.CONFIRM_CHOICES.get(language, rec.CONFIRM_CHOICES["en"])))

    async def on_prompt(self, context: Any, state: Dict[str, Any], options: PromptOptions,
                        is_retry: bool) -> None:
        prompt = options.retry_prompt if is_retry and options.retry_prompt is not None else options.prompt
        style = options.style or self.style
        reply = self.append_choices(prompt, context.activity.channel_id, self._yes_no(context), style)
        if reply is not None:
            context.send_activity(reply)

    async def on_recognize(self, context: Any, state: Dict[str, Any],
                           options: PromptOptions) -> PromptRecognizerResult:
        text = context.activity.text or ""
        value = rec.recognize_boolean(text, _locale(context, self.default_locale))
        if value is None:
            found = rec.recognize_choice(text, [c.value for c in self._yes_no(context)])
            value = None if found is None else found.index == 0
        return PromptRecognizerResult(value is not None, value)


class DateTimePrompt(Prompt):
    """A date (and time), relative to the activity's local timestamp (else
    its timestamp, else today); the value is a list of DateTimeResolution.
    English only: see turnbox_recognizers.recognize_datetime for what is
    understood."""

    def __init__(self, dialog_id: str, validator: Optional[Validator] = None,
                 default_locale: Optional[str] = None):
        super().__init__(dialog_id, validator)
        self.default_locale = default_locale

    async def on_recognize(self, context: Any, state: Dict[str, Any],
                           options: PromptOptions) -> PromptRecognizerResult:
        activity = context.activity
        today = None
        for stamp in (activity.local_timestamp, activity.timestamp):
            try:
                today = datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00")).date()
                break
            except (AttributeError, ValueError):
                continue
        found = rec.recognize_datetime(activity.text or "", today)
        return PromptRecognizerResult(bool(found), found or None)


class AttachmentPrompt(Prompt):
    """One or more attachments; the value is the list of them."""

    async def on_recognize(self, context: Any, state: Dict[str, Any],
                           options: PromptOptions) -> PromptRecognizerResult:
        attachments = list(context.activity.attachments or [])
        return PromptRecognizerResult(bool(attachments), attachments or None)


def attachment_content(attachment: Attachment) -> Any:
    """An attachment's `content`, parsed from its JSON text."""
    return json.loads(attachment.content) if attachment.content is not None else None


def _is_sign_in_answer(activity: Any) -> bool:
    """Whether `activity` is one the sign-in prompt recognises (a message, a
    `tokens/response` event, a `signin/verifyState` or `signin/tokenExchange`
    invoke): only these end a prompt that timed out."""
    return (activity.type == "message"
            or (activity.type == "event" and activity.name == "tokens/response")
            or (activity.type == "invoke" and activity.name in ("signin/verifyState", "signin/tokenExchange")))


class OAuthPrompt(Dialog):
    """botbuilder's OAuthPrompt as a dialog: signs the user in from a
    waterfall step and ends with the user's `TokenResponse`, or with None
    when it timed out (or, with `end_on_invalid_message`, when a message did
    not sign the user in). `settings` are turnbox_oauth's
    `OAuthPromptSettings`; `PromptOptions.prompt` is the card message (its
    text, or an activity), `retry_prompt` what an invalid message gets; the
    validator sees the token as `recognized.value`. Invokes reach it only
    when the bot passes them to the stack too (`on_invoke`:
    `await dc.continue_dialog()`); their answer is set on the context
    (`ctx.set_invoke_response`), which the SDK returns."""

    def __init__(self, dialog_id: str, settings: turnbox_oauth.OAuthPromptSettings,
                 validator: Optional[Validator] = None):
        super().__init__(dialog_id)
        if not settings.connection_name:
            raise ValueError("OAuthPrompt needs a connection_name")
        self.settings = settings
        self._validator = validator

    async def begin_dialog(self, dialog_context: DialogContext, options: Any = None) -> DialogTurnResult:
        """Records the options, the attempt count and when the prompt stops
        waiting; ends at once with the token when the user has one, else
        sends the card and waits."""
        options = options if options is not None else PromptOptions()
        if not isinstance(options, PromptOptions):
            raise TypeError(f"prompt {self.id!r} needs PromptOptions, got {type(options).__name__}")
        state = dialog_context.active_dialog.state
        state["options"] = options.to_json()
        state["state"] = {"attemptCount": 0}
        state["expires"] = turnbox_oauth.now_ms() + self.settings.timeout_ms
        token = self.get_user_token(dialog_context.context)
        if token is not None:
            return await dialog_context.end_dialog(token)
        prompt = PromptOptions.from_json(state["options"]).prompt  # a copy
        turnbox_oauth.send_oauth_card(self.settings, dialog_context.context, prompt)
        return Dialog.end_of_turn

    async def continue_dialog(self, dialog_context: DialogContext) -> DialogTurnResult:
        """Timed out: ends with None. Else recognises the answer (and
        answers an invoke), ends with the token when there is one (and the
        validator accepts it); an invalid message ends the prompt with None
        under `end_on_invalid_message`, else gets the retry prompt."""
        context = dialog_context.context
        state = dialog_context.active_dialog.state
        expires = state.get("expires")
        expired = not isinstance(expires, (int, float)) or turnbox_oauth.now_ms() > expires
        if _is_sign_in_answer(context.activity) and expired:
            return await dialog_context.end_dialog(None)
        options = PromptOptions.from_json(state.get("options") or {})
        prompt_state = state.setdefault("state", {})
        recognized_token = turnbox_oauth.recognize_token(self.settings, context)
        if recognized_token.invoke_response is not None:
            context.set_invoke_response(recognized_token.invoke_response)
        recognized = PromptRecognizerResult(recognized_token.token is not None, recognized_token.token)
        prompt_state["attemptCount"] = int(prompt_state.get("attemptCount", 0)) + 1
        if self._validator is not None:
            valid = self._validator(PromptValidatorContext(context, recognized, prompt_state, options))
            if inspect.isawaitable(valid):
                valid = await valid
        else:
            valid = recognized.succeeded
        if valid:
            return await dialog_context.end_dialog(recognized.value)
        is_message = context.activity.type == "message"
        if is_message and self.settings.end_on_invalid_message:
            return await dialog_context.end_dialog(None)
        if is_message and not getattr(context, "responded", False) and options.retry_prompt is not None:
            retry = options.retry_prompt  # an activity: options are read from JSON
            retry.input_hint = retry.input_hint or "acceptingInput"
            context.send_activity(retry)
        return Dialog.end_of_turn

    def get_user_token(self, context: Any = None) -> Optional[turnbox_oauth.TokenResponse]:
        """The user's token now, if signed in."""
        return turnbox_oauth.UserTokenClient.get_user_token(self.settings.connection_name)

    def sign_out_user(self, context: Any = None) -> None:
        """Signs the user out of the prompt's connection."""
        turnbox_oauth.UserTokenClient.sign_out_user(self.settings.connection_name)
