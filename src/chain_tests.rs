//! Paused-time tests of the chain walker and hedging: scripted attempts on tokio's test
//! clock, so retries, backoff, Retry-After, deadlines, cooldowns and hedge delays are
//! checked to the millisecond without sleeping on the wall clock.

#![allow(clippy::unwrap_used)]

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use reqwest::header::HeaderMap;
use tokio::time::Instant;

use crate::error::{Error, ErrorDetails, ErrorKind};
use crate::events::{ChainEvent, EventKind, EventSink};
use crate::failover::{walk_chain, Attempt, AttemptOutcome, Backoff, ChainError, ChatRequest};
use crate::health::{BreakerConfig, HealthBook};
use crate::hedge::HedgeConfig;
use crate::transport::Timeouts;

const MS: Duration = Duration::from_millis(1);

/// One scripted try: after `delay` (or when the chain's limit runs out), this result.
struct Reply {
    delay: Duration,
    result: Result<&'static str, Error>,
}

fn ok(delay_ms: u64, answer: &'static str) -> Reply {
    Reply {
        delay: MS * delay_ms as u32,
        result: Ok(answer),
    }
}

fn fail(delay_ms: u64, status: u16, retry_after: Option<Duration>) -> Reply {
    let details = ErrorDetails {
        status: Some(status),
        retry_after,
        ..ErrorDetails::default()
    };
    Reply {
        delay: MS * delay_ms as u32,
        result: Err(Error::with_details(
            ErrorKind::from_status(status),
            format!("HTTP {status}"),
            details,
        )),
    }
}

#[derive(Default)]
struct Script {
    replies: Mutex<HashMap<String, VecDeque<Reply>>>,
    /// `(model, when it was sent)` per try.
    sent: Mutex<Vec<(String, Instant)>>,
}

impl Script {
    fn push(&self, model: &str, replies: impl IntoIterator<Item = Reply>) {
        self.replies
            .lock()
            .unwrap()
            .entry(model.to_owned())
            .or_default()
            .extend(replies);
    }

    fn next(&self, model: &str) -> Reply {
        self.sent
            .lock()
            .unwrap()
            .push((model.to_owned(), Instant::now()));
        self.replies
            .lock()
            .unwrap()
            .get_mut(model)
            .and_then(VecDeque::pop_front)
            .unwrap_or_else(|| panic!("no scripted reply left for {model}"))
    }
}

struct Chain {
    request: ChatRequest,
    events: Arc<Mutex<Vec<ChainEvent>>>,
}

fn chain(models: &[&str], max_retries: u32) -> Chain {
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = {
        let events = events.clone();
        EventSink::new(move |event| events.lock().unwrap().push(event))
    };
    let request = ChatRequest {
        models: models.iter().map(|m| (*m).to_owned()).collect(),
        body: Bytes::from_static(b"{}"),
        headers: HeaderMap::new(),
        max_retries,
        timeouts: Timeouts::default(),
        health: Arc::new(HealthBook::new(None)),
        events: Some(sink),
        hedge: None,
        path: crate::failover::chat_path(None),
    };
    Chain { request, events }
}

impl Chain {
    fn events(&self, kind: EventKind) -> Vec<ChainEvent> {
        let events = self.events.lock().unwrap();
        events.iter().filter(|e| e.kind == kind).cloned().collect()
    }
}

const BACKOFF: Backoff = Backoff {
    base: Duration::from_millis(100),
    max: Duration::from_secs(1),
    max_retry_after: Duration::from_secs(60),
};

/// Walk `request`'s chain against `script`; a try that outlives the chain's limit for
/// it ends as a timeout at that limit, as the transport would.
async fn walk(
    request: &ChatRequest,
    script: &Script,
) -> Result<(&'static str, Vec<Attempt>), ChainError> {
    walk_chain(request, &BACKOFF, |model, _body, limit| {
        let reply = script.next(&model);
        async move {
            let result = match limit {
                Some(limit) if limit < reply.delay => {
                    tokio::time::sleep(limit).await;
                    Err(Error::new(ErrorKind::Timeout, "attempt timed out"))
                }
                _ => {
                    tokio::time::sleep(reply.delay).await;
                    reply.result
                }
            };
            AttemptOutcome {
                result,
                provider: None,
                cost: None,
                first_token: None,
                http_version: None,
            }
        }
    })
    .await
}

