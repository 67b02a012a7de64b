//! `AsyncChunks`: an `AsyncStream`'s chunks as a native async iterator. Each `__anext__`
//! is the iterator itself, an awaitable that completes at once with the next chunk of the
//! batch it holds; only when the batch is spent does it take the next ready batch, or wait
//! for one (a [`NativeFuture`] the awaiting task sleeps on). The stream's own bookkeeping
//! (the response cache's record, how it ended) stays in Python: the iterator calls the
//! stream's `_keep`, `_ended_with` and `_stopped`, as the async generator it replaces did.

use std::sync::Arc;

use pyo3::exceptions::{PyStopAsyncIteration, PyStopIteration};
use pyo3::gc::PyVisit;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyList, PyTuple, PyType};
use pyo3::{PyTraverseError, PyTypeInfo};

use super::bridge::CompletionQueue;
use super::chunk::{chunk_list, StreamChunk};
use super::future::NativeFuture;
use super::stream::NativeStream;
use crate::stream::chunk::Chunk;

/// Batches taken without waiting before the iterator gives the event loop a turn: a
/// stream that is never empty still lets other tasks run now and then.
const READY_BATCHES_BEFORE_YIELD: u32 = 16;

/// The chunks of the batch being handed out.
enum Held {
    None,
    /// A ready batch, each chunk's objects built as it is handed out.
    Chunks(std::vec::IntoIter<Arc<Chunk>>),
    /// A batch already built (a wait's result, or one the response cache recorded).
    Objects(Py<PyList>, usize),
}

enum State {
    /// Handing out chunks (or about to take the next batch).
    Ready,
    /// The awaiting task sleeps on this wait for the next batch.
    Waiting(Py<NativeFuture>),
    /// `aclose()` was called: its `await` completes with `None`, then `Finished`.
    Closing,
    /// Ended, failed or closed: awaiting `__anext__` raises `StopAsyncIteration`.
    Finished,
}

/// What one step of the awaitable does.
enum Step {
    /// Complete the `await` with this chunk.
    Chunk(Py<PyAny>),
    /// Hand this to the awaiting task: `None` (a turn of the loop) or the wait's future.
    Suspend(Py<PyAny>),
    /// The stream's normal end: `StopAsyncIteration`.
    End,
    /// `await aclose()`: complete with `None`.
    Closed,
}

/// An `AsyncStream`'s async iterator (see the module docs).
#[pyclass(module = "fastrouter._fastrouter")]
pub struct AsyncChunks {
    /// The Python `AsyncStream`: its `_record`, `_keep`, `_ended_with` and `_stopped`.
    stream: Py<PyAny>,
    native: Py<NativeStream>,
    /// `asyncio.get_running_loop` and `fastrouter._bridge.queue_of`.
    get_running_loop: Py<PyAny>,
    queue_of: Py<PyAny>,
    /// The loop of the last wait and its completion queue (looked up again only when the
    /// stream is read from another loop).
    waited_on: Option<(Py<PyAny>, Py<CompletionQueue>)>,
    /// The response cache's record (the stream's `_record`, set when it opened), if any.
    record: Option<Py<PyAny>>,
    held: Held,
    ready_in_a_row: u32,
    state: State,
    /// The `StopIteration` that completes each `await` with its chunk, made once and given
    /// each chunk as its `value`: PyO3 builds a new exception object for every error it
    /// raises on Python < 3.12 (~100 ns), which a chunk handed out at once cannot afford.
    stop: Py<PyAny>,
}

impl AsyncChunks {
    /// The next chunk of the held batch, if any.
    fn next_held(&mut self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        let next = match &mut self.held {
            Held::None => return Ok(None),
            Held::Chunks(chunks) => match chunks.next() {
                Some(chunk) => Some(StreamChunk::new_object(py, chunk)?),
                None => None,
            },
            Held::Objects(list, index) => {
                let list = list.bind(py);
                let next = (*index < list.len())
                    .then(|| list.get_item(*index))
                    .transpose()?;
                *index += 1;
                next.map(Bound::unbind)
            }
        };
        if next.is_none() {
            self.held = Held::None;
        }
        Ok(next)
    }

    /// Hold a ready batch; while the response cache records, its chunks are built now and
    /// kept by the stream (batch by batch, as they arrive).
    fn hold_ready(&mut self, py: Python<'_>, batch: Vec<Arc<Chunk>>) -> PyResult<()> {
        let Some(record) = &self.record else {
            self.held = Held::Chunks(batch.into_iter());
            return Ok(());
        };
        let list = chunk_list(py, batch)?;
        self.keep(py, record, &list)?;
        self.held = Held::Objects(list.unbind(), 0);
        Ok(())
    }

