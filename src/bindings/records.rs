//! The records that cross into Python as named, typed objects (never positional tuples):
//! attempts, chain events, breaker health, a finished chat completion, and the
//! settings that cross the other way (timeouts, cooldown, hedging).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyTuple, PyType};
use reqwest::header::HeaderMap;

use super::ledger_ring::{packable, AnswerFacts};
use crate::events::ChainEvent;
use crate::failover::{answer_cost, Attempt, ChatSuccess};
use crate::health::HealthReport;
use crate::json_tape::Tape;
use crate::ledger::cost_units;
use crate::response::ChatSummary;

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

/// One try of one model, as `fastrouter.Attempt` reads it.
#[pyclass(frozen, get_all, module = "fastrouter._fastrouter")]
pub struct NativeAttempt {
    model: String,
    provider: Option<String>,
    status: Option<u16>,
    error_kind: Option<&'static str>,
    error: Option<String>,
    latency_s: f64,
    first_token_s: Option<f64>,
    /// `usage.cost` exactly as the server wrote it (decimal text).
    cost: Option<String>,
    retry: u32,
    hedged: bool,
    /// `"HTTP/2"` or `"HTTP/1.1"`: the version the response came over, when one came.
    http_version: Option<&'static str>,
}

impl From<&Attempt> for NativeAttempt {
    fn from(attempt: &Attempt) -> Self {
        Self {
            model: attempt.model.clone(),
            provider: attempt.provider.clone(),
            status: attempt.status,
            error_kind: attempt.error_kind.map(|kind| kind.as_str()),
            error: attempt.error.clone(),
            latency_s: secs(attempt.latency),
            first_token_s: attempt.first_token.map(secs),
            cost: attempt.cost.clone(),
            retry: attempt.retry,
            hedged: attempt.hedged,
            http_version: attempt.http_version,
        }
    }
}

impl From<Attempt> for NativeAttempt {
    /// The attempt's texts moved, not copied (an answer's attempts are not kept).
    fn from(attempt: Attempt) -> Self {
        Self {
            model: attempt.model,
            provider: attempt.provider,
            status: attempt.status,
            error_kind: attempt.error_kind.map(|kind| kind.as_str()),
            error: attempt.error,
            latency_s: secs(attempt.latency),
            first_token_s: attempt.first_token.map(secs),
            cost: attempt.cost,
            retry: attempt.retry,
            hedged: attempt.hedged,
            http_version: attempt.http_version,
        }
    }
}

/// The attempts of a chain as a Python list of [`NativeAttempt`].
pub fn attempt_list<'py>(py: Python<'py>, attempts: &[Attempt]) -> PyResult<Bound<'py, PyList>> {
    let items = attempts
        .iter()
        .map(|attempt| Bound::new(py, NativeAttempt::from(attempt)))
        .collect::<PyResult<Vec<_>>>()?;
    PyList::new(py, items)
}

/// A finished chat completion: the body, every attempt, and what the answer cost
/// (the core's decision: the answering attempt's reported cost).
#[pyclass(frozen, module = "fastrouter._fastrouter")]
pub struct NativeChat {
    body: Bytes,
    /// The body as the core read it (`None`: parsed from `body` when asked); shared with
    /// the answer's `TapeObject`s.
    tape: Option<Arc<Tape>>,
    attempts: Py<PyList>,
    answer_cost: Option<String>,
    /// The answering response's headers, kept as received and rendered only when read.
    headers: Py<NativeHeaders>,
    /// What the ledger records of the answer, read from the body by the core.
    entry: Option<Arc<EntryValues>>,
}

/// An answer's ledger facts as the core parsed them (see [`NativeChat::entry_facts`]).
pub struct EntryValues {
    pub id: Option<String>,
    pub model: Option<String>,
    pub provider: Option<String>,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub cached_tokens: u64,
    pub reasoning_tokens: u64,
    pub byok: bool,
    pub cost: String,
    pub cost_units: Option<u64>,
}

