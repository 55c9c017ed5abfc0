//! The Bot Connector REST client (API v3): what bots send leaves the host
//! here, to service URLs the policy allows (`service_urls.rs`). It owns the
//! seam for outbound tokens, timeouts, and retries with backoff.

use std::sync::Arc;
use std::time::Duration;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use url::Url;

use super::service_urls::ServiceUrlPolicy;
use crate::schema::activity::Activity;
use crate::support::backoff;
use crate::support::errors::{BoxFuture, error_chain};

/// Characters left as they are in a path segment: those JavaScript's
/// `encodeURIComponent` leaves, as the botbuilder connector clients do.
pub(super) const PATH_SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'!')
    .remove(b'~')
    .remove(b'*')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')');

/// Timeout for establishing a connection to the Bot Connector.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Timeout for one request to the Bot Connector, connection included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// Attempts after the first for a transient failure.
const MAX_RETRIES: usize = 3;
/// The longest `Retry-After` the client honours inside a turn.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(2);

/// Supplies the bearer token for calls to a Bot Connector. Authentication
/// (client credentials against Microsoft Entra ID) plugs in here.
pub trait TokenProvider: Send + Sync {
    fn token<'a>(&'a self, service_url: &'a Url) -> BoxFuture<'a, Result<Option<String>, String>>;
}

/// How a turn's calls to the Bot Connector are authorised.
#[derive(Clone)]
pub enum Outbound {
    /// Dev mode (the bot has no app id): no token, and only service URLs on
    /// the allowlist are contacted.
    Dev,
    /// The inbound activity was authenticated, so its service URL is
    /// trusted: calls carry the bot's token.
    Authenticated(Arc<dyn TokenProvider>),
    /// The host's own built-in channel (Direct Line): the service URL is
    /// this host's, made by it; no token.
    Internal,
}

/// Why a call to the Bot Connector failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ConnectorError {
    #[error("the service URL {0} is not on the allowlist; the host did not contact it")]
    NotAllowed(String),
    #[error("the activity cannot be sent: {0}")]
    BadArgument(String),
    #[error("the Bot Connector answered {status}: {code}: {message}")]
    Status {
        status: u16,
        code: String,
        message: String,
        retry_after: Option<Duration>,
    },
    #[error("the Bot Connector could not be reached: {0}")]
    Unreachable(String),
    #[error("no outbound token: {0}")]
    Token(String),
}

impl ConnectorError {
    /// The machine-readable code handed to the bot (see `call-error` in WIT).
    pub fn code(&self) -> &str {
        match self {
            ConnectorError::NotAllowed(_) => "ServiceUrlNotAllowed",
            ConnectorError::BadArgument(_) => "BadArgument",
            ConnectorError::Status { code, .. } if !code.is_empty() => code,
            ConnectorError::Status { .. } => "ConnectorError",
            ConnectorError::Unreachable(_) => "Unreachable",
            ConnectorError::Token(_) => "TokenError",
        }
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            ConnectorError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    pub fn is_transient(&self) -> bool {
        match self {
            ConnectorError::Unreachable(_) => true,
            ConnectorError::Status { status, .. } => {
                matches!(*status, 429 | 500 | 502 | 503 | 504)
            }
            _ => false,
        }
    }
}

/// `ResourceResponse`: what the connector answers to a send or an update.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct ResourceResponse {
    #[serde(default)]
    pub id: String,
}

/// The Bot Connector client, shared by all turns.
pub struct ConnectorClient {
    http: reqwest::Client,
    policy: ServiceUrlPolicy,
    min_backoff: Duration,
}

