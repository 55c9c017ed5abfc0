//! The Bot Framework Token Service REST client (user sign-in): a user's
//! OAuth tokens leave the host here, and only here. It owns the routes
//! (`/api/usertoken/…`, `/api/botsignin/…`), the bot's bearer token on each
//! call, timeouts, retries on 429/5xx as the connector does, the mapping of
//! answers to results and errors. The service's types and the sign-in
//! `state` the host builds are in `types.rs`, a bot's view limited to the
//! connections its manifest lists in `bot.rs`. Tokens are never logged.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use url::Url;

use crate::channels::connector::{parse_error_body, parse_retry_after};
use crate::support::backoff;
use crate::support::errors::error_chain;

mod bot;
mod types;

pub use bot::BotTokenService;
pub use types::{
    SignInResource, TokenExchangeResource, TokenPostResource, TokenResponse, TokenStatus,
    sign_in_state,
};

/// Attempts after the first for a transient failure.
const MAX_RETRIES: usize = 3;
/// The longest `Retry-After` honoured inside a turn.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(2);

/// Why a call to the Token Service failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TokenServiceError {
    #[error("the OAuth connection `{0}` is not in the bot's manifest ([oauth] connections)")]
    ConnectionNotAllowed(String),
    #[error("{0}")]
    BadArgument(String),
    #[error("the Token Service answered {status}: {message}")]
    Status {
        status: u16,
        message: String,
        retry_after: Option<Duration>,
    },
    #[error("the Token Service could not be reached: {0}")]
    Unreachable(String),
    #[error("no token for the Token Service: {0}")]
    Token(String),
    #[error("the Token Service's answer is unreadable: {0}")]
    BadAnswer(String),
}

impl TokenServiceError {
    /// The machine-readable code handed to the bot (`call-error` in WIT).
    pub fn code(&self) -> &'static str {
        match self {
            TokenServiceError::ConnectionNotAllowed(_) => "ConnectionNotAllowed",
            TokenServiceError::BadArgument(_) => "BadArgument",
            TokenServiceError::Status { .. } | TokenServiceError::BadAnswer(_) => {
                "TokenServiceError"
            }
            TokenServiceError::Unreachable(_) => "Unreachable",
            TokenServiceError::Token(_) => "TokenError",
        }
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            TokenServiceError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    fn is_transient(&self) -> bool {
        match self {
            TokenServiceError::Unreachable(_) => true,
            TokenServiceError::Status { status, .. } => {
                matches!(*status, 429 | 500 | 502 | 503 | 504)
            }
            _ => false,
        }
    }
}

/// The Token Service client, shared by all turns.
pub struct TokenServiceClient {
    http: reqwest::Client,
    pub(super) base: Url,
    min_backoff: Duration,
}

/// Whose token: the user, the connection, the channel.
pub struct UserKey<'a> {
    pub user_id: &'a str,
    pub connection: &'a str,
    pub channel_id: &'a str,
}

impl TokenServiceClient {
    /// A client of the Token Service at `base_url` (e.g.
    /// `https://token.botframework.com`).
    pub fn new(base_url: &str, http: reqwest::Client) -> Result<Self, TokenServiceError> {
        let mut base = Url::parse(base_url).map_err(|e| {
            TokenServiceError::BadArgument(format!("the Token Service URL `{base_url}`: {e}"))
        })?;
        if !matches!(base.scheme(), "http" | "https") || base.host().is_none() {
            return Err(TokenServiceError::BadArgument(format!(
                "the Token Service URL `{base_url}` is not an http(s) URL with a host"
            )));
        }
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        Ok(TokenServiceClient {
            http,
            base,
            min_backoff: Duration::from_millis(200),
        })
    }

