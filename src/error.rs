//! One error type for the whole core.
//!
//! Every failure carries an [`ErrorKind`]; failover and the Python mapping decide by kind
//! (and HTTP status), never by matching message text, which is not API. Nothing here ever
//! holds request headers, so the API key cannot leak through an error.

use std::fmt;
use std::time::Duration;

use serde_json::value::RawValue;
use serde_json::Value;

/// What went wrong, at the granularity failover needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// Bad arguments or configuration detected before sending (missing key, bad URL).
    InvalidRequest,
    /// Could not connect, or the connection broke before a full response.
    Connection,
    /// The connection cannot succeed as configured (an untrusted, expired or wrong-host
    /// certificate, a proxy wanting credentials, http:// vs https:// mismatch): the same
    /// host would fail again, so neither a retry nor the next model can help.
    ConnectionSetup,
    /// A connect, read, first-token or attempt timeout expired.
    Timeout,
    /// 400 and other request errors no model can fix (413, ...).
    BadRequest,
    /// The prompt does not fit the model's context window (a 400 with a typed error).
    ContextLengthExceeded,
    /// The requested model id is unknown (a 400 with `availability.code: model_not_found`).
    ModelNotFound,
    /// 401: missing, invalid or disabled key.
    Authentication,
    /// 402: not enough credits.
    InsufficientCredits,
    /// 403: moderation, guardrail, permissions, region.
    PermissionDenied,
    /// 404: no routable endpoint for the model.
    NotFound,
    /// 408 from the server.
    RequestTimeout,
    /// 409: the request conflicts with the current state of a resource.
    Conflict,
    /// 422: well-formed but semantically invalid.
    UnprocessableEntity,
    /// 429: rate limited (platform or upstream provider).
    RateLimited,
    /// 429 for a spent quota (OpenRouter's free-model daily cap): not worth retrying
    /// before the reset, so the model is cooled down and the chain moves on.
    QuotaExhausted,
    /// The model was skipped: its circuit breaker is open (recorded, never sent).
    CoolingDown,
    /// A hedged try that lost the race and was cancelled (recorded only).
    Cancelled,
    /// 502: the upstream provider failed.
    Provider,
    /// 503: no provider available right now.
    ServiceUnavailable,
    /// Any other 5xx (500, 504, 524, 529, ...).
    Server,
    /// Another HTTP status without a more specific kind.
    Status,
    /// A success status whose body is not the expected JSON.
    InvalidResponse,
    /// A bug in fastrouter (a task panicked): reported, never a hang or a crash.
    Internal,
    /// A stream was cut or failed in-band. Before its first content this is retried like
    /// any transient failure; after it, the stream raises instead of switching models.
    Stream,
    /// A stream stopped after it began because a timeout expired (the idle timeout or the
    /// total deadline): both a stream failure (with its partial) and a timeout.
    StreamTimeout,
}

/// What a model chain should do after an attempt failed with this kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Transient: try the same model again (after backoff).
    RetrySameModel,
    /// This model cannot serve the request: move on to the next model.
    NextModel,
    /// No model can fix this: stop the whole chain.
    Stop,
}

impl ErrorKind {
    /// The kind for an HTTP error status (before looking at typed error bodies).
    pub fn from_status(status: u16) -> Self {
        match status {
            400 | 413 => Self::BadRequest,
            401 => Self::Authentication,
            402 => Self::InsufficientCredits,
            403 => Self::PermissionDenied,
            404 => Self::NotFound,
            408 => Self::RequestTimeout,
            409 => Self::Conflict,
            422 => Self::UnprocessableEntity,
            429 => Self::RateLimited,
            502 => Self::Provider,
            503 => Self::ServiceUnavailable,
            500..=599 => Self::Server,
            _ => Self::Status,
        }
    }

