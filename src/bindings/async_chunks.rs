//! An `AsyncStream`'s chunks by native objects: `AsyncChunks`, the async iterator, and
//! `NextChunk`, the awaitable its `__anext__` gives (one per iterator, awaited again for
//! each chunk), which holds the iteration's state. Awaiting it completes at once with the
//! next chunk of the batch it holds; only when the batch is spent does it take the next
//! ready batch, or wait for one (a [`NativeFuture`] the awaiting task sleeps on). The
//! stream's own bookkeeping (the response cache's record, how it ended) stays in Python:
//! it is called through [`ChunkSource`], as the sync stream's `SyncChunks` does.
//!
//! On CPython 3.10 and 3.11 an `await` completes through the awaitable's `am_send` slot
//! (see [`super::slots`]), which hands back the chunk without making a `StopIteration` and
//! without a frame resumed: the async generator this replaces cost ~750 instructions a
//! chunk more on the loop thread. (3.12 completes it through `tp_iternext`, with a
//! `StopIteration`, as it does a generator's: there the two are on par.) The iterator is
//! not itself awaitable, as an async generator is not.

use std::sync::Arc;

use std::panic::{catch_unwind, AssertUnwindSafe};

use pyo3::exceptions::{
    PyGeneratorExit, PyRuntimeError, PyStopAsyncIteration, PyStopIteration, PyValueError,
};
use pyo3::gc::PyVisit;
use pyo3::panic::PanicException;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyList, PyTuple, PyType};
use pyo3::PyTraverseError;

use super::bridge::CompletionQueue;
use super::chunk::{chunk_list, StreamChunk};
use super::future::NativeFuture;
use super::stream::{ChunkSource, WaitedBatch};
use crate::stream::chunk::Chunk;

/// Batches taken without waiting before the iterator gives the event loop a turn: a
/// stream that is never empty still lets other tasks run now and then.
const READY_BATCHES_BEFORE_YIELD: u32 = 16;

/// The chunks of the batch being handed out.
enum Held {
    None,
    /// A batch taken at once or waited for, each chunk's objects built as it is handed out.
    Chunks(std::vec::IntoIter<Arc<Chunk>>),
    /// A batch built whole for the response cache's record.
    Objects(std::vec::IntoIter<Py<PyAny>>),
}

enum State {
    /// Handing out chunks (or about to take the next batch).
    Ready,
    /// The awaiting task sleeps on this wait for the next batch.
    Waiting(Py<NativeFuture>),
    /// Ended, failed or closed: awaiting `__anext__` raises `StopAsyncIteration`.
    Finished,
}

/// What one step of the awaitable does.
pub enum Sent {
    /// Complete the `await` with this chunk.
    Return(Py<PyAny>),
    /// Hand this to the awaiting task: `None` (a turn of the loop) or the wait's future.
    Yield(Py<PyAny>),
    /// The stream's normal end: `StopAsyncIteration`.
    End,
}

/// An `AsyncStream`'s async iterator (see the module docs): `__anext__` is its `NextChunk`.
#[pyclass(frozen, module = "fastrouter._fastrouter")]
pub struct AsyncChunks {
    next: Py<NextChunk>,
}

impl AsyncChunks {
    /// The awaitable of the next chunk (`__anext__`, and the type's `am_anext` slot).
    pub fn next_chunk(&self, py: Python<'_>) -> Py<NextChunk> {
        self.next.clone_ref(py)
    }
}

/// The awaitable of an `AsyncChunks`' next chunk, and the iteration's state (see the
/// module docs). Like an async generator's `asend` object it is also a coroutine (`send`,
/// `throw`, `close`), so `asyncio.ensure_future(anext(iterator))` takes it.
#[pyclass(module = "fastrouter._fastrouter")]
pub struct NextChunk {
    /// What the iterator reads from, until iteration ends (then dropped, so a spent
    /// iterator holds neither the stream nor its record, as a finished generator did).
    source: Option<ChunkSource>,
    held: Held,
    ready_in_a_row: u32,
    state: State,
}

/// `fastrouter._bridge.running_queue()`: the running loop's completion queue and the loop.
fn running_queue(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    static RUNNING_QUEUE: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    RUNNING_QUEUE
        .get_or_try_init(py, || {
            Ok::<_, PyErr>(
                py.import("fastrouter._bridge")?
                    .getattr("running_queue")?
                    .unbind(),
            )
        })
        .and_then(|function| function.call0(py))
        .map(|running| running.into_bound(py))
}

