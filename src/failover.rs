//! Walking a model chain: retries with backoff on the same model, then the next model.
//!
//! The decision after each failed attempt comes from [`ErrorKind::action`] alone, so the
//! rules live in one table. Every attempt is recorded for `resp.attempts`.

use std::sync::Arc;
use std::time::Duration;

// Tokio's clock (the std clock outside tests) so paused-time tests can drive the chain.
use tokio::time::Instant;

use bytes::{BufMut, Bytes, BytesMut};
use reqwest::header::HeaderMap;

use crate::error::{Action, Error, ErrorKind};
use crate::events::{ChainEvent, EventKind, EventSink};
use crate::health::{Admission, HealthBook};
use crate::hedge::HedgeConfig;
use crate::json_tape::Tape;
use crate::response::ChatSummary;
use crate::transport::{wire_model, Timeouts, CHAT_PATH};

/// One try of one model.
#[derive(Debug, Clone, PartialEq)]
pub struct Attempt {
    pub model: String,
    pub provider: Option<String>,
    /// HTTP status (200 for the successful try); `None` when no response came.
    pub status: Option<u16>,
    pub error_kind: Option<ErrorKind>,
    pub error: Option<String>,
    pub latency: Duration,
    pub first_token: Option<Duration>,
    /// `usage.cost` as the server wrote it, when known.
    pub cost: Option<String>,
    /// 0 for the first try of this model, 1 for its first retry, ...
    pub retry: u32,
    pub hedged: bool,
    /// The HTTP version the response came over (`"HTTP/2"`, `"HTTP/1.1"`), when one came.
    pub http_version: Option<&'static str>,
}

impl Attempt {
    /// A model skipped by its open circuit breaker: never sent.
    fn skipped(model: &str, error: &Error) -> Self {
        Self {
            model: model.to_owned(),
            provider: None,
            status: None,
            error_kind: Some(error.kind()),
            error: Some(error.message().to_owned()),
            latency: Duration::ZERO,
            first_token: None,
            cost: None,
            retry: 0,
            hedged: false,
            http_version: None,
        }
    }

    /// A try that was sent: answered (`failure` is `None`, status 200) or failed.
    fn tried(model: &str, retry: u32, meta: TryMeta, failure: Option<&Error>) -> Self {
        Self {
            model: model.to_owned(),
            provider: meta
                .provider
                .or_else(|| failure.and_then(|error| error.details().provider.clone())),
            status: failure.map_or(Some(200), Error::status),
            error_kind: failure.map(Error::kind),
            error: failure.map(|error| error.message().to_owned()),
            latency: meta.latency,
            first_token: meta.first_token,
            cost: meta.cost,
            retry,
            hedged: meta.hedged,
            http_version: meta.http_version,
        }
    }
}

/// How long to wait between retries of the same model.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub base: Duration,
    pub max: Duration,
    /// A server asking for a longer wait than this means "give up on this model for now".
    pub max_retry_after: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            base: Duration::from_millis(500),
            max: Duration::from_secs(8),
            max_retry_after: Duration::from_secs(60),
        }
    }
}

impl Backoff {
    /// Exponential backoff with full jitter for retry number `retry` (0-based), unless the
    /// server named a wait. `None`: the wait is too long to be worth it.
    pub fn delay(&self, retry: u32, retry_after: Option<Duration>) -> Option<Duration> {
        if let Some(wait) = retry_after {
            return (wait <= self.max_retry_after).then_some(wait);
        }
        let ceiling = self
            .base
            .saturating_mul(2u32.saturating_pow(retry))
            .min(self.max);
        Some(ceiling.mul_f64(fastrand::f64()))
    }
}

/// A chat request, ready to send to each model of its chain.
#[derive(Debug, Clone)]
pub struct ChatRequest {
    pub models: Vec<String>,
    /// The JSON request object *without* `model`; the chain adds it per attempt.
    pub body: Bytes,
    pub headers: HeaderMap,
    pub max_retries: u32,
    /// The client's timeouts, with any per-request overrides applied.
    pub timeouts: Timeouts,
    /// The client's circuit breakers.
    pub health: Arc<HealthBook>,
    /// Where to report attempts, retries, failovers and cooldowns as they happen.
    pub events: Option<EventSink>,
    /// Race the chain's first model against the next one when it is slow (opt-in).
    pub hedge: Option<HedgeConfig>,
    /// `chat/completions`, with the caller's query string (openai's `extra_query`) if any.
    pub path: String,
}