impl EntryValues {
    /// `NativeChat.entry_facts`'s tuple.
    pub fn to_tuple<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        (
            self.id.as_deref(),
            self.model.as_deref(),
            self.provider.as_deref(),
            self.prompt_tokens,
            self.completion_tokens,
            self.cached_tokens,
            self.reasoning_tokens,
            self.byok,
            self.cost.as_str(),
            self.cost_units,
        )
            .into_pyobject(py)
    }

    /// The facts of an answer that cost `cost`; `None` without a cost, or when a field of
    /// the body has an unusual type.
    pub fn new(summary: ChatSummary, cost: Option<&str>) -> Option<Self> {
        let facts = summary.entry?;
        let cost = cost?;
        Some(Self {
            id: facts.id,
            model: summary.model,
            provider: summary.provider,
            prompt_tokens: summary.prompt_tokens.unwrap_or(0),
            completion_tokens: summary.completion_tokens.unwrap_or(0),
            cached_tokens: facts.cached_tokens,
            reasoning_tokens: facts.reasoning_tokens,
            byok: facts.byok,
            cost_units: cost_units(cost),
            cost: cost.to_owned(),
        })
    }
}

/// A response's headers as received, rendered as `name: value` lines only when read. A
/// completion keeps these, not its whole chat (whose body it has already parsed).
#[pyclass(frozen, module = "fastrouter._fastrouter")]
pub struct NativeHeaders {
    headers: HeaderMap,
}

#[pymethods]
impl NativeHeaders {
    /// The headers as `name: value` lines (openai's `.headers`).
    #[getter]
    fn block(&self) -> String {
        crate::response::header_block(&self.headers)
    }
}

impl NativeChat {
    pub fn new(py: Python<'_>, success: ChatSuccess) -> PyResult<Self> {
        let ChatSuccess {
            body,
            summary,
            tape,
            attempts,
            headers,
        } = success;
        let cost = answer_cost(&attempts);
        let entry = EntryValues::new(summary, cost).map(Arc::new);
        let answer_cost = cost.map(str::to_owned);
        let attempts = attempts
            .into_iter()
            .map(|attempt| Bound::new(py, NativeAttempt::from(attempt)))
            .collect::<PyResult<Vec<_>>>()?;
        Ok(Self {
            body,
            tape: tape.map(Arc::new),
            entry,
            answer_cost,
            attempts: PyList::new(py, attempts)?.unbind(),
            headers: Py::new(py, NativeHeaders { headers })?,
        })
    }
}

#[pymethods]
impl NativeChat {
    /// The response body (JSON).
    #[getter]
    fn body<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.body)
    }

    /// The response body parsed, as `json.loads(body)` gives it (without the bytes).
    fn json<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        super::json::parsed(py, &self.body, self.tape.as_deref())
    }

    /// The answer as a `cls` (`ChatCompletion`), made by the core with every slot set:
    /// `_json` (a `TapeObject`, or `json()` when the core did not read the body into a
    /// tape), the typed models its usual reads return (`choices`, each `message`, `usage`;
    /// see `answer.rs`), the attempts, the answer cost and the headers. `None` for any
    /// other class (a subclass), which the facade makes itself.
    fn completion<'py>(
        &self,
        py: Python<'py>,
        cls: &Bound<'py, PyType>,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        super::answer::completion(
            py,
            cls,
            &self.body,
            self.tape.as_ref(),
            self.attempts.bind(py).clone().into_any(),
            self.answer_cost.as_deref(),
            self.headers.bind(py).clone().into_any(),
        )
    }

    /// Every attempt of the chain, in order; the last one produced the answer.
    #[getter]
    fn attempts(&self, py: Python<'_>) -> Py<PyList> {
        self.attempts.clone_ref(py)
    }

    /// The answering attempt's cost as decimal text, when the server reported it.
    #[getter]
    fn answer_cost(&self) -> Option<String> {
        self.answer_cost.clone()
    }

    /// The answering response's headers as `name: value` lines (openai's `.headers`).
    #[getter]
    fn headers(&self) -> String {
        self.headers.get().block()
    }

    /// The answering response's headers, rendered only when read.
    #[getter]
    fn raw_headers(&self, py: Python<'_>) -> Py<NativeHeaders> {
        self.headers.clone_ref(py)
    }

    /// What the ledger records of the answer, as the core read it from the body: `(id,
    /// model, provider, prompt_tokens, completion_tokens, cached_tokens, reasoning_tokens,
    /// is_byok, cost, cost_units)`, the cost as decimal text (`answer_cost`) and in the
    /// ledger's fixed point (`None` when it does not fit). `None` when the answer has no
    /// cost or a field of the body has an unusual type (the facade reads the body then).
    #[getter]
    fn entry_facts<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyTuple>>> {
        self.entry
            .as_deref()
            .map(|entry| entry.to_tuple(py))
            .transpose()
    }

    /// The answer's ledger facts as the in-memory ledger's ring packs them itself
    /// (`LedgerRing.add_answers`), when they were read and fit its record; else `None`.
    /// A small object: the ledger keeps it, not the answer's body, until it packs it.
    #[getter]
    fn ring_facts(&self, py: Python<'_>) -> PyResult<Option<Py<AnswerFacts>>> {
        self.entry
            .as_ref()
            .filter(|entry| packable(entry))
            .map(|entry| Py::new(py, AnswerFacts::new(Arc::clone(entry))))
            .transpose()
    }
}

