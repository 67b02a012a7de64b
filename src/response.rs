//! Interpreting OpenRouter responses: success bodies, error envelopes and their quirks.
//!
//! Pure functions over (status, headers, body bytes), so every wire quirk is unit-tested
//! without a network: leading whitespace before JSON, errors inside a 200 body,
//! `choices[].error`, `code` as int or string, non-JSON (HTML) error pages, Retry-After in
//! its several spellings.

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use reqwest::header::HeaderMap;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;

use crate::error::{Error, ErrorDetails, ErrorKind};
use crate::stream::raw_json;

/// Longest body prefix kept in an error for a non-JSON body.
const SNIPPET_CHARS: usize = 200;

/// The few fields of a chat completion the core needs; everything else stays in the bytes
/// handed to Python untouched.
#[derive(Deserialize)]
struct ChatEnvelope<'a> {
    /// An in-band error, as sent: read like a non-2xx body's (see [`error_from_in_band`]).
    #[serde(borrow, default)]
    error: Option<&'a RawValue>,
    /// Read as raw text: any JSON value is accepted here, only a string or null is a
    /// ledger fact (see [`EntryFacts`]).
    #[serde(borrow, default)]
    id: Option<&'a RawValue>,
    #[serde(default)]
    choices: Vec<ChoiceEnvelope<'a>>,
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    provider: Option<String>,
    #[serde(borrow, default)]
    usage: Option<Object<UsageEnvelope<'a>>>,
}

/// [`ChatEnvelope`] without the ledger's extra facts: serde refuses a repeated field, so a
/// body that repeats one of those keys (`id`, a usage details object, `is_byok`) is read
/// with this one and stays the answer it is (its facts then come from Python's parse).
#[derive(Deserialize)]
struct CoreEnvelope<'a> {
    #[serde(borrow, default)]
    error: Option<&'a RawValue>,
    #[serde(default)]
    choices: Vec<ChoiceEnvelope<'a>>,
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    provider: Option<String>,
    #[serde(borrow, default)]
    usage: Option<Object<CoreUsage<'a>>>,
}

#[derive(Deserialize)]
struct CoreUsage<'a> {
    #[serde(borrow, default)]
    cost: Option<&'a RawValue>,
    #[serde(default)]
    prompt_tokens: Option<u64>,
    #[serde(default)]
    completion_tokens: Option<u64>,
}

impl<'a> From<CoreEnvelope<'a>> for ChatEnvelope<'a> {
    fn from(core: CoreEnvelope<'a>) -> Self {
        Self {
            error: core.error,
            id: None,
            choices: core.choices,
            model: core.model,
            provider: core.provider,
            usage: core.usage.map(|Object(usage)| {
                Object(UsageEnvelope {
                    cost: usage.cost,
                    prompt_tokens: usage.prompt_tokens,
                    completion_tokens: usage.completion_tokens,
                    prompt_tokens_details: None,
                    completion_tokens_details: None,
                    is_byok: None,
                })
            }),
        }
    }
}

/// A JSON object read as `T`. serde's derive also reads an array into a struct, by
/// position (`"usage": [0.5, 7, 9]` as cost 0.5, 7 prompt tokens): anything but an object
/// is refused here, as a value of any other wrong type is.
struct Object<T>(T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Object<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjectVisitor<T>(std::marker::PhantomData<T>);

        impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for ObjectVisitor<T> {
            type Value = Object<T>;

            fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                formatter.write_str("a JSON object")
            }

            // Read in the same pass, so an error inside says where in the body it is.
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<Self::Value, A::Error> {
                T::deserialize(serde::de::value::MapAccessDeserializer::new(map)).map(Object)
            }
        }

        deserializer.deserialize_map(ObjectVisitor(std::marker::PhantomData))
    }
}

#[derive(Deserialize)]
struct ChoiceEnvelope<'a> {
    #[serde(borrow, default)]
    error: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct UsageEnvelope<'a> {
    #[serde(borrow, default)]
    cost: Option<&'a RawValue>,
    #[serde(default)]
    prompt_tokens: Option<u64>,
    #[serde(default)]
    completion_tokens: Option<u64>,
    #[serde(borrow, default)]
    prompt_tokens_details: Option<&'a RawValue>,
    #[serde(borrow, default)]
    completion_tokens_details: Option<&'a RawValue>,
    #[serde(borrow, default)]
    is_byok: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct CachedTokens {
    #[serde(default)]
    cached_tokens: Option<u64>,
}

#[derive(Deserialize)]
struct ReasoningTokens {
    #[serde(default)]
    reasoning_tokens: Option<u64>,
}

/// An error object's members, each read leniently where it is used: a member of an
/// unexpected type is ignored, never the whole error (so a `code` still decides the kind).
#[derive(Deserialize)]
struct ErrorObject {
    #[serde(default)]
    code: Option<Value>,
    #[serde(default)]
    message: Option<Value>,
    #[serde(default)]
    metadata: Option<Value>,
    #[serde(default)]
    error_type: Option<Value>,
    #[serde(default)]
    http_status: Option<Value>,
    #[serde(default)]
    availability: Option<Value>,
    /// OpenAI-compatible servers' error class (`invalid_request_error`, `rate_limit_error`).
    #[serde(default, rename = "type")]
    class: Option<Value>,
}

/// What the core learned from a successful chat completion body.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChatSummary {
    pub model: Option<String>,
    pub provider: Option<String>,
    /// `usage.cost` exactly as the server wrote it (decimal text), when present.
    pub cost: Option<String>,
    pub prompt_tokens: Option<u64>,
    pub completion_tokens: Option<u64>,
    /// The rest of what the ledger records of the answer, when every one of these fields
    /// has its usual type (or is absent); `None` when one does not (the facade then reads
    /// the body itself, as it does for any answer off the usual path).
    pub entry: Option<EntryFacts>,
}

/// What the ledger records of an answer besides [`ChatSummary`]'s fields: `id`,
/// `usage.prompt_tokens_details.cached_tokens`, `usage.completion_tokens_details.reasoning_tokens`
/// and `usage.is_byok`, absent or null read as none, 0 and false.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EntryFacts {
    pub id: Option<String>,
    pub cached_tokens: u64,
    pub reasoning_tokens: u64,
    pub byok: bool,
}

