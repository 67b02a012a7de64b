//! Sans-IO parser for Server-Sent Events (`text/event-stream`).
//!
//! [`SseParser`] implements the WHATWG HTML "interpreting an event stream"
//! rules: UTF-8 decoding with U+FFFD replacement, one leading BOM stripped,
//! lines ended by CRLF, LF or CR, `:` comments, the `event`/`data`/`id`/`retry`
//! fields, and dispatch on a blank line.
//!
//! It is *sans-IO*: it never reads a socket, spawns a task or sleeps. The
//! caller pushes whatever bytes it received ([`SseParser::feed`]) and gets back
//! every item that became complete, so the same code serves async and blocking
//! transports, the Python bindings and the tests, and byte streams can be cut
//! anywhere (mid-line, mid-CRLF, mid-BOM, mid-UTF-8 character) without changing
//! the result. Memory is bounded: a line, and the data of one event, may not
//! exceed a configurable limit ([`DEFAULT_MAX_LINE_LEN`] by default).

use std::borrow::Cow;
use std::fmt;

/// Default limit, in bytes, for one line and for the data of one event: 8 MiB.
pub const DEFAULT_MAX_LINE_LEN: usize = 8 * 1024 * 1024;

/// The UTF-8 byte order mark, stripped once at the very start of a stream.
const BOM: [u8; 3] = [0xEF, 0xBB, 0xBF];

/// Capacity the partial-line buffer keeps after an unusually long line;
/// anything above is released so one huge line does not pin memory.
const RETAINED_LINE_CAPACITY: usize = 64 * 1024;

/// One dispatched event (a block of fields ended by a blank line, with at
/// least one `data` field).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event` field; `None` when absent or empty, which means the
    /// default type `"message"` (see [`SseEvent::event_type`]).
    pub event: Option<String>,
    /// The `data` field values joined with `"\n"` (no trailing newline).
    pub data: String,
    /// The last event ID as of this event (it persists across events until
    /// an `id` field changes it); `None` when it is the empty string.
    pub id: Option<String>,
}

impl SseEvent {
    /// The event type, with the spec's default `"message"` applied.
    pub fn event_type(&self) -> &str {
        self.event.as_deref().unwrap_or("message")
    }
}

/// Something the parser produced, in stream order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SseItem {
    /// A dispatched event.
    Event(SseEvent),
    /// A comment line (`:` prefix). The text after the colon is kept verbatim
    /// (a leading space is *not* stripped), e.g. `" OPENROUTER PROCESSING"`.
    /// Servers send these as keep-alives, so they are useful liveness signals.
    Comment(String),
    /// A valid `retry` field (only ASCII digits, at least one; values beyond
    /// `u64::MAX` saturate): the new reconnection time in milliseconds. Per
    /// spec it takes effect when the line is read, independently of event
    /// dispatch, so it is reported as its own item at that point.
    Retry(u64),
}

/// Why parsing stopped. Errors are sticky: once returned, [`SseParser::feed`]
/// and [`SseParser::finish`] keep returning it until [`SseParser::reset`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SseError {
    /// A line (without its terminator) is longer than `limit` bytes.
    LineTooLong {
        /// The configured limit, in bytes.
        limit: usize,
    },
    /// The data of one event (decoded, joined) is longer than `limit` bytes.
    EventTooLarge {
        /// The configured limit, in bytes.
        limit: usize,
    },
}

impl fmt::Display for SseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::LineTooLong { limit } => {
                write!(f, "SSE line longer than the {limit}-byte limit")
            }
            Self::EventTooLarge { limit } => {
                write!(f, "SSE event data larger than the {limit}-byte limit")
            }
        }
    }
}

impl std::error::Error for SseError {}

/// Incremental, sans-IO `text/event-stream` parser. One parser handles one
/// stream (one HTTP response); see [`SseParser::reset`] for reuse.
#[derive(Debug, Clone)]
pub struct SseParser {
    max: usize,
    /// Bytes of a line whose terminator has not arrived yet.
    line: Vec<u8>,
    /// The previous line ended with CR: an LF right after it belongs to it.
    skip_lf: bool,
    /// Leading bytes matched against the BOM so far (while `!bom_done`).
    bom_matched: u8,
    bom_done: bool,
    fields: Fields,
    failed: Option<SseError>,
    /// `finish` was called; the next `feed` starts a new stream.
    finished: bool,
    /// `finish` discarded a partial event.
    truncated: bool,
}

/// The spec's per-stream buffers.
#[derive(Debug, Clone, Default)]
struct Fields {
    /// Data buffer, without the spec's trailing LF (added lazily as a
    /// separator before the next data line, so nothing has to be stripped).
    data: String,
    /// At least one data line since the last dispatch (the spec's "data
    /// buffer is not empty").
    has_data: bool,
    event_type: String,
    id_buf: String,
    /// The last event ID as of the last dispatch (the EventSource's value).
    last_id: String,
    /// A `data`, `event` or `id` line was seen since the last dispatch.
    in_event: bool,
}

impl Default for SseParser {
    fn default() -> Self {
        Self::new()
    }
}

impl SseParser {
    /// A parser with the [`DEFAULT_MAX_LINE_LEN`] limit.
    pub fn new() -> Self {
        Self::with_max_line_len(DEFAULT_MAX_LINE_LEN)
    }

    /// A parser whose lines, and whose events' data, may be at most `max`
    /// bytes long.
    pub fn with_max_line_len(max: usize) -> Self {
        Self {
            max,
            line: Vec::new(),
            skip_lf: false,
            bom_matched: 0,
            bom_done: false,
            fields: Fields::default(),
            failed: None,
            finished: false,
            truncated: false,
        }
    }

