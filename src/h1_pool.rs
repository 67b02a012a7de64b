//! Plain-http HTTP/1.1 connections driven inside the task that uses them, and their
//! pool: each exchange reads its connection ([`crate::h1_conn`]) itself (no spawned
//! connection task, no hand-off of the response or of each body chunk), and the
//! response body gives the connection back to the pool when it ends.
//!
//! A connection is taken from the pool (LIFO, idle timeout checked when taking, a
//! connection the server closed discarded) or opened; the request is written and the
//! response head read; the body ([`PooledBody`]) decodes the rest from the connection's
//! buffer; at its end the connection goes back to the pool if it can take another
//! request (keep-alive, nothing unread, not closed), else it is closed. A body dropped
//! before its end closes it. A request about to go out on a reused connection the server
//! has closed is sent on a fresh one (as hyper-util's `retry_canceled_requests`), never
//! once written.
//!
//! No request polls an idle connection, so a sweeper task (one per pool, while it holds
//! idle connections) closes the expired ones and those the server closed, as hyper-util's
//! connection tasks did: each idle connection is polled with the sweeper's waker, so the
//! server closing one wakes it, and otherwise it sleeps until the earliest idle deadline.
//! After `fork()` the child shares the parent's sockets and the runtime's epoll instance:
//! the child closes its copies of the descriptors at once ([`crate::fork_fds`]), and a
//! parent's connection dropped in the child leaks its socket instead of closing it through
//! tokio, which would deregister it for the parent too.

use std::error::Error as StdError;
use std::fmt;
use std::future::{poll_fn, Future};
use std::pin::{pin, Pin};
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use hyper::header::{HeaderValue, HOST};
use hyper::http::uri::{Authority, PathAndQuery};
use hyper::{Request, Response, Uri};
use hyper_util::client::legacy::connect::HttpConnector;
use tokio::time::Instant;
use tower_service::Service;

use crate::fork_fds::PooledSocket;
use crate::h1_conn::{Conn, Framing, H1Error, Head};

pub type BoxError = Box<dyn StdError + Send + Sync>;

/// A failure before the response headers, worded as hyper-util's client worded it
/// (`client error (Connect)` / `client error (SendRequest)`, the cause as its source),
/// so errors read as they did (`diagnose::plain_send_error`).
#[derive(Debug)]
pub struct ClientError {
    kind: &'static str,
    cause: BoxError,
}

impl ClientError {
    fn connect(cause: impl Into<BoxError>) -> Self {
        Self {
            kind: "Connect",
            cause: cause.into(),
        }
    }

    fn send(cause: impl Into<BoxError>) -> Self {
        Self {
            kind: "SendRequest",
            cause: cause.into(),
        }
    }
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "client error ({})", self.kind)
    }
}

impl StdError for ClientError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(&*self.cause)
    }
}

struct Idle {
    conn: Box<Conn>,
    /// tokio's clock (the sweeper's timer's), paused in tests.
    since: Instant,
}

struct Shared {
    connector: HttpConnector,
    idle_timeout: Duration,
    idle: Mutex<Pool>,
    /// The process the pool was built in: a forked child must not close its sockets.
    pid: u32,
}

#[derive(Default)]
struct Pool {
    /// Per origin, oldest first. A list, not a hash map: a transport talks to the few
    /// origins of its targets (redirects stay within one), and hashing an `Authority`
    /// (SipHash, a byte at a time) cost more per request than comparing a few.
    by_origin: Vec<(Authority, Vec<Idle>)>,
    /// A sweeper task is running (or spawned) for this pool.
    swept: bool,
    /// The running sweeper's waker, once it has swept: every idle connection is polled
    /// with it last, so the server closing one wakes the sweeper.
    sweeper: Option<Waker>,
    /// Sweeps so far (the tests count the sweeper's wake-ups).
    #[cfg(test)]
    sweeps: usize,
}

