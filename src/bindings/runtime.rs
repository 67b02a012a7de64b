//! The one tokio runtime the extension owns, the only place that spawns on it, and the
//! bridge from blocking Python calls. A panicking task becomes a typed error (kind
//! `internal`) for whoever waits on it, never a hang.

use std::future::Future;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, RecvTimeoutError};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use pyo3::prelude::*;
use tokio::task::AbortHandle;

use super::bridge::{Completer, CompletionQueue, Report};
use super::errors::error_to_py;
use super::future::NativeFuture;
use crate::eager::{spawn_eager, Eager, Pacemaker, Task};
use crate::error::{Error, ErrorKind};

/// How often a blocking call wakes to let Python handle Ctrl-C.
const SIGNAL_CHECK_INTERVAL: Duration = Duration::from_millis(100);

/// The runtime of this process and the fork generation it was built in.
static RUNTIME: Mutex<Option<(u64, &'static tokio::runtime::Runtime)>> = Mutex::new(None);

/// Bumped in a forked child: the runtime's threads and the pools' connection tasks did
/// not survive the fork, so everything built before must be rebuilt, never waited on.
static FORK_GENERATION: AtomicU64 = AtomicU64::new(0);

/// The current fork generation (see [`after_fork_in_child`]).
pub fn fork_generation() -> u64 {
    FORK_GENERATION.load(Ordering::Acquire)
}

/// Registered with `os.register_at_fork(after_in_child=...)`: the next use builds a new
/// runtime, and each client a new pool. The parent's runtime and pools are leaked in the
/// child, not dropped: dropping them would wait for threads that no longer exist. The
/// child's copies of the parent's pooled plain-http sockets are closed here, so a
/// connection the parent closes is closed for the server too (`fork_fds`).
#[pyfunction]
pub fn after_fork_in_child(py: Python<'_>) {
    FORK_GENERATION.fetch_add(1, Ordering::AcqRel);
    BLOCKING_DUE.store(0, Ordering::Release); // the parent's other threads' calls
    PACEMAKER.forget(); // the parent's runtime's task
    let inherited = crate::fork_fds::take_inherited();
    if inherited.is_empty() {
        return;
    }
    // A failure leaves that copy open, as before: nothing to report from a fork hook.
    let Ok(os) = py.import("os") else { return };
    for socket in inherited {
        if still_the_socket(&os, &socket).unwrap_or(false) {
            let _ = os.call_method1("close", (socket.fd,));
        }
    }
}

/// Whether `socket.fd` still is the socket recorded under it (not a descriptor another
/// after-fork hook closed and opened again).
fn still_the_socket(
    os: &Bound<'_, PyModule>,
    socket: &crate::fork_fds::Inherited,
) -> PyResult<bool> {
    let stat = os.call_method1("fstat", (socket.fd,))?;
    Ok(stat.getattr("st_dev")?.extract::<u64>()? == socket.dev
        && stat.getattr("st_ino")?.extract::<u64>()? == socket.ino)
}

/// The extension's one runtime, created on first use (and again on first use in a forked
/// child). One I/O worker: the Python side (one GIL) needs far more CPU per request than
/// the I/O does, so a second worker buys no throughput; and with one worker the task in
/// which reqwest's pool takes an HTTP/1.1 connection back after a stream's body ends (over
/// TLS; plain http gives it back in the body's own poll, `h1_pool`) always runs before the
/// stream's reader reports the end (the reader yields once), so the caller's next request
/// reuses that connection. With two workers that task could sit on a descheduled thread
/// and the next request opened a second connection.
pub fn runtime() -> &'static tokio::runtime::Runtime {
    let generation = fork_generation();
    let mut current = RUNTIME.lock().unwrap_or_else(|p| p.into_inner());
    match *current {
        Some((built_in, runtime)) if built_in == generation => runtime,
        _ => {
            let runtime: &'static tokio::runtime::Runtime = Box::leak(Box::new(
                tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(1)
                    .enable_all()
                    .thread_name("fastrouter-io")
                    .on_thread_park(super::bridge::on_thread_park)
                    .build()
                    .unwrap_or_else(|err| {
                        panic!("fastrouter: cannot start the tokio runtime: {err}")
                    }),
            ));
            *current = Some((generation, runtime));
            runtime
        }
    }
}

