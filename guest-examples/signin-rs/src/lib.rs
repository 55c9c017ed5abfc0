//! A bot that signs its users in through the Bot Framework Token Service
//! (`[oauth] connections = ["graph"]` in its manifest): "login" signs the
//! user in (at once when signed in already, else with an OAuthCard whose
//! magic code, verifyState or SSO token exchange comes back on a later
//! turn), "logout" signs out, "status" lists the connections, "aad URL"
//! asks for a Microsoft Entra ID token for a resource. It shows
//! only a token's last four characters. "profile" signs in from a waterfall
//! with the dialog form of the prompt instead (`profile.rs`); while that
//! dialog runs, every turn goes to it.

use serde_json::Value;
use turnbox_guest::{
    ActivityHandler, InvokeResponse, OAuthPrompt, PromptStatus, PromptTurn, Result, TurnContext,
    UserTokenClient,
};

mod profile;

/// The connection the bot signs users in with (its manifest lists it).
const CONNECTION: &str = "graph";

const PROMPT: OAuthPrompt = OAuthPrompt::new(CONNECTION, "Sign in");

#[derive(Default)]
struct SignInBot;

/// The last four characters of a token: enough to tell tokens apart.
pub(crate) fn tail(token: &str) -> String {
    let chars: Vec<char> = token.chars().collect();
    chars[chars.len().saturating_sub(4)..].iter().collect()
}

fn signed_in(ctx: &TurnContext, token: &str) -> Result<()> {
    ctx.send_text(format!(
        "You are signed in; your token ends in {}",
        tail(token)
    ))?;
    Ok(())
}

impl SignInBot {
    /// What the prompt recognised on this turn, said to the user.
    fn after_prompt(&self, ctx: &TurnContext, turn: &PromptTurn) -> Result<()> {
        match &turn.status {
            PromptStatus::SignedIn(token) => signed_in(ctx, &token.token),
            PromptStatus::TimedOut => {
                ctx.send_text("The sign-in timed out; say \"login\" to try again.")?;
                Ok(())
            }
            PromptStatus::Waiting | PromptStatus::NotWaiting => Ok(()),
        }
    }
}

impl ActivityHandler for SignInBot {
    fn on_message(&self, ctx: &TurnContext) -> Result<()> {
        if profile::continue_dialog(ctx)? {
            return Ok(());
        }
        match ctx.text().trim().to_lowercase().as_str() {
            "profile" => profile::begin(ctx, "oauth"),
            "profile quick" => profile::begin(ctx, "oauth-quick"),
            "profile strict" => profile::begin(ctx, "oauth-strict"),
            "login" => match PROMPT.begin(ctx)? {
                PromptStatus::SignedIn(token) => signed_in(ctx, &token.token),
                _ => Ok(()),
            },
            "logout" => {
                PROMPT.sign_out()?;
                ctx.send_text("You are signed out.")?;
                Ok(())
            }
            "status" => {
                let statuses = UserTokenClient::get_token_status(None)?;
                let listed: Vec<String> = statuses
                    .iter()
                    .map(|s| format!("{}={}", s.connection_name, s.has_token))
                    .collect();
                ctx.send_text(format!("status: {}", listed.join(", ")))?;
                Ok(())
            }
            other if other.starts_with("aad ") => {
                // The URL as written: only the command is lower-cased.
                let url = ctx.text().trim().get(4..).unwrap_or("").trim().to_owned();
                let tokens = UserTokenClient::get_aad_tokens("graph", &[url])?;
                let listed: Vec<String> = tokens
                    .iter()
                    .map(|(url, t)| format!("{url} ends in {}", tail(&t.token)))
                    .collect();
                let listed = if listed.is_empty() {
                    "none".to_owned()
                } else {
                    listed.join(", ")
                };
                ctx.send_text(format!("aad: {listed}"))?;
                Ok(())
            }
            other if other.starts_with("token ") => {
                // Ask for any connection: the manifest decides.
                let connection = other.trim_start_matches("token ").trim();
                match UserTokenClient::get_token(connection, None) {
                    Ok(Some(token)) => signed_in(ctx, &token.token),
                    Ok(None) => ctx.send_text("not signed in").map(|_| ()),
                    Err(err) => ctx
                        .send_text(format!("error: {}", err_code(&err)))
                        .map(|_| ()),
                }
            }
            _ => {
                let turn = PROMPT.continue_prompt(ctx)?;
                if matches!(turn.status, PromptStatus::NotWaiting) {
                    ctx.send_text("Say \"login\" to sign in, \"logout\" to sign out.")?;
                    return Ok(());
                }
                self.after_prompt(ctx, &turn)
            }
        }
    }

    fn on_event(&self, ctx: &TurnContext, _name: &str, _value: Option<Value>) -> Result<()> {
        if profile::continue_dialog(ctx)? {
            return Ok(());
        }
        let turn = PROMPT.continue_prompt(ctx)?;
        self.after_prompt(ctx, &turn)
    }

    fn on_invoke(
        &self,
        ctx: &TurnContext,
        _name: &str,
        _value: Option<Value>,
    ) -> Result<Option<InvokeResponse>> {
        // The dialog's answer is set on the context.
        if profile::continue_dialog(ctx)? {
            return Ok(None);
        }
        let turn = PROMPT.continue_prompt(ctx)?;
        self.after_prompt(ctx, &turn)?;
        Ok(turn.invoke_response)
    }
}

/// The call error's code, for the reply.
fn err_code(err: &turnbox_guest::Error) -> String {
    match err {
        turnbox_guest::Error::Call(e) => e.code.clone(),
        other => other.to_string(),
    }
}

turnbox_guest::export_bot!(SignInBot);
