//! Hedging (opt-in): when the chain's first model has not delivered its first token after
//! a delay (fixed, or the p95 time-to-first-token measured for that model), the next model
//! is started in parallel; the first to deliver wins and the other is cancelled (its
//! connection closed) and recorded as a hedged attempt.

use std::future::Future;
use std::time::Duration;

// Tokio's clock (the std clock outside tests) so paused-time tests can drive the chain.
use tokio::time::Instant;

use bytes::Bytes;

use crate::error::{Error, ErrorKind};
use crate::events::{ChainEvent, EventKind};
use crate::failover::{body_with_model, Attempt, AttemptOutcome, ChatRequest, Finished};

/// When to hedge.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HedgeConfig {
    /// The delay, or the fallback while too few latencies were measured (adaptive).
    pub after: Duration,
    /// Use the p95 time-to-first-token measured for the first model.
    pub adaptive: bool,
}

/// A hedge decided for this request.
#[derive(Debug, Clone, Copy)]
pub struct HedgePlan {
    delay: Duration,
}

/// Hedge this request? Only with a second model that is not cooling down.
pub fn plan(request: &ChatRequest, honour_breakers: bool) -> Option<HedgePlan> {
    let config = request.hedge?;
    let [first, second, ..] = request.models.as_slice() else {
        return None;
    };
    if honour_breakers && request.health.is_cooling(second, Instant::now().into_std()) {
        return None;
    }
    let delay = if config.adaptive {
        request.health.ttft_p95(first).unwrap_or(config.after)
    } else {
        config.after
    };
    Some(HedgePlan { delay })
}

fn cancelled(model: &str, winner: &str, latency: Duration) -> Attempt {
    Attempt {
        model: model.to_owned(),
        provider: None,
        status: None,
        error_kind: Some(ErrorKind::Cancelled),
        error: Some(format!(
            "cancelled: the hedged attempt on {winner} delivered first"
        )),
        latency,
        first_token: None,
        cost: None,
        retry: 0,
        hedged: true,
    }
}

/// The record of a failed hedged try (breaker counted, events emitted).
fn failure<T>(
    request: &ChatRequest,
    model: &str,
    outcome: AttemptOutcome<T>,
    latency: Duration,
) -> Attempt {
    let Finished { result, meta } = Finished::new(outcome, latency, 0, true);
    let mut error = match result {
        Err(error) => error,
        Ok(_) => Error::new(
            ErrorKind::Server,
            "unreachable: recorded a success as a failure",
        ),
    };
    request.failed(model, 0, &mut error, meta)
}

enum First<T> {
    Primary(AttemptOutcome<T>),
    Secondary(AttemptOutcome<T>),
}

/// Race the chain's first model against the second, started after the plan's delay.
/// Returns what served the request (or the first model's failure when both failed) and
/// the records of the other try.
pub async fn race<T, F, Fut>(
    request: &ChatRequest,
    attempt: &F,
    first_body: &Bytes,
    remaining: Option<Duration>,
    plan: HedgePlan,
) -> (Finished<T>, Vec<Attempt>)
where
    F: Fn(String, Bytes, Option<Duration>) -> Fut,
    Fut: Future<Output = AttemptOutcome<T>>,
{
    let (m0, m1) = (&request.models[0], &request.models[1]);
    let started = Instant::now();
    let primary = attempt(m0.clone(), first_body.clone(), remaining);
    tokio::pin!(primary);
    tokio::select! {
        biased;
        outcome = &mut primary => {
            return (Finished::new(outcome, started.elapsed(), 0, false), Vec::new());
        }
        _ = tokio::time::sleep(plan.delay) => {}
    }
    request.emit(|| ChainEvent {
        message: Some(format!(
            "no first token after {:.3}s: also trying {m1}",
            plan.delay.as_secs_f64()
        )),
        ..ChainEvent::new(EventKind::Hedge, m0, 0)
    });
    let hedge_started = Instant::now();
    let left = remaining.map(|r| r.saturating_sub(plan.delay));
    let secondary = attempt(m1.clone(), body_with_model(&request.body, m1), left);
    tokio::pin!(secondary);
    let first = tokio::select! {
        outcome = &mut primary => First::Primary(outcome),
        outcome = &mut secondary => First::Secondary(outcome),
    };
    let won = |outcome, latency, model_index| Finished::new(outcome, latency, model_index, true);
    // Returning drops the other future: its request is cancelled and its connection closed.
    match first {
        First::Primary(outcome) if outcome.result.is_ok() => {
            let loser = cancelled(m1, m0, hedge_started.elapsed());
            (won(outcome, started.elapsed(), 0), vec![loser])
        }
        First::Secondary(outcome) if outcome.result.is_ok() => {
            let loser = cancelled(m0, m1, started.elapsed());
            (won(outcome, hedge_started.elapsed(), 1), vec![loser])
        }
        First::Primary(failed) => {
            let failed_latency = started.elapsed();
            let other = secondary.await;
            let other_latency = hedge_started.elapsed();
            if other.result.is_ok() {
                let record = failure(request, m0, failed, failed_latency);
                (won(other, other_latency, 1), vec![record])
            } else {
                let record = failure(request, m1, other, other_latency);
                (won(failed, failed_latency, 0), vec![record])
            }
        }
        First::Secondary(failed) => {
            let failed_latency = hedge_started.elapsed();
            let record = failure(request, m1, failed, failed_latency);
            let outcome = primary.await;
            (won(outcome, started.elapsed(), 0), vec![record])
        }
    }
}
