//! `NativeFuture`: an asyncio-compatible future that the completion queue's drain finishes.
//!
//! It speaks the protocol asyncio's `Task` uses for foreign futures (`_asyncio_future_blocking`,
//! `get_loop`, `add_done_callback`, `result`, `cancel`), so a coroutine awaits it directly.
//! When the drain finishes it, the waiting task's wake-up runs at once, inside the drain,
//! instead of being scheduled for the loop's next iteration as `asyncio.Future.set_result`
//! does (issue 11: one loop iteration, one `Future` and one coroutine fewer per request).
//! Cancelling it (the awaiting task cancelled) aborts the Rust task and so its request.

use super::runtime::{fork_generation, Cancel};
use pyo3::exceptions::{PyBaseException, PyException, PyStopIteration};
use pyo3::gc::PyVisit;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyTuple};
use pyo3::PyTraverseError;

enum State {
    Pending,
    Done(Py<PyAny>),
    /// The exception, normalized so the garbage collector can see it.
    Failed(Py<PyBaseException>),
    /// Cancelled, with the message given to `cancel()`.
    Cancelled(Option<Py<PyAny>>),
}

/// A done-callback and the `contextvars.Context` it runs in (given, or a copy of the
/// context that added it, as asyncio does).
pub type Callback = (Py<PyAny>, Py<PyAny>);

/// The awaitable of one Rust task (see the module docs).
#[pyclass(module = "fastrouter._fastrouter")]
pub struct NativeFuture {
    event_loop: Py<PyAny>,
    state: State,
    callbacks: Vec<Callback>,
    /// The Rust task and the fork generation it was spawned in (see `cancel`).
    abort: Option<(u64, Cancel)>,
    /// asyncio's marker of a future-like object: set while a task waits on it.
    #[pyo3(get, set, name = "_asyncio_future_blocking")]
    blocking: bool,
    /// Its await ends with `None` instead of the result, which the awaiting code then
    /// reads with `result()`: no `StopIteration` is made to carry it (a usual call's
    /// future, see `NativeClient.chat_usual`; an error or a cancellation still raises).
    bare: bool,
}

fn asyncio_attr(
    py: Python<'_>,
    cell: &'static PyOnceLock<Py<PyAny>>,
    name: &str,
) -> PyResult<Py<PyAny>> {
    cell.get_or_try_init(py, || Ok(py.import("asyncio")?.getattr(name)?.unbind()))
        .map(|attr| attr.clone_ref(py))
}

fn cancelled_error(py: Python<'_>, message: Option<&Py<PyAny>>) -> PyErr {
    static CANCELLED: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let made = asyncio_attr(py, &CANCELLED, "CancelledError").and_then(|class| {
        let args = match message {
            Some(message) => PyTuple::new(py, [message.clone_ref(py)])?,
            None => PyTuple::empty(py),
        };
        Ok(PyErr::from_value(class.bind(py).call1(args)?))
    });
    made.unwrap_or_else(|err| err)
}

/// `contextvars.copy_context()`: the context a callback added without one runs in.
fn copy_context(py: Python<'_>) -> PyResult<Py<PyAny>> {
    static COPY_CONTEXT: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let copy = COPY_CONTEXT.get_or_try_init(py, || {
        Ok::<_, PyErr>(py.import("contextvars")?.getattr("copy_context")?.unbind())
    })?;
    copy.call0(py)
}

fn invalid_state(py: Python<'_>, message: &str) -> PyErr {
    static INVALID: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    asyncio_attr(py, &INVALID, "InvalidStateError")
        .and_then(|class| Ok(PyErr::from_value(class.bind(py).call1((message,))?)))
        .unwrap_or_else(|err| err)
}

impl NativeFuture {
    pub fn new(event_loop: Py<PyAny>) -> Self {
        Self {
            event_loop,
            state: State::Pending,
            callbacks: Vec::new(),
            abort: None,
            blocking: false,
            bare: false,
        }
    }

    /// Its await gives `None` once done (see `bare`).
    pub fn set_bare(&mut self) {
        self.bare = true;
    }

    pub fn set_abort(&mut self, abort: Cancel) {
        self.abort = Some((fork_generation(), abort));
    }

    pub fn is_pending(&self) -> bool {
        matches!(self.state, State::Pending)
    }

    /// Mark it as the future a task is about to wait on (asyncio's `yield self` does).
    pub fn set_blocking(&mut self) {
        self.blocking = true;
    }

