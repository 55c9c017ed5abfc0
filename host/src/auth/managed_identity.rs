//! Tokens of a user-assigned managed identity (`MicrosoftAppType =
//! UserAssignedMSI`): asked of Azure's Instance Metadata Service, or of App
//! Service's identity endpoint when the platform sets `IDENTITY_ENDPOINT`
//! and `IDENTITY_HEADER`. The caller caches them like client-credentials
//! tokens.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Deserialize;

use crate::schema::manifest::Secret;

/// Azure's Instance Metadata Service token endpoint (VMs, AKS, Container Apps
/// with IMDS).
pub const IMDS_ENDPOINT: &str = "http://169.254.169.254/metadata/identity/oauth2/token";

/// Where managed identity tokens come from.
#[derive(Debug, Clone, PartialEq)]
pub enum ManagedIdentityEndpoint {
    /// The Instance Metadata Service (`Metadata: true`, api-version 2018-02-01).
    Imds(String),
    /// App Service / Functions: `IDENTITY_ENDPOINT` with the secret
    /// `IDENTITY_HEADER` sent as `X-IDENTITY-HEADER` (api-version 2019-08-01).
    AppService { endpoint: String, header: Secret },
}

/// Both endpoints answer numbers as JSON strings (`"3599"`), some versions as
/// numbers: either is read.
#[derive(Deserialize)]
#[serde(untagged)]
enum Number {
    Text(String),
    Int(u64),
}

impl Number {
    fn value(&self) -> Option<u64> {
        match self {
            Number::Text(text) => text.trim().parse().ok(),
            Number::Int(n) => Some(*n),
        }
    }
}

#[derive(Deserialize)]
struct Answer {
    access_token: String,
    expires_in: Option<Number>,
    expires_on: Option<Number>,
}

/// The resource a managed identity token is asked for: the scope without
/// its `/.default`.
fn resource_of(scope: &str) -> &str {
    scope.strip_suffix("/.default").unwrap_or(scope)
}

/// Asks `endpoint` for a token of the identity `client_id` for `scope`;
/// returns it with its lifetime.
pub async fn fetch(
    http: &reqwest::Client,
    endpoint: &ManagedIdentityEndpoint,
    client_id: &str,
    scope: &str,
) -> Result<(String, Duration), String> {
    let resource = resource_of(scope);
    let request = match endpoint {
        ManagedIdentityEndpoint::Imds(url) => http
            .get(url)
            .query(&[
                ("api-version", "2018-02-01"),
                ("resource", resource),
                ("client_id", client_id),
            ])
            .header("Metadata", "true"),
        ManagedIdentityEndpoint::AppService { endpoint, header } => http
            .get(endpoint)
            .query(&[
                ("api-version", "2019-08-01"),
                ("resource", resource),
                ("client_id", client_id),
            ])
            .header("X-IDENTITY-HEADER", header.expose()),
    };
    let response = request
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .map_err(|e| format!("the managed identity endpoint could not be reached: {e}"))?;
    let status = response.status();
    if !status.is_success() {
        let body = response.text().await.unwrap_or_default();
        let detail: String = body.chars().take(300).collect();
        return Err(format!(
            "the managed identity endpoint answered {status}: {detail}"
        ));
    }
    let answer: Answer = response
        .json()
        .await
        .map_err(|e| format!("the managed identity endpoint's answer is unreadable: {e}"))?;
    let lifetime = lifetime(&answer, SystemTime::now());
    Ok((answer.access_token, lifetime))
}

/// `expires_in` when given, else `expires_on` (seconds since the epoch) less
/// now; none of them: a token is not kept.
fn lifetime(answer: &Answer, now: SystemTime) -> Duration {
    if let Some(seconds) = answer.expires_in.as_ref().and_then(Number::value) {
        return Duration::from_secs(seconds);
    }
    let now = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    let on = answer.expires_on.as_ref().and_then(Number::value);
    Duration::from_secs(on.map(|on| on.saturating_sub(now)).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_resource_is_the_scope_without_default() {
        assert_eq!(
            resource_of("https://api.botframework.com/.default"),
            "https://api.botframework.com"
        );
        assert_eq!(resource_of("app-id"), "app-id");
    }

    #[test]
    fn lifetimes_are_read_from_strings_numbers_or_the_expiry_time() {
        let read = |text: &str| serde_json::from_str::<Answer>(text).unwrap();
        let now = UNIX_EPOCH + Duration::from_secs(1_000);
        let a = read(r#"{"access_token":"t","expires_in":"3599"}"#);
        assert_eq!(lifetime(&a, now), Duration::from_secs(3599));
        let a = read(r#"{"access_token":"t","expires_in":60}"#);
        assert_eq!(lifetime(&a, now), Duration::from_secs(60));
        let a = read(r#"{"access_token":"t","expires_on":"1600"}"#);
        assert_eq!(lifetime(&a, now), Duration::from_secs(600));
        let a = read(r#"{"access_token":"t","expires_on":"10"}"#);
        assert_eq!(lifetime(&a, now), Duration::ZERO);
    }
}
