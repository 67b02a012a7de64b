//! The one place that explains connection failures: walks a transport error's source chain
//! (rustls errors, hyper errors, I/O errors, proxy tunnel errors) and names the cause and
//! the fix in plain words, instead of whatever string the libraries produced.

use std::error::Error as StdError;
use std::io;

use rustls::{CertificateError, InvalidMessage};

use crate::error::{Error, ErrorKind};
use crate::network::Route;
use crate::plain_http::SendError;

/// A reqwest failure as a core error, explained when the cause is recognised.
pub fn transport_error(err: reqwest::Error, route: &Route) -> Error {
    match explain(&err, route) {
        Some(explained) if !err.is_timeout() => Error::new(explained.kind, explained.message),
        _ => Error::from_transport(err),
    }
}

/// A plain-http send failure ([`crate::h1_pool`], [`crate::plain_http`]) as a core
/// error, classified and worded as [`transport_error`] words reqwest's.
pub fn plain_send_error(err: SendError, route: &Route) -> Error {
    let SendError::Client(err) = err;
    let timed_out = is_timeout(&err);
    if let Some(explained) = explain(&err, route).filter(|_| !timed_out) {
        return Error::new(explained.kind, explained.message);
    }
    let kind = if timed_out {
        ErrorKind::Timeout
    } else {
        ErrorKind::Connection
    };
    Error::new(kind, worded("error sending request", &err))
}

