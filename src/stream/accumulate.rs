//! Merging streamed chunks into the whole `ChatCompletion` a stream stands for.
//!
//! Content and reasoning concatenate; tool-call deltas merge by `index` (never by array
//! position) with arguments split anywhere; `reasoning_details` merge per (type, index)
//! keeping the last signature; the first finish_reason wins (OpenRouter repeats it on the
//! usage chunk); usage is taken from whichever chunk carries it (three real shapes).

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;
use serde_json::Value;

use crate::stream::raw_json;

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

/// An integer field: `-0` read as 0, as `json.loads` reads it (serde reads it as a float,
/// which an integer refuses). Rare values only: the scanner reads the usual integers.
fn integer<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    let Some(raw) = Option::<&'de RawValue>::deserialize(deserializer)? else {
        return Ok(None);
    };
    let text = if raw.get() == "-0" { "0" } else { raw.get() };
    serde_json::from_str(text)
        .map(Some)
        .map_err(serde::de::Error::custom)
}

/// The most choices one chunk may carry (a request's `n` is at most 128 at OpenAI): a chunk
/// with more is refused, so an event cannot turn every 3 bytes (`{},`) into a ~300-byte
/// choice (an 8 MiB event into ~1 GB). Choice and tool-call indexes stay below it too
/// (see [`over_limit`]), so a stream's merged choices and calls are bounded as well.
pub const MAX_CHOICES: usize = 1024;

/// Why a parsed chunk cannot be merged: a choice or tool-call index at or past
/// [`MAX_CHOICES`] (each distinct index is kept until the stream ends). Every chunk read
/// in full passes here: limits on values belong here. A chunk read against its template
/// does not: its values but the content are the template's, which passed, and a check
/// of the content would have to run on that path too.
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
    #[serde(default, deserialize_with = "integer")]
    pub created: Option<i64>,
    #[serde(default, borrow, deserialize_with = "borrowed")]
    pub system_fingerprint: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "borrowed")]
    pub service_tier: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "bounded")]
    pub choices: Vec<ChoiceIn<'a>>,
    /// Kept as text: a parsed number would round `cost`. The values a consumer reads
    /// from a chunk's JSON are text here and `json.loads`' reading on its side (never a
    /// serde tree, which refuses `1e400` and a lone surrogate and reads `-0` as a float).
    #[serde(default, borrow)]
    pub usage: Option<&'a RawValue>,
    #[serde(default, borrow)]
    pub error: Option<&'a RawValue>,
}

#[derive(Deserialize, Default)]
#[cfg_attr(test, derive(Debug))]
pub struct ChoiceIn<'a> {
    #[serde(default, deserialize_with = "integer")]
    pub index: Option<u32>,
    #[serde(default, borrow)]
    pub delta: Option<DeltaIn<'a>>,
    #[serde(default, borrow, deserialize_with = "borrowed")]
    pub finish_reason: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "borrowed")]
    pub native_finish_reason: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub logprobs: Option<&'a RawValue>,
    #[serde(default, borrow)]
    pub error: Option<&'a RawValue>,
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
    #[serde(default, borrow)]
    pub reasoning_details: Vec<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "bounded")]
    pub tool_calls: Vec<ToolCallIn<'a>>,
    #[serde(default, borrow)]
    pub annotations: Vec<&'a RawValue>,
    #[serde(default, borrow)]
    pub images: Vec<&'a RawValue>,
}

#[derive(Deserialize)]
#[cfg_attr(test, derive(Debug))]
pub struct ToolCallIn<'a> {
    #[serde(default, deserialize_with = "integer")]
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
    reasoning_details: Vec<Detail>,
    /// Where each (type, index) is in `reasoning_details`, by [`same_value_key`].
    detail_at: HashMap<DetailKey, usize>,
    tool_calls: BTreeMap<u32, ToolCallAcc>,
    /// As sent: JSON text, read by `json.loads` with the rest of the completion.
    annotations: Vec<Box<RawValue>>,
    images: Vec<Box<RawValue>>,
    logprobs: Vec<Box<RawValue>>,
    finish_reason: Option<String>,
    native_finish_reason: Option<String>,
}

/// What one chunk changed, for the stream's bookkeeping.
#[derive(Debug, Default, Clone)]
pub struct ChunkEffect {
    /// The chunk carried content, reasoning, a refusal, tool calls or images.
    pub progress: bool,
    /// A finish_reason was seen (possibly a repeat).
    pub finished: bool,
    /// The chunk carried an in-band error object (top level or in a choice), as sent.
    pub error: Option<Box<RawValue>>,
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
    error: Option<Box<RawValue>>,
    chunks: usize,
}