#[tokio::test(start_paused = true)]
async fn transient_failures_are_retried_after_jittered_backoff() {
    let script = Script::default();
    script.push(
        "a",
        [fail(10, 503, None), fail(10, 502, None), ok(10, "answer")],
    );
    let chain = chain(&["a"], 2);
    let started = Instant::now();

    let (answer, attempts) = walk(&chain.request, &script).await.unwrap();

    assert_eq!(answer, "answer");
    let retries: Vec<u32> = attempts.iter().map(|a| a.retry).collect();
    assert_eq!(retries, [0, 1, 2]);
    assert_eq!(attempts[2].status, Some(200));
    let waits: Vec<Duration> = chain
        .events(EventKind::Retry)
        .iter()
        .map(|e| e.wait.unwrap())
        .collect();
    assert_eq!(waits.len(), 2);
    assert!(waits[0] <= MS * 100 && waits[1] <= MS * 200, "{waits:?}");
    // The clock moved by the three tries plus exactly the waits announced (timers
    // round up to whole milliseconds).
    let elapsed = started.elapsed();
    let expected = MS * 30 + waits[0] + waits[1];
    assert!(
        elapsed >= expected && elapsed <= expected + MS * 3,
        "{elapsed:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn retry_after_is_waited_exactly() {
    let script = Script::default();
    script.push(
        "a",
        [fail(0, 429, Some(Duration::from_secs(7))), ok(0, "late")],
    );
    let chain = chain(&["a"], 1);

    let (answer, _) = walk(&chain.request, &script).await.unwrap();

    assert_eq!(answer, "late");
    let sent = script.sent.lock().unwrap();
    assert_eq!(sent[1].1 - sent[0].1, Duration::from_secs(7));
    assert_eq!(
        chain.events(EventKind::Retry)[0].wait,
        Some(Duration::from_secs(7))
    );
}

#[tokio::test(start_paused = true)]
async fn a_retry_after_beyond_the_cap_fails_over_at_once() {
    let script = Script::default();
    script.push("a", [fail(0, 429, Some(Duration::from_secs(3600)))]);
    script.push("b", [ok(0, "from b")]);
    let chain = chain(&["a", "b"], 3);
    let started = Instant::now();

    let (answer, attempts) = walk(&chain.request, &script).await.unwrap();

    assert_eq!(answer, "from b");
    assert_eq!(started.elapsed(), Duration::ZERO);
    assert_eq!(attempts.len(), 2);
    let failovers = chain.events(EventKind::Failover);
    assert_eq!(failovers.len(), 1);
    assert_eq!(failovers[0].model, "a");
    assert!(chain.events(EventKind::Retry).is_empty());
}

#[tokio::test(start_paused = true)]
async fn request_errors_stop_the_chain_without_waiting() {
    let script = Script::default();
    script.push("a", [fail(5, 400, None)]);
    let chain = chain(&["a", "b"], 3);

    let failure = walk(&chain.request, &script).await.unwrap_err();

    assert_eq!(failure.error.kind(), ErrorKind::BadRequest);
    assert_eq!(failure.attempts.len(), 1);
    assert!(!failure.exhausted_chain);
    assert_eq!(script.sent.lock().unwrap().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn the_total_deadline_bounds_tries_and_backoff() {
    let script = Script::default();
    // Each try would take 400 ms and ask for a 300 ms pause; the deadline is 1 s.
    let slow_failure = || fail(400, 503, Some(MS * 300));
    script.push("a", [slow_failure(), slow_failure(), slow_failure()]);
    let mut chain = chain(&["a"], 5);
    chain.request.timeouts.total = Some(Duration::from_secs(1));
    let started = Instant::now();

    let failure = walk(&chain.request, &script).await.unwrap_err();

    // 0-400 try, 400-700 wait, 700-1000 try cut short at the deadline: no third try.
    assert_eq!(started.elapsed(), Duration::from_secs(1));
    assert_eq!(failure.error.kind(), ErrorKind::Timeout);
    assert_eq!(failure.attempts.len(), 2);
    assert_eq!(failure.attempts[1].error_kind, Some(ErrorKind::Timeout));
}

#[tokio::test(start_paused = true)]
async fn an_open_breaker_skips_the_model_until_its_cooldown_ends() {
    let script = Script::default();
    script.push("a", [fail(0, 503, None), ok(0, "a is back")]);
    script.push("b", [ok(0, "b 1"), ok(0, "b 2")]);
    let mut chain = chain(&["a", "b"], 0);
    chain.request.health = Arc::new(HealthBook::new(Some(BreakerConfig {
        failures: 1,
        cooldown: Duration::from_secs(30),
    })));

    // a fails once: its breaker opens and b answers.
    let (answer, _) = walk(&chain.request, &script).await.unwrap();
    assert_eq!(answer, "b 1");
    assert_eq!(chain.events(EventKind::Cooldown).len(), 1);

    // 29 s later a is still cooling: skipped without being sent.
    tokio::time::advance(Duration::from_secs(29)).await;
    let (answer, attempts) = walk(&chain.request, &script).await.unwrap();
    assert_eq!(answer, "b 2");
    assert_eq!(attempts[0].error_kind, Some(ErrorKind::CoolingDown));
    assert_eq!(chain.events(EventKind::Skip).len(), 1);

    // After the cooldown one probe goes to a, and it answers.
    tokio::time::advance(Duration::from_secs(2)).await;
    let (answer, attempts) = walk(&chain.request, &script).await.unwrap();
    assert_eq!(answer, "a is back");
    assert_eq!(attempts.len(), 1);
    let sent: Vec<String> = script
        .sent
        .lock()
        .unwrap()
        .iter()
        .map(|s| s.0.clone())
        .collect();
    assert_eq!(sent, ["a", "b", "b", "a"]);
}

fn hedged(models: &[&str], after_ms: u64) -> Chain {
    let mut chain = chain(models, 0);
    chain.request.hedge = Some(HedgeConfig {
        after: MS * after_ms as u32,
        adaptive: false,
    });
    chain
}

#[tokio::test(start_paused = true)]
async fn a_slow_first_model_is_hedged_and_the_faster_one_wins() {
    let script = Script::default();
    script.push("a", [ok(5_000, "slow a")]);
    script.push("b", [ok(1_000, "fast b")]);
    let chain = hedged(&["a", "b"], 1_000);
    let started = Instant::now();

    let (answer, attempts) = walk(&chain.request, &script).await.unwrap();

    assert_eq!(answer, "fast b");
    // b starts at the hedge delay (1 s) and answers 1 s later; a is cancelled then.
    assert_eq!(started.elapsed(), Duration::from_secs(2));
    assert_eq!(attempts.len(), 2);
    assert_eq!(attempts[0].model, "a");
    assert_eq!(attempts[0].error_kind, Some(ErrorKind::Cancelled));
    assert!(attempts[0].hedged);
    assert_eq!(
        (attempts[1].model.as_str(), attempts[1].hedged),
        ("b", true)
    );
    assert_eq!(attempts[1].latency, Duration::from_secs(1));
    assert_eq!(chain.events(EventKind::Hedge).len(), 1);
    let sent = script.sent.lock().unwrap();
    assert_eq!(sent[1].1 - sent[0].1, Duration::from_secs(1));
}

#[tokio::test(start_paused = true)]
async fn the_first_model_still_wins_if_it_answers_before_the_hedge() {
    let script = Script::default();
    script.push("a", [ok(1_500, "a")]);
    script.push("b", [ok(1_000, "b")]);
    let chain = hedged(&["a", "b"], 1_000);

    let (answer, attempts) = walk(&chain.request, &script).await.unwrap();

    assert_eq!(answer, "a");
    assert_eq!(attempts[0].model, "b");
    assert_eq!(attempts[0].error_kind, Some(ErrorKind::Cancelled));
    assert_eq!(attempts[1].model, "a");
    assert_eq!(attempts[1].latency, MS * 1_500);
}

#[tokio::test(start_paused = true)]
async fn a_fast_first_model_is_never_hedged() {
    let script = Script::default();
    script.push("a", [ok(999, "a")]);
    let chain = hedged(&["a", "b"], 1_000);

    let (answer, attempts) = walk(&chain.request, &script).await.unwrap();

    assert_eq!(answer, "a");
    assert_eq!(attempts.len(), 1);
    assert!(!attempts[0].hedged);
    assert!(chain.events(EventKind::Hedge).is_empty());
    assert_eq!(script.sent.lock().unwrap().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_failed_hedge_leaves_the_first_model_to_answer() {
    let script = Script::default();
    script.push("a", [ok(3_000, "a")]);
    script.push("b", [fail(500, 503, None)]);
    let chain = hedged(&["a", "b"], 1_000);
    let started = Instant::now();

    let (answer, attempts) = walk(&chain.request, &script).await.unwrap();

    assert_eq!(answer, "a");
    assert_eq!(started.elapsed(), Duration::from_secs(3));
    assert_eq!(attempts[0].model, "b");
    assert_eq!(attempts[0].error_kind, Some(ErrorKind::ServiceUnavailable));
    assert_eq!(attempts[1].model, "a");
}