/// The chat endpoint's path with an already encoded query string, if any.
pub fn chat_path(query: Option<&str>) -> String {
    match query {
        Some(query) if !query.is_empty() => format!("{CHAT_PATH}?{query}"),
        _ => CHAT_PATH.to_owned(),
    }
}

impl ChatRequest {
    /// Report an event if anyone listens (the event is only built then).
    pub(crate) fn emit(&self, event: impl FnOnce() -> ChainEvent) {
        if let Some(sink) = &self.events {
            sink.emit(event());
        }
    }
}

#[derive(Debug)]
pub struct ChatSuccess {
    pub body: Bytes,
    pub summary: ChatSummary,
    /// The body read once by the core, for Python's objects (`None`: parse the text).
    pub tape: Option<Tape>,
    pub attempts: Vec<Attempt>,
    /// The answering response's headers.
    pub headers: HeaderMap,
}

/// What an answer cost: the reported cost of the attempt that produced it, which the
/// chain records last. The one place that decides it; the facade reads it.
pub fn answer_cost(attempts: &[Attempt]) -> Option<&str> {
    attempts.last().and_then(|attempt| attempt.cost.as_deref())
}

/// The chain failed: the last error, every attempt, and whether more than one model was
/// tried to the end (users get `AllModelsFailedError` then).
#[derive(Debug)]
pub struct ChainError {
    pub error: Error,
    pub attempts: Vec<Attempt>,
    pub exhausted_chain: bool,
}

/// The request body with `provider` added to `provider.ignore` (`None` if the body is
/// not a JSON object or already ignores it).
pub fn body_ignoring_provider(body: &[u8], provider: &str) -> Option<Bytes> {
    let mut object: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(body).ok()?;
    let preferences = object
        .entry("provider")
        .or_insert_with(|| serde_json::json!({}))
        .as_object_mut()?;
    let ignore = preferences
        .entry("ignore")
        .or_insert_with(|| serde_json::json!([]))
        .as_array_mut()?;
    if ignore.iter().any(|p| p.as_str() == Some(provider)) {
        return None;
    }
    ignore.push(serde_json::Value::String(provider.to_owned()));
    serde_json::to_vec(&object).ok().map(Bytes::from)
}

fn cooling_error(model: &str, until: Option<std::time::Instant>) -> Error {
    let left = until.map_or(0.0, |u| {
        u.saturating_duration_since(Instant::now().into_std())
            .as_secs_f64()
    });
    Error::with_details(
        ErrorKind::CoolingDown,
        format!("{model} is cooling down after repeated failures ({left:.1}s left); skipped"),
        crate::error::ErrorDetails {
            model: Some(model.to_owned()),
            ..Default::default()
        },
    )
}

/// `{"model":"<model>", ...body}` without re-parsing the body; a `backend::model` chain
/// entry sends its `model` part.
pub fn body_with_model(body: &[u8], model: &str) -> Bytes {
    let model = wire_model(model);
    let rest = body.trim_ascii_start();
    let rest = rest.strip_prefix(b"{").unwrap_or(rest).trim_ascii_start();
    let mut out = BytesMut::with_capacity(body.len() + model.len() + 16);
    out.put_slice(b"{\"model\":");
    // A model id is almost always plain text: quoted as is, as serde_json writes a
    // string with nothing to escape; anything else goes through serde_json.
    if model.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.put_u8(b'"');
        out.put_slice(model.as_bytes());
        out.put_u8(b'"');
    } else {
        out.put_slice(
            serde_json::Value::String(model.to_owned())
                .to_string()
                .as_bytes(),
        );
    }
    if !rest.starts_with(b"}") {
        out.put_u8(b',');
    }
    out.put_slice(rest);
    out.freeze()
}