/// A JSON string's value (`text` as the parser left it: quoted, escapes intact).
fn json_string(text: &str) -> Option<String> {
    match text
        .strip_prefix('"')
        .and_then(|rest| rest.strip_suffix('"'))
    {
        // The usual id (`gen-...`): no escape to decode, the parser has checked the rest.
        Some(plain) if !plain.contains('\\') => Some(plain.to_owned()),
        _ => serde_json::from_str(text).ok(),
    }
}

fn is_null(raw: Option<&RawValue>) -> bool {
    raw.is_none_or(|raw| raw.get() == "null")
}

/// The ledger's facts of a body whose envelope parsed; `None` for a field of another type.
fn entry_facts(id: Option<&RawValue>, usage: Option<&UsageEnvelope<'_>>) -> Option<EntryFacts> {
    let id = match id {
        _ if is_null(id) => None,
        Some(raw) if raw.get().starts_with('"') => Some(json_string(raw.get())?),
        _ => return None,
    };
    let mut facts = EntryFacts {
        id,
        ..EntryFacts::default()
    };
    let Some(usage) = usage else {
        return Some(facts);
    };
    // A details value must be an object (serde would also read an array into the struct).
    let object = |raw: &RawValue| raw.get().starts_with('{');
    if let Some(raw) = usage
        .prompt_tokens_details
        .filter(|raw| raw.get() != "null")
    {
        let details: CachedTokens = serde_json::from_str(raw.get())
            .ok()
            .filter(|_| object(raw))?;
        facts.cached_tokens = details.cached_tokens.unwrap_or(0);
    }
    if let Some(raw) = usage
        .completion_tokens_details
        .filter(|raw| raw.get() != "null")
    {
        let details: ReasoningTokens = serde_json::from_str(raw.get())
            .ok()
            .filter(|_| object(raw))?;
        facts.reasoning_tokens = details.reasoning_tokens.unwrap_or(0);
    }
    facts.byok = match usage.is_byok.map(RawValue::get) {
        None | Some("null" | "false") => false,
        Some("true") => true,
        Some(_) => return None,
    };
    Some(facts)
}

/// The body with invalid UTF-8 sequences replaced by U+FFFD (the one policy for every
/// body and stream, as in the SSE decoder): a stray byte costs a character, never the
/// answer and its cost. Valid bodies (the common case) are returned as is, uncopied.
pub fn lossy_utf8(body: Bytes) -> Bytes {
    // The validity check alone is faster than the lossy scan, which walks every chunk.
    if simdutf8::basic::from_utf8(&body).is_ok() {
        return body;
    }
    match String::from_utf8_lossy(&body) {
        std::borrow::Cow::Borrowed(_) => body,
        std::borrow::Cow::Owned(fixed) => Bytes::from(fixed),
    }
}

/// Check a 2xx chat completion body: an error object inside it (top level or in a
/// choice) becomes an [`Error`], read as a stream's in-band one; a body that is not a JSON
/// object is `InvalidResponse`.
pub fn check_chat_body(headers: &HeaderMap, body: &[u8]) -> Result<ChatSummary, Error> {
    // serde would also read a JSON array into the all-defaults envelope: insist on an object.
    let is_object = body.trim_ascii_start().starts_with(b"{");
    let parsed = if is_object {
        parse_json::<ChatEnvelope>(body)
            .map(|envelope| (envelope, true))
            .or_else(|first| {
                parse_json::<CoreEnvelope>(body)
                    .map(|core| (core.into(), false))
                    .map_err(|_| first)
            })
    } else {
        Err(serde::de::Error::custom("the body is not a JSON object"))
    };
    let not_a_completion = |why: &dyn std::fmt::Display| {
        let mut details = ErrorDetails {
            status: Some(200),
            body_snippet: Some(snippet(body)),
            ..ErrorDetails::default()
        };
        details.request_id = request_id(headers);
        Error::with_details(
            ErrorKind::InvalidResponse,
            format!("the server sent a 200 response that is not a chat completion: {why}"),
            details,
        )
    };
    let (envelope, with_facts): (ChatEnvelope, bool) =
        parsed.map_err(|err| not_a_completion(&err))?;
    // `null` is no error (serde reads it as absent), as in a stream's chunk.
    let in_band = envelope
        .error
        .or_else(|| envelope.choices.iter().find_map(|choice| choice.error));
    if let Some(sent) = in_band {
        return Err(error_from_in_band(headers, sent));
    }
    let usage = envelope.usage.map(|Object(usage)| usage);
    let entry = with_facts
        .then(|| entry_facts(envelope.id, usage.as_ref()))
        .flatten();
    Ok(ChatSummary {
        model: envelope.model,
        provider: envelope.provider,
        cost: usage
            .as_ref()
            .and_then(|u| u.cost)
            .and_then(cost_text)
            .map(str::to_owned),
        prompt_tokens: usage.as_ref().and_then(|u| u.prompt_tokens),
        completion_tokens: usage.as_ref().and_then(|u| u.completion_tokens),
        entry,
    })
}

/// `usage.cost` as the decimal text it was sent as, when it is a JSON number. Anything else
/// (`null`, a string, `true`, an object) counts as absent, so the answer is priced like one
/// without a cost instead of failing later: the one rule for answers and streams.
pub fn cost_text(raw: &RawValue) -> Option<&str> {
    let text = raw.get();
    text.starts_with(|c: char| c == '-' || c.is_ascii_digit())
        .then_some(text)
}

/// A JSON document read as `T`. Valid UTF-8 (as `lossy_utf8` leaves every body) is parsed
/// as text: serde then skips checking each key and string it reads (issue 11, S1).
fn parse_json<'a, T: Deserialize<'a>>(body: &'a [u8]) -> serde_json::Result<T> {
    match simdutf8::basic::from_utf8(body) {
        Ok(text) => serde_json::from_str(text),
        Err(_) => serde_json::from_slice(body),
    }
}

/// The error an in-band error object (`{"code", "message", "metadata"}` in a stream chunk
/// or a 2xx body, as sent) stands for. The core reads its facts from a lenient tree
/// (`1e400` kept as text there, a lone surrogate as U+FFFD); the error keeps the object as
/// sent.
pub fn error_from_in_band(headers: &HeaderMap, sent: &RawValue) -> Error {
    // No error object to read (a string, a number; too large or deep): what it was, and
    // the request it failed.
    let unread = |what: String| {
        let details = ErrorDetails {
            request_id: request_id(headers),
            ..ErrorDetails::default()
        };
        Error::with_details(ErrorKind::Server, what, details)
    };
    if !readable(sent) {
        return unread("the server reported an error too large or nested too deep to read".into());
    }
    error_from_sent(None, headers, sent).unwrap_or_else(|object| {
        let text = object.to_string();
        unread(format!(
            "the server reported an error: {}",
            snippet(text.as_bytes())
        ))
    })
}

