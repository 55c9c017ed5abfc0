//! `turnbox:bot/user-token`: user sign-in through the Bot Framework Token
//! Service (`channels::token_service`), for the turn's user on the turn's
//! channel, limited to the connections the bot's manifest lists. Calls
//! happen at once; tokens go to the bot only, never into a log.

use super::call_error;
use crate::channels::token_service::{
    BotTokenService, SignInResource, TokenResponse, TokenServiceError, UserKey, sign_in_state,
};
use crate::runtime::store::TurnState;
use crate::schema::bindings::turnbox::bot::{types as wit, user_token};

impl From<TokenResponse> for user_token::TokenResponse {
    fn from(t: TokenResponse) -> Self {
        user_token::TokenResponse {
            connection_name: t.connection_name,
            token: t.token,
            expiration: t.expiration,
            channel_id: t.channel_id,
        }
    }
}

impl From<SignInResource> for user_token::SignInResource {
    fn from(r: SignInResource) -> Self {
        user_token::SignInResource {
            sign_in_link: r.sign_in_link,
            token_exchange_resource: r.token_exchange_resource.map(|x| {
                user_token::TokenExchangeResource {
                    id: x.id,
                    uri: x.uri,
                    provider_id: x.provider_id,
                }
            }),
            token_post_sas_url: r.token_post_resource.and_then(|p| p.sas_url),
        }
    }
}

impl From<TokenServiceError> for wit::CallError {
    fn from(err: TokenServiceError) -> Self {
        call_error(err.code(), err.to_string(), err.status())
    }
}

type CallResult<T> = wasmtime::Result<Result<T, wit::CallError>>;

/// The user and channel of the turn, with the bot's Token Service.
struct Caller {
    service: BotTokenService,
    user_id: String,
    channel_id: String,
}

impl TurnState {
    /// The Token Service and whose tokens, or why there are none.
    fn token_caller(&self, operation: &str) -> Result<Caller, wit::CallError> {
        let refuse = |message: &str| {
            let err = call_error("NotSupported", message.to_owned(), None);
            self.log_call_error(operation, &err);
            err
        };
        let Some(service) = self.turn.user_tokens.clone() else {
            return Err(refuse("there is no Token Service here"));
        };
        let incoming = &self.turn.incoming;
        let user_id = incoming
            .from
            .as_ref()
            .map(|f| f.id.clone())
            .filter(|id| !id.is_empty())
            .ok_or_else(|| refuse("the activity names no user (from.id)"))?;
        let channel_id = incoming
            .channel_id
            .clone()
            .filter(|c| !c.is_empty())
            .ok_or_else(|| refuse("the activity names no channel"))?;
        Ok(Caller {
            service,
            user_id,
            channel_id,
        })
    }

    /// A Token Service failure as the bot sees it, logged (without tokens).
    fn token_failed(&self, operation: &str, err: TokenServiceError) -> wit::CallError {
        let err = wit::CallError::from(err);
        self.log_call_error(operation, &err);
        err
    }
}

impl Caller {
    fn key<'a>(&'a self, connection: &'a str) -> UserKey<'a> {
        UserKey {
            user_id: &self.user_id,
            connection,
            channel_id: &self.channel_id,
        }
    }
}

impl user_token::Host for TurnState {
    async fn get_token(
        &mut self,
        connection_name: String,
        magic_code: Option<String>,
    ) -> CallResult<Option<user_token::TokenResponse>> {
        let caller = match self.token_caller("get-token") {
            Ok(caller) => caller,
            Err(err) => return Ok(Err(err)),
        };
        let result = async {
            caller.service.check(&connection_name)?;
            let auth = caller.service.bearer().await?;
            let code = magic_code.as_deref().filter(|c| !c.is_empty());
            caller
                .service
                .client
                .get_token(auth.as_deref(), &caller.key(&connection_name), code)
                .await
        }
        .await;
        Ok(match result {
            Ok(token) => Ok(token.map(Into::into)),
            Err(err) => Err(self.token_failed("get-token", err)),
        })
    }