/// What one attempt produced, for the chain walker and `resp.attempts`.
pub struct AttemptOutcome<T> {
    pub result: Result<T, Error>,
    pub provider: Option<String>,
    pub cost: Option<String>,
    pub first_token: Option<Duration>,
    pub http_version: Option<&'static str>,
}

/// What the chain records about a finished try besides its result.
#[derive(Debug, Clone, Default)]
pub struct TryMeta {
    pub provider: Option<String>,
    pub cost: Option<String>,
    pub first_token: Option<Duration>,
    pub latency: Duration,
    /// Index in the chain of the model that served it (a hedge may serve the next one).
    pub model_index: usize,
    pub hedged: bool,
    pub http_version: Option<&'static str>,
}

/// A try that finished: its result and its metadata.
pub struct Finished<T> {
    pub result: Result<T, Error>,
    pub meta: TryMeta,
}

impl<T> Finished<T> {
    pub fn new(
        outcome: AttemptOutcome<T>,
        latency: Duration,
        model_index: usize,
        hedged: bool,
    ) -> Self {
        Self {
            result: outcome.result,
            meta: TryMeta {
                provider: outcome.provider,
                cost: outcome.cost,
                first_token: outcome.first_token,
                latency,
                model_index,
                hedged,
                http_version: outcome.http_version,
            },
        }
    }
}

impl ChatRequest {
    /// Record a successful try: breaker closed, TTFT sample kept, event emitted.
    fn succeeded(&self, model: &str, retry: u32, latency: Duration, first_token: Option<Duration>) {
        self.health
            .record_success(model, first_token.unwrap_or(latency));
        self.emit(|| ChainEvent {
            status: Some(200),
            latency: Some(latency),
            ..ChainEvent::new(EventKind::Attempt, model, retry)
        });
    }

    /// Record a failed try: breaker counted, events emitted; returns its attempt record.
    pub(crate) fn failed(
        &self,
        model: &str,
        retry: u32,
        error: &mut Error,
        meta: TryMeta,
    ) -> Attempt {
        let opened = self
            .health
            .record_failure(model, error, Instant::now().into_std());
        self.emit(|| ChainEvent {
            status: error.status(),
            error_kind: Some(error.kind()),
            message: Some(error.message().to_owned()),
            latency: Some(meta.latency),
            ..ChainEvent::new(EventKind::Attempt, model, retry)
        });
        if opened {
            self.emit(|| ChainEvent {
                error_kind: Some(error.kind()),
                message: Some(format!("cooling down after: {}", error.message())),
                ..ChainEvent::new(EventKind::Cooldown, model, retry)
            });
        }
        error.details_mut().model = Some(model.to_owned());
        Attempt::tried(model, retry, meta, Some(error))
    }
}