/// The exception a panicked task resolves its waiter with.
pub fn panic_error() -> PyErr {
    error_to_py(&Error::new(
        ErrorKind::Internal,
        "fastrouter internal error: a request task panicked",
    ))
}

/// Reports a panic of the task it lives in to the awaiting Python future. Tokio drops a
/// task's future while unwinding from a panic, so `Drop` sees `thread::panicking()`; a
/// cancelled task (aborted, not panicking) reports nothing.
struct PanicReport(Option<Completer>);

impl Drop for PanicReport {
    fn drop(&mut self) {
        if let Some(completer) = self.0.take() {
            if std::thread::panicking() {
                completer.complete(Box::new(|_py| Err(panic_error())));
            }
        }
    }
}

#[allow(clippy::disallowed_methods)] // the one place the extension spawns
fn spawn<F>(future: F) -> AbortHandle
where
    F: Future<Output = ()> + Send + 'static,
{
    runtime().spawn(future).abort_handle()
}

/// Spawn an eager task's rest (see `eager`). Its wake-up usually comes on the I/O thread,
/// inside the runtime: spawned through that context, without taking `RUNTIME`'s lock.
#[allow(clippy::disallowed_methods)] // the runtime's own spawn, as `spawn`'s
fn spawn_task(task: Task) -> AbortHandle {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) => handle.spawn(task).abort_handle(),
        Err(_) => spawn(task),
    }
}

/// The one pacemaker of this process's runtime (see `eager::Pacemaker`).
static PACEMAKER: Pacemaker = Pacemaker::new();

/// Eager tasks started in this process (for tests: `_debug_eager_starts`).
static EAGER_STARTS: AtomicU64 = AtomicU64::new(0);

/// Note an eager task's start, starting the pacemaker if it does not run.
fn keep_pace() {
    EAGER_STARTS.fetch_add(1, Ordering::Relaxed);
    if PACEMAKER.started() {
        spawn(PACEMAKER.run());
    }
}

/// What cancels a task: tokio's handle, or an eager task's (see `eager`).
pub enum Cancel {
    Task(AbortHandle),
    Eager(Arc<Eager>),
}

impl Cancel {
    pub fn abort(&self) {
        match self {
            Self::Task(handle) => handle.abort(),
            Self::Eager(eager) => {
                // A waiting task is dropped here: inside the runtime, as on its thread.
                let _context = runtime().enter();
                eager.abort();
            }
        }
    }
}

/// Spawn a task nobody awaits from Python (a stream's reader); abort it with the handle.
pub fn spawn_detached<F>(future: F) -> AbortHandle
where
    F: Future<Output = ()> + Send + 'static,
{
    spawn(future)
}

