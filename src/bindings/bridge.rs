//! The asyncio bridge: results of Rust tasks reach the event loop in batches.
//!
//! A finished task pushes a conversion closure onto the queue and, if the queue was idle,
//! wakes the event loop once (see [`Wake`]: a byte on a pipe the loop watches with
//! `loop.add_reader`, or `loop.call_soon_threadsafe` where there is no `add_reader`).
//! The loop thread then drains *every* finished result in one wake-up, converts them
//! with the GIL it already holds and finishes their [`NativeFuture`]s, which resumes the
//! awaiting tasks right there. There is no extra thread hop per request (which a
//! generic `future_into_py` pays), and no extra loop iteration (which `asyncio.Future`
//! pays).
//!
//! A stream's next batch is reported when the I/O thread runs out of work, not the moment
//! it is ready (see [`Report::WhenIdle`]): on a busy thread every stream's waiting batch
//! then reaches the loop in one wake-up, instead of the loop preempting the I/O thread
//! once per batch. A sync `Client` thread blocked on a stream's batch is woken the same
//! way ([`defer_notify`]). So is a request's answer that lands in a burst while other
//! answers of its loop are on their way ([`Report::Answer`]); any other answer is
//! reported at once.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;

use super::future::{run_callbacks, schedule_callbacks, Callback, NativeFuture};
use super::wake::Wake;

/// Turns a finished Rust result into a Python value (or exception) under the GIL.
pub type Convert = Box<dyn FnOnce(Python<'_>) -> PyResult<Py<PyAny>> + Send>;

struct Inner {
    finished: Mutex<Vec<(Py<NativeFuture>, Convert)>>,
    /// `IDLE`, `DEFERRED` (a wake-up waits for the I/O thread to run out of work) or
    /// `NOTIFIED` (a wake-up is in flight); back to `IDLE` when `drain` takes the results.
    state: AtomicU8,
    wake: Wake,
    /// Finished futures whose waiters a drain has still to resume (taken one at a time,
    /// so what an interrupted drain leaves is resumed by a later `resume_pending`).
    wakeups: Mutex<VecDeque<(Py<NativeFuture>, Vec<Callback>)>>,
    /// How this loop's answers are reported ([`Report::Answer`]).
    answers: AnswerCounts,
}

/// A loop's requests whose answer is on its way (still waiting on the network, or
/// finished and not yet reported), and how the reported ones woke the loop.
///
/// Relaxed atomics: the counts decide only when to wake the loop, never what it sees
/// (results travel through `finished` and `state`). `at_once` and `deferred` count the
/// decisions, for tests.
#[derive(Default)]
struct AnswerCounts {
    due: AtomicUsize,
    /// The fork generation `due` counts in: a forked child's copy of this queue holds
    /// the parent's answers, whose tasks did not survive the fork (see `runtime`).
    generation: AtomicU64,
    at_once: AtomicUsize,
    deferred: AtomicUsize,
}

/// One queue per event loop (the Python side keeps one per loop).
#[pyclass(frozen, weakref, module = "fastrouter._fastrouter")]
pub struct CompletionQueue {
    inner: Arc<Inner>,
}

const IDLE: u8 = 0;
const DEFERRED: u8 = 1;
const NOTIFIED: u8 = 2;

/// When a finished task's result wakes the event loop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Report {
    /// At once.
    Now,
    /// A request's answer: as [`Report::WhenIdle`] when it comes in a burst (see
    /// [`in_a_burst`]) and another answer of this loop is on its way (still waiting on
    /// the network, or finished and not yet reported): the loop then takes every answer
    /// the I/O thread finished in one wake-up, instead of preempting it per answer
    /// (issue 11, S1). Otherwise at once: a lone caller waits for it, and the I/O thread
    /// has only clean-up left.
    Answer,
    /// Once the I/O thread has run the tasks ready now (when it parks, or after one more
    /// pass of its scheduler; a wake-up joining a list older than [`MAX_DEFERRAL`] flushes
    /// it at once): a stream's next batch, so
    /// the batches of every busy stream reach the loop in one wake-up. Elsewhere than on
    /// an I/O thread, at once.
    WhenIdle,
}

/// How old the held wake-ups may be when another joins them (the scheduler pass that the
/// flusher waits for normally ends the wait well before).
const MAX_DEFERRAL: Duration = Duration::from_millis(1);

/// Where a task reports: the queue plus the future that waits on it.
pub struct Completer {
    inner: Arc<Inner>,
    future: Py<NativeFuture>,
    report: Report,
    /// Counts this answer among the loop's answers due until it completes or is dropped
    /// (an aborted task never completes).
    due: Option<AnswerDue>,
}