    /// `GET /api/usertoken/GetToken`: the user's token, redeeming a magic
    /// `code` when given; `None` when there is none (404).
    pub async fn get_token(
        &self,
        auth: Option<&str>,
        key: &UserKey<'_>,
        code: Option<&str>,
    ) -> Result<Option<TokenResponse>, TokenServiceError> {
        let mut query = user_query(key);
        if let Some(code) = code {
            query.push(("code", code));
        }
        let answer = self
            .call(Method::GET, "api/usertoken/GetToken", &query, None, auth)
            .await;
        match answer {
            Ok(value) => token_or_none(value),
            Err(TokenServiceError::Status { status: 404, .. }) => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// `POST /api/usertoken/GetAadTokens`: tokens for these resources, by
    /// resource URL.
    pub async fn get_aad_tokens(
        &self,
        auth: Option<&str>,
        key: &UserKey<'_>,
        resource_urls: &[String],
    ) -> Result<Vec<(String, TokenResponse)>, TokenServiceError> {
        let body = json!({ "resourceUrls": resource_urls });
        let value = self
            .call(
                Method::POST,
                "api/usertoken/GetAadTokens",
                &user_query(key),
                Some(&body),
                auth,
            )
            .await?;
        let map: std::collections::BTreeMap<String, TokenResponse> = parse(value)?;
        Ok(map.into_iter().collect())
    }

    /// `GET /api/usertoken/GetTokenStatus`: which connections the user has
    /// a token for; `include` is a comma-separated list of connections.
    pub async fn get_token_status(
        &self,
        auth: Option<&str>,
        user_id: &str,
        channel_id: &str,
        include: Option<&str>,
    ) -> Result<Vec<TokenStatus>, TokenServiceError> {
        let mut query = vec![("userId", user_id), ("channelId", channel_id)];
        if let Some(include) = include {
            query.push(("include", include));
        }
        let value = self
            .call(
                Method::GET,
                "api/usertoken/GetTokenStatus",
                &query,
                None,
                auth,
            )
            .await?;
        parse(value)
    }

    /// `DELETE /api/usertoken/SignOut`.
    pub async fn sign_out(
        &self,
        auth: Option<&str>,
        key: &UserKey<'_>,
    ) -> Result<(), TokenServiceError> {
        self.call(
            Method::DELETE,
            "api/usertoken/SignOut",
            &user_query(key),
            None,
            auth,
        )
        .await
        .map(|_| ())
    }

    /// `GET /api/botsignin/GetSignInResource`.
    pub async fn get_sign_in_resource(
        &self,
        auth: Option<&str>,
        state: &str,
        final_redirect: Option<&str>,
    ) -> Result<SignInResource, TokenServiceError> {
        let mut query = vec![("state", state)];
        if let Some(redirect) = final_redirect {
            query.push(("finalRedirect", redirect));
        }
        let value = self
            .call(
                Method::GET,
                "api/botsignin/GetSignInResource",
                &query,
                None,
                auth,
            )
            .await?;
        // Older services answer the bare link as a JSON string.
        if let Value::String(link) = value {
            return Ok(SignInResource {
                sign_in_link: link,
                ..Default::default()
            });
        }
        let resource: SignInResource = parse(value)?;
        if resource.sign_in_link.is_empty() {
            return Err(TokenServiceError::BadAnswer(
                "the sign-in resource has no signInLink".into(),
            ));
        }
        Ok(resource)
    }

    /// `POST /api/usertoken/exchange` with `{token}`: `None` when the
    /// service reports that it cannot exchange it (400, 404, 409, 412, or
    /// an answer without a token), e.g. because the user must consent.
    pub async fn exchange(
        &self,
        auth: Option<&str>,
        key: &UserKey<'_>,
        token: &str,
    ) -> Result<Option<TokenResponse>, TokenServiceError> {
        let body = json!({ "token": token });
        let answer = self
            .call(
                Method::POST,
                "api/usertoken/exchange",
                &user_query(key),
                Some(&body),
                auth,
            )
            .await;
        match answer {
            Ok(value) => token_or_none(value),
            Err(TokenServiceError::Status {
                status: 400 | 404 | 409 | 412,
                message,
                ..
            }) => {
                tracing::info!(reason = %message, "the Token Service could not exchange the token");
                Ok(None)
            }
            Err(err) => Err(err),
        }
    }

    /// One call with the bot's token, retries on transient failures, and
    /// the answer's JSON (`null` when empty).
    async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
        auth: Option<&str>,
    ) -> Result<Value, TokenServiceError> {
        let mut url = self
            .base
            .join(path)
            .map_err(|e| TokenServiceError::BadArgument(e.to_string()))?;
        url.query_pairs_mut().extend_pairs(query);
        let attempt = || async {
            let mut request = self.http.request(method.clone(), url.clone());
            if let Some(token) = auth {
                request = request.bearer_auth(token);
            }
            if let Some(body) = body {
                request = request.json(body);
            }
            let response = request
                .send()
                .await
                .map_err(|e| TokenServiceError::Unreachable(error_chain(&e)))?;
            read_answer(response).await
        };
        let policy = backoff::RetryPolicy {
            first: self.min_backoff,
            times: MAX_RETRIES,
            max_retry_after: MAX_RETRY_AFTER,
            transient: TokenServiceError::is_transient,
            retry_after: |err| match err {
                TokenServiceError::Status { retry_after, .. } => *retry_after,
                _ => None,
            },
            what: "a Token Service call",
        };
        backoff::with_retries(&policy, attempt).await
    }
}

fn user_query<'a>(key: &UserKey<'a>) -> Vec<(&'static str, &'a str)> {
    vec![
        ("userId", key.user_id),
        ("connectionName", key.connection),
        ("channelId", key.channel_id),
    ]
}

fn parse<T: serde::de::DeserializeOwned>(value: Value) -> Result<T, TokenServiceError> {
    serde_json::from_value(value).map_err(|e| TokenServiceError::BadAnswer(e.to_string()))
}

/// A `TokenResponse`, or `None` when the answer holds no token.
fn token_or_none(value: Value) -> Result<Option<TokenResponse>, TokenServiceError> {
    if value.is_null() {
        return Ok(None);
    }
    let token: TokenResponse = parse(value)?;
    Ok((!token.token.is_empty()).then_some(token))
}

/// A success as JSON (`null` when empty); an error status as
/// [`TokenServiceError::Status`] with the service's reason.
async fn read_answer(response: reqwest::Response) -> Result<Value, TokenServiceError> {
    let status = response.status();
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_retry_after);
    let body = response
        .bytes()
        .await
        .map_err(|e| TokenServiceError::Unreachable(error_chain(&e)))?;
    answer_of(status, &body, retry_after)
}

fn answer_of(
    status: StatusCode,
    body: &[u8],
    retry_after: Option<Duration>,
) -> Result<Value, TokenServiceError> {
    if status.is_success() {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Value::Null);
        }
        return serde_json::from_slice(body)
            .map_err(|e| TokenServiceError::BadAnswer(e.to_string()));
    }
    let (code, message) = parse_error_body(status, body);
    let message = if code.is_empty() || code == message {
        message
    } else {
        format!("{code}: {message}")
    };
    Err(TokenServiceError::Status {
        status: status.as_u16(),
        message,
        retry_after,
    })
}

#[cfg(test)]
mod tests;
