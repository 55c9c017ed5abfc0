//! User sign-in, as botbuilder does it: [`UserTokenClient`] over the
//! `user-token` interface (the host calls the Bot Framework Token Service
//! for the turn's user), the sign-in card and the recognition of what comes
//! back ([`send_oauth_card`], [`recognize_token`]: a 6-digit magic code, a
//! `signin/verifyState` or `signin/tokenExchange` invoke, or a
//! `tokens/response` event), and [`OAuthPrompt`], the prompt without
//! dialogs built on them. The prompt as a dialog, for a `DialogSet`, is
//! [`dialogs::OAuthPrompt`](crate::dialogs::OAuthPrompt), built on the same
//! two functions. The connections a bot uses must be listed in its manifest
//! (`[oauth] connections`).
//!
//! ```ignore
//! const PROMPT: OAuthPrompt = OAuthPrompt::new("graph", "Sign in");
//!
//! fn on_message(&self, ctx: &TurnContext) -> Result<()> {
//!     match PROMPT.continue_prompt(ctx)?.status {
//!         PromptStatus::SignedIn(token) => { /* use token.token */ }
//!         PromptStatus::NotWaiting if ctx.text() == "login" => { PROMPT.begin(ctx)?; }
//!         _ => {}
//!     }
//!     Ok(())
//! }
//! ```

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::bindings::turnbox::bot::state::{self, Scope};
use crate::bindings::turnbox::bot::types::{Attachment, InvokeResponse};
use crate::bindings::turnbox::bot::user_token as raw;
pub use crate::bindings::turnbox::bot::user_token::{
    SignInResource, TokenExchangeResource, TokenResponse, TokenStatus,
};
use crate::context::TurnContext;
use crate::error::Result;
use crate::factory::CardFactory;

/// The Token Service, for the turn's user on the turn's channel
/// (botbuilder's `UserTokenClient`).
pub struct UserTokenClient;

impl UserTokenClient {
    /// The user's token, redeeming `magic_code` first when given; `None`
    /// when the user is not signed in (or the code is wrong or expired).
    pub fn get_token(connection: &str, magic_code: Option<&str>) -> Result<Option<TokenResponse>> {
        Ok(raw::get_token(connection, magic_code)?)
    }

    /// The sign-in link and SSO resources for a card.
    pub fn get_sign_in_resource(
        connection: &str,
        final_redirect: Option<&str>,
    ) -> Result<SignInResource> {
        Ok(raw::get_sign_in_resource(connection, final_redirect)?)
    }

    /// Signs the user out of `connection`, or of every connection the
    /// manifest lists.
    pub fn sign_out(connection: Option<&str>) -> Result<()> {
        Ok(raw::sign_out(connection)?)
    }

    /// Exchanges a channel's SSO token; `None` when the service cannot.
    pub fn exchange_token(connection: &str, token: &str) -> Result<Option<TokenResponse>> {
        Ok(raw::exchange_token(connection, token)?)
    }

    /// Microsoft Entra ID tokens for resources, by resource URL.
    pub fn get_aad_tokens(
        connection: &str,
        resource_urls: &[String],
    ) -> Result<Vec<(String, TokenResponse)>> {
        Ok(raw::get_aad_tokens(connection, resource_urls)?)
    }

    /// Which connections the user has a token for (`None`: all listed).
    pub fn get_token_status(connections: Option<&[String]>) -> Result<Vec<TokenStatus>> {
        Ok(raw::get_token_status(connections)?)
    }
}

/// How long a prompt waits by default: 15 minutes, as botbuilder's.
pub const DEFAULT_TIMEOUT_MS: u64 = 15 * 60 * 1000;

/// What the prompt shows and how long it waits (botbuilder's
/// `OAuthPromptSettings`), for this module's [`OAuthPrompt`] and the
/// dialog [`dialogs::OAuthPrompt`](crate::dialogs::OAuthPrompt) alike.
#[derive(Debug, Clone)]
pub struct OAuthPromptSettings {
    /// The OAuth connection, listed in the manifest.
    pub connection_name: &'static str,
    /// The sign-in button's title.
    pub title: &'static str,
    /// The card's text, if any.
    pub text: Option<&'static str>,
    /// How long the prompt waits for the user, in milliseconds.
    pub timeout_ms: u64,
    /// The dialog only: a message that does not sign the user in ends the
    /// dialog with no result, instead of asking again.
    pub end_on_invalid_message: bool,
}

