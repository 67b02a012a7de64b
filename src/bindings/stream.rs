//! `NativeStream`: the consumer side of a streamed chat completion. Each `next_batch`
//! returns *every* chunk already parsed, so one wake-up of Python carries many chunks.
//! `SyncChunks`: a sync `Stream`'s iterator over them.

use std::future::Future;
use std::sync::{Arc, Mutex, Weak};
use std::task::{Wake, Waker};

use pyo3::gc::PyVisit;
use pyo3::prelude::*;
use pyo3::types::{PyList, PyTuple};
use pyo3::PyTraverseError;
use tokio::task::AbortHandle;

use super::bridge::CompletionQueue;
use super::bridge::{Completer, Report};
use super::chunk::chunk_list;
use super::errors::{chain_error_to_py, error_to_py};
use super::future::NativeFuture;
use super::records::{attempt_list, EntryValues};
use super::runtime::{block_on_when_idle, fork_generation, spawn_awaitable, spawn_detached};
use crate::answer_facts::usual_facts;
use crate::error::{Error, ErrorKind};
use crate::failover::{answer_cost, Attempt, Backoff, ChainError, ChatRequest};
use crate::stream::channel::{channel, Receiver, TryRecvError};
use crate::stream::chunk::Chunk;
use crate::stream::reader::{run_stream, StreamMsg, StreamShared, CHANNEL_BATCHES};
use crate::transport::Transport;

/// How a stream ended, once it did.
#[derive(Default)]
enum Ending {
    #[default]
    Running,
    Ended(Vec<Attempt>),
    Failed(Box<ChainError>),
    Closed,
}

struct Consumer {
    receiver: Receiver<StreamMsg>,
    ending: Ending,
    /// The first batch, read while opening the stream.
    first: Option<Batch>,
    /// The async wait registered with the channel, until it is woken (the channel's
    /// waker holds it): another wait joins it rather than taking its place.
    waiter: Weak<LoopWaiter>,
}

type Batch = Vec<Arc<Chunk>>;

/// What a look at the stream found: every chunk ready (at least one, or none after a
/// spurious wake-up), `None` at the normal end, or the failure.
type Outcome = Result<Option<Batch>, ChainErrorOrClosed>;

impl Consumer {
    /// What is ready now; `None` when nothing is (then wait).
    fn ready(&mut self) -> Option<Outcome> {
        if let Some(batch) = self.try_batch() {
            return Some(Ok(Some(batch)));
        }
        match std::mem::take(&mut self.ending) {
            Ending::Running => match self.receiver.try_recv() {
                Ok(message) => Some(self.received(Some(message))),
                Err(TryRecvError::Disconnected) => Some(self.received(None)),
                Err(TryRecvError::Empty) => None,
            },
            Ending::Ended(attempts) => {
                self.ending = Ending::Ended(attempts);
                Some(Ok(None))
            }
            Ending::Failed(error) => {
                self.ending = Ending::Closed;
                Some(Err(ChainErrorOrClosed::Chain(*error)))
            }
            Ending::Closed => Some(Err(ChainErrorOrClosed::Closed)),
        }
    }

    /// Whether anything is ready now (the first batch, a message, the end or a failure);
    /// if not, `waker` is woken when something is.
    fn ready_or_register(&mut self, waker: &Waker) -> bool {
        self.first.is_some()
            || !matches!(self.ending, Ending::Running)
            || self.receiver.ready_or_register(waker)
    }

    /// Wait for the next batch and append every batch already waiting behind it.
    async fn next_batch(&mut self) -> Outcome {
        if let Some(outcome) = self.ready() {
            return outcome;
        }
        let message = self.receiver.recv().await;
        self.received(message)
    }

