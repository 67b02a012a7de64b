//! A JSON text read once into a flat tape: the runtime thread's one parse of a non-streamed
//! answer, from which it takes the core's facts and the event loop's thread builds the
//! Python objects without scanning the text again (issue 11, S1).
//!
//! Every string is already unescaped, every number already read, and the usual keys of a
//! chat completion are named by an index into [`KNOWN_KEYS`]. Only what serde_json and
//! `json.loads` read alike is taken: a lone surrogate escape, `-0`, an integer past 64
//! bits, a number past f64's range or with a long exponent, a control character, nesting
//! deeper than [`MAX_DEPTH`] or invalid JSON give `None`, and the text takes the general
//! path (serde, then `json.loads`) exactly as before.

/// How deep containers nest on the tape (serde_json refuses beyond 128).
const MAX_DEPTH: u32 = 100;

/// The most tokens reserved before reading (24 bytes each).
const MAX_TOKENS_RESERVED: usize = 1024;

/// The most tokens a tape holds (~6 MiB): a body of more (many tiny values: ~24 bytes of
/// tape per byte of `[0,0,…]`) takes the general path, whose check keeps nothing.
const MAX_TOKENS: usize = 1 << 18;

/// Where a string's text is in [`Tape::strings`], or a number's in the source text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    start: u32,
    len: u32,
}

impl Span {
    fn of(text: &str, span: Self) -> Option<&str> {
        let start = span.start as usize;
        text.get(start..start + span.len as usize)
    }
}

/// One value or object key, in document order: a container is followed by its items (an
/// object's as key, value pairs) and knows where they end.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Token {
    Null,
    Bool(bool),
    /// A non-negative integer (`at`: its text in the source).
    UInt {
        value: u64,
        at: Span,
    },
    /// A negative integer.
    Int {
        value: i64,
        at: Span,
    },
    /// A number with a fraction or an exponent.
    Float {
        value: f64,
        at: Span,
    },
    Str(Span),
    /// An object key that is not one of [`KNOWN_KEYS`].
    Key(Span),
    /// `KNOWN_KEYS[index]`.
    KnownKey(u8),
    /// `items` values; the next token after them is `end`.
    Array {
        items: u32,
        end: u32,
    },
    /// `items` key, value pairs; the next token after them is `end`.
    Object {
        items: u32,
        end: u32,
    },
}

impl Token {
    /// The token as it reads once `tokens` tokens and `bytes` string bytes before it are
    /// left out (a container's end and a string's place move back).
    fn moved(&self, tokens: u32, bytes: u32) -> Token {
        let span = |span: Span| Span {
            start: span.start - bytes,
            len: span.len,
        };
        match *self {
            Token::Array { items, end } => Token::Array {
                items,
                end: end - tokens,
            },
            Token::Object { items, end } => Token::Object {
                items,
                end: end - tokens,
            },
            Token::Str(at) => Token::Str(span(at)),
            Token::Key(at) => Token::Key(span(at)),
            other => other,
        }
    }
}

/// The keys of a chat completion (and its usual parts), named on the tape by their index:
/// matched once while reading, their Python strings made once per process.
pub const KNOWN_KEYS: [&str; 52] = [
    "id",
    "object",
    "created",
    "model",
    "provider",
    "system_fingerprint",
    "choices",
    "index",
    "message",
    "role",
    "content",
    "refusal",
    "reasoning",
    "reasoning_details",
    "tool_calls",
    "function",
    "name",
    "arguments",
    "type",
    "finish_reason",
    "native_finish_reason",
    "logprobs",
    "usage",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "cost",
    "is_byok",
    "prompt_tokens_details",
    "cached_tokens",
    "audio_tokens",
    "cost_details",
    "upstream_inference_cost",
    "completion_tokens_details",
    "reasoning_tokens",
    "image_tokens",
    "error",
    "code",
    "metadata",
    "annotations",
    "audio",
    "text",
    "format",
    "token",
    "bytes",
    "top_logprobs",
    "url_citation",
    "url",
    "title",
    "start_index",
    "end_index",
    "service_tier",
];

