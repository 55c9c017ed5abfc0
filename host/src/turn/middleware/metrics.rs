//! Built-in middleware: each turn's duration and outcome, per bot, into
//! `/metrics` (on unless the manifest says `metrics = false`).

use std::sync::Arc;
use std::time::Instant;

use super::{Middleware, TurnEnd, TurnHook, TurnInfo};
use crate::runtime::turn::TurnError;
use crate::support::errors::BoxFuture;
use crate::support::metrics::Metrics;

/// Turn duration and outcome, per bot, into `/metrics`.
pub struct TurnMetrics {
    pub metrics: Arc<Metrics>,
}

struct TurnMetricsHook {
    metrics: Arc<Metrics>,
    started: Instant,
}

impl Middleware for TurnMetrics {
    fn hook(&self, _turn: &TurnInfo) -> Box<dyn TurnHook> {
        Box::new(TurnMetricsHook {
            metrics: self.metrics.clone(),
            started: Instant::now(),
        })
    }
}

impl TurnHook for TurnMetricsHook {
    fn after<'a>(&'a mut self, turn: &'a TurnInfo, end: &'a TurnEnd<'a>) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let bot = &turn.bot;
            Metrics::bot_histogram(&self.metrics.turn_duration, bot)
                .observe(self.started.elapsed().as_secs_f64());
            let outcome = match end {
                TurnEnd::Done(outcome) => {
                    Metrics::bot_histogram(&self.metrics.instantiation, bot)
                        .observe(outcome.instantiation.as_secs_f64());
                    "ok"
                }
                TurnEnd::Failed(TurnError::Timeout(_)) => "timeout",
                TurnEnd::Failed(_) => "failed",
                TurnEnd::ShortCircuited(_) => "short_circuited",
            };
            self.metrics.turn(bot, outcome);
        })
    }
}
