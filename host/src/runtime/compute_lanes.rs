//! Sharing the cores between short and long turns. Epoch ticks make every
//! running turn yield (`run.rs`); a turn that has computed through
//! `LONG_AFTER_SLICES` counted ticks is a *long turn*, and from then on each of
//! its slices needs one of the host's compute lanes: one fewer than the
//! cores, at least one. Lanes are handed out in FIFO order and given back
//! at every yield, so long turns (a bot in an endless loop, say) take the
//! lanes round-robin and can never occupy every core: short turns, of any
//! bot, always find one free.
//!
//! A tick counts when the turn computed (ran wasm) for at least
//! [`MIN_COMPUTE_PER_SLICE`] since the last counted one: the store's call
//! hook (`run.rs`) tells [`LaneUse`] when the guest enters and leaves wasm.
//! Time in host calls (a connector POST, an outbound request), in libcalls
//! and in the epoch check's own yield does not count, so a bot whose turns
//! wait across ticks under load is not taken for a computing one.
//!
//! A turn that becomes long also moves ([`run_turn_call`]) off the runtime
//! that serves requests, to the compute runtime: as many threads as lanes,
//! at a lower scheduling priority (nice 10). Its slices then never hold up
//! the tasks queued on a request worker, and the kernel runs the request
//! path first whenever both want a core. A bot that had a long turn in the
//! last [`RECENT_LONG_MS`] starts its turns there ([`LongTurns`]), so a
//! looping bot does not spend its first ticks on a request worker either.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::Poll;
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::support::clock::now_millis;

/// The nice value of the compute runtime's threads.
const COMPUTE_NICE: libc::c_int = 10;

/// How long after one of its turns was long a bot's turns start on the
/// compute runtime.
pub const RECENT_LONG_MS: i64 = 5_000;

/// When one bot last had a long turn.
pub struct LongTurns {
    last_ms: AtomicI64,
}

impl Default for LongTurns {
    fn default() -> Self {
        LongTurns {
            last_ms: AtomicI64::new(i64::MIN / 2),
        }
    }
}

impl LongTurns {
    /// Whether the bot had a long turn in the last [`RECENT_LONG_MS`].
    pub fn recent(&self) -> bool {
        now_millis() - self.last_ms.load(Ordering::Relaxed) < RECENT_LONG_MS
    }

    fn saw_one(&self) {
        self.last_ms.store(now_millis(), Ordering::Relaxed);
    }
}

/// Counted ticks (each after [`MIN_COMPUTE_PER_SLICE`] of wasm) before a
/// turn needs a lane: a turn that has computed for 10 ms or more.
pub const LONG_AFTER_SLICES: u32 = 2;

/// Wasm time a tick needs behind it to count as one the turn computed
/// through: half a tick (`engine::EPOCH_TICK` is 10 ms).
pub const MIN_COMPUTE_PER_SLICE: Duration = Duration::from_millis(5);

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

    /// The lane bookkeeping of a new turn of a bot with `history`: to be
    /// moved from the start if that bot had a long turn lately.
    pub fn new_turn(&self, history: Arc<LongTurns>) -> LaneUse {
        LaneUse {
            lanes: self.lanes.clone(),
            slices: 0,
            held: Arc::new(Mutex::new(None)),
            moved: Arc::new(AtomicBool::new(history.recent())),
            history,
            computing_since: None,
            computed: Duration::ZERO,
        }
    }
}

/// How one turn uses the lanes: its slices so far and the lane it holds.
pub struct LaneUse {
    lanes: Arc<Semaphore>,
    slices: u32,
    held: Arc<Mutex<Option<OwnedSemaphorePermit>>>,
    /// Set once the turn is long (or from the start, after a recent long
    /// turn of its bot): [`run_turn_call`] then moves it.
    moved: Arc<AtomicBool>,
    history: Arc<LongTurns>,
    /// When the guest last entered wasm; `None` while it is outside (in
    /// the host, or between calls).
    computing_since: Option<Instant>,
    /// Wasm time since the last counted slice, up to `computing_since`.
    computed: Duration,
}

