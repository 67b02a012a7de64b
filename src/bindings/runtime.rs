//! The one tokio runtime the extension owns, and the bridge from blocking Python calls.

use std::future::Future;
use std::sync::mpsc::{sync_channel, RecvTimeoutError};
use std::sync::OnceLock;
use std::time::Duration;

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;

use super::completions::{CompletionQueue, TaskHandle};

/// How often a blocking call wakes to let Python handle Ctrl-C.
const SIGNAL_CHECK_INTERVAL: Duration = Duration::from_millis(100);

static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();

/// The extension's one multi-threaded runtime, created on first use.
pub fn runtime() -> &'static tokio::runtime::Runtime {
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .thread_name("fastrouter-io")
            .build()
            .unwrap_or_else(|err| panic!("fastrouter: cannot start the tokio runtime: {err}"))
    })
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