/// Spawn `future` for an awaitable of `event_loop`: when it finishes, `convert` turns its
/// output into a Python value on the event loop's thread and `queue`'s drain finishes the
/// returned [`NativeFuture`] with it (see [`CompletionQueue`]). If it panics, the
/// awaitable raises `APIError` (kind `internal`); cancelling the future aborts the task.
/// `eager`: a request's task, first run here, on the caller's thread (see `eager`), which
/// sends the request at once instead of waking the I/O thread for it.
pub fn spawn_awaitable<T, F, C>(
    py: Python<'_>,
    queue: &CompletionQueue,
    report: Report,
    event_loop: Py<PyAny>,
    future: F,
    convert: C,
    eager: bool,
) -> PyResult<Py<NativeFuture>>
where
    T: Send + 'static,
    F: Future<Output = T> + Send + 'static,
    C: FnOnce(Python<'_>, T) -> PyResult<Py<PyAny>> + Send + 'static,
{
    let awaitable = Py::new(py, NativeFuture::new(event_loop))?;
    let completer = queue.completer(awaitable.clone_ref(py), report);
    let task = completing(completer, future, convert);
    let cancel = if eager {
        let _context = runtime().enter();
        keep_pace();
        Cancel::Eager(spawn_eager(task, spawn_task))
    } else {
        Cancel::Task(spawn(task))
    };
    awaitable.borrow_mut(py).set_abort(cancel);
    Ok(awaitable)
}

/// `future`, then its output handed to `completer` (a panic reported instead).
fn completing<T, F, C>(
    completer: Completer,
    future: F,
    convert: C,
) -> impl Future<Output = ()> + Send + 'static
where
    T: Send + 'static,
    F: Future<Output = T> + Send + 'static,
    C: FnOnce(Python<'_>, T) -> PyResult<Py<PyAny>> + Send + 'static,
{
    let mut report = PanicReport(Some(completer));
    async move {
        let output = future.await;
        if let Some(completer) = report.0.take() {
            completer.complete(Box::new(move |py| convert(py, output)));
        }
    }
}

/// Run `future` on the runtime and wait for it with the GIL released. Ctrl-C (any
/// pending Python signal) cancels the future and raises in the caller.
pub fn block_on<T, F>(py: Python<'_>, future: F) -> PyResult<T>
where
    T: Send + 'static,
    F: Future<Output = T> + Send + 'static,
{
    let (sender, receiver) = sync_channel(1);
    let task = spawn(async move {
        let _ = sender.send(future.await);
    });
    wait_for(py, receiver, Cancel::Task(task))
}

/// Blocking requests (of every thread) whose answer is on its way.
static BLOCKING_DUE: AtomicUsize = AtomicUsize::new(0);

/// Counts one blocking request as on its way while it lives.
struct BlockingDue;

impl Drop for BlockingDue {
    fn drop(&mut self) {
        let _ = BLOCKING_DUE.fetch_update(Ordering::AcqRel, Ordering::Acquire, |due| {
            due.checked_sub(1)
        });
    }
}

/// [`block_on`] for a request. When no other blocking request is on its way, its task
/// first runs on this thread (see `eager`), sparing the I/O thread's wake-up on the
/// request's way out; with others on their way, the I/O thread sends it in its passes (as
/// `spawn_chat` decides for a loop's requests). The first poll keeps the GIL, as a loop's
/// does: a short one, and no `os.fork()` can then copy a lock it holds.
pub fn block_on_request<T, F>(py: Python<'_>, future: F) -> PyResult<T>
where
    T: Send + 'static,
    F: Future<Output = T> + Send + 'static,
{
    let lone = BLOCKING_DUE.fetch_add(1, Ordering::AcqRel) == 0;
    let _due = BlockingDue;
    if !lone {
        return block_on(py, future);
    }
    let (sender, receiver) = sync_channel(1);
    let task = async move {
        let _ = sender.send(future.await);
    };
    let eager = {
        let _context = runtime().enter();
        keep_pace();
        spawn_eager(task, spawn_task)
    };
    wait_for(py, receiver, Cancel::Eager(eager))
}

/// Wait for a task's output with the GIL released; Ctrl-C (any pending Python signal)
/// cancels the task and raises in the caller.
fn wait_for<T: Send>(
    py: Python<'_>,
    receiver: std::sync::mpsc::Receiver<T>,
    task: Cancel,
) -> PyResult<T> {
    let mut receiver = receiver;
    loop {
        // The receiver is Send but not Sync: move it into the GIL-free closure and back.
        let (returned, outcome) = py.detach(move || {
            let outcome = receiver.recv_timeout(SIGNAL_CHECK_INTERVAL);
            (receiver, outcome)
        });
        receiver = returned;
        match outcome {
            Ok(value) => return Ok(value),
            Err(RecvTimeoutError::Timeout) => {
                if let Err(interrupt) = py.check_signals() {
                    task.abort();
                    return Err(interrupt);
                }
            }
            // The sender was dropped without sending: the task panicked.
            Err(RecvTimeoutError::Disconnected) => return Err(panic_error()),
        }
    }
}

/// Where a task leaves its output for the thread blocked on it: set first, the waiter
/// woken after (at once, or deferred like a loop's wake-up).
struct Handoff<T> {
    /// `Some(None)`: the task ended without an output (it panicked).
    output: Mutex<Option<Option<T>>>,
    ready: Condvar,
}

impl<T> Handoff<T> {
    fn put(&self, output: Option<T>) {
        *self.output.lock().unwrap_or_else(|p| p.into_inner()) = Some(output);
    }

    fn notify(&self) {
        self.ready.notify_one();
    }

    /// The output once there (`Some(None)` after a panic), or `None` after `timeout`.
    fn wait(&self, timeout: Duration) -> Option<Option<T>> {
        let deadline = std::time::Instant::now() + timeout;
        let mut output = self.output.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(done) = output.take() {
                return Some(done);
            }
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return None;
            }
            output = self
                .ready
                .wait_timeout(output, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }
}

/// Hands a panicked task's absence of output over, at once.
struct HandoffOnDrop<T>(Option<Arc<Handoff<T>>>);

impl<T> Drop for HandoffOnDrop<T> {
    fn drop(&mut self) {
        if let Some(handoff) = self.0.take() {
            handoff.put(None);
            handoff.notify();
        }
    }
}

/// [`block_on`] whose waiter is woken as a stream's batch wakes a loop
/// ([`Report::WhenIdle`]): once the I/O thread has run the tasks ready now, so one busy
/// I/O thread hands every blocked stream its batch instead of being preempted per batch.
pub fn block_on_when_idle<T, F>(py: Python<'_>, future: F) -> PyResult<T>
where
    T: Send + 'static,
    F: Future<Output = T> + Send + 'static,
{
    let handoff = Arc::new(Handoff {
        output: Mutex::new(None),
        ready: Condvar::new(),
    });
    let mut on_drop = HandoffOnDrop(Some(handoff.clone()));
    let task = spawn(async move {
        let output = future.await;
        if let Some(handoff) = on_drop.0.take() {
            handoff.put(Some(output));
            super::bridge::defer_notify(Box::new(move || handoff.notify()));
        }
    });
    loop {
        let waiting = handoff.clone();
        match py.detach(move || waiting.wait(SIGNAL_CHECK_INTERVAL)) {
            Some(Some(value)) => return Ok(value),
            Some(None) => return Err(panic_error()),
            None => {
                if let Err(interrupt) = py.check_signals() {
                    task.abort();
                    return Err(interrupt);
                }
            }
        }
    }
}

/// Debug hooks for the test suite: a task that panics, awaited and blocking, to prove
/// a panic resolves its waiter with a typed error. Never called by the facade.
pub mod debug {
    use super::*;

    /// `await`-able (through `fastrouter._bridge.awaiting`) task that panics
    /// (`answer`: reported as a request's answer is).
    /// (`eager`: first run on the calling thread, as a request's task is).
    #[pyfunction]
    #[pyo3(signature = (queue, event_loop, answer=false, eager=false))]
    pub fn _debug_spawn_panic(
        py: Python<'_>,
        queue: &CompletionQueue,
        event_loop: Py<PyAny>,
        answer: bool,
        eager: bool,
    ) -> PyResult<Py<NativeFuture>> {
        let report = if answer { Report::Answer } else { Report::Now };
        let task = async { panic!("deliberate panic from fastrouter's debug hook") };
        let convert = |py: Python<'_>, ()| Ok(py.None());
        spawn_awaitable(py, queue, report, event_loop, task, convert, eager)
    }

    /// How many request tasks first ran on their caller's thread (see `eager`).
    #[pyfunction]
    pub fn _debug_eager_starts() -> u64 {
        EAGER_STARTS.load(Ordering::Relaxed)
    }

    /// Busy spells ([`_debug_keep_busy`]) still running.
    static BUSY_SPELLS: AtomicU64 = AtomicU64::new(0);

    /// How many busy spells still run (a test that needs an idle I/O thread waits for 0).
    #[pyfunction]
    pub fn _debug_busy_spells() -> u64 {
        BUSY_SPELLS.load(Ordering::Acquire)
    }

    /// Keep the I/O thread busy for `millis` ms with a task that only yields (so it
    /// never runs out of work and never parks, yet every other task still runs).
    #[pyfunction]
    pub fn _debug_keep_busy(millis: u64) {
        BUSY_SPELLS.fetch_add(1, Ordering::AcqRel);
        spawn_detached(async move {
            let now = std::time::Instant::now();
            let until = now
                .checked_add(Duration::from_millis(millis))
                .unwrap_or(now);
            while std::time::Instant::now() < until {
                tokio::task::yield_now().await;
            }
            BUSY_SPELLS.fetch_sub(1, Ordering::AcqRel);
        });
    }

    /// Blocking call whose task panics (`when_idle`: a wait woken like a stream's batch;
    /// `eager`: a request's, first run on this thread when no other is on its way).
    #[pyfunction]
    #[pyo3(signature = (when_idle=false, eager=false))]
    pub fn _debug_block_on_panic(py: Python<'_>, when_idle: bool, eager: bool) -> PyResult<()> {
        let task = async { panic!("deliberate panic from fastrouter's debug hook") };
        if when_idle {
            block_on_when_idle(py, task)
        } else if eager {
            block_on_request(py, task)
        } else {
            block_on(py, task)
        }
    }
}