    /// Hold a batch a wait returned (built at the wait's end).
    fn hold_built(&mut self, py: Python<'_>, batch: Bound<'_, PyList>) -> PyResult<()> {
        if let Some(record) = &self.record {
            self.keep(py, record, &batch)?;
        }
        self.held = Held::Objects(batch.unbind(), 0);
        Ok(())
    }

    fn keep(&self, py: Python<'_>, record: &Py<PyAny>, batch: &Bound<'_, PyList>) -> PyResult<()> {
        self.stream
            .call_method1(py, intern!(py, "_keep"), (record, batch))?;
        Ok(())
    }

    /// The `StopIteration` that completes an `await` with `chunk`.
    fn completing(&self, py: Python<'_>, chunk: Py<PyAny>) -> PyErr {
        let stop = self.stop.bind(py);
        match stop.setattr(intern!(py, "value"), chunk) {
            Ok(()) => PyErr::from_value(stop.clone()),
            Err(failed) => failed,
        }
    }

    /// Start waiting for the next batch on the running loop.
    fn wait(&mut self, py: Python<'_>) -> PyResult<Py<NativeFuture>> {
        let running = self.get_running_loop.call0(py)?;
        let queue = match &self.waited_on {
            Some((event_loop, queue)) if event_loop.is(&running) => queue.clone_ref(py),
            _ => {
                let queue: Py<CompletionQueue> =
                    self.queue_of.call1(py, (&running,))?.extract(py)?;
                self.waited_on = Some((running.clone_ref(py), queue.clone_ref(py)));
                queue
            }
        };
        let future = self.native.get().next_batch_future(py, queue.get(), running)?;
        future.borrow_mut(py).blocking = true;
        Ok(future)
    }

    /// One step of the awaitable: resume a wait or a turn, then hand out a chunk, take the
    /// next ready batch or start a wait.
    fn step(&mut self, py: Python<'_>) -> PyResult<Step> {
        match std::mem::replace(&mut self.state, State::Ready) {
            State::Finished => {
                self.state = State::Finished;
                return Ok(Step::End);
            }
            State::Closing => {
                self.state = State::Finished;
                return Ok(Step::Closed);
            }
            State::Waiting(future) => {
                let outcome = {
                    let mut waited = future.borrow_mut(py);
                    if waited.is_pending() {
                        // Resumed before the wait ended: keep the task waiting.
                        waited.blocking = true;
                        drop(waited);
                        self.state = State::Waiting(future.clone_ref(py));
                        return Ok(Step::Suspend(future.into_any()));
                    }
                    waited.outcome(py)?
                };
                match outcome.cast_bound::<PyList>(py) {
                    Ok(batch) => self.hold_built(py, batch.clone())?,
                    // `None`: the normal end.
                    Err(_) => {
                        self.state = State::Finished;
                        self.stream
                            .call_method1(py, intern!(py, "_ended_with"), ("ok",))?;
                        return Ok(Step::End);
                    }
                }
            }
            State::Ready => {}
        }
        loop {
            if let Some(chunk) = self.next_held(py)? {
                return Ok(Step::Chunk(chunk));
            }
            // Chunks already waiting are taken at once; only an empty stream waits (one
            // task and one wake-up of the loop per wait, not per batch).
            if let Some(batch) = self.native.get().ready_batch() {
                self.hold_ready(py, batch)?;
                self.ready_in_a_row += 1;
                if self.ready_in_a_row == READY_BATCHES_BEFORE_YIELD {
                    self.ready_in_a_row = 0;
                    return Ok(Step::Suspend(py.None()));
                }
                continue;
            }
            self.ready_in_a_row = 0;
            let future = self.wait(py)?;
            self.state = State::Waiting(future.clone_ref(py));
            return Ok(Step::Suspend(future.into_any()));
        }
    }

    /// Iteration ends with `error`: the stream records how (`_stopped`), then the error
    /// propagates (or whatever `_stopped` raised instead).
    fn fail(&mut self, py: Python<'_>, error: PyErr) -> PyErr {
        self.stop_waiting(py);
        self.state = State::Finished;
        self.held = Held::None;
        match self
            .stream
            .call_method1(py, intern!(py, "_stopped"), (error.value(py),))
        {
            Ok(_) => error,
            Err(raised) => raised,
        }
    }

    /// Abort a wait still running (no one will take its batch), without waking anyone.
    fn stop_waiting(&mut self, py: Python<'_>) {
        if let State::Waiting(future) = &self.state {
            future.borrow_mut(py).abort_task();
        }
    }
}

/// The exception `throw(typ, val, tb)` raises, as a generator's `throw` builds it.
fn thrown(
    py: Python<'_>,
    typ: &Bound<'_, PyAny>,
    val: Option<&Bound<'_, PyAny>>,
) -> PyResult<PyErr> {
    if let Ok(class) = typ.cast::<PyType>() {
        let value = match val {
            Some(value) if value.is_instance(class)? => value.clone(),
            Some(value) if value.is_none() => class.call0()?,
            Some(value) => match value.cast::<PyTuple>() {
                Ok(args) => class.call1(args.clone())?,
                Err(_) => class.call1((value,))?,
            },
            None => class.call0()?,
        };
        return Ok(PyErr::from_value(value));
    }
    let _ = py;
    Ok(PyErr::from_value(typ.clone()))
}

