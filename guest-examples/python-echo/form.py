"""The dialog scenario of guest-examples/README.md: the `form` component
dialog (name, age, confirmation; `cancel` at any step), on the SDK's
turnbox_dialogs and turnbox_prompts, its stack in conversation state."""

import turnbox
from turnbox_dialogs import ComponentDialog, DialogSet, DialogTurnStatus, WaterfallDialog
from turnbox_prompts import ConfirmPrompt, ListStyle, NumberPrompt, PromptOptions, TextPrompt

DIALOG_STATE = turnbox.ConversationState.create_property("dialogState")

AGE_RETRY = "Please enter your age as a number between 0 and 150."


def valid_age(prompt_context):
    """A whole number from 0 to 150."""
    value = prompt_context.recognized.value
    return prompt_context.recognized.succeeded and isinstance(value, int) and 0 <= value <= 150


async def ask_name(step):
    return await step.prompt("name", PromptOptions(prompt="What is your name?"))


async def ask_age(step):
    step.values["name"] = step.result
    return await step.prompt("age", PromptOptions(prompt="How old are you?", retry_prompt=AGE_RETRY))


async def ask_confirmation(step):
    step.values["age"] = step.result
    return await step.prompt("confirm", PromptOptions(
        prompt=f"Is this right: {step.values['name']}, {step.result}?"))


async def finish(step):
    if step.result:
        step.context.send_activity(f"Saved: {step.values['name']}, {step.values['age']}.")
    else:
        step.context.send_activity("Not saved.")
    return await step.end_dialog()


class FormDialog(ComponentDialog):
    """Name, age and a confirmation; `cancel` ends it at any step (the
    interruption botbuilder's samples put in `on_continue_dialog`)."""

    def __init__(self):
        super().__init__("form")
        self.add_dialog(WaterfallDialog("form-steps", [ask_name, ask_age, ask_confirmation, finish]))
        self.add_dialog(TextPrompt("name"))
        self.add_dialog(NumberPrompt("age", valid_age))
        self.add_dialog(ConfirmPrompt("confirm", style=ListStyle.suggested_action))

    async def on_continue_dialog(self, inner_dc):
        if (inner_dc.context.activity.text or "").strip().lower() == "cancel":
            inner_dc.context.send_activity("Cancelled.")
            return await inner_dc.cancel_all_dialogs()
        return await super().on_continue_dialog(inner_dc)


async def run_form(ctx):
    """Gives the message to the form while it runs, or starts it on
    `form`; False when the message is not the form's."""
    dialogs = DialogSet(DIALOG_STATE)
    dialogs.add(FormDialog())
    dc = await dialogs.create_context(ctx)
    result = await dc.continue_dialog()
    if result.status != DialogTurnStatus.Empty:
        return True
    if (ctx.activity.text or "").strip() == "form":
        await dc.begin_dialog("form")
        return True
    return False
