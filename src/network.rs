//! How the transport reaches the server: extra trusted CAs (`ca_bundle`, `SSL_CERT_FILE`),
//! the proxy route (`proxy` or the environment, with `NO_PROXY`) and the HTTP version policy.
//!
//! The trust store stays the platform's (rustls-platform-verifier: the OS store; on Linux
//! the files rustls-native-certs finds, which honours `SSL_CERT_FILE` / `SSL_CERT_DIR`).

use hyper_util::client::proxy::matcher::Matcher;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

use crate::error::{Error, ErrorKind, Result};

/// The user's network options; `None` everywhere means the defaults.
#[derive(Debug, Clone, Default)]
pub struct NetworkOptions {
    /// Extra CA certificates to trust: a PEM file path, or PEM text.
    pub ca_bundle: Option<String>,
    /// Proxy URL (`http://user:password@host:port`); `None`: from the environment.
    pub proxy: Option<String>,
    /// `None`: HTTP/2 when ALPN agrees, `Some(true)`: HTTP/2 only, `Some(false)`: HTTP/1.1.
    pub http2: Option<bool>,
}

/// HTTP/2 flow-control windows. Fixed and generous rather than adaptive: h2 counts small
/// DATA frames left unread against a budget of half the connection window, and answers
/// GOAWAY (ENHANCE_YOUR_CALM) past it, killing every stream on the connection. Hundreds
/// of streams of small SSE events that Python reads slowly need a large window. The
/// windows also bound what may sit unread: 2 MiB a stream, 32 MiB a connection at worst
/// (LLM streams produce far less).
pub const HTTP2_STREAM_WINDOW: u32 = 2 * 1024 * 1024;
pub const HTTP2_CONNECTION_WINDOW: u32 = 32 * 1024 * 1024;

/// The proxy a transport goes through, as error messages name it (never with credentials).
#[derive(Debug, Clone)]
pub struct ProxyRoute {
    pub uri: String,
    /// `"proxy="` or the environment variable family it came from.
    pub source: &'static str,
    pub has_credentials: bool,
}

/// What a connection failure needs to explain itself.
#[derive(Debug, Clone, Default)]
pub struct Route {
    pub https: bool,
    /// `http2=True`: HTTP/2 only (prior knowledge over plain http://).
    pub http2_only: bool,
    pub host: String,
    pub proxy: Option<ProxyRoute>,
}

fn invalid(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidRequest, message)
}

/// Apply `options` to `builder` for requests to `target`; returns the route taken.
pub fn configure(
    mut builder: reqwest::ClientBuilder,
    options: &NetworkOptions,
    target: &reqwest::Url,
) -> Result<(reqwest::ClientBuilder, Route)> {
    let extra_roots = match options.ca_bundle.clone().or_else(ssl_cert_file) {
        Some(bundle) => ca_certificates(&bundle)?,
        None => Vec::new(),
    };
    // The platform's roots are read on the first handshake, not here (src/trust.rs).
    builder =
        builder.tls_backend_preconfigured(crate::trust::client_config(extra_roots, options.http2)?);
    builder = builder
        .http2_initial_stream_window_size(HTTP2_STREAM_WINDOW)
        .http2_initial_connection_window_size(HTTP2_CONNECTION_WINDOW);
    builder = match options.http2 {
        None => builder,
        Some(true) => builder.http2_prior_knowledge(),
        Some(false) => builder.http1_only(),
    };
    let proxy = proxy_for(options.proxy.as_deref(), target)?;
    // The route is decided here, once, so reqwest must not consult the environment again.
    builder = builder.no_proxy();
    let route = Route {
        https: target.scheme() == "https",
        http2_only: options.http2 == Some(true),
        host: target.host_str().unwrap_or_default().to_owned(),
        proxy: match proxy {
            Some((proxy, route)) => {
                builder = builder.proxy(proxy);
                Some(route)
            }
            None => None,
        },
    };
    Ok((builder, route))
}

/// `SSL_CERT_FILE` where the OS verifier ignores it (macOS, Windows), so that it means
/// the same everywhere; elsewhere the platform verifier reads it itself.
#[cfg(any(target_vendor = "apple", windows))]
fn ssl_cert_file() -> Option<String> {
    std::env::var("SSL_CERT_FILE")
        .ok()
        .filter(|path| !path.is_empty())
}