impl Pool {
    /// The idle connections to `origin`, if it has a list.
    fn idle_to(&mut self, origin: &Authority) -> Option<&mut Vec<Idle>> {
        self.by_origin
            .iter_mut()
            .find(|(known, _)| known == origin)
            .map(|(_, list)| list)
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        let pool = self.idle.get_mut().unwrap_or_else(|p| p.into_inner());
        if std::process::id() != self.pid {
            // A forked child: closing these through tokio would deregister them from the
            // epoll instance it shares with the parent, whose connections they still are;
            // the waker is a task of the parent's runtime, whose threads are gone.
            std::mem::forget(std::mem::take(&mut pool.by_origin));
            std::mem::forget(pool.sweeper.take());
        } else if let Some(sweeper) = pool.sweeper.take() {
            sweeper.wake(); // it finds the pool gone and ends
        }
    }
}

impl Shared {
    /// The most recently idled live connection to `origin`, if any.
    fn take(&self, origin: &Authority) -> Option<Box<Conn>> {
        loop {
            let mut idle = {
                let mut pool = self.idle.lock().unwrap_or_else(|p| p.into_inner());
                let list = pool.idle_to(origin)?;
                let idle = list.pop()?;
                if idle.since.elapsed() > self.idle_timeout {
                    // LIFO: every older one has expired too.
                    let expired = std::mem::take(list);
                    drop(pool);
                    drop(expired);
                    return None;
                }
                idle
            };
            if idle.conn.poll_idle() {
                return Some(idle.conn);
            }
        }
    }

    /// Pool `conn` (its last response read whole, keep-alive) if it can take another
    /// request: polled with the sweeper's waker once there is one, so the server closing
    /// it wakes the sweeper. Not so (closed, an unread rest): dropped, closing it.
    fn put(self: &Arc<Self>, origin: Authority, mut conn: Box<Conn>) {
        let now = Instant::now();
        let mut pool = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        let waker = pool.sweeper.as_ref().unwrap_or(Waker::noop());
        if !conn.poll_idle_for(waker) {
            drop(pool);
            drop(conn);
            return;
        }
        let sweeper = if pool.swept {
            None
        } else {
            // Outside a runtime nothing can be spawned: the next `put` tries again.
            let runtime = tokio::runtime::Handle::try_current().ok();
            pool.swept = runtime.is_some();
            runtime
        };
        let at = match pool
            .by_origin
            .iter()
            .position(|(known, _)| *known == origin)
        {
            Some(at) => at,
            None => {
                pool.by_origin.push((origin, Vec::new()));
                pool.by_origin.len() - 1
            }
        };
        let list = &mut pool.by_origin[at].1;
        // Oldest first: drop the expired ones while here.
        let expired = list
            .iter()
            .take_while(|idle| now.duration_since(idle.since) > self.idle_timeout)
            .count();
        let expired: Vec<Idle> = list.drain(..expired).collect();
        list.push(Idle { conn, since: now });
        drop(pool);
        drop(expired);
        if let Some(runtime) = sweeper {
            // No waiter to tell of a panic (the extension's spawns go through
            // `bindings::runtime` for that): a panicking sweeper only ends, see `Sweeper`.
            #[allow(clippy::disallowed_methods)]
            runtime.spawn(sweep(Arc::downgrade(self)));
        }
    }