/// Slots of the known keys' table (direct-mapped by [`key_hash`], chosen so that no two
/// known keys share a slot: `every_known_key_has_its_slot`).
const KEY_SLOTS: usize = 256;

const fn key_hash(bytes: &[u8]) -> usize {
    let len = bytes.len();
    if len == 0 {
        return 0;
    }
    (len * 4 + bytes[0] as usize * 11 + bytes[len - 1] as usize * 7 + bytes[len / 2] as usize * 3)
        % KEY_SLOTS
}

/// `KEY_TABLE[key_hash(key)]` is `index + 1` of the known key there (0: none).
const KEY_TABLE: [u8; KEY_SLOTS] = {
    let mut table = [0u8; KEY_SLOTS];
    let mut index = 0;
    while index < KNOWN_KEYS.len() {
        let slot = key_hash(KNOWN_KEYS[index].as_bytes());
        // Two known keys in one slot would leave one unmatched: a build error instead.
        assert!(table[slot] == 0, "two known keys hash to one slot");
        table[slot] = index as u8 + 1;
        index += 1;
    }
    table
};

/// The index of `name` in [`KNOWN_KEYS`], for matching keys by index; a name that is not
/// one of them is a build error.
pub const fn known_index(name: &str) -> u8 {
    let name = name.as_bytes();
    let mut index = 0;
    while index < KNOWN_KEYS.len() {
        let key = KNOWN_KEYS[index].as_bytes();
        if key.len() == name.len() {
            let mut at = 0;
            while at < key.len() && key[at] == name[at] {
                at += 1;
            }
            if at == key.len() {
                return index as u8;
            }
        }
        index += 1;
    }
    panic!("not a known key")
}

/// The index of `key` in [`KNOWN_KEYS`].
fn known_key(key: &[u8]) -> Option<u8> {
    let index = KEY_TABLE[key_hash(key)].checked_sub(1)?;
    (KNOWN_KEYS[index as usize].as_bytes() == key).then_some(index)
}

/// A JSON text's values in document order (see the module's doc).
#[derive(Debug, Default)]
pub struct Tape {
    tokens: Vec<Token>,
    /// Every string and unknown key, unescaped, end to end.
    strings: String,
}

impl Tape {
    /// The tape of `text`, or `None` when it is not JSON or holds what only the general
    /// path reads (see the module's doc).
    pub fn parse(text: &str) -> Option<Self> {
        u32::try_from(text.len()).ok()?;
        let mut reader = Reader {
            bytes: text.as_bytes(),
            text,
            pos: 0,
            depth: 0,
            tape: Tape {
                // About one token per 8 bytes of a usual answer; a long content's text is
                // one token, so the guess is capped (the list grows if it must).
                tokens: Vec::with_capacity((text.len() / 8).min(MAX_TOKENS_RESERVED) + 4),
                strings: String::with_capacity(text.len() / 2),
            },
        };
        reader.value()?;
        reader.skip_space();
        (reader.pos == text.len()).then_some(reader.tape)
    }

    /// The bytes the value at `at` takes on the tape (its tokens and strings).
    pub fn part_bytes(&self, at: usize) -> Option<usize> {
        let end = self.after(at)?;
        let (_, strings) = self.strings_of(at, end)?;
        Some((end - at) * std::mem::size_of::<Token>() + strings as usize)
    }

    /// Where the strings of the tokens `at..end` lie in `strings`: one run, as they are
    /// written in document order (`(0, 0)` for none).
    fn strings_of(&self, at: usize, end: usize) -> Option<(u32, u32)> {
        let mut spans = self
            .tokens
            .get(at..end)?
            .iter()
            .filter_map(|token| match token {
                Token::Str(span) | Token::Key(span) => Some(*span),
                _ => None,
            });
        Some(match spans.next() {
            Some(first) => {
                let last = spans.next_back().unwrap_or(first);
                (first.start, last.start + last.len - first.start)
            }
            None => (0, 0),
        })
    }