impl OAuthPromptSettings {
    /// Settings for `connection_name` with a sign-in button titled `title`,
    /// no text, the default timeout, asking again on invalid messages.
    pub const fn new(connection_name: &'static str, title: &'static str) -> Self {
        OAuthPromptSettings {
            connection_name,
            title,
            text: None,
            timeout_ms: DEFAULT_TIMEOUT_MS,
            end_on_invalid_message: false,
        }
    }
}

/// A token as JSON, in botbuilder's `TokenResponse` shape
/// (`{connectionName, token, expiration, channelId}`): how the dialog's
/// result carries it, so a step reads it with `result_as::<TokenResponse>()`.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TokenResponseJson {
    connection_name: String,
    token: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expiration: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    channel_id: Option<String>,
}

impl Serialize for TokenResponse {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        TokenResponseJson {
            connection_name: self.connection_name.clone(),
            token: self.token.clone(),
            expiration: self.expiration.clone(),
            channel_id: self.channel_id.clone(),
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for TokenResponse {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let json = TokenResponseJson::deserialize(deserializer)?;
        Ok(TokenResponse {
            connection_name: json.connection_name,
            token: json.token,
            expiration: json.expiration,
            channel_id: json.channel_id,
        })
    }
}

/// Sends the sign-in card for `settings` (botbuilder's `SendOAuthCardAsync`):
/// an OAuthCard, or a SigninCard where the channel has no OAuthCard, in a
/// message whose text is `prompt` when given, accepting input.
pub fn send_oauth_card(
    settings: &OAuthPromptSettings,
    ctx: &TurnContext,
    prompt: Option<&str>,
) -> Result<()> {
    let resource = UserTokenClient::get_sign_in_resource(settings.connection_name, None)?;
    let channel = ctx.activity().channel_id.as_deref().unwrap_or_default();
    let mut message =
        crate::factory::MessageFactory::attachment(card(settings, channel, &resource));
    message.text = prompt.map(str::to_owned);
    message.input_hint = Some("acceptingInput".into());
    ctx.send(message)?;
    Ok(())
}

/// The OAuthCard, or a SigninCard where the channel has no OAuthCard.
fn card(settings: &OAuthPromptSettings, channel: &str, resource: &SignInResource) -> Attachment {
    let button = json!([{
        "type": "signin",
        "title": settings.title,
        "value": resource.sign_in_link,
    }]);
    if !channel_supports_oauth_card(channel) {
        let mut content = json!({ "buttons": button });
        if let Some(text) = settings.text {
            content["text"] = json!(text);
        }
        return CardFactory::card("application/vnd.microsoft.card.signin", &content);
    }
    let mut content = json!({
        "connectionName": settings.connection_name,
        "buttons": button,
    });
    if let Some(text) = settings.text {
        content["text"] = json!(text);
    }
    if let Some(x) = &resource.token_exchange_resource {
        content["tokenExchangeResource"] =
            json!({"id": x.id, "uri": x.uri, "providerId": x.provider_id});
    }
    if let Some(sas_url) = &resource.token_post_sas_url {
        content["tokenPostResource"] = json!({ "sasUrl": sas_url });
    }
    CardFactory::card("application/vnd.microsoft.card.oauth", &content)
}

/// What [`recognize_token`] made of a turn: the token, when it signed the
/// user in, and the answer the turn's invoke gets, when it was one.
#[derive(Debug, Clone, Default)]
pub struct RecognizedToken {
    pub token: Option<TokenResponse>,
    pub invoke_response: Option<InvokeResponse>,
}

/// Recognises the user's answer to the card (botbuilder's
/// `RecognizeTokenAsync`): a message with a 6-digit magic code,
/// `signin/verifyState` (200, or 404 for a wrong or expired code, 500 when
/// the call failed, as botbuilder answers), `signin/tokenExchange` (200, or
/// 412 when the token cannot be exchanged, 400 for a bad request), or a
/// `tokens/response` event (checked with the Token Service, never trusted
/// as sent).
pub fn recognize_token(
    settings: &OAuthPromptSettings,
    ctx: &TurnContext,
) -> Result<RecognizedToken> {
    let connection = settings.connection_name;
    let activity = ctx.activity();
    let name = activity.name.as_deref().unwrap_or_default();
    let token_only = |token| RecognizedToken {
        token,
        invoke_response: None,
    };
    match (activity.type_.as_str(), name) {
        ("message", _) => match magic_code(ctx.text()) {
            Some(code) => Ok(token_only(UserTokenClient::get_token(
                connection,
                Some(code),
            )?)),
            None => Ok(RecognizedToken::default()),
        },
        ("invoke", "signin/verifyState") => {
            let code = ctx
                .value::<Value>()?
                .and_then(|v| v.get("state").and_then(Value::as_str).map(str::to_owned));
            let token = match code {
                Some(code) => UserTokenClient::get_token(connection, Some(&code)),
                None => Ok(None),
            };
            let (token, status) = match token {
                Ok(Some(token)) => (Some(token), 200),
                Ok(None) => (None, 404),
                Err(_) => (None, 500),
            };
            Ok(RecognizedToken {
                token,
                invoke_response: Some(status_only(status)),
            })
        }
        ("invoke", "signin/tokenExchange") => exchange(settings, ctx),
        ("event", "tokens/response") => {
            Ok(token_only(UserTokenClient::get_token(connection, None)?))
        }
        _ => Ok(RecognizedToken::default()),
    }
}

/// `signin/tokenExchange`: as botbuilder's prompt answers it.
fn exchange(settings: &OAuthPromptSettings, ctx: &TurnContext) -> Result<RecognizedToken> {
    let connection = settings.connection_name;
    let value = ctx.value::<Value>()?.unwrap_or(Value::Null);
    let field = |name: &str| value.get(name).and_then(Value::as_str).unwrap_or_default();
    let (id, token) = (field("id"), field("token"));
    let answer = |token, response| RecognizedToken {
        token,
        invoke_response: Some(response),
    };
    if token.is_empty() {
        let body = json!(
            "The bot received an InvokeActivity that is missing a TokenExchangeInvokeRequest value."
        );
        return Ok(answer(None, InvokeResponse::new(400, &body)));
    }
    if field("connectionName") != connection {
        let body =
            json!("The TokenExchangeInvokeRequest names another ConnectionName than the prompt's.");
        return Ok(answer(None, InvokeResponse::new(400, &body)));
    }
    match UserTokenClient::exchange_token(connection, token) {
        Ok(Some(response)) => {
            let body = json!({"id": id, "connectionName": connection});
            Ok(answer(Some(response), InvokeResponse::ok(&body)))
        }
        Ok(None) | Err(_) => {
            let body = json!({
                "id": id,
                "connectionName": connection,
                "failureDetail": "The bot is unable to exchange token. Proceed with regular login.",
            });
            Ok(answer(None, InvokeResponse::new(412, &body)))
        }
    }
}

/// Where the prompt stands after a turn.
#[derive(Debug, Clone)]
pub enum PromptStatus {
    /// The user is signed in: the token.
    SignedIn(TokenResponse),
    /// The prompt waits for the user (the card is out).
    Waiting,
    /// No prompt of this connection is waiting in this conversation.
    NotWaiting,
    /// The prompt waited longer than its timeout and stopped waiting.
    TimedOut,
}

/// A prompt's turn: its status and, when it handled an invoke, the answer
/// to return from `on_invoke`.
#[derive(Debug, Clone)]
pub struct PromptTurn {
    pub status: PromptStatus,
    pub invoke_response: Option<InvokeResponse>,
}

/// The marker the prompt keeps in the user's private conversation state
/// while it waits: saved with the turn, so a turn re-run after a state
/// conflict sees it as it was.
#[derive(Debug, Serialize, Deserialize)]
struct Waiting {
    /// Milliseconds since the Unix epoch when the prompt stops waiting.
    expires_at_ms: u64,
}

/// botbuilder's `OAuthPrompt`, without dialogs: `begin` signs the user in
/// (at once when a token is there, else with a card), `continue_prompt`
/// recognises the answer on the turns after. Inside a `DialogSet`, use
/// [`dialogs::OAuthPrompt`](crate::dialogs::OAuthPrompt) instead.
#[derive(Debug, Clone)]
pub struct OAuthPrompt {
    pub settings: OAuthPromptSettings,
}

impl OAuthPrompt {
    /// A prompt for `connection_name` with a sign-in button titled `title`.
    pub const fn new(connection_name: &'static str, title: &'static str) -> Self {
        OAuthPrompt {
            settings: OAuthPromptSettings::new(connection_name, title),
        }
    }