    /// Close the idle connections past the timeout or closed by the server, and poll the
    /// others with `waker`; `None` once none is left (the sweeper then ends, and the next
    /// `put` spawns another), else when to sweep again (`None` inside: no deadline). The
    /// `first` sweep of a sweeper does not end it: the connection whose `put` spawned it
    /// may be out on the next request already (it then stays one idle timeout).
    fn sweep(&self, waker: &Waker, first: bool) -> Option<Option<Instant>> {
        if std::process::id() != self.pid {
            return None; // a forked child: the parent's sockets, see `Drop`
        }
        let now = Instant::now();
        let mut closed = Vec::new();
        let mut earliest: Option<Instant> = None;
        let mut pool = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        pool.by_origin.retain_mut(|(_, list)| {
            for mut idle in std::mem::take(list) {
                // Expired at its deadline, not after: the timer fires at it.
                if now.duration_since(idle.since) < self.idle_timeout
                    && idle.conn.poll_idle_for(waker)
                {
                    list.push(idle);
                } else {
                    closed.push(idle);
                }
            }
            // Oldest first: the first one expires first.
            if let Some(deadline) = list
                .first()
                .and_then(|i| i.since.checked_add(self.idle_timeout))
            {
                earliest = Some(earliest.map_or(deadline, |e| e.min(deadline)));
            }
            !list.is_empty()
        });
        let more = !pool.by_origin.is_empty() || first;
        if pool.by_origin.is_empty() {
            earliest = now.checked_add(self.idle_timeout);
        }
        // Decided under the lock `put` checks it under: no connection is left unswept.
        pool.swept = more;
        match &pool.sweeper {
            Some(known) if more && known.will_wake(waker) => {}
            _ => pool.sweeper = more.then(|| waker.clone()),
        }
        #[cfg(test)]
        {
            pool.sweeps += 1;
        }
        drop(pool);
        drop(closed);
        more.then_some(earliest)
    }

    async fn connect(&self, uri: &Uri) -> Result<Box<Conn>, ClientError> {
        let io = self
            .connector
            .clone()
            .call(uri.clone())
            .await
            .map_err(ClientError::connect)?;
        // Recorded for a forked child to close its copy (`fork_fds`).
        Ok(Box::new(Conn::new(PooledSocket::new(io.into_inner()))))
    }
}

/// The sweeper of one pool: sweeps when first polled, then when an idle connection has
/// news (the server closed it) or at the earliest idle deadline; ends when the pool holds
/// no idle connection or is gone.
async fn sweep(pool: Weak<Shared>) {
    let _sweeper = Sweeper(pool.clone());
    let mut timer = pin!(tokio::time::sleep(Duration::ZERO));
    let mut first = true;
    poll_fn(|cx| loop {
        let Some(shared) = pool.upgrade() else {
            return Poll::Ready(());
        };
        let Some(earliest) = shared.sweep(cx.waker(), std::mem::take(&mut first)) else {
            return Poll::Ready(());
        };
        drop(shared);
        let Some(deadline) = earliest else {
            return Poll::Pending; // no deadline: only a connection's news wakes it
        };
        timer.as_mut().reset(deadline);
        if timer.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
    })
    .await;
}

/// Lets the next `put` spawn a sweeper if this one panicked.
struct Sweeper(Weak<Shared>);

impl Drop for Sweeper {
    fn drop(&mut self) {
        if std::thread::panicking() {
            if let Some(shared) = self.0.upgrade() {
                let mut pool = shared.idle.lock().unwrap_or_else(|p| p.into_inner());
                pool.swept = false;
                pool.sweeper = None;
            }
        }
    }
}

/// The pool of one transport: HTTP/1.1 connections to `http://` origins.
#[derive(Clone)]
pub struct H1Client {
    shared: Arc<Shared>,
}

impl fmt::Debug for H1Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("H1Client").finish_non_exhaustive()
    }
}

impl H1Client {
    /// `connector` opens the sockets (timeout, nodelay, keep-alive); idle connections
    /// older than `idle_timeout` are not reused.
    pub fn new(connector: HttpConnector, idle_timeout: Duration) -> Self {
        Self {
            shared: Arc::new(Shared {
                connector,
                idle_timeout,
                idle: Mutex::new(Pool::default()),
                pid: std::process::id(),
            }),
        }
    }

    /// Send `request` (an absolute `http://` URI) and return once the response headers
    /// arrived; the body reads the connection from then on.
    pub async fn send(
        &self,
        mut request: Request<Bytes>,
    ) -> Result<Response<PooledBody>, ClientError> {
        // Taken, not cloned: the request goes out with the URI in origin form.
        let uri = std::mem::take(request.uri_mut());
        let Some(origin) = uri.authority().cloned() else {
            return Err(ClientError::send("request URI has no host"));
        };
        // hyper-util's client: a `host` header from the URI, the URI in origin form.
        if let hyper::header::Entry::Vacant(entry) = request.headers_mut().entry(HOST) {
            entry.insert(host_header(&origin).map_err(ClientError::send)?);
        }
        let path = uri
            .path_and_query()
            .cloned()
            .unwrap_or_else(|| PathAndQuery::from_static("/"));
        *request.uri_mut() = Uri::from(path);
        let reused = self.shared.take(&origin);
        self.send_via(reused, origin, &uri, request).await
    }

