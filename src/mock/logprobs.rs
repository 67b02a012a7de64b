//! Deterministic log probabilities for the mock, in OpenAI's shape: when a request asks
//! for `logprobs: true` (and `top_logprobs: n`), every token of the answer gets an entry
//! `{token, logprob, bytes, top_logprobs: [{token, logprob, bytes}...]}`.

use serde_json::{json, Value};

/// OpenAI's cap on `top_logprobs`.
const MAX_TOP: u64 = 20;

/// How many alternatives per token the request asked for, or `None` without `logprobs`.
pub(super) fn requested(request: &Value) -> Option<usize> {
    if request.get("logprobs").and_then(Value::as_bool) != Some(true) {
        return None;
    }
    let top = request
        .get("top_logprobs")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    usize::try_from(top.min(MAX_TOP)).ok()
}

/// A stable log probability in (-5, 0] from the token's text (FNV-1a).
fn logprob_of(token: &str) -> f64 {
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

/// The `logprobs` object of a choice (or of a chunk's choice) for these tokens.
pub(super) fn for_tokens<'a>(tokens: impl IntoIterator<Item = &'a str>, top: usize) -> Value {
    let content: Vec<Value> = tokens
        .into_iter()
        .map(|token| {
            let logprob = logprob_of(token);
            let mut item = entry(token, logprob);
            let alternatives: Vec<Value> = (0..top)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape_and_determinism() {
        let request = json!({"logprobs": true, "top_logprobs": 3});
        let top = requested(&request).unwrap_or_default();
        assert_eq!(top, 3);
        assert_eq!(requested(&json!({"top_logprobs": 3})), None);
        let value = for_tokens(["Hi ", "there"], top);
        assert_eq!(value, for_tokens(["Hi ", "there"], top));
        let first = &value["content"][0];
        assert_eq!(first["token"], "Hi ");
        assert_eq!(first["bytes"], json!([72, 105, 32]));
        assert_eq!(first["top_logprobs"].as_array().map(Vec::len), Some(3));
        assert_eq!(first["top_logprobs"][0]["logprob"], first["logprob"]);
        assert!(first["logprob"].as_f64().is_some_and(|lp| lp <= 0.0));
    }
}
