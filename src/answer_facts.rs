//! The core's facts of a usual chat completion read from its tape ([`crate::json_tape`]),
//! so the runtime thread reads a non-streamed answer's body once, and the event loop's
//! thread builds its objects from the same tape.
//!
//! Only an answer [`check_chat_body`] accepts, in the shape nearly every answer has, is
//! read here, giving exactly the summary that function gives; anything else (an error
//! object, a repeated field, a field of another type) is left to it.

use bytes::Bytes;
use reqwest::header::HeaderMap;

use crate::error::Error;
use crate::json_tape::{known_index, number_text, Tape, Token};
use crate::response::{check_chat_body, lossy_utf8, ChatSummary, EntryFacts};

/// The fields read here, by their index in [`crate::json_tape::KNOWN_KEYS`]: matched by
/// number, not by text.
const ERROR: u8 = known_index("error");
const ID: u8 = known_index("id");
const CHOICES: u8 = known_index("choices");
const MODEL: u8 = known_index("model");
const PROVIDER: u8 = known_index("provider");
const USAGE: u8 = known_index("usage");
const COST: u8 = known_index("cost");
const PROMPT_TOKENS: u8 = known_index("prompt_tokens");
const COMPLETION_TOKENS: u8 = known_index("completion_tokens");
const PROMPT_TOKENS_DETAILS: u8 = known_index("prompt_tokens_details");
const COMPLETION_TOKENS_DETAILS: u8 = known_index("completion_tokens_details");
const IS_BYOK: u8 = known_index("is_byok");
const CACHED_TOKENS: u8 = known_index("cached_tokens");
const REASONING_TOKENS: u8 = known_index("reasoning_tokens");

/// A 2xx chat body (its invalid UTF-8 replaced, [`lossy_utf8`]), its summary (as
/// [`check_chat_body`] gives it) and its tape, when it has one (`None`: Python's side
/// parses the text).
pub fn read_chat_body(
    headers: &HeaderMap,
    body: Bytes,
) -> Result<(Bytes, ChatSummary, Option<Tape>), Error> {
    // Checked as UTF-8 once here (nearly every body is), 32 bytes a step; one that is
    // not is made so and takes the general path.
    let (tape, usual) = match simdutf8::basic::from_utf8(&body) {
        Ok(text) => {
            let tape = Tape::parse(text);
            let usual = tape.as_ref().and_then(|tape| usual_summary(tape, text));
            (tape, usual)
        }
        Err(_) => {
            let body = lossy_utf8(body);
            return check_chat_body(headers, &body).map(|summary| (body, summary, None));
        }
    };
    match usual {
        Some(summary) => {
            // Two readings of one body's facts: debug builds (the test suite's) check on
            // every answer that the tape's agrees with the full check's.
            debug_assert_eq!(
                check_chat_body(headers, &body).ok().as_ref(),
                Some(&summary)
            );
            Ok((body, summary, tape))
        }
        None => check_chat_body(headers, &body).map(|summary| (body, summary, tape)),
    }
}

/// What [`check_chat_body`] gives for `text` (a completion's JSON) when it has the usual
/// shape; `None` for any other (a stream's summary, [`crate::stream::accumulate::Accumulator::summary_json`]).
pub fn usual_facts(text: &str) -> Option<ChatSummary> {
    usual_summary(&Tape::parse(text)?, text)
}

/// Marks each field read once: serde refuses a repeated one, so a body that repeats one
/// goes to [`check_chat_body`].
#[derive(Default)]
struct Seen(u32);

impl Seen {
    fn first(&mut self, bit: u32) -> Option<()> {
        let mask = 1 << bit;
        (self.0 & mask == 0).then(|| self.0 |= mask)
    }
}

/// The `(known key's index, value index)` pairs of the object at `at` (`None` for a key
/// that is not a known one); `None` when it is not an object.
fn fields(
    tape: &Tape,
    at: usize,
) -> Option<impl Iterator<Item = Option<(Option<u8>, usize)>> + '_> {
    let Token::Object { items, .. } = *tape.tokens().get(at)? else {
        return None;
    };
    let mut next = at + 1;
    Some((0..items).map(move |_| {
        let key = tape.key_index(next)?;
        let value = next + 1;
        next = tape.after(value)?;
        Some((key, value))
    }))
}

fn token(tape: &Tape, at: usize) -> Option<Token> {
    tape.tokens().get(at).copied()
}

/// A string or null field (`Option<String>`).
fn text_or_null(tape: &Tape, at: usize) -> Option<Option<String>> {
    match token(tape, at)? {
        Token::Null => Some(None),
        Token::Str(span) => Some(Some(tape.text(span).to_owned())),
        _ => None,
    }
}

/// A count or null field (`Option<u64>`).
fn count_or_null(tape: &Tape, at: usize) -> Option<Option<u64>> {
    match token(tape, at)? {
        Token::Null => Some(None),
        Token::UInt { value, .. } => Some(Some(value)),
        _ => None,
    }
}

