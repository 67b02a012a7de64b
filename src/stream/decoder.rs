//! OpenRouter stream semantics on top of the SSE parser, still sans-IO: feed bytes, get
//! the chunk payloads ready for the caller plus what the stream's bookkeeping needs.
//!
//! `: OPENROUTER PROCESSING` comments count as liveness, not progress; `data: [DONE]`
//! ends the stream; an `error` object in a chunk (with `finish_reason` "error" or null,
//! sometimes with usage) is an in-band error; a stream that closes with neither [DONE]
//! nor a finish_reason was truncated.

use std::sync::Arc;

use crate::error::{Error, ErrorKind};
use crate::response::{error_from_in_band, headers_from_block};
use crate::stream::accumulate::Accumulator;
use crate::stream::chunk::{Chunk, Spare};
use crate::stream::sse::{SseItem, SseParser};

/// Decodes one stream attempt.
#[derive(Debug, Default)]
pub struct StreamDecoder {
    parser: SseParser,
    items: Vec<SseItem>,
    /// What the last chunk leaves for the next: its choice list, and itself as the
    /// template the next may be read against.
    spare: Spare,
    /// Comment lines seen (OpenRouter's keep-alives).
    pub keepalives: u64,
    /// `data: [DONE]` arrived.
    pub done: bool,
    /// A chunk carried a finish_reason.
    pub finished: bool,
    /// Content (or reasoning, tool calls, ...) arrived.
    pub progressed: bool,
}