    /// A prompt with these settings.
    pub const fn with_settings(settings: OAuthPromptSettings) -> Self {
        OAuthPrompt { settings }
    }

    fn state_key(&self) -> String {
        format!("turnbox.oauthPrompt.{}", self.settings.connection_name)
    }

    /// Starts signing in: `SignedIn` at once when the user has a token;
    /// else sends the sign-in card, records that the prompt waits, and
    /// returns `Waiting`.
    pub fn begin(&self, ctx: &TurnContext) -> Result<PromptStatus> {
        if let Some(token) = UserTokenClient::get_token(self.settings.connection_name, None)? {
            self.stop_waiting()?;
            return Ok(PromptStatus::SignedIn(token));
        }
        send_oauth_card(&self.settings, ctx, None)?;
        let waiting = Waiting {
            expires_at_ms: now_ms().saturating_add(self.settings.timeout_ms),
        };
        state::set(
            Scope::PrivateConversation,
            &self.state_key(),
            &serde_json::to_string(&waiting)?,
        )?;
        Ok(PromptStatus::Waiting)
    }

    /// Recognises the user's answer while the prompt waits, as
    /// [`recognize_token`] does. Signed in or timed out, the prompt stops
    /// waiting.
    pub fn continue_prompt(&self, ctx: &TurnContext) -> Result<PromptTurn> {
        let turn = |status, invoke_response| PromptTurn {
            status,
            invoke_response,
        };
        let waiting: Option<Waiting> =
            match state::get(Scope::PrivateConversation, &self.state_key())? {
                Some(json) => serde_json::from_str(&json).ok(),
                None => None,
            };
        let Some(waiting) = waiting else {
            return Ok(turn(PromptStatus::NotWaiting, None));
        };
        if now_ms() > waiting.expires_at_ms {
            self.stop_waiting()?;
            return Ok(turn(PromptStatus::TimedOut, None));
        }
        let recognized = recognize_token(&self.settings, ctx)?;
        match recognized.token {
            Some(token) => {
                self.stop_waiting()?;
                Ok(turn(
                    PromptStatus::SignedIn(token),
                    recognized.invoke_response,
                ))
            }
            None => Ok(turn(PromptStatus::Waiting, recognized.invoke_response)),
        }
    }

