//! Scripted log probabilities (`Reply(logprobs=[...])` / `Reply(confidence=...)`): when a
//! request asks for `logprobs: true`, each token of a scripted answer gets the scripted
//! value (the last one repeats) instead of the default ones, so quality checks built on
//! confidence (a cascade's) are testable.

use serde_json::{json, Value};

/// The scripted log probability of token `index` (the last value repeats).
fn at(logprobs: &[f64], index: usize) -> f64 {
    logprobs
        .get(index)
        .or_else(|| logprobs.last())
        .copied()
        .unwrap_or(0.0)
}

fn entry(token: &str, logprob: f64) -> Value {
    json!({"token": token, "logprob": logprob, "bytes": token.as_bytes()})
}

/// The `logprobs` object of a choice whose tokens start at `first` in the answer, with
/// `top` alternatives per token (the token itself first).
pub(super) fn for_tokens<'a>(
    tokens: impl IntoIterator<Item = &'a str>,
    first: usize,
    logprobs: &[f64],
    top: usize,
) -> Value {
    let content: Vec<Value> = tokens
        .into_iter()
        .enumerate()
        .map(|(offset, token)| {
            let logprob = at(logprobs, first + offset);
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
    fn scripted_values_repeat_the_last() {
        let value = for_tokens(["a ", "b ", "c"], 0, &[-0.1, -2.0], 2);
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
        assert_eq!(
            for_tokens(["x"], 5, &[-0.1, -0.3], 0)["content"][0]["logprob"],
            json!(-0.3)
        );
    }
}