    /// The value at `at` as a tape of its own (a copy of its tokens and strings).
    pub fn part(&self, at: usize) -> Option<Tape> {
        if matches!(self.tokens.get(at)?, Token::Key(_) | Token::KnownKey(_)) {
            return None;
        }
        let end = self.after(at)?;
        let (cut_start, cut_len) = self.strings_of(at, end)?;
        let first = u32::try_from(at).ok()?;
        let tokens = self
            .tokens
            .get(at..end)?
            .iter()
            .map(|token| token.moved(first, cut_start));
        let (start, len) = (cut_start as usize, cut_len as usize);
        Some(Tape {
            tokens: tokens.collect(),
            strings: self.strings.get(start..start + len)?.to_owned(),
        })
    }

    /// A copy of the tape with the value at `at` left out (read as null): its tokens and
    /// its strings are not copied. What a caller keeps after building that part elsewhere.
    pub fn without(&self, at: usize) -> Option<Tape> {
        if matches!(self.tokens.get(at)?, Token::Key(_) | Token::KnownKey(_)) {
            return None;
        }
        let end = self.after(at)?;
        let removed = u32::try_from(end - at - 1).ok()?;
        let (cut_start, cut_len) = self.strings_of(at, end)?;
        let mut tokens = Vec::with_capacity(self.tokens.len() - removed as usize);
        tokens.extend_from_slice(self.tokens.get(..at)?);
        for token in &mut tokens {
            // A container around the part ends `removed` tokens earlier.
            match token {
                Token::Array { end, .. } | Token::Object { end, .. } if *end as usize > at => {
                    *end -= removed;
                }
                _ => {}
            }
        }
        tokens.push(Token::Null);
        tokens.extend(
            self.tokens
                .get(end..)?
                .iter()
                .map(|token| token.moved(removed, cut_len)),
        );
        let (start, len) = (cut_start as usize, cut_len as usize);
        let mut strings = String::with_capacity(self.strings.len() - len);
        strings.push_str(self.strings.get(..start)?);
        strings.push_str(self.strings.get(start + len..)?);
        Some(Tape { tokens, strings })
    }

    /// Bytes the tape's tokens and strings take.
    pub fn held_bytes(&self) -> usize {
        self.tokens.len() * std::mem::size_of::<Token>() + self.strings.len()
    }

    pub fn tokens(&self) -> &[Token] {
        &self.tokens
    }

    /// A string's (or unknown key's) text.
    pub fn text(&self, span: Span) -> &str {
        Span::of(&self.strings, span).unwrap_or_default()
    }

    /// The object key at `at`.
    #[cfg(test)]
    pub fn key(&self, at: usize) -> Option<&str> {
        match *self.tokens.get(at)? {
            Token::KnownKey(index) => KNOWN_KEYS.get(usize::from(index)).copied(),
            Token::Key(span) => Some(self.text(span)),
            _ => None,
        }
    }

    /// The object key at `at` as its index in [`KNOWN_KEYS`] (an escaped spelling of a
    /// known key too), `Some(None)` for any other key, `None` when `at` is not a key.
    pub fn key_index(&self, at: usize) -> Option<Option<u8>> {
        match *self.tokens.get(at)? {
            Token::KnownKey(index) => Some(Some(index)),
            Token::Key(span) => Some(known_key(self.text(span).as_bytes())),
            _ => None,
        }
    }

    /// The value of the object at `at` named `key` (the last one, as `json.loads` keeps
    /// it), as its token's index; `None` when `at` is no object or has no such member.
    pub fn member(&self, at: usize, key: &str) -> Option<usize> {
        let Token::Object { items, .. } = *self.tokens.get(at)? else {
            return None;
        };
        // A known key is matched by its index (a byte), any other by its text (an escaped
        // spelling of a known key is a `Key` too).
        let known = known_key(key.as_bytes());
        let mut found = None;
        let mut key_at = at + 1;
        for _ in 0..items {
            let named = match *self.tokens.get(key_at)? {
                Token::KnownKey(index) => known == Some(index),
                Token::Key(span) => self.text(span) == key,
                _ => return None,
            };
            if named {
                found = Some(key_at + 1);
            }
            key_at = self.after(key_at + 1)?;
        }
        found
    }

    /// Whether the value at `at` is an object.
    pub fn is_object(&self, at: usize) -> bool {
        matches!(self.tokens.get(at), Some(Token::Object { .. }))
    }

