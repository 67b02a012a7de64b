//! The usual streamed chunk read by comparing instead of parsing (issue 11, S2: the parse
//! was ~11% of the client's CPU per chunk).
//!
//! A stream's consecutive chunks are byte-identical but for the delta's content string
//! (same id, provider, model, created, role, `finish_reason: null`, ...), and JSON text
//! identical outside one well-formed string parses the same but for that string. So when
//! the last chunk was simple (one choice whose content the view points into, nothing
//! `merge` reads beyond the view) and the next text differs from it only inside that
//! string, with no escape or control character in the new one, the next chunk is the
//! last one's view with the spans after the content moved by its change in length.
//! Anything else is parsed in full, and becomes the template when simple.
//!
//! This holds only while the full read ([`Chunk::read`]: the scan, serde, the depth and
//! integer checks) and its `extras` never depend on a plain string's value, only on
//! whether it has escapes: a check that looks at values belongs in `over_limit` (which
//! the full read runs; a chunk read here has the template's values, which passed it,
//! but for its content). `shape_limits_do_not_look_inside_the_content` guards it.

use std::borrow::Cow;
use std::sync::OnceLock;

use super::{ChoiceView, Choices, Chunk, Text};
use crate::stream::accumulate::{ChoiceIn, ChunkIn, DeltaIn, Repeat};
use crate::stream::scan::special_at;

/// Where a text differs from its template's: its content string (after the opening
/// quote) is `start..new_end`, the template's `start..old_end`.
#[derive(Debug, Clone, Copy)]
pub(super) struct Edit {
    start: usize,
    old_end: usize,
    new_end: usize,
}

impl Edit {
    /// How `text` differs from `last`'s text, when only inside choice 0's content string
    /// and the new string has no escape or control character.
    pub(super) fn find(last: &Chunk, text: &str) -> Option<Self> {
        let Some(Text::Span { start, len }) = last.choices.first.as_ref()?.content else {
            return None;
        };
        let (start, old_end) = (start as usize, start as usize + len as usize);
        let (old, new) = (last.text.as_bytes(), text.as_bytes());
        if new.get(..start)? != old.get(..start)? {
            return None;
        }
        // The string ends at its first quote; an escape or a control character before it
        // is the full parse's to decode or refuse.
        let new_end = start + special_at(new.get(start..)?)?;
        let same_rest =
            new.get(new_end) == Some(&b'"') && new.get(new_end..)? == old.get(old_end..)?;
        // Spans are `u32`s (see `text_of`).
        (same_rest && u32::try_from(new.len()).is_ok()).then_some(Self {
            start,
            old_end,
            new_end,
        })
    }

    /// `field` of the template's view, where it sits in the new text: a span after the
    /// content moved by the content's change in length (the text is the template's
    /// outside the content, so it lands on the same string).
    fn moved(self, field: &Option<Text>) -> Option<Text> {
        Some(match field.as_ref()? {
            &Text::Span { start, len } => {
                let mut start = start as usize;
                if start >= self.old_end {
                    start = start - self.old_end + self.new_end;
                }
                // Within the new text, whose length `find` checked fits a `u32`.
                Text::Span {
                    start: start as u32,
                    len,
                }
            }
            Text::Decoded(decoded) => Text::Decoded(decoded.clone()),
        })
    }

