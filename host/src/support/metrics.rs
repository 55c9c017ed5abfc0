//! Prometheus metrics (`GET /metrics`, OpenMetrics text): turns by bot and
//! outcome, turn duration, instantiation time, reloads and compile-cache
//! results, open and refused connections.

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
        Metrics {
            registry,
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
