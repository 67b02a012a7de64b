//! Eager tasks: a request's task first runs on the caller's thread, and moves to the
//! runtime (the I/O thread) only when something wakes it.
//!
//! A spawned task waits for the I/O thread to be woken and scheduled before it can send
//! anything: a cross-thread wake-up and two context switches on the path of every
//! sequential call (issue 11, S3). Run first where the call is made (inside the runtime's
//! context), the request is written at once; the task then usually waits on its socket,
//! and the reactor's wake-up of that socket, on the I/O thread, spawns it there (a local
//! push, no wake-up of its own). A task woken while this first poll runs is spawned at
//! its end, and one that finishes in it never reaches the runtime.

use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use tokio::task::AbortHandle;
use tokio::time::Instant;

/// A task as an eager one is spawned: boxed, its output delivered by the task itself.
pub type Task = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// How the rest of an eager task is spawned on the runtime.
pub type Spawn = fn(Task) -> AbortHandle;

enum State {
    /// First polled on the caller's thread now; `woken` while that poll ran.
    FirstPoll { woken: bool, cancelled: bool },
    /// Waiting after its first poll: the first wake-up spawns it.
    Parked(Task),
    /// Spawned on the runtime; `relay` is its task's waker once it first ran there. A
    /// waker the first poll left with a future the task has not polled since (one child
    /// of many, say) may still wake this one: the wake-up is relayed to the task.
    Spawned {
        handle: AbortHandle,
        relay: Option<Waker>,
    },
    /// Finished in its first poll, or cancelled.
    Over,
}

/// An eager task's shared state: what its first waker, the canceller and the first poll
/// agree on.
pub struct Eager {
    state: Mutex<State>,
    spawn: Spawn,
}

impl Eager {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Drop the task where it waits, or abort it on the runtime. A task cancelled while
    /// its first poll runs (which only the same thread could do) is dropped when it ends.
    pub fn abort(&self) {
        let dropped = {
            let mut state = self.lock();
            match std::mem::replace(&mut *state, State::Over) {
                State::Parked(task) => Some(task),
                State::Spawned { handle, .. } => {
                    handle.abort();
                    None
                }
                State::FirstPoll { woken, .. } => {
                    *state = State::FirstPoll {
                        woken,
                        cancelled: true,
                    };
                    None
                }
                State::Over => None,
            }
        };
        drop(dropped); // outside the lock: its drop may report (a panic's completer)
    }
}

impl Wake for Eager {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let mut state = self.lock();
        let relay = match &mut *state {
            State::FirstPoll { woken, .. } => {
                *woken = true;
                None
            }
            State::Parked(_) => {
                let State::Parked(task) = std::mem::replace(&mut *state, State::Over) else {
                    unreachable!("matched above")
                };
                *state = self.spawned(task);
                None
            }
            State::Spawned { relay, .. } => relay.clone(),
            State::Over => None,
        };
        drop(state);
        if let Some(waker) = relay {
            waker.wake();
        }
    }
}

impl Eager {
    /// `task` spawned, telling this its task's waker when it first runs (see `relay`).
    /// Called with the state locked: the runtime's spawn neither polls nor drops the task
    /// there (the extension's runtime is never shut down), and the task's first poll, on
    /// another thread, waits for the lock, so it finds the state `Spawned`.
    fn spawned(self: &Arc<Self>, mut task: Task) -> State {
        let eager = self.clone();
        let mut told = false;
        let handle = (self.spawn)(Box::pin(std::future::poll_fn(move |cx| {
            if !told {
                told = true;
                if let State::Spawned { relay, .. } = &mut *eager.lock() {
                    *relay = Some(cx.waker().clone());
                }
            }
            task.as_mut().poll(cx)
        })));
        State::Spawned {
            handle,
            relay: None,
        }
    }
}

