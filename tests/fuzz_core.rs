//! Fuzzing the core's parsers with proptest: the SSE decoder, the stream decoder with its
//! accumulator, and the response interpreter get arbitrary bytes (raw, and shaped like
//! OpenRouter's streams and bodies) cut at arbitrary points. Properties: no panic, memory
//! bounded by the input (or by the line limit), the same result however the bytes are
//! split.
//!
//! Short by default (CI); `FASTROUTER_FUZZ_CASES=200000 cargo test --release --test
//! fuzz_core` runs long.

use fastrouter::response::{check_chat_body, error_from_response, lossy_utf8};
use fastrouter::stream::accumulate::Accumulator;
use fastrouter::stream::decoder::StreamDecoder;
use fastrouter::stream::sse::{SseItem, SseParser};
use proptest::prelude::*;
use proptest::sample::Index;
use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::{json, Value};

/// Cases per property: `FASTROUTER_FUZZ_CASES`, else 256.
fn config() -> ProptestConfig {
    let cases = std::env::var("FASTROUTER_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// `bytes` cut at the given points (sorted, deduplicated, within bounds).
fn split<'a>(bytes: &'a [u8], cuts: &[Index]) -> Vec<&'a [u8]> {
    let mut points: Vec<usize> = cuts.iter().map(|i| i.index(bytes.len() + 1)).collect();
    points.push(0);
    points.push(bytes.len());
    points.sort_unstable();
    points.dedup();
    points.windows(2).map(|w| &bytes[w[0]..w[1]]).collect()
}

fn short_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z ]{0,8}",
        "[^\\x00]{0,6}",
        Just(String::new()),
        Just("\u{1f600}\u{e9}\u{fffd}".to_owned()),
    ]
}

/// A chat.completion.chunk-like JSON object with optional and odd fields.
fn chunk_json() -> impl Strategy<Value = Value> {
    let tool_call = (
        prop_oneof![0u32..3, any::<u32>()],
        proptest::option::of(short_text()),
        proptest::option::of(short_text()),
        short_text(),
    )
        .prop_map(|(index, id, name, arguments)| {
            json!({"index": index, "id": id, "type": "function",
                   "function": {"name": name, "arguments": arguments}})
        });
    let delta = (
        proptest::option::of(short_text()),
        proptest::option::of(short_text()),
        proptest::collection::vec(tool_call, 0..3),
        proptest::option::of(Just("assistant")),
    )
        .prop_map(|(content, reasoning, calls, role)| {
            let mut delta = json!({"content": content, "reasoning": reasoning, "role": role});
            if !calls.is_empty() {
                delta["tool_calls"] = Value::Array(calls);
            }
            delta
        });
    let choice = (
        prop_oneof![Just(0u32), 0u32..4, any::<u32>()],
        delta,
        proptest::option::of(prop_oneof![Just("stop"), Just("length"), Just("error")]),
        proptest::option::of(short_text()),
    )
        .prop_map(|(index, delta, finish, token)| {
            let mut choice = json!({"index": index, "delta": delta, "finish_reason": finish});
            if let Some(token) = token {
                choice["logprobs"] = json!({"content": [{"token": token, "logprob": -0.5}]});
            }
            choice
        });
    (
        proptest::collection::vec(choice, 0..3),
        proptest::option::of(prop_oneof![
            Just(json!({"prompt_tokens": 3, "completion_tokens": 5, "cost": 0.0012})),
            Just(json!({"cost": "0.5"})),
            Just(json!(null)),
        ]),
        proptest::option::of(prop_oneof![
            Just(json!({"code": 502, "message": "Provider returned error"})),
            Just(json!({"code": "server_error", "message": null})),
            Just(json!(null)),
        ]),
        proptest::option::of(short_text()),
    )
        .prop_map(|(choices, usage, error, model)| {
            let mut chunk =
                json!({"id": "gen-1", "object": "chat.completion.chunk", "choices": choices});
            if let Some(usage) = usage {
                chunk["usage"] = usage;
            }
            if let Some(error) = error {
                chunk["error"] = error;
            }
            if let Some(model) = model {
                chunk["model"] = json!(model);
            }
            chunk
        })
}

