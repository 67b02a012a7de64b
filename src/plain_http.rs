//! Chat requests to plain-http targets (local OpenAI-compatible servers, the mock, the
//! benchmarks) over HTTP/1.1 connections of our own ([`crate::h1_conn`]), read in the
//! requesting task, with a pool of our own ([`crate::h1_pool`]), without reqwest's
//! per-request layers (retry clone, redirect and timeout wrappers, its connector) and
//! with a smaller read buffer (benches/README.md, h1-transport and h1own). What reqwest
//! did on this path is done here explicitly and the same way: its default headers,
//! gzip/br decompression. The response goes back as it is
//! ([`crate::http_response::HttpResponse::Plain`]), read and worded as reqwest's is.
//! Same-origin redirects and the read timeout are the caller's (`Transport::execute_chat`,
//! [`crate::read_timeout`]).

use std::convert::Infallible;
use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use hyper_util::client::legacy::connect::HttpConnector;
use reqwest::header::{
    HeaderMap, HeaderValue, ACCEPT, ACCEPT_ENCODING, CONTENT_ENCODING, CONTENT_TYPE, HOST,
    USER_AGENT,
};
use reqwest::Method;
use tower_http::decompression::{Decompression, DecompressionBody};
use tower_service::Service;

use crate::h1_pool::{BoxError, ClientError, H1Client, PooledBody};

/// TCP keep-alive probes, as reqwest's defaults (idle 15 s, every 15 s, 3 tries).
const TCP_KEEPALIVE: Duration = Duration::from_secs(15);
const TCP_KEEPALIVE_RETRIES: u32 = 3;

/// The `accept-encoding` [`Decompression`] adds for gzip and br (tower-http's wording),
/// put in a target's prepared headers so no request inserts it.
const ACCEPT_GZIP_BR: &str = "gzip,br";

/// The pooled plain-http client of one transport.
#[derive(Clone)]
pub struct PlainClient {
    client: H1Client,
    /// The `user-agent` reqwest's client added to every request when absent. Not a
    /// header map: a transport (this included) is cloned for every request.
    user_agent: &'static str,
}

impl fmt::Debug for PlainClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PlainClient").finish_non_exhaustive()
    }
}

/// Why an exchange failed before the response headers arrived.
#[derive(Debug)]
pub enum SendError {
    /// The connection's error (connect, write, parse, closed connection, ...).
    Client(ClientError),
}

impl PlainClient {
    /// `pool_idle` and `connect` as the reqwest client of the same transport has them.
    pub fn new(pool_idle: Duration, connect: Option<Duration>, user_agent: &'static str) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(connect);
        connector.set_keepalive(Some(TCP_KEEPALIVE));
        connector.set_keepalive_interval(Some(TCP_KEEPALIVE));
        connector.set_keepalive_retries(Some(TCP_KEEPALIVE_RETRIES));
        let client = H1Client::new(connector, pool_idle);
        Self { client, user_agent }
    }

    /// Add what reqwest's client added to every request when absent (`Accept` included):
    /// for `headers` not made from [`PostHeaders`].
    pub fn add_defaults(&self, headers: &mut HeaderMap) {
        for (name, value) in [
            (ACCEPT, "*/*"),
            (CONTENT_TYPE, "application/json"),
            (USER_AGENT, self.user_agent),
        ] {
            if !headers.contains_key(&name) {
                headers.insert(name, HeaderValue::from_static(value));
            }
        }
    }

    /// Send a request to `uri` (`http://`) and return once the response headers arrived:
    /// `headers` as they go out (with [`Self::add_defaults`] or from [`PostHeaders`]),
    /// but `host` and `accept-encoding` ([`ACCEPT_GZIP_BR`]), added when absent.
    pub async fn execute(
        &self,
        method: Method,
        uri: hyper::Uri,
        mut headers: HeaderMap,
        body: Option<Bytes>,
    ) -> Result<hyper::Response<PlainBody>, SendError> {
        if let hyper::header::Entry::Vacant(entry) = headers.entry(ACCEPT_ENCODING) {
            entry.insert(HeaderValue::from_static(ACCEPT_GZIP_BR));
        }
        let mut request = hyper::Request::new(body.unwrap_or_default());
        *request.method_mut() = method;
        *request.uri_mut() = uri;
        *request.headers_mut() = headers;
        // Boxed: held inline it made every open stream's task ~1.7 KB larger for as long
        // as the stream lives (S4), to save one allocation per request.
        let response = Box::pin(self.client.send(request))
            .await
            .map_err(SendError::Client)?;
        if !response.headers().contains_key(CONTENT_ENCODING) {
            return Ok(response.map(PlainBody::Identity));
        }
        // The rare case, boxed out of every exchange's future.
        Ok(Box::pin(decoded(response)).await)
    }
}

/// A plain-http response's body: the pooled connection's as it is, or through tower-http's
/// decompression when the response names a coding. That one is boxed: its state is ~350
/// bytes, and a response is moved several times on its way to its reader.
pub enum PlainBody {
    Identity(PooledBody),
    Decoded(Pin<Box<DecompressionBody<PooledBody>>>),
}

impl Body for PlainBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.get_mut() {
            Self::Identity(body) => Pin::new(body)
                .poll_frame(cx)
                .map(|frame| frame.map(|frame| frame.map_err(BoxError::from))),
            Self::Decoded(body) => body.as_mut().poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::Identity(body) => body.is_end_stream(),
            Self::Decoded(body) => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Identity(body) => body.size_hint(),
            Self::Decoded(body) => body.size_hint(),
        }
    }
}