/// The error an error object as sent stands for (see [`error_from_in_band`]; `http_status`
/// as for [`error_from_object`]), or the lenient tree when it is no error object.
fn error_from_sent(
    http_status: Option<u16>,
    headers: &HeaderMap,
    sent: &RawValue,
) -> Result<Error, Value> {
    let object = raw_json::lenient_tree(sent.get());
    if !object.is_object() {
        return Err(object); // an array is no error object (serde would read it by position)
    }
    match ErrorObject::deserialize(&object) {
        Ok(parsed) => {
            let mut error = error_from_object(http_status, headers, parsed);
            error.details_mut().sent = Some(sent.to_owned());
            Ok(error)
        }
        Err(_) => Err(object),
    }
}

/// A response's headers as `name: value` lines, for the facade (openai's `.headers`);
/// values that are not text are shown lossily.
pub fn header_block(headers: &HeaderMap) -> String {
    let mut block = String::new();
    for (name, value) in headers {
        block.push_str(name.as_str());
        block.push_str(": ");
        block.push_str(&String::from_utf8_lossy(value.as_bytes()));
        block.push('\n');
    }
    block
}

/// The headers a [`header_block`] was made from (values that were not text stay lossy):
/// an open stream keeps only the block, and rebuilds the map for an in-band error.
pub fn headers_from_block(block: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for line in block.lines() {
        let Some((name, value)) = line.split_once(": ") else {
            continue;
        };
        if let (Ok(name), Ok(value)) = (
            reqwest::header::HeaderName::from_bytes(name.as_bytes()),
            reqwest::header::HeaderValue::from_str(value),
        ) {
            headers.append(name, value);
        }
    }
    headers
}

/// Build the error for a non-2xx response from its status, headers and body.
pub fn error_from_response(status: u16, headers: &HeaderMap, body: &[u8]) -> Error {
    let mut error = error_from_body(status, headers, body);
    error.details_mut().headers = Some(header_block(headers));
    error
}

/// A non-2xx body's error object is read as an in-band one (the core's facts from a
/// lenient tree, `code` and `metadata` by `json.loads` from the object as sent), so a value
/// serde refuses (`1e400`) no longer loses the whole error, and both read alike.
fn error_from_body(status: u16, headers: &HeaderMap, body: &[u8]) -> Error {
    // Lossy, as answers are read: a bad byte in a member nobody reads keeps the error.
    let text = String::from_utf8_lossy(body);
    let sent = raw_json::member(&text, "error")
        .filter(|error| error.get().starts_with('{'))
        .filter(|error| readable(error));
    match sent.and_then(|sent| error_from_sent(Some(status), headers, sent).ok()) {
        Some(error) => error,
        None => {
            let details = ErrorDetails {
                status: Some(status),
                retry_after: retry_after(headers, None),
                request_id: request_id(headers),
                provider: header_str(headers, "x-provider-name"),
                body_snippet: Some(snippet(body)),
                ..ErrorDetails::default()
            };
            let shown = details.body_snippet.as_deref().unwrap_or_default();
            let message = if let Some(target) = redirect_target(status, headers) {
                format!(
                    "HTTP {status} redirect to {target} not followed: only redirects within \
                     the base_url's origin are followed (the prompt and headers stay there)"
                )
            } else if shown.is_empty() {
                format!("HTTP {status} with an empty body")
            } else if let Some(error) = raw_json::member(&text, "error") {
                // Some servers send the error as a string; anything else (a number, an
                // array, an object too large or deep to read) is shown as sent.
                match serde_json::from_str::<String>(error.get()) {
                    Ok(said) => format!("HTTP {status}: {}", snippet(said.as_bytes())),
                    Err(_) => {
                        format!("HTTP {status} with an error this client does not read: {shown}")
                    }
                }
            } else {
                format!("HTTP {status} with a non-JSON body: {shown}")
            };
            Error::with_details(ErrorKind::from_status(status), message, details)
        }
    }
}

/// The largest error object read (far above any server's): the lenient tree may parse a
/// subtree once per level it nests in, so its cost is bounded by depth times this.
const MAX_ERROR_BYTES: usize = 256 * 1024;

/// Whether an error object as sent may be read: no larger than [`MAX_ERROR_BYTES`] and no
/// deeper than a stream's chunks may be (the lenient tree recurses per level; a 2xx body's
/// envelope skips the member unbounded).
fn readable(sent: &RawValue) -> bool {
    sent.get().len() <= MAX_ERROR_BYTES && raw_json::shape(sent.get()).depth <= raw_json::MAX_DEPTH
}

/// The origin (never the path or query, which may carry secrets) a 3xx points to.
fn redirect_target(status: u16, headers: &HeaderMap) -> Option<String> {
    if !(300..400).contains(&status) {
        return None;
    }
    let location = header_str(headers, "location")?;
    let origin = reqwest::Url::parse(&location)
        .map(|url| url.origin().ascii_serialization())
        .unwrap_or_else(|_| "another location".to_owned());
    Some(origin)
}

/// An OpenRouter error object (`{"code", "message", "metadata", ...}`) as an [`Error`].
/// `http_status` is `None` for an error found inside a 200 body: then `code` (or the
/// typed `http_status`) says which status the failure stands for.
fn error_from_object(http_status: Option<u16>, headers: &HeaderMap, object: ErrorObject) -> Error {
    let code_status = object
        .code
        .as_ref()
        .and_then(Value::as_u64)
        .and_then(|code| u16::try_from(code).ok())
        .filter(|code| (400..600).contains(code));
    let status = http_status
        .filter(|status| *status >= 400)
        .or_else(|| {
            let sent = object.http_status.as_ref()?.as_u64()?;
            u16::try_from(sent).ok()
        })
        .or(code_status)
        .unwrap_or(500);

    let mut metadata = object.metadata;
    if object.error_type.is_some() || object.availability.is_some() {
        let map = match &mut metadata {
            Some(Value::Object(map)) => map,
            _ => {
                metadata = Some(Value::Object(serde_json::Map::new()));
                match &mut metadata {
                    Some(Value::Object(map)) => map,
                    _ => unreachable!("just set to an object"),
                }
            }
        };
        if let Some(error_type) = object.error_type {
            map.entry("error_type").or_insert(error_type);
        }
        if let Some(availability) = object.availability {
            map.entry("availability").or_insert(availability);
        }
    }

    let provider = metadata
        .as_ref()
        .and_then(|m| m.get("provider_name"))
        .and_then(Value::as_str)
        .map(str::to_owned)
        .or_else(|| header_str(headers, "x-provider-name"));
    let kind = refine_kind(ErrorKind::from_status(status), metadata.as_ref());
    // A message that is no string is shown as its JSON text (as `str()` of it would be).
    let message = match object.message {
        Some(Value::String(text)) => text,
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    };
    let message = Some(message)
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| format!("HTTP {status}"));
    let kind = refine_openai_kind(
        kind,
        object.code.as_ref().and_then(Value::as_str),
        object.class.as_ref().and_then(Value::as_str),
        &message,
    );
    let details = ErrorDetails {
        status: Some(status),
        code: object.code,
        retry_after: retry_after(headers, metadata.as_ref()),
        request_id: request_id(headers),
        provider,
        metadata,
        ..ErrorDetails::default()
    };
    Error::with_details(kind, message, details)
}

