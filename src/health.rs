//! Per-model circuit breakers: a model that keeps failing is cooled down and skipped by
//! chains until its cooldown ends; then one half-open probe decides whether it is back.
//! A spent quota (OpenRouter's free-model daily cap) cools the model until the reset.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use crate::error::{Action, Error, ErrorKind};

/// When to open a model's breaker and for how long.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BreakerConfig {
    /// Consecutive failed attempts that open the breaker.
    pub failures: u32,
    pub cooldown: Duration,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            failures: 3,
            cooldown: Duration::from_secs(30),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    Closed,
    Open,
    HalfOpen,
}

impl BreakerState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Open => "open",
            Self::HalfOpen => "half_open",
        }
    }
}

/// What a chain may do with a model right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Allowed,
    /// The cooldown ended: this request is the one probe.
    Probe,
    /// Cooling down (or another request is probing).
    Skip,
}

#[derive(Debug, Clone)]
struct ModelHealth {
    state: BreakerState,
    failures: u32,
    cooled_until: Option<Instant>,
    reason: Option<String>,
}

impl Default for ModelHealth {
    fn default() -> Self {
        Self {
            state: BreakerState::Closed,
            failures: 0,
            cooled_until: None,
            reason: None,
        }
    }
}

/// A model's health as reported to users.
#[derive(Debug, Clone, PartialEq)]
pub struct HealthReport {
    pub model: String,
    pub state: BreakerState,
    pub failures: u32,
    /// Wall-clock end of the cooldown, when cooling.
    pub cooled_until: Option<SystemTime>,
    pub reason: Option<String>,
}

/// The breakers of one client, shared by all its requests.
#[derive(Debug, Default)]
pub struct HealthBook {
    config: Option<BreakerConfig>,
    models: Mutex<HashMap<String, ModelHealth>>,
    /// Recent times to first token per model, for adaptive hedging.
    first_tokens: Mutex<HashMap<String, VecDeque<Duration>>>,
}

/// First-token samples kept per model, and needed before a p95 is trusted.
const TTFT_WINDOW: usize = 64;
const TTFT_MIN_SAMPLES: usize = 8;

/// Whether a failure says something about the model (not about the request or account).
fn counts_against_model(kind: ErrorKind) -> bool {
    kind.action() != Action::Stop
}

impl HealthBook {
    /// `None` disables breakers (nothing is ever skipped).
    pub fn new(config: Option<BreakerConfig>) -> Self {
        Self {
            config,
            models: Mutex::default(),
            first_tokens: Mutex::default(),
        }
    }

    fn models(&self) -> MutexGuard<'_, HashMap<String, ModelHealth>> {
        self.models.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn admit(&self, model: &str, now: Instant) -> Admission {
        let mut models = self.models();
        let Some(health) = models.get_mut(model) else {
            return Admission::Allowed;
        };
        match health.state {
            BreakerState::Closed => Admission::Allowed,
            BreakerState::HalfOpen => Admission::Skip,
            BreakerState::Open => {
                if health.cooled_until.is_some_and(|until| now < until) {
                    Admission::Skip
                } else {
                    health.state = BreakerState::HalfOpen;
                    Admission::Probe
                }
            }
        }
    }

    /// Open and not yet due for a probe, or being probed (no side effects).
    pub fn is_cooling(&self, model: &str, now: Instant) -> bool {
        self.models().get(model).is_some_and(|h| match h.state {
            BreakerState::Closed => false,
            BreakerState::HalfOpen => true,
            BreakerState::Open => h.cooled_until.is_some_and(|until| now < until),
        })
    }

    /// When the model's cooldown ends.
    pub fn cooled_until(&self, model: &str) -> Option<Instant> {
        self.models().get(model).and_then(|h| h.cooled_until)
    }

    /// A successful try: closes the breaker and keeps the time to first token.
    pub fn record_success(&self, model: &str, first_token: Duration) {
        {
            let mut samples = self.first_tokens.lock().unwrap_or_else(|p| p.into_inner());
            // get_mut first: no key allocation on the hot path once the model is known.
            match samples.get_mut(model) {
                Some(window) => {
                    if window.len() == TTFT_WINDOW {
                        window.pop_front();
                    }
                    window.push_back(first_token);
                }
                None => {
                    samples.insert(model.to_owned(), VecDeque::from([first_token]));
                }
            }
        }
        if self.config.is_none() {
            return;
        }
        if let Some(health) = self.models().get_mut(model) {
            *health = ModelHealth::default();
        }
    }

    /// The median recent time to first token of every model measured so far.
    pub fn ttft_medians(&self) -> Vec<(String, Duration)> {
        let samples = self.first_tokens.lock().unwrap_or_else(|p| p.into_inner());
        samples
            .iter()
            .filter(|(_, window)| !window.is_empty())
            .map(|(model, window)| {
                let mut sorted: Vec<Duration> = window.iter().copied().collect();
                sorted.sort_unstable();
                (model.clone(), sorted[sorted.len() / 2])
            })
            .collect()
    }

    /// The 95th percentile of the model's recent times to first token, once there are
    /// enough samples.
    pub fn ttft_p95(&self, model: &str) -> Option<Duration> {
        let samples = self.first_tokens.lock().unwrap_or_else(|p| p.into_inner());
        let window = samples.get(model).filter(|w| w.len() >= TTFT_MIN_SAMPLES)?;
        let mut sorted: Vec<Duration> = window.iter().copied().collect();
        sorted.sort_unstable();
        let rank = (sorted.len() * 95).div_ceil(100).saturating_sub(1);
        sorted.get(rank).copied()
    }