/// One step of a chain, for the `on_event` hook.
#[pyclass(frozen, get_all, module = "fastrouter._fastrouter")]
pub struct NativeChainEvent {
    kind: &'static str,
    model: String,
    retry: u32,
    status: Option<u16>,
    error_kind: Option<&'static str>,
    message: Option<String>,
    wait_s: Option<f64>,
    latency_s: Option<f64>,
}

impl From<ChainEvent> for NativeChainEvent {
    fn from(event: ChainEvent) -> Self {
        Self {
            kind: event.kind.as_str(),
            model: event.model,
            retry: event.retry,
            status: event.status,
            error_kind: event.error_kind.map(|kind| kind.as_str()),
            message: event.message,
            wait_s: event.wait.map(secs),
            latency_s: event.latency.map(secs),
        }
    }
}

/// A model's circuit breaker, for `client.health()`.
#[pyclass(frozen, get_all, module = "fastrouter._fastrouter")]
pub struct NativeHealth {
    model: String,
    state: &'static str,
    failures: u32,
    /// Unix seconds.
    cooled_until: Option<f64>,
    reason: Option<String>,
}

impl From<HealthReport> for NativeHealth {
    fn from(report: HealthReport) -> Self {
        let cooled_until = report.cooled_until.and_then(|t| {
            t.duration_since(SystemTime::UNIX_EPOCH)
                .ok()
                .map(|d| d.as_secs_f64())
        });
        Self {
            model: report.model,
            state: report.state.as_str(),
            failures: report.failures,
            cooled_until,
            reason: report.reason,
        }
    }
}

/// Timeouts in seconds (`None` disables one), read by attribute name from
/// `fastrouter.Timeout`: the client's, or a request's overrides (then all but `connect`
/// apply).
#[derive(FromPyObject)]
pub struct TimeoutSettings {
    pub connect: Option<f64>,
    pub read: Option<f64>,
    pub first_token: Option<f64>,
    pub idle: Option<f64>,
    pub attempt: Option<f64>,
    pub total: Option<f64>,
}

/// Circuit-breaker settings, read by attribute name from `fastrouter.Cooldown` (the one
/// place their defaults live).
#[derive(FromPyObject)]
pub struct CooldownSettings {
    pub failures: u32,
    pub seconds: f64,
}

/// Hedging settings, read by attribute name from `fastrouter.Hedge`.
#[derive(FromPyObject)]
pub struct HedgeSettings {
    pub after: f64,
    pub adaptive: bool,
}

/// A raw body on its way to Python as `bytes`.
pub struct BodyOutput(pub Bytes);

impl<'py> IntoPyObject<'py> for BodyOutput {
    type Target = PyBytes;
    type Output = Bound<'py, PyBytes>;
    type Error = PyErr;

    fn into_pyobject(self, py: Python<'py>) -> PyResult<Self::Output> {
        Ok(PyBytes::new(py, &self.0))
    }
}
