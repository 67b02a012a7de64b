//! The pooled HTTP transport: one reqwest client per fastrouter client (keep-alive,
//! HTTP/2 by ALPN over TLS, rustls with the ring provider), timeouts, bounded bodies;
//! chat requests to plain-http targets with no proxy go through the leaner
//! [`PlainClient`] instead.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::{pin, Pin};
use std::sync::{Arc, Once};
use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{
    HeaderMap, HeaderName, HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE,
    LOCATION,
};
use reqwest::{Method, StatusCode};

use crate::diagnose;
use crate::error::{Error, ErrorKind, Result};
use crate::http_response::HttpResponse;
use crate::network::{NetworkOptions, Route};
use crate::plain_http::{PlainClient, PostHeaders};
use crate::read_timeout::ReadTimeout;

/// Largest response body accepted (non-streaming); a bigger one is an error, not an OOM.
pub const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

pub const USER_AGENT: &str = concat!("fastrouter/", env!("CARGO_PKG_VERSION"));

/// Timeouts, each optional. `attempt` bounds one HTTP exchange; `total` bounds a whole
/// chain of attempts (retries and failover included).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Timeouts {
    pub connect: Option<Duration>,
    pub read: Option<Duration>,
    pub first_token: Option<Duration>,
    /// Streams: the longest wait for progress after the first token.
    pub idle: Option<Duration>,
    pub attempt: Option<Duration>,
    pub total: Option<Duration>,
}

/// An API key that never prints.
#[derive(Clone)]
pub struct ApiKey(String);

impl ApiKey {
    pub fn new(key: impl Into<String>) -> Self {
        Self(key.into())
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

/// Everything needed to build a transport.
#[derive(Debug, Clone)]
pub struct TransportConfig {
    /// e.g. `https://openrouter.ai/api/v1` (no trailing slash needed).
    pub base_url: String,
    pub api_key: Option<ApiKey>,
    /// Sent on every request to OpenRouter (attribution headers, user defaults).
    pub headers: Vec<(String, String)>,
    pub timeouts: Timeouts,
    /// CA bundle, proxy and HTTP version policy (see [`crate::network`]).
    pub network: NetworkOptions,
    /// Other OpenAI-compatible endpoints, reached by chain entries `NAME::model`.
    pub backends: Vec<BackendConfig>,
}

/// Another OpenAI-compatible endpoint: its own URL, key and headers (OpenRouter's key
/// and headers are never sent to it).
#[derive(Debug, Clone)]
pub struct BackendConfig {
    pub name: String,
    pub base_url: String,
    pub api_key: Option<ApiKey>,
    pub headers: Vec<(String, String)>,
    /// The environment variable the key should have come from, for the error when absent.
    pub api_key_env: Option<String>,
}

/// Separates a backend's name from the model in a chain entry (`groq::llama-3.1-8b`).
pub const BACKEND_SEPARATOR: &str = "::";

/// The chat completions endpoint, relative to a base URL.
pub const CHAT_PATH: &str = "chat/completions";

/// The model id to send for a chain entry: `llama` for `groq::llama`, else the entry.
pub fn wire_model(entry: &str) -> &str {
    split_backend(entry).map_or(entry, |(_, model)| model)
}

/// `entry` split at its first [`BACKEND_SEPARATOR`], as `str::split_once` splits it,
/// without building a substring searcher per call (twice per request).
fn split_backend(entry: &str) -> Option<(&str, &str)> {
    let separator = BACKEND_SEPARATOR.as_bytes();
    let at = entry
        .as_bytes()
        .windows(separator.len())
        .position(|window| window == separator)?;
    Some((entry.get(..at)?, entry.get(at + separator.len()..)?))
}

/// Where one request goes: a base URL and the headers (key included) that go with it.
#[derive(Debug)]
struct Target {
    name: String,
    base_url: String,
    /// `{base_url}/chat/completions`, parsed once: every chat request goes there.
    chat_url: reqwest::Url,
    /// The same as a URI, for the plain-http client.
    chat_uri: hyper::Uri,
    headers: HeaderMap,
    /// For an `http://` target: `headers` with what the plain-http path adds to a POST
    /// (`PostHeaders`), made once instead of inserted per request.
    plain_headers: Option<PostHeaders>,
    has_key: bool,
    api_key_env: Option<String>,
}

impl Target {
    fn new(
        name: &str,
        base_url: &str,
        api_key: Option<&ApiKey>,
        pairs: &[(String, String)],
        api_key_env: Option<String>,
    ) -> Result<Self> {
        let mut base_url = base_url.trim_end_matches('/').to_owned();
        let mut parsed = reqwest::Url::parse(&base_url)
            .map_err(|err| invalid(format!("invalid base_url {base_url:?}: {err}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(invalid(format!(
                "base_url must be http or https, got {base_url:?}"
            )));
        }
        let basic_auth = take_credentials(&mut parsed);
        if basic_auth.is_some() {
            base_url = parsed.as_str().trim_end_matches('/').to_owned();
        }
        let mut headers = header_map(pairs)?;
        let has_key = match api_key {
            Some(ApiKey(key)) if !key.is_empty() => {
                // HeaderValue takes bytes >= 0x80 as opaque: a non-ASCII key would be sent
                // as raw bytes, so refuse it here, never echoing it.
                let bad = || {
                    invalid("api_key must be printable ASCII (OpenRouter keys look like sk-or-v1-...); it contains other characters")
                };
                if !key.bytes().all(|b| b.is_ascii_graphic() || b == b' ') {
                    return Err(bad());
                }
                let mut value =
                    HeaderValue::from_str(&format!("Bearer {key}")).map_err(|_| bad())?;
                value.set_sensitive(true);
                headers.insert(AUTHORIZATION, value);
                true
            }
            _ => {
                if let Some(value) = basic_auth {
                    headers.insert(AUTHORIZATION, value);
                }
                false
            }
        };
        let chat_url = reqwest::Url::parse(&format!("{base_url}/{CHAT_PATH}"))
            .map_err(|err| invalid(format!("invalid base_url {base_url:?}: {err}")))?;
        let chat_uri: hyper::Uri = chat_url
            .as_str()
            .parse()
            .map_err(|_| invalid(format!("invalid base_url {base_url:?}")))?;
        let plain_headers = match chat_uri.authority() {
            Some(origin) if chat_uri.scheme_str() == Some("http") => {
                Some(PostHeaders::new(&headers, USER_AGENT, origin))
            }
            _ => None,
        };
        Ok(Self {
            name: name.to_owned(),
            base_url,
            chat_url,
            chat_uri,
            headers,
            plain_headers,
            has_key,
            api_key_env,
        })
    }
}

/// A base URL's `user:password@`, taken out of it (so it shows in no URL, repr or error)
/// and returned as the `Authorization: Basic` value reqwest sent for it: used when the
/// target has no key (a local server behind a proxy asking for basic auth).
fn take_credentials(url: &mut reqwest::Url) -> Option<HeaderValue> {
    use base64::Engine as _;

    if url.username().is_empty() && url.password().is_none() {
        return None;
    }
    let decode = |text: &str| percent_encoding::percent_decode_str(text).collect::<Vec<u8>>();
    let mut pair = decode(url.username());
    pair.push(b':');
    pair.extend(url.password().map(decode).unwrap_or_default());
    // Only a URL that cannot have credentials refuses these (it had none to take).
    let _ = url.set_username("");
    let _ = url.set_password(None);
    let encoded = base64::engine::general_purpose::STANDARD.encode(pair);
    let mut value = HeaderValue::from_str(&format!("Basic {encoded}")).ok()?;
    value.set_sensitive(true);
    Some(value)
}

/// A response read in full.
#[derive(Debug)]
pub struct FullResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// The HTTP version the exchange used (`HTTP/2` when ALPN chose h2).
    pub version: reqwest::Version,
}

