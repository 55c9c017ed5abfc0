//! [`OAuthPrompt`]: botbuilder's `OAuthPrompt` as a [`Dialog`], to sign the
//! user in from a waterfall step. It ends with the user's
//! [`TokenResponse`] as its result (JSON, read with
//! `result_as::<TokenResponse>()`), or with no result when it timed out (or,
//! with `end_on_invalid_message`, when a message did not sign the user in).
//! The card and the recognition of the answer are the `oauth` module's
//! ([`send_oauth_card`], [`recognize_token`]), shared with its prompt
//! without dialogs; what the dialog waits for lives in its instance state,
//! in the dialog stack.
//!
//! ```ignore
//! const SIGN_IN: OAuthPromptSettings = OAuthPromptSettings::new("graph", "Sign in");
//!
//! dialogs.add(OAuthPrompt::new("oauth", SIGN_IN));
//! // a step:
//! step.prompt("oauth", PromptOptions::text("Please sign in").retry("Paste the 6-digit code"))
//! // the next step:
//! if let Some(token) = step.result_as::<TokenResponse>()? { … }
//! ```
//!
//! A sign-in invoke reaches the dialog only when the bot passes invokes to
//! the stack too (`on_invoke`: `dc.continue_dialog()`); its answer is set on
//! the turn context ([`TurnContext::set_invoke_response`]), which the SDK
//! returns to the host.

use serde_json::{Value, json};

use super::prompts::{
    PromptOptions, PromptRecognizerResult, PromptValidator, PromptValidatorContext,
};
use super::{Dialog, DialogContext, DialogTurnResult, result_as};
use crate::context::TurnContext;
use crate::error::Result;
use crate::factory::MessageFactory;
use crate::oauth::{
    OAuthPromptSettings, TokenResponse, UserTokenClient, now_ms, recognize_token, send_oauth_card,
};

/// The sign-in prompt as a dialog: register it in a `DialogSet` under its
/// id and begin it with `dc.prompt(id, options)` (`options.prompt` is the
/// card message's text, `options.retry_prompt` what an invalid message
/// gets).
pub struct OAuthPrompt {
    id: String,
    settings: OAuthPromptSettings,
    validator: Option<PromptValidator>,
}

impl OAuthPrompt {
    pub fn new(id: impl Into<String>, settings: OAuthPromptSettings) -> Self {
        OAuthPrompt {
            id: id.into(),
            settings,
            validator: None,
        }
    }

    /// Adds a validator: only tokens it accepts end the prompt (it sees
    /// the token as the recognized value, `value::<TokenResponse>()`).
    pub fn with_validator(
        mut self,
        validator: impl Fn(&PromptValidatorContext) -> Result<bool> + 'static,
    ) -> Self {
        self.validator = Some(Box::new(validator));
        self
    }

    /// The user's token now, if signed in.
    pub fn get_user_token(&self) -> Result<Option<TokenResponse>> {
        UserTokenClient::get_token(self.settings.connection_name, None)
    }

    /// Signs the user out of the prompt's connection (`signOutUser`).
    pub fn sign_out(&self) -> Result<()> {
        UserTokenClient::sign_out(Some(self.settings.connection_name))
    }
}

/// Whether the activity is one the prompt recognises (a message, a
/// `tokens/response` event, a `signin/verifyState` or
/// `signin/tokenExchange` invoke): only these end a prompt that timed out.
fn is_sign_in_answer(context: &TurnContext) -> bool {
    let activity = context.activity();
    let name = activity.name.as_deref().unwrap_or_default();
    matches!(
        (activity.type_.as_str(), name),
        ("message", _)
            | ("event", "tokens/response")
            | ("invoke", "signin/verifyState" | "signin/tokenExchange")
    )
}

impl Dialog for OAuthPrompt {
    fn id(&self) -> &str {
        &self.id
    }

    /// Records the options, the attempt count and when the prompt stops
    /// waiting; ends at once with the token when the user has one, else
    /// sends the card and waits.
    fn begin_dialog(
        &self,
        dc: &mut DialogContext,
        options: Option<Value>,
    ) -> Result<DialogTurnResult> {
        let options: PromptOptions = result_as(options.as_ref())?.unwrap_or_default();
        let expires = now_ms().saturating_add(self.settings.timeout_ms);
        if let Some(instance) = dc.active_dialog_mut() {
            let state = &mut instance.state;
            state.insert("options".into(), serde_json::to_value(&options)?);
            state.insert("attemptCount".into(), json!(0));
            state.insert("expires".into(), json!(expires));
        }
        if let Some(token) = self.get_user_token()? {
            return dc.end_dialog(Some(serde_json::to_value(token)?));
        }
        send_oauth_card(&self.settings, dc.context, options.prompt.as_deref())?;
        Ok(DialogTurnResult::end_of_turn())
    }

    /// Timed out: ends with no result. Else recognises the answer (and
    /// answers an invoke), ends with the token when there is one (and the
    /// validator accepts it); an invalid message ends the prompt with no
    /// result under `end_on_invalid_message`, else gets the retry prompt.
    fn continue_dialog(&self, dc: &mut DialogContext) -> Result<DialogTurnResult> {
        let context = dc.context;
        let Some(instance) = dc.active_dialog_mut() else {
            return Ok(DialogTurnResult::end_of_turn());
        };
        let expires = instance.state.get("expires").and_then(Value::as_u64);
        if is_sign_in_answer(context) && expires.is_none_or(|at| now_ms() > at) {
            return dc.end_dialog(None);
        }
        let options: PromptOptions = result_as(instance.state.get("options"))?.unwrap_or_default();
        let attempt_count = instance
            .state
            .get("attemptCount")
            .and_then(Value::as_u64)
            .unwrap_or(0)
            + 1;
        instance
            .state
            .insert("attemptCount".into(), json!(attempt_count));

        let recognized = recognize_token(&self.settings, context)?;
        if let Some(response) = recognized.invoke_response {
            context.set_invoke_response(response);
        }
        let recognized = match recognized.token {
            Some(token) => PromptRecognizerResult {
                succeeded: true,
                value: Some(serde_json::to_value(token)?),
            },
            None => PromptRecognizerResult::default(),
        };
        let valid = match &self.validator {
            Some(validator) => validator(&PromptValidatorContext {
                context,
                recognized: recognized.clone(),
                options: &options,
                attempt_count,
            })?,
            None => recognized.succeeded,
        };
        if valid {
            return dc.end_dialog(recognized.value);
        }
        let is_message = context.activity().type_ == "message";
        if is_message && self.settings.end_on_invalid_message {
            return dc.end_dialog(None);
        }
        if is_message
            && !context.responded()
            && let Some(retry) = options.retry_prompt
        {
            let mut retry = MessageFactory::text(retry);
            retry.input_hint = Some("acceptingInput".into());
            context.send(retry)?;
        }
        Ok(DialogTurnResult::end_of_turn())
    }
}
