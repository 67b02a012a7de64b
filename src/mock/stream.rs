//! Streamed replies for the mock: the chunk shapes OpenRouter sends, with scriptable
//! timing and faults (keep-alives, slow first token, awkward write boundaries, CRLF,
//! in-band errors, cut connections, stalls, the three usage-chunk shapes).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::Frame;
use hyper::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use hyper::Response;
use serde::Serialize;
use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::reply::ReplyPlan;
use super::script::{StreamSpec, UsageShape};
use super::Body;

const KEEPALIVE: &str = ": OPENROUTER PROCESSING";

/// A response body fed by a writer task through a channel; an `Err` item cuts the
/// connection, as a crashed upstream would.
struct ChannelBody {
    receiver: mpsc::Receiver<Result<Bytes, io::Error>>,
}

impl hyper::body::Body for ChannelBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        self.receiver
            .poll_recv(cx)
            .map(|item| item.map(|result| result.map(Frame::data)))
    }
}

/// One write of the script: wait, then send these bytes.
struct Step {
    delay: f64,
    bytes: Bytes,
}

enum Ending {
    Close,
    Drop,
    /// Keep the connection open, sending only keep-alives (if any interval is set).
    Stall,
}

struct Script {
    spec: StreamSpec,
    steps: Vec<Step>,
}

impl Script {
    fn event(&mut self, delay: f64, data: &str) {
        let newline = if self.spec.crlf { "\r\n" } else { "\n" };
        let text = format!("data: {data}{newline}{newline}");
        self.steps.push(Step {
            delay,
            bytes: Bytes::from(text),
        });
    }

    fn comment(&mut self, delay: f64) {
        let newline = if self.spec.crlf { "\r\n" } else { "\n" };
        self.steps.push(Step {
            delay,
            bytes: Bytes::from(format!("{KEEPALIVE}{newline}{newline}")),
        });
    }
}

fn chunk(plan: &ReplyPlan, delta: Value, finish: Option<&str>) -> Value {
    json!({
        "id": plan.id,
        "provider": plan.provider,
        "model": plan.model,
        "object": "chat.completion.chunk",
        "created": plan.created,
        "choices": [{
            "index": 0,
            "delta": delta,
            "finish_reason": finish,
            "native_finish_reason": finish.map(|_| plan.native_finish_reason.as_str()),
            "logprobs": null,
        }],
    })
}

/// The usual content chunk, as [`chunk`] renders it (the same bytes: its keys sorted, as a
/// `Value`'s are) without building a `Value` per chunk: a 1,000-chunk stream's thousand
/// trees made the mock, not the client, the bound of the streaming benchmark.
fn content_chunk(plan: &ReplyPlan, content: &str) -> String {
    #[derive(Serialize)]
    struct ContentChunk<'a> {
        choices: [Choice<'a>; 1],
        created: u64,
        id: &'a str,
        model: &'a str,
        object: &'static str,
        provider: &'a str,
    }
    #[derive(Serialize)]
    struct Choice<'a> {
        delta: Delta<'a>,
        finish_reason: Option<&'static str>,
        index: u32,
        logprobs: Option<&'static str>,
        native_finish_reason: Option<&'static str>,
    }
    #[derive(Serialize)]
    struct Delta<'a> {
        content: &'a str,
        role: &'static str,
    }
    let rendered = ContentChunk {
        choices: [Choice {
            delta: Delta {
                content,
                role: "assistant",
            },
            finish_reason: None,
            index: 0,
            logprobs: None,
            native_finish_reason: None,
        }],
        created: plan.created,
        id: &plan.id,
        model: &plan.model,
        object: "chat.completion.chunk",
        provider: &plan.provider,
    };
    // Borrowed strings and plain numbers: serializing cannot fail (`chunk` is the fallback).
    serde_json::to_string(&rendered).unwrap_or_else(|_| {
        chunk(plan, json!({"role": "assistant", "content": content}), None).to_string()
    })
}

/// Content split into `count` pieces of near-equal length (by characters), or per word.
pub(super) fn split_content(content: &str, count: Option<usize>) -> Vec<String> {
    let chars: Vec<char> = content.chars().collect();
    match count {
        Some(0) => Vec::new(),
        Some(count) => {
            let count = count.max(1);
            let base = chars.len() / count;
            let extra = chars.len() % count;
            let mut pieces = Vec::with_capacity(count);
            let mut at = 0;
            for i in 0..count {
                let len = base + usize::from(i < extra);
                pieces.push(chars[at..at + len].iter().collect());
                at += len;
            }
            pieces
        }
        None => content.split_inclusive(' ').map(str::to_owned).collect(),
    }
}

