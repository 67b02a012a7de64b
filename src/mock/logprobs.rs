//! Log probabilities for the mock, in OpenAI's shape: when a request asks for
//! `logprobs: true` (and `top_logprobs: n`), every token of the answer gets an entry
//! `{token, logprob, bytes, top_logprobs: [{token, logprob, bytes}...]}`, with a
//! deterministic value per token or the scripted ones (`Reply(logprobs=[...])` /
//! `Reply(confidence=...)`, the last repeating), so quality checks built on confidence
//! (a cascade's) are testable.

use serde_json::{json, Value};

/// OpenAI's cap on `top_logprobs`.
const MAX_TOP: u64 = 20;

/// What a request asked for, and the scripted values if the reply has any.
pub(super) struct Logprobs {
    /// Alternatives per token (`top_logprobs`).
    top: usize,
    /// Scripted per-token log probabilities; `None` for the deterministic defaults.
    scripted: Option<Vec<f64>>,
}

impl Logprobs {
    /// The log probabilities a request asked for, or `None` without `logprobs: true`.
    pub(super) fn requested(request: &Value, scripted: Option<&[f64]>) -> Option<Self> {
        if request.get("logprobs").and_then(Value::as_bool) != Some(true) {
            return None;
        }
        let top = request
            .get("top_logprobs")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        Some(Self {
            top: usize::try_from(top.min(MAX_TOP)).ok()?,
            scripted: scripted.map(<[f64]>::to_vec),
        })
    }

    /// The log probability of token `index` of the answer whose text is `token`.
    fn logprob(&self, index: usize, token: &str) -> f64 {
        match &self.scripted {
            Some(values) => values
                .get(index)
                .or_else(|| values.last())
                .copied()
                .unwrap_or(0.0),
            None => default_logprob(token),
        }
    }

    /// The `logprobs` object of a choice (or of a chunk's choice) whose tokens start at
    /// `first` in the answer, with `top` alternatives per token (the token itself first).
    pub(super) fn for_tokens<'a>(
        &self,
        tokens: impl IntoIterator<Item = &'a str>,
        first: usize,
    ) -> Value {
        let content: Vec<Value> = tokens
            .into_iter()
            .enumerate()
            .map(|(offset, token)| {
                let logprob = self.logprob(first + offset, token);
                let mut item = entry(token, logprob);
                let alternatives: Vec<Value> = (0..self.top)
                    .map(|rank| {
                        if rank == 0 {
                            entry(token, logprob)
                        } else {
                            entry(&format!("{}#{rank}", token.trim()), logprob - rank as f64)
                        }
                    })
                    .collect();
                item["top_logprobs"] = Value::Array(alternatives);
                item
            })
            .collect();
        json!({"content": content, "refusal": null})
    }
}

/// A stable log probability in (-5, 0] from the token's text (FNV-1a).
fn default_logprob(token: &str) -> f64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in token.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    -((hash % 5000) as f64) / 1000.0
}

fn entry(token: &str, logprob: f64) -> Value {
    json!({"token": token, "logprob": logprob, "bytes": token.as_bytes()})
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn requested(top: u64, scripted: Option<&[f64]>) -> Logprobs {
        let request = json!({"logprobs": true, "top_logprobs": top});
        Logprobs::requested(&request, scripted).unwrap()
    }

    #[test]
    fn shape_and_determinism() {
        assert!(Logprobs::requested(&json!({"top_logprobs": 3}), None).is_none());
        let logprobs = requested(3, None);
        let value = logprobs.for_tokens(["Hi ", "there"], 0);
        assert_eq!(value, logprobs.for_tokens(["Hi ", "there"], 0));
        let first = &value["content"][0];
        assert_eq!(first["token"], "Hi ");
        assert_eq!(first["bytes"], json!([72, 105, 32]));
        assert_eq!(first["top_logprobs"].as_array().map(Vec::len), Some(3));
        assert_eq!(first["top_logprobs"][0]["logprob"], first["logprob"]);
        assert!(first["logprob"].as_f64().is_some_and(|lp| lp <= 0.0));
    }

    #[test]
    fn scripted_values_repeat_the_last() {
        let value = requested(2, Some(&[-0.1, -2.0])).for_tokens(["a ", "b ", "c"], 0);
        let values: Vec<f64> = value["content"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t["logprob"].as_f64())
            .collect();
        assert_eq!(values, vec![-0.1, -2.0, -2.0]);
        assert_eq!(
            value["content"][0]["top_logprobs"][1]["token"],
            json!("a#1")
        );
        let later = requested(0, Some(&[-0.1, -0.3])).for_tokens(["x"], 5);
        assert_eq!(later["content"][0]["logprob"], json!(-0.3));
    }
}