/// Idle pooled connections are closed after this long (both clients).
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// Same-origin redirects followed before the 3xx response is returned as is
/// ([`follow_redirects`]).
const MAX_REDIRECTS: usize = 5;

/// A followed redirect's body is read to its end, so its connection is pooled and carries
/// the next request, when it is at most this long and ends within [`REDIRECT_DRAIN_TIME`];
/// else it is dropped, closing the connection. A redirect's body is a short page or
/// nothing, sent with its head: the wait is short, as it counts against the read timeout.
const REDIRECT_DRAIN_BYTES: u64 = 64 * 1024;
const REDIRECT_DRAIN_TIME: Duration = Duration::from_millis(50);

/// The pooled client. Cheap to clone (reqwest's client is an `Arc`).
#[derive(Clone)]
pub struct Transport {
    http: reqwest::Client,
    /// Chat requests to `http://` targets when no proxy applies (the route has none and
    /// HTTP/2 prior knowledge was not asked for): connections driven in the requesting
    /// task ([`crate::h1_pool`]), no reqwest layers.
    plain: Option<PlainClient>,
    openrouter: Arc<Target>,
    /// Other backends by name; one pool serves every host.
    backends: Arc<HashMap<String, Target>>,
    timeouts: Timeouts,
    route: std::sync::Arc<Route>,
}

impl fmt::Debug for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transport")
            .field("base_url", &self.openrouter.base_url)
            .field("has_key", &self.openrouter.has_key)
            .field("backends", &self.backends.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

pub(crate) fn install_crypto_provider() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // Another library may have installed one first; either is fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// `HTTP/1.1`, `HTTP/2`, ...: how attempts and the mock name a protocol version.
pub fn version_name(version: reqwest::Version) -> &'static str {
    match version {
        reqwest::Version::HTTP_09 => "HTTP/0.9",
        reqwest::Version::HTTP_10 => "HTTP/1.0",
        reqwest::Version::HTTP_11 => "HTTP/1.1",
        reqwest::Version::HTTP_2 => "HTTP/2",
        reqwest::Version::HTTP_3 => "HTTP/3",
        _ => "HTTP/?",
    }
}

fn invalid(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidRequest, message)
}

/// Parse user-given header pairs, naming the bad one (never echoing its value).
pub fn header_map(pairs: &[(String, String)]) -> Result<HeaderMap> {
    let mut map = HeaderMap::with_capacity(pairs.len());
    for (name, value) in pairs {
        let header = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| invalid(format!("invalid header name {name:?}")))?;
        let value = HeaderValue::from_str(value)
            .map_err(|_| invalid(format!("invalid value for header {name:?}")))?;
        map.insert(header, value);
    }
    Ok(map)
}