impl Completer {
    pub fn complete(self, convert: Convert) {
        let Self {
            inner,
            future,
            report,
            due,
        } = self;
        // Counted out before its result is visible: a drain that takes it never sees
        // it still due. Others are due if more than this one was.
        let report = match (report, due.map(AnswerDue::release)) {
            (Report::Answer, Some(others)) => {
                let burst = in_a_burst(); // always: it counts this answer
                let (report, count) = if burst && others > 0 {
                    (Report::WhenIdle, &inner.answers.deferred)
                } else {
                    (Report::Now, &inner.answers.at_once)
                };
                count.fetch_add(1, Ordering::Relaxed);
                report
            }
            (report, _) => report,
        };
        inner
            .finished
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((future, convert));
        match report {
            Report::WhenIdle => defer(inner),
            Report::Now | Report::Answer => {
                if inner.state.swap(NOTIFIED, Ordering::AcqRel) != NOTIFIED {
                    inner.wake.notify();
                }
            }
        }
    }
}

thread_local! {
    /// The answers this thread reported since it last ran out of work, and before that.
    static PASS_ANSWERS: std::cell::Cell<(u32, u32)> = const { std::cell::Cell::new((0, 0)) };
}

/// Whether an answer comes in a burst, counting it: this thread reported another since
/// it last ran out of work, or more than one in its pass before. A burst's answers are
/// worth one wake-up (S1's 64 requests in flight finish several per pass of the I/O
/// thread); an answer alone in its pass has the thread to itself, and holding its
/// wake-up back only delays it (a call made while another waits on a slow model).
/// Counted in passes, not time: a loaded host stretches the gaps between answers, not
/// their grouping. Never on another thread (an eager task's first poll, see `eager`,
/// can finish there), which has no passes: its answer is reported at once.
fn in_a_burst() -> bool {
    if !DEFERRED_WAKES.with(|deferred| deferred.borrow().is_some()) {
        return false;
    }
    let (this_pass, last_pass) = PASS_ANSWERS.get();
    PASS_ANSWERS.set((this_pass.saturating_add(1), last_pass));
    this_pass > 0 || last_pass > 1
}

/// The runtime's `on_thread_park` hook: the I/O thread ran out of work, which ends its
/// pass ([`in_a_burst`]) and flushes the wake-ups it held ([`wake_deferred`]).
pub fn on_thread_park() {
    PASS_ANSWERS.set((0, PASS_ANSWERS.get().0));
    wake_deferred();
}

/// One request's answer counted as due on its loop's queue, until released or dropped.
struct AnswerDue {
    inner: Arc<Inner>,
    generation: u64,
    counted: bool,
}

impl AnswerDue {
    fn new(inner: &Arc<Inner>) -> Self {
        let counts = &inner.answers;
        let generation = super::runtime::fork_generation();
        if counts.generation.swap(generation, Ordering::Relaxed) != generation {
            counts.due.store(0, Ordering::Relaxed); // the parent's, in a forked child
        }
        counts.due.fetch_add(1, Ordering::Relaxed);
        Self {
            inner: inner.clone(),
            generation,
            counted: true,
        }
    }

    /// Count it out now: how many other answers are still due.
    fn release(mut self) -> usize {
        self.count_out()
    }

    /// Take this answer off the count once (not if a fork reset the count since): how
    /// many others remain. Never below zero: the reset in [`Self::new`] is not atomic
    /// with the count (it relies on `new` holding the GIL, as every `completer` call does).
    fn count_out(&mut self) -> usize {
        let counts = &self.inner.answers;
        if !std::mem::take(&mut self.counted)
            || counts.generation.load(Ordering::Relaxed) != self.generation
        {
            return 0;
        }
        counts
            .due
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |due| {
                due.checked_sub(1)
            })
            .map_or(0, |due| due - 1)
    }
}

impl Drop for AnswerDue {
    fn drop(&mut self) {
        self.count_out();
    }
}

/// A blocked thread's wake-up, held back like a loop's (see [`defer_notify`]).
pub type Notify = Box<dyn FnOnce() + Send>;

/// The wake-ups waiting for an I/O thread to run out of work: loops' queues and blocked
/// threads, and since when the oldest has waited.
#[derive(Default)]
struct DeferredWakes {
    queues: Vec<Arc<Inner>>,
    threads: Vec<Notify>,
    since: Option<Instant>,
}