/// A details object's one count (`cached_tokens`, `reasoning_tokens`): absent, null or the
/// object null read as 0.
fn detail_count(tape: &Tape, at: usize, name: u8) -> Option<u64> {
    if token(tape, at)? == Token::Null {
        return Some(0);
    }
    let mut seen = Seen::default();
    let mut count = None;
    for field in fields(tape, at)? {
        let (key, value) = field?;
        if key == Some(name) {
            seen.first(0)?;
            count = count_or_null(tape, value)?;
        }
    }
    Some(count.unwrap_or(0))
}

/// What [`check_chat_body`] gives for a body of the usual shape; `None` for any other.
fn usual_summary(tape: &Tape, source: &str) -> Option<ChatSummary> {
    let mut seen = Seen::default();
    let mut summary = ChatSummary::default();
    let mut facts = EntryFacts::default();
    for field in fields(tape, 0)? {
        let (key, value) = field?;
        match key {
            Some(ERROR) => {
                seen.first(0)?;
                (token(tape, value)? == Token::Null).then_some(())?;
            }
            Some(ID) => {
                seen.first(1)?;
                facts.id = text_or_null(tape, value)?;
            }
            Some(CHOICES) => {
                seen.first(2)?;
                let Token::Array { items, .. } = token(tape, value)? else {
                    return None;
                };
                let mut next = value + 1;
                for _ in 0..items {
                    let mut in_choice = Seen::default();
                    for field in fields(tape, next)? {
                        let (key, value) = field?;
                        if key == Some(ERROR) {
                            in_choice.first(0)?;
                            (token(tape, value)? == Token::Null).then_some(())?;
                        }
                    }
                    next = tape.after(next)?;
                }
            }
            Some(MODEL) => {
                seen.first(3)?;
                summary.model = text_or_null(tape, value)?;
            }
            Some(PROVIDER) => {
                seen.first(4)?;
                summary.provider = text_or_null(tape, value)?;
            }
            Some(USAGE) => {
                seen.first(5)?;
                if token(tape, value)? != Token::Null {
                    read_usage(tape, value, source, &mut summary, &mut facts)?;
                }
            }
            _ => {}
        }
    }
    summary.entry = Some(facts);
    Some(summary)
}