/// Paths OpenRouter serves without an API key (the catalog and its endpoints).
fn is_public(path: &str) -> bool {
    let path = path.trim_start_matches('/');
    path == "models" || path.starts_with("models?") || path.starts_with("models/")
}

impl Transport {
    pub fn new(config: TransportConfig) -> Result<Self> {
        install_crypto_provider();
        // The key and the client's headers belong to OpenRouter only: they are attached
        // per request by target, never as pool-wide defaults other backends would get.
        let openrouter = Target::new(
            "openrouter",
            &config.base_url,
            config.api_key.as_ref(),
            &config.headers,
            None,
        )?;
        let mut backends = HashMap::with_capacity(config.backends.len());
        for backend in &config.backends {
            let target = Target::new(
                &backend.name,
                &backend.base_url,
                backend.api_key.as_ref(),
                &backend.headers,
                backend.api_key_env.clone(),
            )
            .map_err(|e| invalid(format!("backend {:?}: {}", backend.name, e.message())))?;
            backends.insert(backend.name.clone(), target);
        }
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));

        let timeouts = config.timeouts;
        let mut builder = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .default_headers(headers)
            .tls_backend_rustls()
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .tcp_nodelay(true)
            // Redirects are followed by `follow_redirects`, on both paths alike.
            .redirect(reqwest::redirect::Policy::none());
        if let Some(connect) = timeouts.connect {
            builder = builder.connect_timeout(connect);
        }
        // No `read_timeout` here: reqwest's keeps running while a slow consumer leaves the
        // body unread. The read timeout is applied where a read waits ([`ReadTimeout`]).
        let parsed = reqwest::Url::parse(&openrouter.base_url)
            .map_err(|err| invalid(format!("invalid base_url {:?}: {err}", openrouter.base_url)))?;
        let (builder, route) = crate::network::configure(builder, &config.network, &parsed)?;
        let http = builder.build().map_err(Error::from_transport)?;
        // The route's proxy (explicit or from the environment) applies to every target,
        // so with none, no request of this transport goes through one.
        let plain = (route.proxy.is_none() && config.network.http2 != Some(true))
            .then(|| PlainClient::new(POOL_IDLE_TIMEOUT, timeouts.connect, USER_AGENT));
        Ok(Self {
            http,
            plain,
            openrouter: Arc::new(openrouter),
            backends: Arc::new(backends),
            timeouts,
            route: std::sync::Arc::new(route),
        })
    }

    pub fn timeouts(&self) -> Timeouts {
        self.timeouts
    }

    /// The read timeout of every request of this transport.
    pub fn read_timeout(&self) -> ReadTimeout {
        ReadTimeout::new(self.timeouts.read)
    }

    /// This transport (the same pool) with another read timeout: one call's
    /// `timeout=Timeout(read=...)`. The connect timeout cannot change per request: it
    /// belongs to the pool's connectors.
    pub fn with_read_timeout(mut self, read: Option<Duration>) -> Self {
        self.timeouts.read = read;
        self
    }

    pub fn base_url(&self) -> &str {
        &self.openrouter.base_url
    }

    /// Whether a request to each of `models` is written by the plain-http client, in the
    /// request's own poll (`http://`, no proxy): through reqwest a spawned connection task
    /// writes it, and puts the connection back in the pool from another task.
    pub fn writes_in_request(&self, models: &[String]) -> bool {
        models.iter().all(|model| {
            self.target_for(model)
                .is_ok_and(|target| self.is_plain(target))
        })
    }

    /// Whether requests to `target` go through the plain-http client: no proxy is set
    /// (`plain` exists only then) and the target speaks `http://` (its `plain_headers`
    /// are made for exactly those).
    fn is_plain(&self, target: &Target) -> bool {
        self.plain.is_some() && target.plain_headers.is_some()
    }

    /// The target of a chain entry: its backend for `NAME::model`, else OpenRouter.
    fn target_for(&self, entry: &str) -> Result<&Target> {
        match split_backend(entry) {
            None => Ok(&self.openrouter),
            Some((name, _)) => self.backends.get(name).ok_or_else(|| {
                invalid(format!(
                    "unknown backend {name:?} in {entry:?}: define it under [backends.{name}]"
                ))
            }),
        }
    }

    fn require_key(target: &Target) -> Result<()> {
        if target.has_key {
            return Ok(());
        }
        let message = match (&target.api_key_env, target.name.as_str()) {
            (_, "openrouter") => {
                "no API key: pass api_key=... or set the OPENROUTER_API_KEY environment variable"
                    .to_owned()
            }
            // A backend without api_key_env needs no key (a local server).
            (None, _) => return Ok(()),
            (Some(env), name) => {
                format!("no API key for backend {name:?}: set the {env} environment variable")
            }
        };
        let mut err = Error::new(ErrorKind::Authentication, message);
        err.details_mut().status = None;
        Err(err)
    }

    fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<Bytes>,
        extra_headers: &HeaderMap,
    ) -> Result<reqwest::Request> {
        self.request_to(&self.openrouter, method, path, body, extra_headers)
    }

    /// The request, built directly (not through `RequestBuilder`, which would copy the
    /// target's headers into a fresh map one by one): the chat URL parsed once per
    /// client, the target's headers cloned once, the body moved in.
    fn request_to(
        &self,
        target: &Target,
        method: Method,
        path: &str,
        body: Option<Bytes>,
        extra_headers: &HeaderMap,
    ) -> Result<reqwest::Request> {
        if !(method == Method::GET && is_public(path)) {
            Self::require_key(target)?;
        }
        let mut request = if path == CHAT_PATH {
            reqwest::Request::new(method, target.chat_url.clone())
        } else {
            let url = format!("{}/{}", target.base_url, path.trim_start_matches('/'));
            self.http
                .request(method, url)
                .build()
                .map_err(|err| diagnose::transport_error(err, &self.route))?
        };
        *request.headers_mut() = headers_for(target, extra_headers);
        *request.body_mut() = body.map(reqwest::Body::from);
        Ok(request)
    }

    /// POST a chat completion for chain entry `entry` to `path` (`chat/completions`, with
    /// the caller's query string if any) at its target (OpenRouter, or the backend `NAME`
    /// of `NAME::model`) and return once the response headers arrived.
    pub async fn send_chat_streaming(
        &self,
        entry: &str,
        path: &str,
        body: Bytes,
        extra_headers: &HeaderMap,
    ) -> Result<HttpResponse> {
        let target = self.target_for(entry)?;
        let response = self
            .execute_chat(target, path, body, extra_headers, true)
            .await?;
        match diagnose::proxy_status_error(response.status().as_u16(), &self.route) {
            Some(err) => Err(err),
            None => Ok(response),
        }
    }

    /// POST a chat completion for chain entry `entry` to `path` at its target and read
    /// the whole body (bounded), within `timeout`.
    pub async fn send_chat(
        &self,
        entry: &str,
        path: &str,
        body: Bytes,
        extra_headers: &HeaderMap,
        timeout: Option<Duration>,
    ) -> Result<FullResponse> {
        let target = self.target_for(entry)?;
        let send = pin!(self.execute_chat(target, path, body, extra_headers, false));
        self.exchange(send, timeout).await
    }

    /// Send one request to OpenRouter and read the whole body (bounded), within `timeout`.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Bytes>,
        extra_headers: &HeaderMap,
        timeout: Option<Duration>,
    ) -> Result<FullResponse> {
        let target = &self.openrouter;
        let request = self.request(method.clone(), path, body.clone(), extra_headers)?;
        let send = pin!(async {
            let first = self.execute_reqwest(request).await?;
            let hop = |method, url, body| {
                let request = self.hop_request(target, method, url, body, extra_headers);
                self.execute_reqwest(request)
            };
            follow_redirects(first, target, path, method, body, hop).await
        });
        let send = pin!(self.read_timeout().head(send));
        self.exchange(send, timeout).await
    }

    /// Send `request` with reqwest (which follows no redirect: [`follow_redirects`] does).
    async fn execute_reqwest(&self, request: reqwest::Request) -> Result<HttpResponse> {
        self.http
            .execute(request)
            .await
            .map(HttpResponse::from)
            .map_err(|err| diagnose::transport_error(err, &self.route))
    }

    /// A redirect's next request over reqwest: `method` to `url` with `target`'s headers
    /// and the caller's, and `body`; without a body, without the body's headers, as
    /// reqwest's own redirects sent it.
    fn hop_request(
        &self,
        target: &Target,
        method: Method,
        url: reqwest::Url,
        body: Option<Bytes>,
        extra_headers: &HeaderMap,
    ) -> reqwest::Request {
        let mut request = reqwest::Request::new(method, url);
        let mut headers = headers_for(target, extra_headers);
        if body.is_none() {
            headers.remove(CONTENT_TYPE);
            headers.remove(CONTENT_LENGTH);
        }
        *request.headers_mut() = headers;
        *request.body_mut() = body.map(reqwest::Body::from);
        request
    }

    /// POST a chat request to `target` and return once the response headers arrived
    /// (within the read timeout, redirects included): through [`PlainClient`] to an
    /// `http://` target when it applies, else reqwest.
    async fn execute_chat(
        &self,
        target: &Target,
        path: &str,
        body: Bytes,
        extra_headers: &HeaderMap,
        stream: bool,
    ) -> Result<HttpResponse> {
        let accept = |headers: &mut HeaderMap| {
            if stream {
                headers.append(ACCEPT, HeaderValue::from_static("text/event-stream"));
            }
        };
        // Borrowed on the usual path: the request takes the one clone it needs.
        let plain_uri = if !self.is_plain(target) {
            None
        } else if path == CHAT_PATH {
            Some(Cow::Borrowed(&target.chat_uri))
        } else {
            format!("{}/{}", target.base_url, path.trim_start_matches('/'))
                .parse::<hyper::Uri>()
                .ok()
                .map(Cow::Owned)
        };
        let (Some(plain), Some(uri)) = (&self.plain, plain_uri) else {
            let mut request = self.request_to(
                target,
                Method::POST,
                path,
                Some(body.clone()),
                extra_headers,
            )?;
            accept(request.headers_mut());
            let send = pin!(async {
                let first = self.execute_reqwest(request).await?;
                let hop = |method, url, body| {
                    let mut request = self.hop_request(target, method, url, body, extra_headers);
                    accept(request.headers_mut());
                    self.execute_reqwest(request)
                };
                follow_redirects(first, target, path, Method::POST, Some(body), hop).await
            });
            return self.read_timeout().head(send).await;
        };
        Self::require_key(target)?;
        let send = |method: Method, uri: hyper::Uri, body: Option<Bytes>| {
            // Every URI here is the target's origin (redirects stay within it), so its
            // `host` is the one made with the target's headers.
            let mut headers = match (&target.plain_headers, &body) {
                (Some(plain), Some(_)) => {
                    let mut headers = merged_headers(plain.headers(), extra_headers);
                    // The prepared `Accept: */*` is for an answer: a stream asks for
                    // `text/event-stream` alone, or after the caller's own.
                    if stream
                        && !extra_headers.contains_key(ACCEPT)
                        && !target.headers.contains_key(ACCEPT)
                    {
                        headers.remove(ACCEPT);
                    }
                    accept(&mut headers);
                    headers
                }
                _ => {
                    let mut headers = headers_for(target, extra_headers);
                    accept(&mut headers);
                    plain.add_defaults(&mut headers);
                    headers
                }
            };
            if body.is_none() {
                headers.remove(CONTENT_TYPE);
                headers.remove(CONTENT_LENGTH);
            }
            let sent = plain.execute(method, uri, headers, body);
            async { sent.await.map(HttpResponse::Plain) }
        };
        let failed = |err| diagnose::plain_send_error(err, &self.route);
        let exchange = pin!(async {
            let first = pin!(send(Method::POST, uri.as_ref().clone(), Some(body.clone())))
                .await
                .map_err(failed)?;
            let hop = |method, url: reqwest::Url, body| {
                let sent = url
                    .as_str()
                    .parse::<hyper::Uri>()
                    .map(|uri| send(method, uri, body));
                async move {
                    let sent = sent.map_err(|err| invalid(format!("invalid URL: {err}")))?;
                    sent.await.map_err(failed)
                }
            };
            follow_redirects(first, target, path, Method::POST, Some(body), hop).await
        });
        self.read_timeout().head(exchange).await
    }

    /// Futures are pinned where they are made and passed on as `Pin<&mut _>`: moved by
    /// value through each wrapper (this one, the timeouts), a future is copied whole at
    /// every step and kept twice in the caller's state (issue 11, futmove).
    async fn exchange(
        &self,
        send: Pin<&mut impl Future<Output = Result<HttpResponse>>>,
        timeout: Option<Duration>,
    ) -> Result<FullResponse> {
        let exchange = pin!(async {
            let mut response = send.await?;
            let status = response.status();
            if let Some(err) = diagnose::proxy_status_error(status.as_u16(), &self.route) {
                return Err(err);
            }
            let version = response.version();
            let headers = std::mem::take(response.headers_mut());
            let body = read_bounded(&mut response, self.read_timeout()).await?;
            Ok(FullResponse {
                status,
                headers,
                body,
                version,
            })
        });
        match timeout {
            Some(limit) => tokio::time::timeout(limit, exchange)
                .await
                .unwrap_or_else(|_| {
                    Err(Error::new(
                        ErrorKind::Timeout,
                        format!("request timed out after {:.3}s", limit.as_secs_f64()),
                    ))
                }),
            None => exchange.await,
        }
    }
}

