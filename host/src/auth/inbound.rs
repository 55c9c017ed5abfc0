//! Inbound authentication: the `Authorization: Bearer` token of a request to
//! a bot with an app id, from the Bot Connector (channel tokens) or from the
//! Emulator or a skill (Azure AD tokens), checked as the connector
//! authentication spec says. Reasons are logged; tokens never are.

use std::collections::HashSet;
use std::sync::Arc;

use jsonwebtoken::{Algorithm, Validation, decode, decode_header};
use serde_json::Value;

use super::keys::KeyCache;
use super::settings::AuthSettings;
use crate::schema::activity::Activity;
use crate::schema::manifest::Credentials;

/// Clock skew allowed on `exp` and `nbf`.
const CLOCK_SKEW_SECONDS: u64 = 300;

/// Who called, once authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// The Bot Connector service.
    Channel,
    /// The Bot Framework Emulator (an Azure AD token for the bot's own app).
    Emulator,
    /// Another bot calling this one as a skill.
    Skill { app_id: String },
}

/// The result of authentication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub caller: Caller,
    /// The `callerId` to set on the activity the bot sees.
    pub caller_id: String,
}

/// Why a request was refused: answered with 401, logged with the reason.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct AuthError(pub String);

fn reject<T>(reason: impl Into<String>) -> Result<T, AuthError> {
    Err(AuthError(reason.into()))
}

/// Reads an `Authorization` header before any verification: a `Bearer`
/// JWT with an allowed RSA algorithm, a key id, and an issuer (unverified:
/// it only picks which keys and rules apply; the signature and every claim
/// are verified next). Pure and total: the fuzz target `jwt_header` feeds it
/// arbitrary text.
pub fn inspect(header: &str) -> Result<(Presented<'_>, String), AuthError> {
    let Some(token) = header.strip_prefix("Bearer ") else {
        return reject("the Authorization scheme is not Bearer");
    };
    let token = token.trim();
    let jwt_header = match decode_header(token) {
        Ok(h) => h,
        Err(e) => return reject(format!("the token is not a JWT: {e}")),
    };
    if !matches!(
        jwt_header.alg,
        Algorithm::RS256 | Algorithm::RS384 | Algorithm::RS512
    ) {
        return reject(format!(
            "the token algorithm {:?} is not allowed",
            jwt_header.alg
        ));
    }
    let Some(kid) = jwt_header.kid else {
        return reject("the token names no signing key (kid)");
    };
    let issuer = match jsonwebtoken::dangerous::insecure_decode::<Value>(token) {
        Ok(data) => data
            .claims
            .get("iss")
            .and_then(Value::as_str)
            .map(str::to_owned),
        Err(e) => return reject(format!("the token's claims are unreadable: {e}")),
    };
    let Some(issuer) = issuer else {
        return reject("the token has no issuer");
    };
    Ok((
        Presented {
            token,
            kid,
            alg: jwt_header.alg,
        },
        issuer,
    ))
}

/// A bearer token as presented, with the header fields already checked.
pub struct Presented<'a> {
    token: &'a str,
    kid: String,
    alg: Algorithm,
}

/// Validates inbound tokens for every bot of a host.
pub struct Authenticator {
    settings: AuthSettings,
    channel_keys: KeyCache,
    emulator_keys: KeyCache,
}

impl Authenticator {
    pub fn new(settings: AuthSettings, http: reqwest::Client) -> Self {
        let keys = |url: &str| {
            KeyCache::new(
                url.to_owned(),
                http.clone(),
                settings.key_refresh,
                settings.unknown_kid_refetch,
            )
        };
        Authenticator {
            channel_keys: keys(&settings.channel_openid_metadata),
            emulator_keys: keys(&settings.emulator_openid_metadata),
            settings,
        }
    }

    pub fn settings(&self) -> &AuthSettings {
        &self.settings
    }

    /// Authenticates a request carrying `authorization` and `activity` for a
    /// bot with `credentials` (which name an app id).
    pub async fn authenticate(
        &self,
        authorization: Option<&str>,
        activity: &Activity,
        credentials: &Credentials,
    ) -> Result<Identity, AuthError> {
        let Some(app_id) = credentials.app_id.as_deref() else {
            return reject("the bot has no app id");
        };
        let Some(header) = authorization else {
            return reject("no Authorization header");
        };
        let (presented, issuer) = inspect(header)?;
        let emulator_issuers = self
            .settings
            .emulator_issuers_for(credentials.tenant_id.as_deref());
        if issuer == self.settings.channel_issuer {
            self.channel(&presented, app_id, activity).await
        } else if emulator_issuers.contains(&issuer) {
            self.emulator_or_skill(&presented, &emulator_issuers, credentials, activity)
                .await
        } else {
            reject(format!("the issuer {issuer} is not trusted"))
        }
    }