fn set_once(slot: &mut Option<String>, value: Option<&str>) {
    if slot.is_none() {
        if let Some(value) = value {
            *slot = Some(value.to_owned());
        }
    }
}

/// A chunk read by comparing it with the stream's last one (`stream::chunk::template`):
/// that one's fields, but for its one choice's content. What [`Accumulator::add`] reads
/// of such a chunk, so [`Accumulator::add_repeat`] merges it without the parsed form.
#[derive(Debug)]
pub struct Repeat<'a> {
    pub id: Option<&'a str>,
    pub model: Option<&'a str>,
    pub provider: Option<&'a str>,
    pub system_fingerprint: Option<&'a str>,
    pub service_tier: Option<&'a str>,
    pub created: Option<i64>,
    pub index: Option<u32>,
    pub role: Option<&'a str>,
    pub content: &'a str,
    pub reasoning: Option<&'a str>,
    pub refusal: Option<&'a str>,
    pub finish_reason: Option<&'a str>,
    pub native_finish_reason: Option<&'a str>,
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
        self.add_top(
            [
                chunk.id.as_deref(),
                chunk.model.as_deref(),
                chunk.provider.as_deref(),
                chunk.system_fingerprint.as_deref(),
                chunk.service_tier.as_deref(),
            ],
            chunk.created,
        );
        if let Some(usage) = chunk.usage {
            if usage.get() != "null" {
                self.usage = Some(usage.to_owned());
            }
        }
        let mut effect = ChunkEffect::default();
        let mut error = chunk.error.take();
        for choice in chunk.choices.drain(..) {
            let acc = self.choices.entry(choice.index.unwrap_or(0)).or_default();
            if let Some(delta) = choice.delta {
                effect.progress |= merge_delta(acc, delta);
            }
            if let Some(logprobs) = choice.logprobs {
                // `content`'s tokens, when it is a list (in an object): kept as sent.
                let content = raw_json::member(logprobs.get(), "content")
                    .and_then(|content| raw_json::items(content.get()));
                acc.logprobs
                    .extend(content.into_iter().flatten().map(RawValue::to_owned));
            }
            if let Some(reason) = choice.finish_reason.as_deref() {
                effect.finished = true;
                acc.finish(reason, choice.native_finish_reason.as_deref());
            }
            if error.is_none() {
                error = choice.error;
            }
        }
        if let Some(error) = error {
            effect.error = Some(error.to_owned());
            self.error = Some(error.to_owned());
        }
        effect
    }

    /// Merge a chunk read by comparing: what [`Accumulator::add`] does with the chunk the
    /// full parse gives (the same top-level fields, one choice with a delta of these
    /// texts only, no usage, error, logprobs or lists).
    pub fn add_repeat(&mut self, chunk: &Repeat<'_>) -> ChunkEffect {
        self.add_top(
            [
                chunk.id,
                chunk.model,
                chunk.provider,
                chunk.system_fingerprint,
                chunk.service_tier,
            ],
            chunk.created,
        );
        let acc = self.choices.entry(chunk.index.unwrap_or(0)).or_default();
        let progress = acc.merge_texts(
            chunk.role,
            Some(chunk.content),
            chunk.reasoning,
            chunk.refusal,
        );
        if let Some(reason) = chunk.finish_reason {
            acc.finish(reason, chunk.native_finish_reason);
        }
        ChunkEffect {
            progress,
            finished: chunk.finish_reason.is_some(),
            error: None,
        }
    }

    /// A chunk counted, and its top-level fields kept where none was yet: `id`, `model`,
    /// `provider`, `system_fingerprint`, `service_tier`, then `created`.
    fn add_top(&mut self, texts: [Option<&str>; 5], created: Option<i64>) {
        self.chunks += 1;
        let [id, model, provider, system_fingerprint, service_tier] = texts;
        set_once(&mut self.id, id);
        set_once(&mut self.model, model);
        set_once(&mut self.provider, provider);
        set_once(&mut self.system_fingerprint, system_fingerprint);
        set_once(&mut self.service_tier, service_tier);
        if self.created.is_none() {
            self.created = created;
        }
    }

    /// The whole completion so far, in `chat.completion` shape, as JSON text: the parts
    /// kept as sent are in it as sent (`json.loads` reads them as it reads a chunk).
    /// Members in name order (a serde tree's order, as before).
    pub fn to_json(&self) -> String {
        let empty = ChoiceAcc::default();
        let choices: Vec<ChoiceOut<'_>> = if self.choices.is_empty() {
            vec![choice_out(0, &empty)]
        } else {
            self.choices
                .iter()
                .map(|(index, acc)| choice_out(*index, acc))
                .collect()
        };
        let completion = CompletionOut {
            choices,
            created: self.created,
            error: self.error.as_deref(),
            id: self.id.as_deref(),
            model: self.model.as_deref(),
            object: "chat.completion",
            provider: self.provider.as_deref(),
            service_tier: self.service_tier.as_deref(),
            system_fingerprint: self.system_fingerprint.as_deref(),
            usage: self.usage.as_deref(),
        };
        serde_json::to_string(&completion).unwrap_or_else(|_| "null".to_owned())
    }

    /// What the ledger reads of the completion so far (`id`, `model`, `provider`, `usage`,
    /// `error`), as JSON text in the completion's shape without its choices: the
    /// non-streamed answer's reader ([`crate::answer_facts::usual_facts`]) reads it, so a
    /// stream's entry holds exactly what the whole completion's would, without writing
    /// (and Python parsing) all of its text.
    pub fn summary_json(&self) -> String {
        let summary = SummaryOut {
            error: self.error.as_deref(),
            id: self.id.as_deref(),
            model: self.model.as_deref(),
            provider: self.provider.as_deref(),
            usage: self.usage.as_deref(),
        };
        serde_json::to_string(&summary).unwrap_or_else(|_| "null".to_owned())
    }

    /// [`Accumulator::to_json`] read back as a tree (tests).
    #[cfg(test)]
    pub fn to_value(&self) -> Value {
        serde_json::from_str(&self.to_json()).unwrap_or(Value::Null)
    }
}

