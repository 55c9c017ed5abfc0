//! HTTP ingress (axum): the routes, reading and checking the request,
//! admission (backpressure and per-conversation order), the turn's tracing
//! span, and the response contract of botbuilder's CloudAdapter
//! (expectReplies, invoke, errors as JSON).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http_body_util::BodyExt;
use serde_json::json;
use tracing::Instrument;

use crate::activity::{Activity, names};
use crate::auth::{Authenticator, OutboundTokens};
use crate::connector::{ConnectorClient, Outbound};
use crate::dispatch::{DispatchError, Dispatched, dispatch};
use crate::engine::Runtime;
use crate::metrics::Metrics;
use crate::registry::{BotRegistry, BotSlot};
use crate::storage::Storage;
use crate::storage::dedup::Answer;
use crate::storage::references::ReferenceStore;
use crate::storage::timers::TimerStore;
use crate::storage::transcripts::TranscriptStore;
use crate::turn::{TurnError, TurnOutcome};

/// What every request handler shares.
pub struct AppState {
    pub runtime: Arc<Runtime>,
    pub registry: Arc<BotRegistry>,
    pub connector: Arc<ConnectorClient>,
    pub authenticator: Authenticator,
    pub tokens: OutboundTokens,
    pub metrics: Arc<Metrics>,
    pub storage: Arc<dyn Storage>,
    pub transcripts: Arc<dyn TranscriptStore>,
    pub references: Arc<dyn ReferenceStore>,
    pub timers: Arc<dyn TimerStore>,
    pub directline: crate::directline::api::DirectLine,
    /// The bearer token of the admin API; `None`: loopback callers only.
    pub admin_token: Option<String>,
    /// The largest request body read, and how long it may take to arrive
    /// (`http_server::read_body_in_time`).
    pub max_body_bytes: usize,
    pub body_read_timeout: std::time::Duration,
    /// De-duplication of channel deliveries; `None`: off.
    pub dedup: Option<crate::dedup::Deduplicator>,
    /// The per-turn records (delivery answers, references), committed in
    /// groups.
    pub records: Arc<crate::group_commit::GroupCommit>,
}

impl AppState {
    /// How a turn of `version` in a conversation on `channel` calls the
    /// connector: with the bot's token when it has an app id, else in dev
    /// mode. For inbound requests, use it only once they are authenticated.
    pub fn outbound_for(
        &self,
        version: &crate::bot::BotVersion,
        channel: Option<&str>,
    ) -> Outbound {
        match self.tokens.provider(&version.credentials, channel) {
            Some(tokens) => Outbound::Authenticated(tokens),
            None => Outbound::Dev,
        }
    }

    /// How a proactive turn (a timer, the admin API) with a stored
    /// reference calls the connector: a built-in Direct Line conversation's
    /// replies go to this host's own endpoint (the host that stored the
    /// reference may have stopped; the conversation is in the shared
    /// database), others as `outbound_for`.
    pub fn outbound_for_proactive(
        &self,
        version: &crate::bot::BotVersion,
        activity: &mut crate::activity::Activity,
    ) -> Outbound {
        if let Some(own) = activity
            .service_url
            .as_deref()
            .and_then(|url| self.directline.own_service_url(url))
        {
            activity.service_url = Some(own);
            return Outbound::Internal;
        }
        self.outbound_for(version, activity.channel_id.as_deref())
    }
}

/// The Direct Line routes, under `/v3/directline` and
/// `/bots/{bot}/v3/directline`, with the CORS Web Chat needs.
fn directline_routes() -> Router<Arc<AppState>> {
    use crate::directline::api;
    use tower_http::cors::{Any, CorsLayer};
    let cors = CorsLayer::new()
        .allow_origin(Any)
        .allow_methods(Any)
        .allow_headers(Any);
    Router::new()
        .route(
            "/tokens/generate",
            post(api::generate_token).fallback(method_not_allowed),
        )
        .route(
            "/tokens/refresh",
            post(api::refresh_token).fallback(method_not_allowed),
        )
        .route(
            "/conversations",
            post(api::start_conversation).fallback(method_not_allowed),
        )
        .route(
            "/conversations/{id}",
            get(api::reconnect).fallback(method_not_allowed),
        )
        .route(
            "/conversations/{id}/activities",
            get(api::get_activities)
                .post(api::post_activity)
                .fallback(method_not_allowed),
        )
        .route(
            "/conversations/{id}/stream",
            get(api::stream).fallback(method_not_allowed),
        )
        .layer(cors)
}

