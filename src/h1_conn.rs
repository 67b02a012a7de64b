//! One plain-http HTTP/1.1 connection of our own (RFC 9112): the request written with
//! vectored writes, its answer's head read meanwhile and parsed with `httparse`, and the
//! body's framing decoded
//! straight from the connection's read buffer, a frame per read (the chunks of a chunked
//! body read together joined), with no task or channel between the socket and the body.
//!
//! Replaces hyper's client connection on this path: hyper ran its dispatcher and a
//! per-frame body channel (a want signal and an mpsc) between the two even when both
//! were polled by the same task, ~30% of the runtime thread's CPU per streamed chunk
//! (issue 11). Its limits are kept: 100 headers, a head of at most ~400 KB, reads of
//! [`READ_BUF_BYTES`].

use std::error::Error as StdError;
use std::fmt;
use std::future::poll_fn;
use std::io::{self, IoSlice, Write as _};
use std::pin::Pin;
use std::task::{ready, Context, Poll, Waker};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use hyper::header::{
    HeaderMap, HeaderName, HeaderValue, CONNECTION, CONTENT_LENGTH, TRANSFER_ENCODING,
};
use hyper::{Method, Request, StatusCode, Version};
use tokio_util::io::poll_read_buf;

use crate::fork_fds::PooledSocket;

type BoxError = Box<dyn StdError + Send + Sync>;

/// Each read's size, and the buffer kept per connection. hyper's default (8 KB, growing)
/// cost ~2 KB more per open stream; 2 KB reads measured no more CPU per chunk (S2) or per
/// request (S1), 1 KB ~10% more per chunk. SSE events and usual chat answers fit in a few.
pub const READ_BUF_BYTES: usize = 2048;
/// Response headers at most (hyper's limit).
const MAX_HEADERS: usize = 100;
/// A response head's bytes at most (hyper's largest read buffer).
const MAX_HEAD_BYTES: usize = 8192 + 4096 * 100;
/// A chunk-size line with its extensions at most (extensions are read and dropped).
const MAX_CHUNK_LINE: usize = 16 * 1024;
/// A chunked body's trailer section at most (read and dropped).
const MAX_TRAILERS: usize = 16 * 1024;

/// What went wrong on a connection, worded as hyper worded the same failure.
#[derive(Debug)]
pub struct H1Error {
    kind: Kind,
    cause: Option<BoxError>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// The response head is not HTTP/1.x (hyper's words for which part).
    Parse(&'static str),
    /// The server closed the connection before the response head ended.
    Incomplete,
    /// The body could not be read: its framing is broken or it was cut short.
    Body,
    /// Reading the socket failed.
    Io,
    /// Writing the request failed.
    Write,
}

impl H1Error {
    fn parse(words: &'static str) -> Self {
        Self {
            kind: Kind::Parse(words),
            cause: None,
        }
    }

    fn incomplete() -> Self {
        Self {
            kind: Kind::Incomplete,
            cause: None,
        }
    }

    fn body(kind: io::ErrorKind, words: &'static str) -> Self {
        Self {
            kind: Kind::Body,
            cause: Some(io::Error::new(kind, words).into()),
        }
    }

    fn io(err: io::Error) -> Self {
        Self {
            kind: Kind::Io,
            cause: Some(err.into()),
        }
    }

    fn write(err: io::Error) -> Self {
        Self {
            kind: Kind::Write,
            cause: Some(err.into()),
        }
    }

    fn body_io(err: io::Error) -> Self {
        Self {
            kind: Kind::Body,
            cause: Some(err.into()),
        }
    }

    /// The server's answer was not HTTP/1.x (as `hyper::Error::is_parse`).
    pub fn is_parse(&self) -> bool {
        matches!(self.kind, Kind::Parse(_))
    }
}

impl fmt::Display for H1Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.kind {
            Kind::Parse(words) => words,
            Kind::Incomplete => "connection closed before message completed",
            Kind::Body => "error reading a body from connection",
            Kind::Io => "connection error",
            Kind::Write => "error writing a body to connection",
        })
    }
}

impl StdError for H1Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.cause.as_deref().map(|cause| cause as _)
    }
}

fn parse_error(err: httparse::Error) -> H1Error {
    H1Error::parse(match err {
        httparse::Error::Version => "invalid HTTP version parsed",
        httparse::Error::Status => "invalid HTTP status-code parsed",
        httparse::Error::TooManyHeaders => "message head is too large",
        _ => "invalid HTTP header parsed",
    })
}

fn bad_chunk() -> H1Error {
    H1Error::body(io::ErrorKind::InvalidData, "invalid chunk size line")
}

/// A response head: what the response is made of, and how its body is framed.
#[derive(Debug)]
pub struct Head {
    pub status: StatusCode,
    pub version: Version,
    pub headers: HeaderMap,
    pub framing: Framing,
    /// The connection can take another request once this body is read.
    pub keep_alive: bool,
}

/// A request on its way out: its head, its body (not copied), and the end of a chunked
/// body (empty unless the caller asked for chunked); `written` bytes of them are out.
struct Outgoing {
    head: Vec<u8>,
    body: Bytes,
    end: &'static [u8],
    written: usize,
}

impl Outgoing {
    /// What is left to write, for one vectored write.
    fn left(&self) -> [IoSlice<'_>; 3] {
        let mut skip = self.written;
        [&self.head[..], &self.body[..], self.end].map(|part| {
            let from = skip.min(part.len());
            skip -= from;
            IoSlice::new(&part[from..])
        })
    }

