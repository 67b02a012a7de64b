//! Merging streamed chunks into the whole `ChatCompletion` a stream stands for.
//!
//! Content and reasoning concatenate; tool-call deltas merge by `index` (never by array
//! position) with arguments split anywhere; `reasoning_details` merge per (type, index)
//! keeping the last signature; the first finish_reason wins (OpenRouter repeats it on the
//! usage chunk); usage is taken from whichever chunk carries it (three real shapes).

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Map, Value};

/// A string that points into the text when it has no escapes (serde makes every
/// `Option<Cow<str>>` an owned copy; only a `Cow` field of its own borrows).
fn borrowed<'de: 'a, 'a, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Cow<'a, str>>, D::Error> {
    #[derive(Deserialize)]
    struct Borrowed<'a>(#[serde(borrow)] Cow<'a, str>);
    let text = Option::<Borrowed<'a>>::deserialize(deserializer)?;
    Ok(text.map(|Borrowed(text)| text))
}

/// The most choices one chunk may carry (a request's `n` is at most 128 at OpenAI): a chunk
/// with more is refused, so an event cannot turn every 3 bytes (`{},`) into a ~300-byte
/// choice (an 8 MiB event into ~1 GB). Choice and tool-call indexes stay below it too
/// (see [`over_limit`]), so a stream's merged choices and calls are bounded as well.
pub const MAX_CHOICES: usize = 1024;

/// Why a parsed chunk cannot be merged: a choice or tool-call index at or past
/// [`MAX_CHOICES`] (each distinct index is kept until the stream ends).
pub fn over_limit(chunk: &ChunkIn<'_>) -> Option<String> {
    let too_big = |index: Option<u32>| index.is_some_and(|i| i as usize >= MAX_CHOICES);
    for choice in &chunk.choices {
        if too_big(choice.index) {
            return Some(format!(
                "choice index {} is not below {MAX_CHOICES}",
                choice.index?
            ));
        }
        let calls = choice
            .delta
            .as_ref()
            .map_or(&[][..], |delta| &delta.tool_calls);
        for call in calls {
            if too_big(call.index) {
                return Some(format!(
                    "tool call index {} is not below {MAX_CHOICES}",
                    call.index?
                ));
            }
        }
    }
    None
}

/// What a [`Bounded`] list holds, as its refusal names it.
pub trait ListItem {
    /// "choices in one chunk", "tool calls in one delta".
    const WHAT: &'static str;
}

impl ListItem for ChoiceIn<'_> {
    const WHAT: &'static str = "choices in one chunk";
}

impl ListItem for ToolCallIn<'_> {
    const WHAT: &'static str = "tool calls in one delta";
}

/// A JSON array refused past [`MAX_CHOICES`] items while it is read: otherwise an 8 MiB
/// event of `{},` would be ~30 times its size in parsed items before being refused.
pub struct Bounded<T>(pub Vec<T>);

impl<'de, T: serde::Deserialize<'de> + ListItem> serde::Deserialize<'de> for Bounded<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Items<T>(std::marker::PhantomData<T>);

        impl<'de, T: serde::Deserialize<'de> + ListItem> serde::de::Visitor<'de> for Items<T> {
            type Value = Bounded<T>;

            fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                formatter.write_str("a sequence")
            }

            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Self::Value, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    if items.len() == MAX_CHOICES {
                        return Err(serde::de::Error::custom(format!(
                            "more than {MAX_CHOICES} {}",
                            T::WHAT
                        )));
                    }
                    items.push(item);
                }
                Ok(Bounded(items))
            }
        }

        deserializer.deserialize_seq(Items(std::marker::PhantomData))
    }
}

impl<T> From<Bounded<T>> for Vec<T> {
    fn from(Bounded(items): Bounded<T>) -> Self {
        items
    }
}

/// A [`Bounded`] list as the `Vec` it is (for `deserialize_with`).
fn bounded<'de, T, D>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    T: serde::Deserialize<'de> + ListItem,
    D: serde::Deserializer<'de>,
{
    Bounded::deserialize(deserializer).map(|Bounded(items)| items)
}