/// The routes of the host.
pub fn router(state: Arc<AppState>) -> Router {
    use crate::directline::connector as dl_connector;
    Router::new()
        .nest("/v3/directline", directline_routes())
        .nest("/bots/{bot}/v3/directline", directline_routes())
        .route(
            "/directline-connector/{key}/v3/conversations/{conversation}/activities",
            post(dl_connector::post_activity).fallback(method_not_allowed),
        )
        .route(
            "/directline-connector/{key}/v3/conversations/{conversation}/activities/{activity}",
            post(dl_connector::post_activity)
                .put(dl_connector::put_activity)
                .delete(dl_connector::delete_activity)
                .fallback(method_not_allowed),
        )
        .route(
            "/api/messages",
            post(default_bot_messages).fallback(method_not_allowed),
        )
        .route(
            "/api/bots/{bot}/messages",
            post(bot_messages).fallback(method_not_allowed),
        )
        .route("/healthz", get(healthz).fallback(method_not_allowed))
        .route(
            "/api/bots",
            get(crate::status::bots).fallback(method_not_allowed),
        )
        .route(
            "/api/bots/{bot}/conversations",
            get(crate::admin::conversations).fallback(method_not_allowed),
        )
        .route(
            "/api/bots/{bot}/conversations/{conversation}/activities",
            get(crate::admin::activities).fallback(method_not_allowed),
        )
        .route(
            "/api/bots/{bot}/proactive",
            post(crate::admin::proactive).fallback(method_not_allowed),
        )
        .route(
            "/metrics",
            get(crate::status::metrics).fallback(method_not_allowed),
        )
        .route(
            "/",
            get(crate::chat_page::index).fallback(method_not_allowed),
        )
        .route(
            "/chat/assets/{file}",
            get(crate::chat_page::asset).fallback(method_not_allowed),
        )
        .route(
            "/chat/{bot}",
            get(crate::chat_page::chat).fallback(method_not_allowed),
        )
        .route(
            "/chat/{bot}/session",
            post(crate::chat_page::session).fallback(method_not_allowed),
        )
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::http_server::read_body_in_time,
        ))
        .layer(axum::middleware::from_fn(limit_headers))
        .with_state(state)
}

/// An error answered as `{"error":{"code","message"}}`.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Answer with `Connection: close` (the request body was not read).
    pub close_connection: bool,
    /// Answer with `Retry-After: N` seconds.
    pub retry_after: Option<u32>,
}

/// The most bytes of request headers accepted (names and values). Beyond
/// hyper's own buffer (about 400 KiB) the connection is refused before any
/// handler runs.
pub const MAX_HEADER_BYTES: usize = 32 << 10;

/// Answers 431 with a JSON error when the request's headers are too large.
async fn limit_headers(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let bytes: usize = request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    if bytes > MAX_HEADER_BYTES {
        tracing::info!(bytes, "request rejected: headers too large");
        return ApiError::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "HeadersTooLarge",
            format!("the request headers exceed {MAX_HEADER_BYTES} bytes"),
        )
        .before_body()
        .into_response();
    }
    next.run(request).await
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            close_connection: false,
            retry_after: None,
        }
    }

    /// The same error, answered with `Connection: close`: for rejections
    /// made before the request body was read.
    pub(crate) fn before_body(self) -> Self {
        ApiError {
            close_connection: true,
            ..self
        }
    }

    pub(crate) fn bad_argument(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "BadArgument", message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"error": {"code": self.code, "message": self.message}});
        let mut response = (self.status, axum::Json(body)).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from(seconds));
        }
        if self.close_connection {
            response.headers_mut().insert(
                header::CONNECTION,
                header::HeaderValue::from_static("close"),
            );
        }
        response
    }
}

