//! Heap bytes a stream holds per chunk (a measurement, not a test):
//! `cargo test --release --test stream_bytes -- --ignored --nocapture`.
//! Resident bytes (the crate forbids the unsafe code a counting allocator needs) over many
//! chunks: chunks kept (as a consumer holding them does) after their rare fields were
//! read, and the accumulator's completion (chunks dropped).

use fastrouter::stream::accumulate::Accumulator;
use fastrouter::stream::chunk::Chunk;

/// The process's resident bytes.
fn live() -> isize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: isize = statm
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// One chunk of each kind a stream carries in the fields kept as JSON values before.
fn chunk(kind: &str, i: usize) -> String {
    let delta = match kind {
        "annotations" => format!(
            r#""content":"ab ","annotations":[{{"type":"url_citation","url_citation":{{"url":"https://example.com/page/{i}","title":"An example page title","start_index":{i},"end_index":{}}}}}]"#,
            i + 20
        ),
        "images" => format!(
            r#""content":"ab ","images":[{{"type":"image_url","image_url":{{"url":"data:image/png;base64,{}"}}}}]"#,
            "QUJD".repeat(20)
        ),
        "details" => r#""reasoning":"think ","reasoning_details":[{"type":"reasoning.text","text":"think ","format":"anthropic-claude-v1"}]"#.to_owned(),
        _ => r#""content":"ab ""#.to_owned(),
    };
    format!(
        r#"{{"id":"gen-1","object":"chat.completion.chunk","created":1,"model":"m","provider":"P","choices":[{{"index":0,"delta":{{{delta}}},"finish_reason":null}}]}}"#
    )
}

#[test]
#[allow(clippy::unwrap_used)]
#[ignore = "a measurement, not a test"]
fn bytes_per_chunk() {
    // One measurement per process (freed memory is reused): KIND, WHAT=held|merged.
    // A held chunk's bytes include its text.
    const N: usize = 50_000;
    let kind = std::env::var("KIND").unwrap_or_else(|_| "annotations".into());
    let what = std::env::var("WHAT").unwrap_or_else(|_| "held".into());
    let text_len = chunk(&kind, 0).len();
    let mut held = Vec::with_capacity(N);
    let mut acc = Accumulator::new();
    let base = live();
    for i in 0..N {
        let text = chunk(&kind, i);
        if what == "held" {
            let (chunk, ()) = Chunk::parse(text, |_| ()).unwrap();
            read_rare(&chunk);
            held.push(chunk);
        } else {
            let _ = Chunk::parse(text, |parsed| acc.add(parsed)).unwrap();
        }
    }
    let per_chunk = (live() - base) as f64 / N as f64;
    println!("{kind:12} text {text_len:4} B  {what} {per_chunk:7.1} B per chunk");
    assert!(!acc.to_json().is_empty() && held.len() <= N);
}

/// What reading a chunk's rare field keeps with the chunk.
fn read_rare(chunk: &Chunk) {
    let _ = chunk.delta_json(0);
}
