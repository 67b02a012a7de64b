//! Scripted log probabilities (`Reply(logprobs=[...])` / `Reply(confidence=...)`): when a
//! request asks for `logprobs: true`, each token of a scripted answer gets the scripted
//! value (the last one repeats), so quality checks built on confidence are testable.

use serde_json::{json, Value};

/// Whether the request asked for log probabilities.
pub(super) fn requested(request: &Value) -> bool {
    request.get("logprobs").and_then(Value::as_bool) == Some(true)
}

/// The scripted log probability of token `index` (the last value repeats).
fn at(logprobs: &[f64], index: usize) -> f64 {
    logprobs
        .get(index)
        .or_else(|| logprobs.last())
        .copied()
        .unwrap_or(0.0)
}

/// The `logprobs` object of a choice whose tokens start at `first` in the answer.
pub(super) fn for_tokens<'a>(
    tokens: impl IntoIterator<Item = &'a str>,
    first: usize,
    logprobs: &[f64],
) -> Value {
    let content: Vec<Value> = tokens
        .into_iter()
        .enumerate()
        .map(|(offset, token)| {
            let logprob = at(logprobs, first + offset);
            json!({
                "token": token,
                "logprob": logprob,
                "bytes": token.as_bytes(),
                "top_logprobs": [{"token": token, "logprob": logprob, "bytes": token.as_bytes()}],
            })
        })
        .collect();
    json!({"content": content, "refusal": null})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripted_values_repeat_the_last() {
        assert!(requested(&json!({"logprobs": true})));
        assert!(!requested(&json!({"top_logprobs": 2})));
        let value = for_tokens(["a ", "b ", "c"], 0, &[-0.1, -2.0]);
        let values: Vec<f64> = value["content"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t["logprob"].as_f64())
            .collect();
        assert_eq!(values, vec![-0.1, -2.0, -2.0]);
        assert_eq!(for_tokens(["x"], 5, &[-0.1, -0.3])["content"][0]["logprob"], json!(-0.3));
    }
}
