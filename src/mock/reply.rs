//! `POST /chat/completions` for the mock: pop the model's next outcome and render it in
//! OpenRouter's exact wire shapes.

use std::io;
use std::time::SystemTime;

use hyper::header::{HeaderName, HeaderValue};
use hyper::Response;
use serde::Serialize;
use serde_json::{json, Value};

use super::catalog::provider_for;
use super::logprobs::Logprobs;
use super::script::{ErrorSpec, Outcome, ReplySpec};
use super::Flavor;
use super::{json_response, lock, Body, State, ANY_MODEL};

pub(super) async fn chat(state: &State, request: &Value) -> Result<Response<Body>, io::Error> {
    let Some(model) = request
        .get("model")
        .and_then(Value::as_str)
        .map(str::to_owned)
    else {
        return Ok(super::error_response(400, "No model specified"));
    };
    if !state.knows_model(&model) {
        return Ok(model_not_found(&model, state.flavor));
    }
    let outcome = next_outcome(state, &model);
    let delay = outcome.delay();
    // No timer for no delay: tokio rounds a zero sleep up to its 1 ms tick.
    if let Some(delay) = crate::duration::from_secs_clamped(delay).filter(|d| !d.is_zero()) {
        tokio::time::sleep(delay).await;
    }
    match outcome {
        Outcome::Reply(mut spec) => {
            // OpenAI-compatible servers report tokens, not money.
            spec.omit_cost |= state.flavor == Flavor::OpenAi;
            Ok(reply(state, &model, request, &spec))
        }
        Outcome::Error(spec) => Ok(error(&spec, state.flavor)),
        Outcome::Raw(spec) => {
            let body = spec.body_bytes.unwrap_or_else(|| spec.body.into_bytes());
            let mut response = json_response(spec.status, body);
            response.headers_mut().remove(hyper::header::CONTENT_TYPE);
            add_headers(&mut response, &spec.headers);
            Ok(response)
        }
        Outcome::Drop { .. } => Err(io::Error::new(
            io::ErrorKind::ConnectionAborted,
            "scripted connection drop",
        )),
    }
}

/// The answer to an unknown model id (OpenRouter's, or a plain OpenAI-compatible server's).
fn model_not_found(model: &str, flavor: Flavor) -> Response<Body> {
    if flavor == Flavor::OpenAi {
        // OpenAI's own answer, as vLLM and most compatible servers give it.
        let body = json!({"error": {
            "message": format!("The model `{model}` does not exist or you do not have access to it."),
            "type": "invalid_request_error",
            "param": null,
            "code": "model_not_found",
        }});
        return json_response(404, body.to_string());
    }
    let body = json!({"error": {
        "message": format!("{model} is not a valid model ID"),
        "code": 400,
        "error_type": "invalid_request",
        "http_status": 400,
        "availability": {
            "code": "model_not_found",
            "retryable": false,
            "requested_models": [model],
        },
    }});
    json_response(400, body.to_string())
}