/// Walk the chain: call `attempt(model, body, limit)` per try, retrying the same model
/// with backoff or moving on as [`ErrorKind::action`] says, within the total deadline.
/// With hedging, the chain's first try races the next model (see [`crate::hedge`]).
/// On success returns the attempt's value and every attempt made (the last one is it).
pub async fn walk_chain<T, F, Fut>(
    request: &ChatRequest,
    backoff: &Backoff,
    attempt: F,
) -> Result<(T, Vec<Attempt>), ChainError>
where
    F: Fn(String, Bytes, Option<Duration>) -> Fut,
    Fut: std::future::Future<Output = AttemptOutcome<T>>,
{
    let timeouts = request.timeouts;
    let deadline = timeouts.total.map(|total| Instant::now() + total);
    let health = &request.health;
    let mut attempts = Vec::new();
    let mut last_error = None;
    // When every model is cooling down, skipping them all helps nobody: try them anyway.
    let now = Instant::now().into_std();
    let honour_breakers = request.models.iter().any(|m| !health.is_cooling(m, now));

    'models: for (index, model) in request.models.iter().enumerate() {
        if honour_breakers && health.admit(model, Instant::now().into_std()) == Admission::Skip {
            let error = cooling_error(model, health.cooled_until(model));
            request.emit(|| ChainEvent {
                error_kind: Some(error.kind()),
                message: Some(error.message().to_owned()),
                ..ChainEvent::new(EventKind::Skip, model, 0)
            });
            attempts.push(Attempt::skipped(model, &error));
            last_error = Some(error);
            continue 'models;
        }
        let mut body = body_with_model(&request.body, model);
        let mut ignored_provider = false;
        let mut retry = 0;
        loop {
            let remaining = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            if remaining == Some(Duration::ZERO) {
                last_error = Some(deadline_error(timeouts.total));
                break 'models;
            }
            let hedge = (index == 0 && retry == 0)
                .then(|| crate::hedge::plan(request, honour_breakers))
                .flatten();
            let (finished, extra) = match hedge {
                // Boxed: a race holds two attempts at once; inline, every chain walk
                // (and every opening stream) would carry room for both (issue 11).
                Some(plan) => {
                    Box::pin(crate::hedge::race(
                        request, &attempt, &body, remaining, plan,
                    ))
                    .await
                }
                None => {
                    let started = Instant::now();
                    let outcome = attempt(model.clone(), body.clone(), remaining).await;
                    let latency = started.elapsed();
                    (Finished::new(outcome, latency, index, false), Vec::new())
                }
            };
            attempts.extend(extra);
            let Finished { result, meta } = finished;
            let served = &request.models[meta.model_index];
            let mut error = match result {
                Ok(value) => {
                    request.succeeded(served, retry, meta.latency, meta.first_token);
                    attempts.push(Attempt::tried(served, retry, meta, None));
                    return Ok((value, attempts));
                }
                Err(error) => error,
            };
            attempts.push(request.failed(model, retry, &mut error, meta));
            let action = error.kind().action();
            let action_kind = error.kind();
            let retry_after = error.retry_after();
            let blamed = error.details().provider.clone();
            last_error = Some(error);
            if action == Action::Stop {
                break 'models;
            }
            let failed_retry = retry;
            let failover = |request: &ChatRequest| {
                request.emit(|| ChainEvent {
                    error_kind: Some(action_kind),
                    ..ChainEvent::new(EventKind::Failover, model, failed_retry)
                })
            };
            retry += 1;
            if retry > request.max_retries {
                failover(request);
                continue 'models;
            }
            // A transient failure OpenRouter blames on one provider: the first retry
            // sidesteps that provider (once per model) and needs no backoff. Model-level
            // verdicts (moderation, context length, not found) move on instead.
            if !ignored_provider && action == Action::RetrySameModel {
                if let Some((provider, without)) = blamed
                    .and_then(|p| body_ignoring_provider(&request.body, &p).map(|body| (p, body)))
                {
                    body = body_with_model(&without, model);
                    ignored_provider = true;
                    request.emit(|| ChainEvent {
                        message: Some(format!("retrying without provider {provider}")),
                        ..ChainEvent::new(EventKind::Sidestep, model, retry)
                    });
                    continue;
                }
            }
            if action != Action::RetrySameModel {
                failover(request);
                continue 'models;
            }
            let Some(wait) = backoff.delay(retry - 1, retry_after) else {
                failover(request);
                continue 'models;
            };
            if deadline.is_some_and(|deadline| Instant::now() + wait >= deadline) {
                break 'models;
            }
            request.emit(|| ChainEvent {
                wait: Some(wait),
                ..ChainEvent::new(EventKind::Retry, model, retry)
            });
            tokio::time::sleep(wait).await;
        }
    }

    let error = last_error.unwrap_or_else(|| {
        Error::new(
            ErrorKind::InvalidRequest,
            "no model to try: the chain is empty",
        )
    });
    let models_tried = {
        let mut names: Vec<&str> = attempts.iter().map(|a| a.model.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        names.len()
    };
    let stopped_early = error.kind().action() == Action::Stop;
    Err(ChainError {
        exhausted_chain: request.models.len() > 1 && models_tried > 1 && !stopped_early,
        error,
        attempts,
    })
}