/// A chunk as parsed from its text (strings borrowed where they have no escapes): what
/// the accumulator merges and the typed view (`stream::chunk`) keeps. A field added to
/// it, [`ChoiceIn`] or [`DeltaIn`] must be known to `stream::scan` too (else that fast
/// path would skip it as unknown: `stream::scan`'s tests fail until it is).
#[derive(Deserialize, Default)]
#[cfg_attr(test, derive(Debug))]
pub struct ChunkIn<'a> {
    #[serde(default, borrow, deserialize_with = "borrowed")]
    pub id: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "borrowed")]
    pub object: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "borrowed")]
    pub model: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "borrowed")]
    pub provider: Option<Cow<'a, str>>,
    #[serde(default)]
    pub created: Option<i64>,
    #[serde(default, borrow, deserialize_with = "borrowed")]
    pub system_fingerprint: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "borrowed")]
    pub service_tier: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "bounded")]
    pub choices: Vec<ChoiceIn<'a>>,
    /// Kept as text: a parsed number would round `cost`.
    #[serde(default, borrow)]
    pub usage: Option<&'a RawValue>,
    #[serde(default)]
    pub error: Option<Value>,
}

#[derive(Deserialize, Default)]
#[cfg_attr(test, derive(Debug))]
pub struct ChoiceIn<'a> {
    #[serde(default)]
    pub index: Option<u32>,
    #[serde(default, borrow)]
    pub delta: Option<DeltaIn<'a>>,
    #[serde(default, borrow, deserialize_with = "borrowed")]
    pub finish_reason: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "borrowed")]
    pub native_finish_reason: Option<Cow<'a, str>>,
    #[serde(default)]
    pub logprobs: Option<Value>,
    #[serde(default)]
    pub error: Option<Value>,
}

#[derive(Deserialize, Default)]
#[cfg_attr(test, derive(Debug))]
pub struct DeltaIn<'a> {
    #[serde(default, borrow, deserialize_with = "borrowed")]
    pub role: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "borrowed")]
    pub content: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "borrowed")]
    pub reasoning: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "borrowed")]
    pub refusal: Option<Cow<'a, str>>,
    #[serde(default)]
    pub reasoning_details: Vec<Value>,
    #[serde(default, borrow, deserialize_with = "bounded")]
    pub tool_calls: Vec<ToolCallIn<'a>>,
    #[serde(default)]
    pub annotations: Vec<Value>,
    #[serde(default)]
    pub images: Vec<Value>,
}

#[derive(Deserialize)]
#[cfg_attr(test, derive(Debug))]
pub struct ToolCallIn<'a> {
    #[serde(default)]
    pub index: Option<u32>,
    #[serde(default, borrow, deserialize_with = "borrowed")]
    pub id: Option<Cow<'a, str>>,
    #[serde(default, borrow, rename = "type", deserialize_with = "borrowed")]
    pub kind: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub function: Option<FunctionIn<'a>>,
}

#[derive(Deserialize)]
#[cfg_attr(test, derive(Debug))]
pub struct FunctionIn<'a> {
    #[serde(default, borrow, deserialize_with = "borrowed")]
    pub name: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "borrowed")]
    pub arguments: Option<Cow<'a, str>>,
}

#[derive(Default, Debug, Clone)]
struct ToolCallAcc {
    id: Option<String>,
    kind: Option<String>,
    name: String,
    arguments: String,
}

#[derive(Default, Debug, Clone)]
struct ChoiceAcc {
    role: Option<String>,
    content: String,
    saw_content: bool,
    reasoning: String,
    saw_reasoning: bool,
    refusal: Option<String>,
    /// Merged per (type, index), in order of first appearance.
    reasoning_details: Vec<Value>,
    tool_calls: BTreeMap<u32, ToolCallAcc>,
    annotations: Vec<Value>,
    images: Vec<Value>,
    logprobs: Vec<Value>,
    finish_reason: Option<String>,
    native_finish_reason: Option<String>,
}