#[pymethods]
impl AsyncChunks {
    /// The chunks of `stream` (an `AsyncStream`), waiting on the loop that
    /// `get_running_loop()` returns, through `queue_of(loop)`.
    #[new]
    fn new(
        stream: &Bound<'_, PyAny>,
        get_running_loop: Py<PyAny>,
        queue_of: Py<PyAny>,
    ) -> PyResult<Self> {
        let native = stream
            .getattr(intern!(stream.py(), "_native"))?
            .cast_into::<NativeStream>()?
            .unbind();
        let record = stream.getattr(intern!(stream.py(), "_record"))?;
        Ok(Self {
            record: (!record.is_none()).then(|| record.unbind()),
            stream: stream.clone().unbind(),
            native,
            get_running_loop,
            queue_of,
            waited_on: None,
            held: Held::None,
            ready_in_a_row: 0,
            state: State::Ready,
            stop: PyStopIteration::type_object(stream.py()).call0()?.unbind(),
        })
    }

    fn __aiter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    /// The awaitable of the next chunk: the iterator itself (once iteration is over,
    /// awaiting it raises `StopAsyncIteration`).
    fn __anext__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    fn __await__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    /// Complete the `await` with the next chunk (`StopIteration(chunk)`), or suspend the
    /// awaiting task on a wait (or for one turn of the loop).
    fn __next__(mut slf: PyRefMut<'_, Self>) -> PyResult<Option<Py<PyAny>>> {
        let py = slf.py();
        match slf.step(py) {
            Ok(Step::Chunk(chunk)) => Err(slf.completing(py, chunk)),
            Ok(Step::Suspend(handed)) => Ok(Some(handed)),
            Ok(Step::End) => Err(PyStopAsyncIteration::new_err(())),
            Ok(Step::Closed) => Ok(None),
            Err(error) => Err(slf.fail(py, error)),
        }
    }

    /// `__next__` for drivers that send (a traced `await` calls it): `value` is ignored,
    /// as an `await`'s resumption always sends `None`.
    fn send(mut slf: PyRefMut<'_, Self>, value: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        let _ = value;
        let py = slf.py();
        match slf.step(py) {
            Ok(Step::Chunk(chunk)) => Err(slf.completing(py, chunk)),
            Ok(Step::Suspend(handed)) => Ok(handed),
            Ok(Step::End) => Err(PyStopAsyncIteration::new_err(())),
            Ok(Step::Closed) => Err(PyStopIteration::new_err(())),
            Err(error) => Err(slf.fail(py, error)),
        }
    }

    /// An exception thrown in at the `await` (the task cancelled, the wait's failure):
    /// the stream records it and it propagates.
    #[pyo3(signature = (typ, val=None, tb=None))]
    fn throw(
        mut slf: PyRefMut<'_, Self>,
        typ: &Bound<'_, PyAny>,
        val: Option<&Bound<'_, PyAny>>,
        tb: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let py = slf.py();
        let _ = tb;
        let error = thrown(py, typ, val)?;
        if matches!(slf.state, State::Finished | State::Closing) {
            return Err(error);
        }
        Err(slf.fail(py, error))
    }

    /// The loop was left while awaiting (the awaiting coroutine closed): stop, leaving the
    /// stream open until its `close()` or drop, as leaving an `async for` early does.
    fn close(&mut self, py: Python<'_>) {
        self.stop_waiting(py);
        self.state = State::Finished;
        self.held = Held::None;
    }

    /// `close()`, as an awaitable (async generators have it; the stream stays open).
    fn aclose(mut slf: PyRefMut<'_, Self>) -> PyRefMut<'_, Self> {
        let py = slf.py();
        slf.close(py);
        slf.state = State::Closing;
        slf
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.stream)?;
        visit.call(&self.native)?;
        visit.call(&self.get_running_loop)?;
        visit.call(&self.queue_of)?;
        visit.call(&self.stop)?;
        if let Some(record) = &self.record {
            visit.call(record)?;
        }
        if let Some((event_loop, queue)) = &self.waited_on {
            visit.call(event_loop)?;
            visit.call(queue)?;
        }
        if let Held::Objects(list, _) = &self.held {
            visit.call(list)?;
        }
        if let State::Waiting(future) = &self.state {
            visit.call(future)?;
        }
        Ok(())
    }

    fn __clear__(&mut self) {
        self.waited_on = None;
        self.held = Held::None;
        self.state = State::Finished;
    }
}