/// One piece of an event stream: events, keep-alives, [DONE], empty data, fields,
/// line-ending variants, a BOM, and raw garbage.
fn stream_piece() -> impl Strategy<Value = Vec<u8>> {
    let newline = prop_oneof![Just("\n"), Just("\r\n"), Just("\r")];
    prop_oneof![
        6 => (chunk_json(), newline.clone()).prop_map(|(chunk, nl)| format!("data: {chunk}{nl}{nl}").into_bytes()),
        2 => Just(b": OPENROUTER PROCESSING\n\n".to_vec()),
        1 => Just(b"data: [DONE]\n\n".to_vec()),
        1 => Just(b"data:\n\n".to_vec()),
        1 => Just(b"event: message\nid: 7\nretry: 100\n".to_vec()),
        1 => Just(vec![0xEF, 0xBB, 0xBF]),
        1 => newline.prop_map(|nl| nl.as_bytes().to_vec()),
        1 => Just(b"data: {\"choices\":[{\"delta\":{\"content\":\"caf\xe9\"}}]}\n\n".to_vec()),
        1 => proptest::collection::vec(any::<u8>(), 0..24),
    ]
}

fn event_stream() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(stream_piece(), 0..24).prop_map(|pieces| pieces.concat())
}

fn any_stream() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => event_stream(),
        1 => proptest::collection::vec(any::<u8>(), 0..2048),
    ]
}

/// Everything the SSE parser reports for `parts` fed in order (and its error, if any).
fn parse_sse(parts: &[&[u8]], max_line: usize) -> (Vec<SseItem>, Option<String>) {
    let mut parser = SseParser::with_max_line_len(max_line);
    let mut items = Vec::new();
    for part in parts {
        if let Err(err) = parser.feed(part, &mut items) {
            return (items, Some(err.to_string()));
        }
    }
    let error = parser.finish(&mut items).err().map(|e| e.to_string());
    (items, error)
}

/// What a stream attempt yields: chunk payloads, the merged completion, the decoder's
/// flags and the first error (kind and message).
#[derive(Debug, PartialEq)]
struct Decoded {
    chunks: Vec<std::sync::Arc<fastrouter::stream::chunk::Chunk>>,
    completion: String,
    cost: Option<String>,
    flags: (bool, bool, bool, u64),
    error: Option<(String, String)>,
}