pub(super) fn respond(plan: &ReplyPlan, spec: &StreamSpec) -> Response<Body> {
    let mut script = Script {
        spec: spec.clone(),
        steps: Vec::new(),
    };
    for _ in 0..spec.keepalives {
        script.comment(0.0);
    }
    let role = chunk(plan, json!({"role": "assistant", "content": ""}), None);
    script.event(0.0, &role.to_string());

    let mut first_delay = spec.first_chunk_delay;
    let mut sent = 0usize;
    let mut ending = None;
    let next_delay = |first_delay: &mut f64| std::mem::take(first_delay) + spec.chunk_delay;

    if let Some(reasoning) = &plan.reasoning {
        for piece in split_content(reasoning, None) {
            let delta = json!({
                "role": "assistant", "content": "", "reasoning": piece,
                "reasoning_details": [{"type": "reasoning.text", "text": piece, "index": 0, "format": "unknown"}],
            });
            let delay = next_delay(&mut first_delay);
            script.event(delay, &chunk(plan, delta, None).to_string());
        }
    }
    let pieces = split_content(&plan.content, spec.chunks);
    for piece in pieces {
        if let Some(ending_now) = fault_at(spec, sent) {
            ending = Some(ending_now);
            break;
        }
        let delay = next_delay(&mut first_delay);
        let text = match &plan.logprobs {
            Some(logprobs) => {
                let mut content_chunk =
                    chunk(plan, json!({"role": "assistant", "content": piece}), None);
                content_chunk["choices"][0]["logprobs"] =
                    logprobs.for_tokens([piece.as_str()], sent);
                content_chunk.to_string()
            }
            None => content_chunk(plan, &piece),
        };
        script.event(delay, &text);
        sent += 1;
    }
    if ending.is_none() {
        ending = fault_at(spec, sent);
    }
    match ending {
        Some(FaultAt::Error) => {
            let status = spec.error_status.unwrap_or(502);
            let message = spec
                .error_message
                .clone()
                .unwrap_or_else(|| "Provider returned error".into());
            let mut error_chunk = chunk(
                plan,
                json!({"role": "assistant", "content": ""}),
                Some("error"),
            );
            error_chunk["choices"][0]["native_finish_reason"] = json!("error");
            error_chunk["error"] = json!({"code": status, "message": message});
            error_chunk["usage"] = plan.usage.to_value();
            script.event(spec.chunk_delay, &error_chunk.to_string());
            script.event(0.0, "[DONE]");
            return build(script, Ending::Close);
        }
        Some(FaultAt::Drop) => return build(script, Ending::Drop),
        Some(FaultAt::Stall) => return build(script, Ending::Stall),
        None => {}
    }

    for call in &plan.tool_calls {
        let index = &call["index"];
        let arguments = call["function"]["arguments"].as_str().unwrap_or_default();
        let opening = json!({"role": "assistant", "content": null, "tool_calls": [{
            "index": index, "id": call["id"], "type": "function",
            "function": {"name": call["function"]["name"], "arguments": ""},
        }]});
        let delay = next_delay(&mut first_delay);
        script.event(delay, &chunk(plan, opening, None).to_string());
        for piece in split_content(arguments, Some(3.min(arguments.chars().count()))) {
            let delta = json!({"role": "assistant", "content": null, "tool_calls": [{
                "index": index, "type": "function", "function": {"arguments": piece},
            }]});
            script.event(spec.chunk_delay, &chunk(plan, delta, None).to_string());
        }
    }
    let finish = plan.finish_reason.as_str();
    let empty = json!({"role": "assistant", "content": ""});
    script.event(
        spec.chunk_delay,
        &chunk(plan, empty.clone(), Some(finish)).to_string(),
    );
    match spec.usage_shape {
        UsageShape::EmptyChoices => {
            let mut usage_chunk = chunk(plan, empty, None);
            usage_chunk["choices"] = json!([]);
            usage_chunk["usage"] = plan.usage.to_value();
            script.event(0.0, &usage_chunk.to_string());
        }
        UsageShape::EmptyDelta => {
            let mut usage_chunk = chunk(plan, json!({}), None);
            usage_chunk["usage"] = plan.usage.to_value();
            script.event(0.0, &usage_chunk.to_string());
        }
        UsageShape::RepeatFinish => {
            let mut usage_chunk = chunk(plan, empty, Some(finish));
            usage_chunk["usage"] = plan.usage.to_value();
            script.event(0.0, &usage_chunk.to_string());
        }
        UsageShape::None => {}
    }
    if spec.done {
        script.event(0.0, "[DONE]");
    }
    for _ in 0..spec.tail_comments {
        script.comment(0.0);
    }
    build(script, Ending::Close)
}

