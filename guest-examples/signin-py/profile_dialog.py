"""The profile dialog of signin-py, as signin-rs's profile.rs: signing in
from a waterfall with turnbox_prompts.OAuthPrompt. "profile" begins it: the
prompt sends the card (a magic code, `signin/verifyState` or
`signin/tokenExchange` answers it; another message gets the retry prompt),
then the bot says whose token it got and asks "Show your token?"; yes
begins the prompt again, which ends at once with the token, and the bot
shows its tail and expiry. "profile quick" signs in with a prompt that
waits one second, "profile strict" with one that ends on a message that
does not sign in. "logout" while the dialog runs signs out through the
prompt and cancels the dialog.
"""

import dataclasses

import turnbox
from turnbox_dialogs import DialogSet, WaterfallDialog
from turnbox_oauth import OAuthPromptSettings
from turnbox_prompts import ConfirmPrompt, ListStyle, OAuthPrompt, PromptOptions

DIALOG_STATE = turnbox.ConversationState.create_property("dialogState")

SIGN_IN = OAuthPromptSettings(connection_name="graph", title="Sign in")
"""The sign-in prompt's settings: 15 minutes to sign in, retry on invalid
messages."""

OAUTH = OAuthPrompt("oauth", SIGN_IN)


async def sign_in(step):
    """Signs in with the prompt the options name."""
    return await step.prompt((step.options or {}).get("prompt", "oauth"), PromptOptions(
        prompt="Please sign in to see your profile.",
        retry_prompt="That is not a valid code; paste the 6-digit code from the sign-in page."))


async def signed_in(step):
    """The prompt's result: the token, or None (timed out, or given up)."""
    token = step.result
    if token is None:
        step.context.send_activity("Sign-in did not complete.")
        return await step.end_dialog()
    step.context.send_activity(f"Signed in to {token.connection_name}; your token ends in {token.token[-4:]}")
    return await step.prompt("confirm", PromptOptions(prompt="Show your token?"))


async def show_token(step):
    if step.result is True:
        # Signed in: the prompt ends at once with the token, without a card.
        return await step.begin_dialog("oauth")
    step.context.send_activity("OK, not showing it.")
    return await step.end_dialog()


async def shown(step):
    token = step.result
    if token is not None:
        step.context.send_activity(
            f"Your token ends in {token.token[-4:]}; it expires {token.expiration or 'never'}")
    return await step.end_dialog()


def dialogs():
    return (DialogSet(DIALOG_STATE)
            .add(OAUTH)
            .add(OAuthPrompt("oauth-quick", dataclasses.replace(SIGN_IN, timeout=1000)))
            .add(OAuthPrompt("oauth-strict", dataclasses.replace(SIGN_IN, end_on_invalid_message=True)))
            .add(ConfirmPrompt("confirm", style=ListStyle.none))
            .add(WaterfallDialog("profile", [sign_in, signed_in, show_token, shown])))


async def begin(ctx, prompt):
    """Begins the profile dialog, signing in with the prompt `prompt`."""
    dc = await dialogs().create_context(ctx)
    await dc.begin_dialog("profile", {"prompt": prompt})


async def continue_dialog(ctx):
    """Passes the turn (a message, event or invoke) to the running dialog:
    whether one ran. An invoke's answer is on `ctx`."""
    dc = await dialogs().create_context(ctx)
    if dc.active_dialog is None:
        return False
    activity = ctx.activity
    if activity.type == "message" and (activity.text or "").strip().lower() == "logout":
        OAUTH.sign_out_user(ctx)
        await dc.cancel_all_dialogs()
        ctx.send_activity("You are signed out.")
        return True
    await dc.continue_dialog()
    return True