fn decode_stream(parts: &[&[u8]]) -> Decoded {
    let mut decoder = StreamDecoder::new();
    let mut acc = Accumulator::new();
    let mut chunks = Vec::new();
    let headers = ""; // the response's header block: none
    let mut error = None;
    for part in parts {
        if let Err(err) = decoder.feed(part, &mut acc, &mut chunks, headers) {
            error = Some(err);
            break;
        }
    }
    if error.is_none() {
        error = decoder.finish().err();
    }
    Decoded {
        chunks,
        completion: acc.to_json(),
        cost: acc.cost_text(),
        flags: (
            decoder.done,
            decoder.finished,
            decoder.progressed,
            decoder.keepalives,
        ),
        error: error.map(|e| (e.kind().as_str().to_owned(), e.message().to_owned())),
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn sse_decoder_is_split_invariant_and_bounded(bytes in any_stream(), cuts in proptest::collection::vec(any::<Index>(), 0..32)) {
        let whole = parse_sse(&[&bytes], 8 * 1024 * 1024);
        let parts = split(&bytes, &cuts);
        prop_assert_eq!(&parse_sse(&parts, 8 * 1024 * 1024), &whole);
        // One byte at a time, too.
        let bytewise: Vec<&[u8]> = bytes.chunks(1).collect();
        prop_assert_eq!(&parse_sse(&bytewise, 8 * 1024 * 1024), &whole);
        // Output is bounded by the input: no item holds more than the bytes fed (x3
        // for U+FFFD replacing single invalid bytes).
        let out: usize = whole.0.iter().map(|item| match item {
            SseItem::Event(e) => e.data.len() + e.event.as_ref().map_or(0, String::len),
            SseItem::Comment(c) => c.len(),
            SseItem::Retry(_) => 0,
        }).sum();
        prop_assert!(out <= 3 * bytes.len() + 3, "{out} bytes out of {}", bytes.len());
    }

    #[test]
    fn sse_line_limit_holds_however_split(bytes in any_stream(), cuts in proptest::collection::vec(any::<Index>(), 0..32)) {
        // A tiny limit: long lines and events must fail, the same way for every split.
        let whole = parse_sse(&[&bytes], 64);
        let parts = split(&bytes, &cuts);
        prop_assert_eq!(parse_sse(&parts, 64), whole.clone());
        for item in &whole.0 {
            if let SseItem::Event(e) = item {
                prop_assert!(e.data.len() <= 64 * 3);
            }
        }
    }

    #[test]
    fn stream_decoder_and_accumulator_are_split_invariant(bytes in event_stream(), cuts in proptest::collection::vec(any::<Index>(), 0..32)) {
        let whole = decode_stream(&[&bytes]);
        let parts = split(&bytes, &cuts);
        prop_assert_eq!(&decode_stream(&parts), &whole);
        let bytewise: Vec<&[u8]> = bytes.chunks(1).collect();
        prop_assert_eq!(&decode_stream(&bytewise), &whole);
        // The merged completion grows with the input, not beyond it.
        let size = whole.completion.len();
        prop_assert!(size <= 16 * bytes.len() + 1024, "{size} bytes from {}", bytes.len());
        // Every chunk handed over is a JSON object (skipped events never are).
        for chunk in &whole.chunks {
            prop_assert!(fastrouter::stream::raw_json::members(chunk.json()).is_some());
        }
    }

    #[test]
    fn stream_decoder_survives_raw_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..4096), cuts in proptest::collection::vec(any::<Index>(), 0..32)) {
        let whole = decode_stream(&[&bytes]);
        prop_assert_eq!(decode_stream(&split(&bytes, &cuts)), whole);
    }

    #[test]
    fn response_interpreter_never_panics(
        body in prop_oneof![
            chunk_json().prop_map(|v| v.to_string().into_bytes()),
            proptest::collection::vec(any::<u8>(), 0..1024),
            Just(b"{\"error\":{\"code\":\"x\",\"message\":\"m\",\"metadata\":{\"raw\":\"{\\\"a\\\":1}\",\"headers\":{\"X-RateLimit-Reset\":\"99999999999999999999\"}}}}".to_vec()),
            Just(b"{\"error\":{\"code\":429,\"metadata\":{\"headers\":{\"X-RateLimit-Reset\":\"1e300\",\"X-RateLimit-Remaining\":0}}}}".to_vec()),
        ],
        status in any::<u16>(),
        retry_after in "[ -~]{0,24}",
        cuts in proptest::collection::vec(any::<Index>(), 0..4),
    ) {
        let mut headers = HeaderMap::new();
        if let Ok(value) = HeaderValue::from_str(&retry_after) {
            headers.insert("retry-after", value.clone());
            headers.insert("retry-after-ms", value.clone());
            headers.insert("location", value);
        }
        let fixed = lossy_utf8(bytes::Bytes::from(body.clone()));
        prop_assert!(std::str::from_utf8(&fixed).is_ok());
        prop_assert_eq!(&lossy_utf8(fixed.clone()), &fixed);
        let _ = check_chat_body(&headers, &body);
        let _ = check_chat_body(&headers, &fixed);
        let error = error_from_response(status, &headers, &body);
        prop_assert!(error.message().len() <= 4 * body.len() + 1024);
        // Any prefix (a body cut short) is interpreted without panicking too.
        for part in split(&body, &cuts) {
            let _ = check_chat_body(&headers, part);
            let _ = error_from_response(status, &headers, part);
        }
    }
}
