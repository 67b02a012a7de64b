//! The asyncio bridge: results of Rust tasks reach the event loop in batches.
//!
//! A finished task pushes a conversion closure onto the queue and, if the queue was idle,
//! wakes the event loop once (see [`Wake`]: a byte on a pipe the loop watches with
//! `loop.add_reader`, or `loop.call_soon_threadsafe` where there is no `add_reader`).
//! The loop thread then drains *every* finished result in one wake-up and converts them
//! with the GIL it already holds. There is no extra thread hop per request (which a
//! generic `future_into_py` pays).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use pyo3::prelude::*;
use pyo3::types::PyTuple;
use tokio::task::AbortHandle;

use super::wake::Wake;

/// Turns a finished Rust result into a Python value (or exception) under the GIL.
pub type Convert = Box<dyn FnOnce(Python<'_>) -> PyResult<Py<PyAny>> + Send>;

struct Inner {
    finished: Mutex<Vec<(u64, Convert)>>,
    /// A wake-up is in flight; cleared by `drain` before it takes the results.
    notified: AtomicBool,
    wake: Wake,
}

/// One queue per event loop (the Python side keeps one per loop).
#[pyclass(frozen, module = "fastrouter._fastrouter")]
pub struct CompletionQueue {
    inner: Arc<Inner>,
}

/// Where a task reports: the queue plus the id the Python side waits on.
#[derive(Clone)]
pub struct Completer {
    inner: Arc<Inner>,
    id: u64,
}

impl Completer {
    pub fn complete(self, convert: Convert) {
        let inner = &self.inner;
        inner
            .finished
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((self.id, convert));
        if !inner.notified.swap(true, Ordering::AcqRel) {
            inner.wake.notify();
        }
    }
}

impl CompletionQueue {
    pub fn completer(&self, id: u64) -> Completer {
        Completer {
            inner: self.inner.clone(),
            id,
        }
    }
}

/// Cancels the Rust task behind an awaitable (asyncio cancellation).
#[pyclass(frozen, module = "fastrouter._fastrouter")]
pub struct TaskHandle {
    abort: AbortHandle,
}

impl TaskHandle {
    pub fn new(abort: AbortHandle) -> Self {
        Self { abort }
    }
}

#[pymethods]
impl TaskHandle {
    /// Cancel the task (dropping its request and connection). Idempotent.
    fn cancel(&self) {
        self.abort.abort();
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
                notified: AtomicBool::new(false),
                wake,
            }),
        })
    }

    /// The file descriptor to watch with `loop.add_reader` (`None` with `wake=`).
    fn fileno(&self) -> Option<i64> {
        self.inner.wake.fileno()
    }

    /// Every finished result as `(id, ok, value)`; `value` is the exception when not ok.
    fn drain<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyTuple>>> {
        let inner = &self.inner;
        inner.wake.clear();
        inner.notified.store(false, Ordering::Release);
        let finished =
            std::mem::take(&mut *inner.finished.lock().unwrap_or_else(|p| p.into_inner()));
        let mut out = Vec::with_capacity(finished.len());
        for (id, convert) in finished {
            // A panic while converting fails this one result, not the whole batch.
            let converted = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| convert(py)))
                .unwrap_or_else(|_| Err(super::runtime::panic_error()));
            let entry = match converted {
                Ok(value) => (id, true, value),
                Err(err) => (id, false, err.into_value(py).into_any()),
            };
            out.push(entry.into_pyobject(py)?);
        }
        Ok(out)
    }
}