#[cfg(not(any(target_vendor = "apple", windows)))]
fn ssl_cert_file() -> Option<String> {
    None
}

/// The certificates of a PEM bundle given as text or as a file path.
fn ca_certificates(bundle: &str) -> Result<Vec<CertificateDer<'static>>> {
    let pem = if bundle.contains("-----BEGIN") {
        bundle.as_bytes().to_vec()
    } else {
        std::fs::read(bundle)
            .map_err(|err| invalid(format!("ca_bundle: cannot read {bundle:?}: {err}")))?
    };
    // Parse and check each certificate here, so a bad bundle is named, not a builder error.
    let mut certs = Vec::new();
    let mut store = rustls::RootCertStore::empty();
    for der in CertificateDer::pem_slice_iter(&pem) {
        let der = der.map_err(|_| invalid("ca_bundle: not a valid PEM certificate bundle"))?;
        store
            .add(der.clone())
            .map_err(|_| invalid("ca_bundle: holds a certificate that cannot be parsed"))?;
        certs.push(der);
    }
    if certs.is_empty() {
        return Err(invalid("ca_bundle: no PEM certificate found"));
    }
    Ok(certs)
}

/// The proxy for `target`: the explicit one, else `HTTPS_PROXY` / `HTTP_PROXY` /
/// `ALL_PROXY`; either way `NO_PROXY` may exempt the target (curl's rules).
fn proxy_for(
    explicit: Option<&str>,
    target: &reqwest::Url,
) -> Result<Option<(reqwest::Proxy, ProxyRoute)>> {
    let (matcher, source) = match explicit {
        Some(url) => {
            let parsed = reqwest::Url::parse(url)
                .map_err(|_| invalid("proxy: not a URL (expected http://host:port)"))?;
            if !matches!(parsed.scheme(), "http" | "https") {
                return Err(invalid(format!(
                    "proxy: the {:?} scheme is not supported (use an http:// or https:// proxy)",
                    parsed.scheme()
                )));
            }
            let no = std::env::var("NO_PROXY")
                .or_else(|_| std::env::var("no_proxy"))
                .unwrap_or_default();
            let matcher = Matcher::builder().all(url.to_owned()).no(no).build();
            (matcher, "proxy=")
        }
        None => (Matcher::from_env(), "HTTPS_PROXY/HTTP_PROXY/ALL_PROXY"),
    };
    let uri: hyper::Uri = target
        .as_str()
        .parse()
        .map_err(|_| invalid("base_url is not a valid URI"))?;
    let Some(intercept) = matcher.intercept(&uri) else {
        return Ok(None);
    };
    let proxy_uri = intercept.uri().to_string();
    let mut proxy = reqwest::Proxy::all(&proxy_uri)
        .map_err(|_| invalid(format!("{source}: invalid proxy URL")))?;
    // Credentials in the proxy URL become `Proxy-Authorization: Basic ...` (CONNECT too).
    let has_credentials = intercept.basic_auth().is_some();
    if let Some(auth) = intercept.basic_auth() {
        let mut auth = auth.clone();
        auth.set_sensitive(true);
        proxy = proxy.custom_http_auth(auth);
    }
    let route = ProxyRoute {
        uri: proxy_uri.trim_end_matches('/').to_owned(),
        source,
        has_credentials,
    };
    Ok(Some((proxy, route)))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn url(text: &str) -> reqwest::Url {
        reqwest::Url::parse(text).unwrap()
    }

    #[test]
    fn explicit_proxy_hides_credentials_and_keeps_them_for_auth() {
        let (_, route) = proxy_for(Some("http://me:pw@127.0.0.1:3128"), &url("https://a.test/"))
            .unwrap()
            .unwrap();
        assert_eq!(route.uri, "http://127.0.0.1:3128");
        assert!(route.has_credentials);
        assert_eq!(route.source, "proxy=");
    }

    #[test]
    fn unsupported_proxy_schemes_are_refused() {
        let err = proxy_for(Some("socks5://127.0.0.1:1080"), &url("https://a.test/")).unwrap_err();
        assert!(err.message().contains("not supported"), "{}", err.message());
    }

    #[test]
    fn ca_bundle_must_hold_a_certificate() {
        let err = ca_certificates("/nonexistent/ca.pem").unwrap_err();
        assert!(err.message().contains("cannot read"));
        let err = ca_certificates("-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n")
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidRequest);
    }
}