async fn healthz(State(state): State<Arc<AppState>>) -> Response {
    let bots = state.registry.route_names();
    axum::Json(json!({"status": "ok", "bots": bots})).into_response()
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "NotFound", "no such route").before_body()
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "MethodNotAllowed",
        "this route does not accept that method",
    )
    .before_body()
}

async fn default_bot_messages(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Some(bot) = state.registry.default_bot() else {
        let err = ApiError::new(
            StatusCode::NOT_FOUND,
            "BotNotFound",
            "no default bot: load exactly one bot, or name one with --default-bot, \
             or post to /api/bots/{bot}/messages",
        )
        .before_body();
        tracing::info!(reason = %err.message, "request rejected");
        return err.into_response();
    };
    messages(state, bot, headers, body).await
}

async fn bot_messages(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Some(bot) = state.registry.route(&name) else {
        let err = ApiError::new(
            StatusCode::NOT_FOUND,
            "BotNotFound",
            format!("no bot named `{name}` is loaded"),
        )
        .before_body();
        tracing::info!(reason = %err.message, "request rejected");
        return err.into_response();
    };
    messages(state, bot, headers, body).await
}

async fn messages(
    state: Arc<AppState>,
    slot: Arc<BotSlot>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let activity = match read_activity(&headers, body).await {
        Ok(activity) => activity,
        Err(err) => {
            tracing::info!(bot = %slot.name, status = err.status.as_u16(), reason = %err.message, "request rejected");
            return err.into_response();
        }
    };
    let span = crate::dispatch::turn_span(&slot.name, &activity, activity.kind());
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    take_turn(state, slot, activity, authorization)
        .instrument(span)
        .await
}

/// Parses the body (already read, within its size and time limits, by
/// `http_server::read_body_in_time`): JSON content, an object with a `type`
/// and a conversation.
async fn read_activity(headers: &HeaderMap, body: Body) -> Result<Activity, ApiError> {
    let bytes = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(err) => {
            return Err(ApiError::bad_argument(format!(
                "cannot read the body: {err}"
            )));
        }
    };
    if let Some(content_type) = headers.get(header::CONTENT_TYPE) {
        let is_json = content_type
            .to_str()
            .ok()
            .and_then(|v| v.split(';').next())
            .map(|mime| {
                let mime = mime.trim().to_ascii_lowercase();
                mime == "application/json" || mime.ends_with("+json")
            })
            .unwrap_or(false);
        if !is_json {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "UnsupportedMediaType",
                "the body must be application/json",
            ));
        }
    }
    Activity::from_json_bytes(&bytes)
        .and_then(|activity| activity.check_delivery().map(|()| activity))
        .map_err(|e| ApiError::bad_argument(e.to_string()))
}

/// Admits the turn (backpressure, then per-conversation order), runs it on
/// the bot's current version, records the outcome, and answers.
async fn take_turn(
    state: Arc<AppState>,
    slot: Arc<BotSlot>,
    mut activity: Activity,
    authorization: Option<String>,
) -> Response {
    let Some(version) = slot.current() else {
        return ApiError::new(
            StatusCode::NOT_FOUND,
            "BotNotFound",
            format!("the bot `{}` is no longer served", slot.name),
        )
        .into_response();
    };
    // A client never chooses its own callerId: authentication sets it.
    activity.extra.remove("callerId");
    let outbound = if version.credentials.has_app_id() {
        match state
            .authenticator
            .authenticate(authorization.as_deref(), &activity, &version.credentials)
            .await
        {
            Ok(identity) => {
                activity
                    .extra
                    .insert("callerId".into(), identity.caller_id.into());
                state.outbound_for(&version, activity.channel_id.as_deref())
            }
            Err(err) => {
                slot.counters.rejected.fetch_add(1, Ordering::Relaxed);
                state.metrics.turn(&slot.name, "unauthorized");
                tracing::warn!(reason = %err, "request unauthorized");
                return ApiError::new(StatusCode::UNAUTHORIZED, "Unauthorized", err.to_string())
                    .into_response();
            }
        }
    } else {
        Outbound::Dev
    };
    remember_reference(&state, &slot.name, &activity);
    let activity = Arc::new(activity);
    let started = std::time::Instant::now();
    let result = dispatch(&state, &slot, &version, activity.clone(), outbound, true).await;
    let ms = started.elapsed().as_millis() as u64;
    let outcome = match result {
        Ok(Dispatched::Done(outcome)) => outcome,
        Ok(Dispatched::Duplicate(answer)) => return answer_response(answer),
        Ok(Dispatched::ShortCircuited(answer)) => {
            tracing::info!(ms, status = answer.status, "turn answered by middleware");
            let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::OK);
            return match answer.body {
                Some(body) => (status, axum::Json(body)).into_response(),
                None => status.into_response(),
            };
        }
        Err(DispatchError::Busy { code, message }) => {
            slot.counters.rejected.fetch_add(1, Ordering::Relaxed);
            state.metrics.turn(&slot.name, "rejected");
            tracing::warn!(reason = %message, "turn rejected");
            return busy(code, message).into_response();
        }
        Err(DispatchError::Turn(err)) => {
            tracing::error!(code = err.code(), ms, version = version.version(), error = %err, "turn failed");
            return turn_failed(&err).into_response();
        }
    };
    tracing::info!(
        ms,
        version = version.version(),
        replies = outcome.buffered_replies.len(),
        "turn done"
    );

    answer_response(turn_answer(&activity, &outcome))
}

