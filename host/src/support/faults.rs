//! Fault injection for the crash tests: named points on a turn's way from
//! "received" to "answered" where the process can be made to die at once,
//! as `kill -9` would. `TURNBOX_FAULT=point` (or `point@N`, the Nth time the
//! point is reached) arms one point; only debug builds read it, so a
//! release build ignores the variable and every point is a no-op.
//!
//! The points: `after-claim` (a delivery claimed, the turn not run),
//! `after-commit` (the turn committed, its held-back sends not posted),
//! `between-posts` (one held-back send posted, the next not),
//! `after-posts` (all posted, not yet removed from the outbox),
//! `between-appends` (a Direct Line append of several activities, such as
//! a bot's history: one written in its transaction, the next not), and
//! `after-log` (a user's message logged by Direct Line or the
//! conversations API, with its kept turn; the turn not run).
//!
//! A point reached with `pause` waits instead (`point~MS`: MS
//! milliseconds), so a test can act between two steps: `after-close` (a
//! stopping host's committer closed, its claims not yet handed on) and
//! `after-commit`.

/// Dies here if this point is the armed one (debug builds only).
#[inline]
pub fn point(name: &str) {
    #[cfg(debug_assertions)]
    armed::check(name);
    #[cfg(not(debug_assertions))]
    let _ = name;
}

/// Waits here if this point is armed as `name~MS` (debug builds only).
pub async fn pause(name: &str) {
    #[cfg(debug_assertions)]
    if let Some(wait) = armed::pause(name) {
        eprintln!("turnbox: fault injected at `{name}`: pausing {wait:?}");
        tokio::time::sleep(wait).await;
    }
    #[cfg(not(debug_assertions))]
    let _ = name;
}

#[cfg(debug_assertions)]
mod armed {
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU64, Ordering};

    /// The armed point and on which arrival it fires.
    fn armed() -> Option<&'static (String, u64)> {
        static ARMED: OnceLock<Option<(String, u64)>> = OnceLock::new();
        ARMED
            .get_or_init(|| {
                let spec = std::env::var("TURNBOX_FAULT").ok()?;
                let (name, nth) = match spec.split_once('@') {
                    Some((name, nth)) => (name, nth.parse().ok()?),
                    None => (spec.as_str(), 1),
                };
                Some((name.to_owned(), nth))
            })
            .as_ref()
    }

    /// The pause armed at `name`, if any.
    pub fn pause(name: &str) -> Option<std::time::Duration> {
        let spec = std::env::var("TURNBOX_FAULT").ok()?;
        let (armed, ms) = spec.split_once('~')?;
        (armed == name).then_some(std::time::Duration::from_millis(ms.parse().ok()?))
    }

    pub fn check(name: &str) {
        static ARRIVALS: AtomicU64 = AtomicU64::new(0);
        let Some((armed, nth)) = armed() else {
            return;
        };
        if armed == name && ARRIVALS.fetch_add(1, Ordering::SeqCst) + 1 == *nth {
            eprintln!("turnbox: fault injected at `{name}`: aborting");
            std::process::abort();
        }
    }
}