/// The HTTP client for calls that leave the host (connector, token and key
/// endpoints): rustls, timeouts, our user agent.
pub fn http_client() -> Result<reqwest::Client, ConnectorError> {
    reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(REQUEST_TIMEOUT)
        .user_agent(concat!("turnbox/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| ConnectorError::Unreachable(format!("cannot build the HTTP client: {e}")))
}

impl ConnectorClient {
    pub fn new(policy: ServiceUrlPolicy, http: reqwest::Client) -> Self {
        ConnectorClient {
            http,
            policy,
            min_backoff: Duration::from_millis(200),
        }
    }

    /// Sends an activity: `POST …/activities/{replyToId}` when it replies to
    /// one, `POST …/activities` otherwise.
    pub async fn send(
        &self,
        activity: &Activity,
        auth: &Outbound,
    ) -> Result<ResourceResponse, ConnectorError> {
        let (base, conversation) = route(activity)?;
        let reply_to = activity.reply_to_id.as_deref().filter(|id| !id.is_empty());
        let url = activity_url(&base, conversation, reply_to);
        self.call(Method::POST, &base, &url, Some(activity), auth)
            .await
    }

    /// Starts a conversation: `POST {serviceUrl}/v3/conversations`; returns
    /// the `ConversationResourceResponse` JSON.
    pub async fn create_conversation(
        &self,
        service_url: &str,
        parameters: &serde_json::Value,
        auth: &Outbound,
    ) -> Result<serde_json::Value, ConnectorError> {
        let base = parse_service_url(service_url)?;
        let url = format!("{}/v3/conversations", base.as_str().trim_end_matches('/'));
        self.call_json(Method::POST, &base, &url, Some(parameters), auth)
            .await
    }

    /// Replaces an activity: `PUT …/activities/{id}`.
    pub async fn update(
        &self,
        activity: &Activity,
        auth: &Outbound,
    ) -> Result<ResourceResponse, ConnectorError> {
        let (base, conversation) = route(activity)?;
        let id = activity
            .id
            .as_deref()
            .filter(|id| !id.is_empty())
            .ok_or_else(|| {
                ConnectorError::BadArgument("an update needs the activity's id".into())
            })?;
        let url = activity_url(&base, conversation, Some(id));
        self.call(Method::PUT, &base, &url, Some(activity), auth)
            .await
    }

    /// Deletes an activity: `DELETE …/activities/{id}`. `reference` gives the
    /// service URL and conversation.
    pub async fn delete(
        &self,
        reference: &Activity,
        id: &str,
        auth: &Outbound,
    ) -> Result<(), ConnectorError> {
        if id.is_empty() {
            return Err(ConnectorError::BadArgument(
                "a delete needs the activity's id".into(),
            ));
        }
        let (base, conversation) = route(reference)?;
        let url = activity_url(&base, conversation, Some(id));
        self.call(Method::DELETE, &base, &url, None, auth)
            .await
            .map(|_| ())
    }

    async fn call(
        &self,
        method: Method,
        base: &Url,
        url: &str,
        body: Option<&Activity>,
        auth: &Outbound,
    ) -> Result<ResourceResponse, ConnectorError> {
        let body = body
            .map(serde_json::to_value)
            .transpose()
            .map_err(|e| ConnectorError::BadArgument(e.to_string()))?;
        let answer = self
            .call_json(method, base, url, body.as_ref(), auth)
            .await?;
        Ok(serde_json::from_value(answer).unwrap_or_default())
    }

    /// The bearer token for a call to `base`, or none; refuses a service URL
    /// off the allowlist in dev mode.
    pub(super) async fn authorize(
        &self,
        base: &Url,
        auth: &Outbound,
    ) -> Result<Option<String>, ConnectorError> {
        match auth {
            Outbound::Dev if !self.policy.allows(base) => {
                Err(ConnectorError::NotAllowed(base.to_string()))
            }
            Outbound::Dev | Outbound::Internal => Ok(None),
            Outbound::Authenticated(tokens) => {
                tokens.token(base).await.map_err(ConnectorError::Token)
            }
        }
    }

    pub(super) fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// One call with the allowlist or token, retries and lenient parsing; the
    /// answer's JSON (`null` when empty or not JSON).
    pub(super) async fn call_json(
        &self,
        method: Method,
        base: &Url,
        url: &str,
        body: Option<&serde_json::Value>,
        auth: &Outbound,
    ) -> Result<serde_json::Value, ConnectorError> {
        let token = self.authorize(base, auth).await?;
        let attempt = || async {
            let mut request = self.http.request(method.clone(), url);
            if let Some(token) = &token {
                request = request.bearer_auth(token);
            }
            if let Some(body) = body {
                request = request.json(body);
            }
            let response = request
                .send()
                .await
                .map_err(|e| ConnectorError::Unreachable(error_chain(&e)))?;
            read_response(response).await
        };
        let policy = backoff::RetryPolicy {
            first: self.min_backoff,
            times: MAX_RETRIES,
            max_retry_after: MAX_RETRY_AFTER,
            transient: ConnectorError::is_transient,
            retry_after: |err| match err {
                ConnectorError::Status { retry_after, .. } => *retry_after,
                _ => None,
            },
            what: "a Bot Connector call",
        };
        backoff::with_retries(&policy, attempt).await
    }
}

/// A service URL, checked: http(s) only.
pub(super) fn parse_service_url(service_url: &str) -> Result<Url, ConnectorError> {
    let base = Url::parse(service_url).map_err(|e| {
        ConnectorError::BadArgument(format!("the serviceUrl `{service_url}` is invalid: {e}"))
    })?;
    if !matches!(base.scheme(), "http" | "https") {
        return Err(ConnectorError::BadArgument(format!(
            "the serviceUrl `{service_url}` is not http(s)"
        )));
    }
    Ok(base)
}

/// The service URL and conversation id an activity is routed by.
pub(super) fn route(activity: &Activity) -> Result<(Url, &str), ConnectorError> {
    let service_url = activity
        .service_url
        .as_deref()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ConnectorError::BadArgument("the activity has no serviceUrl".into()))?;
    let base = parse_service_url(service_url)?;
    let conversation = activity
        .conversation_id()
        .filter(|id| !id.is_empty())
        .ok_or_else(|| ConnectorError::BadArgument("the activity has no conversation id".into()))?;
    Ok((base, conversation))
}

/// `{serviceUrl}/v3/conversations/{conversation}/activities[/{activity}]`,
/// with the ids percent-encoded.
fn activity_url(base: &Url, conversation: &str, activity: Option<&str>) -> String {
    let mut url = base.clone();
    url.set_query(None);
    url.set_fragment(None);
    let root = url.as_str().trim_end_matches('/');
    let mut out = format!(
        "{root}/v3/conversations/{}/activities",
        utf8_percent_encode(conversation, PATH_SEGMENT)
    );
    if let Some(id) = activity {
        out.push('/');
        out.extend(utf8_percent_encode(id, PATH_SEGMENT));
    }
    out
}

/// Reads a success as a `ResourceResponse` (an empty or non-JSON body gives
/// an empty id) and an error as an `ErrorResponse`, leniently.
pub(super) async fn read_response(
    response: reqwest::Response,
) -> Result<serde_json::Value, ConnectorError> {
    let status = response.status();
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_retry_after);
    let body = response
        .bytes()
        .await
        .map_err(|e| ConnectorError::Unreachable(error_chain(&e)))?;
    if status.is_success() {
        return Ok(serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null));
    }
    let (code, message) = parse_error_body(status, &body);
    Err(ConnectorError::Status {
        status: status.as_u16(),
        code,
        message,
        retry_after,
    })
}

