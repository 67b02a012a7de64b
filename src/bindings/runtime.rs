//! The one tokio runtime the extension owns, and the bridge from blocking Python calls.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, RecvTimeoutError};
use std::sync::Mutex;
use std::time::Duration;

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;

use super::completions::{CompletionQueue, TaskHandle};

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
/// child, not dropped: dropping them would wait for threads that no longer exist.
#[pyfunction]
pub fn after_fork_in_child() {
    FORK_GENERATION.fetch_add(1, Ordering::AcqRel);
}

/// The extension's one multi-threaded runtime, created on first use (and again on first
/// use in a forked child).
pub fn runtime() -> &'static tokio::runtime::Runtime {
    let generation = fork_generation();
    let mut current = RUNTIME.lock().unwrap_or_else(|p| p.into_inner());
    match *current {
        Some((built_in, runtime)) if built_in == generation => runtime,
        _ => {
            let runtime: &'static tokio::runtime::Runtime = Box::leak(Box::new(
                tokio::runtime::Builder::new_multi_thread()
                    .enable_all()
                    .thread_name("fastrouter-io")
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

/// Spawn `future` for an awaitable: when it finishes, `convert` turns its output into a
/// Python value on the event loop's thread (see [`CompletionQueue`]).
pub fn spawn_reporting<T, F, C>(
    queue: &CompletionQueue,
    id: u64,
    future: F,
    convert: C,
) -> TaskHandle
where
    T: Send + 'static,
    F: Future<Output = T> + Send + 'static,
    C: FnOnce(Python<'_>, T) -> PyResult<Py<PyAny>> + Send + 'static,
{
    let completer = queue.completer(id);
    let task = runtime().spawn(async move {
        let output = future.await;
        completer.complete(Box::new(move |py| convert(py, output)));
    });
    TaskHandle::new(task.abort_handle())
}

/// Run `future` on the runtime and wait for it with the GIL released. Ctrl-C (any
/// pending Python signal) cancels the future and raises in the caller.
pub fn block_on<T, F>(py: Python<'_>, future: F) -> PyResult<T>
where
    T: Send + 'static,
    F: Future<Output = T> + Send + 'static,
{
    let (sender, receiver) = sync_channel(1);
    let task = runtime().spawn(async move {
        let _ = sender.send(future.await);
    });
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
            Err(RecvTimeoutError::Disconnected) => {
                return Err(PyRuntimeError::new_err(
                    "fastrouter internal error: the request task panicked",
                ))
            }
        }
    }
}