    /// Parses `bytes` (any slice of the stream, cut anywhere) and appends to
    /// `out` every item completed by them, in order. `out` is not cleared, so
    /// callers can batch several chunks. On error, items before the offending
    /// line have been appended, and the parser stays failed.
    ///
    /// Calling `feed` after [`SseParser::finish`] starts a new stream, as
    /// [`SseParser::reset`] does.
    pub fn feed(&mut self, bytes: &[u8], out: &mut Vec<SseItem>) -> Result<(), SseError> {
        if let Some(err) = self.failed {
            return Err(err);
        }
        if self.finished {
            self.reset();
        }
        let result = self.feed_inner(bytes, out);
        if let Err(err) = result {
            // The stream is unusable: remember why and release the buffers.
            self.failed = Some(err);
            self.line = Vec::new();
            self.fields.data = String::new();
        }
        result
    }

    /// Ends the stream. Per spec, pending data for an event not terminated by
    /// a blank line is discarded, and so is a final line without a line end
    /// (even a complete-looking `data:` or `retry:` line): nothing is ever
    /// appended to `out`. Use [`SseParser::has_partial_event`] (before or after
    /// this call) to tell whether the stream was cut mid-event. Returns the
    /// sticky error if the parser had failed.
    pub fn finish(&mut self, _out: &mut Vec<SseItem>) -> Result<(), SseError> {
        if let Some(err) = self.failed {
            return Err(err);
        }
        if !self.finished {
            self.truncated = self.has_partial_event();
            self.finished = true;
            self.clear_line();
            self.fields.discard_pending();
        }
        Ok(())
    }

    /// Whether the stream so far ends in the middle of an event: an
    /// unterminated line is buffered, or a `data`, `event` or `id` field was
    /// read since the last blank line. After [`SseParser::finish`], whether
    /// such a partial event was discarded. Comments and `retry` lines alone
    /// do not count.
    pub fn has_partial_event(&self) -> bool {
        self.truncated
            || !self.line.is_empty()
            || self.fields.in_event
            || (!self.bom_done && self.bom_matched > 0)
    }

    /// The last event ID as of the last dispatch (what to send as
    /// `Last-Event-ID` when reconnecting), or `None` if it is empty. Unlike
    /// [`SseEvent::id`], this also reflects blocks that carried no data.
    pub fn last_event_id(&self) -> Option<&str> {
        Some(self.fields.last_id.as_str()).filter(|id| !id.is_empty())
    }

    /// Prepares for a new stream (e.g. after reconnecting): clears buffers,
    /// the error and the BOM state. Like an EventSource, [`last_event_id`]
    /// is kept; the new stream's own ID buffer starts empty, per spec.
    ///
    /// [`last_event_id`]: SseParser::last_event_id
    pub fn reset(&mut self) {
        let last_id = std::mem::take(&mut self.fields.last_id);
        *self = Self::with_max_line_len(self.max);
        self.fields.last_id = last_id;
    }

    fn feed_inner(&mut self, mut input: &[u8], out: &mut Vec<SseItem>) -> Result<(), SseError> {
        if !self.bom_done {
            input = self.strip_bom(input)?;
        }
        while !input.is_empty() {
            if self.skip_lf {
                self.skip_lf = false;
                if let Some((b'\n', rest)) = input.split_first() {
                    input = rest;
                    continue;
                }
            }
            let Some(end) = find_eol(input) else {
                // No line end in the rest of this input: keep it for later.
                self.check_line_len(self.line.len() + input.len())?;
                self.line.extend_from_slice(input);
                break;
            };
            let line = &input[..end];
            self.skip_lf = input[end] == b'\r';
            input = &input[end + 1..];
            if self.line.is_empty() {
                // Fast path: the whole line is inside `input`, no copy.
                self.check_line_len(line.len())?;
                self.fields.process_line(line, self.max, out)?;
            } else {
                self.check_line_len(self.line.len() + line.len())?;
                self.line.extend_from_slice(line);
                let result = self.fields.process_line(&self.line, self.max, out);
                self.clear_line();
                result?;
            }
        }
        Ok(())
    }

    /// Consumes the part of `input` that belongs to a leading BOM. On a
    /// mismatch, the bytes matched so far are ordinary line bytes.
    fn strip_bom<'a>(&mut self, mut input: &'a [u8]) -> Result<&'a [u8], SseError> {
        while let Some((&byte, rest)) = input.split_first() {
            let matched = usize::from(self.bom_matched);
            if BOM.get(matched) == Some(&byte) {
                input = rest;
                self.bom_matched += 1;
                if usize::from(self.bom_matched) == BOM.len() {
                    self.bom_done = true;
                    break;
                }
            } else {
                self.bom_done = true;
                self.check_line_len(matched)?;
                self.line.extend_from_slice(&BOM[..matched]);
                break;
            }
        }
        Ok(input)
    }

    fn check_line_len(&self, len: usize) -> Result<(), SseError> {
        if len > self.max {
            Err(SseError::LineTooLong { limit: self.max })
        } else {
            Ok(())
        }
    }

    fn clear_line(&mut self) {
        if self.line.capacity() > RETAINED_LINE_CAPACITY {
            self.line = Vec::new();
        } else {
            self.line.clear();
        }
    }
}