fn next_outcome(state: &State, model: &str) -> Outcome {
    let mut queues = lock(&state.queues);
    for key in [model, ANY_MODEL] {
        if let Some(outcome) = queues.get_mut(key).and_then(|queue| queue.pop_front()) {
            return outcome;
        }
    }
    Outcome::Reply(Box::default())
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Roughly four characters per token, like most tokenizers on English text.
fn estimate_tokens(text: &str) -> u64 {
    (text.chars().count() as u64).div_ceil(4).max(1)
}

/// All text the prompt carries (string contents and text parts).
fn prompt_text(request: &Value) -> String {
    let mut text = String::new();
    let messages = request.get("messages").and_then(Value::as_array);
    for message in messages.into_iter().flatten() {
        match message.get("content") {
            Some(Value::String(s)) => text.push_str(s),
            Some(Value::Array(parts)) => {
                for part in parts {
                    if let Some(s) = part.get("text").and_then(Value::as_str) {
                        text.push_str(s);
                    }
                }
            }
            _ => {}
        }
        text.push('\n');
    }
    text
}

fn last_user_text(request: &Value) -> String {
    let messages = request.get("messages").and_then(Value::as_array);
    messages
        .into_iter()
        .flatten()
        .rev()
        .find(|m| m.get("role").and_then(Value::as_str) == Some("user"))
        .and_then(|m| m.get("content"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .chars()
        .take(200)
        .collect()
}

/// Everything a reply says, shared by the JSON and the streamed renderings.
pub(super) struct ReplyPlan {
    pub id: String,
    pub created: u64,
    pub model: String,
    pub provider: String,
    pub content: String,
    pub reasoning: Option<String>,
    pub tool_calls: Vec<Value>,
    pub finish_reason: String,
    pub native_finish_reason: String,
    pub usage: Usage,
    /// The log probabilities to attach, when the request asked for `logprobs`.
    pub logprobs: Option<Logprobs>,
}

fn plan(
    state: &State,
    model: &str,
    request: &Value,
    spec: &ReplySpec,
    streamed: bool,
) -> ReplyPlan {
    let served_model = spec.model.clone().unwrap_or_else(|| model.to_owned());
    let provider = spec
        .provider
        .clone()
        .unwrap_or_else(|| provider_for(&served_model));
    let content = spec.content.clone().unwrap_or_else(|| {
        format!(
            "Hello from the fastrouter mock server, answering as {served_model}. You said: {}",
            last_user_text(request)
        )
    });
    let created = unix_now();
    let (counter, id) = state.next_generation(created);

    let prompt_tokens = spec
        .prompt_tokens
        .unwrap_or_else(|| estimate_tokens(&prompt_text(request)));
    let reasoning_tokens = spec
        .reasoning_tokens
        .unwrap_or_else(|| spec.reasoning.as_deref().map_or(0, estimate_tokens));
    let completion_tokens = spec
        .completion_tokens
        .unwrap_or_else(|| estimate_tokens(&content) + reasoning_tokens);
    let cost = spec.cost.or_else(|| {
        state
            .catalog
            .price(&served_model, prompt_tokens, completion_tokens)
    });
    // Round like OpenRouter's reports (no binary-float tails such as ...00000002).
    let cost = (cost.unwrap_or(0.0) * 1e12).round() / 1e12;

    let tool_calls: Vec<Value> = spec
        .tool_calls
        .iter()
        .enumerate()
        .map(|(index, call)| {
            json!({
                "id": call.id.clone().unwrap_or_else(|| format!("call_mock_{counter}_{index}")),
                "index": index,
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments},
            })
        })
        .collect();
    let default_finish = if tool_calls.is_empty() {
        "stop"
    } else {
        "tool_calls"
    };
    let finish_reason = spec
        .finish_reason
        .clone()
        .unwrap_or_else(|| default_finish.into());
    let native_finish_reason = spec
        .native_finish_reason
        .clone()
        .unwrap_or_else(|| finish_reason.clone());

    let usage = Usage {
        prompt_tokens,
        completion_tokens,
        total_tokens: prompt_tokens + completion_tokens,
        cost: (!spec.omit_cost).then_some(cost),
        is_byok: false,
        prompt_tokens_details: PromptTokensDetails::default(),
        cost_details: (!spec.omit_cost).then_some(CostDetails::default()),
        completion_tokens_details: CompletionTokensDetails {
            reasoning_tokens,
            image_tokens: 0,
        },
    };
    if !spec.omit_cost {
        *lock(&state.usage) += cost;
    }
    let latency_ms = (spec.delay * 1000.0) as u64;
    lock(&state.generations).insert(
        id.clone(),
        Generation {
            id: id.clone(),
            model: served_model.clone(),
            provider_name: provider.clone(),
            api_type: "completions",
            streamed,
            cancelled: false,
            finish_reason: finish_reason.clone(),
            native_finish_reason: native_finish_reason.clone(),
            total_cost: cost,
            usage: cost,
            is_byok: false,
            tokens_prompt: prompt_tokens,
            tokens_completion: completion_tokens,
            native_tokens_prompt: prompt_tokens,
            native_tokens_completion: completion_tokens,
            native_tokens_reasoning: reasoning_tokens,
            latency: latency_ms,
            generation_time: latency_ms,
            provider_responses: [ProviderResponse {
                provider_name: provider.clone(),
                status: 200,
            }],
        },
    );
    ReplyPlan {
        id,
        created,
        model: served_model,
        provider,
        content,
        reasoning: spec.reasoning.clone(),
        tool_calls,
        finish_reason,
        native_finish_reason,
        usage,
        logprobs: Logprobs::requested(request, spec.logprobs.as_deref()),
    }
}

fn reply(state: &State, model: &str, request: &Value, spec: &ReplySpec) -> Response<Body> {
    let streamed = request.get("stream").and_then(Value::as_bool) == Some(true);
    let plan = plan(state, model, request, spec, streamed);
    let mut response = if streamed {
        super::stream::respond(&plan, &spec.stream)
    } else {
        match render_json(&plan, spec) {
            Ok(body) => json_response(200, body),
            Err(err) => super::error_response(500, &format!("mock reply not rendered: {err}")),
        }
    };
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&plan.id) {
        headers.insert("x-generation-id", value);
    }
    if let Ok(value) = HeaderValue::from_str(&plan.provider) {
        headers.insert("x-provider-name", value);
    }
    add_headers(&mut response, &spec.headers);
    response
}

fn render_json(plan: &ReplyPlan, spec: &ReplySpec) -> serde_json::Result<String> {
    let completion = Completion {
        id: &plan.id,
        provider: &plan.provider,
        model: &plan.model,
        object: "chat.completion",
        created: plan.created,
        choices: [Choice {
            logprobs: plan.logprobs.as_ref().map(|logprobs| {
                let tokens = super::stream::split_content(&plan.content, None);
                logprobs.for_tokens(tokens.iter().map(String::as_str), 0)
            }),
            finish_reason: &plan.finish_reason,
            native_finish_reason: &plan.native_finish_reason,
            index: 0,
            message: Message {
                role: "assistant",
                content: &plan.content,
                refusal: None,
                reasoning: plan.reasoning.as_deref(),
                tool_calls: &plan.tool_calls,
                reasoning_details: plan.reasoning.as_deref().map(|text| {
                    [ReasoningDetail {
                        kind: "reasoning.text",
                        text,
                        format: "unknown",
                        index: 0,
                    }]
                }),
            },
        }],
        system_fingerprint: None,
        usage: &plan.usage,
    };
    let mut text = " \n".repeat(spec.leading_whitespace);
    match &spec.extra {
        // Scripted extra top-level fields, merged in (the keys then come sorted).
        Some(Value::Object(extra)) => {
            let mut body = serde_json::to_value(&completion)?;
            if let Value::Object(target) = &mut body {
                for (key, value) in extra {
                    target.insert(key.clone(), value.clone());
                }
            }
            text.push_str(&body.to_string());
        }
        _ => text.push_str(&serde_json::to_string(&completion)?),
    }
    Ok(text)
}

// The wire shapes, written straight from the plan (no `Value` tree built per reply), their
// fields in the order OpenRouter sends them.

/// A non-streamed chat completion.
#[derive(Serialize)]
struct Completion<'a> {
    id: &'a str,
    provider: &'a str,
    model: &'a str,
    object: &'static str,
    created: u64,
    choices: [Choice<'a>; 1],
    system_fingerprint: Option<&'static str>,
    usage: &'a Usage,
}

#[derive(Serialize)]
struct Choice<'a> {
    logprobs: Option<Value>,
    finish_reason: &'a str,
    native_finish_reason: &'a str,
    index: u32,
    message: Message<'a>,
}