    /// The chunk of the new `text`: what its full parse gives, the template's view with
    /// the new content. Every field is named, so one added to [`Chunk`] is decided here.
    pub(super) fn chunk(self, last: &Chunk, text: String) -> Chunk {
        let Chunk {
            text: _,
            id,
            object,
            model,
            provider,
            system_fingerprint,
            service_tier,
            created,
            choices,
            extras,
            spans: _,
        } = last;
        let first = choices.first.as_ref().map(|choice| ChoiceView {
            index: choice.index,
            has_delta: choice.has_delta,
            role: self.moved(&choice.role),
            content: Some(Text::Span {
                start: self.start as u32,
                len: (self.new_end - self.start) as u32,
            }),
            reasoning: self.moved(&choice.reasoning),
            refusal: self.moved(&choice.refusal),
            finish_reason: self.moved(&choice.finish_reason),
            native_finish_reason: self.moved(&choice.native_finish_reason),
        });
        Chunk {
            text,
            id: self.moved(id),
            object: self.moved(object),
            model: self.moved(model),
            provider: self.moved(provider),
            system_fingerprint: self.moved(system_fingerprint),
            service_tier: self.moved(service_tier),
            created: *created,
            choices: Choices {
                first,
                rest: Vec::new(),
            },
            extras: *extras,
            spans: OnceLock::new(),
        }
    }

    /// What the stream's merge reads of the new `chunk` (made by [`Edit::chunk`]): the
    /// template's fields (the same strings in both texts), the new content.
    pub(super) fn repeat<'a>(self, last: &'a Chunk, chunk: &'a Chunk) -> Repeat<'a> {
        let text = |field: &'a Option<Text>| field.as_ref().map(|field| last.str(field));
        let choice = last.choices.first.as_ref();
        let choice_text = |get: fn(&ChoiceView) -> &Option<Text>| choice.and_then(|c| text(get(c)));
        Repeat {
            id: text(&last.id),
            model: text(&last.model),
            provider: text(&last.provider),
            system_fingerprint: text(&last.system_fingerprint),
            service_tier: text(&last.service_tier),
            created: last.created,
            index: choice.and_then(|c| c.index),
            role: choice_text(|c| &c.role),
            content: chunk.text.get(self.start..self.new_end).unwrap_or(""),
            reasoning: choice_text(|c| &c.reasoning),
            refusal: choice_text(|c| &c.refusal),
            finish_reason: choice_text(|c| &c.finish_reason),
            native_finish_reason: choice_text(|c| &c.native_finish_reason),
        }
    }
}

