"""signin-py: signin-rs's bot on the Python SDK (turnbox_oauth). It signs its
users in through the Bot Framework Token Service (`[oauth] connections =
["graph"]` in its manifest): "login" signs the user in (at once when signed
in already, else with an OAuthCard whose magic code, verifyState or SSO
token exchange comes back on a later turn), "logout" signs out, "status"
lists the connections, "aad URL" asks for a Microsoft Entra ID token for a
resource, "token <connection>" asks for any connection (the
manifest decides). It shows only a token's last four characters.
"profile" signs in from a waterfall with the dialog form of the prompt
instead (profile_dialog.py); while that dialog runs, every turn goes to it.
tests/e2e/signin.rs and oauth_dialog.rs run it.
"""

import profile_dialog
import turnbox
from turnbox_oauth import OAuthPrompt, OAuthPromptSettings, PromptStatus, UserTokenClient

CONNECTION = "graph"
"""The connection the bot signs users in with (its manifest lists it)."""

PROMPT = OAuthPrompt(OAuthPromptSettings(connection_name=CONNECTION, title="Sign in"))


def signed_in(ctx, token):
    ctx.send_activity(f"You are signed in; your token ends in {token.token[-4:]}")


def after_prompt(ctx, turn):
    """What the prompt recognised on this turn, said to the user."""
    if turn.status is PromptStatus.SIGNED_IN:
        signed_in(ctx, turn.token)
    elif turn.status is PromptStatus.TIMED_OUT:
        ctx.send_activity('The sign-in timed out; say "login" to try again.')


PROFILES = {"profile": "oauth", "profile quick": "oauth-quick", "profile strict": "oauth-strict"}
"""The profile commands and the sign-in prompt each begins with."""


class SignInBot(turnbox.ActivityHandler):
    async def on_message(self, ctx):
        if await profile_dialog.continue_dialog(ctx):
            return
        text = (ctx.activity.text or "").strip().lower()
        if text in PROFILES:
            await profile_dialog.begin(ctx, PROFILES[text])
        elif text == "login":
            turn = PROMPT.begin(ctx)
            if turn.status is PromptStatus.SIGNED_IN:
                signed_in(ctx, turn.token)
        elif text == "logout":
            PROMPT.sign_out_user(ctx)
            ctx.send_activity("You are signed out.")
        elif text == "status":
            listed = [f"{s.connection_name}={'true' if s.has_token else 'false'}"
                      for s in UserTokenClient.get_token_status()]
            ctx.send_activity(f"status: {', '.join(listed)}")
        elif text.startswith("aad "):
            # The URL as written: only the command is lower-cased.
            url = (ctx.activity.text or "").strip()[len("aad "):].strip()
            tokens = UserTokenClient.get_aad_tokens("graph", [url])
            listed = [f"{url} ends in {t.token[-4:]}" for url, t in tokens.items()]
            ctx.send_activity(f"aad: {', '.join(listed) if listed else 'none'}")
        elif text.startswith("token "):
            try:
                token = UserTokenClient.get_user_token(text[len("token "):].strip())
            except turnbox.TurnboxError as e:
                ctx.send_activity(f"error: {e.code}")
                return
            if token is not None:
                signed_in(ctx, token)
            else:
                ctx.send_activity("not signed in")
        else:
            turn = PROMPT.continue_prompt(ctx)
            if turn.status is PromptStatus.NOT_WAITING:
                ctx.send_activity('Say "login" to sign in, "logout" to sign out.')
            else:
                after_prompt(ctx, turn)

    async def on_event(self, ctx, name, value):
        if await profile_dialog.continue_dialog(ctx):
            return
        after_prompt(ctx, PROMPT.continue_prompt(ctx))

    async def on_invoke(self, ctx, name, value):
        # The dialog's answer is set on the context.
        if await profile_dialog.continue_dialog(ctx):
            return None
        turn = PROMPT.continue_prompt(ctx)
        after_prompt(ctx, turn)
        return turn.invoke_response


Handler = turnbox.export(SignInBot)
