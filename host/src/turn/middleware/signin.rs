//! Built-in middleware: single sign-on token exchange (botbuilder's
//! `TeamsSSOTokenExchangeMiddleware`). A `signin/tokenExchange` invoke
//! (value `{id, connectionName, token}`) is exchanged at the Token Service
//! before the bot runs: a failed exchange is answered 412 with
//! `{id, connectionName, failureDetail}` (the channel then shows the
//! sign-in card) and the bot does not run; a successful one is
//! de-duplicated by its `id` durably (Teams sends one per signed-in
//! device): the first runs the bot, whose prompt gets the token; a
//! duplicate is answered 200 without a body and does not run the bot, as
//! botbuilder answers it. Exchanged ids are kept for a day in a namespace
//! beside the bot's state, not in it. A `signin/failure` is logged with
//! the channel's reason. Tokens are never logged.

use std::sync::Arc;

use serde::Deserialize;
use serde_json::{Value, json};

use super::{Middleware, ShortCircuit, TurnHook, TurnInfo};
use crate::channels::token_service::{BotTokenService, TokenServiceError, UserKey};
use crate::schema::activity::{Activity, names};
use crate::storage::{Change, Condition, Quota, Storage, StorageError};
use crate::support::errors::BoxFuture;

/// The invoke this middleware handles.
pub const TOKEN_EXCHANGE: &str = "signin/tokenExchange";

/// The invoke a channel sends when its sign-in window failed (Teams: the
/// SSO app registration does not match, `resourcematchfailed`).
pub const SIGNIN_FAILURE: &str = "signin/failure";

/// What the channel is told when the token cannot be exchanged (botbuilder's
/// wording).
const FAILURE_DETAIL: &str = "The bot is unable to exchange token. Proceed with regular login.";

/// The SSO token exchange of one bot.
pub struct SsoTokenExchange {
    pub service: BotTokenService,
    /// Where exchanged ids are remembered: the bot's state store, in a
    /// namespace of their own (`exchanges_namespace`).
    pub storage: Arc<dyn Storage>,
    /// The bot's name.
    pub bot: Arc<str>,
    /// The limits of that namespace: the bot's state quota.
    pub quota: Quota,
}

struct SsoTokenExchangeHook {
    service: BotTokenService,
    storage: Arc<dyn Storage>,
    bot: Arc<str>,
    quota: Quota,
}

impl Middleware for SsoTokenExchange {
    fn hook(&self, _turn: &TurnInfo) -> Box<dyn TurnHook> {
        Box::new(SsoTokenExchangeHook {
            service: self.service.clone(),
            storage: self.storage.clone(),
            bot: self.bot.clone(),
            quota: self.quota,
        })
    }
}

/// `TokenExchangeInvokeRequest`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ExchangeRequest {
    #[serde(default)]
    id: String,
    #[serde(default)]
    connection_name: String,
    #[serde(default)]
    token: String,
}

impl TurnHook for SsoTokenExchangeHook {
    fn before<'a>(&'a mut self, turn: &'a TurnInfo) -> BoxFuture<'a, Option<ShortCircuit>> {
        Box::pin(async move {
            let incoming = &turn.incoming;
            if incoming.kind() != names::INVOKE {
                return None;
            }
            match incoming.name.as_deref() {
                Some(TOKEN_EXCHANGE) => self.exchange(incoming).await,
                Some(SIGNIN_FAILURE) => {
                    log_signin_failure(incoming.value.as_ref());
                    None
                }
                _ => None,
            }
        })
    }
}