/// The target's headers (its key included) with the caller's replacing those of the same name.
fn headers_for(target: &Target, extra_headers: &HeaderMap) -> HeaderMap {
    merged_headers(&target.headers, extra_headers)
}

/// `base` with the caller's headers replacing those of the same name.
fn merged_headers(base: &HeaderMap, extra_headers: &HeaderMap) -> HeaderMap {
    let mut headers = base.clone();
    if !extra_headers.is_empty() {
        for name in extra_headers.keys() {
            headers.remove(name);
        }
        for (name, value) in extra_headers {
            headers.append(name.clone(), value.clone());
        }
    }
    headers
}

/// Whether `status` is a redirect [`follow_redirects`] may follow.
fn is_redirect(status: StatusCode) -> bool {
    matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308)
}

/// The URL of `path` at `target`, as its requests are sent.
fn url_of(target: &Target, path: &str) -> Result<reqwest::Url> {
    if path == CHAT_PATH {
        return Ok(target.chat_url.clone());
    }
    reqwest::Url::parse(&format!(
        "{}/{}",
        target.base_url,
        path.trim_start_matches('/')
    ))
    .map_err(|err| invalid(format!("invalid URL: {err}")))
}

/// `response` to `method` at `path` of `target` (with `body`), its redirects followed
/// ([`redirects`]) when it is one: boxed, the rare case kept out of every exchange's future.
async fn follow_redirects<Hop, Sent>(
    response: HttpResponse,
    target: &Target,
    path: &str,
    method: Method,
    body: Option<Bytes>,
    hop: Hop,
) -> Result<HttpResponse>
where
    Hop: FnMut(Method, reqwest::Url, Option<Bytes>) -> Sent,
    Sent: Future<Output = Result<HttpResponse>>,
{
    if !is_redirect(response.status()) {
        return Ok(response);
    }
    let from = url_of(target, path)?;
    Box::pin(redirects(response, from, method, body, hop)).await
}

