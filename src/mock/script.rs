//! What a scripted model does for one request. Python's `fastrouter.testing` builds these
//! as JSON; the server pops one per chat request for the requested model.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

/// One scripted outcome.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Outcome {
    /// A successful completion.
    Reply(Box<ReplySpec>),
    /// An OpenRouter error: status, error body, headers (e.g. Retry-After).
    Error(ErrorSpec),
    /// Exactly these bytes with this status and headers (fixtures, broken servers).
    Raw(RawSpec),
    /// Close the connection without answering.
    Drop {
        #[serde(default)]
        delay: f64,
    },
}

impl Outcome {
    pub fn delay(&self) -> f64 {
        match self {
            Self::Reply(spec) => spec.delay,
            Self::Error(spec) => spec.delay,
            Self::Raw(spec) => spec.delay,
            Self::Drop { delay } => *delay,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ToolCallSpec {
    #[serde(default)]
    pub id: Option<String>,
    pub name: String,
    #[serde(default)]
    pub arguments: String,
}

/// Every field is optional: a missing one takes its value from `ReplySpec::default()`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ReplySpec {
    /// The answer; `None` answers with a short deterministic echo of the prompt.
    pub content: Option<String>,
    pub reasoning: Option<String>,
    pub tool_calls: Vec<ToolCallSpec>,
    pub finish_reason: Option<String>,
    pub native_finish_reason: Option<String>,
    /// Served model id (default: the requested one).
    pub model: Option<String>,
    /// Provider display name (default: derived from the model's author).
    pub provider: Option<String>,
    pub prompt_tokens: Option<u64>,
    pub completion_tokens: Option<u64>,
    pub reasoning_tokens: Option<u64>,
    /// USD; default: priced from the catalog. `null` in `omit_cost` leaves it out.
    pub cost: Option<f64>,
    pub omit_cost: bool,
    /// Whitespace keep-alive padding sent before the JSON body (a real OpenRouter quirk).
    pub leading_whitespace: usize,
    pub headers: BTreeMap<String, String>,
    pub delay: f64,
    /// Fields merged into the top level of the response (unknown-field tests).
    pub extra: Option<Value>,
    /// How to stream this reply when the request asks for `stream: true`.
    pub stream: StreamSpec,
    /// Per-token log probabilities returned when the request asks for `logprobs`
    /// (the last value repeats for further tokens).
    pub logprobs: Option<Vec<f64>>,
}

/// Where the usage lands at the end of a stream: the three shapes seen in real traffic.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum UsageShape {
    /// A final chunk with `choices: []` and `usage`.
    #[default]
    EmptyChoices,
    /// A final chunk whose choice has an empty delta, plus `usage`.
    EmptyDelta,
    /// The finish_reason repeated on the usage chunk.
    RepeatFinish,
    /// No usage at all.
    None,
}

/// Streaming behaviour of a scripted reply; a missing field takes its value from
/// `StreamSpec::default()`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct StreamSpec {
    /// Split the content into this many chunks (default: one per word).
    pub chunks: Option<usize>,
    /// Seconds between chunks.
    pub chunk_delay: f64,
    /// Seconds before the first content chunk (slow first token).
    pub first_chunk_delay: f64,
    /// `: OPENROUTER PROCESSING` comments sent before the first chunk.
    pub keepalives: usize,
    /// While waiting (first token, stall), send a keep-alive comment this often.
    pub keepalive_interval: f64,
    /// Write the bytes in pieces of this size (awkward boundaries), 1 ms apart.
    pub split_every: Option<usize>,
    /// CRLF line ends instead of LF.
    pub crlf: bool,
    /// An in-band error chunk after this many content chunks.
    pub error_after: Option<usize>,
    pub error_status: Option<u16>,
    pub error_message: Option<String>,
    /// Cut the connection after this many content chunks.
    pub drop_after: Option<usize>,
    /// After this many content chunks, send only keep-alives until the client gives up.
    pub stall_after: Option<usize>,
    pub usage_shape: UsageShape,
    /// Send `data: [DONE]` at the end (default true).
    pub done: bool,
    /// After the last event, send this many keep-alive comments (bytes after `[DONE]`).
    pub tail_comments: usize,
    /// Seconds to wait after the last event (and tail comments) before the body ends.
    pub tail_delay: f64,
}