    fn received(&mut self, message: Option<StreamMsg>) -> Outcome {
        match message {
            Some(StreamMsg::Batch(mut batch)) => {
                self.drain_ready(&mut batch);
                Ok(Some(batch))
            }
            Some(StreamMsg::One(chunk)) => {
                let mut batch = vec![chunk];
                self.drain_ready(&mut batch);
                Ok(Some(batch))
            }
            Some(StreamMsg::End(attempts)) => {
                self.ending = Ending::Ended(attempts);
                Ok(None)
            }
            Some(StreamMsg::Failed(error)) => {
                self.ending = Ending::Closed;
                Err(ChainErrorOrClosed::Chain(*error))
            }
            None => Err(ChainErrorOrClosed::Closed),
        }
    }

    /// Every chunk ready now, without waiting: `None` when nothing is ready or the
    /// stream's ending is next (the waiting path reports it).
    fn try_batch(&mut self) -> Option<Batch> {
        let mut batch = self.first.take().unwrap_or_default();
        if matches!(self.ending, Ending::Running) {
            self.drain_ready(&mut batch);
        }
        (!batch.is_empty()).then_some(batch)
    }

    fn drain_ready(&mut self, batch: &mut Batch) {
        loop {
            match self.receiver.try_recv() {
                Ok(StreamMsg::Batch(more)) => batch.extend(more),
                Ok(StreamMsg::One(chunk)) => batch.push(chunk),
                Ok(StreamMsg::End(attempts)) => {
                    self.ending = Ending::Ended(attempts);
                    return;
                }
                Ok(StreamMsg::Failed(error)) => {
                    self.ending = Ending::Failed(error);
                    return;
                }
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => return,
            }
        }
    }
}

enum ChainErrorOrClosed {
    Chain(ChainError),
    Closed,
    /// Opened before `fork()`: the reader is the parent's (see [`forked_error`]).
    Forked,
}

/// A stream failure on its way to Python; converted under the GIL on the loop thread.
pub enum StreamFailure {
    /// `partial` is the completion received before the failure (JSON text).
    Chain(ChainError, Option<String>),
    Closed,
    Forked,
}

impl StreamFailure {
    pub fn into_py(self) -> PyErr {
        match self {
            Self::Chain(error, partial) => chain_error_to_py(error, partial),
            Self::Closed => closed_error(),
            Self::Forked => forked_error(),
        }
    }
}

#[pyclass(frozen, module = "fastrouter._fastrouter")]
pub struct NativeStream {
    consumer: Arc<tokio::sync::Mutex<Consumer>>,
    shared: Arc<StreamShared>,
    task: AbortHandle,
    attempts: Arc<Mutex<Option<Vec<Attempt>>>>,
    /// The fork generation the stream was opened in (see `Drop`).
    generation: u64,
}

impl Drop for NativeStream {
    fn drop(&mut self) {
        if !self.abort_reader() {
            // A forked child: closing the reader's channel would wake it too (see
            // `abort_reader`): leak the channel instead.
            std::mem::forget(Arc::clone(&self.consumer));
        }
    }
}

/// Aborts the reader task when dropped, unless disarmed: cancelling (or Ctrl-C'ing) a
/// stream that is still opening drops the `open_stream` future, and with it the request;
/// no retry or failover carries on in the background.
struct AbortOnDrop {
    task: AbortHandle,
    armed: bool,
}

impl AbortOnDrop {
    /// The stream is open: its `NativeStream` owns the task from now on.
    fn disarm(mut self) -> AbortHandle {
        self.armed = false;
        self.task.clone()
    }
}

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if self.armed {
            self.task.abort();
        }
    }
}

/// Start the reader task, then wait until the stream is committed (first content, a clean
/// end, or a failure of the whole chain, raised here like a non-streaming error).
///
/// The task is spawned here, not in the returned future: an `async fn` would keep the
/// reader's inputs in its own state (~3.8 KB) until the stream opened, on top of the
/// reader task's copy (memory per opening stream, issue 11).
pub fn open_stream(
    transport: Transport,
    request: ChatRequest,
    backoff: Backoff,
) -> impl Future<Output = Result<NativeStream, StreamFailure>> + Send + 'static {
    let shared = Arc::new(StreamShared::default());
    let (sender, receiver) = channel(CHANNEL_BATCHES);
    let task = AbortOnDrop {
        task: spawn_detached(run_stream(
            transport,
            request,
            backoff,
            shared.clone(),
            sender,
        )),
        armed: true,
    };
    committed(shared, task, receiver)
}

