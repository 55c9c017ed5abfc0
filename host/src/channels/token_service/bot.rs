//! A bot's view of the Token Service ([`BotTokenService`]): the shared
//! client with the bot's own token and app id, limited to the OAuth
//! connections its manifest lists.

use std::sync::Arc;

use super::{TokenServiceClient, TokenServiceError};
use crate::channels::connector::TokenProvider;

/// A bot's view of the Token Service: the shared client, the bot's own
/// token (none without an app id), its app id, and the connections its
/// manifest lists. Every call names a listed connection.
#[derive(Clone)]
pub struct BotTokenService {
    pub client: Arc<TokenServiceClient>,
    pub tokens: Option<Arc<dyn TokenProvider>>,
    pub app_id: Option<String>,
    pub connections: Arc<Vec<String>>,
}

impl BotTokenService {
    /// Refuses a connection the manifest does not list.
    pub fn check(&self, connection: &str) -> Result<(), TokenServiceError> {
        if self.connections.iter().any(|c| c == connection) {
            Ok(())
        } else {
            Err(TokenServiceError::ConnectionNotAllowed(
                connection.to_owned(),
            ))
        }
    }

    /// The bot's bearer token for the Token Service (`None`: no app id).
    pub async fn bearer(&self) -> Result<Option<String>, TokenServiceError> {
        match &self.tokens {
            Some(tokens) => tokens
                .token(&self.client.base)
                .await
                .map_err(TokenServiceError::Token),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_listed_connections_are_allowed() {
        let service = BotTokenService {
            client: Arc::new(
                TokenServiceClient::new("https://token.example", reqwest::Client::new()).unwrap(),
            ),
            tokens: None,
            app_id: None,
            connections: Arc::new(vec!["graph".into()]),
        };
        assert!(service.check("graph").is_ok());
        assert_eq!(
            service.check("github").unwrap_err().code(),
            "ConnectionNotAllowed"
        );
    }
}