/// What the turn waits on before its next slice: nothing (a plain yield)
/// or a lane.
pub enum NextSlice {
    Yield,
    Lane(Pin<Box<dyn Future<Output = ()> + Send>>),
}

impl LaneUse {
    /// The guest entered wasm: a call into the bot, or back from the host
    /// (the store's call hook).
    pub fn computing(&mut self) {
        self.computing_since.get_or_insert_with(Instant::now);
    }

    /// The guest left wasm: into the host (a host call, a libcall, the
    /// epoch check), or the call returned.
    pub fn waiting(&mut self) {
        if let Some(since) = self.computing_since.take() {
            self.computed += since.elapsed();
        }
    }

    /// Called at each epoch tick the turn's wasm sees (inside the epoch
    /// check, a libcall: the hook has just said `waiting`).
    pub fn next_slice(&mut self) -> NextSlice {
        if self.computed < MIN_COMPUTE_PER_SLICE {
            // A tick the turn mostly waited through, in host calls.
            return NextSlice::Yield;
        }
        self.computed = Duration::ZERO;
        self.slices = self.slices.saturating_add(1);
        if self.slices < LONG_AFTER_SLICES {
            return NextSlice::Yield;
        }
        // At every long slice, so a turn that computes for longer than
        // the window keeps its bot's history fresh.
        self.history.saw_one();
        if !self.moved.swap(true, Ordering::Relaxed) {
            tracing::info!(
                "a long turn: it has computed for {} ms, and moves to the compute lanes",
                (MIN_COMPUTE_PER_SLICE * LONG_AFTER_SLICES).as_millis()
            );
        }
        // Give the lane back (a long turn waiting gets it first), then
        // queue for one again.
        self.release();
        let lanes = self.lanes.clone();
        let held = self.held.clone();
        NextSlice::Lane(Box::pin(async move {
            // Give the thread up first even when the lane is free at once:
            // turns that are not long run on the compute runtime too (a bot
            // with a recent long turn starts its turns there), and a long
            // turn alone on the lanes would otherwise never let them run.
            tokio::task::yield_now().await;
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

    /// Whether the turn runs on the compute runtime, for [`run_turn_call`]
    /// to watch.
    pub fn moved_flag(&self) -> Arc<AtomicBool> {
        self.moved.clone()
    }
}

/// Runs `call` (a turn's wasm, which owns its store) on the current task
/// until `moved` is set (from the start, or at a yield), then on the
/// compute runtime; returns its output either way. Dropping the returned
/// future (the turn's timeout) drops the call wherever it runs.
pub async fn run_turn_call<T: Send + 'static>(
    call: Pin<Box<dyn Future<Output = T> + Send>>,
    moved: Arc<AtomicBool>,
) -> T {
    let mut call = call;
    if !moved.load(Ordering::Relaxed) {
        let here = std::future::poll_fn(|cx| match call.as_mut().poll(cx) {
            Poll::Ready(output) => Poll::Ready(Some(output)),
            Poll::Pending if moved.load(Ordering::Relaxed) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        })
        .await;
        if let Some(output) = here {
            return output;
        }
    }
    let Some(compute) = compute_runtime() else {
        // No compute runtime (its threads could not start): go on here.
        return call.await;
    };
    let moved = tokio_util::task::AbortOnDropHandle::new(
        compute.spawn(tracing::Instrument::in_current_span(call)),
    );
    match moved.await {
        Ok(output) => output,
        // Only a panic in the bot's host calls gets here: the same as it
        // would be on this task.
        Err(err) => std::panic::resume_unwind(err.into_panic()),
    }
}

/// The compute runtime, started on the first long turn and kept for the
/// life of the process; `None` (logged once) if it cannot start.
fn compute_runtime() -> Option<&'static tokio::runtime::Handle> {
    static COMPUTE: OnceLock<Option<tokio::runtime::Runtime>> = OnceLock::new();
    COMPUTE
        .get_or_init(|| {
            let threads = ComputeLanes::for_this_machine().count();
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(threads)
                .thread_name("turnbox-compute")
                .on_thread_start(|| {
                    // SAFETY: setpriority on the calling thread (0 = self);
                    // raising the nice value needs no privilege.
                    let _ = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, COMPUTE_NICE) };
                })
                .enable_all()
                .build()
                .map_err(|err| {
                    tracing::warn!(error = %err, "no compute runtime; long turns stay on the request workers")
                })
                .ok()
        })
        .as_ref()
        .map(|runtime| runtime.handle())
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The epoch check after the turn computed for `computed`: a libcall,
    /// so the hook reports the guest leaving wasm and coming back around it.
    fn epoch_check(turn: &mut LaneUse, computed: Duration) -> NextSlice {
        turn.computed += computed;
        turn.waiting();
        let next = turn.next_slice();
        turn.computing();
        next
    }