/// The completion [`Accumulator::to_json`] writes (fields in name order).
#[derive(Serialize)]
struct CompletionOut<'a> {
    choices: Vec<ChoiceOut<'a>>,
    created: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a RawValue>,
    id: Option<&'a str>,
    model: Option<&'a str>,
    object: &'static str,
    provider: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    service_tier: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    system_fingerprint: Option<&'a str>,
    usage: Option<&'a RawValue>,
}

/// [`Accumulator::summary_json`]'s object.
#[derive(Serialize)]
struct SummaryOut<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a RawValue>,
    id: Option<&'a str>,
    model: Option<&'a str>,
    provider: Option<&'a str>,
    usage: Option<&'a RawValue>,
}

#[derive(Serialize)]
struct ChoiceOut<'a> {
    finish_reason: Option<&'a str>,
    index: u32,
    logprobs: Option<LogprobsOut<'a>>,
    message: MessageOut<'a>,
    native_finish_reason: Option<&'a str>,
}

#[derive(Serialize)]
struct LogprobsOut<'a> {
    content: &'a [Box<RawValue>],
}

#[derive(Serialize)]
struct MessageOut<'a> {
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    annotations: &'a [Box<RawValue>],
    content: Option<&'a str>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    images: &'a [Box<RawValue>],
    reasoning: Option<&'a str>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    reasoning_details: &'a [Detail],
    refusal: Option<&'a str>,
    role: &'a str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tool_calls: Vec<ToolCallOut<'a>>,
}

#[derive(Serialize)]
struct ToolCallOut<'a> {
    function: FunctionOut<'a>,
    id: Option<&'a str>,
    index: u32,
    #[serde(rename = "type")]
    kind: &'a str,
}

#[derive(Serialize)]
struct FunctionOut<'a> {
    arguments: &'a str,
    name: &'a str,
}

fn choice_out(index: u32, acc: &ChoiceAcc) -> ChoiceOut<'_> {
    let content = (acc.saw_content || acc.tool_calls.is_empty()).then_some(acc.content.as_str());
    let reasoning =
        (acc.saw_reasoning && !acc.reasoning.is_empty()).then_some(acc.reasoning.as_str());
    let tool_calls = acc
        .tool_calls
        .iter()
        .map(|(index, call)| ToolCallOut {
            function: FunctionOut {
                arguments: &call.arguments,
                name: &call.name,
            },
            id: call.id.as_deref(),
            index: *index,
            kind: call.kind.as_deref().unwrap_or("function"),
        })
        .collect();
    ChoiceOut {
        finish_reason: acc.finish_reason.as_deref(),
        index,
        logprobs: (!acc.logprobs.is_empty()).then_some(LogprobsOut {
            content: &acc.logprobs,
        }),
        message: MessageOut {
            annotations: &acc.annotations,
            content,
            images: &acc.images,
            reasoning,
            reasoning_details: &acc.reasoning_details,
            refusal: acc.refusal.as_deref(),
            role: acc.role.as_deref().unwrap_or("assistant"),
            tool_calls,
        },
        native_finish_reason: acc.native_finish_reason.as_deref(),
    }
}