impl Fields {
    fn process_line(
        &mut self,
        line: &[u8],
        max: usize,
        out: &mut Vec<SseItem>,
    ) -> Result<(), SseError> {
        if line.is_empty() {
            self.dispatch(out);
            return Ok(());
        }
        let (name, value) = match line.iter().position(|&b| b == b':') {
            Some(0) => {
                out.push(SseItem::Comment(decode(&line[1..]).into_owned()));
                return Ok(());
            }
            Some(colon) => {
                let value = &line[colon + 1..];
                (&line[..colon], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &[][..]),
        };
        match name {
            b"data" => self.push_data(value, max)?,
            b"event" => {
                self.in_event = true;
                self.event_type.clear();
                self.event_type.push_str(&decode(value));
            }
            b"id" => {
                self.in_event = true;
                if !value.contains(&0) {
                    self.id_buf.clear();
                    self.id_buf.push_str(&decode(value));
                }
            }
            b"retry" => {
                if let Some(ms) = parse_retry(value) {
                    out.push(SseItem::Retry(ms));
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn push_data(&mut self, value: &[u8], max: usize) -> Result<(), SseError> {
        self.in_event = true;
        let text = decode(value);
        let separator = usize::from(self.has_data);
        if self.data.len() + separator + text.len() > max {
            return Err(SseError::EventTooLarge { limit: max });
        }
        if self.has_data {
            self.data.push('\n');
        }
        self.data.push_str(&text);
        self.has_data = true;
        Ok(())
    }

    fn dispatch(&mut self, out: &mut Vec<SseItem>) {
        self.in_event = false;
        // Most streams carry no ids: two empty strings compare without a `memcmp` call
        // (one per event, ~4% of a stream's runtime-thread time).
        let no_ids = self.last_id.is_empty() && self.id_buf.is_empty();
        if !no_ids && self.last_id != self.id_buf {
            self.last_id.clone_from(&self.id_buf);
        }
        if !self.has_data {
            self.event_type.clear();
            return;
        }
        self.has_data = false;
        let data = std::mem::take(&mut self.data);
        let event = Some(std::mem::take(&mut self.event_type)).filter(|t| !t.is_empty());
        let id = Some(&self.last_id).filter(|id| !id.is_empty()).cloned();
        out.push(SseItem::Event(SseEvent { event, data, id }));
    }

    /// Drops what an undispatched event accumulated (end of stream).
    fn discard_pending(&mut self) {
        self.data = String::new();
        self.has_data = false;
        self.event_type.clear();
        self.in_event = false;
    }
}

/// UTF-8 with U+FFFD replacement. Decoding line by line equals decoding the
/// whole stream first: CR, LF and `:` are ASCII, which never occur inside a
/// multi-byte sequence and always end a malformed one. Valid input (nearly
/// always) takes simdutf8's check (SIMD where the CPU has it); the lossy decoder
/// walks byte by byte and is only needed for invalid bytes.
fn decode(bytes: &[u8]) -> Cow<'_, str> {
    match simdutf8::basic::from_utf8(bytes) {
        Ok(text) => Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(bytes),
    }
}

/// A `retry` value: one or more ASCII digits, saturating at `u64::MAX`.
fn parse_retry(value: &[u8]) -> Option<u64> {
    if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(value.iter().fold(0u64, |acc, &digit| {
        acc.saturating_mul(10)
            .saturating_add(u64::from(digit - b'0'))
    }))
}

/// Position of the first CR or LF (memchr's vector search: an event's line is a few
/// hundred bytes, four times what eight-byte words scanned at the same cost).
fn find_eol(haystack: &[u8]) -> Option<usize> {
    memchr::memchr2(b'\n', b'\r', haystack)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ev(event: Option<&str>, data: &str, id: Option<&str>) -> SseItem {
        SseItem::Event(SseEvent {
            event: event.map(str::to_owned),
            data: data.to_owned(),
            id: id.map(str::to_owned),
        })
    }

    fn msg(data: &str) -> SseItem {
        ev(None, data, None)
    }

    fn comment(text: &str) -> SseItem {
        SseItem::Comment(text.to_owned())
    }

    /// Feeds `chunks` then finishes; returns items and the first error.
    fn run_with(
        mut parser: SseParser,
        chunks: &[&[u8]],
    ) -> (Vec<SseItem>, Result<(), SseError>, bool) {
        let mut out = Vec::new();
        for chunk in chunks {
            if let Err(err) = parser.feed(chunk, &mut out) {
                return (out, Err(err), parser.has_partial_event());
            }
        }
        let partial = parser.has_partial_event();
        let fin = parser.finish(&mut out);
        assert_eq!(parser.has_partial_event(), partial);
        (out, fin, partial)
    }

    /// A parser fed `stream` whole (not finished), and the items it dispatched.
    fn fed(stream: &[u8]) -> (SseParser, Vec<SseItem>) {
        let mut parser = SseParser::new();
        let mut out = Vec::new();
        parser.feed(stream, &mut out).unwrap();
        (parser, out)
    }

    fn parse(stream: &[u8]) -> Vec<SseItem> {
        let (items, result, _) = run_with(SseParser::new(), &[stream]);
        result.unwrap();
        items
    }

    /// Parses whole, byte by byte, and at every single cut point; all must
    /// agree. Returns the items.
    fn parse_all_ways(stream: &[u8]) -> Vec<SseItem> {
        let whole = parse(stream);
        let bytes: Vec<&[u8]> = stream.chunks(1).collect();
        let (items, result, _) = run_with(SseParser::new(), &bytes);
        result.unwrap();
        assert_eq!(items, whole, "byte-by-byte differs");
        for cut in 0..=stream.len() {
            let (a, b) = stream.split_at(cut);
            let (items, result, _) = run_with(SseParser::new(), &[a, b]);
            result.unwrap();
            assert_eq!(items, whole, "cut at {cut} differs");
        }
        whole
    }

    #[test]
    fn spec_stock_example_multiline_data() {
        let stream = b"data: YHOO\ndata: +2\ndata: 10\n\n";
        assert_eq!(parse_all_ways(stream), vec![msg("YHOO\n+2\n10")]);
    }

    #[test]
    fn spec_four_blocks_comment_and_ids() {
        let stream = b": test stream\n\ndata: first event\nid: 1\n\ndata:second event\nid\n\ndata:  third event\n\n";
        let (parser, out) = fed(stream);
        assert_eq!(
            out,
            vec![
                comment(" test stream"),
                ev(None, "first event", Some("1")),
                msg("second event"),
                msg(" third event"),
            ]
        );
        assert_eq!(parser.last_event_id(), None);
        assert_eq!(parse_all_ways(stream), out);
    }

    #[test]
    fn spec_empty_data_blocks() {
        // The first block fires "", the middle one "\n"; the last block is
        // discarded because no blank line follows it.
        let stream = b"data\n\ndata\ndata\n\ndata:";
        let (mut parser, mut out) = fed(stream);
        assert_eq!(out, vec![msg(""), msg("\n")]);
        assert!(parser.has_partial_event());
        parser.finish(&mut out).unwrap();
        assert_eq!(out.len(), 2);
        assert!(parser.has_partial_event());
        // ...and the last would fire "" if followed by a blank line.
        assert_eq!(
            parse_all_ways(b"data\n\ndata\ndata\n\ndata:\n\ndata: \n\n"),
            vec![msg(""), msg("\n"), msg(""), msg("")]
        );
    }

    #[test]
    fn spec_one_leading_space_is_optional() {
        let items = parse_all_ways(b"data:test\n\ndata: test\n\n");
        assert_eq!(items, vec![msg("test"), msg("test")]);
        assert_eq!(items[0], items[1]);
    }

    #[test]
    fn spec_event_types() {
        let stream = b"event: add\ndata: 73857293\n\nevent: remove\ndata: 2153\n\nevent: add\ndata: 113411\n\n";
        let items = parse_all_ways(stream);
        assert_eq!(
            items,
            vec![
                ev(Some("add"), "73857293", None),
                ev(Some("remove"), "2153", None),
                ev(Some("add"), "113411", None),
            ]
        );
        let SseItem::Event(first) = &items[0] else {
            panic!("not an event")
        };
        assert_eq!(first.event_type(), "add");
        assert_eq!(
            SseEvent {
                event: None,
                data: String::new(),
                id: None
            }
            .event_type(),
            "message"
        );
    }

    #[test]
    fn line_endings_lf_cr_crlf_and_mixed() {
        let expected = vec![
            comment("c"),
            ev(Some("e"), "a\nb", Some("7")),
            SseItem::Retry(5),
            ev(None, "z", Some("7")),
        ];
        let lines = [
            ":c", "event: e", "data: a", "data: b", "id: 7", "", "retry: 5", "data: z", "",
        ];
        for eol in ["\n", "\r", "\r\n"] {
            let stream: String = lines.iter().map(|l| format!("{l}{eol}")).collect();
            assert_eq!(parse_all_ways(stream.as_bytes()), expected, "{eol:?}");
        }
        let mixed = ":c\revent: e\r\ndata: a\ndata: b\rid: 7\r\n\rretry: 5\r\ndata: z\n\r\n";
        assert_eq!(parse_all_ways(mixed.as_bytes()), expected);
    }

    #[test]
    fn cr_at_chunk_end_then_lf_is_one_line_end() {
        // If the LF were a line of its own, "a" would be dispatched alone.
        let (items, result, _) = run_with(
            SseParser::new(),
            &[b"data: a\r", b"\ndata: b\r", b"\n\r", b"\n"],
        );
        result.unwrap();
        assert_eq!(items, vec![msg("a\nb")]);
        // CR at a chunk end followed by something else: not swallowed.
        let (items, result, _) = run_with(SseParser::new(), &[b"data: a\r", b"data: b\r", b"\r"]);
        result.unwrap();
        assert_eq!(items, vec![msg("a\nb")]);
        // An empty chunk between CR and LF does not lose the state.
        let (items, result, _) = run_with(SseParser::new(), &[b"data: a\r", b"", b"\n\n"]);
        result.unwrap();
        assert_eq!(items, vec![msg("a")]);
        // CR CR is two line ends; LF CR too.
        assert_eq!(parse_all_ways(b"data: a\r\r"), vec![msg("a")]);
        assert_eq!(parse_all_ways(b"data: a\n\r"), vec![msg("a")]);
        assert_eq!(parse_all_ways(b"data: a\r\n\r\n\r\n\n"), vec![msg("a")]);
    }

    #[test]
    fn bom_stripped_whole_and_split() {
        let stream = b"\xEF\xBB\xBFdata: x\n\n";
        assert_eq!(parse_all_ways(stream), vec![msg("x")]);
        // Without stripping, the field name would be "\u{feff}data".
        assert_eq!(parse(b"\xEF\xBB\xBF\xEF\xBB\xBFdata: x\n\n"), vec![]);
        // A BOM-only stream, and a BOM before a comment.
        assert_eq!(parse_all_ways(b"\xEF\xBB\xBF"), vec![]);
        assert_eq!(parse_all_ways(b"\xEF\xBB\xBF:k\n"), vec![comment("k")]);
        // Only at the very start: later it is ordinary data.
        assert_eq!(
            parse_all_ways("data: \u{feff}x\n\n".as_bytes()),
            vec![msg("\u{feff}x")]
        );
    }

    #[test]
    fn bom_prefix_mismatch_keeps_bytes() {
        for (chunks, line) in [
            (&[&b"\xEF\xBB"[..], b"Z"][..], &b"\xEF\xBBZ"[..]),
            (&[&b"\xEF"[..], b"\xBB", b"Z"][..], &b"\xEF\xBBZ"[..]),
            (&[&b"\xEF"[..], b"Z"][..], &b"\xEFZ"[..]),
            (&[&b"\xEFZ"[..]][..], &b"\xEFZ"[..]),
        ] {
            let mut parser = SseParser::new();
            let mut out = Vec::new();
            for chunk in chunks {
                parser.feed(chunk, &mut out).unwrap();
            }
            assert_eq!(parser.line, line);
            assert!(parser.has_partial_event());
        }
        // A partial BOM is pending data.
        let mut parser = SseParser::new();
        parser.feed(b"\xEF", &mut Vec::new()).unwrap();
        assert!(parser.has_partial_event());
        // Mismatched prefix makes the field name unknown; invalid bytes
        // become U+FFFD in comments.
        assert_eq!(parse_all_ways(b"\xEF\xBBdata: x\n\n"), vec![]);
        assert_eq!(
            parse_all_ways(b"\xEF\xBB\n:\xEF\xBB\n"),
            vec![comment("\u{FFFD}")]
        );
    }

    #[test]
    fn comments_are_reported_verbatim() {
        let items = parse_all_ways(b":\n: a: b\n:  two\ndata: x\n:inside\n\n");
        assert_eq!(
            items,
            vec![
                comment(""),
                comment(" a: b"),
                comment("  two"),
                comment("inside"),
                msg("x"),
            ]
        );
    }

    #[test]
    fn event_id_and_retry_fields() {
        let stream = b"retry: 3000\nevent: update\nid: 42\ndata: {\"a\":1}\n\ndata: again\n\nevent: x\nid:\ndata: y\n\n";
        let (_, out) = fed(stream);
        assert_eq!(
            out,
            vec![
                SseItem::Retry(3000),
                ev(Some("update"), "{\"a\":1}", Some("42")),
                ev(None, "again", Some("42")),
                ev(Some("x"), "y", None),
            ]
        );
        assert_eq!(parse_all_ways(stream), out);
    }

    #[test]
    fn id_only_block_updates_last_event_id_without_event() {
        let mut parser = SseParser::new();
        let mut out = Vec::new();
        parser.feed(b"id: 5\n", &mut out).unwrap();
        // Not dispatched yet.
        assert_eq!(parser.last_event_id(), None);
        assert!(parser.has_partial_event());
        parser.feed(b"\n", &mut out).unwrap();
        assert!(out.is_empty());
        assert_eq!(parser.last_event_id(), Some("5"));
        assert!(!parser.has_partial_event());
        parser.feed(b"data: d\n\n", &mut out).unwrap();
        assert_eq!(out, vec![ev(None, "d", Some("5"))]);
        // Set in the same block as the data: applies to that event.
        parser.feed(b"data: e\nid: 6\n\n", &mut out).unwrap();
        assert_eq!(out[1], ev(None, "e", Some("6")));
        assert_eq!(parser.last_event_id(), Some("6"));
    }

    #[test]
    fn id_containing_nul_is_ignored() {
        let items = parse_all_ways(b"id: 1\n\ndata: a\nid: 2\x003\n\nid: \x00\ndata: b\n\n");
        assert_eq!(
            items,
            vec![ev(None, "a", Some("1")), ev(None, "b", Some("1"))]
        );
        // NUL elsewhere is fine.
        assert_eq!(parse(b"data: a\x00b\n\n"), vec![msg("a\0b")]);
    }

    #[test]
    fn retry_requires_only_ascii_digits() {
        let stream = b"retry: 10a\nretry: -1\nretry: 1.5\nretry:\nretry\nretry:  5\nretry: \xD9\xA1\nretry: 0\nretry:0042\nretry: 99999999999999999999999\n";
        assert_eq!(
            parse_all_ways(stream),
            vec![
                SseItem::Retry(0),
                SseItem::Retry(42),
                SseItem::Retry(u64::MAX),
            ]
        );
        // Retry is reported immediately, before the event it sits in.
        assert_eq!(
            parse(b"data: x\nretry: 7\n\n"),
            vec![SseItem::Retry(7), msg("x")]
        );
    }

    #[test]
    fn field_without_colon_has_empty_value() {
        assert_eq!(
            parse_all_ways(b"event: a\nevent\ndata\n\n"),
            vec![ev(None, "", None)]
        );
        assert_eq!(
            parse_all_ways(b"id: 1\nid\ndata: x\n\n"),
            vec![ev(None, "x", None)]
        );
    }

    #[test]
    fn unknown_fields_and_case_are_ignored() {
        assert_eq!(
            parse_all_ways(
                b"foo: bar\nData: no\nDATA: no\n data: no\ndata : no\nevents: x\ndata: yes\n\n"
            ),
            vec![msg("yes")]
        );
        // A block of unknown fields only dispatches nothing.
        assert_eq!(parse_all_ways(b"foo: bar\n\n"), vec![]);
    }

    #[test]
    fn empty_data_buffer_is_not_dispatched_but_resets_event_type() {
        assert_eq!(parse_all_ways(b"event: foo\n\ndata: x\n\n"), vec![msg("x")]);
        assert_eq!(parse_all_ways(b"\n\n\n"), vec![]);
        assert_eq!(parse_all_ways(b"event: foo\n:c\n\n"), vec![comment("c")]);
    }

    #[test]
    fn values_keep_later_colons_and_spaces() {
        assert_eq!(
            parse_all_ways(b"data: a:b\ndata:  two\ndata:x \ndata:\t\n\n"),
            vec![msg("a:b\n two\nx \n\t")]
        );
    }

    #[test]
    fn multi_line_data_joins_with_lf() {
        assert_eq!(
            parse_all_ways(b"data: line1\ndata:\ndata: line3\n\n"),
            vec![msg("line1\n\nline3")]
        );
    }

    #[test]
    fn split_inside_multibyte_utf8() {
        let stream = "event: é\ndata: hé€😀\nid: ✓\n\n".as_bytes();
        assert_eq!(
            parse_all_ways(stream),
            vec![ev(Some("é"), "hé€😀", Some("✓"))]
        );
        // Every 3-way split too.
        for i in 0..=stream.len() {
            for j in i..=stream.len() {
                let (items, result, _) = run_with(
                    SseParser::new(),
                    &[&stream[..i], &stream[i..j], &stream[j..]],
                );
                result.unwrap();
                assert_eq!(items, vec![ev(Some("é"), "hé€😀", Some("✓"))]);
            }
        }
    }

    #[test]
    fn invalid_utf8_is_replaced() {
        assert_eq!(
            parse_all_ways(b"data: a\xFFb\xE2\x82\ndata: \xF0\x9F\x98\n\n"),
            vec![msg("a\u{FFFD}b\u{FFFD}\n\u{FFFD}")]
        );
        assert_eq!(
            parse_all_ways(b"event: \xC0\xAF\ndata: x\n\n"),
            vec![ev(Some("\u{FFFD}\u{FFFD}"), "x", None)]
        );
    }

    #[test]
    fn line_too_long() {
        let limit = 16;
        let ok = b"data: 0123456789\n\n"; // 16-byte line: allowed
        let (items, result, _) = run_with(SseParser::with_max_line_len(limit), &[ok]);
        assert_eq!((items, result), (vec![msg("0123456789")], Ok(())));

        let long: &[u8] = b":ok\ndata: 01234567890\n\n"; // 17 bytes
        let expected_err = Err(SseError::LineTooLong { limit });
        let (items, result, _) = run_with(SseParser::with_max_line_len(limit), &[long]);
        assert_eq!((items, result), (vec![comment("ok")], expected_err));
        for cut in 0..=long.len() {
            let (a, b) = long.split_at(cut);
            let (items, result, _) = run_with(SseParser::with_max_line_len(limit), &[a, b]);
            assert_eq!(items, vec![comment("ok")], "cut {cut}");
            assert_eq!(result, expected_err, "cut {cut}");
        }

        // An unterminated line fails as soon as it is too long, and the
        // buffer never holds more than the limit.
        let mut parser = SseParser::with_max_line_len(limit);
        let mut out = Vec::new();
        parser.feed(b"data: 0123456789", &mut out).unwrap();
        assert_eq!(parser.line.len(), 16);
        assert_eq!(parser.feed(b"x", &mut out), expected_err);
        // Failed: the buffer is released.
        assert_eq!(parser.line.capacity(), 0);
        // Sticky until reset.
        assert_eq!(parser.feed(b"\n\n", &mut out), expected_err);
        assert_eq!(parser.finish(&mut out), expected_err);
        parser.reset();
        parser.feed(b"data: ok\n\n", &mut out).unwrap();
        assert_eq!(out, vec![msg("ok")]);

        let mut parser = SseParser::with_max_line_len(limit);
        assert_eq!(parser.feed(&[b'a'; 17], &mut Vec::new()), expected_err);
        assert!(parser.line.is_empty());

        let err = SseError::LineTooLong { limit: 5 };
        assert_eq!(err.to_string(), "SSE line longer than the 5-byte limit");
        let _: &dyn std::error::Error = &err;
    }

    #[test]
    fn event_too_large() {
        let limit = 10;
        let err = Err(SseError::EventTooLarge { limit });
        // 4 + 1 + 4 + 1 = 10 bytes: fits exactly.
        let (items, result, _) = run_with(
            SseParser::with_max_line_len(limit),
            &[b"data: aaaa\ndata: bbbb\ndata:\n\n"],
        );
        assert_eq!((items, result), (vec![msg("aaaa\nbbbb\n")], Ok(())));
        let stream: &[u8] = b"data: x\n\ndata: aaaa\ndata: bbbb\ndata: c\n\n";
        let (items, result, _) = run_with(SseParser::with_max_line_len(limit), &[stream]);
        assert_eq!((items, result), (vec![msg("x")], err));
        let bytes: Vec<&[u8]> = stream.chunks(1).collect();
        let (items, result, _) = run_with(SseParser::with_max_line_len(limit), &bytes);
        assert_eq!((items, result), (vec![msg("x")], err));
        // Many empty data lines still count their separators.
        let many = b"data\n".repeat(12);
        let (_, result, _) = run_with(SseParser::with_max_line_len(limit), &[&many]);
        assert_eq!(result, err);
        assert_eq!(
            SseError::EventTooLarge { limit: 3 }.to_string(),
            "SSE event data larger than the 3-byte limit"
        );
    }

    #[test]
    fn finish_discards_incomplete_event() {
        for (stream, partial) in [
            (&b"data: x\n"[..], true),
            (b"data: x", true),
            (b"event: e\n", true),
            (b"id: 1\n", true),
            (b"d", true),
            (b"data: x\n\n", false),
            (b"data: x\r", true),
            (b"data: x\r\r", false),
            (b":comment\n", false),
            (b"retry: 5\n", false),
            (b"retry: 5", true),
            (b"", false),
        ] {
            let (items, result, was_partial) = run_with(SseParser::new(), &[stream]);
            result.unwrap();
            assert_eq!(was_partial, partial, "{stream:?}");
            assert!(
                items
                    .iter()
                    .all(|i| !matches!(i, SseItem::Event(e) if e.data == "x"))
                    || !partial,
                "{stream:?}"
            );
        }
        // A final line without a line end is discarded, even retry.
        let (items, result, _) = run_with(SseParser::new(), &[b"data: a\n\nretry: 5"]);
        result.unwrap();
        assert_eq!(items, vec![msg("a")]);
        // finish is idempotent.
        let mut parser = SseParser::new();
        let mut out = Vec::new();
        parser.feed(b"data: a\n", &mut out).unwrap();
        parser.finish(&mut out).unwrap();
        assert_eq!(parser.fields.data.capacity(), 0); // released
        parser.finish(&mut out).unwrap();
        assert!(out.is_empty());
        assert!(parser.has_partial_event());
    }

    #[test]
    fn feed_after_finish_starts_new_stream() {
        let mut parser = SseParser::new();
        let mut out = Vec::new();
        parser
            .feed(b"\xEF\xBB\xBFid: 9\ndata: a\n\ndata: cut", &mut out)
            .unwrap();
        parser.finish(&mut out).unwrap();
        assert!(parser.has_partial_event());
        assert_eq!(parser.last_event_id(), Some("9"));
        // New stream: BOM allowed again, the ID buffer starts empty.
        parser.feed(b"\xEF\xBB\xBFdata: b\n\n", &mut out).unwrap();
        assert!(!parser.has_partial_event());
        assert_eq!(out, vec![ev(None, "a", Some("9")), msg("b")]);
        assert_eq!(parser.last_event_id(), None);
    }

    #[test]
    fn openrouter_like_stream() {
        let stream = ": OPENROUTER PROCESSING\n\ndata: {\"id\":\"x\",\"choices\":[{\"delta\":{\"content\":\"hé\"}}]}\n\ndata: [DONE]\n\n";
        let items = parse_all_ways(stream.as_bytes());
        assert_eq!(
            items,
            vec![
                comment(" OPENROUTER PROCESSING"),
                msg("{\"id\":\"x\",\"choices\":[{\"delta\":{\"content\":\"hé\"}}]}"),
                msg("[DONE]"),
            ]
        );
    }

    #[test]
    fn out_is_appended_not_cleared() {
        let mut parser = SseParser::default();
        let mut out = vec![comment("before")];
        parser.feed(b"data: 1\n\ndata: 2\n\n", &mut out).unwrap();
        parser.feed(b"data: 3\n\n", &mut out).unwrap();
        assert_eq!(out, vec![comment("before"), msg("1"), msg("2"), msg("3")]);
    }

    #[test]
    fn defaults_and_large_lines() {
        assert_eq!(DEFAULT_MAX_LINE_LEN, 8 * 1024 * 1024);
        assert_eq!(SseParser::new().max, DEFAULT_MAX_LINE_LEN);
        // A 1 MiB line split in pieces; the buffer's memory is released.
        let big = "x".repeat(1 << 20);
        let stream = format!("data: {big}\n\n");
        let mut parser = SseParser::new();
        let mut out = Vec::new();
        for piece in stream.as_bytes().chunks(4096) {
            parser.feed(piece, &mut out).unwrap();
        }
        assert_eq!(out, vec![msg(&big)]);
        assert!(parser.line.capacity() <= RETAINED_LINE_CAPACITY);
    }

    #[test]
    fn find_eol_examples() {
        assert_eq!(find_eol(b""), None);
        assert_eq!(find_eol(b"abcdefghijklmnop"), None);
        assert_eq!(find_eol(b"\n"), Some(0));
        assert_eq!(find_eol(b"abcdefgh\rijk"), Some(8));
        assert_eq!(find_eol(b"abcdefg\n\r"), Some(7));
        assert_eq!(find_eol(b"ab\x0B\x0C\x0E\x8A\x8Dxyzw\n"), Some(11));
        assert_eq!(find_eol(b"\xFF\xFF\xFF\xFF\xFF\xFF\r\n"), Some(6));
    }

    // ---- property tests -------------------------------------------------

    /// One generated line of an event block.
    #[derive(Debug, Clone)]
    enum Line {
        Data(String, u8),
        Event(String, u8),
        Id(String, u8),
        IdWithNul,
        Retry(u64, bool),
        BadRetry(String),
        Unknown(String, String),
        Comment(String),
    }

    fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            "[^\\r\\n]{0,12}",
            "[ a-z:\u{e9}\u{20ac}\u{1f600}\u{feff}\\x00]{0,12}",
        ]
    }

    fn line_strategy() -> impl Strategy<Value = Line> {
        prop_oneof![
            4 => (text(), 0u8..3).prop_map(|(s, f)| Line::Data(s, f)),
            1 => (text(), 0u8..3).prop_map(|(s, f)| Line::Event(s, f)),
            1 => ("[^\\r\\n\\x00]{0,8}", 0u8..3).prop_map(|(s, f)| Line::Id(s, f)),
            1 => Just(Line::IdWithNul),
            1 => (any::<u64>(), any::<bool>()).prop_map(|(n, s)| Line::Retry(n, s)),
            1 => "([0-9]{0,3}[a-z .+-][0-9]{0,3})?".prop_map(Line::BadRetry),
            1 => ("[a-z]{1,6}", text()).prop_map(|(n, v)| Line::Unknown(n, v)),
            1 => text().prop_map(Line::Comment),
        ]
    }

    /// `name` + separator + value, where `form` picks between the spellings
    /// that mean the same value.
    fn field(name: &str, value: &str, form: u8) -> String {
        if value.is_empty() {
            match form {
                0 => name.to_owned(),
                1 => format!("{name}:"),
                _ => format!("{name}: "),
            }
        } else if value.starts_with(' ') || form == 0 {
            format!("{name}: {value}")
        } else {
            format!("{name}:{value}")
        }
    }

    #[derive(Debug, Clone)]
    struct Generated {
        bytes: Vec<u8>,
        items: Vec<SseItem>,
        partial: bool,
    }

    /// Serializes blocks (each followed by a blank line), then an optional
    /// unterminated tail, computing the items the spec says they produce.
    fn generate(
        bom: bool,
        blocks: Vec<Vec<Line>>,
        tail: Vec<Line>,
        cut_last: bool,
        eols: Vec<u8>,
    ) -> Generated {
        let mut lines: Vec<(String, bool)> = Vec::new(); // (text, is in tail)
        for block in &blocks {
            for line in block {
                lines.push((render(line), false));
            }
            lines.push((String::new(), false));
        }
        for line in &tail {
            lines.push((render(line), true));
        }
        let mut bytes = Vec::new();
        if bom {
            bytes.extend_from_slice(&BOM);
        }
        let mut prev_cr = false;
        let count = lines.len();
        for (i, (line, _)) in lines.iter().enumerate() {
            bytes.extend_from_slice(line.as_bytes());
            if cut_last && !tail.is_empty() && i + 1 == count {
                break;
            }
            let mut eol = ["\n", "\r", "\r\n"][usize::from(eols[i % eols.len()] % 3)];
            if prev_cr && line.is_empty() && eol == "\n" {
                eol = "\r\n"; // "\r" + "\n" would be a single line end
            }
            prev_cr = eol == "\r";
            bytes.extend_from_slice(eol.as_bytes());
        }

        // Expected items.
        let mut items = Vec::new();
        let (mut data, mut event, mut id): (Option<String>, String, String) =
            (None, String::new(), String::new());
        let mut partial = false;
        let effective = lines.len() - usize::from(cut_last && !tail.is_empty());
        let all: Vec<Option<&Line>> = blocks
            .iter()
            .flat_map(|b| b.iter().map(Some).chain([None]))
            .chain(tail.iter().map(Some))
            .collect();
        for line in all.into_iter().take(effective) {
            match line {
                None => {
                    if let Some(d) = data.take() {
                        items.push(SseItem::Event(SseEvent {
                            event: Some(event.clone()).filter(|e| !e.is_empty()),
                            data: d,
                            id: Some(id.clone()).filter(|i| !i.is_empty()),
                        }));
                    }
                    event.clear();
                    partial = false;
                }
                Some(Line::Data(s, _)) => {
                    partial = true;
                    data = Some(match data.take() {
                        Some(d) => format!("{d}\n{s}"),
                        None => s.clone(),
                    });
                }
                Some(Line::Event(s, _)) => {
                    partial = true;
                    event.clone_from(s);
                }
                Some(Line::Id(s, _)) => {
                    partial = true;
                    id.clone_from(s);
                }
                Some(Line::IdWithNul) => partial = true,
                Some(Line::Retry(n, _)) => items.push(SseItem::Retry(*n)),
                Some(Line::Comment(s)) => items.push(SseItem::Comment(s.clone())),
                Some(Line::BadRetry(_) | Line::Unknown(..)) => {}
            }
        }
        if cut_last && !tail.is_empty() {
            partial = true;
        }
        Generated {
            bytes,
            items,
            partial,
        }
    }

    fn render(line: &Line) -> String {
        match line {
            Line::Data(s, f) => field("data", s, *f),
            Line::Event(s, f) => field("event", s, *f),
            Line::Id(s, f) => field("id", s, *f),
            Line::IdWithNul => "id: 1\u{0}2".to_owned(),
            Line::Retry(n, space) => format!("retry:{}{n}", if *space { " " } else { "" }),
            Line::BadRetry(s) => format!("retry: {s}"),
            Line::Unknown(name, value) => {
                let name = match name.as_str() {
                    "data" | "event" | "id" | "retry" => "other",
                    other => other,
                };
                format!("{name}:{value}")
            }
            Line::Comment(s) => format!(":{s}"),
        }
    }

    fn stream_strategy() -> impl Strategy<Value = Generated> {
        (
            any::<bool>(),
            prop::collection::vec(prop::collection::vec(line_strategy(), 0..5), 0..6),
            prop::collection::vec(line_strategy(), 0..3),
            any::<bool>(),
            prop::collection::vec(any::<u8>(), 1..8),
        )
            .prop_map(|(bom, blocks, tail, cut_last, eols)| {
                generate(bom, blocks, tail, cut_last, eols)
            })
    }

    fn split_at_points<'a>(bytes: &'a [u8], cuts: &[prop::sample::Index]) -> Vec<&'a [u8]> {
        let mut points: Vec<usize> = cuts.iter().map(|c| c.index(bytes.len() + 1)).collect();
        points.sort_unstable();
        let mut pieces = Vec::new();
        let mut start = 0;
        for p in points {
            pieces.push(&bytes[start..p]);
            start = p;
        }
        pieces.push(&bytes[start..]);
        pieces
    }