    /// A tick after the turn computed through the whole of it.
    fn computed_slice(turn: &mut LaneUse) -> NextSlice {
        epoch_check(turn, Duration::from_millis(10))
    }

    fn lane_future(turn: &mut LaneUse) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        match computed_slice(turn) {
            NextSlice::Lane(wait) => wait,
            NextSlice::Yield => panic!("a long turn got a plain yield"),
        }
    }

    /// Slices until the turn is long; each is a plain yield.
    fn make_long(turn: &mut LaneUse) {
        for _ in 1..LONG_AFTER_SLICES {
            assert!(matches!(computed_slice(turn), NextSlice::Yield));
        }
    }

    #[test]
    fn ticks_spent_waiting_in_host_calls_do_not_make_a_turn_long() {
        let lanes = ComputeLanes::new(1);
        let history = Arc::new(LongTurns::default());
        let mut turn = lanes.new_turn(history.clone());
        turn.computing();
        for _ in 0..10 {
            // 200 µs of wasm, then a host call that waits past a tick; the
            // wasm sees the tick when it is back.
            turn.computed += Duration::from_micros(200);
            turn.waiting();
            turn.computing();
            assert!(matches!(
                epoch_check(&mut turn, Duration::ZERO),
                NextSlice::Yield
            ));
        }
        assert!(!turn.is_long());
        assert!(!history.recent());
        assert!(!turn.moved_flag().load(Ordering::Relaxed));
    }

    #[test]
    fn ticks_the_turn_computed_through_make_it_long() {
        let lanes = ComputeLanes::new(1);
        let history = Arc::new(LongTurns::default());
        let mut turn = lanes.new_turn(history.clone());
        turn.computing();
        for _ in 0..LONG_AFTER_SLICES {
            let _ = computed_slice(&mut turn);
        }
        assert!(turn.is_long());
        assert!(history.recent());
        assert!(turn.moved_flag().load(Ordering::Relaxed));
    }

    #[test]
    fn computing_and_waiting_add_up_the_wasm_time() {
        let lanes = ComputeLanes::new(1);
        let mut turn = lanes.new_turn(Default::default());
        turn.computing();
        std::thread::sleep(Duration::from_millis(3));
        turn.waiting();
        // Outside wasm: not counted.
        std::thread::sleep(Duration::from_millis(20));
        turn.computing();
        turn.waiting();
        assert!(turn.computed >= Duration::from_millis(3));
        assert!(
            turn.computed < Duration::from_millis(20),
            "{:?}",
            turn.computed
        );
    }

    #[tokio::test]
    async fn long_turns_take_the_lanes_round_robin() {
        let lanes = ComputeLanes::new(1);
        let mut first = lanes.new_turn(Default::default());
        let mut second = lanes.new_turn(Default::default());
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

    /// The thread a part of a call ran on, and its nice value.
    type RanOn = (Option<String>, i32);
    type Call<T> = Pin<Box<dyn Future<Output = T> + Send>>;

    /// A call that becomes long, then yields once: where each part ran.
    fn becoming_long(lanes: &ComputeLanes) -> (Call<[RanOn; 2]>, Arc<AtomicBool>) {
        let mut turn = lanes.new_turn(Default::default());
        let long = turn.moved_flag();
        let here = || {
            let name = std::thread::current().name().map(str::to_owned);
            // SAFETY: reads the calling thread's nice value.
            (name, unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) })
        };
        let call = Box::pin(async move {
            let first = here();
            make_long(&mut turn);
            lane_future(&mut turn).await;
            tokio::task::yield_now().await;
            [first, here()]
        });
        (call, long)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn a_turn_moves_to_the_low_priority_compute_threads_once_long() {
        let lanes = ComputeLanes::new(1);
        let (call, long) = becoming_long(&lanes);
        let [(first, first_nice), (then, then_nice)] = run_turn_call(call, long).await;
        assert_ne!(first.as_deref(), Some("turnbox-compute"));
        assert_eq!(then.as_deref(), Some("turnbox-compute"));
        assert_eq!(then_nice, first_nice.max(COMPUTE_NICE));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn a_moved_turn_is_dropped_with_its_caller() {
        struct Dropped(Arc<AtomicBool>);
        impl Drop for Dropped {
            fn drop(&mut self) {
                self.0.store(true, Ordering::Relaxed);
            }
        }
        let lanes = ComputeLanes::new(1);
        let mut turn = lanes.new_turn(Default::default());
        let long = turn.moved_flag();
        let dropped = Arc::new(AtomicBool::new(false));
        let guard = Dropped(dropped.clone());
        let call: Call<()> = Box::pin(async move {
            let _guard = guard;
            make_long(&mut turn);
            loop {
                lane_future(&mut turn).await;
                tokio::task::yield_now().await;
            }
        });
        // The turn's deadline: the caller stops waiting.
        let timed_out = tokio::time::timeout(Duration::from_millis(50), run_turn_call(call, long));
        assert!(timed_out.await.is_err());
        for _ in 0..100 {
            if dropped.load(Ordering::Relaxed) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the moved turn ran on after its caller gave up");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn a_bot_with_a_recent_long_turn_starts_its_turns_moved() {
        let lanes = ComputeLanes::new(1);
        let history = Arc::new(LongTurns::default());
        let first = lanes.new_turn(history.clone());
        assert!(!history.recent());
        // A short turn leaves no history.
        let mut short = lanes.new_turn(history.clone());
        for _ in 1..LONG_AFTER_SLICES {
            computed_slice(&mut short);
        }
        assert!(!history.recent());
        // A long one does: the bot's next turns start moved, earlier
        // ones are untouched.
        let mut long = lanes.new_turn(history.clone());
        make_long(&mut long);
        lane_future(&mut long).await;
        assert!(history.recent());
        assert!(!first.moved_flag().load(Ordering::Relaxed));
        let next = lanes.new_turn(history.clone());
        let moved = next.moved_flag();
        assert!(moved.load(Ordering::Relaxed));
        let ran_on = run_turn_call(
            Box::pin(async { std::thread::current().name().map(str::to_owned) }),
            moved,
        )
        .await;
        assert_eq!(ran_on.as_deref(), Some("turnbox-compute"));
        // Other bots' turns are not.
        assert!(
            !lanes
                .new_turn(Default::default())
                .moved_flag()
                .load(Ordering::Relaxed)
        );
    }

    #[test]
    fn there_is_always_a_lane() {
        assert_eq!(ComputeLanes::new(0).count(), 1);
        assert!(ComputeLanes::for_this_machine().count() >= 1);
    }
}