impl NextChunk {
    /// The next chunk of a ready batch, built now: the usual step, which calls no Python
    /// code and drops no `Py` (see [`super::slots`]). `None` when the step is another one.
    pub fn next_ready(&mut self, py: Python<'_>) -> Option<PyResult<Py<PyAny>>> {
        if !matches!(self.state, State::Ready) {
            return None;
        }
        let Held::Chunks(chunks) = &mut self.held else {
            return None;
        };
        let chunk = chunks.next()?;
        Some(StreamChunk::new_object(py, chunk))
    }

    /// One step of the awaitable, a panic included as a Python exception: the usual one (a
    /// held chunk) without PyO3's attach bookkeeping (it calls no Python code and drops no
    /// `Py`, whose release PyO3 defers while it does not count the thread as attached),
    /// any other inside `Python::attach` (through `PyGILState_Ensure` when no PyO3 call is
    /// on the stack). Any error or panic ends the iteration; the stream records how.
    pub fn step_caught(slf: &Bound<'_, Self>) -> PyResult<Sent> {
        let caught = catch_unwind(AssertUnwindSafe(|| {
            if let Ok(mut this) = slf.try_borrow_mut() {
                match this.next_ready(slf.py()) {
                    Some(Ok(chunk)) => return Ok(Sent::Return(chunk)),
                    Some(Err(error)) => {
                        drop(this);
                        return Python::attach(|_| Err(Self::failed(slf, error)));
                    }
                    None => {}
                }
            }
            Python::attach(|_| Self::advance(slf))
        }));
        caught.unwrap_or_else(|payload| {
            let message = payload
                .downcast_ref::<&str>()
                .map(|text| (*text).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic in a stream's iterator".to_owned());
            // Recorded without `Python::attach`, which itself panics while the interpreter
            // finalizes (3.13+): a panic must not leave this function, a slot's body.
            let panic = PanicException::new_err(message);
            let recorded = catch_unwind(AssertUnwindSafe(|| {
                Self::failed(slf, panic.clone_ref(slf.py()))
            }));
            Err(recorded.unwrap_or(panic))
        })
    }

    /// One step of the awaitable, whatever it is; an error ends iteration (the stream
    /// records how). The iterator is borrowed throughout: a second reader meanwhile (a
    /// `_keep` or `_stopped` that reads the stream) is refused, as a running generator is.
    fn advance(slf: &Bound<'_, Self>) -> PyResult<Sent> {
        let py = slf.py();
        let mut this = slf
            .try_borrow_mut()
            .map_err(|_| PyValueError::new_err("this stream's iterator is already being read"))?;
        if let State::Waiting(future) = &this.state {
            if future
                .try_borrow(py)
                .map_or(true, |future| future.is_pending())
            {
                // Only a second `await` resumes it before its wait ends (the awaiting task
                // is woken by the wait's end): refused, as a running async generator is.
                return Err(PyRuntimeError::new_err(
                    "this stream's iterator is already being awaited",
                ));
            }
        }
        match this.step(py) {
            Ok(sent) => Ok(sent),
            Err(error) => Err(this.fail(py, error)),
        }
    }

    /// Iteration ends with `error` raised while handing out a chunk (see [`Self::advance`]).
    fn failed(slf: &Bound<'_, Self>, error: PyErr) -> PyErr {
        match slf.try_borrow_mut() {
            Ok(mut this) => this.fail(slf.py(), error),
            Err(_) => error,
        }
    }

    /// The next chunk of the held batch, if any.
    fn next_held(&mut self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        let next = match &mut self.held {
            Held::None => return Ok(None),
            Held::Chunks(chunks) => chunks
                .next()
                .map(|chunk| StreamChunk::new_object(py, chunk))
                .transpose()?,
            Held::Objects(objects) => objects.next(),
        };
        if next.is_none() {
            self.held = Held::None;
        }
        Ok(next)
    }

    /// Hold a ready batch (taken at once or waited for); while the response cache
    /// records, its chunks are built now and kept by the stream (batch by batch, as they
    /// arrive).
    fn hold_ready(&mut self, py: Python<'_>, batch: Vec<Arc<Chunk>>) -> PyResult<()> {
        let Some(source) = &self.source else {
            return Ok(());
        };
        if source.record.is_none() {
            self.held = Held::Chunks(batch.into_iter());
            return Ok(());
        }
        let list = chunk_list(py, batch)?;
        self.hold_built(py, list)
    }

    /// Hold a batch built for the response cache's record, kept first.
    fn hold_built(&mut self, py: Python<'_>, batch: Bound<'_, PyList>) -> PyResult<()> {
        if let Some(source) = &self.source {
            source.keep(py, &batch)?;
        }
        let objects: Vec<Py<PyAny>> = batch.iter().map(Bound::unbind).collect();
        self.held = Held::Objects(objects.into_iter());
        Ok(())
    }

    /// Start waiting for the next batch of `source` on the running loop.
    fn wait(py: Python<'_>, source: &ChunkSource) -> PyResult<Py<NativeFuture>> {
        let running = running_queue(py)?;
        let (queue, event_loop) = running.extract::<(Bound<'_, CompletionQueue>, Py<PyAny>)>()?;
        let future = source
            .native
            .get()
            .next_batch(py, &queue.borrow(), event_loop)?;
        future.borrow_mut(py).set_blocking();
        Ok(future)
    }

    /// One step: resume a wait or a turn, then hand out a chunk, take the next ready
    /// batch or start a wait.
    fn step(&mut self, py: Python<'_>) -> PyResult<Sent> {
        match std::mem::replace(&mut self.state, State::Ready) {
            State::Finished => {
                self.state = State::Finished;
                return Ok(Sent::End);
            }
            State::Waiting(future) => {
                let outcome = future
                    .try_borrow(py)
                    .map_err(|_| PyRuntimeError::new_err("the stream's wait is busy"))?
                    .outcome(py)?; // done: see `advance`
                match outcome.cast_bound::<WaitedBatch>(py) {
                    Ok(batch) => self.hold_ready(py, batch.get().take())?,
                    // `None`: the normal end.
                    Err(_) => {
                        self.state = State::Finished;
                        if let Some(source) = &self.source {
                            source.ended(py)?; // (a failure here is `_stopped`'s to record)
                        }
                        self.source = None;
                        return Ok(Sent::End);
                    }
                }
            }
            State::Ready => {}
        }
        loop {
            if let Some(chunk) = self.next_held(py)? {
                return Ok(Sent::Return(chunk));
            }
            let Some(source) = &self.source else {
                self.state = State::Finished;
                return Ok(Sent::End);
            };
            // Chunks already waiting are taken at once; only an empty stream waits (one
            // wake-up of the loop per wait, not per batch).
            if let Some(batch) = source.native.get().ready_batch() {
                self.hold_ready(py, batch)?;
                self.ready_in_a_row += 1;
                if self.ready_in_a_row == READY_BATCHES_BEFORE_YIELD {
                    self.ready_in_a_row = 0;
                    return Ok(Sent::Yield(py.None()));
                }
                continue;
            }
            self.ready_in_a_row = 0;
            let future = Self::wait(py, source)?;
            self.state = State::Waiting(future.clone_ref(py));
            return Ok(Sent::Yield(future.into_any()));
        }
    }

    /// Iteration ends with `error`: the stream records how (`_stopped`), then the error
    /// propagates (or whatever `_stopped` raised instead). A `StopIteration` or
    /// `StopAsyncIteration` (from the stream's bookkeeping) becomes a `RuntimeError`, as
    /// in an async generator (PEP 479): raised as is, it would end the `await` or the
    /// `async for` as if nothing had failed.
    fn fail(&mut self, py: Python<'_>, error: PyErr) -> PyErr {
        self.state = State::Finished;
        self.held = Held::None;
        let raised = match self.source.take() {
            Some(source) => source.stopped(py, error),
            None => error,
        };
        let stop = if raised.is_instance_of::<PyStopIteration>(py) {
            "StopIteration"
        } else if raised.is_instance_of::<PyStopAsyncIteration>(py) {
            "StopAsyncIteration"
        } else {
            return raised;
        };
        let error = PyRuntimeError::new_err(format!("a stream's iterator raised {stop}"));
        error.set_cause(py, Some(raised));
        error
    }

    /// `Sent` as what a Python-level `__next__`/`send` gives: a value to hand to the task,
    /// or the exception that completes (or ends) the `await`.
    fn as_next(sent: Sent) -> PyResult<Py<PyAny>> {
        match sent {
            Sent::Yield(handed) => Ok(handed),
            Sent::Return(value) => Err(PyStopIteration::new_err((value,))),
            Sent::End => Err(PyStopAsyncIteration::new_err(())),
        }
    }
}

/// What `aclose()` returns: a coroutine that closes the iterator when awaited (as an
/// async generator's does), done at once with `None`.
#[pyclass(frozen, module = "fastrouter._fastrouter")]
pub struct ChunksAclose {
    next: Py<NextChunk>,
}

impl ChunksAclose {
    fn close_iterator(&self, py: Python<'_>) -> PyResult<()> {
        let mut next = self.next.bind(py).try_borrow_mut().map_err(|_| {
            PyRuntimeError::new_err("this stream's iterator is already being awaited")
        })?;
        next.close();
        Ok(())
    }
}

#[pymethods]
impl ChunksAclose {
    fn __await__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    /// Close the iterator: the `await` gives `None`.
    fn __next__(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        self.close_iterator(py)?;
        Ok(None)
    }

    fn send(&self, py: Python<'_>, value: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        let _ = value;
        self.close_iterator(py)?;
        Err(PyStopIteration::new_err(()))
    }

    /// Raised as thrown: nothing was started.
    #[pyo3(signature = (typ, val=None, tb=None))]
    fn throw(
        &self,
        typ: &Bound<'_, PyAny>,
        val: Option<&Bound<'_, PyAny>>,
        tb: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        Err(thrown(typ, val, tb)?)
    }

    fn close(&self) {}

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.next)
    }
}