pub fn min_opt(a: Option<Duration>, b: Option<Duration>) -> Option<Duration> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn deadline_error(total: Option<Duration>) -> Error {
    let secs = total.map_or(0.0, |t| t.as_secs_f64());
    Error::new(
        ErrorKind::Timeout,
        format!("the total deadline of {secs:.3}s passed before the chain finished"),
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn attempt(model: &str, cost: Option<&str>, error_kind: Option<ErrorKind>) -> Attempt {
        Attempt {
            model: model.to_owned(),
            provider: None,
            status: None,
            error_kind,
            error: None,
            latency: Duration::ZERO,
            first_token: None,
            cost: cost.map(str::to_owned),
            retry: 0,
            hedged: false,
            http_version: None,
        }
    }

    #[test]
    fn the_answer_cost_is_the_answering_attempts_only() {
        let billed_failure = attempt("a", Some("0.5"), Some(ErrorKind::Stream));
        let answer = attempt("b", Some("0.25"), None);
        assert_eq!(answer_cost(&[billed_failure.clone(), answer]), Some("0.25"));
        // An answer without a reported cost never borrows a failed try's.
        let unpriced = attempt("b", None, None);
        assert_eq!(answer_cost(&[billed_failure, unpriced]), None);
        assert_eq!(answer_cost(&[]), None);
    }

    #[test]
    fn chat_path_carries_the_query_when_given() {
        assert_eq!(chat_path(None), "chat/completions");
        assert_eq!(chat_path(Some("")), "chat/completions");
        assert_eq!(chat_path(Some("a=1&b=x")), "chat/completions?a=1&b=x");
    }

    #[test]
    fn model_is_spliced_in_front() {
        let body = body_with_model(br#"{"messages":[]}"#, "openai/gpt-4o");
        let value: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(value["model"], "openai/gpt-4o");
        assert_eq!(value["messages"], serde_json::json!([]));
    }

    #[test]
    fn a_backend_entry_sends_its_model_part() {
        let body = body_with_model(br#"{"messages":[]}"#, "groq::llama-3.1-8b");
        let value: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(value["model"], "llama-3.1-8b");
    }

    #[test]
    fn model_is_spliced_into_an_empty_object_and_escaped() {
        let body = body_with_model(b" { } ", "we\"ird");
        let value: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(value, serde_json::json!({"model": "we\"ird"}));
    }

    #[test]
    fn a_model_is_written_as_serde_json_writes_it() {
        for model in [
            "openai/gpt-4o",
            "we\"ird",
            "back\\slash",
            "tab\there",
            "nul\u{0}",
            "del\u{7f}",
            "é/ü-模型",
            "",
            "groq::",
            "line\u{2028}sep",
        ] {
            let body = body_with_model(b"{}", model);
            let quoted = serde_json::Value::String(wire_model(model).to_owned()).to_string();
            assert_eq!(
                body,
                format!("{{\"model\":{quoted}}}").as_bytes(),
                "{model:?}"
            );
        }
    }

    #[test]
    fn blamed_provider_is_added_to_ignore_once() {
        let body =
            body_ignoring_provider(br#"{"messages":[],"provider":{"order":["A"]}}"#, "Together")
                .unwrap();
        let value: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(value["provider"]["ignore"], serde_json::json!(["Together"]));
        assert_eq!(value["provider"]["order"], serde_json::json!(["A"]));
        assert!(body_ignoring_provider(&body, "Together").is_none());
    }

    #[test]
    fn backoff_is_jittered_under_an_exponential_ceiling() {
        let backoff = Backoff::default();
        for retry in 0..6 {
            let ceiling = Duration::from_millis(500 * 2u64.pow(retry)).min(backoff.max);
            for _ in 0..50 {
                assert!(backoff.delay(retry, None).unwrap() <= ceiling);
            }
        }
    }

    #[test]
    fn backoff_honours_retry_after_up_to_a_cap() {
        let backoff = Backoff::default();
        assert_eq!(
            backoff.delay(0, Some(Duration::from_secs(3))),
            Some(Duration::from_secs(3))
        );
        assert_eq!(backoff.delay(0, Some(Duration::from_secs(3600))), None);
    }
}