impl DeferredWakes {
    /// A wake-up joined the wait: whether the oldest has waited too long.
    fn overdue(&mut self) -> bool {
        let since = self.since.get_or_insert_with(|| {
            // A busy I/O thread may not park for long (tokio skips the hook when it
            // only yields): this task, run once the tasks ready now have run, ends
            // the wait then.
            super::runtime::spawn_detached(async {
                tokio::task::yield_now().await;
                wake_deferred();
            });
            Instant::now()
        });
        since.elapsed() >= MAX_DEFERRAL
    }
}

thread_local! {
    /// Set on an I/O thread when it first parks (no other thread ever flushes it).
    static DEFERRED_WAKES: RefCell<Option<DeferredWakes>> = const { RefCell::new(None) };
}

fn defer(inner: Arc<Inner>) {
    let transitioned = inner
        .state
        .compare_exchange(IDLE, DEFERRED, Ordering::AcqRel, Ordering::Acquire)
        .is_ok();
    let overdue = DEFERRED_WAKES.with(|deferred| match deferred.borrow_mut().as_mut() {
        Some(deferred)
            if transitioned || deferred.queues.iter().any(|q| Arc::ptr_eq(q, &inner)) =>
        {
            if transitioned {
                deferred.queues.push(inner.clone());
            }
            Some(deferred.overdue())
        }
        _ => None,
    });
    match overdue {
        Some(false) => {}
        Some(true) => wake_deferred(),
        // Not an I/O thread (nothing would flush it), or a queue whose wait this thread
        // does not hold (its state inherited across fork): wake the loop now, if still due.
        None => {
            if inner
                .state
                .compare_exchange(DEFERRED, NOTIFIED, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                inner.wake.notify();
            }
        }
    }
}

/// Wake a thread blocked on a stream's next batch (already handed over) the way a loop's
/// wake-up is deferred ([`Report::WhenIdle`]): once this I/O thread has run the tasks
/// ready now. Elsewhere than on an I/O thread, at once.
pub fn defer_notify(notify: Notify) {
    let held = DEFERRED_WAKES.with(|deferred| match deferred.borrow_mut().as_mut() {
        Some(deferred) => {
            deferred.threads.push(notify);
            Ok(deferred.overdue())
        }
        None => Err(notify),
    });
    match held {
        Ok(false) => {}
        Ok(true) => wake_deferred(),
        Err(notify) => notify(),
    }
}

/// Wake every loop a stream's batch (or a burst's answer) waits on and every thread
/// blocked on a batch, held back until this I/O thread ran out of work (and from now on
/// let this thread defer wake-ups).
pub fn wake_deferred() {
    let (queues, threads) = DEFERRED_WAKES.with(|deferred| {
        let mut deferred = deferred.borrow_mut();
        let deferred = deferred.get_or_insert_with(DeferredWakes::default);
        deferred.since = None;
        (
            std::mem::take(&mut deferred.queues),
            std::mem::take(&mut deferred.threads),
        )
    });
    for inner in queues {
        // A drain (or an answer reported at once) since then already took care of it.
        if inner
            .state
            .compare_exchange(DEFERRED, NOTIFIED, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            inner.wake.notify();
        }
    }
    for notify in threads {
        notify();
    }
}

impl CompletionQueue {
    /// Whether none of this loop's answers is on its way (this process's): a request made
    /// now is the only one its I/O thread has to serve.
    pub fn no_answers_due(&self) -> bool {
        let counts = &self.inner.answers;
        counts.generation.load(Ordering::Relaxed) != super::runtime::fork_generation()
            || counts.due.load(Ordering::Relaxed) == 0
    }

    /// Where the task behind `future` reports, and when that wakes the loop.
    pub fn completer(&self, future: Py<NativeFuture>, report: Report) -> Completer {
        Completer {
            due: (report == Report::Answer).then(|| AnswerDue::new(&self.inner)),
            inner: self.inner.clone(),
            future,
            report,
        }
    }
}

#[pymethods]
impl CompletionQueue {
    /// A queue woken through a pipe, or by calling `wake()` when given.
    #[new]
    #[pyo3(signature = (wake=None))]
    fn new(wake: Option<Py<PyAny>>) -> PyResult<Self> {
        let wake = match wake {
            Some(callback) => Wake::Callback(callback),
            None => Wake::pipe()?,
        };
        Ok(Self {
            inner: Arc::new(Inner {
                finished: Mutex::new(Vec::new()),
                state: AtomicU8::new(IDLE),
                wake,
                wakeups: Mutex::new(VecDeque::new()),
                answers: AnswerCounts::default(),
            }),
        })
    }

    /// The file descriptor to watch with `loop.add_reader` (`None` with `wake=`).
    fn fileno(&self) -> Option<i64> {
        self.inner.wake.fileno()
    }