/// Typed OpenRouter errors (`error_type`, `availability.code`) sharpen the status kind.
fn refine_kind(kind: ErrorKind, metadata: Option<&Value>) -> ErrorKind {
    let Some(metadata) = metadata else {
        return kind;
    };
    let error_type = metadata.get("error_type").and_then(Value::as_str);
    let availability = metadata
        .get("availability")
        .and_then(|a| a.get("code"))
        .and_then(Value::as_str);
    // A platform 429 whose bucket is empty (X-RateLimit-Remaining "0", copied into
    // metadata.headers for the free-model daily cap) is a spent quota, not a blip.
    let quota_spent = metadata
        .get("headers")
        .and_then(|h| h.get("X-RateLimit-Remaining"))
        .is_some_and(|v| v.as_str() == Some("0") || v.as_u64() == Some(0));
    match (error_type, availability) {
        (Some("context_length_exceeded" | "max_tokens_exceeded" | "token_limit_exceeded"), _) => {
            ErrorKind::ContextLengthExceeded
        }
        (_, Some("model_not_found")) => ErrorKind::ModelNotFound,
        _ if kind == ErrorKind::RateLimited && quota_spent => ErrorKind::QuotaExhausted,
        _ => kind,
    }
}

/// Standard OpenAI-compatible error bodies (OpenAI, Groq, vLLM, Ollama, LiteLLM, ...)
/// carry the verdict in a string `error.code` / `error.type`, or only in the message:
/// read them like OpenRouter's typed errors, so a chain fails over past a model the
/// backend does not have or whose context is too small.
fn refine_openai_kind(
    kind: ErrorKind,
    code: Option<&str>,
    class: Option<&str>,
    message: &str,
) -> ErrorKind {
    let code = code.unwrap_or_default();
    let class = class.unwrap_or_default();
    let said = |words: &[&str]| {
        let lower = message.to_ascii_lowercase();
        words.iter().any(|w| lower.contains(w))
    };
    if matches!(code, "model_not_found" | "model_not_available")
        || class == "model_not_found"
        || (matches!(kind, ErrorKind::BadRequest | ErrorKind::NotFound)
            && said(&[
                "invalid model",
                "model not found",
                "unknown model",
                "does not exist",
                "no such model",
            ])
            && said(&["model"]))
    {
        return ErrorKind::ModelNotFound;
    }
    if matches!(
        code,
        "context_length_exceeded" | "string_above_max_length" | "max_tokens_exceeded"
    ) || class == "context_length_exceeded"
        || (kind == ErrorKind::BadRequest
            && said(&["maximum context length", "context length", "context window"]))
    {
        return ErrorKind::ContextLengthExceeded;
    }
    if code == "insufficient_quota" || class == "insufficient_quota" {
        return ErrorKind::QuotaExhausted;
    }
    if matches!(code, "rate_limit_exceeded" | "rate_limit") || class == "rate_limit_error" {
        return ErrorKind::RateLimited;
    }
    kind
}

/// The wait the server asked for: `retry-after-ms`, `Retry-After` (seconds or an HTTP
/// date), `availability.retry_after`, or the `X-RateLimit-Reset` epoch (s or ms) that
/// OpenRouter copies into `metadata.headers`.
pub fn retry_after(headers: &HeaderMap, metadata: Option<&Value>) -> Option<Duration> {
    if let Some(ms) =
        header_str(headers, "retry-after-ms").and_then(|v| v.trim().parse::<f64>().ok())
    {
        return duration_from_secs(ms / 1000.0);
    }
    if let Some(value) = header_str(headers, "retry-after") {
        let value = value.trim();
        if let Ok(secs) = value.parse::<f64>() {
            return duration_from_secs(secs);
        }
        if let Ok(when) = httpdate::parse_http_date(value) {
            let wait = when
                .duration_since(SystemTime::now())
                .unwrap_or(Duration::ZERO);
            return Some(wait.min(Duration::from_secs(86_400)));
        }
    }
    let metadata = metadata?;
    if let Some(secs) = metadata
        .get("availability")
        .and_then(|a| a.get("retry_after"))
        .and_then(Value::as_f64)
    {
        return duration_from_secs(secs);
    }
    let reset = metadata
        .get("headers")
        .and_then(|h| h.get("X-RateLimit-Reset"))
        .and_then(|v| match v {
            Value::String(s) => s.trim().parse::<f64>().ok(),
            other => other.as_f64(),
        })
        .or_else(|| {
            header_str(headers, "x-ratelimit-reset").and_then(|v| v.trim().parse::<f64>().ok())
        })?;
    reset_epoch_to_wait(reset, SystemTime::now())
}

/// An epoch timestamp in seconds or milliseconds (> 1e12 means ms) as a wait from `now`.
pub fn reset_epoch_to_wait(reset: f64, now: SystemTime) -> Option<Duration> {
    let reset_secs = if reset > 1e12 { reset / 1000.0 } else { reset };
    let now_secs = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .ok()?
        .as_secs_f64();
    duration_from_secs((reset_secs - now_secs).max(0.0))
}

fn duration_from_secs(secs: f64) -> Option<Duration> {
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(86_400.0)))
}

/// The generation / request id a response carries, for support tickets and `/generation`.
pub fn request_id(headers: &HeaderMap) -> Option<String> {
    ["x-generation-id", "x-request-id", "cf-ray"]
        .into_iter()
        .find_map(|name| header_str(headers, name))
}