    fn is_written(&self) -> bool {
        self.written == self.head.len() + self.body.len() + self.end.len()
    }
}

/// One connection: its socket, its read buffer (what was read and not yet decoded), and
/// what is left to write of the request being answered.
pub struct Conn {
    io: PooledSocket,
    buf: BytesMut,
    /// `Some` while the request is not all written: a server may answer before it has read
    /// the whole body (a 413, a 401), and the rest goes out while the answer is read.
    unsent: Option<Outgoing>,
}

impl Conn {
    pub fn new(io: PooledSocket) -> Self {
        Self {
            io,
            buf: BytesMut::new(),
            unsent: None,
        }
    }

    /// Whether the connection can take a request: nothing unread or unsent, not closed by
    /// the server; `waker` is woken when the server closes it (or sends anything).
    pub fn poll_idle_for(&mut self, waker: &Waker) -> bool {
        if !self.buf.is_empty() || self.unsent.is_some() {
            return false;
        }
        let Some(tcp) = self.io.tcp() else {
            return false;
        };
        let mut cx = Context::from_waker(waker);
        loop {
            match tcp.poll_read_ready(&mut cx) {
                Poll::Pending => return true,
                Poll::Ready(Err(_)) => return false,
                Poll::Ready(Ok(())) => {}
            }
            // Closed, failed, or bytes nobody asked for: not reusable either way.
            match tcp.try_read(&mut [0u8; 1]) {
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
                _ => return false,
            }
        }
    }

    /// [`Self::poll_idle_for`] without a task to wake.
    pub fn poll_idle(&mut self) -> bool {
        self.poll_idle_for(Waker::noop())
    }

    /// Read once more into the buffer (at most [`READ_BUF_BYTES`]); `Ok(0)`: the server
    /// closed its side.
    ///
    /// Through tokio's `AsyncRead`: a read that leaves room in the buffer has drained the
    /// socket (epoll is edge-triggered), so the next one waits for readiness instead of
    /// making a system call that only says "would block" (`try_read_buf` made one per
    /// response, and per wait of a stream: ~1 µs each on a virtual machine).
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        let Some(tcp) = self.io.tcp_mut() else {
            return Poll::Ready(Err(io::ErrorKind::NotConnected.into()));
        };
        if self.buf.capacity() - self.buf.len() < READ_BUF_BYTES {
            self.buf.reserve(READ_BUF_BYTES);
        }
        poll_read_buf(
            Pin::new(tcp),
            cx,
            &mut (&mut self.buf).limit(READ_BUF_BYTES),
        )
    }

    /// Write what is left of the request (head and body in one vectored write when the
    /// socket takes it all); done once nothing is left.
    fn poll_send(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let Some(out) = self.unsent.as_mut() else {
            return Poll::Ready(Ok(()));
        };
        let Some(tcp) = self.io.tcp() else {
            return Poll::Ready(Err(io::ErrorKind::NotConnected.into()));
        };
        while !out.is_written() {
            ready!(tcp.poll_write_ready(cx))?;
            match tcp.try_write_vectored(&out.left()) {
                Ok(0) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Ok(written) => out.written += written,
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
                Err(err) => return Poll::Ready(Err(err)),
            }
        }
        self.unsent = None;
        Poll::Ready(Ok(()))
    }

    /// Write `request` and read the response head (1xx skipped). As hyper did, the head
    /// is read while the request is still being written: a server that answers before
    /// reading the whole body (a 413 for a large one) is heard, even if it then resets
    /// the connection, and the rest of the body goes out while the answer is read. A
    /// connection answered early is not reused.
    pub async fn exchange(&mut self, request: Request<Bytes>) -> Result<Head, H1Error> {
        let head_only = request.method() == Method::HEAD;
        let close = asks_close(request.headers());
        self.unsent = Some(encode_request(request));
        poll_fn(|cx| match self.poll_send(cx) {
            Poll::Ready(Ok(())) => self.poll_head(cx, head_only, close),
            Poll::Pending => self.poll_head(cx, head_only, true),
            Poll::Ready(Err(err)) => {
                self.unsent = None;
                // Only what has arrived already: the server's answer before it closed.
                let mut now = Context::from_waker(Waker::noop());
                match self.poll_head(&mut now, head_only, true) {
                    Poll::Ready(Ok(head)) => Poll::Ready(Ok(head)),
                    _ => Poll::Ready(Err(H1Error::write(err))),
                }
            }
        })
        .await
    }

    fn poll_head(
        &mut self,
        cx: &mut Context<'_>,
        head_only: bool,
        close: bool,
    ) -> Poll<Result<Head, H1Error>> {
        loop {
            while !self.buf.is_empty() {
                match parse_head(&mut self.buf, head_only)? {
                    Parsed::Head(mut head) => {
                        head.keep_alive &= !close;
                        return Poll::Ready(Ok(head));
                    }
                    Parsed::Interim => {}
                    Parsed::Partial if self.buf.len() >= MAX_HEAD_BYTES => {
                        return Poll::Ready(Err(H1Error::parse("message head is too large")))
                    }
                    Parsed::Partial => break,
                }
            }
            match ready!(self.poll_fill(cx)) {
                Ok(0) => return Poll::Ready(Err(H1Error::incomplete())),
                Ok(_) => {}
                Err(err) => return Poll::Ready(Err(H1Error::io(err))),
            }
        }
    }

    /// The body's next frame, read from this connection as `framing` says.
    pub fn poll_frame(
        &mut self,
        framing: &mut Framing,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Option<Bytes>, H1Error>> {
        if self.unsent.is_some() {
            // Answered early: the server may still read the rest. A failure to write it
            // is not the answer's: the answer is read on, and the connection not reused.
            if let Poll::Ready(Err(_)) = self.poll_send(cx) {
                self.unsent = None;
            }
        }
        loop {
            match framing.decode(&mut self.buf)? {
                Decoded::Data(data) => return Poll::Ready(Ok(Some(data))),
                Decoded::End => return Poll::Ready(Ok(None)),
                Decoded::More => {}
            }
            match ready!(self.poll_fill(cx)) {
                Ok(0) => {
                    framing.at_eof()?;
                    return Poll::Ready(Ok(None));
                }
                Ok(_) => {}
                Err(err) => return Poll::Ready(Err(H1Error::body_io(err))),
            }
        }
    }
}

