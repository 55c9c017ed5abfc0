//! A turn's outbound HTTP (the hooks behind `wasi:http/outgoing-handler`,
//! linked in `runtime/host/http.rs`): each request a turn makes is
//! checked against the bot's allowlist (`runtime/http/mod.rs`), counted against
//! the turn's limits (requests, concurrent requests, request and response
//! bytes, timeouts within the turn's deadline), sent on the bot's own
//! client, and its response body handed to the guest as it arrives. A
//! refused request gets the standard error (`HTTP-request-denied` for a
//! host not on the allowlist) and one log line; the turn goes on. Each
//! request has a span under the turn's, a W3C `traceparent` sent upstream
//! (the turn's trace id, the request's span id: those of the exported
//! spans when `--otlp-endpoint` is set), and its metrics; headers and
//! bodies are never logged.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use axum::http;
use futures_util::StreamExt;
use http_body_util::{BodyExt, Limited, StreamBody};
use hyper::body::{Bytes, Frame};
use tracing::Instrument;
use wasmtime_wasi_http::WasiHttpHooks;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody};

use super::BotHttp;
use super::guard::Prohibited;
use crate::schema::outbound::default_port;

/// A turn's outbound HTTP: the bot's policy and what the turn used of its
/// limits.
pub struct TurnHttp {
    bot: Arc<BotHttp>,
    deadline: Instant,
    /// The W3C trace id of the turn's requests (made on the first).
    trace_id: Option<String>,
    /// Refusals logged this turn: a bot refused in a loop cannot flood the
    /// log.
    refusals_logged: u32,
    requests: u32,
    request_bytes: u64,
    response_bytes: Arc<AtomicU64>,
    in_flight: Arc<tokio::sync::Semaphore>,
}

impl TurnHttp {
    pub fn new(bot: Arc<BotHttp>, deadline: Instant) -> TurnHttp {
        let concurrent = bot.limits.max_concurrent_requests as usize;
        TurnHttp {
            bot,
            deadline,
            trace_id: None,
            refusals_logged: 0,
            requests: 0,
            request_bytes: 0,
            response_bytes: Arc::default(),
            in_flight: Arc::new(tokio::sync::Semaphore::new(concurrent)),
        }
    }

    /// Whether the request may go: the allowlist, then the turn's count.
    /// Returns the client and the upstream host.
    fn admit(
        &mut self,
        request: &http::Request<WasiBody>,
    ) -> Result<(reqwest::Client, String), Error> {
        let uri = request.uri();
        let scheme = uri.scheme_str().unwrap_or("https").to_ascii_lowercase();
        let host = uri
            .host()
            .ok_or(Error::HttpRequestUriInvalid)?
            .trim_matches(['[', ']'])
            .to_ascii_lowercase();
        let port = uri.port_u16().unwrap_or_else(|| default_port(&scheme));
        // A handle of its own: the refusal log below borrows `self`.
        let bot = Arc::clone(&self.bot);
        let client = match &bot.client {
            Some(client) if bot.allows(&scheme, &host, port) => client.clone(),
            _ => {
                if self.log_refusal() {
                    tracing::warn!(bot = %bot.bot, host = %host, port, "outbound HTTP denied: not on the bot's [http] allowed_hosts");
                }
                count(&bot, &host, "denied");
                return Err(Error::HttpRequestDenied);
            }
        };
        if self.requests >= bot.limits.max_requests_per_turn {
            if self.log_refusal() {
                tracing::warn!(bot = %bot.bot, limit = bot.limits.max_requests_per_turn, "outbound HTTP refused: the turn's request limit is reached");
            }
            count(&bot, &host, "denied");
            return Err(Error::ConnectionLimitReached);
        }
        self.requests += 1;
        Ok((client, host))
    }

    /// Whether to log this refusal: the first few of a turn, then one line
    /// saying the rest are not.
    fn log_refusal(&mut self) -> bool {
        const LOGGED: u32 = 3;
        self.refusals_logged += 1;
        if self.refusals_logged == LOGGED + 1 {
            tracing::warn!(bot = %self.bot.bot, "outbound HTTP: further refusals in this turn are counted in /metrics, not logged");
        }
        self.refusals_logged <= LOGGED
    }

    /// The `traceparent` of a new request: the turn's trace id, a new span
    /// id, sampled.
    fn traceparent(&mut self) -> String {
        let random = crate::support::ids::random_id;
        let trace = self
            .trace_id
            .get_or_insert_with(|| format!("{}{}", random(), random())[..32].to_owned());
        format!("00-{trace}-{}-01", &random()[..16])
    }
}

/// Counts one request of `bot` to `host` in `class`.
fn count(bot: &BotHttp, host: &str, class: &'static str) {
    if let Some(metrics) = &bot.metrics {
        metrics.http_request(&bot.bot, host, class);
    }
}

/// The status class label of a response.
fn class_of(status: u16) -> &'static str {
    match status {
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        500..=599 => "5xx",
        _ => "error",
    }
}

type Sent = Box<
    dyn Future<
            Output = Result<
                (
                    http::Response<WasiBody>,
                    Box<dyn Future<Output = Result<(), Error>> + Send>,
                ),
                Error,
            >,
        > + Send,
>;