    /// Count a failed attempt; open the breaker after too many, or at once for a spent
    /// quota (until its reset). True when this failure opened the breaker.
    pub fn record_failure(&self, model: &str, error: &Error, now: Instant) -> bool {
        let Some(config) = self.config else {
            return false;
        };
        if !counts_against_model(error.kind()) {
            return false;
        }
        let mut models = self.models();
        let health = models.entry(model.to_owned()).or_default();
        health.failures += 1;
        let quota = error.kind() == ErrorKind::QuotaExhausted;
        let probe_failed = health.state == BreakerState::HalfOpen;
        if quota || probe_failed || health.failures >= config.failures {
            let cooldown = if quota {
                error
                    .retry_after()
                    .unwrap_or(config.cooldown)
                    .max(config.cooldown)
            } else {
                config.cooldown
            };
            health.state = BreakerState::Open;
            health.cooled_until = Some(now + cooldown);
            health.reason = Some(format!("{}: {}", error.kind().as_str(), error.message()));
            return true;
        }
        false
    }

    pub fn report(&self) -> Vec<HealthReport> {
        let now = Instant::now();
        let wall = SystemTime::now();
        let mut out: Vec<HealthReport> = self
            .models()
            .iter()
            .map(|(model, health)| HealthReport {
                model: model.clone(),
                state: health.state,
                failures: health.failures,
                cooled_until: health
                    .cooled_until
                    .filter(|until| *until > now)
                    .map(|until| wall + (until - now)),
                reason: health.reason.clone(),
            })
            .collect();
        out.sort_by(|a, b| a.model.cmp(&b.model));
        out
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::error::ErrorDetails;

    fn failure(kind: ErrorKind) -> Error {
        Error::new(kind, "boom")
    }

    fn book() -> HealthBook {
        HealthBook::new(Some(BreakerConfig {
            failures: 2,
            cooldown: Duration::from_secs(10),
        }))
    }

    #[test]
    fn opens_after_consecutive_failures_and_probes_after_cooldown() {
        let book = book();
        let t0 = Instant::now();
        book.record_failure("m", &failure(ErrorKind::Server), t0);
        assert_eq!(book.admit("m", t0), Admission::Allowed);
        book.record_failure("m", &failure(ErrorKind::Server), t0);
        assert_eq!(
            book.admit("m", t0 + Duration::from_secs(5)),
            Admission::Skip
        );
        let later = t0 + Duration::from_secs(11);
        assert_eq!(book.admit("m", later), Admission::Probe);
        assert_eq!(
            book.admit("m", later),
            Admission::Skip,
            "one probe at a time"
        );
        book.record_success("m", Duration::from_millis(5));
        assert_eq!(book.admit("m", later), Admission::Allowed);
        assert_eq!(book.report()[0].state, BreakerState::Closed);
    }

    #[test]
    fn a_failed_probe_reopens_at_once() {
        let book = book();
        let t0 = Instant::now();
        book.record_failure("m", &failure(ErrorKind::Server), t0);
        book.record_failure("m", &failure(ErrorKind::Server), t0);
        let later = t0 + Duration::from_secs(11);
        assert_eq!(book.admit("m", later), Admission::Probe);
        book.record_failure("m", &failure(ErrorKind::Timeout), later);
        assert_eq!(
            book.admit("m", later + Duration::from_secs(1)),
            Admission::Skip
        );
    }

    #[test]
    fn request_errors_do_not_count() {
        let book = book();
        let t0 = Instant::now();
        for _ in 0..5 {
            book.record_failure("m", &failure(ErrorKind::BadRequest), t0);
            book.record_failure("m", &failure(ErrorKind::Authentication), t0);
        }
        assert_eq!(book.admit("m", t0), Admission::Allowed);
    }

    #[test]
    fn spent_quota_cools_until_the_reset() {
        let book = book();
        let t0 = Instant::now();
        let quota = Error::with_details(
            ErrorKind::QuotaExhausted,
            "free-models-per-day",
            ErrorDetails {
                retry_after: Some(Duration::from_secs(3600)),
                ..ErrorDetails::default()
            },
        );
        book.record_failure("m:free", &quota, t0);
        assert_eq!(
            book.admit("m:free", t0 + Duration::from_secs(600)),
            Admission::Skip
        );
        assert_eq!(
            book.admit("m:free", t0 + Duration::from_secs(3601)),
            Admission::Probe
        );
    }

    #[test]
    fn ttft_p95_needs_enough_samples() {
        let book = HealthBook::new(None);
        for ms in 1..=7 {
            book.record_success("m", Duration::from_millis(ms * 10));
        }
        assert_eq!(book.ttft_p95("m"), None);
        for ms in 8..=20 {
            book.record_success("m", Duration::from_millis(ms * 10));
        }
        assert_eq!(book.ttft_p95("m"), Some(Duration::from_millis(190)));
    }

    #[test]
    fn disabled_book_never_skips() {
        let book = HealthBook::new(None);
        let t0 = Instant::now();
        for _ in 0..10 {
            book.record_failure("m", &failure(ErrorKind::Server), t0);
        }
        assert_eq!(book.admit("m", t0), Admission::Allowed);
        assert!(book.report().is_empty());
    }
}
