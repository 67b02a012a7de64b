//! The pooled HTTP transport: one reqwest client per fastrouter client (keep-alive,
//! HTTP/2 by ALPN over TLS, rustls with the ring provider), timeouts, bounded bodies.

use std::fmt;
use std::sync::Once;
use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use reqwest::{Method, StatusCode};

use crate::diagnose;
use crate::error::{Error, ErrorKind, Result};
use crate::network::{NetworkOptions, Route};

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
    /// Sent on every request (attribution headers, user defaults).
    pub headers: Vec<(String, String)>,
    pub timeouts: Timeouts,
    /// CA bundle, proxy and HTTP version policy (see [`crate::network`]).
    pub network: NetworkOptions,
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

/// The pooled client. Cheap to clone (reqwest's client is an `Arc`).
#[derive(Clone)]
pub struct Transport {
    http: reqwest::Client,
    base_url: String,
    has_key: bool,
    timeouts: Timeouts,
    route: std::sync::Arc<Route>,
}

impl fmt::Debug for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transport")
            .field("base_url", &self.base_url)
            .field("has_key", &self.has_key)
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

/// Follow redirects only within the origin of the request (at most 5): a redirect to
/// another host would carry the prompt (307/308 resend the body) and custom auth headers
/// there. The 3xx response is then returned as is and becomes an error.
fn same_origin_redirects() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let same_origin = attempt
            .previous()
            .first()
            .is_some_and(|first| first.origin() == attempt.url().origin());
        if same_origin && attempt.previous().len() <= 5 {
            attempt.follow()
        } else {
            attempt.stop()
        }
    })
}

impl Transport {
    pub fn new(config: TransportConfig) -> Result<Self> {
        install_crypto_provider();
        let base_url = config.base_url.trim_end_matches('/').to_owned();
        let parsed = reqwest::Url::parse(&base_url)
            .map_err(|err| invalid(format!("invalid base_url {base_url:?}: {err}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(invalid(format!(
                "base_url must be http or https, got {base_url:?}"
            )));
        }

        let mut headers = header_map(&config.headers)?;
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        let has_key = match &config.api_key {
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
            _ => false,
        };

        let timeouts = config.timeouts;
        let mut builder = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .default_headers(headers)
            .tls_backend_rustls()
            .pool_idle_timeout(Duration::from_secs(90))
            .tcp_nodelay(true)
            .redirect(same_origin_redirects());
        if let Some(connect) = timeouts.connect {
            builder = builder.connect_timeout(connect);
        }
        if let Some(read) = timeouts.read {
            builder = builder.read_timeout(read);
        }
        let (builder, route) = crate::network::configure(builder, &config.network, &parsed)?;
        let http = builder.build().map_err(Error::from_transport)?;
        Ok(Self {
            http,
            base_url,
            has_key,
            timeouts,
            route: std::sync::Arc::new(route),
        })
    }

    pub fn timeouts(&self) -> Timeouts {
        self.timeouts
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    fn require_key(&self) -> Result<()> {
        if self.has_key {
            return Ok(());
        }
        let mut err = Error::new(
            ErrorKind::Authentication,
            "no API key: pass api_key=... or set the OPENROUTER_API_KEY environment variable",
        );
        err.details_mut().status = None;
        Err(err)
    }

    fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<Bytes>,
        extra_headers: &HeaderMap,
    ) -> Result<reqwest::RequestBuilder> {
        if !(method == Method::GET && is_public(path)) {
            self.require_key()?;
        }
        let url = format!("{}/{}", self.base_url, path.trim_start_matches('/'));
        let mut request = self.http.request(method, url);
        if !extra_headers.is_empty() {
            request = request.headers(extra_headers.clone());
        }
        if let Some(body) = body {
            request = request.body(body);
        }
        Ok(request)
    }

    /// Send one request and return once the response headers arrived (for streams).
    pub async fn send_streaming(
        &self,
        path: &str,
        body: Bytes,
        extra_headers: &HeaderMap,
    ) -> Result<reqwest::Response> {
        let request = self.request(Method::POST, path, Some(body), extra_headers)?;
        let response = request
            .header(reqwest::header::ACCEPT, "text/event-stream")
            .send()
            .await
            .map_err(|err| diagnose::transport_error(err, &self.route))?;
        match diagnose::proxy_status_error(response.status().as_u16(), &self.route) {
            Some(err) => Err(err),
            None => Ok(response),
        }
    }

    /// Send one request and read the whole body (bounded), within `timeout`.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Bytes>,
        extra_headers: &HeaderMap,
        timeout: Option<Duration>,
    ) -> Result<FullResponse> {
        let request = self.request(method, path, body, extra_headers)?;
        let exchange = async {
            let mut response = request
                .send()
                .await
                .map_err(|err| diagnose::transport_error(err, &self.route))?;
            let status = response.status();
            if let Some(err) = diagnose::proxy_status_error(status.as_u16(), &self.route) {
                return Err(err);
            }
            let version = response.version();
            let headers = std::mem::take(response.headers_mut());
            let body = read_bounded(response).await?;
            Ok(FullResponse {
                status,
                headers,
                body,
                version,
            })
        };
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

pub async fn read_bounded(mut response: reqwest::Response) -> Result<Bytes> {
    if let Some(len) = response.content_length() {
        if len as usize > MAX_BODY_BYTES {
            return Err(too_large());
        }
    }
    let mut first: Option<Bytes> = None;
    let mut rest: Vec<u8> = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(Error::from_transport)? {
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

    #[test]
    fn bad_header_names_the_header_not_the_value() {
        let err = header_map(&[("X-Ok".into(), "line\nbreak".into())]).unwrap_err();
        assert!(err.message().contains("X-Ok"));
        assert!(!err.message().contains("break"));
    }
}
