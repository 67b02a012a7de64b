//! `NativeClient`: the pooled transport and model chains, as async and blocking calls.

use std::future::Future;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use bytes::Bytes;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use reqwest::header::HeaderMap;
use reqwest::Method;

use super::bridge::CompletionQueue;
use super::bridge::Report;
use super::errors::{chain_error_to_py, error_to_py};
use super::future::NativeFuture;
use super::records::{
    BodyOutput, CooldownSettings, HedgeSettings, NativeChainEvent, NativeChat, NativeHealth,
    TimeoutSettings,
};
use super::runtime::{block_on, block_on_request, fork_generation, spawn_awaitable};
use super::stream::{open_stream, NativeStream, StreamFailure};
use crate::chat::complete;
use crate::duration::from_secs_clamped;
use crate::error::{Error, ErrorKind};
use crate::events::{ChainEvent, EventSink};
use crate::failover::{chat_path, Backoff, ChainError, ChatRequest, ChatSuccess};
use crate::health::{BreakerConfig, HealthBook};
use crate::hedge::HedgeConfig;
use crate::network::NetworkOptions;
use crate::response::{error_from_response, lossy_utf8};
use crate::transport::{header_map, ApiKey, BackendConfig, Timeouts, Transport, TransportConfig};

/// A finished chat as `NativeChat`, or the chain's exception.
fn chat_result(py: Python<'_>, result: Result<ChatSuccess, ChainError>) -> PyResult<NativeChat> {
    result
        .map_err(|error| chain_error_to_py(error, None))
        .and_then(|success| NativeChat::new(py, success))
}

/// `(name, base_url, api key, headers, api_key_env)` of another backend.
type BackendTuple = (
    String,
    String,
    Option<String>,
    Vec<(String, String)>,
    Option<String>,
);

/// Calls `hook(NativeChainEvent)` on the I/O thread; a failing hook is reported as
/// unraisable, never breaks the request.
fn python_sink(hook: Py<PyAny>) -> EventSink {
    EventSink::new(move |event: ChainEvent| {
        Python::attach(|py| {
            let delivered = Py::new(py, NativeChainEvent::from(event))
                .and_then(|event| hook.call1(py, (event,)));
            if let Err(err) = delivered {
                err.write_unraisable(py, None);
            }
        })
    })
}

/// Seconds from Python: NaN, zero and negatives are a `ValueError` naming the argument;
/// values too large for a timer (up to infinity) are clamped to about 31 years.
fn seconds(value: Option<f64>, name: &str) -> PyResult<Option<Duration>> {
    match value {
        None => Ok(None),
        Some(secs) if secs > 0.0 => Ok(from_secs_clamped(secs)),
        Some(secs) => Err(PyValueError::new_err(format!(
            "{name} must be a positive number of seconds, got {secs}"
        ))),
    }
}

fn closed() -> PyErr {
    error_to_py(&Error::new(ErrorKind::Connection, "the client is closed"))
}

#[pyclass(frozen, module = "fastrouter._fastrouter")]
pub struct NativeClient {
    /// `None` once closed; requests in flight keep their own clone of the pool. The
    /// pool is tagged with the fork generation it was built in (see `transport()`).
    transport: RwLock<Option<(u64, Transport)>>,
    /// What the pool is built from, to rebuild it in a forked child.
    config: TransportConfig,
    backoff: Backoff,
    health: Arc<HealthBook>,
    events: Option<EventSink>,
    hedge: Option<HedgeConfig>,
}

/// A client dropped in a forked child leaks the parent's pool, as `close()` does: its
/// connections are the parent's too, and closing them through tokio would deregister them
/// from the epoll instance parent and child share (the parent's next request on one would
/// never hear its answer).
impl Drop for NativeClient {
    fn drop(&mut self) {
        let slot = self.transport.get_mut().unwrap_or_else(|p| p.into_inner());
        if let Some((built_in, transport)) = slot.take() {
            if built_in != fork_generation() {
                std::mem::forget(transport);
            }
        }
    }
}

