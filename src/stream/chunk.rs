//! One streamed chunk, parsed once: the event's JSON text plus a compact typed view of the
//! fields a consumer reads on every chunk (ids, role, content, reasoning, finish reasons).
//!
//! The view's strings point into the text wherever the JSON has no escapes, so a chunk is
//! two allocations (text, choices) whatever its shape. Fields read rarely (usage, tool
//! calls, logprobs, unknown fields) are not kept twice, nor as trees: the consumer finds
//! them in the text ([`crate::stream::raw_json`]) and reads them with `json.loads`, as a
//! non-streamed answer's body is read where the core's tape leaves it.

use std::borrow::Cow;
use std::ops::Range;
use std::sync::{Arc, OnceLock};

use crate::error::{Error, ErrorKind};
use crate::stream::accumulate::{over_limit, Accumulator, ChoiceIn, ChunkEffect, ChunkIn, DeltaIn};
use crate::stream::raw_json::{self, MAX_DEPTH};
use crate::stream::scan;

mod template;
use template::Edit;

/// A string field: where it sits in the chunk's text, or decoded (it had escapes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Text {
    Span { start: u32, len: u32 },
    Decoded(Box<str>),
}

/// The typed view of one choice.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChoiceView {
    pub index: Option<u32>,
    /// The choice has a `delta` object.
    pub has_delta: bool,
    pub role: Option<Text>,
    pub content: Option<Text>,
    pub reasoning: Option<Text>,
    pub refusal: Option<Text>,
    pub finish_reason: Option<Text>,
    pub native_finish_reason: Option<Text>,
}

/// One parsed chunk.
#[derive(Debug)]
pub struct Chunk {
    text: String,
    pub id: Option<Text>,
    pub object: Option<Text>,
    pub model: Option<Text>,
    pub provider: Option<Text>,
    pub system_fingerprint: Option<Text>,
    pub service_tier: Option<Text>,
    pub created: Option<i64>,
    pub choices: Choices,
    /// The JSON may have fields the typed view and the models' getters leave out (the
    /// scan skipped unknown ones, or serde read it): Python reaches them by name.
    pub extras: bool,
    /// Where each choice (and its delta) sits in the text: found on the first rare read
    /// (logprobs, tool calls, unknown fields), so a chunk's other reads do not rescan
    /// it; empty (no allocation) on the usual chunk nobody asks.
    spans: OnceLock<Box<[ChoiceSpans]>>,
}

/// Where a choice's JSON text, and its delta's, sit in the chunk's text (byte ranges).
#[derive(Debug, Clone, PartialEq, Eq)]
struct ChoiceSpans {
    choice: Range<usize>,
    delta: Option<Range<usize>>,
}

/// Where `part` (a slice of `text`) sits in it.
fn range_in(text: &str, part: &str) -> Range<usize> {
    let start = (part.as_ptr() as usize).wrapping_sub(text.as_ptr() as usize);
    start..start + part.len()
}

/// A chunk's choices: the first one kept inline (a stream's chunk nearly always has
/// exactly one), so a chunk is one allocation fewer to make on the runtime thread and
/// to free on the consumer's.
#[derive(Debug, Default)]
pub struct Choices {
    first: Option<ChoiceView>,
    rest: Vec<ChoiceView>,
}

impl Choices {
    pub fn len(&self) -> usize {
        usize::from(self.first.is_some()) + self.rest.len()
    }

    pub fn is_empty(&self) -> bool {
        self.first.is_none()
    }

    pub fn get(&self, index: usize) -> Option<&ChoiceView> {
        match index {
            0 => self.first.as_ref(),
            _ => self.rest.get(index - 1),
        }
    }
}

impl FromIterator<ChoiceView> for Choices {
    fn from_iter<I: IntoIterator<Item = ChoiceView>>(iter: I) -> Self {
        let mut iter = iter.into_iter();
        let first = iter.next();
        Self {
            first,
            rest: iter.collect(),
        }
    }
}