/// The usage object's facts, as [`check_chat_body`] reads them.
fn read_usage(
    tape: &Tape,
    at: usize,
    source: &str,
    summary: &mut ChatSummary,
    facts: &mut EntryFacts,
) -> Option<()> {
    let mut seen = Seen::default();
    for field in fields(tape, at)? {
        let (key, value) = field?;
        match key {
            Some(COST) => {
                seen.first(0)?;
                // Any value is accepted; only a number is a cost (`cost_text`).
                summary.cost = match token(tape, value)? {
                    Token::UInt { at, .. } | Token::Int { at, .. } | Token::Float { at, .. } => {
                        Some(number_text(source, at)?.to_owned())
                    }
                    _ => None,
                };
            }
            Some(PROMPT_TOKENS) => {
                seen.first(1)?;
                summary.prompt_tokens = count_or_null(tape, value)?;
            }
            Some(COMPLETION_TOKENS) => {
                seen.first(2)?;
                summary.completion_tokens = count_or_null(tape, value)?;
            }
            Some(PROMPT_TOKENS_DETAILS) => {
                seen.first(3)?;
                facts.cached_tokens = detail_count(tape, value, CACHED_TOKENS)?;
            }
            Some(COMPLETION_TOKENS_DETAILS) => {
                seen.first(4)?;
                facts.reasoning_tokens = detail_count(tape, value, REASONING_TOKENS)?;
            }
            Some(IS_BYOK) => {
                seen.first(5)?;
                facts.byok = match token(tape, value)? {
                    Token::Null | Token::Bool(false) => false,
                    Token::Bool(true) => true,
                    _ => return None,
                };
            }
            _ => {}
        }
    }
    Some(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The fast read gives what `check_chat_body` gives, or leaves the body to it.
    fn agrees(body: &str) -> bool {
        let expected = check_chat_body(&HeaderMap::new(), body.as_bytes());
        let Some(tape) = Tape::parse(body) else {
            return false;
        };
        let Some(summary) = usual_summary(&tape, body) else {
            return false;
        };
        assert_eq!(Ok(&summary), expected.as_ref().map_err(|_| body), "{body}");
        let (_, read, kept) =
            read_chat_body(&HeaderMap::new(), Bytes::from(body.to_owned())).unwrap();
        assert_eq!(read, summary);
        assert!(kept.is_some());
        true
    }

    const MOCK: &str = r#"{"id":"gen-1-abc","provider":"OpenAI","model":"openai/gpt-4o-mini","object":"chat.completion","created":1764441600,"system_fingerprint":null,"choices":[{"logprobs":null,"finish_reason":"stop","native_finish_reason":"stop","index":0,"message":{"role":"assistant","content":"Hello there, friend.","refusal":null,"reasoning":null}}],"usage":{"prompt_tokens":12,"completion_tokens":5,"total_tokens":17,"cost":0.0000123,"is_byok":false,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"cost_details":{"upstream_inference_cost":null},"completion_tokens_details":{"reasoning_tokens":0,"image_tokens":0}}}"#;

    #[test]
    fn usual_answers_are_read_from_the_tape() {
        for body in [
            MOCK,
            r#"{"id":"gen-\u0041","usage":{"prompt_tokens_details":{"cached_tokens":7},"completion_tokens_details":{"reasoning_tokens":2,"x":[1]},"is_byok":true}}"#,
            r#"{"id":null,"usage":null}"#,
            r#"{"usage":{"cost":0.5}}"#,
            r#"{"usage":{"cost":"0.5","prompt_tokens":null}}"#,
            r#"{"usage":{"cost":-1e-3,"prompt_tokens_details":null,"completion_tokens_details":{}}}"#,
            r#"{"usage":{"cost":7,"prompt_tokens_details":{"cached_tokens":null}}}"#,
            r#"{"error":null,"choices":[{"error":null},{}],"model":null}"#,
            " \n {}",
        ] {
            assert!(agrees(body), "{body}");
        }
    }

    #[test]
    fn unusual_answers_are_left_to_check_chat_body() {
        for body in [
            "[]",
            r#"{"error":{"code":500,"message":"boom"}}"#,
            r#"{"choices":[{"error":{"code":502,"message":"upstream"}}]}"#,
            r#"{"choices":[[null]]}"#,
            r#"{"choices":null}"#,
            r#"{"model":"a","model":"b"}"#,
            r#"{"id":"a","id":"b"}"#,
            r#"{"id":7}"#,
            r#"{"model":3}"#,
            r#"{"usage":[0.5,7,9]}"#,
            r#"{"usage":{"prompt_tokens":7.0}}"#,
            r#"{"usage":{"prompt_tokens":-1}}"#,
            r#"{"usage":{"cost":1,"cost":2}}"#,
            r#"{"usage":{"is_byok":"yes"}}"#,
            r#"{"usage":{"prompt_tokens_details":[7]}}"#,
            r#"{"usage":{"prompt_tokens_details":{"cached_tokens":1,"cached_tokens":2}}}"#,
            r#"{"usage":{"completion_tokens_details":{"reasoning_tokens":"2"}}}"#,
        ] {
            let tape = Tape::parse(body).unwrap();
            assert_eq!(usual_summary(&tape, body), None, "{body}");
        }
        // Left to it, the answer reads as before, tape or not.
        let read = |body: &'static [u8]| read_chat_body(&HeaderMap::new(), Bytes::from(body));
        let (_, summary, tape) = read(br#"{"id":7,"model":"m"}"#).unwrap();
        assert_eq!(summary.model.as_deref(), Some("m"));
        assert_eq!(summary.entry, None);
        assert!(tape.is_some());
        assert!(read(br#"{"model":"a","model":"b"}"#).is_err());
        let (_, summary, tape) = read(br#"{"usage":{"cost":1e400}}"#).unwrap();
        assert_eq!(summary.cost.as_deref(), Some("1e400"));
        assert!(tape.is_none());
        // Invalid UTF-8 is replaced, as before; that body takes the general path.
        let (body, summary, tape) = read(b"{\"model\":\"a\xffb\"}").unwrap();
        assert_eq!(&body[..], "{\"model\":\"a\u{fffd}b\"}".as_bytes());
        assert_eq!(summary.model.as_deref(), Some("a\u{fffd}b"));
        assert!(tape.is_none());
    }

    fn field_value() -> impl Strategy<Value = &'static str> {
        prop::sample::select(vec![
            "null",
            "true",
            "false",
            "0",
            "7",
            "-3",
            "7.0",
            "1e2",
            "0.5",
            "\"s\"",
            "\"\\u00e9\"",
            "{}",
            "[]",
            "[1]",
            "{\"x\":1}",
        ])
    }

    proptest! {
        #[test]
        fn any_mix_of_fields_agrees_or_is_left(
            fields in prop::collection::vec(
                (
                    prop::sample::select(vec![
                        "error", "id", "choices", "model", "provider", "usage", "other",
                    ]),
                    prop::sample::select(vec![
                        "cost", "prompt_tokens", "completion_tokens", "prompt_tokens_details",
                        "completion_tokens_details", "is_byok", "cached_tokens",
                        "reasoning_tokens", "error", "zzz",
                    ]),
                    field_value(),
                    0..3u8,
                ),
                0..8,
            )
        ) {
            // Each top-level field holds a plain value, an object of one inner field, or a
            // list of such objects.
            let body = format!(
                "{{{}}}",
                fields
                    .iter()
                    .map(|(key, inner, value, shape)| match shape {
                        0 => format!("\"{key}\":{value}"),
                        1 => format!("\"{key}\":{{\"{inner}\":{value}}}"),
                        _ => format!("\"{key}\":[{{\"{inner}\":{value}}}]"),
                    })
                    .collect::<Vec<_>>()
                    .join(",")
            );
            agrees(&body);
        }
    }
}
