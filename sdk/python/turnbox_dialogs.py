"""Dialogs in botbuilder-dialogs' shape: the dialog stack (`DialogSet`,
`DialogContext`), `WaterfallDialog` and `ComponentDialog`. Prompts are in
turnbox_prompts::

    import turnbox
    from turnbox_dialogs import DialogSet, DialogTurnStatus, WaterfallDialog
    from turnbox_prompts import PromptOptions, TextPrompt

    DIALOG_STATE = turnbox.ConversationState.create_property("dialogState")

    async def ask(step):
        return await step.prompt("text", PromptOptions(prompt="Your name?"))

    async def done(step):
        step.context.send_activity(f"Hi {step.result}")
        return await step.end_dialog()

    class Bot(turnbox.ActivityHandler):
        async def on_message(self, ctx):
            dialogs = DialogSet(DIALOG_STATE)
            dialogs.add(TextPrompt("text"))
            dialogs.add(WaterfallDialog("main", [ask, done]))
            dc = await dialogs.create_context(ctx)
            result = await dc.continue_dialog()
            if result.status == DialogTurnStatus.Empty:
                await dc.begin_dialog("main")

The stack is JSON in the state property the DialogSet was given, written
back whenever it changes, so the host commits it with the rest of the
turn's state: a turn re-run after a state conflict starts from the
committed stack, and nothing of a dialog lives in the instance between
turns. Build the DialogSet in each turn (or keep it immutable): dialogs
are definitions, the stack is data. A dialog's instance state and options
must be JSON (prompts store their options as JSON themselves).
"""

import json
from dataclasses import dataclass
from enum import Enum
from typing import Any, Awaitable, Callable, Dict, List, Optional


class DialogTurnStatus(Enum):
    """Where the stack stands after a call."""

    Empty = "empty"
    Waiting = "waiting"
    Complete = "complete"
    Cancelled = "cancelled"


class DialogReason(Enum):
    """Why a dialog is started, resumed or ended."""

    BeginCalled = "beginCalled"
    ContinueCalled = "continueCalled"
    EndCalled = "endCalled"
    ReplaceCalled = "replaceCalled"
    CancelCalled = "cancelCalled"
    NextCalled = "nextCalled"


@dataclass
class DialogTurnResult:
    """The outcome of a stack operation: `status`, and the `result` of a
    dialog that completed."""

    status: DialogTurnStatus
    result: Any = None


class DialogInstance:
    """One entry of the stack: a dialog's `id` and its `state` (a JSON
    dict, a view onto the stored stack)."""

    def __init__(self, entry: Dict[str, Any]):
        self._entry = entry

    @property
    def id(self) -> str:
        return self._entry["id"]

    @property
    def state(self) -> Dict[str, Any]:
        return self._entry["state"]


class Dialog:
    """A dialog: override `begin_dialog`, and `continue_dialog` and
    `resume_dialog` for a dialog that waits for the user or for a child."""

    end_of_turn = DialogTurnResult(DialogTurnStatus.Waiting)

    def __init__(self, dialog_id: str):
        if not dialog_id:
            raise ValueError("a dialog needs an id")
        self.id = dialog_id

    async def begin_dialog(self, dialog_context: "DialogContext", options: Any = None) -> DialogTurnResult:
        raise NotImplementedError(f"{type(self).__name__}.begin_dialog")

    async def continue_dialog(self, dialog_context: "DialogContext") -> DialogTurnResult:
        """The user's next activity; by default the dialog ends."""
        return await dialog_context.end_dialog(None)

    async def resume_dialog(self, dialog_context: "DialogContext", reason: DialogReason,
                            result: Any) -> DialogTurnResult:
        """A child dialog ended with `result`; by default this one ends with it."""
        return await dialog_context.end_dialog(result)

    async def reprompt_dialog(self, context: Any, instance: DialogInstance) -> None:
        """Asks the user again (after an interruption)."""

    async def end_dialog(self, context: Any, instance: DialogInstance, reason: DialogReason) -> None:
        """The dialog is leaving the stack (ended, cancelled or replaced)."""