/// The exception `throw(typ, val, tb)` raises, as a generator's `throw` builds it.
fn thrown<'py>(
    typ: &Bound<'py, PyAny>,
    val: Option<&Bound<'py, PyAny>>,
    tb: Option<&Bound<'py, PyAny>>,
) -> PyResult<PyErr> {
    let Ok(class) = typ.cast::<PyType>() else {
        return Ok(PyErr::from_value(typ.clone()));
    };
    let value = match val {
        Some(value) if value.is_instance(class)? => value.clone(),
        Some(value) if value.is_none() => class.call0()?,
        Some(value) => match value.cast::<PyTuple>() {
            Ok(args) => class.call1(args.clone())?,
            Err(_) => class.call1((value,))?,
        },
        None => class.call0()?,
    };
    let value = match tb {
        Some(tb) if !tb.is_none() => value.call_method1("with_traceback", (tb,))?,
        _ => value,
    };
    Ok(PyErr::from_value(value))
}

#[pymethods]
impl AsyncChunks {
    /// The chunks of `stream` (an `AsyncStream`).
    #[new]
    fn new(stream: &Bound<'_, PyAny>) -> PyResult<Self> {
        let next = NextChunk {
            source: Some(ChunkSource::of(stream)?),
            held: Held::None,
            ready_in_a_row: 0,
            state: State::Ready,
        };
        Ok(Self {
            next: Py::new(stream.py(), next)?,
        })
    }