    /// For tests: `(due, at_once, deferred)`, this loop's answers on their way (this
    /// process's) and how many reported ones woke it at once or were deferred like a
    /// stream's batch.
    fn _debug_answers(&self) -> (usize, usize, usize) {
        let counts = &self.inner.answers;
        let current =
            counts.generation.load(Ordering::Relaxed) == super::runtime::fork_generation();
        (
            if current {
                counts.due.load(Ordering::Relaxed)
            } else {
                0
            },
            counts.at_once.load(Ordering::Relaxed),
            counts.deferred.load(Ordering::Relaxed),
        )
    }

    /// Finish the future of every finished task (a cancelled one keeps its cancellation)
    /// and resume the tasks awaiting them, in order (see [`Self::resume_pending`]). On a
    /// loop that can be run again from inside a callback (nest_asyncio) the wake-ups are
    /// scheduled with `call_soon` instead, as `asyncio.Future` does: a task resumed here
    /// that ran the loop would re-enter this drain's reader, which asyncio cannot do.
    fn drain(slf: &Bound<'_, Self>) -> PyResult<()> {
        let py = slf.py();
        let inner = &slf.get().inner;
        inner.wake.clear();
        inner.state.store(IDLE, Ordering::Release);
        let finished =
            std::mem::take(&mut *inner.finished.lock().unwrap_or_else(|p| p.into_inner()));
        // Every future is finished before any task resumes: a task resumed first could
        // otherwise see a sibling (e.g. in `gather`) still pending though its result is here.
        let mut wakeups = Vec::with_capacity(finished.len());
        for (future, convert) in finished {
            let outcome = converted(py, convert);
            let callbacks = future.borrow_mut(py).finish(py, outcome);
            if !callbacks.is_empty() {
                wakeups.push((future, callbacks));
            }
        }
        let Some(event_loop) = wakeups
            .first()
            .map(|(future, _)| future.borrow(py).event_loop(py))
        else {
            return Ok(());
        };
        if is_reentrant(py, &event_loop) {
            // A task resumed here could run the loop again (nest_asyncio), which would call
            // this drain's reader while it runs: schedule the wake-ups, as asyncio does.
            for (future, callbacks) in wakeups {
                schedule_callbacks(py, &future, callbacks)?;
            }
            return Ok(());
        }
        inner.pending().extend(wakeups);
        Self::resume_pending(slf)
    }

    /// Resume the waiters a drain left (one at a time, taken from the queue as they run).
    /// If one raises KeyboardInterrupt or SystemExit, the rest are resumed by the loop.
    fn resume_pending(slf: &Bound<'_, Self>) -> PyResult<()> {
        let py = slf.py();
        let inner = &slf.get().inner;
        loop {
            let next = inner.pending().pop_front();
            let Some((future, callbacks)) = next else {
                return Ok(());
            };
            if let Err(stop) = run_callbacks(py, &future, callbacks) {
                if !inner.pending().is_empty() {
                    let event_loop = future.borrow(py).event_loop(py);
                    let scheduled = slf
                        .getattr(intern!(py, "resume_pending"))
                        .and_then(|resume| {
                            event_loop.call_method1(py, intern!(py, "call_soon"), (resume,))
                        });
                    if let Err(failed) = scheduled {
                        failed.write_unraisable(py, Some(slf.as_any()));
                    }
                }
                return Err(stop);
            }
        }
    }
}

/// Whether `event_loop` can be run again from inside one of its callbacks: nest_asyncio
/// marks the loops it patches so (asyncio's own loops refuse to).
fn is_reentrant(py: Python<'_>, event_loop: &Py<PyAny>) -> bool {
    // `getattr(loop, name, None)`: the builtin with a default looks the name up without
    // raising (and formatting) an AttributeError on every drain.
    static GETATTR: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    GETATTR
        .get_or_try_init(py, || {
            Ok::<_, PyErr>(py.import("builtins")?.getattr("getattr")?.unbind())
        })
        .and_then(|getattr| {
            getattr.call1(py, (event_loop, intern!(py, "_nest_patched"), py.None()))
        })
        .is_ok_and(|flag| flag.bind(py).is_truthy().unwrap_or(true))
}

impl Inner {
    fn pending(&self) -> std::sync::MutexGuard<'_, VecDeque<(Py<NativeFuture>, Vec<Callback>)>> {
        self.wakeups.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Run a conversion; a panic in it fails this one result, not the whole batch.
fn converted(py: Python<'_>, convert: Convert) -> PyResult<Py<PyAny>> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| convert(py)))
        .unwrap_or_else(|_| Err(super::runtime::panic_error()))
}