class DialogSet:
    """The dialogs a bot (or a ComponentDialog) knows, by id, and the
    state property its stack is kept in."""

    def __init__(self, dialog_state: Any = None):
        self._dialog_state = dialog_state
        self._dialogs: Dict[str, Dialog] = {}

    def add(self, dialog: Dialog) -> "DialogSet":
        if dialog.id in self._dialogs:
            raise ValueError(f"a dialog with id {dialog.id!r} was already added")
        self._dialogs[dialog.id] = dialog
        return self

    def find(self, dialog_id: str) -> Optional[Dialog]:
        return self._dialogs.get(dialog_id)

    async def create_context(self, turn_context: Any) -> "DialogContext":
        """A DialogContext over the stack stored in the state property."""
        if self._dialog_state is None:
            raise TypeError("DialogSet.create_context needs the DialogSet built with a state "
                            "property (ConversationState.create_property('dialogState'))")
        stored = self._dialog_state.get(None)
        if not isinstance(stored, dict) or not isinstance(stored.get("dialogStack"), list):
            stored = {"dialogStack": []}
        accessor = self._dialog_state
        saved = [json.dumps(stored, sort_keys=True)]

        def save() -> None:
            text = json.dumps(stored, sort_keys=True)
            if text != saved[0]:
                accessor.set(stored)
                saved[0] = text

        return DialogContext(self, turn_context, stored, save)


class DialogContext:
    """The stack for one turn: start, continue, end and cancel dialogs.
    `context` is the turn's TurnContext."""

    def __init__(self, dialog_set: DialogSet, turn_context: Any, state: Dict[str, Any],
                 save: Callable[[], None] = lambda: None, parent: Optional["DialogContext"] = None):
        self.dialogs = dialog_set
        self.context = turn_context
        self._state = state
        self._save = save
        self.parent = parent

    @property
    def stack(self) -> List[Dict[str, Any]]:
        return self._state["dialogStack"]

    @property
    def active_dialog(self) -> Optional[DialogInstance]:
        return DialogInstance(self.stack[0]) if self.stack else None

    @property
    def child(self) -> Optional["DialogContext"]:
        """The context of the active dialog's own stack, when it has one
        (a ComponentDialog)."""
        instance = self.active_dialog
        dialog = self.find_dialog(instance.id) if instance else None
        if isinstance(dialog, ComponentDialog):
            return dialog.create_child_context(self)
        return None

    def find_dialog(self, dialog_id: str) -> Optional[Dialog]:
        """A dialog of this set, else of the parents' sets."""
        found = self.dialogs.find(dialog_id)
        if found is None and self.parent is not None:
            return self.parent.find_dialog(dialog_id)
        return found

    def _dialog(self, dialog_id: str) -> Dialog:
        dialog = self.find_dialog(dialog_id)
        if dialog is None:
            raise KeyError(f"no dialog with id {dialog_id!r} was added to the DialogSet")
        return dialog

    async def begin_dialog(self, dialog_id: str, options: Any = None) -> DialogTurnResult:
        """Pushes dialog `dialog_id` and starts it with `options`."""
        dialog = self._dialog(dialog_id)
        self.stack.insert(0, {"id": dialog_id, "state": {}})
        try:
            return await dialog.begin_dialog(self, options)
        finally:
            self._save()

    async def prompt(self, dialog_id: str, options: Any) -> DialogTurnResult:
        """Starts the prompt `dialog_id` with its PromptOptions."""
        if options is None:
            raise TypeError("DialogContext.prompt needs PromptOptions")
        return await self.begin_dialog(dialog_id, options)

    async def continue_dialog(self) -> DialogTurnResult:
        """Hands the turn to the active dialog; `Empty` when there is none."""
        instance = self.active_dialog
        if instance is None:
            return DialogTurnResult(DialogTurnStatus.Empty)
        try:
            return await self._dialog(instance.id).continue_dialog(self)
        finally:
            self._save()

    async def end_dialog(self, result: Any = None) -> DialogTurnResult:
        """Ends the active dialog with `result`: its parent resumes, or the
        stack completes."""
        await self._end_active_dialog(DialogReason.EndCalled)
        try:
            instance = self.active_dialog
            if instance is not None:
                return await self._dialog(instance.id).resume_dialog(self, DialogReason.EndCalled, result)
            return DialogTurnResult(DialogTurnStatus.Complete, result)
        finally:
            self._save()

    async def cancel_all_dialogs(self) -> DialogTurnResult:
        """Empties the stack, each dialog told it was cancelled."""
        if not self.stack:
            return DialogTurnResult(DialogTurnStatus.Empty)
        while self.stack:
            await self._end_active_dialog(DialogReason.CancelCalled)
        self._save()
        return DialogTurnResult(DialogTurnStatus.Cancelled)

    async def replace_dialog(self, dialog_id: str, options: Any = None) -> DialogTurnResult:
        """Ends the active dialog and starts `dialog_id` in its place (a loop)."""
        await self._end_active_dialog(DialogReason.ReplaceCalled)
        return await self.begin_dialog(dialog_id, options)

    async def reprompt_dialog(self) -> None:
        instance = self.active_dialog
        if instance is not None:
            await self._dialog(instance.id).reprompt_dialog(self.context, instance)

    async def _end_active_dialog(self, reason: DialogReason) -> None:
        instance = self.active_dialog
        if instance is None:
            return
        dialog = self.find_dialog(instance.id)
        if dialog is not None:
            await dialog.end_dialog(self.context, instance, reason)
        self.stack.pop(0)


