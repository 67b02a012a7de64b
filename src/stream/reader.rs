//! The streaming read loop: open the stream over the model chain, then read, parse and
//! hand over batches of chunks through a bounded channel.
//!
//! Failover is transparent until the first content: chunks that arrive before it (role,
//! keep-alives) are held back, so a retry or the next model starts from nothing. After
//! content was handed over the stream is never switched: a failure becomes a
//! `StreamError` with what was received (the shared [`Accumulator`]).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use reqwest::header::{HeaderMap, CONTENT_TYPE};
use tokio::time::timeout_at;

use crate::error::{Error, ErrorDetails, ErrorKind};
use crate::failover::{
    min_opt, walk_chain, Attempt, AttemptOutcome, Backoff, ChainError, ChatRequest,
};
use crate::http_response::HttpResponse;
use crate::read_timeout;
use crate::response::{check_chat_body, error_from_response, header_block};
use crate::stream::accumulate::Accumulator;
use crate::stream::channel::Sender;
use crate::stream::chunk::Chunk;
use crate::stream::decoder::StreamDecoder;
use crate::transport::{read_bounded, version_name, Transport};

/// Batches in flight between the reader task and the consumer: enough to keep the
/// reader busy (the consumer takes every ready batch at once), small enough that a slow
/// consumer pushes back on the socket instead of holding parsed chunks (memory per open
/// stream).
pub const CHANNEL_BATCHES: usize = 8;

/// Bounds on reading what follows `[DONE]` (see [`drain`]): the stream's end waits at
/// most this long for the body to finish, so a slow or chatty server costs a connection,
/// never the caller's time.
const DRAIN_TIME: Duration = Duration::from_millis(500);
const DRAIN_BYTES: usize = 64 * 1024;

/// What the reader task sends.
#[derive(Debug)]
pub enum StreamMsg {
    /// Parsed chunks, in order.
    Batch(Vec<Arc<Chunk>>),
    /// One parsed chunk: what a read usually brings (an event per chunk of the body),
    /// sent without a `Vec` to allocate here and free on the consumer's thread.
    One(Arc<Chunk>),
    /// The stream ended normally; every attempt of the chain.
    End(Vec<Attempt>),
    /// The stream failed (before content: the chain's error; after: kind `Stream`).
    /// Boxed: every slot of the channel is as big as the largest message.
    Failed(Box<ChainError>),
}

/// State shared between the reader task and the consumer.
#[derive(Debug, Default)]
pub struct StreamShared {
    accumulator: Mutex<Accumulator>,
    /// OpenRouter keep-alive comments received (liveness, not progress).
    pub keepalives: AtomicU64,
    /// The committed response's headers as `name: value` lines (`stream.response.headers`).
    pub response_headers: Mutex<Option<Arc<str>>>,
}