/// `Retry-After` is either seconds or an HTTP date (RFC 9110 §10.2.3); a
/// date in the past means "now".
pub(crate) fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(
        when.duration_since(std::time::SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

#[derive(Deserialize)]
struct ErrorResponse {
    error: ErrorBody,
}

#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
}

/// `{"error":{"code","message"}}`, a bare JSON string, or any text.
pub(crate) fn parse_error_body(status: StatusCode, body: &[u8]) -> (String, String) {
    if let Ok(ErrorResponse { error }) = serde_json::from_slice::<ErrorResponse>(body) {
        return (error.code, error.message);
    }
    if let Ok(text) = serde_json::from_slice::<String>(body) {
        return (text.clone(), text);
    }
    let text = String::from_utf8_lossy(&body[..body.len().min(512)])
        .trim()
        .to_owned();
    let message = if text.is_empty() {
        status.canonical_reason().unwrap_or("error").to_owned()
    } else {
        text
    };
    (String::new(), message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_percent_encoded_like_encode_uri_component() {
        let base = Url::parse("https://smba.example/amer/").unwrap();
        assert_eq!(
            activity_url(&base, "a:1;messageid=2", Some("x/y z")),
            "https://smba.example/amer/v3/conversations/a%3A1%3Bmessageid%3D2/activities/x%2Fy%20z"
        );
    }

    #[test]
    fn retry_after_is_seconds_or_an_http_date() {
        assert_eq!(parse_retry_after(" 7 "), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO),
            "a date in the past: now"
        );
        let soon = std::time::SystemTime::now() + Duration::from_secs(30);
        let waited = parse_retry_after(&httpdate::fmt_http_date(soon)).unwrap();
        assert!(
            (Duration::from_secs(28)..=Duration::from_secs(30)).contains(&waited),
            "{waited:?}"
        );
        assert_eq!(parse_retry_after("soon"), None);
        assert_eq!(parse_retry_after("-1"), None);
    }

    #[test]
    fn error_bodies_are_read_leniently() {
        let s = StatusCode::NOT_FOUND;
        assert_eq!(
            parse_error_body(s, br#"{"error":{"code":"NotFound","message":"gone"}}"#),
            ("NotFound".into(), "gone".into())
        );
        assert_eq!(
            parse_error_body(s, br#""NotFound""#),
            ("NotFound".into(), "NotFound".into())
        );
        assert_eq!(
            parse_error_body(s, b"<html>"),
            (String::new(), "<html>".into())
        );
        assert_eq!(
            parse_error_body(s, b""),
            (String::new(), "Not Found".into())
        );
    }
}
