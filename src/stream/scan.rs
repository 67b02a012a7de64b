//! The usual streamed chunk read without serde: one pass over the text for the shape
//! nearly every chunk has (string, null and integer fields, `choices[].delta` with
//! strings, unknown fields with scalar values), filling exactly the [`ChunkIn`] serde
//! would, choices and deltas in place (serde's derive moved them by value several times).
//! A delta's lists (tool calls, reasoning details, annotations, images) are handed to
//! serde where they start, and the scan goes on after them.
//!
//! Anything else — usage, errors, logprobs, nested unknown values, a key
//! with escapes, a repeated key, a surrogate escape, odd numbers, invalid JSON — makes
//! [`read`] return false and goes to serde, which decides it and words any error. So
//! `true` must only ever be returned where serde reads the same value; the property
//! tests check that against serde on generated and mutated chunks.

use std::borrow::Cow;

use crate::json_tape::{hex4, simple_escape};
use crate::stream::accumulate::{Bounded, ChoiceIn, ChunkIn, DeltaIn, ToolCallIn, MAX_CHOICES};
use crate::stream::raw_json;

/// Reads the chunk in `text` into `out` (all defaults) when it has the usual shape; false
/// leaves it to serde (`out` then holds part of it).
pub fn read<'a>(text: &'a str, out: &mut ChunkIn<'a>) -> bool {
    read_noting_unknown(text, out).is_some()
}

/// [`read`], saying whether the chunk had fields it skipped as unknown (`Some(true)`).
pub fn read_noting_unknown<'a>(text: &'a str, out: &mut ChunkIn<'a>) -> Option<bool> {
    let mut scan = Scan {
        text,
        bytes: text.as_bytes(),
        pos: 0,
        unknown: false,
    };
    scan.expect(b'{').and_then(|()| scan.chunk(out))?;
    scan.skip_ws();
    (scan.pos == scan.bytes.len()).then_some(scan.unknown)
}

/// The deepest a list read by [`Scan::list`] may nest: well under serde's nesting limit
/// (128) less the chunk's own levels above the list (4).
const MAX_LIST_DEPTH: usize = 100;

/// The most digits of an integer the scan takes (an `i64`'s worth); longer ones go to
/// serde's path, which refuses those `json.loads` would.
const MAX_DIGITS: usize = 18;

/// `name` (a field's name and its closing quote) at the start of `rest`: its place and
/// length (a fixed-size compare, no call).
#[inline(always)]
fn is<const N: usize>(rest: &[u8], name: &[u8; N], place: u32) -> Option<(u32, usize)> {
    (rest.first_chunk::<N>() == Some(name)).then_some((place, N))
}

/// `seen` gets bit `bit`; `None` when it had it (serde fails a repeated field).
#[inline]
fn first_time(seen: &mut u32, bit: u32) -> Option<()> {
    let mask = 1 << bit;
    if *seen & mask != 0 {
        return None;
    }
    *seen |= mask;
    Some(())
}

struct Scan<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
    /// A field was skipped as unknown.
    unknown: bool,
}