/// Wait for the reader task's first message: the stream is open, or it failed.
async fn committed(
    shared: Arc<StreamShared>,
    task: AbortOnDrop,
    receiver: Receiver<StreamMsg>,
) -> Result<NativeStream, StreamFailure> {
    let mut consumer = Consumer {
        receiver,
        ending: Ending::Running,
        first: None,
        waiter: Weak::new(),
    };
    let mut attempts = None;
    match consumer.receiver.recv().await {
        Some(StreamMsg::Batch(batch)) => consumer.first = Some(batch),
        Some(StreamMsg::One(chunk)) => consumer.first = Some(vec![chunk]),
        Some(StreamMsg::End(done)) => {
            attempts = Some(done.clone());
            consumer.ending = Ending::Ended(done);
        }
        Some(StreamMsg::Failed(error)) => return Err(StreamFailure::Chain(*error, None)),
        None => return Err(StreamFailure::Closed),
    }
    Ok(NativeStream {
        consumer: Arc::new(tokio::sync::Mutex::new(consumer)),
        shared,
        task: task.disarm(),
        attempts: Arc::new(Mutex::new(attempts)),
        generation: fork_generation(),
    })
}

fn closed_error() -> PyErr {
    error_to_py(&Error::new(ErrorKind::Connection, "the stream is closed"))
}

/// Reading, in a forked child, a stream opened before `fork()`: its reader task and
/// connection stayed with the parent, so nothing more will arrive here.
fn forked_error() -> PyErr {
    error_to_py(&Error::new(
        ErrorKind::Connection,
        "the stream was opened before fork(): its connection stayed with the parent \
         process; read it there, or open a new stream in this one",
    ))
}

/// The parts of a stream an outcome is settled against (cloned into tasks and waiters).
#[derive(Clone)]
struct Settle {
    attempts: Arc<Mutex<Option<Vec<Attempt>>>>,
    shared: Arc<StreamShared>,
}

impl Settle {
    /// What `consumer` has now: every chunk ready (none: look again), the end, or the
    /// failure.
    fn ready_outcome(&self, consumer: &mut Consumer) -> Result<Option<Batch>, StreamFailure> {
        match consumer.ready() {
            Some(outcome) => self.outcome(consumer, outcome),
            None => Ok(Some(Vec::new())),
        }
    }

    /// Record the attempts once the stream ended; a failure carries the partial completion.
    fn outcome(
        &self,
        consumer: &Consumer,
        outcome: Outcome,
    ) -> Result<Option<Batch>, StreamFailure> {
        let set = |done: &[Attempt]| {
            *self.attempts.lock().unwrap_or_else(|p| p.into_inner()) = Some(done.to_vec());
        };
        if let Ending::Ended(done) = &consumer.ending {
            set(done);
        }
        match outcome {
            Ok(batch) => Ok(batch),
            Err(ChainErrorOrClosed::Closed) => Err(StreamFailure::Closed),
            Err(ChainErrorOrClosed::Forked) => Err(StreamFailure::Forked),
            Err(ChainErrorOrClosed::Chain(error)) => {
                let partial = self.shared.accumulator().to_json();
                set(&error.attempts);
                Err(StreamFailure::Chain(error, Some(partial)))
            }
        }
    }
}

impl NativeStream {
    /// Abort the reader task, unless this is a forked child (then `false`): there the
    /// task is the parent's, which no thread runs, and scheduling it would take locks of
    /// the parent's runtime that a thread missing here may hold.
    fn abort_reader(&self) -> bool {
        let same_process = self.generation == fork_generation();
        if same_process {
            self.task.abort();
        }
        same_process
    }

    fn settle(&self) -> Settle {
        Settle {
            attempts: self.attempts.clone(),
            shared: self.shared.clone(),
        }
    }