    /// Signs the user out of this prompt's connection, and stops waiting.
    pub fn sign_out(&self) -> Result<()> {
        self.stop_waiting()?;
        UserTokenClient::sign_out(Some(self.settings.connection_name))
    }

    fn stop_waiting(&self) -> Result<()> {
        Ok(state::delete(
            Scope::PrivateConversation,
            &self.state_key(),
        )?)
    }
}

/// An invoke response with a status and no body.
fn status_only(status: u16) -> InvokeResponse {
    InvokeResponse { status, body: None }
}

/// The first run of 6 digits in `text` (botbuilder's `/(\d{6})/`).
pub fn magic_code(text: &str) -> Option<&str> {
    let bytes = text.as_bytes();
    (0..bytes.len().saturating_sub(5))
        .find(|&i| bytes[i..i + 6].iter().all(u8::is_ascii_digit))
        .map(|i| &text[i..i + 6])
}

/// Whether the channel shows OAuthCards (botbuilder's
/// `channelSupportsOAuthCard`): all but Cortana, Skype and Skype for
/// Business, which get a SigninCard.
pub fn channel_supports_oauth_card(channel: &str) -> bool {
    !matches!(channel, "cortana" | "skype" | "skypeforbusiness")
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magic_codes_are_six_digits_anywhere() {
        assert_eq!(magic_code("123456"), Some("123456"));
        assert_eq!(magic_code("my code is 654321."), Some("654321"));
        assert_eq!(magic_code("12345"), None);
        assert_eq!(magic_code("12 34 56"), None);
        assert_eq!(magic_code(""), None);
        assert_eq!(magic_code("é1234567"), Some("123456"));
    }

    #[test]
    fn tokens_are_json_in_botbuilders_shape() {
        let token = TokenResponse {
            connection_name: "graph".into(),
            token: "secret".into(),
            expiration: Some("2030-01-01T00:00:00Z".into()),
            channel_id: None,
        };
        let json = serde_json::to_value(&token).unwrap();
        assert_eq!(
            json,
            json!({"connectionName": "graph", "token": "secret", "expiration": "2030-01-01T00:00:00Z"})
        );
        let back: TokenResponse = serde_json::from_value(json).unwrap();
        assert_eq!(back.connection_name, "graph");
        assert_eq!(back.token, "secret");
        assert_eq!(back.expiration.as_deref(), Some("2030-01-01T00:00:00Z"));
        assert_eq!(back.channel_id, None);
        assert!(serde_json::from_value::<TokenResponse>(json!({"token": "x"})).is_err());
    }

    #[test]
    fn settings_default_to_botbuilders() {
        let settings = OAuthPromptSettings::new("graph", "Sign in");
        assert_eq!(settings.timeout_ms, 15 * 60 * 1000);
        assert!(!settings.end_on_invalid_message);
        assert_eq!(settings.text, None);
    }

    #[test]
    fn skype_and_cortana_get_signin_cards() {
        assert!(channel_supports_oauth_card("msteams"));
        assert!(channel_supports_oauth_card("directline"));
        assert!(!channel_supports_oauth_card("skype"));
        assert!(!channel_supports_oauth_card("cortana"));
    }
}