/// What one chunk changed, for the stream's bookkeeping.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ChunkEffect {
    /// The chunk carried content, reasoning, a refusal, tool calls or images.
    pub progress: bool,
    /// A finish_reason was seen (possibly a repeat).
    pub finished: bool,
    /// The chunk carried an in-band error object (top level or in a choice).
    pub error: Option<Value>,
}

/// The growing completion of one stream attempt.
#[derive(Default, Debug, Clone)]
pub struct Accumulator {
    id: Option<String>,
    model: Option<String>,
    provider: Option<String>,
    created: Option<i64>,
    system_fingerprint: Option<String>,
    service_tier: Option<String>,
    /// Boxed: a map node has room for 11 entries, and nearly every stream has one choice.
    choices: BTreeMap<u32, Box<ChoiceAcc>>,
    usage: Option<Box<RawValue>>,
    error: Option<Value>,
    chunks: usize,
}

fn set_once(slot: &mut Option<String>, value: Option<&Cow<'_, str>>) {
    if slot.is_none() {
        if let Some(value) = value {
            *slot = Some(value.to_string());
        }
    }
}

impl Accumulator {
    pub fn new() -> Self {
        Self::default()
    }

    /// Chunks merged so far.
    pub fn chunks(&self) -> usize {
        self.chunks
    }

    /// `usage.cost` exactly as sent, once a usage chunk arrived.
    pub fn cost_text(&self) -> Option<String> {
        #[derive(Deserialize)]
        struct CostOnly<'a> {
            #[serde(default, borrow)]
            cost: Option<&'a RawValue>,
        }
        // An object only: serde's derive would read an array's first value as the cost.
        let usage = self.usage.as_ref().filter(|u| u.get().starts_with('{'))?;
        let parsed: CostOnly = serde_json::from_str(usage.get()).ok()?;
        parsed
            .cost
            .and_then(crate::response::cost_text)
            .map(str::to_owned)
    }

    pub fn provider(&self) -> Option<&str> {
        self.provider.as_deref()
    }

    /// Merge one parsed chunk. Its choices are taken out, the list's room left for the
    /// next chunk (`stream::chunk::Spare`).
    pub fn add(&mut self, chunk: &mut ChunkIn<'_>) -> ChunkEffect {
        self.chunks += 1;
        set_once(&mut self.id, chunk.id.as_ref());
        set_once(&mut self.model, chunk.model.as_ref());
        set_once(&mut self.provider, chunk.provider.as_ref());
        set_once(
            &mut self.system_fingerprint,
            chunk.system_fingerprint.as_ref(),
        );
        set_once(&mut self.service_tier, chunk.service_tier.as_ref());
        if self.created.is_none() {
            self.created = chunk.created;
        }
        if let Some(usage) = chunk.usage {
            if usage.get() != "null" {
                self.usage = Some(usage.to_owned());
            }
        }
        let mut effect = ChunkEffect {
            error: chunk.error.take().filter(|e| !e.is_null()),
            ..ChunkEffect::default()
        };
        for choice in chunk.choices.drain(..) {
            let acc = self.choices.entry(choice.index.unwrap_or(0)).or_default();
            if let Some(delta) = choice.delta {
                effect.progress |= merge_delta(acc, delta);
            }
            if let Some(Value::Object(logprobs)) = choice.logprobs {
                if let Some(Value::Array(content)) = logprobs.get("content") {
                    acc.logprobs.extend(content.iter().cloned());
                }
            }
            if let Some(reason) = choice.finish_reason {
                effect.finished = true;
                if acc.finish_reason.is_none() {
                    acc.finish_reason = Some(reason.into_owned());
                    acc.native_finish_reason = choice.native_finish_reason.map(Cow::into_owned);
                }
            }
            if effect.error.is_none() {
                effect.error = choice.error.filter(|e| !e.is_null());
            }
        }
        if let Some(error) = &effect.error {
            self.error = Some(error.clone());
        }
        effect
    }

    /// The whole completion so far, in `chat.completion` shape.
    pub fn to_value(&self) -> Value {
        let choices: Vec<Value> = if self.choices.is_empty() {
            vec![choice_value(0, &ChoiceAcc::default())]
        } else {
            self.choices
                .iter()
                .map(|(index, acc)| choice_value(*index, acc))
                .collect()
        };
        let mut out = Map::new();
        out.insert("id".into(), json!(self.id));
        out.insert("object".into(), json!("chat.completion"));
        out.insert("created".into(), json!(self.created));
        out.insert("model".into(), json!(self.model));
        out.insert("provider".into(), json!(self.provider));
        if let Some(fingerprint) = &self.system_fingerprint {
            out.insert("system_fingerprint".into(), json!(fingerprint));
        }
        if let Some(tier) = &self.service_tier {
            out.insert("service_tier".into(), json!(tier));
        }
        out.insert("choices".into(), Value::Array(choices));
        let usage = self
            .usage
            .as_ref()
            .and_then(|raw| serde_json::from_str::<Value>(raw.get()).ok())
            .unwrap_or(Value::Null);
        out.insert("usage".into(), usage);
        if let Some(error) = &self.error {
            out.insert("error".into(), error.clone());
        }
        Value::Object(out)
    }

    pub fn to_json(&self) -> String {
        self.to_value().to_string()
    }
}