    /// Verifies the signature with the key named in the token, and the
    /// algorithm, issuer, audience, lifetime and channel endorsement.
    async fn verified(
        &self,
        keys: &KeyCache,
        presented: &Presented<'_>,
        issuers: &[String],
        app_id: &str,
        channel_id: Option<&str>,
    ) -> Result<serde_json::Map<String, Value>, AuthError> {
        let (token, kid, alg) = (presented.token, presented.kid.as_str(), presented.alg);
        let Some(key) = keys.key(kid).await else {
            return reject(format!("the signing key {kid} is unknown"));
        };
        let mut validation = Validation::new(alg);
        validation.algorithms = vec![alg];
        validation.leeway = CLOCK_SKEW_SECONDS;
        validation.validate_nbf = true;
        validation.validate_exp = true;
        validation.set_issuer(issuers);
        validation.set_audience(&[app_id]);
        validation.required_spec_claims = HashSet::from(["exp".into(), "iss".into(), "aud".into()]);
        let claims =
            match decode::<serde_json::Map<String, Value>>(token, &key.decoding, &validation) {
                Ok(data) => data.claims,
                Err(e) => return reject(format!("the token is invalid: {e}")),
            };
        // jsonwebtoken also accepts an `aud` list that contains the app id;
        // botbuilder compares one string, and so do we (docs/SECURITY.md).
        if !matches!(claims.get("aud"), Some(Value::String(aud)) if aud == app_id) {
            return reject("the token's aud is not the bot's app id as one string");
        }
        check_endorsement(&key, channel_id)?;
        Ok(claims)
    }

    async fn channel(
        &self,
        presented: &Presented<'_>,
        app_id: &str,
        activity: &Activity,
    ) -> Result<Identity, AuthError> {
        let issuers = [self.settings.channel_issuer.clone()];
        let claims = self
            .verified(
                &self.channel_keys,
                presented,
                &issuers,
                app_id,
                activity.channel_id.as_deref(),
            )
            .await?;
        let Some(claimed) = claims.get("serviceurl").and_then(Value::as_str) else {
            return reject("the channel token has no serviceurl claim");
        };
        if Some(claimed) != activity.service_url.as_deref() {
            return reject("the token's serviceurl claim does not match the activity's serviceUrl");
        }
        Ok(Identity {
            caller: Caller::Channel,
            caller_id: self.settings.caller_id.clone(),
        })
    }

    async fn emulator_or_skill(
        &self,
        presented: &Presented<'_>,
        issuers: &[String],
        credentials: &Credentials,
        activity: &Activity,
    ) -> Result<Identity, AuthError> {
        let app_id = credentials.app_id.as_deref().unwrap_or_default();
        let claims = self
            .verified(
                &self.emulator_keys,
                presented,
                issuers,
                app_id,
                activity.channel_id.as_deref(),
            )
            .await?;
        let caller_app = caller_app(&claims)?;
        if caller_app == app_id {
            return Ok(Identity {
                caller: Caller::Emulator,
                caller_id: self.settings.caller_id.clone(),
            });
        }
        let allowed = credentials
            .allowed_callers
            .iter()
            .any(|c| c == "*" || c.eq_ignore_ascii_case(caller_app));
        if !allowed {
            return reject(format!(
                "the skill caller {caller_app} is not on the bot's AllowedCallers"
            ));
        }
        Ok(Identity {
            caller: Caller::Skill {
                app_id: caller_app.to_owned(),
            },
            caller_id: format!("urn:botframework:aadappid:{caller_app}"),
        })
    }
}

impl Authenticator {
    /// Authenticates a skill's call to the skill-host endpoints of the root
    /// bot with `credentials`: an Azure AD token (the Emulator and skill
    /// issuers) for the root's app id, from one of `skills` (the app ids of
    /// the root's declared skills). Returns the calling skill's app id.
    pub async fn authenticate_skill_reply(
        &self,
        authorization: Option<&str>,
        credentials: &Credentials,
        skills: &[&str],
    ) -> Result<String, AuthError> {
        let Some(app_id) = credentials.app_id.as_deref().filter(|id| !id.is_empty()) else {
            return reject("the root bot has no app id");
        };
        let Some(header) = authorization else {
            return reject("no Authorization header");
        };
        let (presented, issuer) = inspect(header)?;
        let issuers = self
            .settings
            .emulator_issuers_for(credentials.tenant_id.as_deref());
        if !issuers.contains(&issuer) {
            return reject(format!("the issuer {issuer} is not trusted for skills"));
        }
        let claims = self
            .verified(&self.emulator_keys, &presented, &issuers, app_id, None)
            .await?;
        let caller = caller_app(&claims)?;
        if !skills.iter().any(|s| s.eq_ignore_ascii_case(caller)) {
            return reject(format!("the app {caller} is not one of the bot's skills"));
        }
        Ok(caller.to_owned())
    }
}

/// The calling app of an Azure AD token: `appid` (v1) or `azp` (v2).
fn caller_app(claims: &serde_json::Map<String, Value>) -> Result<&str, AuthError> {
    let caller_app = match claims.get("ver").and_then(Value::as_str) {
        Some("1.0") => claims.get("appid"),
        Some("2.0") => claims.get("azp"),
        Some(other) => return reject(format!("the token version {other} is not supported")),
        None => return reject("the token has no ver claim"),
    };
    match caller_app.and_then(Value::as_str) {
        Some(app) if !app.is_empty() => Ok(app),
        _ => reject("the token does not name the calling app (appid/azp)"),
    }
}

fn check_endorsement(
    key: &Arc<super::keys::SigningKey>,
    channel_id: Option<&str>,
) -> Result<(), AuthError> {
    if key.endorsements.is_empty() {
        return Ok(());
    }
    match channel_id {
        Some(channel) if key.endorsements.iter().any(|e| e == channel) => Ok(()),
        _ => reject("the signing key does not endorse the activity's channel"),
    }
}