    /// Send on `reused` if it can still take a request, else on a fresh connection.
    async fn send_via(
        &self,
        reused: Option<Box<Conn>>,
        origin: Authority,
        uri: &Uri,
        request: Request<Bytes>,
    ) -> Result<Response<PooledBody>, ClientError> {
        // Closed by the server since it was pooled: the request has not gone out on it.
        let mut conn = match reused.and_then(|mut conn| conn.poll_idle().then_some(conn)) {
            Some(conn) => conn,
            // Boxed: opening a connection is the rare case, and its state (the
            // connector's) would otherwise make every send's future larger.
            None => Box::pin(self.shared.connect(uri)).await?,
        };
        let head = conn.exchange(request).await.map_err(ClientError::send)?;
        Ok(self.respond(head, conn, origin))
    }

    fn respond(&self, head: Head, conn: Box<Conn>, origin: Authority) -> Response<PooledBody> {
        let Head {
            status,
            version,
            headers,
            framing,
            keep_alive,
        } = head;
        let mut body = PooledBody {
            framing,
            lease: Some(Lease {
                conn,
                origin,
                pool: Arc::clone(&self.shared),
                keep_alive,
            }),
        };
        if framing == Framing::Done {
            body.release();
        }
        let mut response = Response::new(body);
        *response.status_mut() = status;
        *response.version_mut() = version;
        *response.headers_mut() = headers;
        response
    }
}

/// The `host` header hyper-util's client sends for `origin` (the port unless 80).
pub fn host_header(origin: &Authority) -> Result<HeaderValue, hyper::http::Error> {
    let host = match origin.port_u16() {
        Some(port) if port != 80 => format!("{}:{port}", origin.host()),
        _ => origin.host().to_owned(),
    };
    Ok(HeaderValue::try_from(host)?)
}

/// A connection lent to one response body, and where it goes back.
struct Lease {
    conn: Box<Conn>,
    origin: Authority,
    pool: Arc<Shared>,
    /// The response lets the connection take another request after it.
    keep_alive: bool,
}

/// A response body decoded from its connection's buffer as it is read, which gives the
/// connection back to the pool at its end; dropped before the end, it closes it.
pub struct PooledBody {
    framing: Framing,
    /// `None` once the body ended or failed. Held inline: a box was one more allocation
    /// per request.
    lease: Option<Lease>,
}

impl PooledBody {
    /// A body already at its end, with no connection.
    pub fn ended() -> Self {
        Self {
            framing: Framing::Done,
            lease: None,
        }
    }

    /// The body read its end: pool the connection if it can take another request, else
    /// close it.
    fn release(&mut self) {
        if let Some(lease) = self.lease.take() {
            let Lease {
                conn,
                origin,
                pool,
                keep_alive,
            } = lease;
            if keep_alive {
                pool.put(origin, conn);
            }
        }
    }
}