#[derive(Serialize)]
struct Message<'a> {
    role: &'static str,
    content: &'a str,
    refusal: Option<&'static str>,
    reasoning: Option<&'a str>,
    #[serde(skip_serializing_if = "<[Value]>::is_empty")]
    tool_calls: &'a [Value],
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning_details: Option<[ReasoningDetail<'a>; 1]>,
}

#[derive(Serialize)]
struct ReasoningDetail<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    text: &'a str,
    format: &'static str,
    index: u32,
}

/// An answer's `usage` (OpenAI-compatible servers leave out the cost fields).
#[derive(Serialize, Clone, Debug, Default, PartialEq)]
pub(super) struct Usage {
    prompt_tokens: u64,
    completion_tokens: u64,
    total_tokens: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    cost: Option<f64>,
    is_byok: bool,
    prompt_tokens_details: PromptTokensDetails,
    #[serde(skip_serializing_if = "Option::is_none")]
    cost_details: Option<CostDetails>,
    completion_tokens_details: CompletionTokensDetails,
}

impl Usage {
    /// As a JSON value, for the streamed chunks built as values.
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null) // string keys, plain numbers: never fails
    }
}

#[derive(Serialize, Clone, Copy, Debug, Default, PartialEq)]
struct PromptTokensDetails {
    cached_tokens: u64,
    audio_tokens: u64,
}