/// The request as it goes out: `METHOD path HTTP/1.1`, the headers as they are (names
/// lowercase), then the body, sized as hyper sized it: `content-length` added for a body
/// (or a method that carries one); with the caller's `transfer-encoding`, a body is sent
/// chunked (as one chunk, `chunked` appended to the codings unless last) and any
/// `content-length` left out, while an empty body drops the `transfer-encoding`.
fn encode_request(request: Request<Bytes>) -> Outgoing {
    let (parts, body) = request.into_parts();
    let method = &parts.method;
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let headers = &parts.headers;
    let encoded = headers.contains_key(TRANSFER_ENCODING);
    let chunked = encoded && !body.is_empty();
    let header_bytes: usize = headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    let mut head = Vec::with_capacity(96 + path.len() + header_bytes);
    head.extend_from_slice(method.as_str().as_bytes());
    head.push(b' ');
    head.extend_from_slice(path.as_bytes());
    head.extend_from_slice(b" HTTP/1.1\r\n");
    let last_coding = headers.get_all(TRANSFER_ENCODING).iter().next_back();
    for (name, value) in headers {
        let skipped = match *name {
            CONTENT_LENGTH => chunked,
            TRANSFER_ENCODING => !chunked,
            _ => false,
        };
        if skipped {
            continue;
        }
        head.extend_from_slice(name.as_str().as_bytes());
        head.extend_from_slice(b": ");
        head.extend_from_slice(value.as_bytes());
        if name == TRANSFER_ENCODING && Some(value) == last_coding && !ends_chunked(value) {
            head.extend_from_slice(b", chunked");
        }
        head.extend_from_slice(b"\r\n");
    }
    let carries_body = !body.is_empty()
        || *method == Method::POST
        || *method == Method::PUT
        || *method == Method::PATCH;
    if !chunked && carries_body && !headers.contains_key(CONTENT_LENGTH) {
        // Formatted into the head's spare room: no string of its own.
        let _ = write!(head, "content-length: {}\r\n", body.len());
    }
    head.extend_from_slice(b"\r\n");
    let mut end: &'static [u8] = b"";
    if chunked {
        let _ = write!(head, "{:x}\r\n", body.len());
        end = b"\r\n0\r\n\r\n";
    }
    Outgoing {
        head,
        body,
        end,
        written: 0,
    }
}

/// Whether a `transfer-encoding` value's last coding is `chunked`.
fn ends_chunked(value: &HeaderValue) -> bool {
    value
        .as_bytes()
        .rsplit(|&b| b == b',')
        .next()
        .is_some_and(|coding| coding.trim_ascii().eq_ignore_ascii_case(b"chunked"))
}

/// Whether `headers` carry the `close` connection option.
fn asks_close(headers: &HeaderMap) -> bool {
    has_token(headers, CONNECTION, b"close")
}

fn has_token(headers: &HeaderMap, name: HeaderName, token: &[u8]) -> bool {
    headers.get_all(name).iter().any(|value| {
        value
            .as_bytes()
            .split(|&b| b == b',')
            .any(|part| part.trim_ascii().eq_ignore_ascii_case(token))
    })
}

enum Parsed {
    Head(Head),
    /// A 1xx response, consumed: the final one follows.
    Interim,
    Partial,
}

/// Parse the response head at the start of `buf`, taking it off when complete.
fn parse_head(buf: &mut BytesMut, head_only: bool) -> Result<Parsed, H1Error> {
    let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
    // Where each name and value sits in the head: they become slices of it once it is
    // split off (values are not copied, as hyper's).
    let mut at = [[0u32; 4]; MAX_HEADERS];
    let base = buf.as_ptr() as usize;
    let (len, code, minor, count) = {
        let mut response = httparse::Response::new(&mut slots);
        let len = match response.parse(buf) {
            Ok(httparse::Status::Complete(len)) => len,
            Ok(httparse::Status::Partial) => return Ok(Parsed::Partial),
            Err(err) => return Err(parse_error(err)),
        };
        for (slot, header) in at.iter_mut().zip(response.headers.iter()) {
            let name = header.name.as_ptr() as usize - base;
            let value = header.value.as_ptr() as usize - base;
            // A head is at most MAX_HEAD_BYTES (plus one read): offsets fit in u32.
            *slot = [
                name as u32,
                (name + header.name.len()) as u32,
                value as u32,
                (value + header.value.len()) as u32,
            ];
        }
        (
            len,
            response.code.unwrap_or(0),
            response.version.unwrap_or(1),
            response.headers.len(),
        )
    };
    let head = buf.split_to(len).freeze();
    let status = StatusCode::from_u16(code)
        .map_err(|_| H1Error::parse("invalid HTTP status-code parsed"))?;
    if status.is_informational() && status != StatusCode::SWITCHING_PROTOCOLS {
        return Ok(Parsed::Interim);
    }
    let mut headers = HeaderMap::with_capacity(count);
    for [name, name_end, value, value_end] in at.iter().take(count).copied() {
        let name = HeaderName::from_bytes(&head[name as usize..name_end as usize]);
        let value = HeaderValue::from_maybe_shared(head.slice(value as usize..value_end as usize));
        match (name, value) {
            (Ok(name), Ok(value)) => {
                headers.append(name, value);
            }
            _ => return Err(H1Error::parse("invalid HTTP header parsed")),
        }
    }
    let version = if minor == 0 {
        Version::HTTP_10
    } else {
        Version::HTTP_11
    };
    let (framing, framed) = framing_of(status, &headers, head_only, minor == 0)?;
    let keep_alive = framed
        && !has_token(&headers, CONNECTION, b"close")
        && (minor == 1 || has_token(&headers, CONNECTION, b"keep-alive"));
    Ok(Parsed::Head(Head {
        status,
        version,
        headers,
        framing,
        keep_alive,
    }))
}