    async fn get_sign_in_resource(
        &mut self,
        connection_name: String,
        final_redirect: Option<String>,
    ) -> CallResult<user_token::SignInResource> {
        let caller = match self.token_caller("get-sign-in-resource") {
            Ok(caller) => caller,
            Err(err) => return Ok(Err(err)),
        };
        let state = sign_in_state(
            &connection_name,
            &self.turn.incoming,
            caller.service.app_id.as_deref(),
        );
        let result = async {
            caller.service.check(&connection_name)?;
            let auth = caller.service.bearer().await?;
            caller
                .service
                .client
                .get_sign_in_resource(auth.as_deref(), &state, final_redirect.as_deref())
                .await
        }
        .await;
        Ok(match result {
            Ok(resource) => Ok(resource.into()),
            Err(err) => Err(self.token_failed("get-sign-in-resource", err)),
        })
    }

    async fn sign_out(&mut self, connection_name: Option<String>) -> CallResult<()> {
        let caller = match self.token_caller("sign-out") {
            Ok(caller) => caller,
            Err(err) => return Ok(Err(err)),
        };
        let result = async {
            let connections = match &connection_name {
                Some(name) => {
                    caller.service.check(name)?;
                    vec![name.clone()]
                }
                None => caller.service.connections.to_vec(),
            };
            let auth = caller.service.bearer().await?;
            for connection in &connections {
                caller
                    .service
                    .client
                    .sign_out(auth.as_deref(), &caller.key(connection))
                    .await?;
            }
            Ok(())
        }
        .await;
        Ok(result.map_err(|err| self.token_failed("sign-out", err)))
    }

    async fn exchange_token(
        &mut self,
        connection_name: String,
        token: String,
    ) -> CallResult<Option<user_token::TokenResponse>> {
        let caller = match self.token_caller("exchange-token") {
            Ok(caller) => caller,
            Err(err) => return Ok(Err(err)),
        };
        let result = async {
            caller.service.check(&connection_name)?;
            if token.is_empty() {
                return Err(TokenServiceError::BadArgument(
                    "the token to exchange is empty".into(),
                ));
            }
            let auth = caller.service.bearer().await?;
            caller
                .service
                .client
                .exchange(auth.as_deref(), &caller.key(&connection_name), &token)
                .await
        }
        .await;
        Ok(match result {
            Ok(token) => Ok(token.map(Into::into)),
            Err(err) => Err(self.token_failed("exchange-token", err)),
        })
    }

    async fn get_aad_tokens(
        &mut self,
        connection_name: String,
        resource_urls: Vec<String>,
    ) -> CallResult<Vec<(String, user_token::TokenResponse)>> {
        let caller = match self.token_caller("get-aad-tokens") {
            Ok(caller) => caller,
            Err(err) => return Ok(Err(err)),
        };
        let result = async {
            caller.service.check(&connection_name)?;
            let auth = caller.service.bearer().await?;
            caller
                .service
                .client
                .get_aad_tokens(
                    auth.as_deref(),
                    &caller.key(&connection_name),
                    &resource_urls,
                )
                .await
        }
        .await;
        Ok(match result {
            Ok(tokens) => Ok(tokens.into_iter().map(|(u, t)| (u, t.into())).collect()),
            Err(err) => Err(self.token_failed("get-aad-tokens", err)),
        })
    }

    async fn get_token_status(
        &mut self,
        connection_names: Option<Vec<String>>,
    ) -> CallResult<Vec<user_token::TokenStatus>> {
        let caller = match self.token_caller("get-token-status") {
            Ok(caller) => caller,
            Err(err) => return Ok(Err(err)),
        };
        let result = async {
            let names = match connection_names {
                Some(names) => {
                    for name in &names {
                        caller.service.check(name)?;
                    }
                    names
                }
                None => caller.service.connections.to_vec(),
            };
            if names.is_empty() {
                return Ok(Vec::new());
            }
            let auth = caller.service.bearer().await?;
            let statuses = caller
                .service
                .client
                .get_token_status(
                    auth.as_deref(),
                    &caller.user_id,
                    &caller.channel_id,
                    Some(&names.join(",")),
                )
                .await?;
            // Only what was asked for, whatever the service answered.
            Ok(statuses
                .into_iter()
                .filter(|s| names.contains(&s.connection_name))
                .collect())
        }
        .await;
        Ok(match result {
            Ok(statuses) => Ok(statuses
                .into_iter()
                .map(|s| user_token::TokenStatus {
                    connection_name: s.connection_name,
                    has_token: s.has_token,
                    service_provider_display_name: s.service_provider_display_name,
                })
                .collect()),
            Err(err) => Err(self.token_failed("get-token-status", err)),
        })
    }
}