fn header_str(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// A printable prefix of a body: lossy UTF-8, control characters and runs of whitespace
/// squeezed, at most [`SNIPPET_CHARS`] characters.
fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(SNIPPET_CHARS * 4)]);
    let mut out = String::new();
    let mut last_space = true;
    for ch in text.chars() {
        if out.chars().count() >= SNIPPET_CHARS {
            out.push('…');
            break;
        }
        if ch.is_whitespace() || ch.is_control() {
            if !last_space {
                out.push(' ');
            }
            last_space = true;
        } else {
            out.push(ch);
            last_space = false;
        }
    }
    out.trim_end().to_owned()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {

    /// An error object whose metadata nests `depth` objects deep.
    fn deep_error_body(depth: usize) -> String {
        format!(
            r#"{{"error":{{"message":"m","metadata":{}1{}}}}}"#,
            r#"{"a":"#.repeat(depth),
            "}".repeat(depth)
        )
    }

    #[test]
    fn an_error_body_nested_past_the_chunk_depth_is_shown_not_read() {
        // The lenient tree recurses per level: a deep body must not reach it.
        let body = deep_error_body(50_000);
        let err = error_from_response(400, &HeaderMap::new(), body.as_bytes());
        assert!(
            err.message().contains("an error this client does not read"),
            "{}",
            err.message()
        );
        let said = error_from_response(401, &HeaderMap::new(), br#"{"error":"Invalid API key"}"#);
        assert_eq!(said.message(), "HTTP 401: Invalid API key");
        assert_eq!(said.kind(), ErrorKind::Authentication);
    }

    #[test]
    fn invalid_utf8_in_an_unread_member_keeps_the_error() {
        let mut body =
            br#"{"error":{"message":"bad model","type":"invalid_request_error","param":""#.to_vec();
        body.push(0xff);
        body.extend_from_slice(br#""}}"#);
        let err = error_from_response(400, &HeaderMap::new(), &body);
        assert_eq!(err.message(), "bad model");
    }

    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    const OK: &str = r#"{"id":"gen-1","model":"openai/gpt-4o-mini","provider":"OpenAI","choices":[{"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4,"cost":0.0000123}}"#;

    #[test]
    fn success_summary_keeps_cost_text_exactly() {
        let summary = check_chat_body(&HeaderMap::new(), OK.as_bytes()).unwrap();
        assert_eq!(summary.cost.as_deref(), Some("0.0000123"));
        assert_eq!(summary.provider.as_deref(), Some("OpenAI"));
        assert_eq!(summary.model.as_deref(), Some("openai/gpt-4o-mini"));
        assert_eq!(summary.prompt_tokens, Some(3));
        assert_eq!(summary.completion_tokens, Some(1));
        let facts = summary.entry.unwrap();
        assert_eq!(facts.id.as_deref(), Some("gen-1"));
    }

    #[test]
    fn success_summary_has_the_ledger_facts() {
        let body = r#"{"id":"gen-\u0041","usage":{"prompt_tokens_details":{"cached_tokens":7},"completion_tokens_details":{"reasoning_tokens":2,"x":[1]},"is_byok":true}}"#;
        let summary = check_chat_body(&HeaderMap::new(), body.as_bytes()).unwrap();
        let facts = summary.entry.unwrap();
        assert_eq!(facts.id.as_deref(), Some("gen-A"));
        assert_eq!(
            (facts.cached_tokens, facts.reasoning_tokens, facts.byok),
            (7, 2, true)
        );
        let bare = check_chat_body(&HeaderMap::new(), b"{\"id\":null,\"usage\":null}").unwrap();
        assert_eq!(bare.entry, Some(EntryFacts::default()));
        let nulls = r#"{"usage":{"prompt_tokens_details":null,"completion_tokens_details":{"reasoning_tokens":null},"is_byok":null}}"#;
        let summary = check_chat_body(&HeaderMap::new(), nulls.as_bytes()).unwrap();
        assert_eq!(summary.entry, Some(EntryFacts::default()));
    }

    #[test]
    fn usage_that_is_not_an_object_is_refused() {
        // As a usage of any other wrong type: serde's derive alone would read an array by
        // position (cost 0.5, 7 prompt tokens), while the facade's `usage` refuses it.
        for usage in ["[0.5,7,9]", "[]", "\"abc\"", "5", "true"] {
            for repeated in ["", r#","id":"a","id":"b""#] {
                let body = format!(r#"{{"model":"m"{repeated},"usage":{usage}}}"#);
                let err = check_chat_body(&HeaderMap::new(), body.as_bytes()).unwrap_err();
                assert_eq!(err.kind(), ErrorKind::InvalidResponse, "{body}");
                if repeated.is_empty() {
                    assert!(err.message().contains("a JSON object"), "{}", err.message());
                }
            }
        }
        let summary = check_chat_body(&HeaderMap::new(), br#"{"usage":{"cost":0.5}}"#).unwrap();
        assert_eq!(summary.cost.as_deref(), Some("0.5"));
    }

    #[test]
    fn unusual_ledger_facts_are_left_to_the_facade() {
        for body in [
            r#"{"id":7}"#,
            r#"{"id":{"a":1}}"#,
            r#"{"usage":{"prompt_tokens_details":[3]}}"#,
            r#"{"usage":{"prompt_tokens_details":{"cached_tokens":1.5}}}"#,
            r#"{"usage":{"completion_tokens_details":{"reasoning_tokens":"2"}}}"#,
            r#"{"usage":{"completion_tokens_details":3}}"#,
            r#"{"usage":{"is_byok":1}}"#,
        ] {
            let summary = check_chat_body(&HeaderMap::new(), body.as_bytes()).unwrap();
            assert_eq!(summary.entry, None, "{body}");
        }
    }

    #[test]
    fn a_repeated_core_key_is_refused() {
        // serde refuses a key the envelope reads twice, as it always did for `model`.
        let body = r#"{"model":"a","model":"b"}"#;
        let err = check_chat_body(&HeaderMap::new(), body.as_bytes()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidResponse);
    }

    #[test]
    fn a_repeated_ledger_fact_key_keeps_the_answer_without_facts() {
        // Read only for the ledger: repeating one is no reason to refuse (and retry) an
        // answer; its facts are left to the facade's parse.
        for body in [
            r#"{"id":"a","id":"b","model":"m","usage":{"cost":0.5,"prompt_tokens":3}}"#,
            r#"{"model":"m","usage":{"cost":0.5,"prompt_tokens":3,"is_byok":true,"is_byok":false}}"#,
            r#"{"model":"m","usage":{"cost":0.5,"prompt_tokens":3,"prompt_tokens_details":{},"prompt_tokens_details":{}}}"#,
        ] {
            let summary = check_chat_body(&HeaderMap::new(), body.as_bytes()).unwrap();
            assert_eq!(summary.entry, None, "{body}");
            assert_eq!(summary.model.as_deref(), Some("m"), "{body}");
            assert_eq!(summary.cost.as_deref(), Some("0.5"), "{body}");
            assert_eq!(summary.prompt_tokens, Some(3), "{body}");
        }
    }

    #[test]
    fn a_cost_that_is_not_a_number_is_absent() {
        for cost in [r#""0.5""#, "true", "{}", "[1]"] {
            let body = format!(r#"{{"choices":[],"usage":{{"cost":{cost}}}}}"#);
            let summary = check_chat_body(&HeaderMap::new(), body.as_bytes()).unwrap();
            assert_eq!(summary.cost, None, "{cost}");
        }
        let summary = check_chat_body(&HeaderMap::new(), br#"{"usage":{"cost":-0.25}}"#).unwrap();
        assert_eq!(summary.cost.as_deref(), Some("-0.25"));
    }

    #[test]
    fn leading_whitespace_keepalive_is_accepted() {
        let body = format!("\n         \n\n         \n{OK}");
        assert!(check_chat_body(&HeaderMap::new(), body.as_bytes()).is_ok());
    }

    #[test]
    fn null_cost_is_absent() {
        let body = r#"{"choices":[],"usage":{"cost":null}}"#;
        let summary = check_chat_body(&HeaderMap::new(), body.as_bytes()).unwrap();
        assert_eq!(summary.cost, None);
    }

    #[test]
    fn error_inside_a_200_body_uses_its_code() {
        let body = r#"{"error":{"code":502,"message":"Provider returned error","metadata":{"provider_name":"Together","raw":"reset"}}}"#;
        let err = check_chat_body(&HeaderMap::new(), body.as_bytes()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Provider);
        assert_eq!(err.status(), Some(502));
        assert_eq!(err.details().provider.as_deref(), Some("Together"));
        assert_eq!(err.message(), "Provider returned error");
    }

    #[test]
    fn choice_error_is_an_error() {
        let body = r#"{"id":"gen-2","choices":[{"finish_reason":"error","message":{"content":"par"},"error":{"code":429,"message":"Rate limited upstream"}}]}"#;
        let err = check_chat_body(&HeaderMap::new(), body.as_bytes()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::RateLimited);
        assert_eq!(err.message(), "Rate limited upstream");
    }

    /// What a caller sees of an error: the same error object must give the same one
    /// whichever path read it (`headers` aside: only a non-2xx response keeps them).
    fn seen(err: &Error) -> impl PartialEq + std::fmt::Debug {
        let details = err.details();
        (
            err.kind(),
            err.message().to_owned(),
            err.status(),
            details.code.clone(),
            details.metadata.clone(),
            details.sent.as_ref().map(|sent| sent.get().to_owned()),
            details.provider.clone(),
            details.retry_after,
        )
    }

    /// `object` in a 200 body (top level, or in a choice) reads as it does in a non-2xx
    /// body of `status` (what it stands for in-band).
    fn reads_as_in_a_non_2xx_body(object: &str, status: u16) {
        let h = headers(&[("x-generation-id", "gen-7")]);
        let sent = error_from_response(status, &h, format!(r#"{{"error":{object}}}"#).as_bytes());
        for body in [
            format!(r#"{{"id":"gen-7","error":{object},"choices":[]}}"#),
            format!(
                r#"{{"id":"gen-7","choices":[{{"index":0,"message":{{"content":"par"}},"error":{object}}}]}}"#
            ),
        ] {
            let err = check_chat_body(&h, body.as_bytes()).unwrap_err();
            assert_eq!(seen(&err), seen(&sent), "{body}");
            assert_eq!(err.details().request_id.as_deref(), Some("gen-7"), "{body}");
        }
    }

    #[test]
    fn a_negative_zero_code_inside_a_200_body_is_kept_as_sent() {
        // For `json.loads` (0): serde read it as -0.0.
        reads_as_in_a_non_2xx_body(r#"{"code":-0,"message":"m"}"#, 500);
    }

    #[test]
    fn a_code_serde_cannot_hold_inside_a_200_body_keeps_the_servers_error() {
        // Before, the whole body was "not a chat completion".
        reads_as_in_a_non_2xx_body(r#"{"code":1e400,"message":"m"}"#, 500);
        let err = check_chat_body(
            &HeaderMap::new(),
            br#"{"error":{"code":1e400,"message":"down"}}"#,
        )
        .unwrap_err();
        assert_eq!((err.kind(), err.message()), (ErrorKind::Server, "down"));
    }

    #[test]
    fn metadata_serde_cannot_hold_inside_a_200_body_keeps_the_servers_error() {
        reads_as_in_a_non_2xx_body(
            r#"{"code":502,"message":"m","metadata":{"provider_name":"P","n":[1e400,-0]}}"#,
            502,
        );
    }

    #[test]
    fn an_error_without_a_message_inside_a_200_body_reads_as_elsewhere() {
        reads_as_in_a_non_2xx_body(r#"{"code":429}"#, 429);
        reads_as_in_a_non_2xx_body(
            r#"{"error_type":"rate_limit_exceeded","http_status":429,"availability":{"retry_after":3}}"#,
            429,
        );
    }

    #[test]
    fn a_choices_error_reads_as_a_top_level_one() {
        let object = r#"{"code":503,"message":"m","metadata":{"x":-0}}"#;
        let top = check_chat_body(
            &HeaderMap::new(),
            format!(r#"{{"error":{object}}}"#).as_bytes(),
        );
        let choice = format!(r#"{{"choices":[{{"index":0}},{{"index":1,"error":{object}}}]}}"#);
        let choice = check_chat_body(&HeaderMap::new(), choice.as_bytes());
        assert_eq!(seen(&choice.unwrap_err()), seen(&top.unwrap_err()));
        reads_as_in_a_non_2xx_body(object, 503);
    }

    #[test]
    fn an_error_that_is_no_object_inside_a_200_body_is_read_as_in_a_stream() {
        for sent in [r#""a string""#, "5"] {
            let in_stream = error_from_in_band(
                &HeaderMap::new(),
                &RawValue::from_string(sent.into()).unwrap(),
            );
            for body in [
                format!(r#"{{"error":{sent}}}"#),
                format!(r#"{{"choices":[{{"error":{sent}}}]}}"#),
            ] {
                let err = check_chat_body(&HeaderMap::new(), body.as_bytes()).unwrap_err();
                assert_eq!(seen(&err), seen(&in_stream), "{body}");
            }
        }
        let h = headers(&[("x-generation-id", "gen-7")]);
        let err = check_chat_body(&h, br#"{"error":"a string"}"#).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Server);
        assert!(err.message().contains("a string"), "{}", err.message());
        assert_eq!(err.details().request_id.as_deref(), Some("gen-7"));
    }

    #[test]
    fn an_error_object_with_a_mistyped_member_keeps_its_code() {
        for object in [
            r#"{"code":429,"message":{"detail":"slow"}}"#,
            r#"{"code":429,"message":"slow","http_status":"429"}"#,
            r#"{"code":429,"message":"slow","error_type":5}"#,
        ] {
            reads_as_in_a_non_2xx_body(object, 429);
            let body = format!(r#"{{"error":{object},"choices":[]}}"#);
            let err = check_chat_body(&HeaderMap::new(), body.as_bytes()).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::RateLimited, "{object}");
            assert_eq!(err.status(), Some(429), "{object}");
            assert!(err.details().sent.is_some(), "{object}");
        }
        let body = br#"{"error":{"code":429,"message":{"detail":"slow"}}}"#;
        let err = check_chat_body(&HeaderMap::new(), body).unwrap_err();
        assert_eq!(err.message(), r#"{"detail":"slow"}"#);
    }

    #[test]
    fn an_array_is_no_error_object_in_any_body() {
        for sent in [r#"[429,"slow down"]"#, r#"["boom"]"#, "[]"] {
            let err = check_chat_body(
                &HeaderMap::new(),
                format!(r#"{{"error":{sent}}}"#).as_bytes(),
            )
            .unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Server, "{sent}");
            assert!(err.details().sent.is_none(), "{sent}");
            let non_2xx = error_from_response(
                429,
                &HeaderMap::new(),
                format!(r#"{{"error":{sent}}}"#).as_bytes(),
            );
            assert!(non_2xx.details().sent.is_none(), "{sent}");
        }
    }

    #[test]
    fn a_null_error_inside_a_200_body_is_no_error() {
        for body in [
            r#"{"error":null,"model":"m"}"#,
            r#"{"model":"m","choices":[{"error":null},{"index":1}]}"#,
        ] {
            let summary = check_chat_body(&HeaderMap::new(), body.as_bytes()).unwrap();
            assert_eq!(summary.model.as_deref(), Some("m"), "{body}");
        }
    }

    #[test]
    fn an_error_object_too_large_to_read_is_not_read_in_any_body() {
        let huge = format!(
            r#"{{"code":429,"message":"m","metadata":{{"raw":"{}","n":1e400}}}}"#,
            "x".repeat(MAX_ERROR_BYTES)
        );
        let err = check_chat_body(
            &HeaderMap::new(),
            format!(r#"{{"error":{huge}}}"#).as_bytes(),
        )
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Server);
        assert!(err.message().contains("too large or nested too deep"));
        let non_2xx = error_from_response(
            429,
            &HeaderMap::new(),
            format!(r#"{{"error":{huge}}}"#).as_bytes(),
        );
        assert!(non_2xx.details().sent.is_none());
        assert_eq!(non_2xx.status(), Some(429));
        assert!(non_2xx
            .message()
            .contains("an error this client does not read"));
    }

    #[test]
    fn an_error_inside_a_200_body_nested_past_the_chunk_depth_is_not_read() {
        // The lenient tree recurses per level: a deep error must not reach it.
        let body = deep_error_body(50_000);
        let h = headers(&[("x-generation-id", "gen-7")]);
        let err = check_chat_body(&h, body.as_bytes()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Server);
        assert!(err.message().contains("too large or nested too deep"));
        assert_eq!(err.details().request_id.as_deref(), Some("gen-7"));
    }

    #[test]
    fn json_array_success_is_invalid_response() {
        let err = check_chat_body(&HeaderMap::new(), b" []").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidResponse);
    }

    #[test]
    fn non_json_success_is_invalid_response() {
        let err = check_chat_body(&HeaderMap::new(), b"<html>oops</html>").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidResponse);
        assert_eq!(
            err.details().body_snippet.as_deref(),
            Some("<html>oops</html>")
        );
    }

    #[test]
    fn html_error_page_keeps_status_and_snippet() {
        let html = b"<html>\n<head><title>524 A timeout occurred</title></head>\n</html>";
        let err = error_from_response(524, &HeaderMap::new(), html);
        assert_eq!(err.kind(), ErrorKind::Server);
        assert_eq!(err.status(), Some(524));
        assert!(
            err.message().contains("524 A timeout occurred"),
            "{}",
            err.message()
        );
    }

    #[test]
    fn string_code_and_raw_metadata_are_kept() {
        let body = r#"{"error":{"message":"Provider returned error","code":"bad_request","metadata":{"raw":"{\"type\":\"error\"}","provider_name":"Anthropic"}},"user_id":"user_1"}"#;
        let err = error_from_response(400, &HeaderMap::new(), body.as_bytes());
        assert_eq!(err.kind(), ErrorKind::BadRequest);
        assert_eq!(
            err.details().code,
            Some(Value::String("bad_request".into()))
        );
        let raw = err.details().metadata.as_ref().unwrap()["raw"]
            .as_str()
            .unwrap();
        assert_eq!(raw, "{\"type\":\"error\"}");
    }

    #[test]
    fn openai_compatible_error_bodies_are_classified() {
        let cases = [
            (
                404,
                r#"{"error":{"message":"The model `bad` does not exist","type":"invalid_request_error","param":null,"code":"model_not_found"}}"#,
                ErrorKind::ModelNotFound,
            ),
            (
                400,
                r#"{"error":{"message":"Invalid model name passed in model=bad-model","type":"invalid_request_error","code":"400"}}"#,
                ErrorKind::ModelNotFound,
            ),
            (
                400,
                r#"{"error":{"message":"This model's maximum context length is 8192 tokens","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}"#,
                ErrorKind::ContextLengthExceeded,
            ),
            (
                429,
                r#"{"error":{"message":"You exceeded your current quota","type":"insufficient_quota","code":"insufficient_quota"}}"#,
                ErrorKind::QuotaExhausted,
            ),
            (
                429,
                r#"{"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}}"#,
                ErrorKind::RateLimited,
            ),
            (
                400,
                r#"{"error":{"message":"temperature must be <= 2","type":"invalid_request_error","param":"temperature","code":null}}"#,
                ErrorKind::BadRequest,
            ),
        ];
        for (status, body, kind) in cases {
            let err = error_from_response(status, &HeaderMap::new(), body.as_bytes());
            assert_eq!(err.kind(), kind, "{body}");
            assert_eq!(err.status(), Some(status));
        }
    }

    #[test]
    fn typed_errors_refine_the_kind() {
        let ctx = r#"{"error":{"message":"too long","code":400,"metadata":{"error_type":"context_length_exceeded"}}}"#;
        assert_eq!(
            error_from_response(400, &HeaderMap::new(), ctx.as_bytes()).kind(),
            ErrorKind::ContextLengthExceeded
        );
        let unknown = r#"{"error":{"message":"acme/nope-1 is not a valid model ID","error_type":"invalid_request","http_status":400,"availability":{"code":"model_not_found","retryable":false}}}"#;
        let err = error_from_response(400, &HeaderMap::new(), unknown.as_bytes());
        assert_eq!(err.kind(), ErrorKind::ModelNotFound);
        let metadata = err.details().metadata.as_ref().unwrap();
        assert_eq!(metadata["error_type"], "invalid_request");
    }

    #[test]
    fn spent_daily_quota_is_its_own_kind() {
        let body = r#"{"error":{"message":"Rate limit exceeded: free-models-per-day","code":429,"metadata":{"headers":{"X-RateLimit-Limit":"50","X-RateLimit-Remaining":"0","X-RateLimit-Reset":"1771286400000"},"provider_name":null}}}"#;
        let err = error_from_response(429, &HeaderMap::new(), body.as_bytes());
        assert_eq!(err.kind(), ErrorKind::QuotaExhausted);
        let blip = r#"{"error":{"message":"Provider returned error","code":429,"metadata":{"provider_name":"Chutes"}}}"#;
        assert_eq!(
            error_from_response(429, &HeaderMap::new(), blip.as_bytes()).kind(),
            ErrorKind::RateLimited
        );
    }

    #[test]
    fn header_block_round_trips() {
        let h = headers(&[
            ("x-generation-id", "gen-1"),
            ("retry-after", "3"),
            ("x-a", "1"),
        ]);
        let mut h2 = h.clone();
        h2.append("x-a", reqwest::header::HeaderValue::from_static("2"));
        for map in [h, h2] {
            let block = header_block(&map);
            assert_eq!(headers_from_block(&block), map);
            assert_eq!(header_block(&headers_from_block(&block)), block);
        }
    }

    #[test]
    fn retry_after_spellings() {
        let h = headers(&[("retry-after", "3")]);
        assert_eq!(retry_after(&h, None), Some(Duration::from_secs(3)));
        let h = headers(&[("retry-after-ms", "1500")]);
        assert_eq!(retry_after(&h, None), Some(Duration::from_millis(1500)));
        let future = SystemTime::now() + Duration::from_secs(120);
        let h = headers(&[("retry-after", &httpdate::fmt_http_date(future))]);
        let wait = retry_after(&h, None).unwrap();
        assert!(wait > Duration::from_secs(100) && wait <= Duration::from_secs(120));
        let h = headers(&[("retry-after", "Fri, 31 Dec 9999 23:59:59 GMT")]);
        assert_eq!(retry_after(&h, None), Some(Duration::from_secs(86_400)));
        for absurd in ["1e300", "inf", "NaN", "-5"] {
            let h = headers(&[("retry-after", absurd), ("retry-after-ms", absurd)]);
            assert!(retry_after(&h, None).is_none_or(|d| d <= Duration::from_secs(86_400)));
        }
        let metadata: Value =
            serde_json::from_str(r#"{"availability":{"retry_after":12}}"#).unwrap();
        assert_eq!(
            retry_after(&HeaderMap::new(), Some(&metadata)),
            Some(Duration::from_secs(12))
        );
        assert_eq!(
            retry_after(&headers(&[("retry-after", "soon")]), None),
            None
        );
    }

    #[test]
    fn ratelimit_reset_accepts_seconds_and_millis() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_771_286_000);
        assert_eq!(
            reset_epoch_to_wait(1_771_286_400_000.0, now),
            Some(Duration::from_secs(400))
        );
        assert_eq!(
            reset_epoch_to_wait(1_771_286_400.0, now),
            Some(Duration::from_secs(400))
        );
        assert_eq!(reset_epoch_to_wait(1.0, now), Some(Duration::ZERO));
    }

    #[test]
    fn error_responses_keep_their_headers_as_lines() {
        let h = headers(&[("retry-after", "7"), ("x-generation-id", "gen-9")]);
        let block = header_block(&h);
        assert!(block.contains("retry-after: 7\n") && block.contains("x-generation-id: gen-9\n"));
        let error = error_from_response(429, &h, br#"{"error":{"code":429,"message":"slow"}}"#);
        assert_eq!(error.details().headers.as_deref(), Some(block.as_str()));
        let html = error_from_response(502, &h, b"<html>bad gateway</html>");
        assert_eq!(html.details().headers.as_deref(), Some(block.as_str()));
    }

    #[test]
    fn request_id_prefers_generation_id() {
        let h = headers(&[("x-generation-id", "gen-9"), ("cf-ray", "abc")]);
        assert_eq!(request_id(&h).as_deref(), Some("gen-9"));
    }

    #[test]
    fn invalid_utf8_in_a_body_is_replaced_not_fatal() {
        let valid = Bytes::from_static(br#"{"a":"\u00e9 ok"}"#);
        assert_eq!(lossy_utf8(valid.clone()).as_ptr(), valid.as_ptr());
        let broken =
            Bytes::from_static(b"{\"choices\":[{\"message\":{\"content\":\"a\xff\xfeb\"}}]}");
        let fixed = lossy_utf8(broken);
        let text = std::str::from_utf8(&fixed).unwrap();
        assert!(text.contains("a\u{fffd}\u{fffd}b"));
        assert!(check_chat_body(&HeaderMap::new(), &fixed).is_ok());
    }
}