impl ChoiceAcc {
    /// A delta's texts merged: the first role kept, content, reasoning and a refusal
    /// joined. Whether any of them brought text.
    fn merge_texts(
        &mut self,
        role: Option<&str>,
        content: Option<&str>,
        reasoning: Option<&str>,
        refusal: Option<&str>,
    ) -> bool {
        let mut progress = false;
        if self.role.is_none() {
            self.role = role.map(str::to_owned);
        }
        if let Some(content) = content {
            self.saw_content = true;
            progress |= !content.is_empty();
            self.content.push_str(content);
        }
        if let Some(reasoning) = reasoning {
            self.saw_reasoning = true;
            progress |= !reasoning.is_empty();
            self.reasoning.push_str(reasoning);
        }
        if let Some(refusal) = refusal {
            progress |= !refusal.is_empty();
            self.refusal
                .get_or_insert_with(String::new)
                .push_str(refusal);
        }
        progress
    }

    /// A finish_reason seen: the first one is kept, with its native reason.
    fn finish(&mut self, reason: &str, native: Option<&str>) {
        if self.finish_reason.is_none() {
            self.finish_reason = Some(reason.to_owned());
            self.native_finish_reason = native.map(str::to_owned);
        }
    }
}

fn merge_delta(acc: &mut ChoiceAcc, delta: DeltaIn<'_>) -> bool {
    let mut progress = acc.merge_texts(
        delta.role.as_deref(),
        delta.content.as_deref(),
        delta.reasoning.as_deref(),
        delta.refusal.as_deref(),
    );
    for detail in delta.reasoning_details {
        progress = true;
        merge_reasoning_detail(&mut acc.reasoning_details, &mut acc.detail_at, detail);
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
        acc.annotations
            .extend(delta.annotations.into_iter().map(RawValue::to_owned));
    }
    if !delta.images.is_empty() {
        progress = true;
        acc.images
            .extend(delta.images.into_iter().map(RawValue::to_owned));
    }
    progress
}

/// One merged reasoning detail, its values JSON text as sent.
#[derive(Debug, Clone)]
enum Detail {
    /// A fragment no later one merges into (it has no `index`, or names that do not
    /// decode): kept whole.
    Whole(Box<RawValue>),
    /// A fragment others may merge into: its members by name (one per name, the last
    /// sent; in name order, a serde tree's).
    Members(Vec<(Box<str>, String)>),
}

impl Serialize for Detail {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Detail::Whole(raw) => raw.serialize(serializer),
            Detail::Members(members) => {
                let mut map = serializer.serialize_map(Some(members.len()))?;
                for (name, value) in members {
                    let value: &RawValue =
                        serde_json::from_str(value).map_err(serde::ser::Error::custom)?;
                    map.serialize_entry(name, value)?;
                }
                map.end()
            }
        }
    }
}

/// A reasoning detail's (type, index), each as [`same_value_key`].
type DetailKey = (Option<Box<str>>, Box<str>);

/// A text standing for JSON `text`'s value: two texts have equal keys exactly when
/// [`same_json`] says they are the same value (equal texts, or equal trees).
fn same_value_key(text: &str) -> Box<str> {
    // As `same_json`: only a text with an escape, a float or a list or object can be the
    // same value as another text; the others are their own key.
    let float = text.contains(['.', 'e', 'E']);
    if !(text.contains('\\') || float || text.starts_with(['[', '{'])) {
        return text.into();
    }
    match serde_json::from_str::<Value>(text) {
        Ok(mut value) => {
            // Its tree written out: a string with no escape as it was sent (so one sent
            // with escapes meets it), a float with a `.` or an `e` (never a plain
            // text's), members in name order; -0.0 as 0.0, which a tree equals.
            unsign_zeros(&mut value);
            value.to_string().into()
        }
        Err(_) => text.into(), // no tree: equal to its own text only
    }
}

