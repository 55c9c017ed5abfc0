//! The host's one retry pacing: exponential backoff with jitter (backon),
//! used for Bot Connector calls and for re-running a turn after a state
//! conflict.

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};

/// Backoff starting at `first`, doubling, with jitter, for at most `times`
/// retries.
pub fn exponential(first: Duration, times: usize) -> ExponentialBuilder {
    ExponentialBuilder::default()
        .with_min_delay(first)
        .with_max_times(times)
        .with_jitter()
}

/// The pauses of [`exponential`] as an iterator, for loops that retry by
/// hand.
pub fn pauses(first: Duration, times: usize) -> impl Iterator<Item = Duration> {
    exponential(first, times).build()
}