fn merge_delta(acc: &mut ChoiceAcc, delta: DeltaIn<'_>) -> bool {
    let mut progress = false;
    if acc.role.is_none() {
        acc.role = delta.role.map(Cow::into_owned);
    }
    if let Some(content) = delta.content {
        acc.saw_content = true;
        progress |= !content.is_empty();
        acc.content.push_str(&content);
    }
    if let Some(reasoning) = delta.reasoning {
        acc.saw_reasoning = true;
        progress |= !reasoning.is_empty();
        acc.reasoning.push_str(&reasoning);
    }
    if let Some(refusal) = delta.refusal {
        progress |= !refusal.is_empty();
        acc.refusal
            .get_or_insert_with(String::new)
            .push_str(&refusal);
    }
    for detail in delta.reasoning_details {
        progress = true;
        merge_reasoning_detail(&mut acc.reasoning_details, detail);
    }
    for (position, call) in delta.tool_calls.into_iter().enumerate() {
        progress = true;
        let index = call.index.unwrap_or(position as u32);
        let slot = acc.tool_calls.entry(index).or_default();
        if let Some(id) = call.id.filter(|id| !id.is_empty()) {
            slot.id = Some(id.into_owned());
        }
        if let Some(kind) = call.kind {
            slot.kind = Some(kind.into_owned());
        }
        if let Some(function) = call.function {
            if let Some(name) = function.name {
                slot.name.push_str(&name);
            }
            if let Some(arguments) = function.arguments {
                slot.arguments.push_str(&arguments);
            }
        }
    }
    if !delta.annotations.is_empty() {
        acc.annotations.extend(delta.annotations);
    }
    if !delta.images.is_empty() {
        progress = true;
        acc.images.extend(delta.images);
    }
    progress
}

/// Fragments of one logical block share (type, index): concatenate its text fields and
/// keep the last non-empty value of the others (e.g. the signature).
fn merge_reasoning_detail(details: &mut Vec<Value>, detail: Value) {
    let Value::Object(fragment) = detail else {
        return;
    };
    let key = |map: &Map<String, Value>| (map.get("type").cloned(), map.get("index").cloned());
    let fragment_key = key(&fragment);
    let existing = details.iter_mut().find_map(|d| match d {
        Value::Object(map) if fragment_key.1.is_some() && key(map) == fragment_key => Some(map),
        _ => None,
    });
    let Some(target) = existing else {
        details.push(Value::Object(fragment));
        return;
    };
    for (name, value) in fragment {
        let concatenates = matches!(name.as_str(), "text" | "summary");
        match (target.get_mut(&name), value) {
            (Some(Value::String(old)), Value::String(new)) if concatenates => old.push_str(&new),
            (_, Value::Null) => {}
            (_, Value::String(new)) if new.is_empty() => {}
            (_, new) => {
                target.insert(name, new);
            }
        }
    }
}