/// The body's framing (RFC 9112 §6.3), and whether it leaves the connection usable.
fn framing_of(
    status: StatusCode,
    headers: &HeaderMap,
    head_only: bool,
    http10: bool,
) -> Result<(Framing, bool), H1Error> {
    if status == StatusCode::SWITCHING_PROTOCOLS {
        return Ok((Framing::Done, false)); // no upgrade here: the connection is not HTTP any more
    }
    if head_only || status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED {
        return Ok((Framing::Done, true));
    }
    if let Some(coding) = headers.get_all(TRANSFER_ENCODING).iter().next_back() {
        let last = coding.as_bytes().rsplit(|&b| b == b',').next();
        let chunked = last.is_some_and(|c| c.trim_ascii().eq_ignore_ascii_case(b"chunked"));
        // With a content-length as well, or on HTTP/1.0: framing to distrust, closed after.
        let trusted = chunked && !http10 && !headers.contains_key(CONTENT_LENGTH);
        let framing = if chunked {
            Framing::Chunked(Chunked::Size)
        } else {
            Framing::Close
        };
        return Ok((framing, trusted));
    }
    let mut length: Option<u64> = None;
    for value in headers.get_all(CONTENT_LENGTH) {
        for part in value.as_bytes().split(|&b| b == b',') {
            let part = part.trim_ascii();
            let parsed =
                (!part.is_empty() && part.len() <= 19 && part.iter().all(u8::is_ascii_digit))
                    .then(|| part.iter().fold(0u64, |n, d| n * 10 + u64::from(d - b'0')));
            match (parsed, length) {
                (Some(n), None) => length = Some(n),
                (Some(n), Some(known)) if n == known => {}
                _ => return Err(H1Error::parse("invalid content-length parsed")),
            }
        }
    }
    Ok(match length {
        Some(0) => (Framing::Done, true),
        Some(n) => (Framing::Length(n), true),
        None => (Framing::Close, false),
    })
}

/// How a body's bytes are delimited, and how far it has been read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// This many bytes are left.
    Length(u64),
    Chunked(Chunked),
    /// Everything until the server closes the connection.
    Close,
    /// The body has ended.
    Done,
}

/// Where a chunked body's reading is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chunked {
    /// Before a chunk-size line.
    Size,
    /// Inside a chunk's data: this many bytes are left.
    Data(u64),
    /// After a chunk's data: its CRLF.
    DataEnd,
    /// After the last chunk: the trailer section, this many bytes of it seen so far.
    Trailers(usize),
}

/// What [`Framing::decode`] found in the buffer.
#[derive(Debug, PartialEq, Eq)]
pub enum Decoded {
    Data(Bytes),
    End,
    /// More bytes are needed.
    More,
}

impl Framing {
    /// The next data frame (split off `buf`), the body's end, or a need for more bytes.
    /// After a chunk's data, what follows it in `buf` is read on at once, so the body
    /// knows its end with its last data (and its connection goes back to the pool).
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Decoded, H1Error> {
        loop {
            match *self {
                Framing::Done => return Ok(Decoded::End),
                Framing::Length(left) => {
                    if buf.is_empty() {
                        return Ok(Decoded::More);
                    }
                    let n = left.min(buf.len() as u64);
                    *self = if n == left {
                        Framing::Done
                    } else {
                        Framing::Length(left - n)
                    };
                    return Ok(Decoded::Data(buf.split_to(n as usize).freeze()));
                }
                Framing::Close => {
                    if buf.is_empty() {
                        return Ok(Decoded::More);
                    }
                    return Ok(Decoded::Data(buf.split().freeze()));
                }
                Framing::Chunked(Chunked::Data(left)) => {
                    if buf.is_empty() {
                        return Ok(Decoded::More);
                    }
                    let n = self.chunk_data(buf, left);
                    let mut data = buf.split_to(n);
                    self.step_past_data(buf);
                    if !matches!(self, Framing::Chunked(Chunked::Data(_))) || buf.is_empty() {
                        return Ok(Decoded::Data(data.freeze()));
                    }
                    // More chunks already read (a server writing each event as its own
                    // chunk): their data joins this one's in one frame (copied once), so
                    // the layers above run once per read, not once per chunk.
                    data.reserve(buf.len());
                    while let Framing::Chunked(Chunked::Data(left)) = *self {
                        if buf.is_empty() {
                            break;
                        }
                        let n = self.chunk_data(buf, left);
                        data.extend_from_slice(&buf[..n]);
                        buf.advance(n);
                        self.step_past_data(buf);
                    }
                    return Ok(Decoded::Data(data.freeze()));
                }
                Framing::Chunked(_) => {
                    if !self.step_chunked(buf)? {
                        return Ok(Decoded::More);
                    }
                }
            }
        }
    }