impl<'a> Scan<'a> {
    /// Skips JSON whitespace (exactly serde's four bytes).
    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.bytes.get(self.pos) {
            self.pos += 1;
        }
    }

    /// The next byte after whitespace, consumed.
    fn next(&mut self) -> Option<u8> {
        self.skip_ws();
        let byte = *self.bytes.get(self.pos)?;
        self.pos += 1;
        Some(byte)
    }

    fn expect(&mut self, byte: u8) -> Option<()> {
        (self.next()? == byte).then_some(())
    }

    /// The next byte after whitespace, not consumed.
    fn peek(&mut self) -> Option<u8> {
        self.skip_ws();
        self.bytes.get(self.pos).copied()
    }

    /// The members of an object whose `{` was read: `member` reads each value, given the
    /// key's place among the object's fields (`None`: another key), after its `:`.
    /// `field` names the object's fields (see [`Scan::key`]).
    #[inline(always)]
    fn object(
        &mut self,
        field: impl Fn(&[u8]) -> Option<(u32, usize)>,
        mut member: impl FnMut(&mut Self, Option<u32>) -> Option<()>,
    ) -> Option<()> {
        if self.peek()? == b'}' {
            self.pos += 1;
            return Some(());
        }
        loop {
            self.expect(b'"')?;
            let key = self.key(&field)?;
            self.expect(b':')?;
            member(self, key)?;
            match self.next()? {
                b',' => {}
                b'}' => return Some(()),
                _ => return None,
            }
        }
    }

    /// A key after its opening quote: the field `field` finds at its start (its place,
    /// and its length with the closing quote), or `None` for another plain key. A known
    /// key is compared in place, never scanned for escapes; a key with escapes is refused
    /// (serde would decode them before matching the field name).
    #[inline(always)]
    fn key(&mut self, field: impl Fn(&[u8]) -> Option<(u32, usize)>) -> Option<Option<u32>> {
        let rest = self.bytes.get(self.pos..)?;
        if let Some((place, len)) = field(rest) {
            self.pos += len;
            return Some(Some(place));
        }
        let end = special_at(rest)?;
        if rest[end] != b'"' {
            return None;
        }
        self.pos += end + 1;
        Some(None)
    }

    /// `null` (the value is absent) or a string, into `out`.
    #[inline]
    fn opt_str(&mut self, out: &mut Option<Cow<'a, str>>) -> Option<()> {
        match self.next()? {
            b'"' => {
                *out = Some(self.string()?);
                Some(())
            }
            b'n' => {
                *out = None;
                self.null_rest()
            }
            _ => None,
        }
    }

    /// A string after its opening quote: borrowed from the text when it has no escapes
    /// (as serde borrows it), decoded otherwise.
    #[inline]
    fn string(&mut self) -> Option<Cow<'a, str>> {
        let start = self.pos;
        let end = start + special_at(self.bytes.get(start..)?)?;
        if self.bytes[end] == b'"' {
            self.pos = end + 1;
            return self.text.get(start..end).map(Cow::Borrowed);
        }
        self.decode(start, end).map(Cow::Owned)
    }

    /// The rest of a string with escapes (`at` is the first one), decoded.
    #[cold]
    fn decode(&mut self, start: usize, mut at: usize) -> Option<String> {
        let mut decoded = String::with_capacity(at - start + 16);
        let mut from = start;
        loop {
            decoded.push_str(self.text.get(from..at)?);
            match self.bytes[at] {
                b'"' => {
                    self.pos = at + 1;
                    return Some(decoded);
                }
                b'\\' => {
                    let (ch, len) = escape(self.bytes.get(at + 1..)?)?;
                    decoded.push(ch);
                    from = at + 1 + len;
                }
                _ => return None, // a control character: invalid JSON
            }
            at = from + special_at(self.bytes.get(from..)?)?;
        }
    }

    /// The rest of `null` after its `n`.
    fn null_rest(&mut self) -> Option<()> {
        self.literal_rest(b"ull")
    }

    fn literal_rest(&mut self, rest: &[u8]) -> Option<()> {
        let end = self.pos + rest.len();
        (self.bytes.get(self.pos..end)? == rest).then(|| self.pos = end)
    }

    /// `null` or an integer serde reads as an `i64` (up to 18 digits; anything longer,
    /// `-0`, a fraction or an exponent goes to serde).
    fn opt_int(&mut self) -> Option<Option<i64>> {
        let negative = match self.next()? {
            b'n' => return self.null_rest().map(|()| None),
            b'-' => true,
            _ => {
                self.pos -= 1;
                false
            }
        };
        let start = self.pos;
        let mut value = 0i64;
        let mut end = start;
        while let Some(&digit) = self.bytes.get(end).filter(|b| b.is_ascii_digit()) {
            if end - start == MAX_DIGITS {
                return None; // 19 digits or more: serde's call
            }
            value = value * 10 + i64::from(digit - b'0');
            end += 1;
        }
        let digits = end - start;
        if digits == 0 || (digits > 1 && self.bytes[start] == b'0') {
            return None;
        }
        if let Some(b'.' | b'e' | b'E') = self.bytes.get(end) {
            return None;
        }
        if negative && value == 0 {
            return None; // serde reads `-0` as a float
        }
        self.pos = end;
        Some(Some(if negative { -value } else { value }))
    }

    /// `null` or an integer that fits a `u32` (negative ones go to serde).
    fn opt_u32(&mut self) -> Option<Option<u32>> {
        if self.peek()? == b'-' {
            return None;
        }
        match self.opt_int()? {
            None => Some(None),
            Some(value) => u32::try_from(value).ok().map(Some),
        }
    }

    /// `null`, for fields whose other values serde keeps as JSON text (usage, errors,
    /// logprobs).
    fn null(&mut self) -> Option<()> {
        self.expect(b'n')?;
        self.null_rest()
    }

    /// A list field whose items serde parses (tool calls, reasoning details, annotations,
    /// images): `[]` here, any other list by serde from where it starts (its strings still
    /// borrow from the text), so a chunk carrying one is not parsed twice.
    fn list<T: serde::Deserialize<'a>>(&mut self, out: &mut Vec<T>) -> Option<()> {
        self.list_as::<Vec<T>, T>(out)
    }

    /// [`Scan::list`] of tool calls, refused past the limit as serde refuses them.
    fn tool_calls(&mut self, out: &mut Vec<ToolCallIn<'a>>) -> Option<()> {
        self.list_as::<Bounded<ToolCallIn<'a>>, _>(out)
    }

    fn list_as<L, T>(&mut self, out: &mut Vec<T>) -> Option<()>
    where
        L: serde::Deserialize<'a> + Into<Vec<T>>,
    {
        self.skip_ws();
        let rest = self.text.get(self.pos..)?;
        if rest.starts_with("[]") {
            self.pos += 2;
            out.clear();
            return Some(());
        }
        if !rest.starts_with('[') {
            return None;
        }
        let mut items = serde_json::Deserializer::from_str(rest).into_iter::<L>();
        *out = items.next()?.ok()?.into();
        let end = self.pos + items.byte_offset();
        // serde's nesting limit counts from the chunk's top, this parse's from the list: a
        // list that may nest deep is left to serde, and so is one with a long integer
        // (its items are read by `json.loads`, which refuses past a limit).
        let shape = raw_json::shape(&self.text[self.pos..end]);
        if shape.depth > MAX_LIST_DEPTH || shape.longest_integer > MAX_DIGITS {
            return None;
        }
        self.pos = end;
        Some(())
    }

    /// A value of a field serde ignores: a string, number or literal (nested values go
    /// to serde).
    fn unknown_field(&mut self) -> Option<()> {
        self.unknown = true;
        self.skip_scalar()
    }

    fn skip_scalar(&mut self) -> Option<()> {
        match self.next()? {
            b'"' => self.string().map(drop),
            b'n' => self.null_rest(),
            b't' => self.literal_rest(b"rue"),
            b'f' => self.literal_rest(b"alse"),
            b'-' | b'0'..=b'9' => {
                self.pos -= 1;
                self.skip_number()
            }
            _ => None,
        }
    }

    /// JSON's number grammar, as serde checks an ignored number.
    fn skip_number(&mut self) -> Option<()> {
        if self.bytes.get(self.pos) == Some(&b'-') {
            self.pos += 1;
        }
        match self.bytes.get(self.pos)? {
            b'0' => {
                self.pos += 1;
                if self.bytes.get(self.pos).is_some_and(u8::is_ascii_digit) {
                    return None;
                }
            }
            b'1'..=b'9' => {
                if self.digits() > MAX_DIGITS {
                    return None; // serde's path checks it against `json.loads`' limit
                }
            }
            _ => return None,
        }
        if self.bytes.get(self.pos) == Some(&b'.') {
            self.pos += 1;
            if self.digits() == 0 {
                return None;
            }
        }
        if let Some(b'e' | b'E') = self.bytes.get(self.pos) {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.bytes.get(self.pos) {
                self.pos += 1;
            }
            if self.digits() == 0 {
                return None;
            }
        }
        Some(())
    }

    fn digits(&mut self) -> usize {
        let count = self.bytes[self.pos..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        self.pos += count;
        count
    }

    /// A chunk object after its `{`.
    fn chunk(&mut self, out: &mut ChunkIn<'a>) -> Option<()> {
        let field = |rest: &[u8]| match rest.first()? {
            b'c' => is(rest, b"choices\"", 0).or_else(|| is(rest, b"created\"", 5)),
            b'i' => is(rest, b"id\"", 1),
            b'o' => is(rest, b"object\"", 2),
            b'm' => is(rest, b"model\"", 3),
            b'p' => is(rest, b"provider\"", 4),
            b's' => is(rest, b"system_fingerprint\"", 6).or_else(|| is(rest, b"service_tier\"", 7)),
            b'u' => is(rest, b"usage\"", 8),
            b'e' => is(rest, b"error\"", 9),
            _ => None,
        };
        let mut seen = 0u32;
        self.object(field, |scan, key| {
            let Some(place) = key else {
                return scan.unknown_field();
            };
            match place {
                0 => scan.choices(&mut out.choices)?,
                1 => scan.opt_str(&mut out.id)?,
                2 => scan.opt_str(&mut out.object)?,
                3 => scan.opt_str(&mut out.model)?,
                4 => scan.opt_str(&mut out.provider)?,
                5 => out.created = scan.opt_int()?,
                6 => scan.opt_str(&mut out.system_fingerprint)?,
                7 => scan.opt_str(&mut out.service_tier)?,
                _ => scan.null()?, // usage, error
            }
            first_time(&mut seen, place)
        })
    }

    /// The `choices` array, into `choices` (the spare list of the last chunk). Each choice
    /// is read in its place in the list: a choice is ~300 bytes, and this runs for every
    /// streamed chunk.
    fn choices(&mut self, choices: &mut Vec<ChoiceIn<'a>>) -> Option<()> {
        self.expect(b'[')?;
        choices.clear();
        if self.peek()? == b']' {
            self.pos += 1;
            return Some(());
        }
        loop {
            self.expect(b'{')?;
            if choices.len() == MAX_CHOICES {
                return None; // serde refuses it, and says why
            }
            if choices.capacity() == 0 {
                choices.reserve_exact(1); // nearly every chunk has one choice
            }
            choices.push(ChoiceIn::default());
            self.choice(choices.last_mut()?)?;
            match self.next()? {
                b',' => {}
                b']' => return Some(()),
                _ => return None,
            }
        }
    }

    /// One choice object after its `{`.
    fn choice(&mut self, out: &mut ChoiceIn<'a>) -> Option<()> {
        let field = |rest: &[u8]| match rest.first()? {
            b'd' => is(rest, b"delta\"", 0),
            b'i' => is(rest, b"index\"", 1),
            b'f' => is(rest, b"finish_reason\"", 2),
            b'n' => is(rest, b"native_finish_reason\"", 3),
            b'l' => is(rest, b"logprobs\"", 4),
            b'e' => is(rest, b"error\"", 5),
            _ => None,
        };
        let mut seen = 0u32;
        self.object(field, |scan, key| {
            let Some(place) = key else {
                return scan.unknown_field();
            };
            match place {
                0 => scan.delta(&mut out.delta)?,
                1 => out.index = scan.opt_u32()?,
                2 => scan.opt_str(&mut out.finish_reason)?,
                3 => scan.opt_str(&mut out.native_finish_reason)?,
                _ => scan.null()?, // logprobs, error
            }
            first_time(&mut seen, place)
        })
    }

    /// `null` or a delta object, read in place.
    fn delta(&mut self, out: &mut Option<DeltaIn<'a>>) -> Option<()> {
        let field = |rest: &[u8]| match rest.first()? {
            b'c' => is(rest, b"content\"", 0),
            b'r' => is(rest, b"role\"", 1)
                .or_else(|| is(rest, b"reasoning\"", 2))
                .or_else(|| is(rest, b"refusal\"", 3))
                .or_else(|| is(rest, b"reasoning_details\"", 4)),
            b't' => is(rest, b"tool_calls\"", 5),
            b'a' => is(rest, b"annotations\"", 6),
            b'i' => is(rest, b"images\"", 7),
            _ => None,
        };
        match self.next()? {
            b'n' => self.null_rest().map(|()| *out = None),
            b'{' => {
                let delta = out.insert(DeltaIn::default());
                let mut seen = 0u32;
                self.object(field, |scan, key| {
                    let Some(place) = key else {
                        return scan.unknown_field();
                    };
                    match place {
                        0 => scan.opt_str(&mut delta.content)?,
                        1 => scan.opt_str(&mut delta.role)?,
                        2 => scan.opt_str(&mut delta.reasoning)?,
                        3 => scan.opt_str(&mut delta.refusal)?,
                        4 => scan.list(&mut delta.reasoning_details)?,
                        5 => scan.tool_calls(&mut delta.tool_calls)?,
                        6 => scan.list(&mut delta.annotations)?,
                        _ => scan.list(&mut delta.images)?,
                    }
                    first_time(&mut seen, place)
                })
            }
            _ => None,
        }
    }
}

