//! The host's one retry pacing: exponential backoff with jitter (backon),
//! used for Bot Connector and Token Service calls ([`with_retries`]) and for
//! re-running a turn after a state conflict.

use std::fmt::Display;
use std::future::Future;
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder, Retryable};

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

/// How a call to a service is retried: at most `times` retries of the errors
/// `transient` picks, paced by [`exponential`] from `first`, or by the
/// error's own `Retry-After` (`retry_after`) up to `max_retry_after`.
pub struct RetryPolicy<E> {
    pub first: Duration,
    pub times: usize,
    pub max_retry_after: Duration,
    pub transient: fn(&E) -> bool,
    pub retry_after: fn(&E) -> Option<Duration>,
    /// What is retried, for the log line of each retry.
    pub what: &'static str,
}

/// Runs `attempt` under `policy`; the last error if every try failed.
pub async fn with_retries<T, E, F, Fut>(policy: &RetryPolicy<E>, attempt: F) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: Display,
{
    attempt
        .retry(exponential(policy.first, policy.times))
        .when(policy.transient)
        .adjust(|err, backoff| match (policy.retry_after)(err) {
            Some(after) => Some(after.min(policy.max_retry_after)),
            None => backoff,
        })
        .notify(|err, wait| {
            tracing::warn!(error = %err, wait_ms = wait.as_millis() as u64, "retrying {}", policy.what);
        })
        .await
}