    fn __aiter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    /// The awaitable of the next chunk (the same object each time; once iteration is
    /// over, awaiting it raises `StopAsyncIteration`).
    fn __anext__(&self, py: Python<'_>) -> Py<NextChunk> {
        self.next_chunk(py)
    }

    /// Stop, as an awaitable (async generators have it); the stream stays open.
    fn aclose(&self, py: Python<'_>) -> ChunksAclose {
        ChunksAclose {
            next: self.next_chunk(py),
        }
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.next)
    }
}

#[pymethods]
impl NextChunk {
    fn __await__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    /// Complete the `await` with the next chunk (`StopIteration(chunk)`), or suspend the
    /// awaiting task on a wait (or for one turn of the loop). An `await` calls the type's
    /// slots instead (see [`super::slots`]); this is for code that drives it by hand.
    fn __next__(slf: &Bound<'_, Self>) -> PyResult<Py<PyAny>> {
        Self::as_next(Self::step_caught(slf)?)
    }

    /// `__next__` for drivers that send: `value` is ignored, as an `await`'s resumption
    /// always sends `None`.
    fn send(slf: &Bound<'_, Self>, value: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        let _ = value;
        Self::as_next(Self::step_caught(slf)?)
    }

    /// An exception thrown in at the `await` (the task cancelled, a Ctrl-C): the stream
    /// records it and it propagates.
    #[pyo3(signature = (typ, val=None, tb=None))]
    fn throw(
        mut slf: PyRefMut<'_, Self>,
        typ: &Bound<'_, PyAny>,
        val: Option<&Bound<'_, PyAny>>,
        tb: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let py = slf.py();
        let error = thrown(typ, val, tb)?;
        if error.is_instance_of::<PyGeneratorExit>(py) {
            // The awaiting coroutine is being closed: as `close()`, the stream stays open.
            slf.close();
            return Err(error);
        }
        if matches!(slf.state, State::Finished) {
            return Err(error);
        }
        Err(slf.fail(py, error))
    }

    /// The loop was left while awaiting (the awaiting coroutine closed): stop, leaving the
    /// stream open until its `close()` or drop, as leaving an `async for` early does.
    fn close(&mut self) {
        self.state = State::Finished;
        self.held = Held::None;
        self.source = None;
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        if let Some(source) = &self.source {
            source.traverse(&visit)?;
        }
        if let Held::Objects(objects) = &self.held {
            for object in objects.as_slice() {
                visit.call(object)?;
            }
        }
        if let State::Waiting(future) = &self.state {
            visit.call(future)?;
        }
        Ok(())
    }

    fn __clear__(&mut self) {
        self.source = None;
        self.held = Held::None;
        self.state = State::Finished;
    }
}