/// Run `future` on this thread until it first waits, then, once woken, on the runtime
/// `spawn` puts it on (see the module docs). Called inside that runtime's context
/// (`Runtime::enter`), for its I/O and timers. A panic in the first poll unwinds through
/// the task, whose drop reports it (as tokio's does for a spawned task), and stops here.
pub fn spawn_eager<F>(future: F, spawn: Spawn) -> Arc<Eager>
where
    F: Future<Output = ()> + Send + 'static,
{
    let eager = Arc::new(Eager {
        state: Mutex::new(State::FirstPoll {
            woken: false,
            cancelled: false,
        }),
        spawn,
    });
    let waker = Waker::from(eager.clone());
    let task: Task = Box::pin(future);
    // The task moves into the closure, so a panic drops it while unwinding.
    let polled = catch_unwind(AssertUnwindSafe(move || {
        let mut task = task;
        match task.as_mut().poll(&mut Context::from_waker(&waker)) {
            Poll::Ready(()) => None,
            Poll::Pending => Some(task),
        }
    }));
    let waiting = polled.unwrap_or(None);
    let mut state = eager.lock();
    let State::FirstPoll { woken, cancelled } = *state else {
        unreachable!("only the first poll leaves this state")
    };
    let dropped = match waiting {
        None => {
            *state = State::Over;
            None
        }
        Some(task) if cancelled => {
            *state = State::Over;
            Some(task)
        }
        Some(task) if woken => {
            *state = eager.spawned(task);
            None
        }
        Some(task) => {
            *state = State::Parked(task);
            None
        }
    };
    drop(state);
    drop(dropped);
    eager
}

/// Keeps the runtime's next timer within [`PACE`] while eager tasks start in a streak.
///
/// An eager task's first poll arms its timers (its read timeout, a minute away, say) from
/// the caller's thread, and tokio wakes the I/O thread for any timer due before the next
/// one it sleeps until: for a lone request, the idle pool's sweep, a minute or more away,
/// so each request woke it, the wake-up an eager task is there to spare. When eager tasks
/// start less than [`PACE`] apart, [`Pacemaker::run`] (a task on the runtime) sleeps
/// [`PACE`] at a time, keeping its next timer that close: the I/O thread then wakes once
/// a second, not once a request. It ends [`PACE_IDLE`] after the last start; calls
/// further apart than [`PACE`] never start it (it would wake the I/O thread more often
/// than they do).
///
/// Atomics only: the I/O thread reads them without the GIL, and a lock it held when
/// another thread forked would stay locked in the child.
pub struct Pacemaker {
    running: AtomicBool,
    /// The last start, in ms after `base` (0: none yet).
    last_start: AtomicU64,
    base: OnceLock<Instant>,
}

/// How far ahead the pacemaker keeps the runtime's next timer, and how close together
/// eager tasks start for it to run.
pub const PACE: Duration = Duration::from_secs(1);

/// The pacemaker ends once no eager task has started for this long.
pub const PACE_IDLE: Duration = Duration::from_secs(3);

impl Pacemaker {
    pub const fn new() -> Self {
        Self {
            running: AtomicBool::new(false),
            last_start: AtomicU64::new(0),
            base: OnceLock::new(),
        }
    }

    /// Now, in ms after `base` (at least 1, so 0 means "none").
    fn now_ms(&self) -> u64 {
        let base = *self.base.get_or_init(Instant::now);
        u64::try_from(base.elapsed().as_millis())
            .unwrap_or(u64::MAX)
            .saturating_add(1)
    }

    /// Note an eager task's start: true when the caller is to spawn [`Self::run`] (the
    /// task started less than [`PACE`] after the last one, and none runs).
    pub fn started(&self) -> bool {
        let now = self.now_ms();
        let last = self.last_start.swap(now, Ordering::AcqRel);
        let pace = u64::try_from(PACE.as_millis()).unwrap_or(u64::MAX);
        last != 0 && now.saturating_sub(last) < pace && !self.running.swap(true, Ordering::AcqRel)
    }

    /// Forget a pacemaker that ran on a runtime gone with a fork.
    pub fn forget(&self) {
        self.running.store(false, Ordering::Release);
    }

    fn recent(&self) -> bool {
        let idle = u64::try_from(PACE_IDLE.as_millis()).unwrap_or(u64::MAX);
        let last = self.last_start.load(Ordering::Acquire);
        self.now_ms().saturating_sub(last) < idle
    }

    /// Sleep [`PACE`] at a time until no eager task has started for [`PACE_IDLE`].
    pub async fn run(&self) {
        loop {
            tokio::time::sleep(PACE).await;
            if self.recent() {
                continue;
            }
            self.running.store(false, Ordering::Release);
            // A task started meanwhile found it still running: go on for it, unless
            // another pacemaker started since.
            if !self.recent() || self.running.swap(true, Ordering::AcqRel) {
                return;
            }
        }
    }
}