impl NativeClient {
    /// The pool, rebuilt first if this process was forked since it was built: its
    /// connections are driven by tasks of the parent's runtime, which the child lacks.
    fn transport(&self) -> PyResult<Transport> {
        let generation = fork_generation();
        {
            let guard = self.transport.read().unwrap_or_else(|p| p.into_inner());
            match &*guard {
                None => return Err(closed()),
                Some((built_in, transport)) if *built_in == generation => {
                    return Ok(transport.clone())
                }
                Some(_) => {}
            }
        }
        let mut guard = self.transport.write().unwrap_or_else(|p| p.into_inner());
        match &*guard {
            None => Err(closed()),
            Some((built_in, transport)) if *built_in == generation => Ok(transport.clone()),
            Some(_) => {
                let fresh = Transport::new(self.config.clone()).map_err(|e| error_to_py(&e))?;
                // Leak the parent's pool: dropping it could touch its dead runtime.
                std::mem::forget(guard.replace((generation, fresh.clone())));
                Ok(fresh)
            }
        }
    }

    /// The GET of `path` with extra `headers`, ready to run.
    fn get_task(
        &self,
        path: String,
        headers: Vec<(String, String)>,
    ) -> PyResult<impl std::future::Future<Output = Result<Fetched, Error>> + Send + 'static> {
        let transport = self.transport()?;
        let headers = header_map(&headers).map_err(|e| error_to_py(&e))?;
        Ok(get_body(transport, path, headers))
    }

    /// Whether a call's task may first run on the caller's thread (see `eager`): only
    /// where that writes the request (plain http), and never with an `on_event` hook, which
    /// is promised the I/O thread (a hook that waits on the caller's event loop would
    /// stall it).
    fn may_run_eagerly(&self, parts: &(Transport, ChatRequest, Backoff)) -> bool {
        parts.1.events.is_none() && parts.0.writes_in_request(&parts.1.models)
    }

    /// Spawn one chat call: a future of `event_loop` finished with a `NativeChat`, or the
    /// chain's exception.
    fn spawn_chat(
        &self,
        py: Python<'_>,
        queue: &CompletionQueue,
        event_loop: Py<PyAny>,
        call: ChatCall,
    ) -> PyResult<Py<NativeFuture>> {
        let parts = Box::new(self.prepare(call)?);
        let eager = self.may_run_eagerly(&parts);
        let task = chat_task(parts);
        let convert =
            |py: Python<'_>, result| Ok(Py::new(py, chat_result(py, result)?)?.into_any());
        // A lone call is sent from here, sparing the I/O thread's wake-up on its way out
        // (S3). With others on their way, the I/O thread is busy with their answers: a
        // request sent here would have each answer wake it and preempt this thread (S1:
        // three times the context switches), so it sends them, in its passes.
        let eager = eager && queue.no_answers_due();
        spawn_awaitable(py, queue, Report::Answer, event_loop, task, convert, eager)
    }

    /// The pool and the request for one chat call: per-request timeouts (all but
    /// `connect`, which belongs to the pool) and a route's hedge delay (`hedge_after`)
    /// replace the client's.
    fn prepare(&self, call: ChatCall) -> PyResult<(Transport, ChatRequest, Backoff)> {
        let ChatCall(body, models, headers, max_retries, timeouts, hedge_after, query) = call;
        if models.is_empty() {
            return Err(PyValueError::new_err("model must name at least one model"));
        }
        let mut transport = self.transport()?;
        let mut merged = transport.timeouts();
        if let Some(overrides) = timeouts {
            merged.attempt = seconds(overrides.attempt, "timeout")?;
            merged.read = seconds(overrides.read, "read timeout")?;
            merged.first_token = seconds(overrides.first_token, "first_token timeout")?;
            merged.idle = seconds(overrides.idle, "idle timeout")?;
            merged.total = seconds(overrides.total, "total timeout")?;
            // The read timeout is the transport's (each read of this call asks it).
            transport = transport.with_read_timeout(merged.read);
        }
        let hedge = match seconds(hedge_after, "hedge delay")? {
            Some(after) => Some(HedgeConfig {
                after,
                adaptive: self.hedge.is_some_and(|h| h.adaptive),
            }),
            None => self.hedge,
        };
        let request = ChatRequest {
            models,
            body: Bytes::copy_from_slice(body.as_bytes()),
            headers: header_map(&headers).map_err(|e| error_to_py(&e))?,
            max_retries,
            timeouts: merged,
            health: self.health.clone(),
            events: self.events.clone(),
            hedge,
            path: chat_path(query.as_deref()),
        };
        Ok((transport, request, self.backoff))
    }
}

