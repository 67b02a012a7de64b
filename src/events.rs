//! What a chain reports as it goes: each attempt, retry, provider sidestep, failover and
//! cooldown, for the user's `on_event` hook and debug logging.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::error::ErrorKind;

/// What kind of step a [`ChainEvent`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// A try finished (successfully or not).
    Attempt,
    /// The same model is retried after a backoff.
    Retry,
    /// Retrying without the provider OpenRouter blamed.
    Sidestep,
    /// Leaving a model for the next one.
    Failover,
    /// A model's circuit breaker opened.
    Cooldown,
    /// A cooling model was passed over.
    Skip,
    /// The first model was slow: the next one was started in parallel.
    Hedge,
}

impl EventKind {
    /// Stable snake_case name, shared with Python (`ChainEvent.type`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Attempt => "attempt",
            Self::Retry => "retry",
            Self::Sidestep => "sidestep",
            Self::Failover => "failover",
            Self::Cooldown => "cooldown",
            Self::Skip => "skip",
            Self::Hedge => "hedge",
        }
    }
}

/// One thing that happened while walking a chain.
#[derive(Debug, Clone, PartialEq)]
pub struct ChainEvent {
    pub kind: EventKind,
    pub model: String,
    pub retry: u32,
    pub status: Option<u16>,
    pub error_kind: Option<ErrorKind>,
    pub message: Option<String>,
    /// For `retry`: the backoff about to be slept.
    pub wait: Option<Duration>,
    /// For `attempt`: how long it took.
    pub latency: Option<Duration>,
}

impl ChainEvent {
    pub fn new(kind: EventKind, model: &str, retry: u32) -> Self {
        Self {
            kind,
            model: model.to_owned(),
            retry,
            status: None,
            error_kind: None,
            message: None,
            wait: None,
            latency: None,
        }
    }
}

/// Receives events as they happen (on an I/O thread).
#[derive(Clone)]
pub struct EventSink(Arc<dyn Fn(ChainEvent) + Send + Sync>);

impl EventSink {
    pub fn new(f: impl Fn(ChainEvent) + Send + Sync + 'static) -> Self {
        Self(Arc::new(f))
    }

    pub fn emit(&self, event: ChainEvent) {
        (self.0)(event);
    }
}

impl fmt::Debug for EventSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EventSink")
    }
}