enum FaultAt {
    Error,
    Drop,
    Stall,
}

fn fault_at(spec: &StreamSpec, sent: usize) -> Option<FaultAt> {
    if spec.error_after == Some(sent) {
        Some(FaultAt::Error)
    } else if spec.drop_after == Some(sent) {
        Some(FaultAt::Drop)
    } else if spec.stall_after == Some(sent) {
        Some(FaultAt::Stall)
    } else {
        None
    }
}

fn build(script: Script, ending: Ending) -> Response<Body> {
    let (sender, receiver) = mpsc::channel(64);
    // The mock's scripted body writer lives on the mock server's runtime.
    #[allow(clippy::disallowed_methods)]
    tokio::spawn(write(script, ending, sender));
    let body: Body = http_body_util::BodyExt::boxed(ChannelBody { receiver });
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// Sleep `delay` seconds, sending keep-alives every `interval` meanwhile. False when the
/// client went away.
async fn wait(
    delay: f64,
    interval: f64,
    crlf: bool,
    sender: &mpsc::Sender<Result<Bytes, io::Error>>,
) -> bool {
    let delay = delay.min(crate::duration::MAX_SECONDS);
    if delay.is_nan() || delay <= 0.0 {
        return true;
    }
    if interval.is_nan() || interval <= 0.0 {
        tokio::time::sleep(Duration::from_secs_f64(delay)).await;
        return !sender.is_closed();
    }
    let newline = if crlf { "\r\n" } else { "\n" };
    let mut left = delay;
    while left > 0.0 {
        let step = left.min(interval);
        tokio::time::sleep(Duration::from_secs_f64(step)).await;
        left -= step;
        if left > 0.0 || step == interval {
            let comment = Bytes::from(format!("{KEEPALIVE}{newline}{newline}"));
            if sender.send(Ok(comment)).await.is_err() {
                return false;
            }
        }
    }
    true
}

async fn write(script: Script, ending: Ending, sender: mpsc::Sender<Result<Bytes, io::Error>>) {
    let spec = &script.spec;
    for step in script.steps {
        if !wait(step.delay, spec.keepalive_interval, spec.crlf, &sender).await {
            return;
        }
        match spec.split_every {
            Some(size) if size > 0 => {
                for piece in step.bytes.chunks(size) {
                    if sender
                        .send(Ok(Bytes::copy_from_slice(piece)))
                        .await
                        .is_err()
                    {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            }
            _ => {
                if sender.send(Ok(step.bytes)).await.is_err() {
                    return;
                }
            }
        }
    }
    match ending {
        Ending::Close => {
            // The body's end (chunked terminator) comes late: a client that stops
            // reading at [DONE] cannot return the connection to its pool.
            wait(spec.tail_delay, 0.0, spec.crlf, &sender).await;
        }
        Ending::Drop => {
            // Cut only after hyper took (and wrote) everything queued before the cut.
            let capacity = sender.max_capacity();
            for _ in 0..1000 {
                if sender.capacity() == capacity {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
            let _ = sender
                .send(Err(io::Error::new(
                    io::ErrorKind::ConnectionReset,
                    "scripted drop",
                )))
                .await;
        }
        Ending::Stall => {
            let interval = if spec.keepalive_interval > 0.0 {
                spec.keepalive_interval
            } else {
                3600.0
            };
            while wait(interval, interval, spec.crlf, &sender).await {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_splits_into_the_requested_number_of_pieces() {
        let pieces = split_content("abcdefghij", Some(3));
        assert_eq!(pieces, ["abcd", "efg", "hij"]);
        assert_eq!(split_content("a b c", None), ["a ", "b ", "c"]);
        assert_eq!(split_content("ab", Some(5)).concat(), "ab");
        assert!(split_content("abc", Some(0)).is_empty());
    }
}

#[cfg(test)]
mod content_chunk_tests {
    use super::*;

    #[test]
    fn a_content_chunk_is_written_as_the_value_would_be() {
        let plan = ReplyPlan {
            id: "gen-1".into(),
            created: 7,
            model: "openai/gpt-4o-mini".into(),
            provider: "OpenAI".into(),
            content: String::new(),
            reasoning: None,
            tool_calls: Vec::new(),
            finish_reason: "stop".into(),
            native_finish_reason: "stop".into(),
            usage: super::super::reply::Usage::default(),
            logprobs: None,
        };
        for piece in ["000 ", "", "quote \" and \\ and \u{1f600}"] {
            let value = chunk(&plan, json!({"role": "assistant", "content": piece}), None);
            assert_eq!(content_chunk(&plan, piece), value.to_string());
        }
    }
}