/// `value` with each float zero written `0.0` (trees compare -0.0 equal to 0.0).
fn unsign_zeros(value: &mut Value) {
    match value {
        Value::Number(number) if number.is_f64() && number.as_f64() == Some(0.0) => {
            *value = Value::from(0.0);
        }
        Value::Array(items) => items.iter_mut().for_each(unsign_zeros),
        Value::Object(members) => members.values_mut().for_each(unsign_zeros),
        _ => {}
    }
}

/// Two JSON texts for the same value (a key's `type` or `index`): equal texts, or equal
/// trees. The merge finds them by [`same_value_key`]; this says what that key means.
#[cfg(test)]
fn same_json(a: &str, b: &str) -> bool {
    // Texts that differ are the same value only with an escape in one, as two spellings
    // of a float (`1.0`, `1e0`), or as lists or objects: else no tree is built to tell.
    let float = |text: &str| text.contains(['.', 'e', 'E']);
    let nested = |text: &str| text.starts_with(['[', '{']);
    if a == b {
        return true;
    }
    if !(a.contains('\\') || b.contains('\\') || float(a) && float(b) || nested(a) && nested(b)) {
        return false;
    }
    matches!(
        (serde_json::from_str::<Value>(a), serde_json::from_str::<Value>(b)),
        (Ok(a), Ok(b)) if a == b
    )
}