fn choice_value(index: u32, acc: &ChoiceAcc) -> Value {
    let mut message = Map::new();
    message.insert(
        "role".into(),
        json!(acc.role.as_deref().unwrap_or("assistant")),
    );
    message.insert(
        "content".into(),
        if acc.saw_content || acc.tool_calls.is_empty() {
            json!(acc.content)
        } else {
            Value::Null
        },
    );
    message.insert("refusal".into(), json!(acc.refusal));
    message.insert(
        "reasoning".into(),
        if acc.saw_reasoning && !acc.reasoning.is_empty() {
            json!(acc.reasoning)
        } else {
            Value::Null
        },
    );
    if !acc.reasoning_details.is_empty() {
        message.insert(
            "reasoning_details".into(),
            Value::Array(acc.reasoning_details.clone()),
        );
    }
    if !acc.tool_calls.is_empty() {
        let calls: Vec<Value> = acc
            .tool_calls
            .iter()
            .map(|(index, call)| {
                json!({
                    "index": index,
                    "id": call.id,
                    "type": call.kind.as_deref().unwrap_or("function"),
                    "function": {"name": call.name, "arguments": call.arguments},
                })
            })
            .collect();
        message.insert("tool_calls".into(), Value::Array(calls));
    }
    if !acc.annotations.is_empty() {
        message.insert("annotations".into(), Value::Array(acc.annotations.clone()));
    }
    if !acc.images.is_empty() {
        message.insert("images".into(), Value::Array(acc.images.clone()));
    }
    let logprobs = if acc.logprobs.is_empty() {
        Value::Null
    } else {
        json!({"content": acc.logprobs})
    };
    json!({
        "index": index,
        "message": Value::Object(message),
        "finish_reason": acc.finish_reason,
        "native_finish_reason": acc.native_finish_reason,
        "logprobs": logprobs,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn add(acc: &mut Accumulator, text: &str) -> ChunkEffect {
        acc.add(&mut serde_json::from_str(text).unwrap())
    }

    #[test]
    fn content_concatenates_and_first_finish_wins() {
        let mut acc = Accumulator::new();
        let first = add(
            &mut acc,
            r#"{"id":"g","model":"m","provider":"P","created":5,"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}"#,
        );
        assert!(!first.progress);
        assert!(add(&mut acc, r#"{"choices":[{"delta":{"content":"Hel"}}]}"#).progress);
        add(&mut acc, r#"{"choices":[{"delta":{"content":"lo é"}}]}"#);
        add(
            &mut acc,
            r#"{"choices":[{"delta":{"content":""},"finish_reason":"stop","native_finish_reason":"end_turn"}]}"#,
        );
        let usage = add(
            &mut acc,
            r#"{"choices":[{"delta":{"content":""},"finish_reason":"length"}],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5,"cost":0.0000150}}"#,
        );
        assert!(usage.finished);
        let value = acc.to_value();
        assert_eq!(value["choices"][0]["message"]["content"], "Hello é");
        assert_eq!(value["choices"][0]["finish_reason"], "stop");
        assert_eq!(value["choices"][0]["native_finish_reason"], "end_turn");
        assert_eq!(value["usage"]["total_tokens"], 5);
        assert_eq!(value["provider"], "P");
        assert_eq!(acc.cost_text().as_deref(), Some("0.0000150"));
    }

    #[test]
    fn long_lists_are_refused_while_read_not_after() {
        // Text past the limit is never reached: the garbage after item 1025 is not the error.
        let calls = "{},".repeat(MAX_CHOICES + 1);
        let text = format!(r#"{{"choices":[{{"delta":{{"tool_calls":[{calls} not json"#);
        let err = serde_json::from_str::<ChunkIn>(&text).unwrap_err();
        assert!(
            err.to_string()
                .contains("more than 1024 tool calls in one delta"),
            "{err}"
        );
        let choices = "{},".repeat(MAX_CHOICES + 1);
        let text = format!(r#"{{"choices":[{choices} not json"#);
        let err = serde_json::from_str::<ChunkIn>(&text).unwrap_err();
        assert!(
            err.to_string()
                .contains("more than 1024 choices in one chunk"),
            "{err}"
        );
        let at_limit = format!(
            r#"{{"tool_calls":[{}{{}}]}}"#,
            "{},".repeat(MAX_CHOICES - 1)
        );
        let delta: DeltaIn = serde_json::from_str(&at_limit).unwrap();
        assert_eq!(delta.tool_calls.len(), MAX_CHOICES);
    }

    #[test]
    fn usage_that_is_not_an_object_has_no_cost() {
        let mut acc = Accumulator::new();
        add(&mut acc, r#"{"choices":[],"usage":[0.5,7,9]}"#);
        assert_eq!(acc.cost_text(), None);
        add(&mut acc, r#"{"choices":[],"usage":{"cost":0.25}}"#);
        assert_eq!(acc.cost_text().as_deref(), Some("0.25"));
    }

    #[test]
    fn usage_with_empty_choices() {
        let mut acc = Accumulator::new();
        add(
            &mut acc,
            r#"{"choices":[{"delta":{"content":"a"},"finish_reason":"stop"}]}"#,
        );
        add(&mut acc, r#"{"choices":[],"usage":{"cost":1e-5}}"#);
        assert_eq!(acc.cost_text().as_deref(), Some("1e-5"));
    }

    #[test]
    fn tool_calls_merge_by_index_not_position() {
        let mut acc = Accumulator::new();
        add(
            &mut acc,
            r#"{"choices":[{"delta":{"tool_calls":[{"index":1,"id":"b","type":"function","function":{"name":"second","arguments":""}}]}}]}"#,
        );
        add(
            &mut acc,
            r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"id":"a","function":{"name":"first","arguments":"{\"x\""}}]}}]}"#,
        );
        add(
            &mut acc,
            r#"{"choices":[{"delta":{"tool_calls":[{"index":1,"function":{"arguments":"{}"}},{"index":0,"function":{"arguments":":1}"}}]}}]}"#,
        );
        let value = acc.to_value();
        let calls = &value["choices"][0]["message"]["tool_calls"];
        assert_eq!(calls[0]["id"], "a");
        assert_eq!(calls[0]["function"]["arguments"], "{\"x\":1}");
        assert_eq!(calls[1]["function"]["name"], "second");
        assert_eq!(calls[1]["function"]["arguments"], "{}");
        assert_eq!(value["choices"][0]["message"]["content"], Value::Null);
    }

    #[test]
    fn reasoning_details_merge_per_type_and_index() {
        let mut acc = Accumulator::new();
        add(
            &mut acc,
            r#"{"choices":[{"delta":{"reasoning":"Let","reasoning_details":[{"type":"reasoning.text","text":"Let","index":0,"format":"anthropic-claude-v1"}]}}]}"#,
        );
        add(
            &mut acc,
            r#"{"choices":[{"delta":{"reasoning":" me","reasoning_details":[{"type":"reasoning.text","text":" me","index":0}]}}]}"#,
        );
        add(
            &mut acc,
            r#"{"choices":[{"delta":{"reasoning_details":[{"type":"reasoning.text","text":"","signature":"sig","index":0}]}}]}"#,
        );
        let value = acc.to_value();
        let message = &value["choices"][0]["message"];
        assert_eq!(message["reasoning"], "Let me");
        let details = message["reasoning_details"].as_array().unwrap();
        assert_eq!(details.len(), 1);
        assert_eq!(details[0]["text"], "Let me");
        assert_eq!(details[0]["signature"], "sig");
        assert_eq!(details[0]["format"], "anthropic-claude-v1");
    }

    #[test]
    fn in_band_error_is_reported_and_kept() {
        let mut acc = Accumulator::new();
        let effect = add(
            &mut acc,
            r#"{"error":{"code":400,"message":"Token limit reached"},"choices":[{"delta":{"content":""},"finish_reason":null}],"usage":{"cost":0}}"#,
        );
        assert_eq!(effect.error.unwrap()["message"], "Token limit reached");
        assert_eq!(acc.to_value()["error"]["code"], 400);
        assert_eq!(acc.cost_text().as_deref(), Some("0"));
    }
}
