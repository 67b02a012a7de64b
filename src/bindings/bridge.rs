//! The asyncio bridge: results of Rust tasks reach the event loop in batches.
//!
//! A finished task pushes a conversion closure onto the queue and, if the queue was idle,
//! wakes the event loop once; the loop thread then drains *every* finished result in one
//! wake-up and converts them with the GIL it already holds. Two ways to wake:
//!
//! - a socket (Unix, the default): one byte written to a socket pair the loop watches
//!   with `loop.add_reader`. Tokio threads never touch the GIL.
//! - a callback (`CompletionQueue(wake=...)`): for loops without `add_reader` (Windows'
//!   proactor loop), the tokio thread calls `wake()` (the facade passes
//!   `loop.call_soon_threadsafe(drain)`) with the GIL, once per idle-to-busy transition.
//!
//! There is no extra thread hop per request (which a generic `future_into_py` pays).

#[cfg(unix)]
use std::io::{Read, Write};
#[cfg(unix)]
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use pyo3::prelude::*;
use pyo3::types::PyTuple;
use tokio::task::AbortHandle;

/// Turns a finished Rust result into a Python value (or exception) under the GIL.
pub type Convert = Box<dyn FnOnce(Python<'_>) -> PyResult<Py<PyAny>> + Send>;

/// How a queue tells its event loop that results are waiting.
enum Wake {
    #[cfg(unix)]
    Socket {
        writer: UnixStream,
        reader: UnixStream,
    },
    Callback(Py<PyAny>),
}

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
        if inner.notified.swap(true, Ordering::AcqRel) {
            return;
        }
        match &inner.wake {
            // A full socket buffer already means a pending wake-up: ignore WouldBlock.
            #[cfg(unix)]
            Wake::Socket { writer, .. } => {
                let _ = (&*writer).write(&[1]);
            }
            Wake::Callback(wake) => Python::attach(|py| {
                if let Err(err) = wake.call0(py) {
                    err.write_unraisable(py, None);
                }
            }),
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

#[cfg(unix)]
fn socket_wake() -> PyResult<Wake> {
    let (reader, writer) = UnixStream::pair()?;
    reader.set_nonblocking(true)?;
    writer.set_nonblocking(true)?;
    Ok(Wake::Socket { writer, reader })
}

#[cfg(not(unix))]
fn socket_wake() -> PyResult<Wake> {
    Err(pyo3::exceptions::PyNotImplementedError::new_err(
        "CompletionQueue needs wake= on this platform",
    ))
}

#[pymethods]
impl CompletionQueue {
    #[new]
    #[pyo3(signature = (wake=None))]
    fn new(wake: Option<Py<PyAny>>) -> PyResult<Self> {
        let wake = match wake {
            Some(callback) => Wake::Callback(callback),
            None => socket_wake()?,
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
        match &self.inner.wake {
            #[cfg(unix)]
            Wake::Socket { reader, .. } => {
                use std::os::fd::AsRawFd;
                Some(i64::from(reader.as_raw_fd()))
            }
            Wake::Callback(_) => None,
        }
    }

    /// Every finished result as `(id, ok, value)`; `value` is the exception when not ok.
    fn drain<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyTuple>>> {
        let inner = &self.inner;
        #[cfg(unix)]
        if let Wake::Socket { reader, .. } = &inner.wake {
            let mut sink = [0u8; 256];
            while matches!((&*reader).read(&mut sink), Ok(n) if n > 0) {}
        }
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