Step = Callable[["WaterfallStepContext"], Awaitable[DialogTurnResult]]


class WaterfallStepContext(DialogContext):
    """What a waterfall step gets: the stack (it is a DialogContext), the
    previous step's `result`, the dialog's `options` and `values` (a dict
    kept across steps), its `index`, and `next()`."""

    def __init__(self, parent: "WaterfallDialog", dc: DialogContext, options: Any,
                 values: Dict[str, Any], index: int, reason: DialogReason, result: Any):
        super().__init__(dc.dialogs, dc.context, dc._state, dc._save, dc.parent)
        self._waterfall = parent
        self._dc = dc
        self.options = options
        self.values = values
        self.index = index
        self.reason = reason
        self.result = result
        self._next_called = False

    async def next(self, result: Any = None) -> DialogTurnResult:
        """Skips to the next step, which receives `result`."""
        if self._next_called:
            raise RuntimeError(f"next() was already called in step {self.index} of {self._waterfall.id}")
        self._next_called = True
        return await self._waterfall.resume_dialog(self._dc, DialogReason.NextCalled, result)


class WaterfallDialog(Dialog):
    """A sequence of steps, each an `async def step(step_context)` that
    returns a DialogTurnResult (from `prompt`, `begin_dialog`, `next` or
    `end_dialog`); the result of what a step started is the next step's
    `step_context.result`. After the last step the dialog ends with that
    step's result."""

    def __init__(self, dialog_id: str, steps: Optional[List[Step]] = None):
        super().__init__(dialog_id)
        self._steps: List[Step] = list(steps or [])

    def add_step(self, step: Step) -> "WaterfallDialog":
        self._steps.append(step)
        return self

    async def begin_dialog(self, dialog_context: DialogContext, options: Any = None) -> DialogTurnResult:
        state = dialog_context.active_dialog.state
        state["options"] = options
        state["values"] = {}
        return await self._run_step(dialog_context, 0, DialogReason.BeginCalled, None)

    async def continue_dialog(self, dialog_context: DialogContext) -> DialogTurnResult:
        if dialog_context.context.activity.type != "message":
            return Dialog.end_of_turn
        return await self.resume_dialog(dialog_context, DialogReason.ContinueCalled,
                                        dialog_context.context.activity.text)

    async def resume_dialog(self, dialog_context: DialogContext, reason: DialogReason,
                            result: Any) -> DialogTurnResult:
        index = dialog_context.active_dialog.state.get("stepIndex", -1)
        return await self._run_step(dialog_context, index + 1, reason, result)

    async def on_step(self, step_context: WaterfallStepContext) -> DialogTurnResult:
        return await self._steps[step_context.index](step_context)

    async def _run_step(self, dc: DialogContext, index: int, reason: DialogReason,
                        result: Any) -> DialogTurnResult:
        if index >= len(self._steps):
            return await dc.end_dialog(result)
        state = dc.active_dialog.state
        state["stepIndex"] = index
        step = WaterfallStepContext(self, dc, state.get("options"), state["values"], index, reason, result)
        outcome = await self.on_step(step)
        if not isinstance(outcome, DialogTurnResult):
            raise TypeError(f"step {index} of waterfall {self.id!r} returned {outcome!r}, "
                            "not a DialogTurnResult (return await step.prompt/next/end_dialog(...))")
        return outcome