/// Follow `response`'s redirects from `from` (the URL `method` was sent to, with `body`),
/// both paths alike, as reqwest's redirect policy followed them: within the request's
/// origin only (a redirect to another host would carry the prompt, as 307/308 resend the
/// body, and the target's auth headers there), at most [`MAX_REDIRECTS`]; 307/308 resend
/// the request, 301/302/303 make it a GET (a HEAD stays one) without a body. `hop` sends
/// each next request. Each followed redirect's body is read first ([`drain_redirect`]) so
/// its connection carries the next request. The last response is returned, a 3xx not
/// followed as it is.
async fn redirects<Hop, Sent>(
    mut response: HttpResponse,
    mut from: reqwest::Url,
    mut method: Method,
    mut body: Option<Bytes>,
    mut hop: Hop,
) -> Result<HttpResponse>
where
    Hop: FnMut(Method, reqwest::Url, Option<Bytes>) -> Sent,
    Sent: Future<Output = Result<HttpResponse>>,
{
    for _ in 0..MAX_REDIRECTS {
        let status = response.status();
        if !is_redirect(status) {
            break;
        }
        let Some(next) = same_origin_location(&response, &from) else {
            break;
        };
        if !matches!(status.as_u16(), 307 | 308) {
            body = None;
            if method != Method::HEAD {
                method = Method::GET;
            }
        }
        drain_redirect(response).await;
        response = hop(method.clone(), next.clone(), body.clone()).await?;
        from = next;
    }
    Ok(response)
}