    /// Feeds pieces and checks the memory bounds after every call.
    fn run_checked(max: usize, pieces: &[&[u8]]) -> (Vec<SseItem>, Result<(), SseError>) {
        let mut parser = SseParser::with_max_line_len(max);
        let mut out = Vec::new();
        for piece in pieces {
            let result = parser.feed(piece, &mut out);
            assert!(parser.line.len() <= max);
            assert!(parser.fields.data.len() <= max);
            if result.is_err() {
                return (out, result);
            }
        }
        let result = parser.finish(&mut out);
        (out, result)
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        #[test]
        fn prop_any_split_matches_whole_and_model(
            generated in stream_strategy(),
            cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..24),
        ) {
            let bytes = &generated.bytes;
            let (whole, result, partial) = run_with(SseParser::new(), &[bytes]);
            prop_assert_eq!(result, Ok(()));
            prop_assert_eq!(&whole, &generated.items);
            prop_assert_eq!(partial, generated.partial);

            let pieces = split_at_points(bytes, &cuts);
            let (split, result, partial) = run_with(SseParser::new(), &pieces);
            prop_assert_eq!(result, Ok(()));
            prop_assert_eq!(&split, &whole);
            prop_assert_eq!(partial, generated.partial);

            let single: Vec<&[u8]> = bytes.chunks(1).collect();
            let (bytewise, result, partial) = run_with(SseParser::new(), &single);
            prop_assert_eq!(result, Ok(()));
            prop_assert_eq!(&bytewise, &whole);
            prop_assert_eq!(partial, generated.partial);
        }