/// One chat call's arguments, as the facade passes them (`*args` of `chat`,
/// `chat_blocking`, `chat_stream` and `chat_stream_blocking`): the JSON body without
/// `model`, the model chain, extra headers, retries per model, per-request timeout
/// overrides, a route's hedge delay, and an encoded query string for the chat URL.
#[derive(FromPyObject)]
pub struct ChatCall<'py>(
    Bound<'py, PyBytes>,
    Vec<String>,
    Vec<(String, String)>,
    u32,
    Option<TimeoutSettings>,
    Option<f64>,
    Option<String>,
);

impl<'py> ChatCall<'py> {
    /// The usual call's: a body and a chain, the client's retries, nothing else of its own.
    fn usual(body: Bound<'py, PyBytes>, models: Vec<String>, max_retries: u32) -> Self {
        Self(body, models, Vec::new(), max_retries, None, None, None)
    }
}

/// A non-streaming chat completion over the chain. The task holds only pointers: its
/// parts (~1.2 KB) come boxed, and the chain's future (~10 KB) is boxed when the task first
/// runs, on the I/O thread. Spawned by value, a task is copied whole several times (by the
/// caller, tokio, each poll's stage), which cost ~55 KB of copies per request on the
/// caller's thread (issue 11, futmove).
async fn chat_task(
    parts: Box<(Transport, ChatRequest, Backoff)>,
) -> Result<ChatSuccess, ChainError> {
    let (transport, request, backoff) = &*parts;
    Box::pin(complete(transport, request, backoff)).await
}

/// A streamed chat completion, once committed (its reader task starts now).
fn stream_task(
    (transport, request, backoff): (Transport, ChatRequest, Backoff),
) -> impl Future<Output = Result<NativeStream, StreamFailure>> + Send + 'static {
    open_stream(transport, request, backoff)
}

/// A GET's body (`None` for 304 Not Modified) and the response's `ETag` / `Last-Modified`
/// headers; the validator is made from them in one place, Python's `validator_from_headers`.
type Fetched = (Option<Bytes>, ValidatorHeaders);

/// `(name, value)` pairs of a response's `ETag` / `Last-Modified` headers.
type ValidatorHeaders = Vec<(String, String)>;

/// A finished GET as `(body or None if not modified, validator headers)`, or the exception.
fn fetched(result: Result<Fetched, Error>) -> PyResult<(Option<BodyOutput>, ValidatorHeaders)> {
    result
        .map(|(body, validator)| (body.map(BodyOutput), validator))
        .map_err(|e| error_to_py(&e))
}

async fn get_body(
    transport: Transport,
    path: String,
    headers: HeaderMap,
) -> Result<Fetched, Error> {
    let response = transport
        .send(
            Method::GET,
            &path,
            None,
            &headers,
            transport.timeouts().attempt,
        )
        .await?;
    let validator = [reqwest::header::ETAG, reqwest::header::LAST_MODIFIED]
        .into_iter()
        .filter_map(|name| {
            let value = response.headers.get(&name)?.to_str().ok()?;
            Some((name.as_str().to_owned(), value.to_owned()))
        })
        .collect();
    if response.status == reqwest::StatusCode::NOT_MODIFIED {
        Ok((None, validator))
    } else if response.status.is_success() {
        Ok((Some(lossy_utf8(response.body)), validator))
    } else {
        Err(error_from_response(
            response.status.as_u16(),
            &response.headers,
            &response.body,
        ))
    }
}

