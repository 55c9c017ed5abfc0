//! The host's one wall clock: Unix milliseconds for stores and timers, Unix
//! seconds for tokens, RFC 3339 for activity timestamps; and the gate that
//! runs a periodic chore at most once a minute.

use std::sync::atomic::{AtomicI64, Ordering::Relaxed};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Time since the Unix epoch (zero if the clock is set before it).
fn since_epoch() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

/// Now, in milliseconds since the Unix epoch: the stores' unit of time.
pub fn now_millis() -> i64 {
    since_epoch().as_millis() as i64
}

/// Now, in nanoseconds since the Unix epoch: for ids, not for time.
pub fn now_nanos() -> u128 {
    since_epoch().as_nanos()
}

/// Now, in whole seconds since the Unix epoch: the unit of JWT claims.
pub fn now_seconds() -> u64 {
    since_epoch().as_secs()
}

/// Now as an RFC 3339 timestamp with milliseconds, as activities carry it.
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_millis(SystemTime::now()).to_string()
}

/// Lets a periodic chore (forgetting expired rows) run at most once a
/// minute, whichever of the tasks that may trigger it gets there first.
#[derive(Debug, Default)]
pub struct OncePerMinute(AtomicI64);

impl OncePerMinute {
    /// True for the one caller that should run the chore at `now` (Unix ms).
    /// A wall clock that stepped back before the last run (set forward by
    /// days, then put right) makes it due at once, not after the step.
    pub fn due(&self, now: i64) -> bool {
        let last = self.0.load(Relaxed);
        let since = now - last;
        !(0..=60_000).contains(&since)
            && self.0.compare_exchange(last, now, Relaxed, Relaxed).is_ok()
    }

    /// Makes the chore due again at once.
    pub fn reset(&self) {
        self.0.store(0, Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Once a minute, one caller at a time; a clock stepped back from the
    /// future does not hold the chore off until it catches up again.
    #[test]
    fn a_chore_runs_once_a_minute_and_after_the_clock_steps_back() {
        let chore = OncePerMinute::default();
        let start = 1_800_000_000_000;
        assert!(chore.due(start));
        assert!(!chore.due(start));
        assert!(!chore.due(start + 60_000));
        assert!(chore.due(start + 60_001));
        // Set three days ahead, then put right.
        let ahead = start + 3 * 86_400_000;
        assert!(chore.due(ahead));
        assert!(chore.due(start + 120_000));
        assert!(!chore.due(start + 150_000));
        assert!(chore.due(start + 180_001));
        chore.reset();
        assert!(chore.due(start + 180_002));
    }
}
