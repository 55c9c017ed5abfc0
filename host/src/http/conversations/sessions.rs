//! Session tokens of the conversations API: HS256 JWTs bound to one
//! conversation (and its bot and user), under a key derived from the Direct
//! Line channel key, so every host sharing the database accepts every
//! other's. A token is good for that conversation's send, receive,
//! complete and message list, and for its own refresh; it carries a scope
//! of its own, and its key differs from Direct Line's, so neither kind of
//! token passes for the other.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::support::clock::now_seconds;

/// The scope claim of every session token.
const SCOPE: &str = "turnbox-api-session";

/// A session's lifetime when none is asked for, in seconds.
pub const DEFAULT_LIFETIME: u64 = 3600;
/// The longest lifetime a session may ask for, in seconds (a day).
pub const MAX_LIFETIME: u64 = 86_400;

/// What a session token grants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionClaims {
    pub scope: String,
    /// The conversation id.
    pub conv: String,
    /// The bot's route.
    pub bot: String,
    pub iat: u64,
    pub exp: u64,
}

impl SessionClaims {
    /// How long the token was issued for, in seconds.
    pub fn lifetime(&self) -> u64 {
        self.exp.saturating_sub(self.iat).clamp(1, MAX_LIFETIME)
    }
}

/// Why a session token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    #[error("the session token has expired")]
    Expired,
    #[error("the token is not a session token of this host")]
    Invalid,
    #[error("cannot sign the session token: {0}")]
    Signing(String),
}

/// Issues and checks session tokens.
pub struct SessionIssuer {
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl SessionIssuer {
    /// An issuer under `channel_key` (the Direct Line channel key), through
    /// a key derived for this use alone.
    pub fn new(channel_key: &[u8]) -> Self {
        use hmac::{Hmac, Mac};
        let key = match <Hmac<sha2::Sha256> as Mac>::new_from_slice(channel_key) {
            Ok(mut mac) => {
                mac.update(b"api-sessions");
                mac.finalize().into_bytes().to_vec()
            }
            // HMAC takes a key of any length; kept total all the same.
            Err(_) => channel_key.to_vec(),
        };
        SessionIssuer {
            encoding: EncodingKey::from_secret(&key),
            decoding: DecodingKey::from_secret(&key),
        }
    }

    /// A token for `conversation` of `bot`, living `lifetime` seconds;
    /// with its expiry (Unix seconds).
    pub fn issue(
        &self,
        bot: &str,
        conversation: &str,
        lifetime: u64,
    ) -> Result<(String, u64), SessionError> {
        let iat = now_seconds();
        let claims = SessionClaims {
            scope: SCOPE.into(),
            conv: conversation.to_owned(),
            bot: bot.to_owned(),
            iat,
            exp: iat + lifetime.clamp(1, MAX_LIFETIME),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| SessionError::Signing(e.to_string()))?;
        Ok((token, claims.exp))
    }

    pub fn check(&self, token: &str) -> Result<SessionClaims, SessionError> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.validate_aud = false;
        validation.required_spec_claims = ["exp".to_string()].into();
        let claims = jsonwebtoken::decode::<SessionClaims>(token, &self.decoding, &validation)
            .map(|data| data.claims)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => SessionError::Expired,
                _ => SessionError::Invalid,
            })?;
        if claims.scope != SCOPE {
            return Err(SessionError::Invalid);
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_are_bound_and_keyed() {
        let issuer = SessionIssuer::new(b"channel key");
        let (token, exp) = issuer.issue("echo", "c1", 60).unwrap();
        let claims = issuer.check(&token).unwrap();
        assert_eq!((claims.conv.as_str(), claims.bot.as_str()), ("c1", "echo"));
        assert_eq!((claims.exp, claims.lifetime()), (exp, 60));
        let other = SessionIssuer::new(b"another channel key");
        assert_eq!(other.check(&token), Err(SessionError::Invalid));
        assert_eq!(issuer.check("garbage"), Err(SessionError::Invalid));
        // A Direct Line token under the same channel key is no session.
        let dl = crate::channels::directline::tokens::TokenIssuer::new(b"channel key", 60);
        let dl_token = dl.issue("echo", "c1", "u").unwrap();
        assert_eq!(issuer.check(&dl_token), Err(SessionError::Invalid));
    }
}