    /// Stable snake_case name, shared with Python (`exc.kind`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::Connection => "connection",
            Self::ConnectionSetup => "connection_setup",
            Self::Timeout => "timeout",
            Self::BadRequest => "bad_request",
            Self::ContextLengthExceeded => "context_length_exceeded",
            Self::ModelNotFound => "model_not_found",
            Self::Authentication => "authentication",
            Self::InsufficientCredits => "insufficient_credits",
            Self::PermissionDenied => "permission_denied",
            Self::NotFound => "not_found",
            Self::RequestTimeout => "request_timeout",
            Self::Conflict => "conflict",
            Self::UnprocessableEntity => "unprocessable_entity",
            Self::RateLimited => "rate_limited",
            Self::QuotaExhausted => "quota_exhausted",
            Self::CoolingDown => "cooling_down",
            Self::Cancelled => "cancelled",
            Self::Provider => "provider",
            Self::ServiceUnavailable => "service_unavailable",
            Self::Server => "server",
            Self::Status => "status",
            Self::InvalidResponse => "invalid_response",
            Self::Internal => "internal",
            Self::Stream => "stream",
            Self::StreamTimeout => "stream_timeout",
        }
    }

    /// The failover decision for this kind: the one place that classifies.
    pub fn action(self) -> Action {
        match self {
            Self::Connection
            | Self::Timeout
            | Self::RequestTimeout
            | Self::RateLimited
            | Self::Provider
            | Self::ServiceUnavailable
            | Self::Server
            | Self::InvalidResponse
            | Self::Stream
            | Self::StreamTimeout => Action::RetrySameModel,
            Self::ContextLengthExceeded
            | Self::ModelNotFound
            | Self::PermissionDenied
            | Self::NotFound
            | Self::QuotaExhausted
            | Self::CoolingDown
            | Self::Cancelled => Action::NextModel,
            Self::InvalidRequest
            | Self::ConnectionSetup
            | Self::BadRequest
            | Self::Authentication
            | Self::InsufficientCredits
            | Self::Conflict
            | Self::UnprocessableEntity
            | Self::Internal
            | Self::Status => Action::Stop,
        }
    }

    pub fn is_retryable(self) -> bool {
        self.action() == Action::RetrySameModel
    }
}

/// The details of one failure. Boxed inside [`Error`] so `Result`s stay small.
#[derive(Debug, Clone, Default)]
pub struct ErrorDetails {
    /// HTTP status, when a response (or an in-body error code) said one.
    pub status: Option<u16>,
    /// OpenRouter's `error.code` as sent (usually the status, sometimes a string).
    pub code: Option<Value>,
    /// `error.metadata` (provider_name, raw, reasons, flagged_input, headers, ...).
    pub metadata: Option<Value>,
    /// The error object as sent (in a stream, a 200 body or a non-2xx one): the facade
    /// reads `code` and `metadata` from it as `json.loads` does (`1e400` is inf, big
    /// integers exact, `-0` is 0), which the core's lenient trees above cannot hold.
    pub sent: Option<Box<RawValue>>,
    /// How long the server asked us to wait before retrying.
    pub retry_after: Option<Duration>,
    /// `X-Generation-Id` / `x-request-id` of the failed response, if any.
    pub request_id: Option<String>,
    /// The upstream provider OpenRouter named, if any.
    pub provider: Option<String>,
    /// The model this attempt asked for.
    pub model: Option<String>,
    /// A short, printable prefix of a body that was not JSON (e.g. a proxy's HTML page).
    pub body_snippet: Option<String>,
    /// The response's headers as `name: value` lines (the facade's `e.response.headers`).
    pub headers: Option<String>,
}

