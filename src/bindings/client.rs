//! `NativeClient`: the pooled transport and model chains, as async and blocking calls.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use bytes::Bytes;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyTuple};
use reqwest::header::HeaderMap;
use reqwest::Method;

use super::completions::{CompletionQueue, TaskHandle};
use super::errors::{attempt_tuple, chain_error_to_py, error_to_py};
use super::runtime::{block_on, spawn_reporting};
use super::stream::{open_stream, NativeStream, StreamFailure};
use crate::error::{Error, ErrorKind};
use crate::events::{ChainEvent, EventSink};
use crate::failover::{chat_path, complete, Backoff, ChatRequest, ChatSuccess};
use crate::health::{BreakerConfig, HealthBook};
use crate::hedge::HedgeConfig;
use crate::response::{error_from_response, header_block};
use crate::transport::{header_map, ApiKey, Timeouts, Transport, TransportConfig};

/// Per-request `(attempt, first_token, idle, total)` seconds replacing the client's.
type TimeoutOverrides = (Option<f64>, Option<f64>, Option<f64>, Option<f64>);

/// `(model, state, consecutive failures, cooled until (unix seconds), reason)`.
type HealthTuple = (String, &'static str, u32, Option<f64>, Option<String>);

/// A finished chat completion on its way to Python:
/// `(body: bytes, attempts: list[tuple], headers: str)` (headers as `name: value` lines).
pub struct ChatOutput(ChatSuccess);

impl<'py> IntoPyObject<'py> for ChatOutput {
    type Target = PyTuple;
    type Output = Bound<'py, PyTuple>;
    type Error = PyErr;

    fn into_pyobject(self, py: Python<'py>) -> PyResult<Self::Output> {
        let ChatSuccess {
            body,
            attempts,
            headers,
            ..
        } = self.0;
        let attempts = PyList::new(py, attempts.iter().map(attempt_tuple))?;
        PyTuple::new(
            py,
            [
                PyBytes::new(py, &body).into_any(),
                attempts.into_any(),
                header_block(&headers).into_pyobject(py)?.into_any(),
            ],
        )
    }
}

/// Calls `hook((kind, model, retry, status, error_kind, message, wait_s, latency_s))` on
/// the I/O thread; a failing hook is reported as unraisable, never breaks the request.
fn python_sink(hook: Py<PyAny>) -> EventSink {
    EventSink::new(move |event: ChainEvent| {
        Python::attach(|py| {
            let args = (
                event.kind,
                event.model,
                event.retry,
                event.status,
                event.error_kind.map(|k| k.as_str()),
                event.message,
                event.wait.map(|d| d.as_secs_f64()),
                event.latency.map(|d| d.as_secs_f64()),
            );
            if let Err(err) = hook.call1(py, (args,)) {
                err.write_unraisable(py, None);
            }
        })
    })
}

/// A raw body on its way to Python as `bytes`.
pub struct BodyOutput(Bytes);

impl<'py> IntoPyObject<'py> for BodyOutput {
    type Target = PyBytes;
    type Output = Bound<'py, PyBytes>;
    type Error = PyErr;

    fn into_pyobject(self, py: Python<'py>) -> PyResult<Self::Output> {
        Ok(PyBytes::new(py, &self.0))
    }
}

fn seconds(value: Option<f64>, name: &str) -> PyResult<Option<Duration>> {
    match value {
        None => Ok(None),
        Some(secs) if secs.is_finite() && secs > 0.0 => Ok(Some(Duration::from_secs_f64(secs))),
        Some(secs) => Err(PyValueError::new_err(format!(
            "{name} must be a positive number of seconds, got {secs}"
        ))),
    }
}

#[pyclass(frozen, module = "fastrouter._fastrouter")]
pub struct NativeClient {
    /// `None` once closed; requests in flight keep their own clone of the pool.
    transport: RwLock<Option<Transport>>,
    backoff: Backoff,
    health: Arc<HealthBook>,
    events: Option<EventSink>,
    hedge: Option<HedgeConfig>,
}

impl NativeClient {
    fn transport(&self) -> PyResult<Transport> {
        let guard = self.transport.read().unwrap_or_else(|p| p.into_inner());
        guard
            .clone()
            .ok_or_else(|| error_to_py(&Error::new(ErrorKind::Connection, "the client is closed")))
    }

    /// The pool and the request for one chat call: per-request timeouts and a route's
    /// hedge delay (`hedge_after`) replace the client's.
    #[allow(clippy::too_many_arguments)]
    fn prepare(
        &self,
        body: &[u8],
        models: Vec<String>,
        headers: Vec<(String, String)>,
        max_retries: u32,
        timeouts: Option<TimeoutOverrides>,
        hedge_after: Option<f64>,
        query: Option<String>,
    ) -> PyResult<(Transport, ChatRequest)> {
        if models.is_empty() {
            return Err(PyValueError::new_err("model must name at least one model"));
        }
        let transport = self.transport()?;
        let mut merged = transport.timeouts();
        if let Some((attempt, first_token, idle, total)) = timeouts {
            merged.attempt = seconds(attempt, "timeout")?;
            merged.first_token = seconds(first_token, "first_token timeout")?;
            merged.idle = seconds(idle, "idle timeout")?;
            merged.total = seconds(total, "total timeout")?;
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
            body: Bytes::copy_from_slice(body),
            headers: header_map(&headers).map_err(|e| error_to_py(&e))?,
            max_retries,
            timeouts: merged,
            health: self.health.clone(),
            events: self.events.clone(),
            hedge,
            path: chat_path(query.as_deref()),
        };
        Ok((transport, request))
    }
}

/// A GET's body (`None` for 304 Not Modified) and the response's `ETag` / `Last-Modified`
/// headers; the validator is made from them in one place, Python's `validator_from_headers`.
type Fetched = (Option<Bytes>, ValidatorHeaders);

/// `(name, value)` pairs of a response's `ETag` / `Last-Modified` headers.
type ValidatorHeaders = Vec<(String, String)>;

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
        Ok((Some(response.body), validator))
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
    #[pyo3(signature = (*, base_url, api_key=None, headers=Vec::new(), connect_timeout=None, read_timeout=None, first_token_timeout=None, idle_timeout=None, attempt_timeout=None, total_timeout=None, cooldown_failures=Some(3), cooldown_seconds=30.0, on_event=None, hedge_after=None, hedge_adaptive=false))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        base_url: String,
        api_key: Option<String>,
        headers: Vec<(String, String)>,
        connect_timeout: Option<f64>,
        read_timeout: Option<f64>,
        first_token_timeout: Option<f64>,
        idle_timeout: Option<f64>,
        attempt_timeout: Option<f64>,
        total_timeout: Option<f64>,
        cooldown_failures: Option<u32>,
        cooldown_seconds: f64,
        on_event: Option<Py<PyAny>>,
        hedge_after: Option<f64>,
        hedge_adaptive: bool,
    ) -> PyResult<Self> {
        let hedge = seconds(hedge_after, "hedge delay")?.map(|after| HedgeConfig {
            after,
            adaptive: hedge_adaptive,
        });
        let breaker = match cooldown_failures {
            None | Some(0) => None,
            Some(failures) => Some(BreakerConfig {
                failures,
                cooldown: seconds(Some(cooldown_seconds), "cooldown")?.unwrap_or_default(),
            }),
        };
        let timeouts = Timeouts {
            connect: seconds(connect_timeout, "connect timeout")?,
            read: seconds(read_timeout, "read timeout")?,
            first_token: seconds(first_token_timeout, "first_token timeout")?,
            idle: seconds(idle_timeout, "idle timeout")?,
            attempt: seconds(attempt_timeout, "timeout")?,
            total: seconds(total_timeout, "total timeout")?,
        };
        let transport = Transport::new(TransportConfig {
            base_url,
            api_key: api_key.map(ApiKey::new),
            headers,
            timeouts,
        })
        .map_err(|e| match e.kind() {
            ErrorKind::InvalidRequest => PyValueError::new_err(e.message().to_owned()),
            _ => error_to_py(&e),
        })?;
        Ok(Self {
            transport: RwLock::new(Some(transport)),
            backoff: Backoff::default(),
            health: Arc::new(HealthBook::new(breaker)),
            events: on_event.map(python_sink),
            hedge,
        })
    }

    /// Start a chat completion over the model chain; reports `(body, attempts)` (or
    /// the exception) to `queue` under `id`.
    #[pyo3(signature = (queue, id, body, models, headers, max_retries, timeouts=None, hedge_after=None, query=None))]
    #[allow(clippy::too_many_arguments)]
    fn chat(
        &self,
        queue: &CompletionQueue,
        id: u64,
        body: &[u8],
        models: Vec<String>,
        headers: Vec<(String, String)>,
        max_retries: u32,
        timeouts: Option<TimeoutOverrides>,
        hedge_after: Option<f64>,
        query: Option<String>,
    ) -> PyResult<TaskHandle> {
        let (transport, request) = self.prepare(
            body,
            models,
            headers,
            max_retries,
            timeouts,
            hedge_after,
            query,
        )?;
        let backoff = self.backoff;
        let future = async move { complete(&transport, &request, &backoff).await };
        Ok(spawn_reporting(
            queue,
            id,
            future,
            |py, result| match result {
                Ok(success) => Ok(ChatOutput(success).into_pyobject(py)?.into_any().unbind()),
                Err(error) => Err(chain_error_to_py(error, None)),
            },
        ))
    }

    /// Blocking chat completion (GIL released while waiting) -> `(body, attempts)`.
    #[pyo3(signature = (body, models, headers, max_retries, timeouts=None, hedge_after=None, query=None))]
    #[allow(clippy::too_many_arguments)]
    fn chat_blocking(
        &self,
        py: Python<'_>,
        body: &[u8],
        models: Vec<String>,
        headers: Vec<(String, String)>,
        max_retries: u32,
        timeouts: Option<TimeoutOverrides>,
        hedge_after: Option<f64>,
        query: Option<String>,
    ) -> PyResult<ChatOutput> {
        let (transport, request) = self.prepare(
            body,
            models,
            headers,
            max_retries,
            timeouts,
            hedge_after,
            query,
        )?;
        let backoff = self.backoff;
        let result = block_on(
            py,
            async move { complete(&transport, &request, &backoff).await },
        )?;
        result
            .map(ChatOutput)
            .map_err(|e| chain_error_to_py(e, None))
    }

    /// Start a streamed chat completion; reports a `NativeStream` to `queue` under `id`
    /// once committed (first content or a clean end), or the chain's exception.
    #[pyo3(signature = (queue, id, body, models, headers, max_retries, timeouts=None, hedge_after=None, query=None))]
    #[allow(clippy::too_many_arguments)]
    fn chat_stream(
        &self,
        queue: &CompletionQueue,
        id: u64,
        body: &[u8],
        models: Vec<String>,
        headers: Vec<(String, String)>,
        max_retries: u32,
        timeouts: Option<TimeoutOverrides>,
        hedge_after: Option<f64>,
        query: Option<String>,
    ) -> PyResult<TaskHandle> {
        let (transport, request) = self.prepare(
            body,
            models,
            headers,
            max_retries,
            timeouts,
            hedge_after,
            query,
        )?;
        let backoff = self.backoff;
        let future = open_stream(transport, request, backoff);
        Ok(spawn_reporting(
            queue,
            id,
            future,
            |py, result| match result {
                Ok(stream) => Ok(Py::new(py, stream)?.into_any()),
                Err(failure) => Err(failure.into_py()),
            },
        ))
    }

    /// Blocking streamed chat completion -> `NativeStream`, once committed.
    #[pyo3(signature = (body, models, headers, max_retries, timeouts=None, hedge_after=None, query=None))]
    #[allow(clippy::too_many_arguments)]
    fn chat_stream_blocking(
        &self,
        py: Python<'_>,
        body: &[u8],
        models: Vec<String>,
        headers: Vec<(String, String)>,
        max_retries: u32,
        timeouts: Option<TimeoutOverrides>,
        hedge_after: Option<f64>,
        query: Option<String>,
    ) -> PyResult<NativeStream> {
        let (transport, request) = self.prepare(
            body,
            models,
            headers,
            max_retries,
            timeouts,
            hedge_after,
            query,
        )?;
        let backoff = self.backoff;
        block_on(py, open_stream(transport, request, backoff))?.map_err(StreamFailure::into_py)
    }

    /// Start `GET {base_url}/{path}` (with optional conditional headers); reports
    /// `(body or None if not modified, validator headers)` (or the exception) to `queue` under `id`.
    #[pyo3(signature = (queue, id, path, headers=Vec::new()))]
    fn get(
        &self,
        queue: &CompletionQueue,
        id: u64,
        path: String,
        headers: Vec<(String, String)>,
    ) -> PyResult<TaskHandle> {
        let transport = self.transport()?;
        let headers = header_map(&headers).map_err(|e| error_to_py(&e))?;
        let future = get_body(transport, path, headers);
        Ok(spawn_reporting(
            queue,
            id,
            future,
            |py, result| match result {
                Ok((body, validator)) => Ok((body.map(BodyOutput), validator)
                    .into_pyobject(py)?
                    .into_any()
                    .unbind()),
                Err(error) => Err(error_to_py(&error)),
            },
        ))
    }

    /// Blocking `GET {base_url}/{path}` -> `(body or None if not modified, validator headers)`.
    #[pyo3(signature = (path, headers=Vec::new()))]
    fn get_blocking(
        &self,
        py: Python<'_>,
        path: String,
        headers: Vec<(String, String)>,
    ) -> PyResult<(Option<BodyOutput>, ValidatorHeaders)> {
        let transport = self.transport()?;
        let headers = header_map(&headers).map_err(|e| error_to_py(&e))?;
        let result = block_on(py, get_body(transport, path, headers))?;
        result
            .map(|(body, validator)| (body.map(BodyOutput), validator))
            .map_err(|e| error_to_py(&e))
    }

    /// The median time to first token this client measured, per model (seconds).
    fn latencies(&self) -> std::collections::HashMap<String, f64> {
        self.health
            .ttft_medians()
            .into_iter()
            .map(|(model, d)| (model, d.as_secs_f64()))
            .collect()
    }

    /// Circuit-breaker state per model that has failed:
    /// `(model, state, consecutive failures, cooled until (unix seconds), reason)`.
    fn health(&self) -> Vec<HealthTuple> {
        self.health
            .report()
            .into_iter()
            .map(|r| {
                let until = r.cooled_until.and_then(|t| {
                    t.duration_since(std::time::SystemTime::UNIX_EPOCH)
                        .ok()
                        .map(|d| d.as_secs_f64())
                });
                (r.model, r.state.as_str(), r.failures, until, r.reason)
            })
            .collect()
    }

    /// Drop the connection pool; later requests fail with `APIConnectionError`.
    fn close(&self) {
        let mut guard = self.transport.write().unwrap_or_else(|p| p.into_inner());
        guard.take();
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
            Some(t) => format!("NativeClient(base_url={:?})", t.base_url()),
            None => "NativeClient(closed)".to_owned(),
        }
    }
}
