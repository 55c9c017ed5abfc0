//! Prometheus metrics (`GET /metrics`, OpenMetrics text): turns by bot and
//! outcome, turn duration, instantiation time, reloads and compile-cache
//! results, open and refused connections, bots' outbound HTTP (requests by
//! upstream host and status class, bytes, time to the response's head).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TurnLabels {
    pub bot: String,
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BotLabel {
    pub bot: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReloadLabels {
    pub bot: String,
    pub result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CacheLabel {
    pub result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    pub bot: String,
    pub host: String,
    /// `2xx` … `5xx`, `denied` (not allowed, or over a limit), `error`.
    pub class: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BytesLabels {
    pub bot: String,
    /// `sent` or `received`.
    pub direction: &'static str,
}

type HistogramFamily = Family<BotLabel, Histogram, fn() -> Histogram>;

fn duration_histogram() -> Histogram {
    // 100 µs … ~26 s.
    Histogram::new(exponential_buckets(0.0001, 2.0, 19))
}

/// Every metric the host exports.
pub struct Metrics {
    registry: Registry,
    pub turns: Family<TurnLabels, Counter>,
    pub turn_duration: HistogramFamily,
    pub instantiation: HistogramFamily,
    pub reloads: Family<ReloadLabels, Counter>,
    pub compile_cache: Family<CacheLabel, Counter>,
    pub connections_open: Gauge,
    pub connections_refused: Counter,
    pub request_bodies_timed_out: Counter,
    pub http_requests: Family<HttpLabels, Counter>,
    pub http_bytes: Family<BytesLabels, Counter>,
    pub http_duration: HistogramFamily,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("turnbox");
        let turns = Family::<TurnLabels, Counter>::default();
        registry.register(
            "turns",
            "Turns by bot and outcome (ok, failed, timeout, rejected)",
            turns.clone(),
        );
        let turn_duration: HistogramFamily = Family::new_with_constructor(duration_histogram);
        registry.register(
            "turn_duration_seconds",
            "Duration of turns, from instantiation to the bot's return",
            turn_duration.clone(),
        );
        let instantiation: HistogramFamily = Family::new_with_constructor(duration_histogram);
        registry.register(
            "instantiation_seconds",
            "Time to instantiate a bot for a turn",
            instantiation.clone(),
        );
        let reloads = Family::<ReloadLabels, Counter>::default();
        registry.register(
            "reloads",
            "Bot loads and reloads by result (loaded, failed, retired)",
            reloads.clone(),
        );
        let compile_cache = Family::<CacheLabel, Counter>::default();
        registry.register(
            "compile_cache",
            "Compile cache lookups by result (hit, miss, corrupt)",
            compile_cache.clone(),
        );
        let connections_open = Gauge::default();
        registry.register(
            "connections_open",
            "HTTP connections being served",
            connections_open.clone(),
        );
        let connections_refused = Counter::default();
        registry.register(
            "connections_refused",
            "HTTP connections turned away with 503 at the connection cap",
            connections_refused.clone(),
        );
        let request_bodies_timed_out = Counter::default();
        registry.register(
            "request_bodies_timed_out",
            "Requests answered 408 because their body did not arrive in time",
            request_bodies_timed_out.clone(),
        );
        let http_requests = Family::<HttpLabels, Counter>::default();
        registry.register(
            "http_requests",
            "Bots' outbound HTTP requests by upstream host and status class (or denied, error)",
            http_requests.clone(),
        );
        let http_bytes = Family::<BytesLabels, Counter>::default();
        registry.register(
            "http_bytes",
            "Bytes of bots' outbound HTTP bodies, sent and received",
            http_bytes.clone(),
        );
        let http_duration: HistogramFamily = Family::new_with_constructor(duration_histogram);
        registry.register(
            "http_duration_seconds",
            "Time from a bot's outbound request to its response's head",
            http_duration.clone(),
        );
        Metrics {
            registry,
            http_requests,
            http_bytes,
            http_duration,
            turns,
            turn_duration,
            instantiation,
            reloads,
            compile_cache,
            connections_open,
            connections_refused,
            request_bodies_timed_out,
        }
    }

    pub fn turn(&self, bot: &str, outcome: &'static str) {
        self.turns
            .get_or_create(&TurnLabels {
                bot: bot.to_owned(),
                outcome,
            })
            .inc();
    }

    pub fn reload(&self, bot: &str, result: &'static str) {
        self.reloads
            .get_or_create(&ReloadLabels {
                bot: bot.to_owned(),
                result,
            })
            .inc();
    }

    /// One outbound request of `bot` to `host`, by class.
    pub fn http_request(&self, bot: &str, host: &str, class: &'static str) {
        self.http_requests
            .get_or_create(&HttpLabels {
                bot: bot.to_owned(),
                host: host.to_owned(),
                class,
            })
            .inc();
    }

    /// Outbound body bytes of `bot`.
    pub fn http_bytes(&self, bot: &str, direction: &'static str, bytes: u64) {
        self.http_bytes
            .get_or_create(&BytesLabels {
                bot: bot.to_owned(),
                direction,
            })
            .inc_by(bytes);
    }

    pub fn bot_histogram<'a>(
        family: &'a HistogramFamily,
        bot: &str,
    ) -> impl std::ops::Deref<Target = Histogram> + 'a {
        family.get_or_create(&BotLabel {
            bot: bot.to_owned(),
        })
    }

    /// The OpenMetrics text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}