    fn batch_future(
        &self,
    ) -> impl std::future::Future<Output = Result<Option<Batch>, StreamFailure>> + Send + 'static
    {
        let consumer = self.consumer.clone();
        let settle = self.settle();
        let forked = self.generation != fork_generation();
        async move {
            if forked {
                // The parent's reader feeds this stream no more: what had arrived before
                // the fork is read, then it fails at once instead of waiting forever.
                let Ok(mut consumer) = consumer.try_lock() else {
                    return Err(StreamFailure::Forked);
                };
                let outcome = consumer.ready().unwrap_or(Err(ChainErrorOrClosed::Forked));
                return settle.outcome(&consumer, outcome);
            }
            let mut consumer = consumer.lock().await;
            let outcome = consumer.next_batch().await;
            settle.outcome(&consumer, outcome)
        }
    }
}

/// An async stream's wait for its next batch, registered as the channel's receiver waker:
/// the reader's next send (or its end) finishes the awaited future through the loop's
/// completion queue. No task of the runtime waits, so neither starting a wait nor ending
/// it wakes the I/O thread (issue 11: a live stream waits for nearly every chunk). Another
/// reader of the stream waiting meanwhile joins the wait (the channel has one waker).
struct LoopWaiter {
    /// The waits' futures (the first is the one that registered), until woken.
    waits: Mutex<Option<Vec<Wait>>>,
    consumer: Arc<tokio::sync::Mutex<Consumer>>,
    settle: Settle,
}

type Wait = (Completer, Py<NativeFuture>);

impl LoopWaiter {
    /// Join this wait; the wait given back once it was woken (then register another).
    fn join(&self, wait: Wait) -> Result<(), Wait> {
        match self
            .waits
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_mut()
        {
            Some(waits) => {
                waits.push(wait);
                Ok(())
            }
            None => Err(wait),
        }
    }
}

impl Wake for LoopWaiter {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let waits = self.waits.lock().unwrap_or_else(|p| p.into_inner()).take();
        let Some(waits) = waits else {
            return;
        };
        // What arrived is taken on the reader's thread, as a waiting task took it (the
        // reader goes on without waiting for the loop to make room in the channel), once
        // the reader's turn is over: with every chunk its read brought. The first wait
        // gets it; the others look again.
        let consumer = self.consumer.clone();
        let settle = self.settle.clone();
        spawn_detached(async move {
            let mut taken = consumer
                .try_lock()
                .ok()
                .and_then(|mut consumer| consumer.try_batch());
            for (completer, future) in waits {
                let taken = taken.take();
                complete_wait(completer, future, consumer.clone(), settle.clone(), taken);
            }
        });
    }
}

/// Finish an async stream's wait with what the waiter took (see [`LoopWaiter`]).
fn complete_wait(
    completer: Completer,
    future: Py<NativeFuture>,
    consumer: Arc<tokio::sync::Mutex<Consumer>>,
    settle: Settle,
    taken: Option<Batch>,
) {
    completer.complete(Box::new(move |py| {
        if !future.borrow(py).is_pending() {
            // Cancelled (the awaiting task was): its iteration ends, closing the stream.
            return Ok(py.None());
        }
        match taken {
            Some(batch) => batch_to_py(py, Ok(Some(batch))),
            None => batch_to_py(py, ready_outcome(&consumer, &settle)),
        }
    }));
}

/// What the stream has now: every chunk ready (none after a spurious wake-up: the
/// reader looks again), the end, or the failure.
fn ready_outcome(
    consumer: &tokio::sync::Mutex<Consumer>,
    settle: &Settle,
) -> Result<Option<Batch>, StreamFailure> {
    match consumer.try_lock() {
        Ok(mut consumer) => settle.ready_outcome(&mut consumer),
        Err(_) => Ok(Some(Vec::new())),
    }
}