/// Where a redirect response points, when it is a redirect within `url`'s origin.
fn same_origin_location(response: &HttpResponse, url: &reqwest::Url) -> Option<reqwest::Url> {
    let location = response.headers().get(LOCATION)?.to_str().ok()?;
    let next = url.join(location).ok()?;
    (next.origin() == url.origin()).then_some(next)
}

/// Read a redirect's body to its end within [`REDIRECT_DRAIN_BYTES`] and
/// [`REDIRECT_DRAIN_TIME`], so that its connection goes back to the pool (held unread while
/// the next request is sent, it could not carry it); past either, or on an error, it is
/// dropped, closing the connection, as before.
async fn drain_redirect(mut response: HttpResponse) {
    if response
        .content_length()
        .is_some_and(|len| len > REDIRECT_DRAIN_BYTES)
        || !reusable(&response)
    {
        return;
    }
    let drain = async {
        let mut read = 0;
        while let Ok(Some(chunk)) = response.chunk().await {
            read += chunk.len() as u64;
            if read > REDIRECT_DRAIN_BYTES {
                return;
            }
        }
    };
    let _ = tokio::time::timeout(REDIRECT_DRAIN_TIME, drain).await;
}

/// Whether `response`'s connection can carry another request: not `Connection: close`,
/// not HTTP/1.0, and a body that ends by its framing (a length, or chunked), not by the
/// connection's close. Reading any other body to its end gains nothing.
fn reusable(response: &HttpResponse) -> bool {
    let headers = response.headers();
    let close = headers
        .get_all(reqwest::header::CONNECTION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|token| token.trim().eq_ignore_ascii_case("close"));
    let framed = response.content_length().is_some()
        || headers.contains_key(reqwest::header::TRANSFER_ENCODING);
    !close && response.version() != reqwest::Version::HTTP_10 && framed
}

/// The whole body of `response`, at most [`MAX_BODY_BYTES`], each read within `read`.
pub async fn read_bounded(response: &mut HttpResponse, read: ReadTimeout) -> Result<Bytes> {
    if let Some(len) = response.content_length() {
        if len as usize > MAX_BODY_BYTES {
            return Err(too_large());
        }
    }
    let mut first: Option<Bytes> = None;
    let mut rest: Vec<u8> = Vec::new();
    while let Some(chunk) = read.chunk(response).await? {
        match first.take() {
            // The common case: the whole body arrives as one chunk, no copy.
            None if rest.is_empty() => first = Some(chunk),
            previous => {
                if let Some(previous) = previous {
                    rest.extend_from_slice(&previous);
                }
                rest.extend_from_slice(&chunk);
            }
        }
        let size = first.as_ref().map_or(0, Bytes::len) + rest.len();
        if size > MAX_BODY_BYTES {
            return Err(too_large());
        }
    }
    Ok(match first {
        Some(only) => only,
        None => Bytes::from(rest),
    })
}