    /// How much of `buf` (not empty) is data of the chunk with `left` bytes to go; the
    /// state moved past it (its CRLF next, or more of it).
    fn chunk_data(&mut self, buf: &BytesMut, left: u64) -> usize {
        let n = left.min(buf.len() as u64);
        *self = Framing::Chunked(if n == left {
            Chunked::DataEnd
        } else {
            Chunked::Data(left - n)
        });
        n as usize
    }

    /// After a chunk's data (taken off `buf`), what `buf` holds next is read on: its CRLF,
    /// the next size line, the last chunk and trailers. A failure here is met again by the
    /// next call, after this data.
    fn step_past_data(&mut self, buf: &mut BytesMut) {
        while matches!(self, Framing::Chunked(state) if !matches!(state, Chunked::Data(_))) {
            match self.step_chunked(buf) {
                Ok(true) => {}
                _ => break,
            }
        }
    }

    /// One step of a chunked body outside its data (a size line, a data's CRLF, a
    /// trailer line); false when `buf` holds too little for it. Changes nothing on error.
    fn step_chunked(&mut self, buf: &mut BytesMut) -> Result<bool, H1Error> {
        let Framing::Chunked(state) = *self else {
            return Ok(false);
        };
        match state {
            Chunked::Size => {
                // Leading zeros are skipped, as many as come (RFC 9112 allows them, hyper
                // read them): httparse counts them against its 16 digits. One is kept
                // before a non-digit, the size 0.
                let zeros = buf.iter().take_while(|&&b| b == b'0').count();
                let skip = match buf.get(zeros) {
                    Some(b) if b.is_ascii_hexdigit() => zeros,
                    _ => zeros.saturating_sub(1),
                };
                let line = &buf[skip..];
                match httparse::parse_chunk_size(line) {
                    // httparse reads an empty size as 0: a size has at least one digit.
                    Ok(_) if line.first().is_some_and(|b| !b.is_ascii_hexdigit()) => {
                        Err(bad_chunk())
                    }
                    // A bare LF inside the line (in an extension): refused, as hyper refused
                    // it (a guard against framing read two ways).
                    Ok(httparse::Status::Complete((used, _)))
                        if memchr::memchr(b'\n', &line[..used - 1]).is_some() =>
                    {
                        Err(bad_chunk())
                    }
                    Ok(httparse::Status::Complete((used, size))) => {
                        buf.advance(skip + used);
                        *self = Framing::Chunked(if size == 0 {
                            Chunked::Trailers(0)
                        } else {
                            Chunked::Data(size)
                        });
                        Ok(true)
                    }
                    Ok(httparse::Status::Partial) if buf.len() > MAX_CHUNK_LINE => Err(bad_chunk()),
                    Ok(httparse::Status::Partial) => Ok(false),
                    Err(_) => Err(bad_chunk()),
                }
            }
            Chunked::DataEnd => match buf.get(..2) {
                Some(b"\r\n") => {
                    buf.advance(2);
                    *self = Framing::Chunked(Chunked::Size);
                    Ok(true)
                }
                None if buf.first().is_none_or(|&b| b == b'\r') => Ok(false),
                _ => Err(H1Error::body(
                    io::ErrorKind::InvalidData,
                    "invalid chunk body CRLF",
                )),
            },
            Chunked::Trailers(seen) => match memchr::memchr(b'\n', buf) {
                None if seen + buf.len() > MAX_TRAILERS => Err(trailers_too_large()),
                None => Ok(false),
                Some(end) => {
                    let blank = end == 0 || (end == 1 && buf[0] == b'\r');
                    if !blank && seen + end + 1 > MAX_TRAILERS {
                        return Err(trailers_too_large());
                    }
                    buf.advance(end + 1);
                    *self = if blank {
                        Framing::Done
                    } else {
                        Framing::Chunked(Chunked::Trailers(seen + end + 1))
                    };
                    Ok(true)
                }
            },
            Chunked::Data(_) => Ok(false),
        }
    }

    /// The server closed the connection: the end of a close-delimited body, else a body
    /// cut short.
    fn at_eof(&mut self) -> Result<(), H1Error> {
        match self {
            Framing::Close | Framing::Done => {
                *self = Framing::Done;
                Ok(())
            }
            _ => Err(H1Error::body(
                io::ErrorKind::UnexpectedEof,
                "end of file before message length reached",
            )),
        }
    }
}