    /// The loop the future belongs to.
    pub fn event_loop(&self, py: Python<'_>) -> Py<PyAny> {
        self.event_loop.clone_ref(py)
    }

    /// Record the task's outcome (ignored once cancelled); the callbacks to run now.
    pub fn finish(&mut self, py: Python<'_>, outcome: PyResult<Py<PyAny>>) -> Vec<Callback> {
        if !matches!(self.state, State::Pending) {
            return Vec::new();
        }
        self.state = match outcome {
            Ok(value) => State::Done(value),
            Err(err) => State::Failed(err.into_value(py)),
        };
        self.abort = None;
        std::mem::take(&mut self.callbacks)
    }

    fn schedule(&self, py: Python<'_>, slf: &Py<Self>, callback: Callback) -> PyResult<()> {
        let (function, context) = callback;
        let kwargs = PyDict::new(py);
        kwargs.set_item(intern!(py, "context"), context)?;
        self.event_loop.call_method(
            py,
            intern!(py, "call_soon"),
            (function, slf.clone_ref(py)),
            Some(&kwargs),
        )?;
        Ok(())
    }

    /// The result, or the exception to raise (`InvalidStateError` while pending).
    pub fn outcome(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        match &self.state {
            State::Pending => Err(invalid_state(py, "Result is not set.")),
            State::Done(value) => Ok(value.clone_ref(py)),
            State::Failed(err) => Err(PyErr::from_value(err.bind(py).clone().into_any())),
            State::Cancelled(message) => Err(cancelled_error(py, message.as_ref())),
        }
    }
}

/// `context.run(function, future)`: through `contextvars.Context.run` itself when
/// `context` is exactly a `Context` (what asyncio passes; no bound method made per call),
/// else looked up on it.
fn run_in(
    py: Python<'_>,
    context: &Py<PyAny>,
    function: &Py<PyAny>,
    future: &Py<NativeFuture>,
) -> PyResult<Py<PyAny>> {
    static CONTEXT_RUN: PyOnceLock<(Py<PyAny>, Py<PyAny>)> = PyOnceLock::new();
    let (class, run) = CONTEXT_RUN.get_or_try_init(py, || {
        let class = py.import("contextvars")?.getattr("Context")?;
        let run = class.getattr("run")?.unbind();
        Ok::<_, PyErr>((class.unbind(), run))
    })?;
    let context = context.bind(py);
    if context.get_type().is(class.bind(py)) {
        return run.call1(py, (context, function, future));
    }
    context
        .call_method1(intern!(py, "run"), (function, future))
        .map(Bound::unbind)
}

/// Run the done-callbacks of a future the drain just finished, in order, the way asyncio's
/// loop runs a callback: an `Exception` goes to the loop's exception handler; anything
/// else (KeyboardInterrupt, SystemExit) stops here and is returned, with the callbacks not
/// yet run scheduled on the loop so that no waiter is lost.
pub fn run_callbacks(
    py: Python<'_>,
    future: &Py<NativeFuture>,
    callbacks: Vec<Callback>,
) -> PyResult<()> {
    let mut callbacks = callbacks.into_iter();
    while let Some((function, context)) = callbacks.next() {
        let Err(err) = run_in(py, &context, &function, future) else {
            continue;
        };
        if err.is_instance_of::<PyException>(py) {
            let report = PyDict::new(py);
            report.set_item(
                "message",
                "Exception in a fastrouter future's done-callback",
            )?;
            report.set_item("exception", err.value(py))?;
            report.set_item("future", future.clone_ref(py))?;
            let event_loop = future.borrow(py).event_loop.clone_ref(py);
            if let Err(failed) = event_loop.call_method1(py, "call_exception_handler", (report,)) {
                failed.write_unraisable(py, None);
            }
            continue;
        }
        // The interrupt propagates even if the loop can no longer take the rest.
        if let Err(failed) = schedule_callbacks(py, future, callbacks.collect()) {
            failed.write_unraisable(py, Some(future.bind(py).as_any()));
        }
        return Err(err);
    }
    Ok(())
}

/// Schedule done-callbacks on the future's loop (`loop.call_soon`), as asyncio does.
pub fn schedule_callbacks(
    py: Python<'_>,
    future: &Py<NativeFuture>,
    callbacks: Vec<Callback>,
) -> PyResult<()> {
    let this = future.borrow(py);
    for callback in callbacks {
        this.schedule(py, future, callback)?;
    }
    Ok(())
}