/// `response` (its `content-encoding` set) as reqwest's `gzip` and `brotli` features read
/// it: gzip and br decoded (their `content-encoding` and `content-length` removed), any
/// other coding left as it is.
async fn decoded(response: hyper::Response<PooledBody>) -> hyper::Response<PlainBody> {
    let Ok(response) = decompressing(Answered(Some(response)))
        .call(hyper::Request::new(()))
        .await;
    response.map(|body| PlainBody::Decoded(Box::pin(body)))
}

/// gzip and br advertised and decoded, as reqwest's `gzip` and `brotli` features do.
fn decompressing<S>(inner: S) -> Decompression<S> {
    Decompression::new(inner)
        .no_deflate()
        .no_zstd()
        .gzip(true)
        .br(true)
}

/// A response already received, as the service [`Decompression`] wraps: it answers its
/// one call with it.
struct Answered(Option<hyper::Response<PooledBody>>);

impl Service<hyper::Request<()>> for Answered {
    type Response = hyper::Response<PooledBody>;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _request: hyper::Request<()>) -> Self::Future {
        // `decoded` calls a new service once; a second call (none is made) would get an
        // empty body, with no connection behind it, rather than a panic.
        debug_assert!(self.0.is_some(), "a received response is answered once");
        let response = self
            .0
            .take()
            .unwrap_or_else(|| hyper::Response::new(PooledBody::ended()));
        std::future::ready(Ok(response))
    }
}

/// A target's headers for a chat POST to `origin` over this path, made once: the
/// target's headers with what every such request adds when absent (reqwest's defaults,
/// `Accept: */*`, the `accept-encoding` [`Decompression`] adds, `host` as hyper-util's
/// client sets it), so a request clones them and inserts nothing (a configured `Host`
/// wins, as on the https path: a proxy routing by it). `content-length` is the
/// connection's to write ([`crate::h1_conn`]), into the request's head.
#[derive(Debug)]
pub struct PostHeaders {
    headers: HeaderMap,
}

impl PostHeaders {
    pub fn new(
        headers: &HeaderMap,
        user_agent: &'static str,
        origin: &hyper::http::uri::Authority,
    ) -> Self {
        let mut prepared = HeaderMap::with_capacity(headers.len() + 6);
        for (name, value) in headers {
            prepared.append(name.clone(), value.clone());
        }
        let host = crate::h1_pool::host_header(origin).ok();
        for (name, value) in [
            (
                CONTENT_TYPE,
                Some(HeaderValue::from_static("application/json")),
            ),
            (USER_AGENT, Some(HeaderValue::from_static(user_agent))),
            (ACCEPT, Some(HeaderValue::from_static("*/*"))),
            (
                ACCEPT_ENCODING,
                Some(HeaderValue::from_static(ACCEPT_GZIP_BR)),
            ),
            (HOST, host),
        ] {
            if let (hyper::header::Entry::Vacant(entry), Some(value)) =
                (prepared.entry(name), value)
            {
                entry.insert(value);
            }
        }
        Self { headers: prepared }
    }

    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use http_body_util::Full;
    use reqwest::header::CONTENT_LENGTH;

    /// A service that answers with the headers of the request it got.
    struct Echo;

    impl Service<hyper::Request<()>> for Echo {
        type Response = hyper::Response<Full<Bytes>>;
        type Error = std::convert::Infallible;
        type Future = std::future::Ready<Result<Self::Response, Self::Error>>;

        fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, request: hyper::Request<()>) -> Self::Future {
            let mut response = hyper::Response::new(Full::new(Bytes::new()));
            *response.headers_mut() = request.headers().clone();
            std::future::ready(Ok(response))
        }
    }

    #[tokio::test]
    async fn prepared_headers_advertise_what_decompression_would_add() {
        let added = decompressing(Echo)
            .call(hyper::Request::new(()))
            .await
            .unwrap();
        let origin = hyper::http::uri::Authority::from_static("127.0.0.1:8080");
        let post = PostHeaders::new(&HeaderMap::new(), "ua", &origin);
        let prepared = post.headers();
        assert_eq!(
            prepared.get_all(ACCEPT_ENCODING).iter().collect::<Vec<_>>(),
            added
                .headers()
                .get_all(ACCEPT_ENCODING)
                .iter()
                .collect::<Vec<_>>(),
        );
        assert_eq!(prepared[HOST], "127.0.0.1:8080");
        assert_eq!(prepared[ACCEPT], "*/*");
        assert!(
            !prepared.contains_key(CONTENT_LENGTH),
            "the connection writes it"
        );
    }

    #[test]
    fn a_configured_header_wins_and_repeated_values_are_kept() {
        let mut headers = HeaderMap::new();
        headers.insert(HOST, HeaderValue::from_static("proxy.example"));
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        headers.append("x-tag", HeaderValue::from_static("a"));
        headers.append("x-tag", HeaderValue::from_static("b"));
        let origin = hyper::http::uri::Authority::from_static("127.0.0.1");
        headers.insert(CONTENT_LENGTH, HeaderValue::from_static("5"));
        let post = PostHeaders::new(&headers, "ua", &origin);
        let prepared = post.headers();
        assert_eq!(
            prepared[CONTENT_LENGTH], "5",
            "a configured one goes out as it is"
        );
        assert_eq!(prepared.get_all(HOST).iter().count(), 1);
        assert_eq!(prepared[HOST], "proxy.example");
        assert_eq!(prepared.get_all(ACCEPT).iter().count(), 1);
        assert_eq!(prepared[ACCEPT], "application/json");
        assert_eq!(prepared.get_all("x-tag").iter().count(), 2);
        assert_eq!(prepared[USER_AGENT], "ua");
        assert_eq!(prepared[CONTENT_TYPE], "application/json");
    }
}