impl SsoTokenExchangeHook {
    /// `None` runs the bot; else the answer.
    async fn exchange(&self, incoming: &Activity) -> Option<ShortCircuit> {
        let request = incoming
            .value
            .clone()
            .and_then(|v| serde_json::from_value::<ExchangeRequest>(v).ok())
            .filter(|r| !r.id.is_empty() && !r.connection_name.is_empty() && !r.token.is_empty());
        let Some(request) = request else {
            tracing::info!("signin/tokenExchange without id, connectionName or token: 400");
            return Some(ShortCircuit {
                status: 400,
                body: Some(json!({"error": {
                    "code": "BadArgument",
                    "message": "signin/tokenExchange needs a value with id, connectionName and token",
                }})),
            });
        };
        let user = incoming.from.as_ref().map(|f| f.id.as_str()).unwrap_or("");
        let channel = incoming.channel_id.as_deref().unwrap_or("");
        let conversation = incoming.conversation_id().unwrap_or("");
        if user.is_empty() || channel.is_empty() {
            tracing::info!("signin/tokenExchange without a user or channel: 400");
            return Some(failure(
                400,
                &request,
                "The activity names no user or channel.",
            ));
        }
        let key = UserKey {
            user_id: user,
            connection: &request.connection_name,
            channel_id: channel,
        };
        match self.try_exchange(&key, &request.token).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::info!(connection = %request.connection_name, "signin/tokenExchange: the Token Service could not exchange the token; answered 412");
                return Some(failure(412, &request, FAILURE_DETAIL));
            }
            Err(err) => {
                tracing::warn!(connection = %request.connection_name, code = err.code(), error = %err, "signin/tokenExchange failed; answered 412");
                return Some(failure(412, &request, FAILURE_DETAIL));
            }
        }
        // Exchanged: only the first of this id runs the bot. Deduplicated
        // after the exchange, as botbuilder does, so that every caller of a
        // failing exchange gets its 412.
        let key = format!("{channel}/{conversation}/{}", request.id);
        let (storage, bot, quota) = (self.storage.clone(), self.bot.clone(), self.quota);
        let first = tokio::task::spawn_blocking(move || {
            remember_exchange(&*storage, &bot, key, &quota, REMEMBER_FOR_MS)
        })
        .await;
        match first {
            Ok(Ok(true)) => None,
            Ok(Ok(false)) => {
                tracing::info!(
                    "signin/tokenExchange: a duplicate of an exchanged id; answered 200 without running the bot"
                );
                Some(ShortCircuit {
                    status: 200,
                    body: None,
                })
            }
            Ok(Err(err)) => Some(storage_failed(&err.to_string())),
            Err(err) => Some(storage_failed(&err.to_string())),
        }
    }

    /// Whether the Token Service exchanged the token.
    async fn try_exchange(
        &self,
        key: &UserKey<'_>,
        token: &str,
    ) -> Result<bool, TokenServiceError> {
        self.service.check(key.connection)?;
        let auth = self.service.bearer().await?;
        let exchanged = self
            .service
            .client
            .exchange(auth.as_deref(), key, token)
            .await?;
        Ok(exchanged.is_some())
    }
}

/// How long an exchanged id is remembered (ms). Teams sends its exchanges,
/// one per signed-in device, within seconds of each other; a day also
/// covers a channel's re-deliveries. Records older than that are forgotten
/// when the bot's next exchange is recorded.
const REMEMBER_FOR_MS: i64 = 24 * 60 * 60 * 1000;

/// Where a bot's exchanged ids live: a namespace of their own beside the
/// bot's state (a bot's namespace is its name, which has no `/`), so that
/// they neither count against its state quota nor mix with its state.
fn exchanges_namespace(bot: &str) -> String {
    format!("{bot}/signin-token-exchange")
}

/// Records the exchanged id `key` (`{channel}/{conversation}/{id}`) of
/// `bot` with a create-only write: true the first time, false for a
/// duplicate. Ids recorded more than `keep_ms` ago are forgotten first.
fn remember_exchange(
    storage: &dyn Storage,
    bot: &str,
    key: String,
    quota: &Quota,
    keep_ms: i64,
) -> Result<bool, StorageError> {
    let namespace = exchanges_namespace(bot);
    let now = crate::support::clock::now_millis();
    storage.forget_older(&namespace, now - keep_ms)?;
    let change = Change {
        key,
        value: json!({"at": now}),
        condition: Condition::Absent,
    };
    match storage.write(&namespace, &[change], quota) {
        Ok(_) => Ok(true),
        Err(StorageError::Conflict(_)) => Ok(false),
        Err(err) => Err(err),
    }
}

/// `TokenExchangeInvokeResponse` with a failure.
fn failure(status: u16, request: &ExchangeRequest, detail: &str) -> ShortCircuit {
    ShortCircuit {
        status,
        body: Some(json!({
            "id": request.id,
            "connectionName": request.connection_name,
            "failureDetail": detail,
        })),
    }
}

