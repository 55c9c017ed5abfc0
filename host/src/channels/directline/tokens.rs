//! Direct Line tokens: HS256 JWTs under a key derived from the channel key
//! (`storage::directline`), bound to a bot, a conversation and a user (the
//! `user` claim, which Web Chat reads), expiring after 30 minutes.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::support::clock::now_seconds;

/// What a token grants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenClaims {
    /// The bot's route.
    pub bot: String,
    /// The conversation id.
    pub conv: String,
    /// The user id; Web Chat takes the user from this claim.
    pub user: String,
    pub exp: u64,
    pub iat: u64,
}

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token has expired")]
    Expired,
    #[error("the token is invalid")]
    Invalid,
}

/// Why a token could not be issued.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct SigningError(#[from] jsonwebtoken::errors::Error);

/// Issues and checks tokens.
pub struct TokenIssuer {
    encoding: EncodingKey,
    decoding: DecodingKey,
    /// How long a token lives, in seconds.
    pub lifetime: u64,
}

impl TokenIssuer {
    /// An issuer under `key` (the same on every host sharing the
    /// database, so each accepts the others' tokens) whose tokens live
    /// `lifetime` seconds.
    pub fn new(key: &[u8], lifetime: u64) -> Self {
        TokenIssuer {
            encoding: EncodingKey::from_secret(key),
            decoding: DecodingKey::from_secret(key),
            lifetime,
        }
    }

    pub fn issue(&self, bot: &str, conversation: &str, user: &str) -> Result<String, SigningError> {
        let iat = now_seconds();
        let claims = TokenClaims {
            bot: bot.to_owned(),
            conv: conversation.to_owned(),
            user: user.to_owned(),
            iat,
            exp: iat + self.lifetime,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(SigningError)
    }

    pub fn check(&self, token: &str) -> Result<TokenClaims, TokenError> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.validate_aud = false;
        validation.required_spec_claims = ["exp".to_string()].into();
        jsonwebtoken::decode::<TokenClaims>(token, &self.decoding, &validation)
            .map(|data| data.claims)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => TokenError::Expired,
                _ => TokenError::Invalid,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::super::TOKEN_LIFETIME_SECONDS;
    use super::*;

    #[test]
    fn tokens_round_trip_and_expire() {
        let issuer = TokenIssuer::new(b"one key", TOKEN_LIFETIME_SECONDS);
        let token = issuer.issue("echo", "c1", "u1").unwrap();
        let claims = issuer.check(&token).unwrap();
        assert_eq!(
            (
                claims.bot.as_str(),
                claims.conv.as_str(),
                claims.user.as_str()
            ),
            ("echo", "c1", "u1")
        );
        assert_eq!(claims.exp - claims.iat, TOKEN_LIFETIME_SECONDS);
        let other = TokenIssuer::new(b"another key", TOKEN_LIFETIME_SECONDS);
        assert_eq!(
            other.check(&token),
            Err(TokenError::Invalid),
            "a token under another key"
        );
        assert_eq!(issuer.check("garbage"), Err(TokenError::Invalid));
    }
}