impl StreamDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feed bytes from the network. Chunks that are ready are parsed (once), merged into
    /// `acc` and pushed to `out`. An in-band error returns `Err` after every chunk
    /// before it was pushed; its own chunk (usage included) is merged into `acc`.
    /// `headers` is the response's [`header_block`](crate::response::header_block).
    pub fn feed(
        &mut self,
        bytes: &[u8],
        acc: &mut Accumulator,
        out: &mut Vec<Arc<Chunk>>,
        headers: &str,
    ) -> Result<(), Error> {
        let mut items = std::mem::take(&mut self.items);
        let parsed = self.parser.feed(bytes, &mut items);
        let mut result = Ok(());
        for item in items.drain(..) {
            match item {
                SseItem::Comment(_) => self.keepalives += 1,
                SseItem::Retry(_) => {}
                SseItem::Event(event) => {
                    if self.done {
                        continue;
                    }
                    let data = event.data;
                    match data.trim() {
                        // `data:` then a blank line carries nothing: skip it, don't fail on it.
                        "" => continue,
                        "[DONE]" => {
                            self.done = true;
                            continue;
                        }
                        _ => {}
                    }
                    let (chunk, effect) = match Chunk::parse_into(data, &mut self.spare, acc) {
                        Ok(parsed) => parsed,
                        Err(err) => {
                            result = Err(err);
                            break;
                        }
                    };
                    if let Some(error) = effect.error {
                        result = Err(error_from_in_band(&headers_from_block(headers), &error));
                        break;
                    }
                    self.progressed |= effect.progress;
                    self.finished |= effect.finished;
                    out.push(chunk);
                }
            }
        }
        items.clear();
        self.items = items;
        result?;
        parsed.map_err(|err| {
            Error::new(
                ErrorKind::InvalidResponse,
                format!("bad event stream: {err}"),
            )
        })
    }

    /// The connection closed: fine after [DONE] or a finish_reason, else truncated.
    pub fn finish(&mut self) -> Result<(), Error> {
        let mut rest = Vec::new();
        let _ = self.parser.finish(&mut rest);
        if self.done || self.finished {
            Ok(())
        } else {
            Err(Error::new(
                ErrorKind::Stream,
                "the stream was cut: the connection closed before [DONE] or a finish_reason",
            ))
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// A recorded OpenRouter stream of `tests/fixtures/openrouter-traffic`.
    macro_rules! traffic {
        ($name:literal) => {
            include_str!(concat!(
                "../../tests/fixtures/openrouter-traffic/",
                $name,
                ".sse"
            ))
        };
    }

    const MIDSTREAM_ERROR: &str =
        traffic!("pydantic-ai__stream_midstream_error_minimax_free.interaction0");
    const TOOL_CALL: &str =
        traffic!("llm-openrouter__chat_stream_tool_call_then_answer.interaction1");
    const ANSWER: &str = traffic!("llm-openrouter__chat_stream_tool_call_then_answer.interaction2");
    const VERTEX: &str =
        traffic!("pydantic-ai__stream_reasoning_anthropic_via_vertex.interaction0");
    const WEB_SEARCH: &str =
        traffic!("pydantic-ai__stream_web_search_server_tool_usage.interaction0");
    const LONG: &str = traffic!("pydantic-ai__stream_long_with_encrypted_reasoning.interaction0");

    struct Run {
        chunks: Vec<Arc<Chunk>>,
        acc: Accumulator,
        decoder: StreamDecoder,
        error: Option<Error>,
    }

    fn run(text: &str, piece: usize) -> Run {
        let mut run = Run {
            chunks: Vec::new(),
            acc: Accumulator::new(),
            decoder: StreamDecoder::new(),
            error: None,
        };
        for part in text.as_bytes().chunks(piece) {
            if let Err(err) = run.decoder.feed(part, &mut run.acc, &mut run.chunks, "") {
                run.error = Some(err);
                return run;
            }
        }
        if let Err(err) = run.decoder.finish() {
            run.error = Some(err);
        }
        run
    }

    #[test]
    fn a_streams_summary_gives_the_ledger_what_its_whole_completion_gives() {
        use crate::answer_facts::usual_facts;
        for text in [MIDSTREAM_ERROR, TOOL_CALL, ANSWER, VERTEX, WEB_SEARCH, LONG] {
            let acc = run(text, 64).acc;
            let whole = usual_facts(&acc.to_json());
            assert_eq!(usual_facts(&acc.summary_json()), whole);
            // The recorded answers have the usual shape (the one with an in-band error not).
            assert_eq!(whole.is_some(), text != MIDSTREAM_ERROR);
        }
    }

    #[test]
    fn midstream_error_keeps_chunks_before_it_and_its_usage() {
        for piece in [1, 7, 4096] {
            let run = run(MIDSTREAM_ERROR, piece);
            let error = run.error.unwrap();
            assert_eq!(error.message(), "Token limit reached");
            assert_eq!(error.status(), Some(400));
            assert!(run.decoder.keepalives >= 17, "{}", run.decoder.keepalives);
            let value = run.acc.to_value();
            assert!(value["choices"][0]["message"]["reasoning"]
                .as_str()
                .unwrap()
                .contains("greeting"));
            assert_eq!(value["usage"]["total_tokens"], 53);
            assert_eq!(run.acc.cost_text().as_deref(), Some("0"));
            assert!(run
                .chunks
                .iter()
                .all(|c| crate::stream::raw_json::member(c.json(), "error").is_none()));
        }
    }

    #[test]
    fn tool_call_stream_merges_arguments() {
        let run = run(TOOL_CALL, 3);
        assert!(run.error.is_none());
        assert!(run.decoder.done);
        let value = run.acc.to_value();
        let call = &value["choices"][0]["message"]["tool_calls"][0];
        assert_eq!(call["function"]["name"], "llm_version");
        assert_eq!(call["function"]["arguments"], "{}");
        assert_eq!(value["choices"][0]["finish_reason"], "tool_calls");
        assert!(run.acc.cost_text().is_some());
    }

    #[test]
    fn every_recorded_chat_stream_parses_under_any_split() {
        for text in [ANSWER, VERTEX, WEB_SEARCH, LONG, TOOL_CALL] {
            let whole = run(text, usize::MAX);
            assert!(whole.error.is_none(), "{:?}", whole.error);
            assert!(whole.decoder.progressed);
            for piece in [1, 2, 3, 5, 64, 1000] {
                let split = run(text, piece);
                assert!(split.error.is_none());
                assert_eq!(split.chunks, whole.chunks);
                assert_eq!(split.acc.to_value(), whole.acc.to_value());
            }
        }
    }

    #[test]
    fn repeated_finish_reason_and_usage_on_a_nonempty_choice() {
        let run = run(WEB_SEARCH, 17);
        let value = run.acc.to_value();
        assert!(value["usage"]["prompt_tokens"].as_u64().unwrap() > 0);
        assert_eq!(value["choices"][0]["finish_reason"], "stop");
    }

    #[test]
    fn truncated_stream_is_an_error_but_finish_reason_ends_it() {
        let cut = "data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\n\n";
        let run1 = run(cut, 5);
        assert_eq!(run1.error.unwrap().kind(), ErrorKind::Stream);
        assert_eq!(run1.chunks.len(), 1);
        let ended =
            "data: {\"choices\":[{\"delta\":{\"content\":\"hi\"},\"finish_reason\":\"stop\"}]}\n\n";
        assert!(run(ended, 5).error.is_none());
    }

    #[test]
    fn keepalives_are_not_progress() {
        let run = run(": OPENROUTER PROCESSING\n\n: OPENROUTER PROCESSING\n\n", 4);
        assert_eq!(run.decoder.keepalives, 2);
        assert!(!run.decoder.progressed);
        assert!(run.chunks.is_empty());
    }

    #[test]
    fn events_with_empty_data_are_skipped() {
        let text = "data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\ndata:\n\ndata: \r\n\r\n\
                    data: {\"choices\":[{\"delta\":{\"content\":\"b\"},\"finish_reason\":\"stop\"}]}\n\n\
                    data:\n\ndata: [DONE]\n\n";
        for piece in [1, 3, 1000] {
            let run = run(text, piece);
            assert!(run.error.is_none(), "{:?}", run.error);
            assert_eq!(run.chunks.len(), 2);
            assert_eq!(run.acc.to_value()["choices"][0]["message"]["content"], "ab");
            assert!(run.decoder.done);
        }
    }

    #[test]
    fn malformed_chunk_is_a_clear_error() {
        let run = run("data: {not json\n\n", 100);
        assert_eq!(run.error.unwrap().kind(), ErrorKind::InvalidResponse);
    }

    /// What the runtime thread does per usual chunk between the socket and the channel:
    /// SSE lines, the chunk's parse, its view and the merge (four events a read).
    /// `cargo test --release --lib stream::decoder::tests::speed -- --ignored --nocapture`
    #[test]
    #[ignore = "a timing, not a test"]
    fn speed() {
        use std::time::Instant;
        const EVENT: &str = "data: {\"choices\":[{\"delta\":{\"content\":\"000 \",\"role\":\"assistant\"},\"finish_reason\":null,\"index\":0,\"logprobs\":null,\"native_finish_reason\":null}],\"created\":1795954520,\"id\":\"gen-1795954520-mock5f6a77f400000769\",\"model\":\"bench/stream\",\"object\":\"chat.completion.chunk\",\"provider\":\"Bench\"}\n\n";
        const READS: u32 = 200_000;
        let read = EVENT.repeat(4);
        for _ in 0..3 {
            let (mut decoder, mut acc, mut chunks) =
                (StreamDecoder::new(), Accumulator::new(), Vec::new());
            let started = Instant::now();
            for _ in 0..READS {
                decoder
                    .feed(read.as_bytes(), &mut acc, &mut chunks, "")
                    .unwrap();
                chunks.clear();
            }
            println!("{:?} per chunk", started.elapsed() / (READS * 4));
        }
    }
}