#[pymethods]
impl NativeClient {
    #[new]
    #[pyo3(signature = (*, base_url, api_key=None, headers=Vec::new(), timeout=None, cooldown=None, on_event=None, hedge=None, backends=Vec::new(), ca_bundle=None, proxy=None, http2=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        base_url: String,
        api_key: Option<String>,
        headers: Vec<(String, String)>,
        timeout: Option<TimeoutSettings>,
        cooldown: Option<CooldownSettings>,
        on_event: Option<Py<PyAny>>,
        hedge: Option<HedgeSettings>,
        backends: Vec<BackendTuple>,
        ca_bundle: Option<String>,
        proxy: Option<String>,
        http2: Option<bool>,
    ) -> PyResult<Self> {
        let hedge = match hedge {
            Some(settings) => {
                seconds(Some(settings.after), "hedge delay")?.map(|after| HedgeConfig {
                    after,
                    adaptive: settings.adaptive,
                })
            }
            None => None,
        };
        let breaker = match cooldown {
            None | Some(CooldownSettings { failures: 0, .. }) => None,
            Some(settings) => Some(BreakerConfig {
                failures: settings.failures,
                cooldown: seconds(Some(settings.seconds), "cooldown")?.unwrap_or_default(),
            }),
        };
        let timeouts = match timeout {
            None => Timeouts::default(),
            Some(t) => Timeouts {
                connect: seconds(t.connect, "connect timeout")?,
                read: seconds(t.read, "read timeout")?,
                first_token: seconds(t.first_token, "first_token timeout")?,
                idle: seconds(t.idle, "idle timeout")?,
                attempt: seconds(t.attempt, "timeout")?,
                total: seconds(t.total, "total timeout")?,
            },
        };
        let config = TransportConfig {
            base_url,
            api_key: api_key.map(ApiKey::new),
            headers,
            timeouts,
            network: NetworkOptions {
                ca_bundle,
                proxy,
                http2,
            },
            backends: backends
                .into_iter()
                .map(
                    |(name, base_url, api_key, headers, api_key_env)| BackendConfig {
                        name,
                        base_url,
                        api_key: api_key.map(ApiKey::new),
                        headers,
                        api_key_env,
                    },
                )
                .collect(),
        };
        let transport = Transport::new(config.clone()).map_err(|e| match e.kind() {
            ErrorKind::InvalidRequest => PyValueError::new_err(e.message().to_owned()),
            _ => error_to_py(&e),
        })?;
        Ok(Self {
            transport: RwLock::new(Some((fork_generation(), transport))),
            config,
            backoff: Backoff::default(),
            health: Arc::new(HealthBook::new(breaker)),
            events: on_event.map(python_sink),
            hedge,
        })
    }

    /// Start a chat completion over the model chain: a future of `event_loop` that `queue`'s
    /// drain finishes with a `NativeChat` (or the exception); cancelling it aborts the request.
    #[pyo3(signature = (queue, event_loop, *call))]
    fn chat(
        &self,
        py: Python<'_>,
        queue: &CompletionQueue,
        event_loop: Py<PyAny>,
        call: ChatCall,
    ) -> PyResult<Py<NativeFuture>> {
        self.spawn_chat(py, queue, event_loop, call)
    }

    /// `chat` for the usual call (a body and a chain of model ids; no headers, timeouts,
    /// hedge delay or query of its own), with fewer arguments to read. Its future is
    /// bare: its await gives `None`, and the caller reads the `NativeChat` with
    /// `result()` (no `StopIteration` made to carry it); an error still raises.
    fn chat_usual(
        &self,
        py: Python<'_>,
        queue: &CompletionQueue,
        event_loop: Py<PyAny>,
        body: Bound<'_, PyBytes>,
        models: Vec<String>,
        max_retries: u32,
    ) -> PyResult<Py<NativeFuture>> {
        let call = ChatCall::usual(body, models, max_retries);
        let future = self.spawn_chat(py, queue, event_loop, call)?;
        // Finished only by the queue's drain, which runs on a thread holding the GIL.
        future.borrow_mut(py).set_bare();
        Ok(future)
    }

    /// `chat_blocking` for the usual call (see `chat_usual`).
    fn chat_usual_blocking(
        &self,
        py: Python<'_>,
        body: Bound<'_, PyBytes>,
        models: Vec<String>,
        max_retries: u32,
    ) -> PyResult<NativeChat> {
        let call = ChatCall::usual(body, models, max_retries);
        self.chat_blocking(py, call)
    }

    /// Blocking chat completion (GIL released while waiting) -> `NativeChat`.
    #[pyo3(signature = (*call))]
    fn chat_blocking(&self, py: Python<'_>, call: ChatCall) -> PyResult<NativeChat> {
        let parts = Box::new(self.prepare(call)?);
        let eager = self.may_run_eagerly(&parts);
        let task = chat_task(parts);
        let result = if eager {
            block_on_request(py, task)?
        } else {
            block_on(py, task)?
        };
        chat_result(py, result)
    }

    /// Start a streamed chat completion: a future of `event_loop` finished with a
    /// `NativeStream` once committed (first content or a clean end), or the chain's exception.
    #[pyo3(signature = (queue, event_loop, *call))]
    fn chat_stream(
        &self,
        py: Python<'_>,
        queue: &CompletionQueue,
        event_loop: Py<PyAny>,
        call: ChatCall,
    ) -> PyResult<Py<NativeFuture>> {
        super::refresh_int_max_digits(py);
        let task = stream_task(self.prepare(call)?);
        let convert = |py: Python<'_>, result: Result<NativeStream, StreamFailure>| {
            Ok(Py::new(py, result.map_err(StreamFailure::into_py)?)?.into_any())
        };
        spawn_awaitable(py, queue, Report::Answer, event_loop, task, convert, false)
    }

    /// Blocking streamed chat completion -> `NativeStream`, once committed.
    #[pyo3(signature = (*call))]
    fn chat_stream_blocking(&self, py: Python<'_>, call: ChatCall) -> PyResult<NativeStream> {
        super::refresh_int_max_digits(py);
        block_on(py, stream_task(self.prepare(call)?))?.map_err(StreamFailure::into_py)
    }

    /// Start `GET {base_url}/{path}` (with optional conditional headers): a future of
    /// `event_loop` finished with `(body or None if not modified, validator headers)`.
    #[pyo3(signature = (queue, event_loop, path, headers=Vec::new()))]
    fn get(
        &self,
        py: Python<'_>,
        queue: &CompletionQueue,
        event_loop: Py<PyAny>,
        path: String,
        headers: Vec<(String, String)>,
    ) -> PyResult<Py<NativeFuture>> {
        let task = self.get_task(path, headers)?;
        let convert =
            |py: Python<'_>, result| Ok(fetched(result)?.into_pyobject(py)?.into_any().unbind());
        spawn_awaitable(py, queue, Report::Now, event_loop, task, convert, false)
    }

    /// Blocking `GET {base_url}/{path}` -> `(body or None if not modified, validator headers)`.
    #[pyo3(signature = (path, headers=Vec::new()))]
    fn get_blocking(
        &self,
        py: Python<'_>,
        path: String,
        headers: Vec<(String, String)>,
    ) -> PyResult<(Option<BodyOutput>, ValidatorHeaders)> {
        fetched(block_on(py, self.get_task(path, headers)?)?)
    }

    /// The median time to first token this client measured, per model (seconds).
    fn latencies(&self) -> std::collections::HashMap<String, f64> {
        self.health
            .ttft_medians()
            .into_iter()
            .map(|(model, d)| (model, d.as_secs_f64()))
            .collect()
    }

    /// Circuit-breaker state per model that has failed.
    fn health(&self) -> Vec<NativeHealth> {
        self.health
            .report()
            .into_iter()
            .map(NativeHealth::from)
            .collect()
    }

    /// Drop the connection pool; later requests fail with `APIConnectionError`.
    fn close(&self) {
        let mut guard = self.transport.write().unwrap_or_else(|p| p.into_inner());
        if let Some((built_in, transport)) = guard.take() {
            if built_in != fork_generation() {
                std::mem::forget(transport); // the parent's pool, in a forked child
            }
        }
    }

    #[getter]
    fn closed(&self) -> bool {
        self.transport
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .is_none()
    }

    fn __repr__(&self) -> String {
        match &*self.transport.read().unwrap_or_else(|p| p.into_inner()) {
            Some((_, t)) => format!("NativeClient(base_url={:?})", t.base_url()),
            None => "NativeClient(closed)".to_owned(),
        }
    }
}