#[derive(Serialize, Clone, Copy, Debug, Default, PartialEq)]
struct CostDetails {
    upstream_inference_cost: Option<f64>,
}

#[derive(Serialize, Clone, Copy, Debug, Default, PartialEq)]
struct CompletionTokensDetails {
    reasoning_tokens: u64,
    image_tokens: u64,
}

/// What `GET /generation?id=` reports of a served answer.
#[derive(Serialize, Clone, Debug)]
pub(super) struct Generation {
    id: String,
    model: String,
    provider_name: String,
    api_type: &'static str,
    streamed: bool,
    cancelled: bool,
    finish_reason: String,
    native_finish_reason: String,
    total_cost: f64,
    usage: f64,
    is_byok: bool,
    tokens_prompt: u64,
    tokens_completion: u64,
    native_tokens_prompt: u64,
    native_tokens_completion: u64,
    native_tokens_reasoning: u64,
    latency: u64,
    generation_time: u64,
    provider_responses: [ProviderResponse; 1],
}

#[derive(Serialize, Clone, Debug)]
struct ProviderResponse {
    provider_name: String,
    status: u16,
}

impl Generation {
    /// The `GET /generation` body: `{"data": {...}}`.
    pub fn body(&self) -> serde_json::Result<String> {
        #[derive(Serialize)]
        struct Found<'a> {
            data: &'a Generation,
        }
        serde_json::to_string(&Found { data: self })
    }
}

fn error(spec: &ErrorSpec, flavor: Flavor) -> Response<Body> {
    if flavor == Flavor::OpenAi {
        return openai_error(spec);
    }
    let mut error = json!({
        "message": spec.message.clone().unwrap_or_else(|| default_message(spec.status).into()),
        "code": spec.code.clone().unwrap_or_else(|| json!(spec.status)),
    });
    if let Some(metadata) = &spec.metadata {
        error["metadata"] = metadata.clone();
    }
    let body = json!({"error": error, "user_id": "user_mock"});
    let status = if spec.in_body { 200 } else { spec.status };
    let mut response = json_response(status, body.to_string());
    add_headers(&mut response, &spec.headers);
    response
}