class ComponentDialog(Dialog):
    """A dialog made of dialogs, with a stack of its own inside its state:
    `add_dialog` them (the first is `initial_dialog_id` unless set), and
    the component ends when that stack completes. Override
    `on_continue_dialog` to interrupt (e.g. "cancel")."""

    def __init__(self, dialog_id: str):
        super().__init__(dialog_id)
        self.initial_dialog_id: Optional[str] = None
        self._dialogs = DialogSet()

    def add_dialog(self, dialog: Dialog) -> "ComponentDialog":
        self._dialogs.add(dialog)
        if self.initial_dialog_id is None:
            self.initial_dialog_id = dialog.id
        return self

    def find_dialog(self, dialog_id: str) -> Optional[Dialog]:
        return self._dialogs.find(dialog_id)

    def create_child_context(self, outer: DialogContext) -> DialogContext:
        state = outer.active_dialog.state.setdefault("dialogs", {"dialogStack": []})
        return DialogContext(self._dialogs, outer.context, state, outer._save, outer)

    async def begin_dialog(self, dialog_context: DialogContext, options: Any = None) -> DialogTurnResult:
        inner = self.create_child_context(dialog_context)
        result = await self.on_begin_dialog(inner, options)
        if result.status != DialogTurnStatus.Waiting:
            return await self.end_component(dialog_context, result.result)
        return Dialog.end_of_turn

    async def continue_dialog(self, dialog_context: DialogContext) -> DialogTurnResult:
        inner = self.create_child_context(dialog_context)
        result = await self.on_continue_dialog(inner)
        if result.status != DialogTurnStatus.Waiting:
            return await self.end_component(dialog_context, result.result)
        return Dialog.end_of_turn

    async def resume_dialog(self, dialog_context: DialogContext, reason: DialogReason,
                            result: Any) -> DialogTurnResult:
        """Something this component started on the outer stack ended: ask
        again and wait, as botbuilder does."""
        await self.reprompt_dialog(dialog_context.context, dialog_context.active_dialog)
        return Dialog.end_of_turn

    async def reprompt_dialog(self, context: Any, instance: DialogInstance) -> None:
        state = instance.state.setdefault("dialogs", {"dialogStack": []})
        inner = DialogContext(self._dialogs, context, state)
        await inner.reprompt_dialog()

    async def end_dialog(self, context: Any, instance: DialogInstance, reason: DialogReason) -> None:
        if reason == DialogReason.CancelCalled:
            state = instance.state.setdefault("dialogs", {"dialogStack": []})
            await DialogContext(self._dialogs, context, state).cancel_all_dialogs()

    async def on_begin_dialog(self, inner_dc: DialogContext, options: Any) -> DialogTurnResult:
        if self.initial_dialog_id is None:
            raise ValueError(f"component dialog {self.id!r} has no dialogs")
        return await inner_dc.begin_dialog(self.initial_dialog_id, options)

    async def on_continue_dialog(self, inner_dc: DialogContext) -> DialogTurnResult:
        return await inner_dc.continue_dialog()

    async def end_component(self, outer_dc: DialogContext, result: Any) -> DialogTurnResult:
        return await outer_dc.end_dialog(result)