/// A core error: a kind, a human message and the details OpenRouter gave.
#[derive(Clone)]
pub struct Error {
    kind: ErrorKind,
    message: String,
    details: Box<ErrorDetails>,
}

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            details: Box::default(),
        }
    }

    pub fn with_details(
        kind: ErrorKind,
        message: impl Into<String>,
        details: ErrorDetails,
    ) -> Self {
        Self {
            kind,
            message: message.into(),
            details: Box::new(details),
        }
    }

    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    pub fn details(&self) -> &ErrorDetails {
        &self.details
    }

    pub fn details_mut(&mut self) -> &mut ErrorDetails {
        &mut self.details
    }

    pub fn status(&self) -> Option<u16> {
        self.details.status
    }

    pub fn retry_after(&self) -> Option<Duration> {
        self.details.retry_after
    }

    pub fn is_timeout(&self) -> bool {
        matches!(self.kind, ErrorKind::Timeout | ErrorKind::StreamTimeout)
    }

    /// Build from a reqwest failure; the URL is stripped (it could carry a query secret).
    pub fn from_transport(err: reqwest::Error) -> Self {
        let kind = if err.is_timeout() {
            ErrorKind::Timeout
        } else if err.is_builder() {
            ErrorKind::InvalidRequest
        } else {
            ErrorKind::Connection
        };
        let err = err.without_url();
        let mut message = err.to_string();
        let mut source = std::error::Error::source(&err);
        while let Some(cause) = source {
            // A body-kind layer adds nothing: `reqwest::Body` wraps a wrapped body's own
            // error in one (reqwest's own bodies have none: fastrouter sets no body timeout
            // of reqwest's), so a body error reads as `diagnose::plain_body_error` words
            // the plain path's.
            let next = cause.source();
            if next.is_some()
                && cause
                    .downcast_ref::<reqwest::Error>()
                    .is_some_and(reqwest::Error::is_body)
            {
                source = next;
                continue;
            }
            message.push_str(": ");
            message.push_str(&cause.to_string());
            source = cause.source();
        }
        Self::new(kind, message)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("kind", &self.kind)
            .field("message", &self.message)
            .field("status", &self.details.status)
            .finish_non_exhaustive()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(status) = self.details.status {
            write!(f, " (HTTP {status})")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_kinds() {
        assert_eq!(ErrorKind::from_status(400), ErrorKind::BadRequest);
        assert_eq!(ErrorKind::from_status(401), ErrorKind::Authentication);
        assert_eq!(ErrorKind::from_status(402), ErrorKind::InsufficientCredits);
        assert_eq!(ErrorKind::from_status(403), ErrorKind::PermissionDenied);
        assert_eq!(ErrorKind::from_status(404), ErrorKind::NotFound);
        assert_eq!(ErrorKind::from_status(408), ErrorKind::RequestTimeout);
        assert_eq!(ErrorKind::from_status(409), ErrorKind::Conflict);
        assert_eq!(ErrorKind::from_status(413), ErrorKind::BadRequest);
        assert_eq!(ErrorKind::from_status(418), ErrorKind::Status);
        assert_eq!(ErrorKind::from_status(422), ErrorKind::UnprocessableEntity);
        assert_eq!(ErrorKind::from_status(429), ErrorKind::RateLimited);
        assert_eq!(ErrorKind::from_status(500), ErrorKind::Server);
        assert_eq!(ErrorKind::from_status(502), ErrorKind::Provider);
        assert_eq!(ErrorKind::from_status(503), ErrorKind::ServiceUnavailable);
        assert_eq!(ErrorKind::from_status(524), ErrorKind::Server);
        assert_eq!(ErrorKind::from_status(529), ErrorKind::Server);
    }

    #[test]
    fn actions_follow_the_classification_table() {
        let table = [
            (
                Action::RetrySameModel,
                &[
                    ErrorKind::Connection,
                    ErrorKind::Timeout,
                    ErrorKind::RequestTimeout,
                    ErrorKind::RateLimited,
                    ErrorKind::Server,
                    ErrorKind::Provider,
                    ErrorKind::ServiceUnavailable,
                ][..],
            ),
            (
                Action::NextModel,
                &[
                    ErrorKind::NotFound,
                    ErrorKind::QuotaExhausted,
                    ErrorKind::ModelNotFound,
                    ErrorKind::ContextLengthExceeded,
                    ErrorKind::PermissionDenied,
                ],
            ),
            (
                Action::Stop,
                &[
                    ErrorKind::BadRequest,
                    ErrorKind::Authentication,
                    ErrorKind::InsufficientCredits,
                    ErrorKind::InvalidRequest,
                    ErrorKind::Conflict,
                    ErrorKind::UnprocessableEntity,
                ],
            ),
        ];
        for (action, kinds) in table {
            for &kind in kinds {
                assert_eq!(kind.action(), action, "{kind:?}");
            }
        }
    }

    #[test]
    fn display_has_message_and_status_only() {
        let err = Error::with_details(
            ErrorKind::RateLimited,
            "slow down",
            ErrorDetails {
                status: Some(429),
                ..ErrorDetails::default()
            },
        );
        assert_eq!(err.to_string(), "slow down (HTTP 429)");
        assert!(err.kind().is_retryable());
    }
}