impl PartialEq for Chunk {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

/// Where `field` sits in `text`, when it borrows from it.
fn text_of(text: &str, field: Option<&Cow<'_, str>>) -> Option<Text> {
    let field = field?;
    let base = text.as_ptr() as usize;
    match field {
        Cow::Borrowed(part) => {
            let start = (part.as_ptr() as usize).wrapping_sub(base);
            match (u32::try_from(start), u32::try_from(part.len())) {
                (Ok(start), Ok(len)) if start as usize + part.len() <= text.len() => {
                    Some(Text::Span { start, len })
                }
                _ => Some(Text::Decoded((*part).into())),
            }
        }
        Cow::Owned(decoded) => Some(Text::Decoded(decoded.as_str().into())),
    }
}

impl ChoiceView {
    /// A choice with nothing in it.
    pub const EMPTY: Self = Self {
        index: None,
        has_delta: false,
        role: None,
        content: None,
        reasoning: None,
        refusal: None,
        finish_reason: None,
        native_finish_reason: None,
    };

    fn of(text: &str, choice: &ChoiceIn<'_>) -> Self {
        let delta = choice.delta.as_ref();
        let field = |get: for<'d> fn(&'d DeltaIn<'_>) -> Option<&'d Cow<'d, str>>| {
            delta.and_then(|d| text_of(text, get(d)))
        };
        Self {
            index: choice.index,
            has_delta: delta.is_some(),
            role: field(|d| d.role.as_ref()),
            content: field(|d| d.content.as_ref()),
            reasoning: field(|d| d.reasoning.as_ref()),
            refusal: field(|d| d.refusal.as_ref()),
            finish_reason: text_of(text, choice.finish_reason.as_ref()),
            native_finish_reason: text_of(text, choice.native_finish_reason.as_ref()),
        }
    }
}

/// What a stream's last chunk leaves for the next one: room for its choices (one
/// allocation fewer per chunk on the runtime thread; only a small list is kept, as a
/// stream's chunks nearly always have one choice), and the chunk itself when the next
/// one may be read against it ([`template`]).
#[derive(Default)]
pub struct Spare {
    choices: Vec<ChoiceIn<'static>>,
    template: Option<Arc<Chunk>>,
}

/// The most choices a [`Spare`] keeps room for.
const SPARE_CHOICES: usize = 4;

impl Spare {
    /// The list back, emptied, for the next chunk. An empty list's buffer is reused for
    /// items of another lifetime (std collects a `Vec`'s own iterator in place).
    #[allow(clippy::unnecessary_filter_map)] // never called (the list is empty): a typed no-op
    fn keep(&mut self, mut choices: Vec<ChoiceIn<'_>>) {
        if choices.capacity() > SPARE_CHOICES {
            return;
        }
        choices.clear();
        self.choices = choices.into_iter().filter_map(|_| None).collect();
    }
}

impl std::fmt::Debug for Spare {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Spare({}, template: {})",
            self.choices.capacity(),
            self.template.is_some()
        )
    }
}

fn not_a_chunk(why: &dyn std::fmt::Display) -> Error {
    Error::new(
        ErrorKind::InvalidResponse,
        format!("a stream event is not a JSON chunk: {why}"),
    )
}

