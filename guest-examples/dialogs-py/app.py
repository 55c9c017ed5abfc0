"""A test bot for the Python SDK's dialogs: botbuilder-dotnet's dialog
tests (tests/Microsoft.Bot.Builder.Dialogs.Tests), one per transcript in
tests/fixtures/dialogs/, rebuilt on turnbox_dialogs and turnbox_prompts.
The manifest's `[config] scenario` names the transcript to play
(`Waterfall`, `NumberPrompt`, ...); tests/e2e/dialogs_python.rs replays
each with `turnbox test`.
"""

import turnbox
from turnbox_dialogs import DialogSet, DialogTurnStatus, WaterfallDialog
from turnbox_prompts import (AttachmentPrompt, ChoicePrompt, ConfirmPrompt, DateTimePrompt,
                             ListStyle, NumberPrompt, PromptOptions, TextPrompt, attachment_content)

DIALOG_STATE = turnbox.ConversationState.create_property("dialogState")


def say(text):
    """A step that sends `text` and waits for the user."""
    async def step(sc):
        sc.context.send_activity(text)
        return WaterfallDialog.end_of_turn
    return step


def waterfall(dialogs):
    dialogs.add(WaterfallDialog("test", [say("step1"), say("step2"), say("step3")]))
    return "test", None


def waterfall_nested(dialogs):
    async def start_b(sc):
        sc.context.send_activity("step1")
        return await sc.begin_dialog("test-waterfall-b")

    async def start_c(sc):
        sc.context.send_activity("step2")
        return await sc.begin_dialog("test-waterfall-c")

    dialogs.add(WaterfallDialog("test-waterfall-a", [start_b, start_c]))
    dialogs.add(WaterfallDialog("test-waterfall-b", [say("step1.1"), say("step1.2")]))
    dialogs.add(WaterfallDialog("test-waterfall-c", [say("step2.1"), say("step2.2")]))
    return "test-waterfall-a", None


def waterfall_prompt(dialogs):
    def ask(label):
        async def step(sc):
            if sc.result is not None:
                sc.context.send_activity(f"Thanks for '{sc.result}'")
            sc.context.send_activity(label)
            if label == "step3":
                return await sc.end_dialog()
            return await sc.prompt("number", PromptOptions(
                prompt="Enter a number.", retry_prompt="It must be a number"))
        return step

    dialogs.add(WaterfallDialog("test-waterfall", [ask("step1"), ask("step2"), ask("step3")]))
    dialogs.add(NumberPrompt("number", default_locale="en-US"))
    return "test-waterfall", None


def prompt_test(prompt, options, report):
    """One prompt asked each time the stack is empty, its result reported
    when it completes (the shape of every dotnet prompt test)."""
    def setup(dialogs):
        dialogs.add(prompt)
        return prompt.id, options
    setup.report = report
    return setup


def positive_under_100(pc):
    return pc.recognized.succeeded and 0 < pc.recognized.value < 100


def longer_than_three(pc):
    if pc.recognized.succeeded and len(pc.recognized.value) > 3:
        return True
    pc.context.send_activity("Make sure the text is greater than three characters.")
    return False


SCENARIOS = {
    "Waterfall": waterfall,
    "WaterfallNested": waterfall_nested,
    "WaterfallPrompt": waterfall_prompt,
    "TextPrompt": prompt_test(
        TextPrompt("TextPrompt", longer_than_three), PromptOptions(prompt="Enter some text."),
        lambda r: f"Bot received the text '{r}'."),
    "NumberPrompt": prompt_test(
        NumberPrompt("NumberPrompt", positive_under_100, "en-US"),
        PromptOptions(prompt="Enter a number.",
                      retry_prompt="You must enter a valid positive number less than 100."),
        lambda r: f"Bot received the number '{r}'."),
    "ChoicePrompt": prompt_test(
        ChoicePrompt("ChoicePrompt", default_locale="en-US"),
        PromptOptions(prompt="favorite color?", choices=["red", "green", "blue"],
                      retry_prompt="I didn't catch that. Select a color from the list."),
        lambda r: f"Bot received the choice '{r.value}'."),
    "ConfirmPrompt": prompt_test(
        ConfirmPrompt("ConfirmPrompt", default_locale="en-US", style=ListStyle.none),
        PromptOptions(prompt="Please confirm.",
                      retry_prompt="Please confirm, say 'yes' or 'no' or something like that."),
        lambda r: "Confirmed." if r else "Not confirmed."),
    "DateTimePrompt": prompt_test(
        DateTimePrompt("DateTimePrompt", default_locale="en-US"),
        PromptOptions(prompt="What date would you like?",
                      retry_prompt="Sorry, but that is not a date. What date would you like?"),
        lambda r: f"Timex:'{r[0].timex}' Value:'{r[0].value}'"),
    "AttachmentPrompt": prompt_test(
        AttachmentPrompt("AttachmentPrompt"), PromptOptions(prompt="please add an attachment."),
        lambda r: attachment_content(r[0])),
}


class DialogsBot(turnbox.ActivityHandler):
    async def on_message(self, ctx):
        name = turnbox.config("scenario") or ""
        setup = SCENARIOS.get(name)
        if setup is None:
            ctx.send_activity(f"unknown scenario {name!r}: set [config] scenario to one of "
                              + ", ".join(sorted(SCENARIOS)))
            return
        dialogs = DialogSet(DIALOG_STATE)
        first, options = setup(dialogs)
        dc = await dialogs.create_context(ctx)
        result = await dc.continue_dialog()
        if result.status == DialogTurnStatus.Empty:
            await dc.begin_dialog(first, options)
        elif result.status == DialogTurnStatus.Complete and hasattr(setup, "report"):
            ctx.send_activity(setup.report(result.result))


Handler = turnbox.export(DialogsBot)