/// A batch (or the end, or the failure) as what `next_batch` reports.
fn batch_to_py(
    py: Python<'_>,
    result: Result<Option<Batch>, StreamFailure>,
) -> PyResult<Py<PyAny>> {
    match result {
        Ok(Some(batch)) => Ok(Py::new(py, WaitedBatch::new(batch))?.into_any()),
        Ok(None) => Ok(py.None()),
        Err(failure) => Err(failure.into_py()),
    }
}

/// The chunks a wait of an async stream got, as its future's result: handed to the
/// iterator whole, their Python objects made one at a time as it hands them out. (Made
/// all at once, a wait's batch, dozens of chunks after a pause, kept ~4 objects per chunk
/// alive together, and the cyclic GC ran over them: issue 11, S2.)
#[pyclass(frozen, module = "fastrouter._fastrouter")]
pub struct WaitedBatch {
    batch: Mutex<Batch>,
}

impl WaitedBatch {
    fn new(batch: Batch) -> Self {
        Self {
            batch: Mutex::new(batch),
        }
    }

    /// The chunks (once; none after).
    pub fn take(&self) -> Batch {
        std::mem::take(&mut *self.batch.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

impl NativeStream {
    /// Every chunk ready now, without waiting; `None` when nothing is ready, only the end
    /// is, or another reader holds the stream for a moment (a waiting sync `Stream`, or
    /// the I/O thread taking a batch for an async wait).
    pub fn ready_batch(&self) -> Option<Batch> {
        self.consumer.try_lock().ok()?.try_batch()
    }

    /// Start waiting for the next chunks: a future of `event_loop` finished with the
    /// [`WaitedBatch`] ready by then (empty after a spurious wake-up: look again), `None`
    /// at the normal end, or `StreamError` (with the partial completion) on failure. The
    /// wait is the stream's own waker (see [`LoopWaiter`]), not a task of the runtime.
    pub fn next_batch(
        &self,
        py: Python<'_>,
        queue: &CompletionQueue,
        event_loop: Py<PyAny>,
    ) -> PyResult<Py<NativeFuture>> {
        if self.generation != fork_generation() {
            // A forked child: the reader is the parent's; a task reports what had arrived
            // before the fork, then the failure.
            return spawn_awaitable(
                py,
                queue,
                Report::WhenIdle,
                event_loop,
                self.batch_future(),
                batch_to_py,
                false,
            );
        }
        let future = Py::new(py, NativeFuture::new(event_loop))?;
        let completer = queue.completer(future.clone_ref(py), Report::WhenIdle);
        let settle = self.settle();
        let Ok(mut consumer) = self.consumer.try_lock() else {
            // The reader's thread is taking a batch for another wait: look again at the
            // loop's next turn.
            complete_wait(
                completer,
                future.clone_ref(py),
                self.consumer.clone(),
                settle,
                None,
            );
            return Ok(future);
        };
        let mut wait = (completer, future.clone_ref(py));
        if let Some(registered) = consumer.waiter.upgrade() {
            match registered.join(wait) {
                Ok(()) => return Ok(future),
                Err(woken) => wait = woken,
            }
        }
        let waiter = Arc::new(LoopWaiter {
            waits: Mutex::new(Some(vec![wait])),
            consumer: self.consumer.clone(),
            settle: settle.clone(),
        });
        if consumer.ready_or_register(&Waker::from(waiter.clone())) {
            // Arrived since `try_batch` (or the end): the future is finished here, and
            // its await ends at once.
            // (A future made here has no done-callbacks yet: none to run.)
            let outcome = batch_to_py(py, settle.ready_outcome(&mut consumer));
            let _no_callbacks = future.borrow_mut(py).finish(py, outcome);
        } else {
            consumer.waiter = Arc::downgrade(&waiter);
        }
        Ok(future)
    }
}

#[pymethods]
impl NativeStream {
    /// The completion received so far (the whole one after the end), as JSON text.
    fn completion_json(&self) -> String {
        self.shared.accumulator().to_json()
    }

    /// Every attempt of the chain, once the stream ended (normally or not).
    fn attempts<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyList>>> {
        let attempts = self.attempts.lock().unwrap_or_else(|p| p.into_inner());
        attempts
            .as_deref()
            .map(|attempts| attempt_list(py, attempts))
            .transpose()
    }

    /// What the answer cost (decimal text), once the stream ended and the server said.
    fn answer_cost(&self) -> Option<String> {
        let attempts = self.attempts.lock().unwrap_or_else(|p| p.into_inner());
        attempts.as_deref().and_then(answer_cost).map(str::to_owned)
    }

    /// What the ledger records of the stream's answer, as `NativeChat.entry_facts` gives
    /// it, read from what the stream received: once it ended, answered by its one attempt,
    /// priced by the core, with its fields of their usual types; else `None` (the facade
    /// then books the whole completion).
    #[getter]
    fn entry_facts<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyTuple>>> {
        let cost = {
            let attempts = self.attempts.lock().unwrap_or_else(|p| p.into_inner());
            match attempts.as_deref() {
                Some(attempts @ [_]) => answer_cost(attempts).map(str::to_owned),
                _ => None,
            }
        };
        let Some(cost) = cost else {
            return Ok(None);
        };
        let summary = usual_facts(&self.shared.accumulator().summary_json());
        summary
            .and_then(|summary| EntryValues::new(summary, Some(&cost)))
            .map(|entry| entry.to_tuple(py))
            .transpose()
    }

    /// The answering response's headers as `name: value` lines.
    fn response_headers(&self) -> Option<String> {
        self.shared
            .response_headers
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .as_deref()
            .map(str::to_owned)
    }

    /// Keep-alive comments received so far.
    #[getter]
    fn keepalives(&self) -> u64 {
        self.shared
            .keepalives
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Cancel the request and release the connection. Idempotent.
    fn close(&self) {
        self.abort_reader();
    }
}

/// What a stream's iterator reads from, and the stream's bookkeeping it calls: the
/// response cache's record (`_keep`), the normal end (`_ended_with("ok")`) and any other
/// end (`_stopped(error)`), exactly as the generators these iterators replace did.
pub struct ChunkSource {
    /// The Python `Stream` or `AsyncStream`.
    stream: Py<PyAny>,
    pub native: Py<NativeStream>,
    /// The response cache's record (the stream's `_record`, set when it opened), if any.
    pub record: Option<Py<PyAny>>,
}

impl ChunkSource {
    /// The source of `stream`: its native stream and its record, read once.
    pub fn of(stream: &Bound<'_, PyAny>) -> PyResult<Self> {
        let py = stream.py();
        let native = stream
            .getattr(pyo3::intern!(py, "_native"))?
            .cast_into::<NativeStream>()?
            .unbind();
        let record = stream.getattr(pyo3::intern!(py, "_record"))?;
        Ok(Self {
            stream: stream.clone().unbind(),
            native,
            record: (!record.is_none()).then(|| record.unbind()),
        })
    }

    /// Keep a batch's chunks while the response cache records.
    pub fn keep(&self, py: Python<'_>, batch: &Bound<'_, PyList>) -> PyResult<()> {
        if let Some(record) = &self.record {
            self.stream
                .call_method1(py, pyo3::intern!(py, "_keep"), (record, batch))?;
        }
        Ok(())
    }

    /// The stream ended normally.
    pub fn ended(&self, py: Python<'_>) -> PyResult<()> {
        self.stream
            .call_method1(py, pyo3::intern!(py, "_ended_with"), ("ok",))?;
        Ok(())
    }

    /// Iteration ends with `error`: the stream records how (`_stopped`), then the error
    /// propagates (or whatever `_stopped` raised instead, with the error as its context).
    pub fn stopped(&self, py: Python<'_>, error: PyErr) -> PyErr {
        let raised =
            match self
                .stream
                .call_method1(py, pyo3::intern!(py, "_stopped"), (error.value(py),))
            {
                Ok(_) => return error,
                Err(raised) => raised,
            };
        // The stream's error as its context, unless it has its own (as an `except` block
        // would chain them).
        let value = raised.value(py);
        if !value.is(error.value(py)) {
            let context = pyo3::intern!(py, "__context__");
            match value.getattr(context) {
                Ok(own) if own.is_none() => {
                    if let Err(failed) = value.setattr(context, error.value(py)) {
                        return failed;
                    }
                }
                Ok(_) => {}
                Err(failed) => return failed,
            }
        }
        raised
    }

    pub fn traverse(&self, visit: &PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.stream)?;
        visit.call(&self.native)?;
        if let Some(record) = &self.record {
            visit.call(record)?;
        }
        Ok(())
    }
}

/// A sync `Stream`'s iterator: each `__next__` hands out the next chunk of the batch it
/// holds (built as it is handed out); only a spent batch takes the next ready one or
/// blocks for one (GIL released). The stream's bookkeeping stays in Python (see
/// [`ChunkSource`]).
#[pyclass(module = "fastrouter._fastrouter")]
pub struct SyncChunks {
    /// What the iterator reads from, until iteration ends (then dropped, so a spent
    /// iterator holds neither the stream nor its record, as a finished generator did).
    source: Option<ChunkSource>,
    held: std::vec::IntoIter<Py<PyAny>>,
    chunks: std::vec::IntoIter<Arc<Chunk>>,
}

impl SyncChunks {
    fn next_chunk(&mut self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        loop {
            if let Some(chunk) = self.chunks.next() {
                return super::chunk::StreamChunk::new_object(py, chunk).map(Some);
            }
            if let Some(chunk) = self.held.next() {
                return Ok(Some(chunk));
            }
            let Some(source) = &self.source else {
                return Ok(None);
            };
            let native = source.native.get();
            let batch = match native.ready_batch() {
                Some(batch) => batch,
                None => match block_on_when_idle(py, native.batch_future())?
                    .map_err(StreamFailure::into_py)?
                {
                    Some(batch) => batch,
                    None => {
                        source.ended(py)?;
                        self.source = None;
                        return Ok(None);
                    }
                },
            };
            if source.record.is_none() {
                self.chunks = batch.into_iter();
                continue;
            }
            let list = chunk_list(py, batch)?;
            source.keep(py, &list)?;
            self.held = list
                .iter()
                .map(Bound::unbind)
                .collect::<Vec<_>>()
                .into_iter();
        }
    }
}

#[pymethods]
impl SyncChunks {
    #[new]
    fn new(stream: &Bound<'_, PyAny>) -> PyResult<Self> {
        Ok(Self {
            source: Some(ChunkSource::of(stream)?),
            held: Vec::new().into_iter(),
            chunks: Vec::new().into_iter(),
        })
    }

    fn __iter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        if let Some(source) = &self.source {
            source.traverse(&visit)?;
        }
        for chunk in self.held.as_slice() {
            visit.call(chunk)?;
        }
        Ok(())
    }

    fn __clear__(&mut self) {
        self.source = None;
        self.held = Vec::new().into_iter();
    }

    fn __next__(slf: &Bound<'_, Self>) -> PyResult<Option<Py<PyAny>>> {
        let py = slf.py();
        // Another thread (or a signal handler) reading while this one waits: the error a
        // generator gives there, not PyO3's borrow error.
        let mut this = slf.try_borrow_mut().map_err(|_| {
            pyo3::exceptions::PyValueError::new_err("this stream's iterator is already being read")
        })?;
        match this.next_chunk(py) {
            Ok(next) => Ok(next),
            Err(error) => {
                // Iteration ends with the error: the stream records how, then it propagates.
                this.chunks = Vec::new().into_iter();
                this.held = Vec::new().into_iter();
                // Still borrowed while `_stopped` runs: another reader meanwhile is refused
                // (as a generator still executing), not told the stream ended.
                match this.source.take() {
                    Some(source) => Err(source.stopped(py, error)),
                    None => Err(error),
                }
            }
        }
    }
}