impl Chunk {
    /// [`Chunk::parse_into`] without a spare list.
    pub fn parse<R>(
        text: String,
        merge: impl FnOnce(&mut ChunkIn<'_>) -> R,
    ) -> Result<(Arc<Self>, R), Error> {
        Self::parse_full(text, &mut Spare::default(), merge)
    }

    /// Parse an event's data once and merge it into the stream's `acc`: a text that is
    /// the last chunk's but for the content string by comparing (see [`template`]: the
    /// view is the last one's, moved, and the merge reads it), the rest by [`Chunk::read`].
    /// The chunk is built in its `Arc` here: returned by value it was copied twice more
    /// (a chunk is ~400 bytes, and this runs for every streamed chunk). `spare` lends the
    /// list the choices are read into and the last chunk, and gets them back.
    pub fn parse_into(
        text: String,
        spare: &mut Spare,
        acc: &mut Accumulator,
    ) -> Result<(Arc<Self>, ChunkEffect), Error> {
        if let Some(last) = spare.template.take() {
            if let Some(edit) = Edit::find(&last, &text) {
                let chunk = Arc::new(edit.chunk(&last, text));
                let effect = acc.add_repeat(&edit.repeat(&last, &chunk));
                spare.template = Some(Arc::clone(&chunk));
                return Ok((chunk, effect));
            }
        }
        Self::parse_full(text, spare, |parsed| acc.add(parsed))
    }

    /// Read `text` in full: `merge` gets the parsed chunk (borrowing from the text) after
    /// the view has been taken from it; a chunk [`template::is_simple`] becomes `spare`'s
    /// template.
    fn parse_full<R>(
        text: String,
        spare: &mut Spare,
        merge: impl FnOnce(&mut ChunkIn<'_>) -> R,
    ) -> Result<(Arc<Self>, R), Error> {
        let mut parsed = ChunkIn {
            choices: std::mem::take(&mut spare.choices),
            ..ChunkIn::default()
        };
        let extras = Self::read(&text, &mut parsed)?;
        if let Some(why) = over_limit(&parsed) {
            return Err(not_a_chunk(&why));
        }
        let view = |field: Option<&Cow<'_, str>>| text_of(&text, field);
        let id = view(parsed.id.as_ref());
        let object = view(parsed.object.as_ref());
        let model = view(parsed.model.as_ref());
        let provider = view(parsed.provider.as_ref());
        let system_fingerprint = view(parsed.system_fingerprint.as_ref());
        let service_tier = view(parsed.service_tier.as_ref());
        let created = parsed.created;
        let choices = parsed
            .choices
            .iter()
            .map(|choice| ChoiceView::of(&text, choice))
            .collect();
        let simple = template::is_simple(&parsed);
        let merged = merge(&mut parsed);
        spare.keep(parsed.choices);
        let chunk = Arc::new(Self {
            text,
            id,
            object,
            model,
            provider,
            system_fingerprint,
            service_tier,
            created,
            choices,
            extras,
            spans: OnceLock::new(),
        });
        spare.template = simple.then(|| Arc::clone(&chunk));
        Ok((chunk, merged))
    }

    /// Reads `text` in full into `parsed` (all defaults but its spare choice list): the
    /// usual shape by [`scan`], the rest by serde. `Ok(true)` when the chunk may have
    /// fields the view leaves out. Neither the outcome nor `extras` may depend on a plain
    /// string's value (the [`template`] path skips this read): value checks go in
    /// `over_limit`.
    fn read<'t>(text: &'t str, parsed: &mut ChunkIn<'t>) -> Result<bool, Error> {
        if let Some(unknown) = scan::read_noting_unknown(text, parsed) {
            return Ok(unknown);
        }
        // serde would read an array into the all-defaults struct: insist on an object.
        if !text.trim_start().starts_with('{') {
            return Err(not_a_chunk(&"not a JSON object"));
        }
        *parsed = serde_json::from_str(text).map_err(|err| not_a_chunk(&err))?;
        // serde skips what it does not read at any depth; the consumer's `json.loads`
        // reads it (the scan takes nothing that deep).
        let shape = raw_json::shape(text);
        if shape.depth > MAX_DEPTH {
            return Err(not_a_chunk(&format_args!(
                "it nests deeper than {MAX_DEPTH} levels"
            )));
        }
        // Nor an integer `json.loads` refuses to convert (the scan takes none longer
        // than 18 digits).
        let limit = raw_json::int_max_digits();
        if shape.longest_integer > limit {
            return Err(not_a_chunk(&format_args!(
                "number out of range (an integer of more than {limit} digits)"
            )));
        }
        Ok(true) // serde skips unknown fields without saying
    }

    /// The event's JSON text, exactly as received.
    pub fn json(&self) -> &str {
        &self.text
    }

    /// The string a view field stands for.
    pub fn str<'a>(&'a self, field: &'a Text) -> &'a str {
        match field {
            Text::Span { start, len } => {
                let start = *start as usize;
                self.text.get(start..start + *len as usize).unwrap_or("")
            }
            Text::Decoded(text) => text,
        }
    }

    /// Where each choice and its delta sit in the text, found once (one pass over the
    /// text, one over each choice).
    fn spans(&self) -> &[ChoiceSpans] {
        self.spans.get_or_init(|| {
            let text = self.text.as_str();
            let choices = raw_json::member(text, "choices")
                .and_then(|choices| raw_json::items(choices.get()))
                .unwrap_or_default();
            choices
                .into_iter()
                .map(|choice| ChoiceSpans {
                    choice: range_in(text, choice.get()),
                    delta: raw_json::member(choice.get(), "delta")
                        .map(|delta| range_in(text, delta.get())),
                })
                .collect()
        })
    }

    /// The JSON text of choice `index` (`None` past the end).
    pub fn choice_json(&self, index: usize) -> Option<&str> {
        let spans = self.spans().get(index)?;
        self.text.get(spans.choice.clone())
    }

    /// The JSON text of choice `index`'s delta (`None` when absent).
    pub fn delta_json(&self, index: usize) -> Option<&str> {
        let spans = self.spans().get(index)?;
        self.text.get(spans.delta.clone()?)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn chunk(text: &str) -> Arc<Chunk> {
        Chunk::parse(text.to_owned(), |_| ()).unwrap().0
    }

    #[test]
    fn fields_point_into_the_text_or_are_decoded() {
        let c = chunk(
            r#"{"id":"gen-1","created":7,"choices":[{"index":0,"delta":{"role":"assistant","content":"a\"b"},"finish_reason":null}]}"#,
        );
        assert!(matches!(c.id, Some(Text::Span { .. })));
        assert_eq!(c.str(c.id.as_ref().unwrap()), "gen-1");
        assert_eq!(c.created, Some(7));
        let choice = c.choices.get(0).unwrap();
        assert!(choice.has_delta);
        assert_eq!(choice.index, Some(0));
        assert_eq!(c.str(choice.role.as_ref().unwrap()), "assistant");
        assert!(matches!(choice.content, Some(Text::Decoded(_))));
        assert_eq!(c.str(choice.content.as_ref().unwrap()), "a\"b");
        assert_eq!(choice.finish_reason, None);
        assert_eq!(
            c.delta_json(0),
            Some(r#"{"role":"assistant","content":"a\"b"}"#)
        );
        assert!(!c.extras);
    }

    #[test]
    fn fields_outside_the_view_are_noted() {
        for text in [
            r#"{"id":"a","x_extra":1,"choices":[]}"#,
            r#"{"choices":[{"index":0,"x_extra":"y","delta":{}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"content":"a","x_extra":null}}]}"#,
            r#"{"choices":[],"usage":{"cost":1}}"#, // read by serde
        ] {
            assert!(chunk(text).extras, "{text}");
        }
        assert!(
            !chunk(r#"{"id":"a","choices":[{"index":0,"delta":{"content":"a"},"logprobs":null}]}"#)
                .extras
        );
    }

    #[test]
    fn what_serde_trees_refuse_is_kept_as_text_for_json_loads() {
        // `json.loads` reads these (inf, a lone surrogate, 0, an exact big integer); the
        // chunk keeps their text for it, whichever path read the chunk.
        for text in [
            r#"{"id":"g","x":1e400,"choices":[{"index":0,"delta":{"content":"hel"}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"content":"a"}}],"usage":{"cost":1e400}}"#,
            r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"x":-1e400}]}}]}"#,
            r#"{"choices":[{"delta":{"content":"a","x":"\ud83d"}}]}"#,
            r#"{"choices":[{"delta":{"images":[{"n":-0,"b":18446744073709551616}]}}]}"#,
            r#"{"choices":[{"logprobs":{"content":[{"logprob":-1e400}]},"delta":{}}]}"#,
            r#"{"created":-0,"choices":[{"index":-0,"delta":{"tool_calls":[{"index":-0}]}}]}"#,
            r#"{"x":{"$serde_json::private::RawValue":"not json"},"choices":[]}"#,
        ] {
            let (c, ()) = Chunk::parse(text.to_owned(), |_| ()).unwrap();
            assert_eq!(c.json(), text);
        }
        let c = chunk(r#"{"created":-0,"choices":[{"index":-0,"delta":{"x":1}}]}"#);
        assert_eq!(
            (c.created, c.choices.get(0).unwrap().index),
            (Some(0), Some(0))
        );
        assert_eq!(c.delta_json(0), Some(r#"{"x":1}"#));
        assert_eq!(c.choice_json(1), None);
        // Found once, where a reading of the text finds them.
        let c = chunk(
            r#"{"x":"\"choices\":[{}]","choices":[{"index":0,"delta":{"content":"a","n":[1]}},{"index":1}]}"#,
        );
        assert_eq!(c.choice_json(1), Some(r#"{"index":1}"#));
        assert_eq!(c.delta_json(0), Some(r#"{"content":"a","n":[1]}"#));
        assert_eq!((c.delta_json(1), c.choice_json(2)), (None, None));
        assert_eq!(c.spans().len(), 2);
    }

    #[test]
    fn nesting_past_the_bound_is_refused() {
        let nested = |depth: usize| {
            format!(
                r#"{{"x":{}{},"choices":[]}}"#,
                "[".repeat(depth),
                "]".repeat(depth)
            )
        };
        chunk(&nested(MAX_DEPTH - 1));
        let merged = std::cell::Cell::new(false);
        let err = Chunk::parse(nested(MAX_DEPTH), |_| merged.set(true)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidResponse);
        assert!(err.to_string().contains("nests deeper than 128"), "{err}");
        assert!(!merged.get(), "merged before refused");
    }

    #[test]
    fn integers_json_loads_refuses_are_refused() {
        let limit = raw_json::int_max_digits();
        let places = [
            r#"{"x":N,"choices":[{"index":0,"delta":{"content":"a"}}]}"#,
            r#"{"choices":[{"index":0,"x":-N,"delta":{"content":"a"}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"content":"a","x":N}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"annotations":[{"n":[N]}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"n":N}]}}]}"#,
            r#"{"choices":[],"usage":{"n":N}}"#,
        ];
        for place in places {
            let within = place.replace('N', &"7".repeat(limit));
            chunk(&within);
            // A fraction or an exponent makes it a float, which has no such limit.
            chunk(&place.replace('N', &format!("{}.5", "7".repeat(limit + 1))));
            chunk(&place.replace('N', &format!("{}e5", "7".repeat(limit + 1))));
            let past = place.replace('N', &"7".repeat(limit + 1));
            let err = Chunk::parse(past, |_| ()).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidResponse);
            assert!(err.to_string().contains("number out of range"), "{err}");
        }
    }

    #[test]
    fn indexes_past_the_limit_are_refused() {
        let refused = |text: &str| {
            Chunk::parse(text.to_owned(), |_| ())
                .unwrap_err()
                .to_string()
        };
        assert!(
            refused(r#"{"choices":[{"index":1024,"delta":{"content":"a"}}]}"#)
                .contains("choice index 1024")
        );
        assert!(
            refused(r#"{"choices":[{"delta":{"tool_calls":[{"index":4000000000}]}}]}"#)
                .contains("tool call index 4000000000")
        );
        let calls = vec!["{}"; 1025].join(",");
        let many = format!(r#"{{"choices":[{{"delta":{{"tool_calls":[{calls}]}}}}]}}"#);
        assert!(refused(&many).contains("more than 1024 tool calls"));
        chunk(r#"{"choices":[{"index":1023,"delta":{"tool_calls":[{"index":1023}]}}]}"#);
    }

    #[test]
    fn a_choice_without_delta_or_index() {
        let c = chunk(r#"{"choices":[{"finish_reason":"stop"}],"usage":{"cost":1}}"#);
        let choice = c.choices.get(0).unwrap();
        assert!(!choice.has_delta);
        assert_eq!(choice.index, None);
        assert_eq!(c.str(choice.finish_reason.as_ref().unwrap()), "stop");
        assert_eq!(
            raw_json::member(c.json(), "usage").map(|usage| usage.get()),
            Some(r#"{"cost":1}"#)
        );
    }

    #[test]
    fn the_spare_choice_list_is_reused_and_stays_small() {
        let (mut spare, mut acc) = (Spare::default(), Accumulator::new());
        let one = r#"{"choices":[{"delta":{"content":"a"}}]}"#;
        Chunk::parse_into(one.to_owned(), &mut spare, &mut acc).unwrap();
        assert_eq!(spare.choices.capacity(), 1);
        let buffer = spare.choices.as_ptr();
        let (chunk, _) = Chunk::parse_into(one.to_owned(), &mut spare, &mut acc).unwrap();
        assert_eq!(
            chunk.str(chunk.choices.get(0).unwrap().content.as_ref().unwrap()),
            "a"
        );
        assert_eq!(spare.choices.as_ptr(), buffer, "the same allocation");
        let nine = [r#"{"delta":{}}"#; 9].join(",");
        let (chunk, _) =
            Chunk::parse_into(format!(r#"{{"choices":[{nine}]}}"#), &mut spare, &mut acc).unwrap();
        assert_eq!(chunk.choices.len(), 9);
        assert_eq!(spare.choices.capacity(), 0, "a long list is not kept");
    }

    #[test]
    fn only_objects_are_chunks() {
        for text in ["[]", "3", "\"x\"", "{bad"] {
            let err = Chunk::parse(text.to_owned(), |_| ()).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidResponse);
        }
    }
}