impl StreamShared {
    pub fn accumulator(&self) -> MutexGuard<'_, Accumulator> {
        self.accumulator
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// An attempt that reached its first content (or ended cleanly without any).
struct Committed {
    response: HttpResponse,
    /// The response's headers as a [`header_block`]: an open stream keeps this text, not
    /// a header map (memory per open stream; in-band errors rebuild the map).
    headers: Arc<str>,
    decoder: StreamDecoder,
    pending: Vec<Arc<Chunk>>,
    started: Instant,
    ended: bool,
    /// A failure in the same read that brought the first content: raised after it.
    failure: Option<Error>,
}

fn timeout_error(what: &str, limit: Option<Duration>, keepalives: u64) -> Error {
    let secs = limit.map_or(0.0, |d| d.as_secs_f64());
    Error::new(
        ErrorKind::Timeout,
        format!("{what} within {secs:.3}s ({keepalives} keep-alive comments received)"),
    )
}

/// Open one attempt (chain entry `entry`, POSTed to `path` at its target) and read until
/// its first content.
#[allow(clippy::too_many_arguments)] // one attempt's inputs, each used once
async fn open(
    transport: &Transport,
    entry: &str,
    path: &str,
    body: Bytes,
    headers: &HeaderMap,
    shared: &StreamShared,
    first_token_limit: Option<Duration>,
    http_version: &mut Option<&'static str>,
) -> Result<Committed, Error> {
    let started = Instant::now();
    *shared.accumulator() = Accumulator::new();
    let far = started + Duration::from_secs(86_400 * 365);
    let first_deadline = first_token_limit.map_or(far, |limit| started + limit);
    let keepalives = || shared.keepalives.load(Ordering::Relaxed);

    let mut response = timeout_at(
        first_deadline.into(),
        transport.send_chat_streaming(entry, path, body, headers),
    )
    .await
    .map_err(|_| timeout_error("no response", first_token_limit, 0))??;
    *http_version = Some(version_name(response.version()));
    let status = response.status();
    let is_json = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !status.is_success() || is_json {
        let response_headers = response.headers().clone();
        let body = timeout_at(
            first_deadline.into(),
            read_bounded(&mut response, transport.read_timeout()),
        )
        .await
        .map_err(|_| timeout_error("no complete error body", first_token_limit, 0))??;
        if !status.is_success() {
            return Err(error_from_response(
                status.as_u16(),
                &response_headers,
                &body,
            ));
        }
        check_chat_body(&response_headers, &body)?;
        return Err(Error::new(
            ErrorKind::InvalidResponse,
            "asked for a stream but the server sent a whole JSON completion",
        ));
    }

    // Taken, not borrowed: header values are slices of the connection's first read buffer
    // (hyper's and `h1_conn`'s); keeping them would keep that buffer for the stream's life.
    let headers = header_block(&std::mem::take(response.headers_mut())).into();
    let mut committed = Committed {
        headers,
        response,
        decoder: StreamDecoder::new(),
        pending: Vec::new(),
        started,
        ended: false,
        failure: None,
    };
    let read_timeout = transport.read_timeout();
    while !committed.decoder.progressed {
        let read = timeout_at(
            first_deadline.into(),
            read_timeout.chunk(&mut committed.response),
        )
        .await;
        let bytes = match read {
            Err(_) => {
                return Err(timeout_error(
                    "no first token",
                    first_token_limit,
                    keepalives(),
                ))
            }
            Ok(Err(err)) => return Err(err),
            Ok(Ok(None)) => {
                committed.decoder.finish()?;
                committed.ended = true;
                break;
            }
            Ok(Ok(Some(bytes))) => bytes,
        };
        if let Err(err) = feed(&mut committed, shared, &bytes) {
            if !committed.decoder.progressed {
                return Err(err);
            }
            // Content came first in this read: commit it, then fail after content.
            committed.failure = Some(err);
            break;
        }
        if committed.decoder.done {
            committed.ended = true;
            break;
        }
    }
    Ok(committed)
}

fn feed(committed: &mut Committed, shared: &StreamShared, bytes: &[u8]) -> Result<(), Error> {
    let before = committed.decoder.keepalives;
    let result = committed.decoder.feed(
        bytes,
        &mut shared.accumulator(),
        &mut committed.pending,
        &committed.headers,
    );
    shared
        .keepalives
        .fetch_add(committed.decoder.keepalives - before, Ordering::Relaxed);
    result
}

/// The pending chunks as one message, taken out of `pending` (which keeps its room when
/// it held one chunk).
fn batch_of(pending: &mut Vec<Arc<Chunk>>) -> StreamMsg {
    if pending.len() == 1 {
        if let Some(chunk) = pending.pop() {
            return StreamMsg::One(chunk);
        }
    }
    StreamMsg::Batch(std::mem::take(pending))
}

/// A failure after content was handed over: a `Stream` error keeping the cause's details
/// (`StreamTimeout` when a timeout stopped it, so it is caught as a timeout too).
fn after_content(cause: Error) -> Error {
    let details = ErrorDetails {
        model: cause.details().model.clone(),
        ..cause.details().clone()
    };
    let kind = if cause.kind() == ErrorKind::Timeout {
        ErrorKind::StreamTimeout
    } else {
        ErrorKind::Stream
    };
    Error::with_details(
        kind,
        format!("the stream failed after it began: {}", cause.message()),
        details,
    )
}

/// After `[DONE]`, read the rest of the body (trailing comments, the chunked end) so the
/// connection returns to the pool; past either bound it is closed instead. True when the
/// body ended within the bounds.
async fn drain(response: &mut HttpResponse) -> bool {
    let deadline = tokio::time::Instant::now() + DRAIN_TIME;
    let mut left = DRAIN_BYTES;
    loop {
        match timeout_at(deadline, response.chunk()).await {
            Ok(Ok(None)) => return true,
            Ok(Ok(Some(bytes))) if bytes.len() < left => left -= bytes.len(),
            _ => return false,
        }
    }
}

/// The limits on a stream's reads after its first content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Limit {
    /// The total deadline of the call.
    Total,
    /// No progress (content) for the idle timeout.
    Idle,
    /// No bytes for the read timeout while a read waited.
    Read,
}

