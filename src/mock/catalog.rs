//! The mock's model catalog: a real 321-model `/models` payload recorded from OpenRouter,
//! bundled in the wheel, plus per-model `/endpoints` synthesised from it.

use std::collections::HashMap;

use bytes::Bytes;
use serde_json::{json, Value};

const BUNDLED_MODELS: &str = include_str!("models.json");

pub struct Catalog {
    /// The `/models` response body, served as is.
    body: Bytes,
    models: HashMap<String, Value>,
}

impl Catalog {
    pub fn bundled() -> Self {
        // The bundled file is checked by a unit test, so this cannot fail in practice;
        // fall back to an empty catalog rather than panic.
        Self::from_json(BUNDLED_MODELS).unwrap_or_else(|_| Self::empty())
    }

    pub fn empty() -> Self {
        Self {
            body: Bytes::from_static(br#"{"data":[]}"#),
            models: HashMap::new(),
        }
    }

    /// From a `/models` body (`{"data": [...]}`) or a bare list of model objects.
    pub fn from_json(text: &str) -> Result<Self, String> {
        let value: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let value = match value {
            Value::Array(list) => json!({ "data": list }),
            other => other,
        };
        let Some(list) = value.get("data").and_then(Value::as_array) else {
            return Err("a catalog is {\"data\": [models...]} or a list of models".into());
        };
        let mut models = HashMap::with_capacity(list.len());
        for model in list {
            let Some(id) = model.get("id").and_then(Value::as_str) else {
                return Err("every model needs a string \"id\"".into());
            };
            models.insert(id.to_owned(), model.clone());
        }
        Ok(Self {
            body: Bytes::from(value.to_string()),
            models,
        })
    }

    pub fn body(&self) -> Bytes {
        self.body.clone()
    }

    pub fn len(&self) -> usize {
        self.models.len()
    }

    pub fn is_empty(&self) -> bool {
        self.models.is_empty()
    }

    pub fn contains(&self, id: &str) -> bool {
        self.models.contains_key(id)
    }

    /// USD for this many tokens at the model's catalog prices (`None` if unknown).
    pub fn price(&self, model: &str, prompt_tokens: u64, completion_tokens: u64) -> Option<f64> {
        let pricing = self.models.get(model)?.get("pricing")?;
        let per_token = |key: &str| {
            pricing
                .get(key)
                .and_then(Value::as_str)
                .and_then(|p| p.parse::<f64>().ok())
                .filter(|p| *p >= 0.0)
                .unwrap_or(0.0)
        };
        Some(
            per_token("prompt") * prompt_tokens as f64
                + per_token("completion") * completion_tokens as f64,
        )
    }

    /// A `GET /models/{author}/{slug}/endpoints` body for a known model.
    pub fn endpoints_body(&self, id: &str) -> Option<Bytes> {
        let model = self.models.get(id)?;
        let provider = provider_for(id);
        let tag = id.split('/').next().unwrap_or(id);
        let context = model.get("context_length").cloned().unwrap_or(Value::Null);
        let top = model.get("top_provider");
        let mut pricing = model.get("pricing").cloned().unwrap_or_else(|| json!({}));
        if let Value::Object(map) = &mut pricing {
            map.insert("discount".into(), json!(0));
        }
        let endpoint = json!({
            "name": format!("{provider} | {id}"),
            "model_id": id,
            "model_name": model.get("name"),
            "provider_name": provider,
            "tag": tag,
            "context_length": context,
            "pricing": pricing,
            "quantization": null,
            "max_completion_tokens": top.and_then(|t| t.get("max_completion_tokens")),
            "max_prompt_tokens": null,
            "supported_parameters": model.get("supported_parameters"),
            "supports_implicit_caching": false,
            "status": 0,
            "uptime_last_30m": 99.5,
            "uptime_last_5m": 100.0,
            "uptime_last_1d": 99.8,
        });
        let body = json!({
            "data": {
                "id": id,
                "name": model.get("name"),
                "created": model.get("created"),
                "description": model.get("description"),
                "architecture": model.get("architecture"),
                "endpoints": [endpoint],
            }
        });
        Some(Bytes::from(body.to_string()))
    }
}

/// A plausible provider display name for a model id: the author, as OpenRouter spells it.
pub fn provider_for(model: &str) -> String {
    let author = model.split('/').next().unwrap_or(model);
    match author {
        "openai" => "OpenAI".into(),
        "anthropic" => "Anthropic".into(),
        "google" => "Google".into(),
        "meta-llama" => "Meta".into(),
        "mistralai" => "Mistral".into(),
        "deepseek" => "DeepSeek".into(),
        "x-ai" => "xAI".into(),
        "qwen" => "Alibaba".into(),
        other => {
            let mut chars = other.chars();
            match chars.next() {
                Some(first) => first.to_uppercase().chain(chars).collect(),
                None => "Mock".into(),
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn bundled_catalog_parses_every_model() {
        let catalog = Catalog::from_json(BUNDLED_MODELS).unwrap();
        assert_eq!(catalog.len(), 321);
    }

    #[test]
    fn prices_from_the_catalog() {
        let catalog = Catalog::bundled();
        let cost = catalog.price("anthropic/claude-opus-4", 1000, 100).unwrap();
        assert!((cost - (0.015 + 0.0075)).abs() < 1e-12, "{cost}");
        assert_eq!(catalog.price("nope/model", 1, 1), None);
    }

    #[test]
    fn endpoints_are_synthesised_for_known_models() {
        let catalog = Catalog::bundled();
        let body = catalog.endpoints_body("openai/gpt-4o-mini").unwrap();
        let value: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(value["data"]["id"], "openai/gpt-4o-mini");
        assert_eq!(value["data"]["endpoints"][0]["provider_name"], "OpenAI");
        assert!(catalog.endpoints_body("nope/model").is_none());
    }

    #[test]
    fn custom_catalog_from_a_list() {
        let catalog =
            Catalog::from_json(r#"[{"id":"a/b","pricing":{"prompt":"0.5","completion":"1"}}]"#)
                .unwrap();
        assert_eq!(catalog.price("a/b", 2, 1), Some(2.0));
        assert!(Catalog::from_json(r#"[{"name":"no id"}]"#).is_err());
    }
}