/// Where the first `"`, `\` or control character is in `bytes`, eight bytes at a time.
#[inline]
pub(super) fn special_at(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    const QUOTES: u64 = u64::from_ne_bytes([b'"'; 8]);
    const BACKSLASHES: u64 = u64::from_ne_bytes([b'\\'; 8]);
    let mut words = bytes.chunks_exact(8);
    let mut offset = 0;
    for chunk in &mut words {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let word = u64::from_le_bytes(word);
        let control = word.wrapping_sub(ONES * 0x20) & !word;
        let quote = word ^ QUOTES;
        let quote = quote.wrapping_sub(ONES) & !quote;
        let backslash = word ^ BACKSLASHES;
        let backslash = backslash.wrapping_sub(ONES) & !backslash;
        // The lowest flagged byte is exact (borrows only carry into higher bytes).
        let found = (control | quote | backslash) & HIGHS;
        if found != 0 {
            return Some(offset + (found.trailing_zeros() / 8) as usize);
        }
        offset += 8;
    }
    words
        .remainder()
        .iter()
        .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
        .map(|at| offset + at)
}

/// The escape after a `\`: its character and how many bytes it took (a surrogate, which
/// serde pairs or rejects, goes to serde).
fn escape(bytes: &[u8]) -> Option<(char, usize)> {
    match *bytes.first()? {
        b'u' => char::from_u32(hex4(bytes.get(1..5)?)?).map(|ch| (ch, 5)),
        kind => simple_escape(kind).map(|ch| (ch, 1)),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn chunk(text: &str) -> Option<ChunkIn<'_>> {
        let mut out = ChunkIn::default();
        read(text, &mut out).then_some(out)
    }

    /// Which string fields are borrowed from the text (the view keeps spans for those).
    fn borrowed(chunk: &ChunkIn<'_>) -> Vec<bool> {
        let is = |field: &Option<Cow<'_, str>>| matches!(field, Some(Cow::Borrowed(_)));
        let mut flags = vec![
            is(&chunk.id),
            is(&chunk.object),
            is(&chunk.model),
            is(&chunk.provider),
            is(&chunk.system_fingerprint),
            is(&chunk.service_tier),
        ];
        for choice in &chunk.choices {
            flags.extend([is(&choice.finish_reason), is(&choice.native_finish_reason)]);
            if let Some(delta) = &choice.delta {
                flags.extend([
                    is(&delta.role),
                    is(&delta.content),
                    is(&delta.reasoning),
                    is(&delta.refusal),
                ]);
            }
        }
        flags
    }

    /// Whatever the fast path accepts, serde accepts and reads the same; true when the
    /// fast path took it.
    fn same_as_serde(text: &str) -> bool {
        let Some(fast) = chunk(text) else {
            return false;
        };
        let slow: ChunkIn<'_> = match serde_json::from_str(text) {
            Ok(slow) => slow,
            Err(err) => panic!("the fast path took what serde rejects ({err}): {text:?}"),
        };
        assert_eq!(format!("{fast:?}"), format!("{slow:?}"), "{text:?}");
        assert_eq!(borrowed(&fast), borrowed(&slow), "{text:?}");
        true
    }

    const MOCK: &str = r#"{"choices":[{"delta":{"content":"000 ","role":"assistant"},"finish_reason":null,"index":0,"logprobs":null,"native_finish_reason":null}],"created":1795954520,"id":"gen-1795954520-mock5f6a77f400000769","model":"bench/stream","object":"chat.completion.chunk","provider":"Bench"}"#;

    #[test]
    fn the_usual_chunks_take_the_fast_path() {
        assert!(same_as_serde(MOCK));
        for text in [
            r#"{"id":"gen-1","provider":"OpenAI","model":"openai/gpt-4.1-mini","object":"chat.completion.chunk","created":1754441567,"choices":[{"index":0,"delta":{"role":"assistant","content":"The"},"finish_reason":null,"native_finish_reason":null,"logprobs":null}],"system_fingerprint":"fp_6f2eabb9a5"}"#,
            r#"{"id":"g","choices":[{"index":0,"delta":{"role":"assistant","content":"","reasoning":null,"reasoning_details":[]},"finish_reason":null}]}"#,
            r#"{"choices":[{"delta":{"content":"line\nnext \"quoted\" caf\u00e9 \u65e5"},"finish_reason":"stop"}]}"#,
            " {\"choices\" : [ ] , \"usage\":null, \"x\": -1.5e+3, \"y\":true}\r\n",
            "{}",
        ] {
            assert!(same_as_serde(text), "{text}");
        }
        let decoded = chunk(r#"{"choices":[{"delta":{"content":"a\tb\u00e9\/"}}]}"#).unwrap();
        let content = decoded.choices[0]
            .delta
            .as_ref()
            .unwrap()
            .content
            .as_deref();
        assert_eq!(content, Some("a\tbé/"));
    }

    #[test]
    fn a_deltas_lists_are_read_by_serde_in_place() {
        for text in [
            r#"{"id":"g","choices":[{"index":0,"delta":{"role":"assistant","content":"","reasoning":"Let me","reasoning_details":[{"type":"reasoning.text","text":"Let me","format":"anthropic-claude-v1","index":0}]},"finish_reason":null}]}"#,
            r#"{"id":"g","choices":[{"index":0,"delta":{"content":null,"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":"}}]},"finish_reason":null}],"x":1}"#,
            r#"{"choices":[{"delta":{"annotations":[ {"type":"url_citation"} ] ,"images":[]}}]}"#,
        ] {
            assert!(same_as_serde(text), "{text}");
        }
        // Nesting deep enough to near serde's limit from the chunk's top is serde's call.
        let deep = format!(
            r#"{{"choices":[{{"delta":{{"images":{}{}}}}}]}}"#,
            "[".repeat(101),
            "]".repeat(101)
        );
        assert!(!same_as_serde(&deep));
    }

    #[test]
    fn a_chunk_with_too_many_choices_is_refused() {
        let choices = |n: usize| format!(r#"{{"choices":[{}]}}"#, vec!["{}"; n].join(","));
        assert!(same_as_serde(&choices(MAX_CHOICES)));
        let text = choices(MAX_CHOICES + 1);
        assert!(chunk(&text).is_none());
        let err = serde_json::from_str::<ChunkIn<'_>>(&text).unwrap_err();
        assert!(err.to_string().contains("more than 1024 choices"), "{err}");
    }

    #[test]
    fn the_rest_goes_to_serde() {
        for text in [
            // Values serde keeps as text, or parses as lists of items.
            r#"{"choices":[],"usage":{"cost":1}}"#,
            r#"{"error":{"code":400},"choices":[]}"#,
            r#"{"choices":[{"logprobs":{"content":[]}}]}"#,
            // What serde reads differently from how it looks, or rejects.
            r#"{"i\u0064":"x"}"#,
            r#"{"id":"a","id":"b"}"#,
            r#"{"created":-0}"#,
            r#"{"created":1e3}"#,
            r#"{"created":01}"#,
            r#"{"created":12345678901234567890}"#,
            r#"{"choices":[{"index":-1}]}"#,
            r#"{"choices":[{"index":4294967296}]}"#,
            r#"{"choices":[{"delta":["assistant"]}]}"#,
            r#"{"choices":[["x"]]}"#,
            r#"{"choices":null}"#,
            r#"{"choices":[{"delta":{"reasoning_details":null}}]}"#,
            r#"{"choices":[{"delta":{"content":"\ud83d\ude00"}}]}"#,
            r#"{"id":"a"} x"#,
            r#"{"id":"a",}"#,
            "{\"id\":\"a\u{1}\"}",
            r#"{"id":"\x"}"#,
            r#"{"x":{"nested":1}}"#,
            "[]",
            "",
        ] {
            assert!(!same_as_serde(text), "{text}");
        }
    }

    #[test]
    fn recorded_streams_agree_with_serde() {
        let fixtures = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/openrouter-traffic"
        );
        let mut taken = 0;
        for entry in std::fs::read_dir(fixtures).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().and_then(|e| e.to_str()) != Some("sse") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            for data in text.lines().filter_map(|l| l.strip_prefix("data: ")) {
                taken += usize::from(same_as_serde(data));
            }
        }
        assert!(taken > 100, "{taken}");
    }

    fn ws() -> impl Strategy<Value = &'static str> {
        prop_oneof![8 => Just(""), 1 => Just(" "), 1 => Just("\n\t"), 1 => Just("\r\n ")]
    }

    /// String literals: plain text, multi-byte characters, every escape (surrogate pairs,
    /// lone surrogates, bad ones) and raw control characters.
    fn string() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            6 => "[a-zA-Z0-9 .:/_-]{0,12}",
            1 => Just("é".to_owned()),
            1 => Just("日本😀".to_owned()),
            1 => prop_oneof![
                Just(r#"\""#), Just(r"\\"), Just(r"\/"), Just(r"\b"), Just(r"\f"),
                Just(r"\n"), Just(r"\r"), Just(r"\t"), Just(r"\u00e9"), Just(r"\u00E9"),
                Just(r"\u0000"), Just(r"\uD83D\uDE00"), Just(r"\ud800"), Just(r"\udc00x"),
                Just(r"\u12"), Just(r"\x"), Just("\u{1}"), Just("\t"), Just("\u{7f}"),
            ]
            .prop_map(str::to_owned),
        ];
        prop::collection::vec(piece, 0..5).prop_map(|pieces| format!("\"{}\"", pieces.concat()))
    }

    fn number() -> impl Strategy<Value = String> {
        prop_oneof![
            3 => (0u32..2_000_000_000).prop_map(|n| n.to_string()),
            1 => (-2_000_000i64..0).prop_map(|n| n.to_string()),
            1 => prop_oneof![
                Just("0"), Just("-0"), Just("01"), Just("-"), Just("1.5"), Just("1."),
                Just("2e3"), Just("2E+3"), Just("2e"), Just("-0.0"), Just("4294967295"),
                Just("4294967296"), Just("123456789012345678"), Just("1234567890123456789"),
                Just("99999999999999999999"), Just("-9223372036854775808"),
            ]
            .prop_map(str::to_owned),
        ]
    }

    fn scalar() -> impl Strategy<Value = String> {
        prop_oneof![
            3 => string(),
            2 => number(),
            2 => prop_oneof![
                Just("null"), Just("true"), Just("false"), Just("nul"), Just("nulll"),
                Just("[]"), Just("[ ]"), Just("{}"), Just("[1]"), Just(r#"{"a":[null]}"#),
            ]
            .prop_map(str::to_owned),
        ]
    }

    /// A value for `key`: usually of the type that field has, sometimes anything.
    fn value_for(key: &'static str, depth: u32) -> BoxedStrategy<String> {
        let usual = match key {
            "created" | "index" => number().boxed(),
            "choices" if depth > 0 => prop::collection::vec(choice(depth - 1), 0..3)
                .prop_map(|items| format!("[{}]", items.join(",")))
                .boxed(),
            "delta" if depth > 0 => object(DELTA_KEYS, depth - 1),
            "usage" | "error" | "logprobs" => {
                prop_oneof![Just("null".to_owned()), Just(r#"{"cost":0.5}"#.to_owned())].boxed()
            }
            "reasoning_details" | "tool_calls" | "annotations" | "images" => prop_oneof![
                Just("[]".to_owned()),
                Just("[{}]".to_owned()),
                Just("null".to_owned()),
                Just("[".repeat(130) + &"]".repeat(130)),
                (ws(), number(), string(), string(), string()).prop_map(
                    |(w, index, id, name, arguments)| format!(
                        r#"[{w}{{"index":{index},"id":{id},"type":"function","function":{{"name":{name},"arguments":{arguments}}}}}{w}]"#
                    )
                ),
                (string(), string()).prop_map(|(kind, text)| format!(
                    r#"[{{"type":{kind},"text":{text},"nested":[1,{{"a":[]}}]}}, {{}}]"#
                )),
            ]
            .boxed(),
            _ => prop_oneof![3 => string(), 1 => Just("null".to_owned())].boxed(),
        };
        prop_oneof![6 => usual, 1 => scalar()].boxed()
    }

    const CHUNK_KEYS: &[&str] = &[
        "id",
        "object",
        "model",
        "provider",
        "created",
        "system_fingerprint",
        "service_tier",
        "choices",
        "usage",
        "error",
        "other",
        "i\\u0064",
        "",
        // Near misses of the names matched in place: prefixes and extensions.
        "i",
        "ids",
        "choice",
        "createdx",
        "service_tie",
    ];
    const CHOICE_KEYS: &[&str] = &[
        "index",
        "delta",
        "finish_reason",
        "native_finish_reason",
        "logprobs",
        "error",
        "other",
        "indexes",
        "delt",
    ];
    const DELTA_KEYS: &[&str] = &[
        "role",
        "content",
        "reasoning",
        "refusal",
        "reasoning_details",
        "tool_calls",
        "annotations",
        "images",
        "other",
        "type",
        "rol",
        "contents",
        "reasoning_",
    ];

    /// An object with keys drawn (repeats possible, any order) from `keys`.
    fn object(keys: &'static [&'static str], depth: u32) -> BoxedStrategy<String> {
        let member = prop::sample::select(keys).prop_flat_map(move |key| {
            (ws(), value_for(key, depth), ws())
                .prop_map(move |(a, value, b)| format!("{a}\"{key}\"{b}:{a}{value}{b}"))
        });
        prop::collection::vec(member, 0..7)
            .prop_map(|members| format!("{{{}}}", members.join(",")))
            .boxed()
    }

    fn choice(depth: u32) -> BoxedStrategy<String> {
        object(CHOICE_KEYS, depth)
    }

    fn chunk_text() -> impl Strategy<Value = String> {
        (ws(), object(CHUNK_KEYS, 2), ws()).prop_map(|(a, body, b)| format!("{a}{body}{b}"))
    }

    /// An edit at a place in the text: delete a byte, or insert / overwrite one.
    fn mutate(text: &str, edits: &[(usize, u8, u8)]) -> Option<String> {
        let mut bytes = text.as_bytes().to_vec();
        for &(at, op, byte) in edits {
            if bytes.is_empty() {
                break;
            }
            let at = at % bytes.len();
            match op % 3 {
                0 => drop(bytes.remove(at)),
                1 => bytes.insert(at, byte),
                _ => bytes[at] = byte,
            }
        }
        String::from_utf8(bytes).ok()
    }

    const EDIT_BYTES: &[u8] = b"{}[]\",:\\ 0-1enulltrue\x01u";

    #[test]
    fn generated_chunks_often_take_the_fast_path() {
        use proptest::strategy::ValueTree;
        let mut runner = proptest::test_runner::TestRunner::deterministic();
        let strategy = chunk_text();
        let taken = (0..1000)
            .filter(|_| same_as_serde(&strategy.new_tree(&mut runner).unwrap().current()))
            .count();
        println!("{taken} of 1000");
        assert!(taken > 50, "{taken} of 1000");
    }

    /// `cargo test --release --lib stream::scan::tests::speed -- --ignored --nocapture`
    #[test]
    #[ignore = "a timing, not a test"]
    fn speed() {
        use std::hint::black_box;
        use std::time::Instant;
        const N: u32 = 1_000_000;
        let only = std::env::var("ONLY").unwrap_or_default();
        if only != "serde" {
            let started = Instant::now();
            for _ in 0..N {
                let mut out = ChunkIn::default();
                black_box(read(black_box(MOCK), &mut out));
                black_box(&out);
            }
            println!("scan {:?} per chunk", started.elapsed() / N);
        }
        if only != "scan" {
            let started = Instant::now();
            for _ in 0..N {
                black_box(serde_json::from_str::<ChunkIn<'_>>(black_box(MOCK)).ok());
            }
            println!("serde {:?} per chunk", started.elapsed() / N);
        }
    }

    /// The field names serde's derive reads for `T` (what it passes to `deserialize_struct`).
    fn serde_fields<T: serde::Deserialize<'static>>() -> &'static [&'static str] {
        struct Recorder(std::cell::Cell<&'static [&'static str]>);
        impl<'de> serde::Deserializer<'de> for &Recorder {
            type Error = serde::de::value::Error;
            fn deserialize_any<V: serde::de::Visitor<'de>>(
                self,
                _: V,
            ) -> Result<V::Value, Self::Error> {
                Err(serde::de::Error::custom("not a struct"))
            }
            fn deserialize_struct<V: serde::de::Visitor<'de>>(
                self,
                _: &'static str,
                fields: &'static [&'static str],
                _: V,
            ) -> Result<V::Value, Self::Error> {
                self.0.set(fields);
                Err(serde::de::Error::custom("recorded"))
            }
            serde::forward_to_deserialize_any! {
                bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
                byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map enum
                identifier ignored_any
            }
        }
        let recorder = Recorder(std::cell::Cell::new(&[]));
        let _ = T::deserialize(&recorder);
        recorder.0.get()
    }

    /// A field added to `ChunkIn`, `ChoiceIn` or `DeltaIn` but not to the scanner would be
    /// skipped by it as unknown: each field serde reads, with values of every kind, reads
    /// the same on both paths, and the property tests generate it.
    #[test]
    fn every_field_serde_reads_is_read_the_same_by_the_scanner() {
        let values = [
            r#""x""#,
            r#""a\nb""#,
            "1",
            "-2",
            "true",
            "[]",
            "[1]",
            "{}",
            "null",
        ];
        // Each level: the fields serde reads, a member wrapped into a chunk at that level,
        // the keys the property tests draw from.
        type Level = (
            &'static [&'static str],
            fn(&str) -> String,
            &'static [&'static str],
        );
        let levels: [Level; 3] = [
            (
                serde_fields::<ChunkIn<'static>>(),
                |m| format!("{{{m}}}"),
                CHUNK_KEYS,
            ),
            (
                serde_fields::<ChoiceIn<'static>>(),
                |m| format!(r#"{{"choices":[{{{m}}}]}}"#),
                CHOICE_KEYS,
            ),
            (
                serde_fields::<DeltaIn<'static>>(),
                |m| format!(r#"{{"choices":[{{"delta":{{{m}}}}}]}}"#),
                DELTA_KEYS,
            ),
        ];
        for (fields, wrap, generated) in levels {
            assert!(!fields.is_empty());
            for field in fields {
                assert!(generated.contains(field), "not generated: {field:?}");
                for value in values {
                    same_as_serde(&wrap(&format!(r#""{field}":{value}"#)));
                }
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]

        #[test]
        fn prop_generated_chunks_read_as_serde_reads_them(text in chunk_text()) {
            same_as_serde(&text);
        }

        #[test]
        fn prop_mutated_chunks_read_as_serde_reads_them(
            text in chunk_text(),
            edits in prop::collection::vec(
                (any::<usize>(), any::<u8>(), prop::sample::select(EDIT_BYTES)),
                1..4,
            ),
        ) {
            if let Some(mutated) = mutate(&text, &edits) {
                same_as_serde(&mutated);
            }
        }

        /// A chunk the stream takes keeps its rare parts as text: found in it without a
        /// tree, they are what a tree of the whole chunk holds (where serde builds one).
        #[test]
        fn prop_a_chunks_parts_found_in_its_text_are_its_trees(text in chunk_text()) {
            use crate::stream::raw_json;
            let Ok((chunk, ())) = crate::stream::chunk::Chunk::parse(text.clone(), |_| ()) else {
                return Ok(());
            };
            let Ok(serde_json::Value::Object(tree)) = serde_json::from_str(&text) else {
                return Ok(());
            };
            let part = |raw: Option<&serde_json::value::RawValue>| {
                raw.map(|raw| serde_json::from_str::<serde_json::Value>(raw.get()).unwrap())
            };
            for (key, value) in &tree {
                let found = part(raw_json::member(chunk.json(), key));
                prop_assert_eq!(found.as_ref(), Some(value));
            }
            let choices = tree.get("choices").and_then(|c| c.as_array()).cloned().unwrap_or_default();
            for (index, choice) in choices.iter().enumerate() {
                let found = chunk.choice_json(index).map(|c| serde_json::from_str::<serde_json::Value>(c).unwrap());
                prop_assert_eq!(found.as_ref(), Some(choice));
                let delta = chunk.delta_json(index).map(|d| serde_json::from_str::<serde_json::Value>(d).unwrap());
                prop_assert_eq!(delta.as_ref(), choice.get("delta"));
            }
        }

        #[test]
        fn prop_the_usual_chunk_with_any_content(content in string(), role in string()) {
            let text = MOCK.replace("\"000 \"", &content).replace("\"assistant\"", &role);
            same_as_serde(&text);
        }
    }
}