fn trailers_too_large() -> H1Error {
    H1Error::body(io::ErrorKind::InvalidData, "chunk trailers are too large")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const CHUNKED: &[u8] =
        b"4\r\nRust\r\n6;name=value;x\r\n is a \r\nA\r\nlanguage!!\r\n0\r\nx-trailer: t\r\n\r\n";

    /// Feed `pieces` one after the other into `framing`'s decoder, as reads would bring
    /// them; the data decoded, and whether the body ended.
    fn decode_all(framing: &mut Framing, pieces: &[&[u8]]) -> Result<(Vec<u8>, bool), H1Error> {
        let mut buf = BytesMut::new();
        let mut data = Vec::new();
        for piece in pieces {
            buf.extend_from_slice(piece);
            loop {
                match framing.decode(&mut buf)? {
                    Decoded::Data(frame) => {
                        assert!(!frame.is_empty());
                        data.extend_from_slice(&frame);
                    }
                    Decoded::End => {
                        assert!(buf.is_empty(), "left: {buf:?}");
                        return Ok((data, true));
                    }
                    Decoded::More => break,
                }
            }
        }
        Ok((data, false))
    }

    fn chunked() -> Framing {
        Framing::Chunked(Chunked::Size)
    }

    #[test]
    fn a_chunked_body_split_across_reads_at_every_byte_decodes_the_same() {
        for at in 0..=CHUNKED.len() {
            let (head, tail) = CHUNKED.split_at(at);
            let mut framing = chunked();
            let (data, ended) = decode_all(&mut framing, &[head, tail]).unwrap();
            assert_eq!(data, b"Rust is a language!!", "split at {at}");
            assert!(ended, "split at {at}");
        }
        let bytes: Vec<&[u8]> = CHUNKED.chunks(1).collect();
        let (data, ended) = decode_all(&mut chunked(), &bytes).unwrap();
        assert_eq!(
            (data.as_slice(), ended),
            (&b"Rust is a language!!"[..], true)
        );
    }

    #[test]
    fn a_chunk_is_one_frame_and_the_end_is_known_with_the_last_data() {
        let mut buf = BytesMut::from(&b"5\r\nhello\r\n0\r\n\r\n"[..]);
        let mut framing = chunked();
        assert_eq!(
            framing.decode(&mut buf).unwrap(),
            Decoded::Data(Bytes::from_static(b"hello"))
        );
        assert_eq!(framing, Framing::Done);
        assert!(buf.is_empty());
    }

    #[test]
    fn bad_chunk_sizes_fail() {
        for body in [
            &b"zz\r\nab\r\n"[..],
            b"\r\nab\r\n",
            b"-1\r\n",
            b"12345678901234567\r\n",
            b"2\nab\r\n",
            b"2\r\nabXY0\r\n\r\n",
        ] {
            let err = decode_all(&mut chunked(), &[body]).unwrap_err();
            assert_eq!(err.to_string(), "error reading a body from connection");
            assert!(!err.is_parse());
        }
    }

    #[test]
    fn chunk_sizes_with_leading_zeros_past_16_digits_are_read() {
        // RFC 9112 allows leading zeros; httparse counts them against its 16 digits.
        let body = b"0000000000000000005\r\nhello\r\n00000000000000000000\r\n\r\n";
        let (data, ended) = decode_all(&mut chunked(), &[body]).unwrap();
        assert_eq!((data.as_slice(), ended), (&b"hello"[..], true));
        for at in 0..=body.len() {
            let (head, tail) = body.split_at(at);
            let (data, ended) = decode_all(&mut chunked(), &[head, tail]).unwrap();
            assert_eq!(
                (data.as_slice(), ended),
                (&b"hello"[..], true),
                "split at {at}"
            );
        }
        // The value must still fit in 64 bits.
        let (data, ended) = decode_all(&mut chunked(), &[b"00000ffffffffffffffff\r\n"]).unwrap();
        assert_eq!((data.len(), ended), (0, false));
        for body in [&b"0000010000000000000000\r\n"[..], b"00000;\n\r\n"] {
            assert!(decode_all(&mut chunked(), &[body]).is_err());
        }
    }

    /// Feeding `start` then 100 KB of `filler` without a line end fails, holding no more
    /// than the line limit.
    fn fails_in_bounded_memory(start: &[u8], filler: u8) {
        let mut framing = chunked();
        let mut buf = BytesMut::from(start);
        let mut failed = false;
        for _ in 0..100 {
            buf.extend_from_slice(&[filler; 1024]);
            match framing.decode(&mut buf) {
                Ok(Decoded::More) => {}
                Err(_) => {
                    failed = true;
                    break;
                }
                other => panic!("{other:?}"),
            }
        }
        assert!(failed && buf.len() <= MAX_CHUNK_LINE + 1024);
    }

    #[test]
    fn an_endless_line_of_zeros_fails_in_bounded_memory() {
        fails_in_bounded_memory(b"", b'0');
    }

    #[test]
    fn an_endless_chunk_size_line_fails_in_bounded_memory() {
        fails_in_bounded_memory(b"5;", b'x');
    }

    #[test]
    fn endless_trailers_fail_in_bounded_memory() {
        let mut framing = chunked();
        let mut buf = BytesMut::from(&b"0\r\n"[..]);
        let mut failed = false;
        for _ in 0..1000 {
            buf.extend_from_slice(b"x-trailer: 0123456789012345678901234567890123456789\r\n");
            if framing.decode(&mut buf).is_err() {
                failed = true;
                break;
            }
        }
        assert!(failed);
    }

    #[test]
    fn a_chunked_body_cut_short_fails_at_the_close() {
        for at in 0..CHUNKED.len() - 1 {
            let mut framing = chunked();
            let (_, ended) = decode_all(&mut framing, &[&CHUNKED[..at]]).unwrap();
            assert!(!ended);
            let err = framing.at_eof().unwrap_err();
            let cause = err.source().unwrap().to_string();
            assert_eq!(cause, "end of file before message length reached");
        }
    }

    #[test]
    fn a_content_length_body_ends_at_its_length() {
        let mut framing = Framing::Length(5);
        let (data, ended) = decode_all(&mut framing, &[b"he", b"llo"]).unwrap();
        assert_eq!((data.as_slice(), ended), (&b"hello"[..], true));
        let mut framing = Framing::Length(5);
        decode_all(&mut framing, &[b"hel"]).unwrap();
        assert!(framing.at_eof().is_err());
    }

    #[test]
    fn a_close_delimited_body_ends_at_the_close() {
        let mut framing = Framing::Close;
        let (data, ended) = decode_all(&mut framing, &[b"he", b"llo"]).unwrap();
        assert_eq!((data.as_slice(), ended), (&b"hello"[..], false));
        framing.at_eof().unwrap();
        assert_eq!(framing, Framing::Done);
    }

    fn head(bytes: &[u8]) -> Result<Parsed, H1Error> {
        parse_head(&mut BytesMut::from(bytes), false)
    }

    fn final_head(bytes: &[u8]) -> Head {
        match head(bytes).unwrap() {
            Parsed::Head(head) => head,
            Parsed::Interim => panic!("interim"),
            Parsed::Partial => panic!("partial"),
        }
    }

    #[test]
    fn the_framing_follows_rfc_9112() {
        let h = final_head(b"HTTP/1.1 200 OK\r\ntransfer-encoding: gzip, chunked\r\n\r\n");
        assert_eq!((h.framing, h.keep_alive), (chunked(), true));
        let h = final_head(b"HTTP/1.1 200 OK\r\ntransfer-encoding: gzip\r\n\r\n");
        assert_eq!((h.framing, h.keep_alive), (Framing::Close, false));
        let h = final_head(b"HTTP/1.1 200 OK\r\ncontent-length: 7\r\ncontent-length: 7, 7\r\n\r\n");
        assert_eq!((h.framing, h.keep_alive), (Framing::Length(7), true));
        let h = final_head(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
        assert_eq!(h.framing, Framing::Done);
        let h = final_head(b"HTTP/1.1 204 No Content\r\ncontent-length: 9\r\n\r\n");
        assert_eq!((h.framing, h.keep_alive), (Framing::Done, true));
        let h = final_head(b"HTTP/1.1 304 Not Modified\r\n\r\n");
        assert_eq!(h.framing, Framing::Done);
        let h = final_head(b"HTTP/1.1 200 OK\r\n\r\n");
        assert_eq!((h.framing, h.keep_alive), (Framing::Close, false));
        // Both: the chunked framing, and the connection closed after it.
        let h = final_head(
            b"HTTP/1.1 200 OK\r\ncontent-length: 3\r\ntransfer-encoding: chunked\r\n\r\n",
        );
        assert_eq!((h.framing, h.keep_alive), (chunked(), false));
        for bad in [
            &b"HTTP/1.1 200 OK\r\ncontent-length: 7\r\ncontent-length: 8\r\n\r\n"[..],
            b"HTTP/1.1 200 OK\r\ncontent-length: 7, 8\r\n\r\n",
            b"HTTP/1.1 200 OK\r\ncontent-length: -1\r\n\r\n",
            b"HTTP/1.1 200 OK\r\ncontent-length: 99999999999999999999\r\n\r\n",
        ] {
            let err = head(bad).err().unwrap();
            assert!(err.is_parse(), "{err}");
        }
        let mut buf = BytesMut::from(&b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n"[..]);
        match parse_head(&mut buf, true).unwrap() {
            Parsed::Head(h) => assert_eq!(h.framing, Framing::Done),
            _ => panic!("no head"),
        }
    }

    #[test]
    fn keep_alive_follows_the_version_and_connection_options() {
        let h = final_head(
            b"HTTP/1.1 200 OK\r\nconnection: keep-alive, Close\r\ncontent-length: 1\r\n\r\n",
        );
        assert!(!h.keep_alive);
        let h = final_head(b"HTTP/1.0 200 OK\r\ncontent-length: 1\r\n\r\n");
        assert_eq!((h.version, h.keep_alive), (Version::HTTP_10, false));
        let h =
            final_head(b"HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\ncontent-length: 1\r\n\r\n");
        assert!(h.keep_alive);
    }

    #[test]
    fn heads_are_parsed_whole_or_not_at_all() {
        let head_bytes = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nx-a: 1\r\nX-B: two\r\ncontent-length: 2\r\n\r\nok";
        let mut buf = BytesMut::from(&head_bytes[..]);
        assert!(matches!(
            parse_head(&mut buf, false).unwrap(),
            Parsed::Interim
        ));
        let Parsed::Head(h) = parse_head(&mut buf, false).unwrap() else {
            panic!("no head")
        };
        assert_eq!(h.status, StatusCode::OK);
        assert_eq!(h.headers["x-b"], "two");
        assert_eq!(h.headers.len(), 3);
        assert_eq!(&buf[..], b"ok");
        assert!(matches!(
            head(b"HTTP/1.1 200 OK\r\nx-a:").unwrap(),
            Parsed::Partial
        ));
        // TLS bytes (an https server) are not HTTP.
        assert!(head(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")
            .err()
            .unwrap()
            .is_parse());
        let many: Vec<u8> = b"HTTP/1.1 200 OK\r\n"
            .iter()
            .copied()
            .chain((0..=MAX_HEADERS).flat_map(|i| format!("x-{i}: v\r\n").into_bytes()))
            .chain(*b"\r\n")
            .collect();
        let err = head(&many).err().unwrap();
        assert_eq!(err.to_string(), "message head is too large");
    }

    #[test]
    fn a_request_goes_out_as_hyper_wrote_it() {
        let mut request = Request::new(Bytes::from_static(b"{}"));
        *request.method_mut() = Method::POST;
        *request.uri_mut() = "/v1/chat?x=1".parse().unwrap();
        request
            .headers_mut()
            .insert("x-key", HeaderValue::from_static("v"));
        assert_eq!(
            wire(&request),
            b"POST /v1/chat?x=1 HTTP/1.1\r\nx-key: v\r\ncontent-length: 2\r\n\r\n{}"
        );
        let mut get = Request::new(Bytes::new());
        *get.uri_mut() = "/models".parse().unwrap();
        assert_eq!(wire(&get), b"GET /models HTTP/1.1\r\n\r\n");
    }

    /// The bytes `encode_request` writes.
    fn wire(request: &Request<Bytes>) -> Vec<u8> {
        let mut copy = Request::new(request.body().clone());
        *copy.method_mut() = request.method().clone();
        *copy.uri_mut() = request.uri().clone();
        *copy.headers_mut() = request.headers().clone();
        let out = encode_request(copy);
        out.left().iter().flat_map(|part| part.to_vec()).collect()
    }

    #[test]
    fn a_callers_transfer_encoding_sends_the_body_chunked_as_hyper_did() {
        let mut request = Request::new(Bytes::from_static(b"{\"a\":1}"));
        *request.method_mut() = Method::POST;
        *request.uri_mut() = "/v1/x".parse().unwrap();
        let headers = request.headers_mut();
        headers.insert(TRANSFER_ENCODING, HeaderValue::from_static("chunked"));
        headers.insert(CONTENT_LENGTH, HeaderValue::from_static("7"));
        assert_eq!(
            wire(&request),
            b"POST /v1/x HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n7\r\n{\"a\":1}\r\n0\r\n\r\n"
        );
        // Another coding last: chunked is appended to it, as the framing.
        request
            .headers_mut()
            .insert(TRANSFER_ENCODING, HeaderValue::from_static("gzip"));
        assert_eq!(
            wire(&request),
            b"POST /v1/x HTTP/1.1\r\ntransfer-encoding: gzip, chunked\r\n\r\n7\r\n{\"a\":1}\r\n0\r\n\r\n"
        );
        // No body: no transfer coding, the caller's length kept.
        *request.body_mut() = Bytes::new();
        request
            .headers_mut()
            .insert(CONTENT_LENGTH, HeaderValue::from_static("0"));
        assert_eq!(
            wire(&request),
            b"POST /v1/x HTTP/1.1\r\ncontent-length: 0\r\n\r\n"
        );
    }

    #[test]
    fn a_bare_lf_inside_a_chunk_size_line_is_refused() {
        let err = decode_all(&mut chunked(), &[b"5;a\nb\r\nhello\r\n0\r\n\r\n"]).unwrap_err();
        assert_eq!(err.source().unwrap().to_string(), "invalid chunk size line");
        let (data, ended) = decode_all(&mut chunked(), &[b"5;a=b\r\nhello\r\n0\r\n\r\n"]).unwrap();
        assert_eq!((data.as_slice(), ended), (&b"hello"[..], true));
    }

    #[test]
    fn chunks_read_together_come_out_as_one_frame() {
        let mut framing = chunked();
        let mut buf = BytesMut::from(&b"3\r\nabc\r\n2\r\nde\r\n4\r\nfg"[..]);
        assert_eq!(
            framing.decode(&mut buf).unwrap(),
            Decoded::Data(Bytes::from_static(b"abcdefg"))
        );
        assert_eq!(framing, Framing::Chunked(Chunked::Data(2)));
        buf.extend_from_slice(b"hi\r\n1\r\nj\r\n0\r\n\r\n");
        assert_eq!(
            framing.decode(&mut buf).unwrap(),
            Decoded::Data(Bytes::from_static(b"hij"))
        );
        // Its end is known with its last data: the connection goes back with it.
        assert_eq!(framing, Framing::Done);
        assert!(buf.is_empty());
    }

    proptest! {
        /// Any chunked body, split into reads anywhere, decodes to its data and its end.
        #[test]
        fn the_chunked_decoder_reads_any_body_split_anywhere(
            chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 1..300), 0..8),
            upper in any::<bool>(),
            ext in proptest::option::of("[a-z]{1,8}"),
            trailer in any::<bool>(),
            cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..6),
        ) {
            let mut wire = Vec::new();
            for chunk in &chunks {
                let size = if upper { format!("{:X}", chunk.len()) } else { format!("{:x}", chunk.len()) };
                wire.extend_from_slice(size.as_bytes());
                if let Some(ext) = &ext {
                    wire.extend_from_slice(format!(";{ext}={ext}").as_bytes());
                }
                wire.extend_from_slice(b"\r\n");
                wire.extend_from_slice(chunk);
                wire.extend_from_slice(b"\r\n");
            }
            wire.extend_from_slice(b"0\r\n");
            if trailer {
                wire.extend_from_slice(b"x-t: 1\r\n");
            }
            wire.extend_from_slice(b"\r\n");
            let mut at: Vec<usize> = cuts.iter().map(|i| i.index(wire.len() + 1)).collect();
            at.sort_unstable();
            let mut pieces = Vec::new();
            let mut from = 0;
            for to in at {
                pieces.push(&wire[from..to]);
                from = to;
            }
            pieces.push(&wire[from..]);
            let (data, ended) = decode_all(&mut chunked(), &pieces).unwrap();
            prop_assert_eq!(data, chunks.concat());
            prop_assert!(ended);
        }
    }
}