/// Fragments of one logical block share (type, index): concatenate its text fields and
/// keep the last non-empty value of the others (e.g. the signature). Values stay JSON
/// text: two strings concatenate as text (a surrogate pair split across them joins).
/// `detail_at` finds a fragment's block by its key, so each merges in constant time.
fn merge_reasoning_detail(
    details: &mut Vec<Detail>,
    detail_at: &mut HashMap<DetailKey, usize>,
    detail: &RawValue,
) {
    if !detail.get().starts_with('{') {
        return;
    }
    let Some(members) = raw_json::members(detail.get()) else {
        details.push(Detail::Whole(detail.to_owned()));
        return;
    };
    // One per name, the last sent (as a tree reads it).
    let fragment: BTreeMap<Cow<'_, str>, &RawValue> = members.into_iter().collect();
    let field = |name: &str| fragment.get(name).map(|value| value.get());
    let Some(index) = field("index") else {
        details.push(Detail::Whole(detail.to_owned()));
        return;
    };
    let key = (field("type").map(same_value_key), same_value_key(index));
    let target = match detail_at.get(&key) {
        Some(&at) => details.get_mut(at),
        None => None,
    };
    let Some(Detail::Members(target)) = target else {
        let members = fragment
            .into_iter()
            .map(|(name, value)| (name.into(), value.get().to_owned()))
            .collect();
        detail_at.insert(key, details.len());
        details.push(Detail::Members(members));
        return;
    };
    for (name, value) in fragment {
        let new = value.get();
        let concatenates = matches!(name.as_ref(), "text" | "summary");
        match target.binary_search_by(|(key, _)| key.as_ref().cmp(&name)) {
            _ if new == "null" || new == "\"\"" => {}
            Ok(at) if concatenates && new.starts_with('"') && target[at].1.starts_with('"') => {
                let old = &mut target[at].1;
                old.pop(); // its closing quote
                old.push_str(&new[1..]);
            }
            Ok(at) => target[at].1 = new.to_owned(),
            Err(at) => target.insert(at, (name.into(), new.to_owned())),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn add(acc: &mut Accumulator, text: &str) -> ChunkEffect {
        acc.add(&mut serde_json::from_str(text).unwrap())
    }

    #[test]
    fn detail_keys_are_equal_exactly_when_the_values_are() {
        let texts = [
            "0",
            "-0",
            "1",
            "1.0",
            "1e0",
            "10e-1",
            "-0.0",
            "0.0",
            "0e5",
            "1e400",
            "1E400",
            "18446744073709551616",
            "1.8446744073709552e19",
            r#""a""#,
            r#""\u0061""#,
            r#""a.e""#,
            r#""a\u002ee""#,
            r#""\ud800""#,
            r#""reasoning.text""#,
            "null",
            "true",
            "[1,2]",
            "[1, 2]",
            "[1.0,2]",
            "[-0.0]",
            "[0.0]",
            "[-0]",
            "[0]",
            r#"{"a":1,"b":2}"#,
            r#"{"b":2,"a":1}"#,
            r#"{"a":1,"a":2}"#,
            r#"{"a":2}"#,
            r#"["\u0061"]"#,
            r#"["a"]"#,
            "[1e400]",
            r#"{"a":"\ud800"}"#,
        ];
        for a in texts {
            for b in texts {
                assert_eq!(
                    same_value_key(a) == same_value_key(b),
                    same_json(a, b),
                    "{a} vs {b}"
                );
            }
        }
    }

    #[test]
    fn many_reasoning_details_merge_in_linear_time() {
        let mut acc = Accumulator::new();
        for kind in ["{i}", "{i}.5"] {
            let details: Vec<String> = (0..20_000)
                .map(|i| {
                    let index = kind.replace("{i}", &i.to_string());
                    format!(r#"{{"type":"t","index":{index},"text":"x"}}"#)
                })
                .collect();
            let chunk = format!(
                r#"{{"choices":[{{"delta":{{"reasoning_details":[{}]}}}}]}}"#,
                details.join(",")
            );
            let started = std::time::Instant::now();
            add(&mut acc, &chunk);
            add(&mut acc, &chunk); // each fragment meets its block
            assert!(started.elapsed() < std::time::Duration::from_secs(5));
        }
        let value = acc.to_value();
        let merged = value["choices"][0]["message"]["reasoning_details"]
            .as_array()
            .unwrap();
        assert_eq!(merged.len(), 40_000);
        assert!(merged.iter().all(|detail| detail["text"] == "xx"));
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
    fn same_json_is_tree_equality() {
        let pairs = [
            ("0", "0", true),
            ("0", "1", false),
            ("1.0", "1.00", true),
            ("1e0", "1.0", true),
            ("1", "1.0", false),
            (r#""a""#, r#""\u0061""#, true),
            (r#""a""#, r#""b""#, false),
            ("[1, 2]", "[1,2]", true),
            (r#"{"a":1}"#, r#"{ "a" : 1 }"#, true),
            ("1e400", "1e400", true),
            ("1e400", "2e400", false),
        ];
        for (a, b, same) in pairs {
            assert_eq!(same_json(a, b), same, "{a} {b}");
            let tree = |text: &str| serde_json::from_str::<Value>(text).ok();
            if tree(a).is_some() && tree(b).is_some() {
                assert_eq!(same, tree(a) == tree(b), "{a} {b}");
            }
        }
    }

    #[test]
    fn parts_serde_trees_refuse_are_kept_as_sent() {
        let odd = r#"[1e400,-0,18446744073709551616,"\ud800"]"#;
        let mut acc = Accumulator::new();
        add(
            &mut acc,
            &format!(
                r#"{{"choices":[{{"delta":{{"annotations":[{{"n":{odd}}}],"images":[{odd}],"reasoning_details":[{{"type":"t","index":0,"text":"a\ud83d","n":{odd}}},{{"n":{odd}}}]}},"logprobs":{{"content":[{odd}]}}}}],"usage":{{"cost":1e400}}}}"#
            ),
        );
        let effect = add(
            &mut acc,
            r#"{"choices":[{"delta":{"reasoning_details":[{"type":"t","index":0,"text":"\ude00","signature":"s","n":null}]}}],"error":{"code":1,"x":1e400}}"#,
        );
        assert_eq!(effect.error.unwrap().get(), r#"{"code":1,"x":1e400}"#);
        let text = acc.to_json();
        for part in [
            format!(r#""annotations":[{{"n":{odd}}}]"#),
            format!(r#""images":[{odd}]"#),
            format!(r#""logprobs":{{"content":[{odd}]}}"#),
            format!(
                r#""reasoning_details":[{{"index":0,"n":{odd},"signature":"s","text":"a\ud83d\ude00","type":"t"}},{{"n":{odd}}}]"#
            ),
            r#""usage":{"cost":1e400}"#.to_owned(),
            r#""error":{"code":1,"x":1e400}"#.to_owned(),
        ] {
            assert!(text.contains(&part), "{part} not in {text}");
        }
        assert_eq!(acc.cost_text().as_deref(), Some("1e400"));
    }

    #[test]
    fn in_band_error_is_reported_and_kept() {
        let mut acc = Accumulator::new();
        let effect = add(
            &mut acc,
            r#"{"error":{"code":400,"message":"Token limit reached"},"choices":[{"delta":{"content":""},"finish_reason":null}],"usage":{"cost":0}}"#,
        );
        assert_eq!(
            effect.error.unwrap().get(),
            r#"{"code":400,"message":"Token limit reached"}"#
        );
        assert_eq!(acc.to_value()["error"]["code"], 400);
        assert_eq!(acc.cost_text().as_deref(), Some("0"));
    }
}