impl Body for PooledBody {
    type Data = Bytes;
    type Error = H1Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, H1Error>>> {
        let this = &mut *self;
        let Some(lease) = this.lease.as_mut() else {
            return Poll::Ready(None);
        };
        let frame = match lease.conn.poll_frame(&mut this.framing, cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(frame) => frame,
        };
        match frame {
            Ok(Some(data)) => {
                if this.framing == Framing::Done {
                    this.release();
                }
                Poll::Ready(Some(Ok(Frame::data(data))))
            }
            Ok(None) => {
                this.release();
                Poll::Ready(None)
            }
            Err(err) => {
                // Closed: its framing cannot be trusted past this.
                this.lease = None;
                this.framing = Framing::Done;
                Poll::Ready(Some(Err(err)))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.framing == Framing::Done
    }

    fn size_hint(&self) -> SizeHint {
        match self.framing {
            Framing::Length(left) => SizeHint::with_exact(left),
            Framing::Done => SizeHint::with_exact(0),
            _ => SizeHint::default(),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::disallowed_methods)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    const IDLE: Duration = Duration::from_secs(90);

    fn client(idle: Duration) -> H1Client {
        H1Client::new(HttpConnector::new(), idle)
    }

    /// A server answering every request on each connection with `reply(n)` (n counts
    /// requests over all connections), closing a connection 5 ms after it when `close`
    /// says so; returns its URL and the count of accepted connections.
    async fn server(
        reply: fn(usize) -> &'static [u8],
        close: fn(usize) -> bool,
    ) -> (String, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/v1/x", listener.local_addr().unwrap());
        let accepted = Arc::new(AtomicUsize::new(0));
        let requests = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&accepted);
        tokio::spawn(async move {
            loop {
                let (mut socket, _) = listener.accept().await.unwrap();
                counter.fetch_add(1, Ordering::SeqCst);
                let requests = Arc::clone(&requests);
                tokio::spawn(async move {
                    let mut seen = Vec::new();
                    let mut buf = [0u8; 4096];
                    loop {
                        while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                            match socket.read(&mut buf).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => seen.extend_from_slice(&buf[..n]),
                            }
                        }
                        // Requests here carry no body.
                        let end = seen.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
                        seen.drain(..end);
                        let n = requests.fetch_add(1, Ordering::SeqCst);
                        if socket.write_all(reply(n)).await.is_err() {
                            return;
                        }
                        if close(n) {
                            // Closed while idle, after the client took the response.
                            tokio::time::sleep(Duration::from_millis(5)).await;
                            return;
                        }
                    }
                });
            }
        });
        (url, accepted)
    }

    const OK: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
    const CHUNKED: &[u8] =
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nab\r\n2\r\ncd\r\n0\r\n\r\n";

    fn get(url: &str) -> Request<Bytes> {
        let mut request = Request::new(Bytes::new());
        *request.uri_mut() = url.parse().unwrap();
        request
    }

    async fn body_of(response: Response<PooledBody>) -> Bytes {
        use http_body_util::BodyExt;
        response.into_body().collect().await.unwrap().to_bytes()
    }

    fn idle_count(client: &H1Client) -> usize {
        let pool = client.shared.idle.lock().unwrap();
        pool.by_origin.iter().map(|(_, list)| list.len()).sum()
    }

    /// The newest idle connection to `origin`, taken without the checks `take` makes.
    fn pop_idle(client: &H1Client, origin: &Authority) -> Option<Idle> {
        let mut pool = client.shared.idle.lock().unwrap();
        pool.idle_to(origin)?.pop()
    }