impl Default for Pacemaker {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    /// The tests' runtime for spawned tasks, one I/O thread like the extension's: a wake-up
    /// from any thread spawns onto it.
    #[allow(clippy::disallowed_methods)] // no Python waiter to report to
    fn spawn(task: Task) -> AbortHandle {
        static RUNTIME: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
        let runtime = RUNTIME.get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .unwrap()
        });
        runtime.spawn(task).abort_handle()
    }

    /// What a [`Probe`] did: its polls, whether it was dropped, and the wakers it left.
    #[derive(Default)]
    struct Seen {
        polls: AtomicUsize,
        dropped: AtomicBool,
        /// Its first poll leaves its waker in both; later polls only in the first, as a
        /// future polling one child of many leaves the others' wakers where they were.
        wakers: Mutex<[Option<Waker>; 2]>,
    }

    impl Seen {
        fn wake(&self, slot: usize) {
            let waker = self.wakers.lock().unwrap()[slot].take().expect("a waker");
            waker.wake();
        }
    }

    /// Ready on its `ready_at`-th poll; `wake_first`: wakes itself in its first poll.
    struct Probe {
        seen: Arc<Seen>,
        ready_at: usize,
        wake_first: bool,
    }

    impl Future for Probe {
        type Output = ();

        fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            let poll = self.seen.polls.fetch_add(1, Ordering::SeqCst) + 1;
            if poll >= self.ready_at {
                return Poll::Ready(());
            }
            let mut wakers = self.seen.wakers.lock().unwrap();
            wakers[0] = Some(cx.waker().clone());
            if poll == 1 {
                wakers[1] = Some(cx.waker().clone());
                if self.wake_first {
                    cx.waker().wake_by_ref();
                }
            }
            Poll::Pending
        }
    }

    impl Drop for Probe {
        fn drop(&mut self) {
            self.seen.dropped.store(true, Ordering::SeqCst);
        }
    }

    fn probe(ready_at: usize, wake_first: bool) -> (Arc<Eager>, Arc<Seen>) {
        let seen = Arc::new(Seen::default());
        let future = Probe {
            seen: seen.clone(),
            ready_at,
            wake_first,
        };
        (spawn_eager(future, spawn), seen)
    }

    fn state(eager: &Eager) -> &'static str {
        match &*eager.lock() {
            State::FirstPoll { .. } => "first poll",
            State::Parked(_) => "parked",
            State::Spawned { .. } => "spawned",
            State::Over => "over",
        }
    }

    async fn until(what: &str, done: impl Fn() -> bool) {
        for _ in 0..2000 {
            if done() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        panic!("not reached in time: {what}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn a_task_ready_in_its_first_poll_never_reaches_the_runtime() {
        let (eager, seen) = probe(1, false);
        assert_eq!(state(&eager), "over");
        assert_eq!(seen.polls.load(Ordering::SeqCst), 1);
        assert!(seen.dropped.load(Ordering::SeqCst));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn a_waiting_task_moves_to_the_runtime_once_woken() {
        let (eager, seen) = probe(2, false);
        assert_eq!(state(&eager), "parked");
        assert_eq!(seen.polls.load(Ordering::SeqCst), 1);
        seen.wake(0);
        assert_eq!(state(&eager), "spawned");
        until("the task finished on the runtime", || {
            seen.dropped.load(Ordering::SeqCst)
        })
        .await;
        assert_eq!(seen.polls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn a_waker_left_by_the_first_poll_wakes_the_spawned_task() {
        let (_eager, seen) = probe(3, false);
        seen.wake(0); // spawned; its poll leaves the task's waker in slot 0 only
        until("the spawned task's poll", || {
            seen.polls.load(Ordering::SeqCst) == 2
        })
        .await;
        seen.wake(1); // the first poll's waker: relayed to the task
        until("the relayed wake-up", || {
            seen.dropped.load(Ordering::SeqCst)
        })
        .await;
        assert_eq!(seen.polls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn a_task_woken_in_its_first_poll_is_spawned_at_its_end() {
        let (eager, seen) = probe(2, true);
        assert_eq!(state(&eager), "spawned");
        until("the task finished on the runtime", || {
            seen.dropped.load(Ordering::SeqCst)
        })
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn cancelling_a_waiting_task_drops_it_where_it_waits() {
        let (eager, seen) = probe(usize::MAX, false);
        eager.abort();
        assert!(seen.dropped.load(Ordering::SeqCst));
        assert_eq!(state(&eager), "over");
        seen.wake(0); // a late wake-up: nothing left to run
        assert_eq!(state(&eager), "over");
        assert_eq!(seen.polls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn cancelling_a_spawned_task_aborts_it() {
        let (eager, seen) = probe(usize::MAX, false);
        seen.wake(0);
        until("the spawned task's poll", || {
            seen.polls.load(Ordering::SeqCst) == 2
        })
        .await;
        eager.abort();
        until("the aborted task dropped", || {
            seen.dropped.load(Ordering::SeqCst)
        })
        .await;
        assert_eq!(state(&eager), "over");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn a_panic_in_the_first_poll_drops_the_task_while_unwinding() {
        /// Panics when polled; tells whether it was dropped while unwinding (a future
        /// written by hand: an `async` block would drop its locals while unwinding itself).
        struct Panics(Arc<AtomicBool>);
        impl Future for Panics {
            type Output = ();
            fn poll(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<()> {
                panic!("deliberate panic in an eager task's first poll");
            }
        }
        impl Drop for Panics {
            fn drop(&mut self) {
                self.0.store(std::thread::panicking(), Ordering::SeqCst);
            }
        }
        let saw_panic = Arc::new(AtomicBool::new(false));
        let eager = spawn_eager(Panics(saw_panic.clone()), spawn);
        assert!(saw_panic.load(Ordering::SeqCst), "dropped while unwinding");
        assert_eq!(state(&eager), "over");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn wake_ups_from_another_thread_during_the_first_poll_are_never_lost() {
        /// Has another thread wake it, and waits for that, inside its first poll; ready
        /// when polled again.
        struct WokenElsewhere {
            polled: bool,
            done: Arc<AtomicUsize>,
        }
        impl Future for WokenElsewhere {
            type Output = ();
            fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
                if self.polled {
                    self.done.fetch_add(1, Ordering::SeqCst);
                    return Poll::Ready(());
                }
                self.polled = true;
                let waker = cx.waker().clone();
                std::thread::spawn(move || waker.wake()).join().unwrap();
                Poll::Pending
            }
        }
        let done = Arc::new(AtomicUsize::new(0));
        const TASKS: usize = 200;
        for _ in 0..TASKS {
            let future = WokenElsewhere {
                polled: false,
                done: done.clone(),
            };
            let eager = spawn_eager(future, spawn);
            assert_eq!(state(&eager), "spawned");
        }
        until("every task finished", || {
            done.load(Ordering::SeqCst) == TASKS
        })
        .await;
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // the tests' own runtime
mod pacemaker_tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_pacemaker_runs_while_eager_tasks_start_in_a_streak_and_ends_after() {
        static PACEMAKER: Pacemaker = Pacemaker::new();
        assert!(!PACEMAKER.started(), "a first start is no streak");
        tokio::time::sleep(PACE * 2).await;
        assert!(!PACEMAKER.started(), "nor one long after it");
        tokio::time::sleep(PACE / 2).await;
        assert!(PACEMAKER.started(), "one soon after: it starts");
        assert!(!PACEMAKER.started(), "one runs at a time");
        let task = tokio::spawn(PACEMAKER.run());
        tokio::time::sleep(PACE_IDLE - PACE).await;
        assert!(
            !PACEMAKER.started(),
            "still running: a start keeps it going"
        );
        tokio::time::sleep(PACE_IDLE - PACE).await;
        assert!(!task.is_finished(), "within PACE_IDLE of the last start");
        tokio::time::sleep(PACE * 3).await;
        assert!(task.is_finished(), "PACE_IDLE after the last start");
        tokio::time::sleep(PACE / 2).await;
        assert!(!PACEMAKER.started(), "long after: no streak");
        assert!(PACEMAKER.started(), "a new streak starts it again");
    }

    #[tokio::test(start_paused = true)]
    async fn a_forgotten_pacemaker_is_started_again() {
        static PACEMAKER: Pacemaker = Pacemaker::new();
        assert!(!PACEMAKER.started());
        assert!(PACEMAKER.started());
        PACEMAKER.forget();
        assert!(PACEMAKER.started());
    }
}
