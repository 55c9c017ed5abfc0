//! Sharing the cores between short and long turns. Epoch ticks make every
//! running turn yield (`run.rs`); a turn still computing at its
//! `LONG_AFTER_SLICES`-th tick is a *long turn*, and from then on each of
//! its slices needs one of the host's compute lanes: one fewer than the
//! cores, at least one. Lanes are handed out in FIFO order and given back
//! at every yield, so long turns (a bot in an endless loop, say) take the
//! lanes round-robin and can never occupy every core: short turns, of any
//! bot, always find one free.
//!
//! A tick is counted when wasm runs across it, so a turn that waits in
//! several slow host calls may be counted long too; it then only waits for
//! a lane while other long turns hold them all.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Ticks a turn computes through before it needs a lane: with 10 ms ticks,
/// a turn that has computed for about 20–30 ms.
pub const LONG_AFTER_SLICES: u32 = 3;

/// The host's compute lanes for long turns.
pub struct ComputeLanes {
    lanes: Arc<Semaphore>,
    count: usize,
}

impl ComputeLanes {
    /// One lane fewer than this machine's cores, at least one.
    pub fn for_this_machine() -> ComputeLanes {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        ComputeLanes::new(cores.saturating_sub(1))
    }

    pub fn new(count: usize) -> ComputeLanes {
        let count = count.max(1);
        ComputeLanes {
            lanes: Arc::new(Semaphore::new(count)),
            count,
        }
    }

    pub fn count(&self) -> usize {
        self.count
    }

    /// The lane bookkeeping of a new turn.
    pub fn new_turn(&self) -> LaneUse {
        LaneUse {
            lanes: self.lanes.clone(),
            slices: 0,
            held: Arc::new(Mutex::new(None)),
        }
    }
}

/// How one turn uses the lanes: its slices so far and the lane it holds.
pub struct LaneUse {
    lanes: Arc<Semaphore>,
    slices: u32,
    held: Arc<Mutex<Option<OwnedSemaphorePermit>>>,
}

/// What the turn waits on before its next slice: nothing (a plain yield)
/// or a lane.
pub enum NextSlice {
    Yield,
    Lane(Pin<Box<dyn Future<Output = ()> + Send>>),
}

impl LaneUse {
    /// Called at each epoch tick the turn computes through.
    pub fn next_slice(&mut self) -> NextSlice {
        self.slices = self.slices.saturating_add(1);
        if self.slices < LONG_AFTER_SLICES {
            return NextSlice::Yield;
        }
        // Give the lane back (a long turn waiting gets it first), then
        // queue for one again.
        self.release();
        let lanes = self.lanes.clone();
        let held = self.held.clone();
        NextSlice::Lane(Box::pin(async move {
            // The semaphore is never closed; an error would only mean "go on".
            if let Ok(permit) = lanes.acquire_owned().await {
                *lock(&held) = Some(permit);
            }
        }))
    }

    /// Gives back the lane the turn holds, if any (at the end of a turn).
    pub fn release(&self) {
        lock(&self.held).take();
    }

    pub fn is_long(&self) -> bool {
        self.slices >= LONG_AFTER_SLICES
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn lane_future(turn: &mut LaneUse) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        match turn.next_slice() {
            NextSlice::Lane(wait) => wait,
            NextSlice::Yield => panic!("a long turn got a plain yield"),
        }
    }

    /// Slices until the turn is long; each is a plain yield.
    fn make_long(turn: &mut LaneUse) {
        for _ in 1..LONG_AFTER_SLICES {
            assert!(matches!(turn.next_slice(), NextSlice::Yield));
        }
    }

    #[tokio::test]
    async fn long_turns_take_the_lanes_round_robin() {
        let lanes = ComputeLanes::new(1);
        let mut first = lanes.new_turn();
        let mut second = lanes.new_turn();
        make_long(&mut first);
        make_long(&mut second);
        assert!(!first.is_long());

        // The first long turn gets the only lane at once.
        lane_future(&mut first).await;
        assert!(first.is_long());
        // The second waits while the first holds it…
        let mut waiting = lane_future(&mut second);
        assert!(
            tokio::time::timeout(Duration::from_millis(50), &mut waiting)
                .await
                .is_err(),
            "two long turns computed at once on one lane"
        );
        // …and gets it when the first yields its slice; the first now waits.
        let mut first_waiting = lane_future(&mut first);
        waiting.await;
        assert!(
            tokio::time::timeout(Duration::from_millis(50), &mut first_waiting)
                .await
                .is_err()
        );
        // A turn that ends gives its lane back.
        second.release();
        first_waiting.await;
    }

    #[test]
    fn there_is_always_a_lane() {
        assert_eq!(ComputeLanes::new(0).count(), 1);
        assert!(ComputeLanes::for_this_machine().count() >= 1);
    }
}