    #[tokio::test]
    async fn a_read_body_gives_its_connection_back_for_the_next_request() {
        let (url, accepted) = server(|n| if n % 2 == 0 { OK } else { CHUNKED }, |_| false).await;
        let client = client(IDLE);
        for _ in 0..4 {
            let response = client.send(get(&url)).await.unwrap();
            let body = body_of(response).await;
            assert!(
                body.as_ref() == b"ok" || body.as_ref() == b"abcd",
                "{body:?}"
            );
            assert_eq!(idle_count(&client), 1);
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_body_dropped_before_its_end_closes_its_connection() {
        let (url, accepted) = server(|_| CHUNKED, |_| false).await;
        let client = client(IDLE);
        let response = client.send(get(&url)).await.unwrap();
        drop(response);
        assert_eq!(idle_count(&client), 0);
        let response = client.send(get(&url)).await.unwrap();
        assert_eq!(body_of(response).await.as_ref(), b"abcd");
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_connection_the_server_closed_is_not_reused() {
        let (url, accepted) = server(|_| OK, |_| true).await;
        let client = client(IDLE);
        for _ in 0..3 {
            let response = client.send(get(&url)).await.unwrap();
            assert_eq!(body_of(response).await.as_ref(), b"ok");
            assert_eq!(idle_count(&client), 1);
            // Let the server's close reach this side.
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn an_interim_response_is_skipped_and_its_connection_reused() {
        const INTERIM: &[u8] =
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
        let (url, accepted) = server(|_| INTERIM, |_| false).await;
        let client = client(IDLE);
        for _ in 0..2 {
            let response = client.send(get(&url)).await.unwrap();
            assert_eq!(response.status(), 200);
            assert_eq!(body_of(response).await.as_ref(), b"ok");
            assert_eq!(idle_count(&client), 1);
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_body_cut_short_fails_and_its_connection_is_not_reused() {
        const CUT: &[u8] = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nab";
        let (url, accepted) = server(|_| CUT, |_| true).await;
        let client = client(IDLE);
        for _ in 0..2 {
            use http_body_util::BodyExt;
            let response = client.send(get(&url)).await.unwrap();
            let err = response.into_body().collect().await.err().unwrap();
            assert_eq!(err.to_string(), "error reading a body from connection");
            assert_eq!(
                err.source().unwrap().to_string(),
                "end of file before message length reached"
            );
            assert_eq!(idle_count(&client), 0);
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn an_answer_that_is_not_http_is_a_parse_error() {
        const TLS: &[u8] = b"\x15\x03\x01\x00\x02\x02\x50";
        let (url, _) = server(|_| TLS, |_| true).await;
        let Err(err) = client(IDLE).send(get(&url)).await else {
            panic!("took TLS bytes for a response")
        };
        let cause = err.source().unwrap().downcast_ref::<H1Error>().unwrap();
        assert!(cause.is_parse(), "{cause}");
    }

    #[tokio::test]
    async fn connection_close_is_not_pooled() {
        const CLOSING: &[u8] =
            b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\nok";
        let (url, accepted) = server(|_| CLOSING, |_| true).await;
        let client = client(IDLE);
        for _ in 0..2 {
            let response = client.send(get(&url)).await.unwrap();
            assert_eq!(body_of(response).await.as_ref(), b"ok");
            assert_eq!(idle_count(&client), 0);
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn an_idle_connection_past_the_timeout_is_not_reused() {
        let (url, accepted) = server(|_| OK, |_| false).await;
        let client = client(Duration::from_millis(50));
        let response = client.send(get(&url)).await.unwrap();
        assert_eq!(body_of(response).await.as_ref(), b"ok");
        tokio::time::sleep(Duration::from_millis(80)).await;
        let response = client.send(get(&url)).await.unwrap();
        assert_eq!(body_of(response).await.as_ref(), b"ok");
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
    }

    fn sweeping(client: &H1Client) -> bool {
        client.shared.idle.lock().unwrap().swept
    }

    /// Wait up to `limit` for the pool to hold no idle connection.
    async fn until_empty(client: &H1Client, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while idle_count(client) > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        idle_count(client) == 0
    }

    #[tokio::test]
    async fn idle_connections_the_server_closed_are_closed_without_another_request() {
        let (url, accepted) = server(|_| OK, |_| true).await;
        let client = client(IDLE);
        let responses = send_at_once(&client, &url, 3).await;
        assert_eq!(responses, 3);
        assert_eq!(idle_count(&client), 3);
        assert_eq!(accepted.load(Ordering::SeqCst), 3);
        // The server's close wakes the sweeper (its next deadline is 90 s away).
        assert!(until_empty(&client, Duration::from_millis(2500)).await);
        // Nothing left: the sweeper ended, and the next idle connection starts another.
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!sweeping(&client));
        let response = client.send(get(&url)).await.unwrap();
        assert_eq!(body_of(response).await.as_ref(), b"ok");
        assert!(sweeping(&client));
        assert!(until_empty(&client, Duration::from_millis(2500)).await);
    }

    #[tokio::test]
    async fn an_idle_connection_past_the_timeout_is_closed_without_another_request() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/v1/x", listener.local_addr().unwrap());
        let (closed, seen_closed) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 4096];
            let mut seen = Vec::new();
            while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = socket.read(&mut buf).await.unwrap();
                seen.extend_from_slice(&buf[..n]);
            }
            socket.write_all(OK).await.unwrap();
            // Kept open by the server: only the client's close ends this read.
            let _ = closed.send(socket.read(&mut buf).await.ok());
        });
        let client = client(Duration::from_millis(100));
        let response = client.send(get(&url)).await.unwrap();
        assert_eq!(body_of(response).await.as_ref(), b"ok");
        assert_eq!(idle_count(&client), 1);
        let read = tokio::time::timeout(Duration::from_secs(1), seen_closed).await;
        assert_eq!(read.unwrap().unwrap(), Some(0), "the client closed it");
        assert_eq!(idle_count(&client), 0);
    }

    fn sweeps(client: &H1Client) -> usize {
        client.shared.idle.lock().unwrap().sweeps
    }

    /// Let the spawned sweeper run (a few turns of this current-thread runtime).
    async fn settle() {
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test]
    async fn the_sweeper_sleeps_until_the_earliest_idle_deadline() {
        let (url, accepted) = server(|_| OK, |_| false).await;
        let client = client(IDLE);
        let response = client.send(get(&url)).await.unwrap();
        assert_eq!(body_of(response).await.as_ref(), b"ok");
        settle().await;
        assert_eq!(sweeps(&client), 1); // when it started
                                        // Taking and giving back its connection does not wake it.
        for _ in 0..20 {
            let response = client.send(get(&url)).await.unwrap();
            assert_eq!(body_of(response).await.as_ref(), b"ok");
        }
        settle().await;
        assert_eq!(sweeps(&client), 1);
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
        tokio::time::pause();
        // Not woken before the idle timeout (a periodic sweeper would have been).
        tokio::time::sleep(IDLE - Duration::from_secs(1)).await;
        settle().await;
        assert_eq!((sweeps(&client), idle_count(&client)), (1, 1));
        // At the deadline: closed, and nothing left to sweep.
        tokio::time::sleep(Duration::from_secs(2)).await;
        settle().await;
        assert_eq!(idle_count(&client), 0);
        assert!(!sweeping(&client));
        assert!(sweeps(&client) <= 3, "{}", sweeps(&client));
    }

    #[tokio::test]
    async fn each_idle_deadline_wakes_the_sweeper_once() {
        let (url, accepted) = server(|_| OK, |_| false).await;
        let client = client(IDLE);
        assert_eq!(send_at_once(&client, &url, 2).await, 2);
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
        settle().await;
        assert_eq!(sweeps(&client), 1);
        tokio::time::pause();
        // The newer connection idles again 30 s later: its deadline is 30 s after the other's.
        let origin = url.parse::<Uri>().unwrap().authority().unwrap().clone();
        let newer = pop_idle(&client, &origin).unwrap();
        tokio::time::sleep(Duration::from_secs(30)).await;
        client.shared.put(origin, newer.conn);
        tokio::time::sleep(IDLE - Duration::from_secs(31)).await;
        settle().await;
        assert_eq!((sweeps(&client), idle_count(&client)), (1, 2));
        // The older one's deadline: it is closed (closing it may wake the sweeper once
        // more), then nothing until the newer one's.
        tokio::time::sleep(Duration::from_secs(2)).await;
        settle().await;
        let after_first = sweeps(&client);
        assert!((2..=3).contains(&after_first), "{after_first}");
        assert_eq!(idle_count(&client), 1);
        tokio::time::sleep(Duration::from_secs(27)).await;
        settle().await;
        assert_eq!((sweeps(&client), idle_count(&client)), (after_first, 1));
        tokio::time::sleep(Duration::from_secs(2)).await;
        settle().await;
        assert_eq!(idle_count(&client), 0);
        assert!(!sweeping(&client));
    }

    #[tokio::test]
    async fn the_sweeper_ends_with_its_pool() {
        let (url, _) = server(|_| OK, |_| false).await;
        let client = client(Duration::from_millis(20));
        let response = client.send(get(&url)).await.unwrap();
        assert_eq!(body_of(response).await.as_ref(), b"ok");
        let pool = Arc::downgrade(&client.shared);
        drop(client);
        // Only the sweeper could keep the pool alive (it holds it weakly).
        assert!(pool.upgrade().is_none());
    }

    /// Send `n` requests at once and read their bodies; returns how many answered `ok`.
    async fn send_at_once(client: &H1Client, url: &str, n: usize) -> usize {
        let mut tasks = Vec::new();
        for _ in 0..n {
            let client = client.clone();
            let url = url.to_owned();
            tasks.push(tokio::spawn(async move {
                let response = client.send(get(&url)).await.unwrap();
                body_of(response).await
            }));
        }
        let mut ok = 0;
        for task in tasks {
            if task.await.unwrap().as_ref() == b"ok" {
                ok += 1;
            }
        }
        ok
    }

    #[tokio::test]
    async fn a_request_unsent_on_a_reused_connection_goes_out_on_a_fresh_one() {
        let (url, accepted) = server(|_| OK, |_| true).await;
        let client = client(IDLE);
        let response = client.send(get(&url)).await.unwrap();
        assert_eq!(body_of(response).await.as_ref(), b"ok");
        // Taken without the check `take` makes (and before the sweeper sees the close):
        // the server closes it, and the send sees the close before writing on it.
        let uri: Uri = url.parse().unwrap();
        let origin = uri.authority().unwrap().clone();
        let stale = pop_idle(&client, &origin).unwrap().conn;
        tokio::time::sleep(Duration::from_millis(30)).await;
        let mut request = get(&url);
        *request.uri_mut() = Uri::from_static("/v1/x");
        let response = client
            .send_via(Some(stale), origin, &uri, request)
            .await
            .unwrap();
        assert_eq!(body_of(response).await.as_ref(), b"ok");
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
    }

    /// A server that reads a request's head only, answers 413 at once, then closes the
    /// connection (`close`: the unread body makes that a reset) or keeps it open without
    /// reading on; its URL.
    async fn early_answer_server(close: bool) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/v1/x", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut seen = Vec::new();
            let mut buf = [0u8; 4096];
            while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = socket.read(&mut buf).await.unwrap();
                seen.extend_from_slice(&buf[..n]);
            }
            let answer = b"HTTP/1.1 413 Payload Too Large\r\nconnection: close\r\ncontent-length: 4\r\n\r\nbig!";
            socket.write_all(answer).await.unwrap();
            if close {
                tokio::time::sleep(Duration::from_millis(20)).await;
                drop(socket);
            } else {
                tokio::time::sleep(Duration::from_secs(30)).await;
            }
        });
        url
    }

    fn large_post(url: &str) -> Request<Bytes> {
        let mut request = get(url);
        *request.method_mut() = hyper::Method::POST;
        *request.body_mut() = Bytes::from(vec![b'x'; 16 << 20]);
        request
    }

    #[tokio::test]
    async fn an_answer_before_the_body_is_written_is_heard_even_after_a_reset() {
        for close in [true, false] {
            let url = early_answer_server(close).await;
            let client = client(IDLE);
            let response =
                tokio::time::timeout(Duration::from_secs(10), client.send(large_post(&url)))
                    .await
                    .unwrap() // the early answer arrives without waiting for the body to go out
                    .unwrap();
            assert_eq!(response.status(), 413);
            assert_eq!(body_of(response).await.as_ref(), b"big!");
            assert_eq!(idle_count(&client), 0, "answered early: not reused");
        }
    }

    #[tokio::test]
    async fn refused_connect_reads_as_hyper_util_worded_it() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        drop(listener);
        let Err(err) = client(IDLE).send(get(&url)).await else {
            panic!("connected to a closed port")
        };
        assert_eq!(err.to_string(), "client error (Connect)");
        assert_eq!(err.source().unwrap().to_string(), "tcp connect error");
    }
}