/// The HTTP answer to a turn that ended well: its replies under
/// `expectReplies`, the bot's invoke response (501 without one), else 200.
pub fn turn_answer(activity: &Activity, outcome: &TurnOutcome) -> Answer {
    if activity.expects_replies() {
        /// `ExpectedReplies`, serialized straight from the activities.
        #[derive(serde::Serialize)]
        struct ExpectedReplies<'a> {
            activities: &'a [Activity],
        }
        let replies = ExpectedReplies {
            activities: &outcome.buffered_replies,
        };
        return match serde_json::to_string(&replies) {
            Ok(body) => Answer {
                status: 200,
                body: Some(body),
            },
            Err(err) => {
                tracing::error!(error = %err, "cannot serialize the replies");
                Answer {
                    status: 500,
                    body: Some(
                        json!({"error": {"code": "InternalError", "message": "cannot serialize the replies"}})
                            .to_string(),
                    ),
                }
            }
        };
    }
    if activity.kind() == names::INVOKE {
        return match &outcome.invoke_response {
            Some(response) => Answer {
                status: response.status,
                body: response.body.as_ref().map(|body| body.to_string()),
            },
            None => Answer {
                status: 501,
                body: Some(
                    json!({"error": {
                        "code": "NotImplemented",
                        "message": "the bot gave no response to this invoke",
                    }})
                    .to_string(),
                ),
            },
        };
    }
    Answer {
        status: 200,
        body: None,
    }
}

fn answer_response(answer: Answer) -> Response {
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    match answer.body {
        Some(body) => (
            status,
            [(
                header::CONTENT_TYPE,
                header::HeaderValue::from_static("application/json"),
            )],
            body,
        )
            .into_response(),
        None => status.into_response(),
    }
}

/// Stores the conversation reference of an inbound turn, for proactive
/// messages, off the request path.
fn remember_reference(state: &AppState, bot: &str, activity: &Activity) {
    let Some(conversation) = activity.conversation_id().filter(|c| !c.is_empty()) else {
        return;
    };
    // Committed with the next batch of records (`group_commit.rs`).
    state.records.submit(crate::storage::TurnRecord::Reference {
        bot: bot.to_owned(),
        conversation: conversation.to_owned(),
        reference: crate::activity::conversation_reference(activity),
    });
}

/// 503 with `Retry-After: 1`.
fn busy(code: &'static str, message: String) -> ApiError {
    ApiError {
        retry_after: Some(1),
        ..ApiError::new(StatusCode::SERVICE_UNAVAILABLE, code, message)
    }
}

/// 503 when the host is out of instance slots (the caller may retry), 500
/// for everything that went wrong in the bot.
fn turn_failed(err: &TurnError) -> ApiError {
    match err {
        TurnError::Busy => busy(err.code(), err.to_string()),
        _ => ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            err.code(),
            err.to_string(),
        ),
    }
}