impl Default for StreamSpec {
    fn default() -> Self {
        Self {
            chunks: None,
            chunk_delay: 0.0,
            first_chunk_delay: 0.0,
            keepalives: 0,
            keepalive_interval: 0.0,
            split_every: None,
            crlf: false,
            error_after: None,
            error_status: None,
            error_message: None,
            drop_after: None,
            stall_after: None,
            usage_shape: UsageShape::default(),
            done: true,
            tail_comments: 0,
            tail_delay: 0.0,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ErrorSpec {
    pub status: u16,
    #[serde(default)]
    pub message: Option<String>,
    /// `error.code`; default: the status.
    #[serde(default)]
    pub code: Option<Value>,
    #[serde(default)]
    pub metadata: Option<Value>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Send the error inside a 200 body, as OpenRouter does once it committed the status.
    #[serde(default)]
    pub in_body: bool,
    #[serde(default)]
    pub delay: f64,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RawSpec {
    #[serde(default = "ok_status")]
    pub status: u16,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub body: String,
    /// Exact bytes (e.g. gzip, invalid UTF-8); used instead of `body` when set.
    #[serde(default)]
    pub body_bytes: Option<Vec<u8>>,
    #[serde(default)]
    pub delay: f64,
}

fn ok_status() -> u16 {
    200
}

/// Parse a JSON list of outcomes (or a single outcome).
pub fn parse_outcomes(json: &str) -> Result<Vec<Outcome>, String> {
    let value: Value = serde_json::from_str(json).map_err(|e| e.to_string())?;
    let outcomes: Vec<Outcome> = match value {
        Value::Array(_) => serde_json::from_value(value),
        other => serde_json::from_value(other).map(|one| vec![one]),
    }
    .map_err(|e| e.to_string())?;
    for outcome in &outcomes {
        let status = match outcome {
            Outcome::Error(spec) => spec.status,
            Outcome::Raw(spec) => spec.status,
            _ => continue,
        };
        if !(100..=599).contains(&status) {
            return Err(format!(
                "status must be an HTTP status (100-599), got {status}"
            ));
        }
    }
    Ok(outcomes)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_parse_from_json() {
        let outcomes = parse_outcomes(
            r#"[{"kind":"reply","content":"hi","cost":0.5},
                {"kind":"error","status":429,"headers":{"Retry-After":"2"}},
                {"kind":"raw","body":"<html>"},
                {"kind":"drop","delay":0.1}]"#,
        )
        .unwrap();
        assert_eq!(outcomes.len(), 4);
        match &outcomes[0] {
            Outcome::Reply(spec) => {
                assert_eq!(spec.content.as_deref(), Some("hi"));
                assert!(spec.stream.done, "a missing field takes the spec's default");
            }
            other => panic!("{other:?}"),
        }
        match parse_outcomes(r#"{"kind":"reply","stream":{"chunks":2}}"#)
            .unwrap()
            .as_slice()
        {
            [Outcome::Reply(spec)] => assert_eq!(
                spec.stream,
                StreamSpec {
                    chunks: Some(2),
                    ..StreamSpec::default()
                }
            ),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            outcomes[2],
            Outcome::Raw(RawSpec {
                status: 200,
                body: "<html>".into(),
                ..RawSpec::default()
            })
        );
        assert_eq!(outcomes[3].delay(), 0.1);
    }

    #[test]
    fn impossible_statuses_are_rejected() {
        assert!(parse_outcomes(r#"{"kind":"error","status":42}"#)
            .unwrap_err()
            .contains("status"));
        assert!(parse_outcomes(r#"{"kind":"raw","status":1000}"#).is_err());
    }

    #[test]
    fn unknown_fields_are_rejected_loudly() {
        assert!(parse_outcomes(r#"{"kind":"reply","contnet":"typo"}"#).is_err());
        assert!(parse_outcomes(r#"{"kind":"explode"}"#).is_err());
    }
}