/// The first of the deadlines that are set, and which limit it is; on a tie the total
/// deadline, then the idle one, names the failure.
fn first_limit(
    total: Option<Instant>,
    idle: Option<Instant>,
    read: Option<Instant>,
) -> Option<(Instant, Limit)> {
    [
        total.map(|at| (at, Limit::Total)),
        idle.map(|at| (at, Limit::Idle)),
        read.map(|at| (at, Limit::Read)),
    ]
    .into_iter()
    .flatten()
    .min_by_key(|(at, _)| *at)
}

/// Run a streamed chat completion over the chain, sending batches to `sink`.
pub async fn run_stream(
    transport: Transport,
    request: ChatRequest,
    backoff: Backoff,
    shared: Arc<StreamShared>,
    sink: Sender<StreamMsg>,
) {
    let timeouts = request.timeouts;
    let first_token_limit = timeouts.first_token.or(timeouts.attempt);
    let idle_limit = timeouts.idle.or(timeouts.attempt);
    let deadline = timeouts.total.map(|total| Instant::now() + total);
    let read_timeout = transport.read_timeout();
    let headers = &request.headers;
    let path = request.path.as_str();

    // Boxed: opening (reqwest's request future, retries, backoff) is the largest state
    // of this task; inline it would stay allocated for the whole life of the stream.
    let opened = Box::pin(walk_chain(&request, &backoff, |model, body, remaining| {
        let transport = &transport;
        let shared = &shared;
        async move {
            let mut http_version = None;
            let result = open(
                transport,
                &model,
                path,
                body,
                headers,
                shared,
                min_opt(first_token_limit, remaining),
                &mut http_version,
            )
            .await;
            let acc = shared.accumulator();
            AttemptOutcome {
                provider: acc.provider().map(str::to_owned),
                cost: acc.cost_text(),
                first_token: result
                    .as_ref()
                    .ok()
                    .filter(|c| c.decoder.progressed)
                    .map(|c| c.started.elapsed()),
                result,
                http_version,
            }
        }
    }))
    .await;
    let (mut stream, mut attempts) = match opened {
        Ok(opened) => opened,
        Err(failure) => {
            let _ = sink.send(StreamMsg::Failed(Box::new(failure))).await;
            return;
        }
    };
    // Only opening needs these; the request holds the whole prompt, which an open stream
    // should not keep (memory per open stream, issue 11).
    drop(request);
    drop(transport);

    *shared
        .response_headers
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(stream.headers.clone());
    let mut failure = stream.failure.take();
    let mut last_progress = Instant::now();
    // When the current read began to wait: the read timeout counts from there, so the
    // time spent handing batches to a slow consumer never counts.
    let mut waiting_since = last_progress;
    let mut delivered: usize = 0;
    // When to look at the clock: the first of the limits (see [`first_limit`]). One timer
    // serves the whole loop and is moved only when it fires early: arming a timer per
    // read cost more than parsing what the read brought.
    let next_limit = |last_progress: Instant, waiting_since: Instant| {
        first_limit(
            deadline,
            idle_limit.map(|l| last_progress + l),
            read_timeout.deadline_from(waiting_since),
        )
    };
    let mut timer = next_limit(last_progress, waiting_since)
        .map(|(at, _)| Box::pin(tokio::time::sleep_until(at.into())));
    while !stream.ended && failure.is_none() {
        if !stream.pending.is_empty() {
            // Only the idle limit reads it: no clock read per batch without one.
            if idle_limit.is_some() {
                last_progress = Instant::now();
            }
            delivered += stream.pending.len();
            if sink.send(batch_of(&mut stream.pending)).await.is_err() {
                return; // the consumer closed the stream: dropping the response cancels it
            }
        }
        if stream.decoder.done {
            break;
        }
        if read_timeout.limit().is_some() {
            waiting_since = Instant::now();
        }
        let read = loop {
            let Some(timer) = timer.as_mut() else {
                break Ok(stream.response.chunk().await);
            };
            tokio::select! {
                biased;
                read = stream.response.chunk() => break Ok(read),
                () = timer.as_mut() => match next_limit(last_progress, waiting_since) {
                    // Progress moved the deadline since the timer was set: follow it.
                    Some((at, _)) if Instant::now() < at => timer.as_mut().reset(at.into()),
                    passed => break Err(passed.map_or(Limit::Idle, |(_, limit)| limit)),
                },
            }
        };
        match read {
            Err(limit) => {
                let chunks = delivered + stream.pending.len();
                failure = Some(match limit {
                    Limit::Total => {
                        let secs = timeouts.total.map_or(0.0, |t| t.as_secs_f64());
                        Error::new(
                            ErrorKind::Timeout,
                            format!(
                                "the total deadline of {secs:.3}s was reached after {chunks} chunks"
                            ),
                        )
                    }
                    Limit::Read => read_timeout::body_timed_out(),
                    Limit::Idle => {
                        let keepalives = shared.keepalives.load(Ordering::Relaxed);
                        let what = format!("no stream progress after {chunks} chunks");
                        timeout_error(&what, idle_limit, keepalives)
                    }
                });
                break;
            }
            Ok(Err(err)) => {
                failure = Some(err);
                break;
            }
            Ok(Ok(None)) => {
                if let Err(err) = stream.decoder.finish() {
                    failure = Some(err);
                }
                break;
            }
            Ok(Ok(Some(bytes))) => {
                if let Err(err) = feed(&mut stream, &shared, &bytes) {
                    failure = Some(err);
                    break;
                }
            }
        }
    }
    if !stream.pending.is_empty() && sink.send(batch_of(&mut stream.pending)).await.is_err() {
        return;
    }
    let drained = if failure.is_none() && stream.decoder.done {
        drain(&mut stream.response).await
    } else {
        failure.is_none()
    };
    let started = stream.started;
    drop(stream);
    if drained {
        // Plain http: the body's end gave the connection back already (`h1_pool`). Over
        // TLS, reqwest's pool takes it back in a task woken by the body's end: let that
        // run before the caller hears of the end (and sends its next request).
        tokio::task::yield_now().await;
    }

    let (cost, provider) = {
        let acc = shared.accumulator();
        (acc.cost_text(), acc.provider().map(str::to_owned))
    };
    if let Some(last) = attempts.last_mut() {
        last.latency = started.elapsed();
        last.cost = cost.or(last.cost.take());
        last.provider = provider.or(last.provider.take());
    }
    let message = match failure {
        None => StreamMsg::End(attempts),
        Some(cause) => {
            let mut error = after_content(cause);
            if error.details().model.is_none() {
                error.details_mut().model = attempts.last().map(|a| a.model.clone());
            }
            if let Some(last) = attempts.last_mut() {
                last.error_kind = Some(error.kind());
                last.error = Some(error.message().to_owned());
            }
            StreamMsg::Failed(Box::new(ChainError {
                error,
                attempts,
                exhausted_chain: false,
            }))
        }
    };
    let _ = sink.send(message).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_deadline_names_the_limit() {
        let now = Instant::now();
        let at = |ms| Some(now + Duration::from_millis(ms));
        assert_eq!(first_limit(None, None, None), None);
        assert_eq!(
            first_limit(None, None, at(5)),
            Some((now + Duration::from_millis(5), Limit::Read))
        );
        assert_eq!(
            first_limit(at(9), at(7), at(8)).map(|f| f.1),
            Some(Limit::Idle)
        );
        assert_eq!(
            first_limit(at(9), at(7), at(6)).map(|f| f.1),
            Some(Limit::Read)
        );
        assert_eq!(
            first_limit(at(5), at(7), at(6)).map(|f| f.1),
            Some(Limit::Total)
        );
        // Ties: the total deadline, then the idle one.
        assert_eq!(
            first_limit(at(5), at(5), at(5)).map(|f| f.1),
            Some(Limit::Total)
        );
        assert_eq!(
            first_limit(None, at(5), at(5)).map(|f| f.1),
            Some(Limit::Idle)
        );
    }
}