/// A plain-http body's read failure ([`crate::http_response`]) as a core error, worded
/// as reqwest words a body error once [`Error::from_transport`] has read it.
pub fn plain_body_error(err: &(dyn StdError + 'static)) -> Error {
    let kind = if is_timeout(err) {
        ErrorKind::Timeout
    } else {
        ErrorKind::Connection
    };
    Error::new(kind, worded("error decoding response body", err))
}

/// `what`, then each cause of `err`'s chain after a colon.
fn worded(what: &str, err: &(dyn StdError + 'static)) -> String {
    let mut message = String::from(what);
    let mut cause = Some(err);
    while let Some(current) = cause {
        message.push_str(": ");
        message.push_str(&current.to_string());
        cause = current.source();
    }
    message
}

/// Whether a timeout caused `err` (as `reqwest::Error::is_timeout` decides).
fn is_timeout(err: &(dyn StdError + 'static)) -> bool {
    let mut cause: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(current) = cause {
        if current
            .downcast_ref::<hyper::Error>()
            .is_some_and(hyper::Error::is_timeout)
            || current
                .downcast_ref::<io::Error>()
                .is_some_and(|io| io.kind() == io::ErrorKind::TimedOut)
        {
            return true;
        }
        cause = current.source();
    }
    false
}

/// A recognised failure: [`ErrorKind::ConnectionSetup`] when only a configuration change
/// can fix it, [`ErrorKind::Connection`] when it may pass (a proxy restarting).
#[derive(Debug, PartialEq)]
struct Explained {
    kind: ErrorKind,
    message: String,
}

fn setup(message: String) -> Option<Explained> {
    Some(Explained {
        kind: ErrorKind::ConnectionSetup,
        message,
    })
}

fn transient(message: String) -> Option<Explained> {
    Some(Explained {
        kind: ErrorKind::Connection,
        message,
    })
}

/// A proxy answering a plain-HTTP request itself with 407 (no tunnel involved).
pub fn proxy_status_error(status: u16, route: &Route) -> Option<Error> {
    let proxy = route.proxy.as_ref()?;
    (status == 407)
        .then(|| Error::new(ErrorKind::ConnectionSetup, proxy_auth_message(proxy, route)))
}

fn explain(err: &(dyn StdError + 'static), route: &Route) -> Option<Explained> {
    let mut cause: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(current) = cause {
        if let Some(message) = explain_one(current, route) {
            return Some(message);
        }
        // `io::Error::source` skips the error it wraps; look at that one too.
        if let Some(inner) = current
            .downcast_ref::<io::Error>()
            .and_then(io::Error::get_ref)
        {
            if let Some(message) = explain(inner, route) {
                return Some(message);
            }
        }
        cause = current.source();
    }
    None
}

fn explain_one(err: &(dyn StdError + 'static), route: &Route) -> Option<Explained> {
    if let Some(tls) = err.downcast_ref::<rustls::Error>() {
        return tls_message(tls, route);
    }
    // The plain-http path's own connection (`h1_conn`) words its parse failures as hyper.
    if err
        .downcast_ref::<crate::h1_conn::H1Error>()
        .is_some_and(crate::h1_conn::H1Error::is_parse)
        && !route.https
        && route.proxy.is_none()
    {
        return not_http();
    }
    if let Some(hyper) = err.downcast_ref::<hyper::Error>() {
        if hyper.is_parse() && !route.https && route.proxy.is_none() {
            return not_http();
        }
        if route.http2_only && !route.https && !hyper.is_timeout() {
            return setup(format!(
                "{} refused HTTP/2 without TLS (http2=True over http:// needs a server \
                 that speaks h2c); use http2=None, or an https:// base_url",
                route.host
            ));
        }
    }
    if let Some(proxy) = &route.proxy {
        if let Some(io) = err.downcast_ref::<io::Error>() {
            if matches!(
                io.kind(),
                io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionReset
            ) {
                return transient(format!(
                    "could not connect to the proxy {} (from {}): connection refused; \
                     check the proxy address, or bypass it with NO_PROXY",
                    proxy.uri, proxy.source
                ));
            }
        }
        // hyper-util's tunnel error type is private: its text is all there is to read.
        let text = err.to_string();
        if text.starts_with("tunnel error: proxy authorization required") {
            return setup(proxy_auth_message(proxy, route));
        }
        if text.starts_with("tunnel error: unsuccessful") {
            return transient(format!(
                "the proxy {} (from {}) refused to open a tunnel (CONNECT) to {}; \
                 check that it allows this host and port, or bypass it with NO_PROXY",
                proxy.uri, proxy.source, route.host
            ));
        }
    }
    None
}

/// A plain-http target that answered in something else (TLS, most likely).
fn not_http() -> Option<Explained> {
    setup(
        "the server did not answer in HTTP: it probably expects TLS; use https:// in base_url"
            .to_owned(),
    )
}

fn proxy_auth_message(proxy: &crate::network::ProxyRoute, route: &Route) -> String {
    let fix = if proxy.has_credentials {
        "the user name or password in the proxy URL was rejected; check them"
    } else {
        "put the credentials in the proxy URL: http://user:password@host:port"
    };
    format!(
        "proxy authentication required (407) by {} (from {}) on the way to {}: {fix}",
        proxy.uri, proxy.source, route.host
    )
}

fn tls_message(err: &rustls::Error, route: &Route) -> Option<Explained> {
    let host = &route.host;
    setup(match err {
        rustls::Error::InvalidCertificate(cert) => match cert {
            CertificateError::UnknownIssuer | CertificateError::BadSignature => format!(
                "certificate not trusted: the certificate of {host} is not signed by a known \
                 CA (a private CA or a TLS-inspecting proxy?); pass ca_bundle= (a PEM file or \
                 text) or set SSL_CERT_FILE"
            ),
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => format!(
                "certificate expired: the certificate of {host} is no longer valid; it must \
                 be renewed on the server (or this machine's clock is wrong)"
            ),
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                format!(
                    "certificate not yet valid: the certificate of {host} starts in the \
                     future; check this machine's clock"
                )
            }
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                format!(
                    "certificate is for another host: the certificate presented does not \
                     name {host}; check the host in base_url (or the proxy in between)"
                )
            }
            CertificateError::Revoked => {
                format!("certificate revoked: the certificate of {host} was revoked")
            }
            _ => format!(
                "certificate rejected: the certificate of {host} failed verification ({cert:?}); \
                 pass ca_bundle= if it comes from a private CA"
            ),
        },
        rustls::Error::InvalidMessage(InvalidMessage::InvalidContentType) => format!(
            "TLS handshake failed: {host} does not speak TLS on this port; use http:// in \
             base_url (or the server's HTTPS port)"
        ),
        rustls::Error::NoApplicationProtocol => format!(
            "TLS handshake failed: {host} supports none of the offered HTTP versions; \
             try http2=None (automatic)"
        ),
        rustls::Error::AlertReceived(alert) => {
            format!("TLS handshake failed: {host} refused the connection ({alert:?} alert)")
        }
        rustls::Error::General(reason) if reason.starts_with(crate::trust::NO_TRUST_STORE) => {
            format!(
                "no trusted CA certificates: this machine's trust store is empty or unreadable \
                 ({reason}); pass ca_bundle= (a PEM file or text) or set SSL_CERT_FILE"
            )
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::ProxyRoute;

    fn route(https: bool, proxy: bool) -> Route {
        Route {
            https,
            http2_only: false,
            host: "api.test".into(),
            proxy: proxy.then(|| ProxyRoute {
                uri: "http://proxy.test:3128".into(),
                source: "proxy=",
                has_credentials: false,
            }),
        }
    }

    fn explained(err: io::Error, route: &Route) -> Option<String> {
        explain(&err, route).map(|e| e.message)
    }

    #[test]
    fn tls_errors_wrapped_in_io_errors_are_found() {
        let unknown = io::Error::other(rustls::Error::InvalidCertificate(
            CertificateError::UnknownIssuer,
        ));
        let found = explain(&unknown, &route(true, false));
        assert_eq!(
            found.as_ref().map(|e| e.kind),
            Some(ErrorKind::ConnectionSetup)
        );
        let message = found.map(|e| e.message).unwrap_or_default();
        assert!(message.starts_with("certificate not trusted"), "{message}");
        assert!(message.contains("ca_bundle=") && message.contains("SSL_CERT_FILE"));
        let expired =
            io::Error::other(rustls::Error::InvalidCertificate(CertificateError::Expired));
        let message = explained(expired, &route(true, false)).unwrap_or_default();
        assert!(message.starts_with("certificate expired"), "{message}");
    }

    #[test]
    fn refused_connections_blame_the_proxy_only_when_there_is_one() {
        let refused = || io::Error::from(io::ErrorKind::ConnectionRefused);
        let message = explained(refused(), &route(true, true)).unwrap_or_default();
        assert!(
            message.contains("http://proxy.test:3128 (from proxy=)"),
            "{message}"
        );
        assert_eq!(explained(refused(), &route(true, false)), None);
    }

    #[test]
    fn a_407_without_tunnel_is_a_connection_error() {
        let err = proxy_status_error(407, &route(false, true));
        assert_eq!(err.map(|e| e.kind()), Some(ErrorKind::ConnectionSetup));
        assert!(proxy_status_error(407, &route(false, false)).is_none());
        assert!(proxy_status_error(200, &route(false, true)).is_none());
    }
}
