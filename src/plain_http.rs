//! Chat requests to plain-http targets (local OpenAI-compatible servers, the mock, the
//! benchmarks) through hyper-util's pooled HTTP/1.1 client, without reqwest's
//! per-request layers (retry clone, redirect and timeout wrappers, its connector) and
//! with a smaller read buffer: ~5 KB less per open stream (benches/README.md,
//! h1-transport). What reqwest did on this path is done here explicitly and the same
//! way: its default headers, gzip/br decompression; the response goes back as a
//! `reqwest::Response`, so reading, draining and errors downstream are unchanged.
//! Same-origin redirects and the read timeout are the caller's (`Transport::execute_chat`,
//! [`crate::read_timeout`]).

use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, CONTENT_TYPE, USER_AGENT};
use reqwest::Method;
use tower_http::decompression::Decompression;
use tower_service::Service;

/// TCP keep-alive probes, as reqwest's defaults (idle 15 s, every 15 s, 3 tries).
const TCP_KEEPALIVE: Duration = Duration::from_secs(15);
const TCP_KEEPALIVE_RETRIES: u32 = 3;

/// Each connection's read buffer. hyper's default (8 KB, growing) costs ~2 KB more per
/// open stream; 2 KB reads measured no more CPU per chunk (S2) or per request (S1), 1 KB
/// ~10% more per chunk. SSE events and usual chat answers fit in a few reads.
const READ_BUF_BYTES: usize = 2048;

/// The pooled plain-http client of one transport.
#[derive(Clone)]
pub struct PlainClient {
    client: Client<HttpConnector, Full<Bytes>>,
    /// What reqwest's client added to every request when absent.
    defaults: HeaderMap,
}

impl fmt::Debug for PlainClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PlainClient").finish_non_exhaustive()
    }
}

/// Why an exchange failed before the response headers arrived.
#[derive(Debug)]
pub enum SendError {
    /// hyper-util's error (connect, write, parse, closed connection, ...).
    Client(hyper_util::client::legacy::Error),
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
        let mut builder = Client::builder(TokioExecutor::new());
        builder
            .timer(TokioTimer::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(pool_idle);
        builder.http1_read_buf_exact_size(READ_BUF_BYTES);
        let client = builder.build(connector);
        let mut defaults = HeaderMap::with_capacity(3);
        defaults.insert(ACCEPT, HeaderValue::from_static("*/*"));
        defaults.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        defaults.insert(USER_AGENT, HeaderValue::from_static(user_agent));
        Self { client, defaults }
    }

    /// Send a request to `uri` (`http://`) and return once the response headers arrived.
    pub async fn execute(
        &self,
        method: Method,
        uri: hyper::Uri,
        headers: HeaderMap,
        body: Option<Bytes>,
    ) -> Result<reqwest::Response, SendError> {
        let mut request = hyper::Request::new(Full::new(body.unwrap_or_default()));
        *request.method_mut() = method;
        *request.uri_mut() = uri;
        *request.headers_mut() = headers;
        let headers = request.headers_mut();
        for (name, value) in &self.defaults {
            if !headers.contains_key(name) {
                headers.insert(name.clone(), value.clone());
            }
        }
        // gzip and br advertised and decoded, as reqwest's `gzip` and `brotli` features do.
        // No `poll_ready` first: hyper-util's client is always ready (its pool waits inside
        // the call).
        let pending = Decompression::new(&self.client)
            .no_deflate()
            .no_zstd()
            .gzip(true)
            .br(true)
            .call(request);
        let response = pending.await.map_err(SendError::Client)?;
        Ok(reqwest::Response::from(response.map(reqwest::Body::wrap)))
    }
}