/// The chunk carries nothing `merge` reads beyond its view, and one choice whose content
/// the view points into: the next chunk may be read against it. Every field is named, so
/// one added to these structs is decided here.
pub(super) fn is_simple(chunk: &ChunkIn<'_>) -> bool {
    let ChunkIn {
        id: _,
        object: _,
        model: _,
        provider: _,
        created: _,
        system_fingerprint: _,
        service_tier: _,
        choices,
        usage,
        error,
    } = chunk;
    let [ChoiceIn {
        index: _,
        delta: Some(delta),
        finish_reason: _,
        native_finish_reason: _,
        logprobs: None,
        error: None,
    }] = choices.as_slice()
    else {
        return false;
    };
    let DeltaIn {
        role: _,
        content,
        reasoning: _,
        refusal: _,
        reasoning_details,
        tool_calls,
        annotations,
        images,
    } = delta;
    usage.is_none()
        && error.is_none()
        && matches!(content, Some(Cow::Borrowed(_)))
        && reasoning_details.is_empty()
        && tool_calls.is_empty()
        && annotations.is_empty()
        && images.is_empty()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::Spare;
    use super::*;
    use crate::error::Error;
    use crate::stream::accumulate::Accumulator;
    use proptest::prelude::*;
    use std::sync::Arc;

    /// A chunk read both ways, or the error each gave.
    type Both = (Result<Arc<Chunk>, Error>, Result<Arc<Chunk>, Error>);

    /// A stream read both ways: against its template (`spare`, merged into `fast`) and
    /// each chunk in full (merged into `full`).
    #[derive(Default)]
    struct Reading {
        spare: Spare,
        fast: Accumulator,
        full: Accumulator,
    }

    impl std::ops::Deref for Reading {
        type Target = Spare;
        fn deref(&self) -> &Spare {
            &self.spare
        }
    }

    impl Reading {
        /// `text` read both ways: `Ok` with the two chunks once their merges agree (the
        /// effect and what they accumulated), or both errors.
        fn both(&mut self, text: &str) -> Both {
            let with = Chunk::parse_into(text.to_owned(), &mut self.spare, &mut self.fast);
            let full = Chunk::parse(text.to_owned(), |parsed| self.full.add(parsed));
            if let (Ok((_, a)), Ok((_, b))) = (&with, &full) {
                assert_eq!(format!("{a:?}"), format!("{b:?}"), "{text:?}");
                // What the merges made, as the completion shows it (an accumulator's
                // Debug text prints a map in no fixed order).
                assert_eq!(self.fast.chunks(), self.full.chunks(), "{text:?}");
                assert_eq!(self.fast.to_json(), self.full.to_json(), "{text:?}");
            }
            (with.map(|(c, _)| c), full.map(|(c, _)| c))
        }
    }

    /// Whether `text` would be read against `spare`'s template.
    fn compared(spare: &Spare, text: &str) -> bool {
        spare
            .template
            .as_deref()
            .and_then(|last| Edit::find(last, text))
            .is_some()
    }

    /// `text` read with `spare` (its template) and in full: the same chunk (every view
    /// field, `extras`, the text), the same merge input, or the same error. True when it
    /// was read by comparing.
    fn same_as_full(spare: &mut Reading, text: &str) -> bool {
        let fast = compared(spare, text);
        match spare.both(text) {
            (Ok(a), Ok(b)) => {
                assert_eq!(format!("{a:?}"), format!("{b:?}"), "{text:?}");
                assert_eq!(a.json(), text);
            }
            (Err(a), Err(b)) => {
                assert!(!fast, "{text:?}");
                assert_eq!((a.kind(), a.to_string()), (b.kind(), b.to_string()));
            }
            (a, b) => panic!("{text:?}: {:?} vs {:?}", a.err(), b.err()),
        }
        fast
    }

    fn content(chunk: &Chunk) -> &str {
        chunk.str(chunk.choices.get(0).unwrap().content.as_ref().unwrap())
    }

    const USUAL: &str = r#"{"id":"gen-1","provider":"OpenAI","model":"openai/gpt-4.1-mini","object":"chat.completion.chunk","created":1754441567,"choices":[{"index":0,"delta":{"role":"assistant","content":"CONTENT"},"finish_reason":null,"native_finish_reason":null,"logprobs":null}],"system_fingerprint":"fp_6f2eabb9a5"}"#;

    fn usual(content: &str) -> String {
        USUAL.replace("CONTENT", content)
    }

    #[test]
    fn the_first_chunk_is_parsed_and_becomes_the_template() {
        let mut spare = Reading::default();
        assert!(!same_as_full(&mut spare, &usual("")));
        assert!(spare.template.is_some());
        for text in [
            "The",
            " current",
            "",
            "a longer piece of content, é 日本😀",
            "x",
        ] {
            assert!(same_as_full(&mut spare, &usual(text)), "{text}");
        }
    }

    #[test]
    fn spans_after_the_content_move_with_its_length() {
        let text = r#"{"id":"g","choices":[{"delta":{"content":"CONTENT","role":"assistant"},"finish_reason":"stop","index":3}],"model":"m","x":1}"#;
        let mut spare = Reading::default();
        for piece in ["abc", "", "a much longer one", "ab"] {
            let text = text.replace("CONTENT", piece);
            assert_eq!(same_as_full(&mut spare, &text), piece != "abc");
            assert!(compared(&spare, &text));
            let (chunk, effect) =
                Chunk::parse_into(text, &mut spare.spare, &mut Accumulator::new()).unwrap();
            assert!(effect.finished && effect.progress != piece.is_empty());
            assert_eq!(content(&chunk), piece);
            let choice = chunk.choices.get(0).unwrap();
            assert_eq!(chunk.str(choice.role.as_ref().unwrap()), "assistant");
            assert_eq!(chunk.str(choice.finish_reason.as_ref().unwrap()), "stop");
            assert_eq!(chunk.str(chunk.model.as_ref().unwrap()), "m");
            assert_eq!(chunk.str(chunk.id.as_ref().unwrap()), "g");
            assert_eq!(choice.index, Some(3));
            assert!(chunk.extras);
        }
        let content = &spare.fast.to_value()["choices"][0]["message"]["content"];
        assert_eq!(content, "abca much longer oneab");
    }

    #[test]
    fn content_at_the_very_end() {
        let mut spare = Reading::default();
        let at_end = |c: &str| format!(r#"{{"choices":[{{"delta":{{"content":"{c}"}}}}]}}"#);
        assert!(!same_as_full(&mut spare, &at_end("a")));
        assert!(same_as_full(&mut spare, &at_end("")));
        assert!(same_as_full(&mut spare, &at_end("bcd")));
        // One byte more or less after the string is another text.
        assert!(!same_as_full(&mut spare, &(at_end("e") + " ")));
        assert!(!same_as_full(
            &mut spare,
            &at_end("f")[..at_end("f").len() - 1]
        ));
        assert!(spare.template.is_none(), "an error leaves no template");
        assert!(!same_as_full(&mut spare, &at_end("g")));
        assert!(same_as_full(&mut spare, &at_end("h")));
    }

    #[test]
    fn escapes_control_characters_and_quotes_are_parsed_in_full() {
        let mut spare = Reading::default();
        same_as_full(&mut spare, &usual("a"));
        for content in [r#"a\"b"#, r"\u00e9", "a\u{1}", r#"",""#, r"\"] {
            assert!(!compared(&spare, &usual(content)), "{content}");
            same_as_full(&mut spare, &usual(content));
            same_as_full(&mut spare, &usual("plain"));
        }
        // A decoded content is no template; the next plain one is.
        same_as_full(&mut spare, &usual(r"\n"));
        assert!(spare.template.is_none());
        assert!(!same_as_full(&mut spare, &usual("b")));
        assert!(same_as_full(&mut spare, &usual("c")));
    }

    #[test]
    fn a_chunk_without_content_or_with_more_than_the_view_is_no_template() {
        for last in [
            r#"{"choices":[{"delta":{"role":"assistant"}}]}"#,
            r#"{"choices":[{"delta":{"content":null}}]}"#,
            r#"{"choices":[{"delta":{"content":"a"}},{"index":1,"delta":{"content":"a"}}]}"#,
            r#"{"choices":[{"delta":{"content":"a"}}],"usage":{"cost":1}}"#,
            r#"{"choices":[{"delta":{"content":"a","tool_calls":[{"index":0}]}}]}"#,
            r#"{"choices":[{"delta":{"content":"a","images":[{}]}}]}"#,
            r#"{"choices":[{"delta":{"content":"a"},"logprobs":{"content":[]}}]}"#,
            r#"{"choices":[{"delta":{"content":"a"},"error":{"code":1}}]}"#,
        ] {
            let mut spare = Reading::default();
            same_as_full(&mut spare, last);
            assert!(spare.template.is_none(), "{last}");
        }
        // Empty lists and null usage carry nothing.
        let mut spare = Reading::default();
        let text = r#"{"usage":null,"choices":[{"delta":{"content":"a","tool_calls":[]}}]}"#;
        same_as_full(&mut spare, text);
        assert!(same_as_full(&mut spare, &text.replace("\"a\"", "\"bb\"")));
    }

    #[test]
    fn fields_decoded_in_the_template_are_decoded_in_the_next_chunk() {
        let mut spare = Reading::default();
        let text = |c: &str| {
            format!(
                r#"{{"id":"g\u0065n","choices":[{{"delta":{{"content":"{c}","role":"a\"b"}}}}]}}"#
            )
        };
        same_as_full(&mut spare, &text("1"));
        assert!(same_as_full(&mut spare, &text("22")));
        let (chunk, _) =
            Chunk::parse_into(text("3"), &mut spare.spare, &mut Accumulator::new()).unwrap();
        assert_eq!(chunk.str(chunk.id.as_ref().unwrap()), "gen");
        assert_eq!(content(&chunk), "3");
    }

    #[test]
    fn a_recorded_stream_is_read_by_comparing() {
        let text = include_str!(
            "../../../tests/fixtures/openrouter-traffic/llm-openrouter__chat_stream_tool_call_then_answer.interaction2.sse"
        );
        let mut spare = Reading::default();
        let events: Vec<&str> = text
            .lines()
            .filter_map(|line| line.strip_prefix("data: "))
            .filter(|data| *data != "[DONE]")
            .collect();
        let compared = events
            .iter()
            .filter(|data| same_as_full(&mut spare, data))
            .count();
        assert!(
            compared + 3 >= events.len(),
            "{compared} of {}",
            events.len()
        );
    }

    /// A chunk's parts, each as JSON text; a stream changes one now and then.
    #[derive(Debug, Clone)]
    struct Parts {
        id: &'static str,
        created: &'static str,
        index: &'static str,
        role: &'static str,
        finish: &'static str,
        usage: &'static str,
        delta_more: &'static str,
        choice_more: &'static str,
        more: &'static str,
        ws: &'static str,
        content_first: bool,
    }

    impl Parts {
        const USUAL: Self = Self {
            id: r#""gen-1""#,
            created: "1754441567",
            index: "0",
            role: r#""assistant""#,
            finish: "null",
            usage: "",
            delta_more: "",
            choice_more: "",
            more: "",
            ws: "",
            content_first: false,
        };

        /// The text with `content` (a JSON value, or nothing) as the delta's content.
        fn text(&self, content: Option<&str>) -> String {
            let w = self.ws;
            let content = content.map(|c| format!(r#""content"{w}:{w}{c}"#));
            let role = format!(r#""role":{w}{}"#, self.role);
            let delta = match (content, self.content_first) {
                (None, _) => role,
                (Some(c), true) => format!("{c},{w}{role}"),
                (Some(c), false) => format!("{role},{c}"),
            };
            format!(
                r#"{w}{{"id":{},"provider":"OpenAI","created":{w}{},"choices":[{{"index":{},"delta":{{{delta}{}}},"finish_reason":{}{}}}],"system_fingerprint":"fp"{}{}}}{w}"#,
                self.id,
                self.created,
                self.index,
                self.delta_more,
                self.finish,
                self.choice_more,
                self.usage,
                self.more,
            )
        }
    }

    #[derive(Debug, Clone)]
    enum Change {
        /// Back to the usual chunk (changes otherwise stay).
        Reset,
        Id(&'static str),
        Created(&'static str),
        Index(&'static str),
        Role(&'static str),
        Finish(&'static str),
        Usage(&'static str),
        DeltaMore(&'static str),
        ChoiceMore(&'static str),
        More(&'static str),
        Ws(&'static str),
        ContentFirst(bool),
    }

    impl Change {
        fn apply(&self, parts: &mut Parts) {
            match *self {
                Self::Reset => *parts = Parts::USUAL,
                Self::Id(v) => parts.id = v,
                Self::Created(v) => parts.created = v,
                Self::Index(v) => parts.index = v,
                Self::Role(v) => parts.role = v,
                Self::Finish(v) => parts.finish = v,
                Self::Usage(v) => parts.usage = v,
                Self::DeltaMore(v) => parts.delta_more = v,
                Self::ChoiceMore(v) => parts.choice_more = v,
                Self::More(v) => parts.more = v,
                Self::Ws(v) => parts.ws = v,
                Self::ContentFirst(v) => parts.content_first = v,
            }
        }
    }

    fn change() -> impl Strategy<Value = Change> {
        use prop::sample::select;
        prop_oneof![
            6 => Just(Change::Reset),
            1 => select(&[r#""gen-1""#, r#""gen-2""#, r#""g\u0065n""#, "null", "7"][..])
                .prop_map(Change::Id),
            1 => select(
                &[
                    "1754441567",
                    "1",
                    "-0",
                    "1e3",
                    "12345678901234567890",
                    "null"
                ][..]
            )
            .prop_map(Change::Created),
            1 => select(&["0", "3", "-0", "1024", "null"][..]).prop_map(Change::Index),
            1 => select(&[r#""assistant""#, "null", r#""a\"b""#][..]).prop_map(Change::Role),
            1 => select(&["null", r#""stop""#, r#""tool""#, r#""st\nop""#][..]).prop_map(Change::Finish),
            1 => select(
                &[
                    "",
                    r#","usage":null"#,
                    r#","usage":{"cost":1}"#,
                    r#","error":{"code":1}"#
                ][..]
            )
            .prop_map(Change::Usage),
            1 => select(
                &[
                    "",
                    r#","reasoning":"r""#,
                    r#","refusal":"no""#,
                    r#","refusal":"n\u006f","reasoning":"\u0072""#,
                    r#","refusal":null"#,
                    r#","tool_calls":[]"#,
                    r#","tool_calls":[{"index":0,"function":{"arguments":"{}"}}]"#,
                    r#","tool_calls":[{"index":5000}]"#,
                    r#","images":[{}]"#,
                    r#","content":"again""#,
                    r#","x":"\u0000""#,
                ][..]
            )
            .prop_map(Change::DeltaMore),
            1 => select(
                &[
                    "",
                    r#","logprobs":null"#,
                    r#","logprobs":{"content":[]}"#,
                    r#","native_finish_reason":"n""#,
                    r#"},{"index":1,"delta":{"content":"x"}"#,
                    r#","x":[1]"#,
                ][..]
            )
            .prop_map(Change::ChoiceMore),
            1 => select(
                &[
                    "",
                    r#","x":1"#,
                    r#","x":2"#,
                    r#","x"::"#,
                    r#","x":{"a":[1,"\"content\":"]}"#,
                    r#","id":"again""#,
                    r#","model":"m","service_tier":"s""#,
                    r#","n":12345678901234567890123456"#,
                    "x",
                ][..]
            )
            .prop_map(Change::More),
            1 => select(&["", " ", "\n\t"][..]).prop_map(Change::Ws),
            1 => any::<bool>().prop_map(Change::ContentFirst),
        ]
    }

    /// A content value: mostly a string (plain text, multi-byte characters, escapes,
    /// raw control characters, quotes and backslashes that end or break it), sometimes
    /// null, another type or nothing.
    fn content_value() -> impl Strategy<Value = Option<String>> {
        let piece = prop_oneof![
            8 => "[a-zA-Z0-9 .,:]{0,8}",
            1 => Just("é".to_owned()),
            1 => Just("日本😀".to_owned()),
            2 => prop::sample::select(&[
                r#"\""#, r"\\", r"\/", r"\n", r"\u00e9", r"\ud83d\ude00", r"\ud800", r"\x",
                "\u{1}", "\t", "\u{1f}", "\u{7f}", "\"", r#"","x":""#, r#"","content":""#,
                r"\", "}", "]",
            ][..])
            .prop_map(str::to_owned),
        ];
        let string = prop::collection::vec(piece, 0..4)
            .prop_map(|pieces| Some(format!("\"{}\"", pieces.concat())));
        prop_oneof![
            20 => string,
            1 => Just(Some("null".to_owned())),
            1 => Just(Some("1".to_owned())),
            1 => Just(None),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

        /// Random streams: chunk by chunk, what the template path reads is what the full
        /// parse reads.
        #[test]
        fn prop_streams_read_as_the_full_parse_reads_them(
            steps in prop::collection::vec(
                (content_value(), prop::option::weighted(0.15, change())),
                1..16,
            ),
        ) {
            let mut parts = Parts::USUAL;
            let mut spare = Reading::default();
            for (content, change) in steps {
                if let Some(change) = change {
                    change.apply(&mut parts);
                }
                same_as_full(&mut spare, &parts.text(content.as_deref()));
            }
        }
    }

    #[test]
    fn generated_streams_are_mostly_read_by_comparing() {
        use proptest::strategy::ValueTree;
        let mut runner = proptest::test_runner::TestRunner::deterministic();
        let strategy = (content_value(), prop::option::weighted(0.15, change()));
        let (mut parts, mut spare) = (Parts::USUAL, Reading::default());
        let (mut compared, mut errors) = (0, 0);
        for _ in 0..2000 {
            let (content, change) = strategy.new_tree(&mut runner).unwrap().current();
            if let Some(change) = change {
                change.apply(&mut parts);
            }
            let text = parts.text(content.as_deref());
            compared += usize::from(same_as_full(&mut spare, &text));
            errors += usize::from(Chunk::parse(text, |_| ()).is_err());
        }
        println!("{compared} compared, {errors} errors of 2000");
        assert!(compared > 500, "{compared}");
        assert!(errors > 100, "{errors}");
    }

    /// Review: adversarial cases beyond the generator above.
    mod review {
        use super::*;

        /// Like `same_as_full`, also comparing the rare reads.
        fn check(spare: &mut Reading, text: &str) -> bool {
            let fast = compared(spare, text);
            match spare.both(text) {
                (Ok(a), Ok(b)) => {
                    assert_eq!(format!("{a:?}"), format!("{b:?}"), "{text:?}");
                    for i in 0..3 {
                        assert_eq!(a.choice_json(i), b.choice_json(i), "{text:?}");
                        assert_eq!(a.delta_json(i), b.delta_json(i), "{text:?}");
                    }
                    assert_eq!(format!("{a:?}"), format!("{b:?}"), "after rare reads");
                }
                (Err(a), Err(b)) => {
                    assert!(!fast, "{text:?}");
                    assert_eq!(a.to_string(), b.to_string());
                }
                (a, b) => panic!("{text:?}: {:?} vs {:?}", a.err(), b.err()),
            }
            fast
        }

        const BASES: &[&str] = &[
            USUAL,
            r#"{"i\u0064":"g","choices":[{"delta":{"content":"CONTENT"}}]}"#,
            r#"{"created":-0,"choices":[{"delta":{"content":"CONTENT"}}]}"#,
            r#"{"choices":[{"delta":{"content":"CONTENT","x":{"a":[[[1]]]}}}],"y":"\u00e9"}"#,
            r#"{"choices":[{"delta":{"x":"content","content":"CONTENT"}}]}"#,
            r#"{"choices":[{"x":{"content":"zz"},"delta":{"content":"CONTENT"}}]}"#,
            r#" { "choices" : [ { "delta" : { "content" : "CONTENT" } } ] } "#,
            r#"{"id":"é","choices":[{"delta":{"content":"CONTENT","role":"日"}}],"model":"😀"}"#,
            r#"{"n":1234567890123456789012,"choices":[{"delta":{"content":"CONTENT"}}]}"#,
            r#"{"choices":[{"delta":{"content":"CONTENT"},"index":255}],"usage":null,"error":null}"#,
            r#"{"choices":[{"delta":{"content":"CONTENT","reasoning":"CONTENT"}}]}"#,
            r#"{"choices":[{"delta":{"reasoning":"CONTENT","content":"CONTENT"}}]}"#,
            r#"{"choices":[{"delta":{"refusal":"n\u006f","content":"CONTENT"},"finish_reason":"stop"}]}"#,
            r#"{"choices":[{"delta":{"content":"CONTENT"}}],"choices":[]}"#,
            r#"{"choices":[{"delta":{"content":"CONTENT","content":"CONTENT"}}]}"#,
        ];

        fn piece() -> impl Strategy<Value = String> {
            prop::sample::select(
                &[
                    "a", "é", "日", "😀", "\"", "\\", "\n", "\u{1}", "\u{1f}", "\u{7f}", "}", "]",
                    ",", ":", " ", "u", "0", r#"",""#, r#"":""#, r"\u00", "null",
                ][..],
            )
            .prop_map(str::to_owned)
        }

        fn content() -> impl Strategy<Value = String> {
            prop::collection::vec(piece(), 0..10).prop_map(|p| p.concat())
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 4096, ..ProptestConfig::default() })]

            #[test]
            fn prop_any_next_text_reads_as_the_full_parse(
                base in prop::sample::select(BASES),
                seed in "[a-z]{0,5}",
                steps in prop::collection::vec(
                    (content(), prop::option::weighted(0.2, (any::<prop::sample::Index>(), piece()))),
                    1..5,
                ),
            ) {
                let mut spare = Reading::default();
                check(&mut spare, &base.replace("CONTENT", &seed));
                for (c, edit) in steps {
                    let mut text = base.replacen("CONTENT", &c, 1).replace("CONTENT", &seed);
                    if let Some((at, p)) = edit {
                        let chars: Vec<(usize, char)> = text.char_indices().collect();
                        let (i, ch) = chars[at.index(chars.len())];
                        text.replace_range(i..i + ch.len_utf8(), &p);
                    }
                    check(&mut spare, &text);
                }
            }

            #[test]
            fn prop_special_at_is_the_first_special_byte(bytes in prop::collection::vec(any::<u8>(), 0..40)) {
                let naive = bytes.iter().position(|&b| b == b'"' || b == b'\\' || b < 0x20);
                prop_assert_eq!(special_at(&bytes), naive);
            }
        }

        #[test]
        fn the_bases_are_read_by_comparing_where_they_can_be() {
            let mut hits = Vec::new();
            for base in BASES {
                let mut spare = Reading::default();
                check(&mut spare, &base.replace("CONTENT", "a"));
                hits.push(check(
                    &mut spare,
                    &base.replacen("CONTENT", "bé", 1).replace("CONTENT", "a"),
                ));
            }
            println!("{hits:?}");
        }

        #[test]
        fn the_template_pins_the_last_chunk() {
            let mut spare = Spare::default();
            let (chunk, _) =
                Chunk::parse_into(usual("a"), &mut spare, &mut Accumulator::new()).unwrap();
            assert_eq!(std::sync::Arc::strong_count(&chunk), 2);
        }
        #[test]
        fn every_recorded_stream_reads_as_the_full_parse() {
            let dir = concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/fixtures/openrouter-traffic"
            );
            let mut files: Vec<_> = std::fs::read_dir(dir)
                .unwrap()
                .map(|e| e.unwrap().path())
                .collect();
            files.sort();
            let (mut all, mut hit) = (0, 0);
            for path in files
                .iter()
                .filter(|p| p.extension().is_some_and(|e| e == "sse"))
            {
                let text = std::fs::read_to_string(path).unwrap();
                let mut spare = Reading::default();
                let (mut n, mut h) = (0, 0);
                for data in text
                    .lines()
                    .filter_map(|l| l.strip_prefix("data: "))
                    .filter(|d| *d != "[DONE]")
                {
                    n += 1;
                    h += usize::from(check(&mut spare, data));
                }
                all += n;
                hit += h;
                println!(
                    "{h:4}/{n:4} {}",
                    path.file_name().unwrap().to_string_lossy()
                );
            }
            println!("{hit}/{all}");
        }
        #[test]
        fn shape_limits_do_not_look_inside_the_content() {
            for base in [BASES[2], BASES[3], BASES[8], USUAL] {
                let mut spare = Reading::default();
                check(&mut spare, &base.replace("CONTENT", "a"));
                for c in [
                    "1".repeat(5000),
                    "[".repeat(300),
                    "{".repeat(300),
                    "-".repeat(30),
                ] {
                    assert!(check(
                        &mut spare,
                        &base.replacen("CONTENT", &c, 1).replace("CONTENT", "a")
                    ));
                }
            }
        }
        #[test]
        fn sizes() {
            println!(
                "Chunk {} text {}",
                std::mem::size_of::<Chunk>(),
                usual("Hello").len()
            );
        }
    }
}