    /// The index of the token after the value at `at`.
    pub fn after(&self, at: usize) -> Option<usize> {
        Some(match *self.tokens.get(at)? {
            Token::Array { end, .. } | Token::Object { end, .. } => end as usize,
            _ => at + 1,
        })
    }
}

/// The character a one-letter JSON escape (`\n`, `\"`, ...) stands for.
pub fn simple_escape(kind: u8) -> Option<char> {
    Some(match kind {
        b'"' => '"',
        b'\\' => '\\',
        b'/' => '/',
        b'b' => '\u{8}',
        b'f' => '\u{c}',
        b'n' => '\n',
        b'r' => '\r',
        b't' => '\t',
        _ => return None,
    })
}

/// A `\u` escape's four hex digits as the UTF-16 code unit they spell.
pub fn hex4(digits: &[u8]) -> Option<u32> {
    let mut unit = 0;
    for &digit in digits.get(..4)? {
        unit = unit * 16 + char::from(digit).to_digit(16)?;
    }
    Some(unit)
}

/// A number's text in the source it was read from.
pub fn number_text(source: &str, at: Span) -> Option<&str> {
    Span::of(source, at)
}

/// How many bytes of a string [`Reader::plain_run`] reads a word at a time.
const SHORT_RUN: usize = 32;

/// The high bit of each byte of `word` (little-endian) that is a quote, a backslash or a
/// control character, exact up to and including the first such byte (a byte after it may
/// be marked falsely: only the lowest mark is read).
const fn special_bytes(word: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // A byte's high bit is set by `x - k & !x` when x < k, and by no byte below it.
    const fn below(word: u64, bound: u64) -> u64 {
        word.wrapping_sub(ONES * bound) & !word
    }
    let quote = word ^ (ONES * b'"' as u64);
    let backslash = word ^ (ONES * b'\\' as u64);
    (below(quote, 1) | below(backslash, 1) | below(word, 0x20)) & HIGH
}

struct Reader<'a> {
    bytes: &'a [u8],
    text: &'a str,
    pos: usize,
    depth: u32,
    tape: Tape,
}