fn too_large() -> Error {
    Error::new(
        ErrorKind::InvalidResponse,
        format!("response body larger than {MAX_BODY_BYTES} bytes"),
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn config(base_url: &str) -> TransportConfig {
        TransportConfig {
            base_url: base_url.into(),
            api_key: Some(ApiKey::new("sk-or-v1-secret")),
            headers: vec![],
            timeouts: Timeouts::default(),
            network: NetworkOptions::default(),
            backends: vec![],
        }
    }

    #[test]
    fn backend_entries_pick_their_target() {
        let mut cfg = config("https://openrouter.ai/api/v1");
        cfg.backends.push(BackendConfig {
            name: "local".into(),
            base_url: "http://127.0.0.1:9/v1/".into(),
            api_key: None,
            headers: vec![("X-Team".into(), "a".into())],
            api_key_env: None,
        });
        cfg.backends.push(BackendConfig {
            name: "groq".into(),
            base_url: "https://api.groq.com/openai/v1".into(),
            api_key: None,
            headers: vec![],
            api_key_env: Some("GROQ_API_KEY".into()),
        });
        let transport = Transport::new(cfg).unwrap();
        let local = transport.target_for("local::llama").unwrap();
        assert_eq!(local.base_url, "http://127.0.0.1:9/v1");
        assert!(
            local.headers.get(AUTHORIZATION).is_none(),
            "OpenRouter's key stays home"
        );
        assert!(Transport::require_key(local).is_ok());
        let groq = transport.target_for("groq::llama").unwrap();
        let err = Transport::require_key(groq).unwrap_err();
        assert!(err.message().contains("GROQ_API_KEY"));
        assert!(transport.target_for("openai/gpt-4o").unwrap().has_key);
        let err = transport.target_for("nope::x").unwrap_err();
        assert!(err.message().contains("[backends.nope]"));
        assert_eq!(wire_model("groq::llama-3.1-8b"), "llama-3.1-8b");
        assert_eq!(wire_model("openai/gpt-4o"), "openai/gpt-4o");
    }

    #[test]
    fn a_backend_entry_splits_as_split_once_splits_it() {
        for entry in [
            "", ":", "::", ":::", "a::", "::b", "a:b::c", "a::b::c", "é::ü", "a:b", "x::::y",
        ] {
            assert_eq!(
                split_backend(entry),
                entry.split_once(BACKEND_SEPARATOR),
                "{entry:?}"
            );
        }
    }

    #[test]
    fn only_the_catalog_is_public() {
        for path in [
            "models",
            "/models?output_modalities=all",
            "models/a/b/endpoints",
        ] {
            assert!(is_public(path), "{path}");
        }
        for path in [
            "credits",
            "key",
            "generation?id=1",
            "chat/completions",
            "modelsx",
        ] {
            assert!(!is_public(path), "{path}");
        }
    }

    #[test]
    fn key_never_prints() {
        let cfg = config("https://openrouter.ai/api/v1");
        assert!(!format!("{cfg:?}").contains("secret"));
        let transport = Transport::new(cfg).unwrap();
        assert!(!format!("{transport:?}").contains("secret"));
    }

    #[test]
    fn bad_base_url_is_a_clear_error() {
        let err = Transport::new(config("ftp://example.com")).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidRequest);
        let err = Transport::new(config("not a url")).unwrap_err();
        assert!(err.message().contains("invalid base_url"));
    }

    #[test]
    fn non_ascii_api_key_is_refused_without_echoing_it() {
        let mut cfg = config("https://openrouter.ai/api/v1");
        cfg.api_key = Some(ApiKey::new("sk-or-v1-sécret"));
        let err = Transport::new(cfg).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidRequest);
        assert!(err.message().contains("api_key"));
        assert!(!err.message().contains("cret"));
    }

    /// A loopback server that answers its first connection with `reply` (then keeps it
    /// open, silent) and hands over the request bytes it read.
    async fn answer_once(reply: &'static [u8]) -> (String, tokio::sync::oneshot::Receiver<String>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/api/v1", listener.local_addr().unwrap());
        let (seen_tx, seen_rx) = tokio::sync::oneshot::channel();
        // A panic here shows as the test's request failing.
        #[allow(clippy::disallowed_methods)]
        tokio::spawn(async move {
            let (socket, _) = listener.accept().await.unwrap();
            let mut request = Vec::new();
            let mut buf = [0u8; 4096];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                socket.readable().await.unwrap();
                match socket.try_read(&mut buf) {
                    Ok(0) => return,
                    Ok(n) => request.extend_from_slice(&buf[..n]),
                    Err(_) => continue,
                }
            }
            let _ = seen_tx.send(String::from_utf8_lossy(&request).into_owned());
            let mut left = reply;
            while !left.is_empty() {
                socket.writable().await.unwrap();
                if let Ok(n) = socket.try_write(left) {
                    left = &left[n..];
                }
            }
            tokio::time::sleep(Duration::from_secs(30)).await;
        });
        (url, seen_rx)
    }

    fn plain_transport(url: &str, read: Option<Duration>) -> Transport {
        let mut cfg = config(url);
        cfg.timeouts.read = read;
        let transport = Transport::new(cfg).unwrap();
        assert!(
            transport.plain.is_some(),
            "plain http without a proxy takes the lean path"
        );
        transport
    }

    async fn chat(transport: &Transport) -> Result<FullResponse> {
        let body = Bytes::from_static(b"{}");
        transport
            .send_chat("m", CHAT_PATH, body, &HeaderMap::new(), None)
            .await
    }

    #[tokio::test]
    async fn plain_http_sends_what_reqwest_sent() {
        let (url, seen) = answer_once(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}").await;
        let response = chat(&plain_transport(&url, None)).await.unwrap();
        assert_eq!(response.body.as_ref(), b"{}");
        assert_eq!(version_name(response.version), "HTTP/1.1");
        let request = seen.await.unwrap().to_ascii_lowercase();
        let host = url
            .trim_start_matches("http://")
            .trim_end_matches("/api/v1");
        for line in [
            "post /api/v1/chat/completions http/1.1\r\n".to_owned(),
            format!("host: {host}\r\n"),
            "accept: */*\r\n".to_owned(),
            "content-type: application/json\r\n".to_owned(),
            format!("user-agent: {USER_AGENT}\r\n"),
            "accept-encoding: gzip,br\r\n".to_owned(),
            "authorization: bearer sk-or-v1-secret\r\n".to_owned(),
            "content-length: 2\r\n".to_owned(),
        ] {
            assert!(request.contains(&line), "{line:?} missing from {request:?}");
        }
    }

    /// `data` as a gzip member of one stored (uncompressed) deflate block (RFC 1952, 1951).
    fn gzip_stored(data: &[u8]) -> Vec<u8> {
        let crc = !data.iter().fold(!0u32, |crc, &byte| {
            (0..8).fold(crc ^ u32::from(byte), |crc, _| {
                (crc >> 1) ^ (0xEDB8_8320 & (crc & 1).wrapping_neg())
            })
        });
        let len = u16::try_from(data.len()).unwrap();
        let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff, 1];
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(data);
        out.extend_from_slice(&crc.to_le_bytes());
        out.extend_from_slice(&u32::try_from(data.len()).unwrap().to_le_bytes());
        out
    }

    #[tokio::test]
    async fn plain_http_decodes_gzip_and_leaves_other_codings() {
        let json = br#"{"choices":[]}"#;
        let gzip = gzip_stored(json);
        let mut reply = format!(
            "HTTP/1.1 200 OK\r\ncontent-encoding: gzip\r\ncontent-length: {}\r\n\r\n",
            gzip.len()
        )
        .into_bytes();
        reply.extend_from_slice(&gzip);
        let (url, _seen) = answer_once(reply.leak()).await;
        let response = chat(&plain_transport(&url, None)).await.unwrap();
        assert_eq!(response.body.as_ref(), json);
        assert!(!response.headers.contains_key("content-encoding"));
        assert!(!response.headers.contains_key("content-length"));
        // A coding it does not decode (deflate and the rest are not asked for) is passed
        // on as it is, with its headers.
        for coding in ["deflate", "identity", "zz"] {
            let reply = format!(
                "HTTP/1.1 200 OK\r\ncontent-encoding: {coding}\r\ncontent-length: 2\r\n\r\nab"
            );
            let (url, _seen) = answer_once(reply.into_bytes().leak()).await;
            let response = chat(&plain_transport(&url, None)).await.unwrap();
            assert_eq!(response.body.as_ref(), b"ab", "{coding}");
            assert_eq!(response.headers["content-encoding"], coding);
            assert_eq!(response.headers["content-length"], "2");
        }
        // A body that is not the gzip it says it is: worded as reqwest worded it.
        let (url, _seen) = answer_once(
            b"HTTP/1.1 200 OK\r\ncontent-encoding: gzip\r\ncontent-length: 4\r\n\r\nnope",
        )
        .await;
        let err = chat(&plain_transport(&url, None)).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Connection);
        assert_eq!(
            err.message(),
            "error decoding response body: Invalid gzip header"
        );
    }

    #[tokio::test]
    async fn plain_http_read_timeout_covers_headers_and_body() {
        let (url, _seen) = answer_once(b"").await;
        let err = chat(&plain_transport(&url, Some(Duration::from_millis(100))))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Timeout);
        assert_eq!(err.message(), "error sending request: operation timed out");
        let (url, _seen) = answer_once(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n{").await;
        let err = chat(&plain_transport(&url, Some(Duration::from_millis(100))))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Timeout, "{}", err.message());
        assert_eq!(
            err.message(),
            "error decoding response body: request or response body error: operation timed out"
        );
    }

    #[tokio::test]
    async fn a_body_cut_reads_the_same_with_or_without_a_read_timeout() {
        async fn cut_after_one_byte() -> String {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let url = format!("http://{}/api/v1", listener.local_addr().unwrap());
            #[allow(clippy::disallowed_methods)]
            tokio::spawn(async move {
                let (mut socket, _) = listener.accept().await.unwrap();
                let mut buf = [0u8; 4096];
                let _ = tokio::io::AsyncReadExt::read(&mut socket, &mut buf).await;
                let reply = b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n{";
                let _ = tokio::io::AsyncWriteExt::write_all(&mut socket, reply).await;
            });
            url
        }
        let mut messages = Vec::new();
        for read in [None, Some(Duration::from_secs(5))] {
            let url = cut_after_one_byte().await;
            let err = chat(&plain_transport(&url, read)).await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Connection, "{}", err.message());
            messages.push(err.message().to_owned());
        }
        assert!(
            messages[0].starts_with("error decoding response body: "),
            "{}",
            messages[0]
        );
        assert_eq!(messages[0], messages[1]);
    }

    #[tokio::test]
    async fn plain_http_refused_connection_reads_as_reqwest_words_it() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/api/v1", listener.local_addr().unwrap());
        drop(listener);
        let err = chat(&plain_transport(&url, None)).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Connection);
        assert!(
            err.message()
                .starts_with("error sending request: client error (Connect): tcp connect error"),
            "{}",
            err.message()
        );
    }

    #[test]
    fn bad_header_names_the_header_not_the_value() {
        let err = header_map(&[("X-Ok".into(), "line\nbreak".into())]).unwrap_err();
        assert!(err.message().contains("X-Ok"));
        assert!(!err.message().contains("break"));
    }
}