fn storage_failed(message: &str) -> ShortCircuit {
    tracing::warn!(
        error = message,
        "signin/tokenExchange: cannot record the exchanged id"
    );
    ShortCircuit {
        status: 500,
        body: Some(json!({"error": {"code": "StorageError", "message": message}})),
    }
}

/// Logs a channel's `signin/failure` with its `code` and `message` as the
/// fields `code` and `reason` (cut to 200 characters and logged with
/// `Debug`, quoted and escaped: they come from outside, and a newline in
/// them must not start a line of its own), so an operator sees why the
/// sign-in window closed; the bot still runs, and its prompt keeps waiting
/// for a magic code, as botbuilder's does.
fn log_signin_failure(value: Option<&Value>) {
    let field = |name: &str| -> String {
        let text = value.and_then(|v| v.get(name)).and_then(Value::as_str);
        text.unwrap_or("").chars().take(200).collect()
    };
    tracing::warn!(
        code = ?field("code"),
        reason = ?field("message"),
        "signin/failure from the channel: the user's sign-in window failed"
    );
}

/// The host's answer to a sign-in invoke the bot left unanswered, or `None`
/// for other invokes: a `signin/tokenExchange` that reached the bot was
/// exchanged by the host, so 200 `{id, connectionName}`; `signin/verifyState`
/// and `signin/failure` are acknowledged with 200 (the channel closes its
/// sign-in window). A prompt that answers (e.g. 404 for a bad code) wins.
pub fn unanswered_signin(activity: &Activity) -> Option<(u16, Option<Value>)> {
    match activity.name.as_deref()? {
        TOKEN_EXCHANGE => {
            let value = activity.value.as_ref();
            let field = |name: &str| {
                value
                    .and_then(|v| v.get(name))
                    .cloned()
                    .unwrap_or(Value::Null)
            };
            Some((
                200,
                Some(json!({"id": field("id"), "connectionName": field("connectionName")})),
            ))
        }
        "signin/verifyState" | SIGNIN_FAILURE => Some((200, None)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::sqlite::SqliteStorage;

    const SMALL: Quota = Quota {
        max_value_bytes: 100,
        max_total_bytes: 100,
    };

    fn remember(storage: &SqliteStorage, bot: &str, key: &str, keep_ms: i64) -> bool {
        remember_exchange(storage, bot, key.into(), &SMALL, keep_ms).unwrap()
    }

    /// Exchanged ids are recorded once per bot, beside its state: a bot
    /// whose state is at its quota still records them, and its state's
    /// size does not change.
    #[test]
    fn exchanged_ids_are_kept_beside_the_bots_state() {
        let storage = SqliteStorage::in_memory().unwrap();
        let state = Change {
            key: "msteams/users/u/state".into(),
            value: json!("v".repeat(90)),
            condition: Condition::Any,
        };
        storage.write("bot", &[state], &SMALL).unwrap();
        let before = storage.total_bytes("bot").unwrap();
        for n in 0..5 {
            assert!(remember(
                &storage,
                "bot",
                &format!("msteams/c/{n}"),
                REMEMBER_FOR_MS
            ));
        }
        assert!(!remember(&storage, "bot", "msteams/c/0", REMEMBER_FOR_MS));
        assert_eq!(storage.total_bytes("bot").unwrap(), before);
        assert!(remember(&storage, "other", "msteams/c/0", REMEMBER_FOR_MS));
    }

    /// An id is remembered for its span, and forgotten when a later
    /// exchange is recorded after it.
    #[test]
    fn exchanged_ids_are_forgotten_after_their_span() {
        let storage = SqliteStorage::in_memory().unwrap();
        assert!(remember(&storage, "bot", "msteams/c/1", 60_000));
        std::thread::sleep(std::time::Duration::from_millis(5));
        assert!(!remember(&storage, "bot", "msteams/c/1", 60_000));
        assert!(remember(&storage, "bot", "msteams/c/2", 1));
        let namespace = exchanges_namespace("bot");
        let left = storage
            .read(&namespace, &["msteams/c/1".into(), "msteams/c/2".into()])
            .unwrap();
        assert_eq!(left.keys().collect::<Vec<_>>(), ["msteams/c/2"]);
        assert!(remember(&storage, "bot", "msteams/c/1", 60_000));
    }
}