#[pymethods]
impl NativeFuture {
    fn __await__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    /// Pending: hand itself to the awaiting task (asyncio's `yield self`); done: stop
    /// with the result (a bare future: with `None`, no exception made), or raise the error.
    fn __next__(mut slf: PyRefMut<'_, Self>) -> PyResult<Option<Py<PyAny>>> {
        if matches!(slf.state, State::Pending) {
            slf.blocking = true;
            let py = slf.py();
            return Ok(Some(slf.into_pyobject(py)?.into_any().unbind()));
        }
        if slf.bare && matches!(slf.state, State::Done(_)) {
            return Ok(None); // the iterator's end without an exception: the await gives None
        }
        let py = slf.py();
        let value = slf.outcome(py)?;
        Err(PyStopIteration::new_err((value,)))
    }

    fn get_loop(&self, py: Python<'_>) -> Py<PyAny> {
        self.event_loop.clone_ref(py)
    }

    fn done(&self) -> bool {
        !matches!(self.state, State::Pending)
    }

    fn cancelled(&self) -> bool {
        matches!(self.state, State::Cancelled(_))
    }

    fn result(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.outcome(py)
    }

    fn exception(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        match &self.state {
            State::Failed(err) => Ok(Some(err.clone_ref(py).into_any())),
            State::Done(_) => Ok(None),
            _ => self.outcome(py).map(|_| None),
        }
    }

    #[pyo3(signature = (function, *, context=None))]
    fn add_done_callback(
        slf: &Bound<'_, Self>,
        function: Py<PyAny>,
        context: Option<Py<PyAny>>,
    ) -> PyResult<()> {
        let py = slf.py();
        let context = match context {
            Some(context) => context,
            None => copy_context(py)?,
        };
        let mut this = slf.borrow_mut();
        if matches!(this.state, State::Pending) {
            this.callbacks.push((function, context));
            return Ok(());
        }
        this.schedule(py, &slf.clone().unbind(), (function, context))
    }

    fn remove_done_callback(
        &mut self,
        py: Python<'_>,
        function: &Bound<'_, PyAny>,
    ) -> PyResult<usize> {
        // Every comparison first: one that raises leaves the list as it was.
        let mut removed = Vec::with_capacity(self.callbacks.len());
        for (callback, _) in &self.callbacks {
            removed.push(callback.bind(py).eq(function)?);
        }
        let count = removed.iter().filter(|&&equal| equal).count();
        let mut removed = removed.into_iter();
        self.callbacks.retain(|_| !removed.next().unwrap_or(false));
        Ok(count)
    }

    /// Cancel the Rust task (dropping its request and connection) and wake the waiter
    /// with `CancelledError`. False if already done.
    #[pyo3(signature = (msg=None))]
    fn cancel(slf: &Bound<'_, Self>, msg: Option<Py<PyAny>>) -> PyResult<bool> {
        let py = slf.py();
        let (callbacks, abort) = {
            let mut this = slf.borrow_mut();
            if !matches!(this.state, State::Pending) {
                return Ok(false);
            }
            let abort = this.abort.take();
            this.state = State::Cancelled(msg);
            (std::mem::take(&mut this.callbacks), abort)
        };
        // Once this future is no longer borrowed: an eager task waiting here is dropped now.
        if let Some((generation, abort)) = abort {
            // In a forked child the task is the parent's runtime's, which no thread runs
            // here; scheduling its abort would take that runtime's locks.
            if generation == fork_generation() {
                abort.abort();
            }
        }
        let this = slf.borrow();
        let unbound = slf.clone().unbind();
        for callback in callbacks {
            this.schedule(py, &unbound, callback)?;
        }
        Ok(true)
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.event_loop)?;
        for (function, context) in &self.callbacks {
            visit.call(function)?;
            visit.call(context)?;
        }
        match &self.state {
            State::Done(value) => visit.call(value)?,
            State::Failed(err) => visit.call(err)?,
            State::Cancelled(Some(message)) => visit.call(message)?,
            State::Pending | State::Cancelled(None) => {}
        }
        Ok(())
    }

    fn __clear__(&mut self) {
        self.callbacks.clear();
        // Only garbage is cleared: what matters is dropping the references it holds.
        if !matches!(self.state, State::Pending) {
            self.state = State::Cancelled(None);
        }
    }
}
