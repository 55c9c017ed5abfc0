//! The profile dialog: signing in from a waterfall with the SDK's
//! `dialogs::OAuthPrompt`. "profile" begins it: the prompt sends the card
//! (a magic code, `signin/verifyState` or `signin/tokenExchange` answers
//! it; another message gets the retry prompt), then the bot says whose
//! token it got and asks "Show your token?"; yes begins the prompt again,
//! which ends at once with the token, and the bot shows its tail and
//! expiry. "profile quick" signs in with a prompt that waits one second,
//! "profile strict" with one that ends on a message that does not sign in.
//! "logout" while the dialog runs signs out through the prompt and cancels
//! the dialog.

use serde_json::json;
use turnbox_guest::dialogs::{
    ConfirmPrompt, DialogSet, DialogState, DialogTurnResult, ListStyle, OAuthPrompt,
    OAuthPromptSettings, PromptOptions, TokenResponse, WaterfallDialog, WaterfallStepContext,
};
use turnbox_guest::{Result, StateProperty, TurnContext};

use crate::{CONNECTION, tail};

const DIALOG_STATE: StateProperty<DialogState> = StateProperty::conversation("dialogState");

/// The sign-in prompt's settings: 15 minutes to sign in, retry on invalid
/// messages.
const SIGN_IN: OAuthPromptSettings = OAuthPromptSettings::new(CONNECTION, "Sign in");

fn dialogs() -> DialogSet {
    let mut set = DialogSet::new(DIALOG_STATE);
    set.add(OAuthPrompt::new("oauth", SIGN_IN));
    set.add(OAuthPrompt::new(
        "oauth-quick",
        OAuthPromptSettings {
            timeout_ms: 1000,
            ..SIGN_IN
        },
    ));
    set.add(OAuthPrompt::new(
        "oauth-strict",
        OAuthPromptSettings {
            end_on_invalid_message: true,
            ..SIGN_IN
        },
    ));
    set.add(ConfirmPrompt::new("confirm").with_style(ListStyle::None));
    set.add(
        WaterfallDialog::new("profile", vec![])
            .add_step(sign_in)
            .add_step(signed_in)
            .add_step(show_token)
            .add_step(shown),
    );
    set
}

/// Signs in with the prompt the options name.
fn sign_in(step: &mut WaterfallStepContext) -> Result<DialogTurnResult> {
    let prompt = step.options["prompt"]
        .as_str()
        .unwrap_or("oauth")
        .to_owned();
    step.prompt(
        &prompt,
        PromptOptions::text("Please sign in to see your profile.")
            .retry("That is not a valid code; paste the 6-digit code from the sign-in page."),
    )
}

/// The prompt's result: the token, or none (timed out, or given up).
fn signed_in(step: &mut WaterfallStepContext) -> Result<DialogTurnResult> {
    let Some(token) = step.result_as::<TokenResponse>()? else {
        step.context.send_text("Sign-in did not complete.")?;
        return step.end_dialog(None);
    };
    step.context.send_text(format!(
        "Signed in to {}; your token ends in {}",
        token.connection_name,
        tail(&token.token)
    ))?;
    step.prompt("confirm", PromptOptions::text("Show your token?"))
}

fn show_token(step: &mut WaterfallStepContext) -> Result<DialogTurnResult> {
    if step.result_as::<bool>()? == Some(true) {
        // Signed in: the prompt ends at once with the token, without a card.
        return step.begin_dialog("oauth", None);
    }
    step.context.send_text("OK, not showing it.")?;
    step.end_dialog(None)
}

fn shown(step: &mut WaterfallStepContext) -> Result<DialogTurnResult> {
    if let Some(token) = step.result_as::<TokenResponse>()? {
        let expires = token.expiration.as_deref().unwrap_or("never");
        step.context.send_text(format!(
            "Your token ends in {}; it expires {expires}",
            tail(&token.token)
        ))?;
    }
    step.end_dialog(None)
}

/// Begins the profile dialog, signing in with the prompt `prompt`.
pub fn begin(ctx: &TurnContext, prompt: &str) -> Result<()> {
    let set = dialogs();
    let mut dc = set.create_context(ctx)?;
    dc.begin_dialog("profile", Some(json!({ "prompt": prompt })))?;
    Ok(())
}

/// Passes the turn (a message, event or invoke) to the running dialog:
/// whether one ran. An invoke's answer is on `ctx`.
pub fn continue_dialog(ctx: &TurnContext) -> Result<bool> {
    let set = dialogs();
    let mut dc = set.create_context(ctx)?;
    if dc.active_dialog().is_none() {
        return Ok(false);
    }
    let activity = ctx.activity();
    if activity.type_ == "message" && ctx.text().trim().eq_ignore_ascii_case("logout") {
        OAuthPrompt::new("oauth", SIGN_IN).sign_out()?;
        dc.cancel_all_dialogs()?;
        ctx.send_text("You are signed out.")?;
        return Ok(true);
    }
    dc.continue_dialog()?;
    Ok(true)
}