/// The standard OpenAI-compatible error body: `{"error": {"message", "type", "param",
/// "code"}}` with a string `code` (`model_not_found`, `context_length_exceeded`, ...) and
/// no OpenRouter metadata.
fn openai_error(spec: &ErrorSpec) -> Response<Body> {
    let code = spec.code.clone().unwrap_or(Value::Null);
    let kind = match (spec.status, code.as_str()) {
        (429, Some("insufficient_quota")) => "insufficient_quota",
        (429, _) => "rate_limit_error",
        (401, _) => "authentication_error",
        (403, _) => "permission_error",
        (400..=499, _) => "invalid_request_error",
        _ => "server_error",
    };
    let message = spec.message.clone().unwrap_or_else(|| match code.as_str() {
        Some("model_not_found") => {
            "The model does not exist or you do not have access to it.".into()
        }
        Some("context_length_exceeded") => {
            "This model's maximum context length is 8192 tokens.".into()
        }
        _ => default_message(spec.status).into(),
    });
    let body = json!({"error": {"message": message, "type": kind, "param": null, "code": code}});
    let status = if spec.in_body { 200 } else { spec.status };
    let mut response = json_response(status, body.to_string());
    add_headers(&mut response, &spec.headers);
    response
}

fn default_message(status: u16) -> &'static str {
    match status {
        400 => "Invalid request",
        401 => "User not found.",
        402 => "Insufficient credits",
        403 => "Request blocked by moderation",
        404 => "No endpoints found for this model",
        408 => "Operation timed out. Please try again later.",
        429 => "Rate limit exceeded",
        502 => "Provider returned error",
        503 => "No instances available",
        _ => "Internal Server Error",
    }
}

fn add_headers(
    response: &mut Response<Body>,
    headers: &std::collections::BTreeMap<String, String>,
) {
    for (name, value) in headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            response.headers_mut().insert(name, value);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// Each of `keys` (as `"key":`) first appears after the one before it.
    fn assert_in_order(text: &str, keys: &[&str]) {
        let at: Vec<usize> = keys
            .iter()
            .map(|key| {
                text.find(&format!("\"{key}\":"))
                    .unwrap_or_else(|| panic!("no {key:?} in {text}"))
            })
            .collect();
        assert!(
            at.windows(2).all(|w| w[0] < w[1]),
            "{keys:?} out of order in {text}"
        );
    }

    #[test]
    fn a_completion_keeps_openrouters_key_order() {
        let plan = ReplyPlan {
            id: "gen-1".into(),
            created: 1,
            model: "openai/gpt-4o-mini".into(),
            provider: "OpenAI".into(),
            content: "Hello".into(),
            reasoning: Some("Thinking".into()),
            tool_calls: Vec::new(),
            finish_reason: "stop".into(),
            native_finish_reason: "stop".into(),
            usage: Usage {
                prompt_tokens: 3,
                completion_tokens: 2,
                total_tokens: 5,
                cost: Some(0.5),
                is_byok: false,
                prompt_tokens_details: PromptTokensDetails::default(),
                cost_details: Some(CostDetails::default()),
                completion_tokens_details: CompletionTokensDetails {
                    reasoning_tokens: 1,
                    image_tokens: 0,
                },
            },
            logprobs: None,
        };
        let text = render_json(&plan, &ReplySpec::default()).unwrap();
        // As recorded from OpenRouter (shared/fixtures/openrouter-traffic).
        assert_in_order(
            &text,
            &[
                "id",
                "provider",
                "model",
                "object",
                "created",
                "choices",
                "system_fingerprint",
                "usage",
            ],
        );
        assert_in_order(
            &text,
            &[
                "logprobs",
                "finish_reason",
                "native_finish_reason",
                "index",
                "message",
            ],
        );
        assert_in_order(
            &text,
            &[
                "role",
                "content",
                "refusal",
                "reasoning",
                "reasoning_details",
            ],
        );
        assert_in_order(
            &text,
            &[
                "prompt_tokens",
                "completion_tokens",
                "total_tokens",
                "cost",
                "is_byok",
                "prompt_tokens_details",
                "cost_details",
                "completion_tokens_details",
            ],
        );
        let value: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value["usage"]["cost"], 0.5);
        assert_eq!(
            value["choices"][0]["message"]["reasoning_details"][0]["type"],
            "reasoning.text"
        );
        assert!(value["system_fingerprint"].is_null());
    }
}