impl WasiHttpHooks for TurnHttp {
    /// The client sets `Host` from the URL itself.
    fn set_host_header(&mut self) -> bool {
        false
    }

    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        _options: Option<RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), Error>> + Send>,
    ) -> Sent {
        let (client, host) = match self.admit(&request) {
            Ok(admitted) => admitted,
            Err(err) => return Box::new(async move { Err(err) }),
        };
        let span = tracing::info_span!(
            "http_request",
            bot = %self.bot.bot,
            host = %host,
            method = %request.method(),
            traceparent = tracing::field::Empty,
        );
        // The exported span's own ids when spans go to a collector, so the
        // upstream's spans join the turn's trace.
        let traceparent = crate::support::trace_context::traceparent_of(&span)
            .unwrap_or_else(|| self.traceparent());
        span.record("traceparent", traceparent.as_str());
        let limits = self.bot.limits;
        let left = limits
            .max_request_bytes_per_turn
            .saturating_sub(self.request_bytes);
        // Counted in full up front: a body cut short still used its share.
        let declared = request
            .headers()
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
            .unwrap_or(0);
        self.request_bytes = self.request_bytes.saturating_add(declared);
        let timeout = limits
            .timeout
            .min(self.deadline.saturating_duration_since(Instant::now()));
        let first_byte = limits.first_byte_timeout.min(timeout);
        let (response_bytes, in_flight) = (self.response_bytes.clone(), self.in_flight.clone());
        let bot = self.bot.clone();
        let send = async move {
            let Ok(permit) = in_flight.try_acquire_owned() else {
                tracing::warn!(
                    limit = limits.max_concurrent_requests,
                    "outbound HTTP refused: too many requests at once"
                );
                count(&bot, &host, "denied");
                return Err(Error::ConnectionLimitReached);
            };
            let (mut parts, body) = request.into_parts();
            if !parts.headers.contains_key("traceparent")
                && let Ok(value) = http::HeaderValue::from_str(&traceparent)
            {
                parts.headers.insert("traceparent", value);
            }
            let body = Limited::new(body, left as usize)
                .collect()
                .await
                .map_err(|_| Error::HttpRequestBodySize(Some(left)))?
                .to_bytes();
            if let Some(metrics) = &bot.metrics {
                metrics.http_bytes(&bot.bot, "sent", body.len() as u64);
            }
            let request = client
                .request(parts.method, parts.uri.to_string())
                .headers(parts.headers)
                .timeout(timeout)
                .body(body)
                .build()
                .map_err(|_| Error::HttpRequestUriInvalid)?;
            let started = Instant::now();
            let response = match tokio::time::timeout(first_byte, client.execute(request)).await {
                Ok(Ok(response)) => response,
                Ok(Err(err)) => {
                    let err = connect_error(&err);
                    tracing::info!(error = ?err, "outbound HTTP failed");
                    let class = match err {
                        Error::DestinationIpProhibited => "denied",
                        _ => "error",
                    };
                    count(&bot, &host, class);
                    return Err(err);
                }
                Err(_) => {
                    tracing::info!("outbound HTTP timed out before the response's head");
                    count(&bot, &host, "error");
                    return Err(Error::HttpResponseTimeout);
                }
            };
            let status = response.status().as_u16();
            let ms = started.elapsed().as_millis() as u64;
            tracing::info!(status, ms, "outbound HTTP answered");
            count(&bot, &host, class_of(status));
            if let Some(metrics) = &bot.metrics {
                crate::support::metrics::Metrics::bot_histogram(&metrics.http_duration, &bot.bot)
                    .observe(started.elapsed().as_secs_f64());
            }
            let received = bot.clone();
            let cap = limits.max_response_bytes_per_turn;
            let mut head = http::Response::builder()
                .status(response.status())
                .version(response.version());
            if let Some(headers) = head.headers_mut() {
                *headers = response.headers().clone();
            }
            let chunks = response.bytes_stream().map(move |chunk| {
                // The permit is the response's: held until its body ends.
                let _held = &permit;
                let chunk: Bytes = chunk.map_err(|e| body_error(&e))?;
                if let Some(metrics) = &received.metrics {
                    metrics.http_bytes(&received.bot, "received", chunk.len() as u64);
                }
                let used = response_bytes.fetch_add(chunk.len() as u64, Ordering::Relaxed)
                    + chunk.len() as u64;
                if used > cap {
                    return Err(Error::HttpResponseBodySize(Some(cap)));
                }
                Ok(Frame::data(chunk))
            });
            let response = head
                .body(StreamBody::new(chunks).boxed_unsync())
                .map_err(|e| Error::InternalError(Some(e.to_string())))?;
            Ok((
                response,
                Box::new(async { Ok(()) }) as Box<dyn Future<Output = _> + Send>,
            ))
        };
        Box::new(send.instrument(span))
    }
}

/// A failed request (before the response head) as the guest sees it.
fn connect_error(err: &reqwest::Error) -> Error {
    if err.is_timeout() {
        return Error::HttpResponseTimeout;
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(cause) = source {
        if cause.downcast_ref::<Prohibited>().is_some() {
            return Error::DestinationIpProhibited;
        }
        source = cause.source();
    }
    if err.is_connect() {
        Error::ConnectionRefused
    } else {
        Error::HttpProtocolError
    }
}

/// A failed read of the response body.
fn body_error(err: &reqwest::Error) -> Error {
    if err.is_timeout() {
        Error::HttpResponseTimeout
    } else {
        Error::HttpResponseIncomplete
    }
}
