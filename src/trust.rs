//! Server certificate verification with the platform's trust store, read on the first TLS
//! handshake instead of when a client is built: on Linux that store is every file under
//! `/etc/ssl/certs` (milliseconds of reading and PEM decoding), which a client that has
//! not connected yet, or only speaks plain HTTP, need not pay for (S5, import time).

use std::sync::{Arc, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};
use rustls_platform_verifier::Verifier;

use crate::error::{Error, ErrorKind, Result};

/// How the error of a handshake that found no usable trust store begins (the diagnosis
/// in `diagnose.rs` recognises it by this).
pub const NO_TRUST_STORE: &str = "no trust store";

/// The rustls configuration of a transport: TLS 1.2 and 1.3, the platform's roots plus
/// `extra_roots` (`ca_bundle`), and ALPN by the HTTP version policy (`http2`: `None` lets
/// the server choose, `Some(true)` is HTTP/2 only, `Some(false)` HTTP/1.1 only).
pub fn client_config(
    extra_roots: Vec<CertificateDer<'static>>,
    http2: Option<bool>,
) -> Result<rustls::ClientConfig> {
    let provider = CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::ring::default_provider()));
    let verifier = LazyPlatformVerifier {
        provider: provider.clone(),
        extra_roots,
        verifier: OnceLock::new(),
    };
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(rustls::ALL_VERSIONS)
        .map_err(|err| Error::new(ErrorKind::InvalidRequest, format!("TLS settings: {err}")))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    config.alpn_protocols = match http2 {
        None => vec![b"h2".to_vec(), b"http/1.1".to_vec()],
        Some(true) => vec![b"h2".to_vec()],
        Some(false) => vec![b"http/1.1".to_vec()],
    };
    Ok(config)
}

/// rustls-platform-verifier's verifier, built when a handshake first needs it (a store
/// that cannot be read fails that handshake, and each later one, with [`NO_TRUST_STORE`]).
#[derive(Debug)]
struct LazyPlatformVerifier {
    provider: Arc<CryptoProvider>,
    extra_roots: Vec<CertificateDer<'static>>,
    verifier: OnceLock<std::result::Result<Verifier, rustls::Error>>,
}

impl LazyPlatformVerifier {
    fn verifier(&self) -> std::result::Result<&Verifier, rustls::Error> {
        self.verifier
            .get_or_init(|| {
                let provider = self.provider.clone();
                if self.extra_roots.is_empty() {
                    Verifier::new(provider)
                } else {
                    Verifier::new_with_extra_roots(self.extra_roots.iter().cloned(), provider)
                }
                .map_err(|err| rustls::Error::General(format!("{NO_TRUST_STORE}: {err}")))
            })
            .as_ref()
            .map_err(Clone::clone)
    }
}

impl ServerCertVerifier for LazyPlatformVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        self.verifier()?.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        )
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.verifier()?.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.verifier()?.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        match self.verifier() {
            Ok(verifier) => verifier.supported_verify_schemes(),
            // The handshake fails at verification with the store's error; until then,
            // offer what the crypto provider verifies.
            Err(_) => self
                .provider
                .signature_verification_algorithms
                .supported_schemes(),
        }
    }

    fn requires_raw_public_keys(&self) -> bool {
        self.verifier()
            .is_ok_and(|verifier| verifier.requires_raw_public_keys())
    }

    fn root_hint_subjects(&self) -> Option<&[DistinguishedName]> {
        self.verifier().ok()?.root_hint_subjects()
    }
}
