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

use super::future::{run_callbacks, schedule_callbacks, NativeFuture};
use super::wake::Wake;

/// Turns a finished Rust result into a Python value (or exception) under the GIL.
pub type Convert = Box<dyn FnOnce(Python<'_>) -> PyResult<Py<PyAny>> + Send>;

/// Who waits for a finished task: an id the Python side maps to its `asyncio.Future`, or
/// a [`NativeFuture`] the drain finishes itself.
pub enum Waiter {
    Id(u64),
    Future(Py<NativeFuture>),
}

struct Inner {
    finished: Mutex<Vec<(Waiter, Convert)>>,
    /// A wake-up is in flight; cleared by `drain` before it takes the results.
    notified: AtomicBool,
    wake: Wake,
}

/// One queue per event loop (the Python side keeps one per loop).
#[pyclass(frozen, module = "fastrouter._fastrouter")]
pub struct CompletionQueue {
    inner: Arc<Inner>,
}

/// Where a task reports: the queue plus who waits on it.
pub struct Completer {
    inner: Arc<Inner>,
    waiter: Waiter,
}

impl Completer {
    pub fn complete(self, convert: Convert) {
        self.inner.push(vec![(self.waiter, convert)]);
    }
}

impl Inner {
    /// Queue finished results and wake the loop if it was idle.
    fn push(&self, results: Vec<(Waiter, Convert)>) {
        self.finished
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend(results);
        if !self.notified.swap(true, Ordering::AcqRel) {
            self.wake.notify();
        }
    }
}

impl CompletionQueue {
    pub fn completer(&self, id: u64) -> Completer {
        Completer {
            inner: self.inner.clone(),
            waiter: Waiter::Id(id),
        }
    }

    /// A completer that finishes `future` in the drain.
    pub fn future_completer(&self, future: Py<NativeFuture>) -> Completer {
        Completer {
            inner: self.inner.clone(),
            waiter: Waiter::Future(future),
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

    /// Every finished result waited on by id, as `(id, ok, value)`; `value` is the
    /// exception when not ok. Finished `NativeFuture`s are finished here first, and their
    /// waiting tasks resumed (see [`run_callbacks`]; if one raises KeyboardInterrupt or
    /// SystemExit, the results not yet handed over wait for the next drain).
    fn drain<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyTuple>>> {
        let inner = &self.inner;
        inner.wake.clear();
        inner.notified.store(false, Ordering::Release);
        let finished =
            std::mem::take(&mut *inner.finished.lock().unwrap_or_else(|p| p.into_inner()));
        let mut by_id = Vec::new();
        let mut wakeups = Vec::new();
        for (waiter, convert) in finished {
            match waiter {
                Waiter::Id(id) => by_id.push((id, convert)),
                Waiter::Future(future) => {
                    let callbacks = future.borrow_mut(py).finish(converted(py, convert));
                    if !callbacks.is_empty() {
                        wakeups.push((future, callbacks));
                    }
                }
            }
        }
        let mut wakeups = wakeups.into_iter();
        while let Some((future, callbacks)) = wakeups.next() {
            if let Err(stop) = run_callbacks(py, &future, callbacks) {
                for (future, callbacks) in wakeups {
                    schedule_callbacks(py, &future, callbacks)?;
                }
                if !by_id.is_empty() {
                    let rest = by_id
                        .into_iter()
                        .map(|(id, convert)| (Waiter::Id(id), convert));
                    inner.push(rest.collect());
                }
                return Err(stop);
            }
        }
        let mut out = Vec::with_capacity(by_id.len());
        for (id, convert) in by_id {
            let entry = match converted(py, convert) {
                Ok(value) => (id, true, value),
                Err(err) => (id, false, err.into_value(py).into_any()),
            };
            out.push(entry.into_pyobject(py)?);
        }
        Ok(out)
    }
}

/// Run a conversion; a panic in it fails this one result, not the whole batch.
fn converted(py: Python<'_>, convert: Convert) -> PyResult<Py<PyAny>> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| convert(py)))
        .unwrap_or_else(|_| Err(super::runtime::panic_error()))
}