impl Reader<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn skip_space(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.peek() {
            self.pos += 1;
        }
    }

    fn push(&mut self, token: Token) -> Option<()> {
        if self.tape.tokens.len() == MAX_TOKENS {
            return None;
        }
        self.tape.tokens.push(token);
        Some(())
    }

    fn value(&mut self) -> Option<()> {
        self.skip_space();
        match self.peek()? {
            b'{' => self.container(true),
            b'[' => self.container(false),
            b'"' => {
                let span = self.string()?;
                self.push(Token::Str(span))
            }
            b't' => self.literal(b"true", Token::Bool(true)),
            b'f' => self.literal(b"false", Token::Bool(false)),
            b'n' => self.literal(b"null", Token::Null),
            b'-' | b'0'..=b'9' => self.number(),
            _ => None,
        }
    }

    fn literal(&mut self, word: &[u8], token: Token) -> Option<()> {
        if self.bytes.get(self.pos..self.pos + word.len())? != word {
            return None;
        }
        self.pos += word.len();
        self.push(token)
    }

    /// An object (`{`) or an array (`[`) at `pos`, with its items.
    fn container(&mut self, object: bool) -> Option<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return None;
        }
        self.pos += 1;
        let at = self.tape.tokens.len();
        self.push(Token::Null)?; // made the container below, once its items are known
        let close = if object { b'}' } else { b']' };
        let mut items = 0u32;
        self.skip_space();
        if self.peek()? == close {
            self.pos += 1;
        } else {
            loop {
                if object {
                    self.skip_space();
                    if self.peek()? != b'"' {
                        return None;
                    }
                    let key = self.key()?;
                    self.push(key)?;
                    self.skip_space();
                    if self.peek()? != b':' {
                        return None;
                    }
                    self.pos += 1;
                }
                self.value()?;
                items += 1;
                self.skip_space();
                match self.peek()? {
                    b',' => self.pos += 1,
                    byte if byte == close => {
                        self.pos += 1;
                        break;
                    }
                    _ => return None,
                }
            }
        }
        let end = u32::try_from(self.tape.tokens.len()).ok()?;
        self.tape.tokens[at] = if object {
            Token::Object { items, end }
        } else {
            Token::Array { items, end }
        };
        self.depth -= 1;
        Some(())
    }

    /// The length of the plain run at `pos` (up to a quote or a backslash), or `None` at
    /// the text's end or when the run holds a control character.
    fn plain_run(&self) -> Option<usize> {
        let rest = self.bytes.get(self.pos..)?;
        // A run's first bytes (all of a key's, most values') eight at a time, with no call;
        // a longer run's rest by memchr, whose setup costs more than a short run.
        let mut at = 0;
        if let Some(head) = rest.get(..SHORT_RUN) {
            for (word_at, word) in head.chunks_exact(8).enumerate() {
                let special = special_bytes(u64::from_le_bytes(word.try_into().ok()?));
                if special != 0 {
                    let len = word_at * 8 + (special.trailing_zeros() / 8) as usize;
                    return (*head.get(len)? >= 0x20).then_some(len);
                }
            }
            at = SHORT_RUN;
        }
        let rest = &rest[at..];
        let len = memchr::memchr2(b'"', b'\\', rest)?;
        // No early exit: the check runs over whole words.
        let control = rest[..len]
            .iter()
            .fold(false, |seen, &byte| seen | (byte < 0x20));
        (!control).then_some(at + len)
    }

    /// An object key at `pos` (its opening quote): a known key's index, with nothing copied,
    /// or the key unescaped onto the tape's strings.
    fn key(&mut self) -> Option<Token> {
        let quote = self.pos;
        self.pos += 1;
        let len = self.plain_run()?;
        if self.bytes.get(self.pos + len) == Some(&b'"') {
            if let Some(index) = known_key(self.bytes.get(self.pos..self.pos + len)?) {
                self.pos += len + 1;
                return Some(Token::KnownKey(index));
            }
        }
        self.pos = quote;
        self.string().map(Token::Key)
    }

    /// A string at `pos` (its opening quote), unescaped onto the tape's strings.
    fn string(&mut self) -> Option<Span> {
        self.pos += 1;
        let start = self.tape.strings.len();
        loop {
            let len = self.plain_run()?;
            // Both ends are ASCII bytes, so character boundaries.
            self.tape
                .strings
                .push_str(self.text.get(self.pos..self.pos + len)?);
            self.pos += len;
            if self.peek()? == b'"' {
                self.pos += 1;
                break;
            }
            self.escape()?;
        }
        Some(Span {
            start: u32::try_from(start).ok()?,
            len: u32::try_from(self.tape.strings.len() - start).ok()?,
        })
    }

    fn escape(&mut self) -> Option<()> {
        let kind = *self.bytes.get(self.pos + 1)?;
        self.pos += 2;
        let decoded = match kind {
            b'u' => match self.hex4()? {
                high @ 0xD800..=0xDBFF => {
                    if self.bytes.get(self.pos..self.pos + 2)? != b"\\u" {
                        return None; // a lone surrogate
                    }
                    self.pos += 2;
                    let low = self.hex4()?;
                    if !(0xDC00..=0xDFFF).contains(&low) {
                        return None;
                    }
                    char::from_u32(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00))?
                }
                unit => char::from_u32(unit)?, // a lone low surrogate is no char: None
            },
            kind => simple_escape(kind)?,
        };
        self.tape.strings.push(decoded);
        Some(())
    }

    fn hex4(&mut self) -> Option<u32> {
        let unit = hex4(self.bytes.get(self.pos..self.pos + 4)?)?;
        self.pos += 4;
        Some(unit)
    }

    fn digits(&mut self) -> usize {
        let start = self.pos;
        while let Some(b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
        self.pos - start
    }

    fn number(&mut self) -> Option<()> {
        let start = self.pos;
        let negative = self.peek()? == b'-';
        if negative {
            self.pos += 1;
        }
        // The integer part's value, read as it is scanned (`None` past 64 bits).
        let mut magnitude = Some(0u64);
        match self.peek()? {
            b'0' => self.pos += 1,
            b'1'..=b'9' => {
                while let Some(digit @ b'0'..=b'9') = self.peek() {
                    magnitude = magnitude
                        .and_then(|value| value.checked_mul(10))
                        .and_then(|value| value.checked_add(u64::from(digit - b'0')));
                    self.pos += 1;
                }
            }
            _ => return None,
        }
        let mut float = false;
        if self.peek() == Some(b'.') {
            self.pos += 1;
            float = true;
            if self.digits() == 0 {
                return None;
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.pos += 1;
            float = true;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            if !(1..=3).contains(&self.digits()) {
                return None;
            }
        }
        let text = self.text.get(start..self.pos)?;
        let at = Span {
            start: u32::try_from(start).ok()?,
            len: u32::try_from(text.len()).ok()?,
        };
        let token = if float {
            // Correctly rounded, as serde_json (`float_roundtrip`) and Python read it.
            let value: f64 = text.parse().ok()?;
            if !value.is_finite() {
                return None;
            }
            Token::Float { value, at }
        } else if negative {
            // `-0` is -0.0 to serde_json and 0 to Python: the general path decides.
            let magnitude = magnitude.filter(|&value| value != 0)?;
            let value = 0i64.checked_sub_unsigned(magnitude)?;
            Token::Int { value, at }
        } else {
            Token::UInt {
                value: magnitude?,
                at,
            }
        };
        self.push(token)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::{Map, Number, Value};

    /// The tape's value at `at` as serde_json's tree, and the index after it.
    fn tree(tape: &Tape, at: usize) -> (Value, usize) {
        tree_but(tape, at, usize::MAX)
    }

    /// [`tree`], the value at `null_at` read as null.
    fn tree_but(tape: &Tape, at: usize, null_at: usize) -> (Value, usize) {
        if at == null_at {
            return (Value::Null, tape.after(at).unwrap());
        }
        let value = match tape.tokens()[at] {
            Token::Null => Value::Null,
            Token::Bool(flag) => Value::Bool(flag),
            Token::UInt { value, .. } => Value::from(value),
            Token::Int { value, .. } => Value::from(value),
            Token::Float { value, .. } => Value::Number(Number::from_f64(value).unwrap()),
            Token::Str(span) => Value::String(tape.text(span).to_owned()),
            Token::Array { items, .. } => {
                let mut next = at + 1;
                let mut list = Vec::new();
                for _ in 0..items {
                    let (item, after) = tree_but(tape, next, null_at);
                    list.push(item);
                    next = after;
                }
                return (Value::Array(list), next);
            }
            Token::Object { items, .. } => {
                let mut next = at + 1;
                let mut map = Map::new();
                for _ in 0..items {
                    let key = tape.key(next).unwrap().to_owned();
                    let (item, after) = tree_but(tape, next + 1, null_at);
                    map.insert(key, item);
                    next = after;
                }
                return (Value::Object(map), next);
            }
            Token::Key(_) | Token::KnownKey(_) => panic!("a key where a value belongs"),
        };
        (value, at + 1)
    }

    /// The tape reads `text` as serde_json does, or leaves it to the general path.
    fn same_as_serde(text: &str) -> Option<Value> {
        let tape = Tape::parse(text)?;
        let (value, end) = tree(&tape, 0);
        assert_eq!(end, tape.tokens().len(), "{text}");
        assert_eq!(tape.after(0), Some(end), "{text}");
        let expected: Value = serde_json::from_str(text).expect(text);
        assert_eq!(value, expected, "{text}");
        Some(value)
    }

    #[test]
    fn a_body_of_more_tokens_than_a_tape_holds_takes_the_general_path() {
        let values = |n: usize| format!("[{}]", vec!["0"; n].join(","));
        let tape = Tape::parse(&values(MAX_TOKENS - 1)).unwrap();
        assert_eq!(tape.tokens().len(), MAX_TOKENS);
        assert!(Tape::parse(&values(MAX_TOKENS)).is_none());
    }

    #[test]
    fn every_known_key_has_its_slot() {
        for (index, key) in KNOWN_KEYS.iter().enumerate() {
            assert_eq!(known_key(key.as_bytes()), Some(index as u8), "{key}");
        }
        assert_eq!(known_key(b"idx"), None);
        assert_eq!(known_key(b""), None);
    }

    #[test]
    fn reads_what_serde_reads() {
        for text in [
            r#"{"id":"gen-1","choices":[{"message":{"role":"assistant","content":"hi"}}]}"#,
            " \n {\"a\" : [1, -2, 3.5, 1e5, 1E-5, 2.5e+3, true, false, null, {}, []] } \t",
            r#"{"k":"\" \\ \/ \b \f \n \r \t \u0000 \u00e9 \ud83d\ude00 é"}"#,
            r#"{"dup":1,"dup":2,"x":{"dup":[1]},"x":0}"#,
            r#"[0, 18446744073709551615, -9223372036854775808, 0.1, 1.7976931348623157e308]"#,
            r#""just a string""#,
            "123",
            r#"{"\u0069d":"escaped known key","id\n":1,"unknown":{"":""}}"#,
            r#"{"usage":{"cost":0.0000123,"prompt_tokens":3}}"#,
        ] {
            assert!(same_as_serde(text).is_some(), "{text}");
        }
    }

    #[test]
    fn leaves_the_rest_to_the_general_path() {
        let deep = format!("{}{}", "[".repeat(101), "]".repeat(101));
        let ok_deep = format!("{}{}", "[".repeat(100), "]".repeat(100));
        assert!(same_as_serde(&ok_deep).is_some());
        for text in [
            "",
            " ",
            "{",
            "{}x",
            "{,}",
            r#"{"a":1,}"#,
            "[1,]",
            "01",
            "-0",
            "-",
            "1.",
            ".5",
            "+1",
            "1e400",
            "1e0400",
            "18446744073709551616",
            "-9223372036854775809",
            r#""\ud800""#,
            r#""\ud800\u0041""#,
            r#""\udc00""#,
            r#""\x""#,
            "\"a\u{1}b\"",
            "{\"i\u{1}d\":1}",
            "{\"id",
            r#""\u12""#,
            "nul",
            "tru",
            "NaN",
            "{'a':1}",
            &deep,
        ] {
            assert!(Tape::parse(text).is_none(), "{text:?}");
        }
    }

    #[test]
    fn finds_a_strings_end_at_every_offset() {
        // Around and past the word-at-a-time part: each special byte at each offset.
        for before in 0..80 {
            let lead = "a\u{7f}é"
                .repeat(before)
                .chars()
                .take(before)
                .collect::<String>();
            for after in ["", "\\n", "\\\"", "\\u00e9", "é", "\u{7f}", "~"] {
                let text = format!("{{\"{lead}{after}k\":\"{lead}{after}v\"}}");
                assert!(same_as_serde(&text).is_some(), "{text:?}");
            }
            for control in ['\u{0}', '\u{1}', '\n', '\u{1f}'] {
                let text = format!("\"{lead}{control}\"");
                assert!(Tape::parse(&text).is_none(), "{text:?}");
                let text = format!("{{\"{lead}{control}\":1}}");
                assert!(Tape::parse(&text).is_none(), "{text:?}");
            }
        }
    }

    #[test]
    fn keeps_a_number_as_it_was_written() {
        let source = r#"{"cost":1.50E-7,"n":12}"#;
        let tape = Tape::parse(source).unwrap();
        let Token::Float { at, .. } = tape.tokens()[2] else {
            panic!("{:?}", tape.tokens());
        };
        assert_eq!(number_text(source, at), Some("1.50E-7"));
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<u64>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>()
                .prop_filter_map("finite", Number::from_f64)
                .prop_map(Value::Number),
            any::<String>().prop_map(Value::String),
            "[a-z_]{0,12}".prop_map(Value::String),
        ];
        leaf.prop_recursive(6, 64, 8, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
                prop::collection::vec(
                    (
                        prop_oneof![
                            prop::sample::select(KNOWN_KEYS.to_vec()).prop_map(str::to_owned),
                            any::<String>()
                        ],
                        inner
                    ),
                    0..8
                )
                .prop_map(|pairs| Value::Object(pairs.into_iter().collect())),
            ]
        })
    }

    #[test]
    fn a_member_is_found_by_its_name_as_json_loads_keeps_it() {
        let text = r#"{"id":"a","\u0069d":"b","x y":1,"usage":{"id":2},"x y":[3]}"#;
        let tape = Tape::parse(text).unwrap();
        let value = |at: Option<usize>| at.map(|at| tree(&tape, at).0);
        // The last of two members named alike (one of them escaped), as json.loads keeps.
        assert_eq!(value(tape.member(0, "id")), Some(Value::from("b")));
        assert_eq!(value(tape.member(0, "x y")), Some(serde_json::json!([3])));
        let usage = tape.member(0, "usage").unwrap();
        assert!(tape.is_object(usage));
        assert_eq!(value(tape.member(usage, "id")), Some(Value::from(2)));
        assert_eq!(tape.member(0, "model"), None);
        assert_eq!(tape.member(tape.member(0, "id").unwrap(), "id"), None);
        assert!(!tape.is_object(1));
    }

    proptest! {
        #[test]
        fn any_objects_members_are_found_as_serde_reads_them(value in json_value()) {
            let Value::Object(map) = &value else { return Ok(()); };
            let text = serde_json::to_string(&value).unwrap();
            let tape = Tape::parse(&text).unwrap();
            for (key, item) in map {
                let at = tape.member(0, key).unwrap();
                prop_assert_eq!(&tree(&tape, at).0, item);
            }
            prop_assert_eq!(tape.member(0, "\u{0}absent"), None);
        }

        #[test]
        fn a_part_alone_and_a_tape_without_it_read_as_in_the_whole(value in json_value()) {
            let text = serde_json::to_string(&value).unwrap();
            let tape = Tape::parse(&text).unwrap();
            for at in 0..tape.tokens().len() {
                if matches!(tape.tokens()[at], Token::Key(_) | Token::KnownKey(_)) {
                    prop_assert!(tape.without(at).is_none() && tape.part(at).is_none());
                    continue;
                }
                let part = tape.part(at).unwrap();
                let (alone, end) = tree(&part, 0);
                prop_assert_eq!(alone, tree(&tape, at).0);
                prop_assert_eq!(end, part.tokens().len());
                let without = tape.without(at).unwrap();
                let (expected, _) = tree_but(&tape, 0, at);
                let (read, end) = tree(&without, 0);
                prop_assert_eq!(read, expected);
                prop_assert_eq!(end, without.tokens().len());
                // Every string of the part, and nothing else, is left out.
                let part: u32 = tape.tokens()[at..tape.after(at).unwrap()]
                    .iter()
                    .map(|token| match token {
                        Token::Str(span) | Token::Key(span) => span.len,
                        _ => 0,
                    })
                    .sum();
                prop_assert_eq!(tape.strings.len() - without.strings.len(), part as usize);
                let tokens = tape.after(at).unwrap() - at;
                prop_assert_eq!(
                    tape.part_bytes(at),
                    Some(tokens * std::mem::size_of::<Token>() + part as usize)
                );
                if let Value::Object(map) = tree(&without, 0).0 {
                    for key in map.keys() {
                        prop_assert!(without.member(0, key).is_some());
                    }
                }
            }
        }

        #[test]
        fn any_json_serde_writes_reads_the_same(value in json_value()) {
            let compact = serde_json::to_string(&value).unwrap();
            let pretty = serde_json::to_string_pretty(&value).unwrap();
            // serde writes -0 for 0i64 never, and -0.0 as "-0.0": all on the tape.
            prop_assert!(same_as_serde(&compact).is_some(), "{}", compact);
            prop_assert!(same_as_serde(&pretty).is_some(), "{}", pretty);
        }

        #[test]
        fn any_text_is_read_as_serde_reads_it_or_left(text in "[\\[\\]{}\",:0-9.eE+\\-a-z\\\\ ]{0,24}") {
            if Tape::parse(&text).is_some() {
                prop_assert!(same_as_serde(&text).is_some());
            }
        }
    }
}