        #[test]
        fn prop_random_bytes_never_panic_and_stay_bounded(
            tokens in prop::collection::vec(
                prop_oneof![
                    Just(b"data".to_vec()), Just(b"id".to_vec()), Just(b"event".to_vec()),
                    Just(b"retry".to_vec()), Just(b":".to_vec()), Just(b" ".to_vec()),
                    Just(b"\r".to_vec()), Just(b"\n".to_vec()), Just(b"\r\n".to_vec()),
                    Just(BOM.to_vec()), Just(b"\xEF\xBB".to_vec()), Just(b"12".to_vec()),
                    Just(b"\0".to_vec()), Just("é€😀".as_bytes().to_vec()),
                    prop::collection::vec(any::<u8>(), 0..6),
                ],
                0..60,
            ),
            max in 0usize..48,
            cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..16),
        ) {
            let bytes = tokens.concat();
            let (whole, whole_result) = run_checked(max, &[&bytes]);
            let pieces = split_at_points(&bytes, &cuts);
            let (split, split_result) = run_checked(max, &pieces);
            let single: Vec<&[u8]> = bytes.chunks(1).collect();
            let (bytewise, bytewise_result) = run_checked(max, &single);
            prop_assert_eq!(&split, &whole);
            prop_assert_eq!(split_result, whole_result);
            prop_assert_eq!(&bytewise, &whole);
            prop_assert_eq!(bytewise_result, whole_result);
            for item in &whole {
                match item {
                    SseItem::Event(e) => {
                        prop_assert!(e.data.len() <= max);
                        prop_assert!(e.event.as_ref().map_or(0, |t| t.chars().count()) <= max);
                        prop_assert!(e.id.as_ref().map_or(0, |i| i.chars().count()) <= max);
                    }
                    SseItem::Comment(c) => prop_assert!(c.chars().count() <= max),
                    SseItem::Retry(_) => {}
                }
            }
        }

        #[test]
        fn prop_find_eol_matches_naive(
            bytes in prop::collection::vec(
                prop_oneof![Just(b'\n'), Just(b'\r'), Just(0x8A), Just(0x8D), Just(0x0B), any::<u8>()],
                0..40,
            ),
            skip in 0usize..40,
        ) {
            for start in [0, skip.min(bytes.len())] {
                let hay = &bytes[start..];
                let naive = hay.iter().position(|&b| b == b'\n' || b == b'\r');
                prop_assert_eq!(find_eol(hay), naive);
            }
        }
    }
}
