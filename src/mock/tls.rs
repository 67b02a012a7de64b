//! The mock's HTTPS side: a throw-away CA and server certificate generated at start (rcgen),
//! and the rustls server configuration offering `h2` and `http/1.1` by ALPN.

use std::io;
use std::sync::Arc;

use rcgen::{
    date_time_ymd, BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::TlsAcceptor;

/// Which server certificate the mock presents (the faulty ones exist to test errors).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CertKind {
    /// Valid now, for `localhost`, `127.0.0.1` and `::1`.
    #[default]
    Valid,
    /// Right names, but expired in 2020.
    Expired,
    /// Valid now, but only for `wrong-host.invalid`.
    WrongHost,
}

impl CertKind {
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "valid" => Some(Self::Valid),
            "expired" => Some(Self::Expired),
            "wrong-host" => Some(Self::WrongHost),
            _ => None,
        }
    }
}

/// Most concurrent HTTP/2 streams per connection: above the 500 open streams the
/// benchmarks hold (hyper's default of 200 would queue the rest).
pub const MAX_CONCURRENT_STREAMS: u32 = 1024;

/// The generated CA (what clients trust) and the acceptor serving its leaf certificate.
pub struct MockTls {
    pub ca_pem: String,
    pub acceptor: TlsAcceptor,
}

fn tls_error(err: impl std::fmt::Display) -> io::Error {
    io::Error::other(format!("could not set up the mock's TLS: {err}"))
}

impl MockTls {
    pub fn generate(kind: CertKind) -> io::Result<Self> {
        crate::transport::install_crypto_provider();
        let ca_key = KeyPair::generate().map_err(tls_error)?;
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(tls_error)?;
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "fastrouter mock CA");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_cert = ca_params.self_signed(&ca_key).map_err(tls_error)?;
        let issuer = Issuer::new(ca_params, ca_key);

        let names: Vec<String> = match kind {
            CertKind::WrongHost => vec!["wrong-host.invalid".into()],
            _ => vec!["localhost".into(), "127.0.0.1".into(), "::1".into()],
        };
        let mut leaf_params = CertificateParams::new(names).map_err(tls_error)?;
        leaf_params
            .distinguished_name
            .push(DnType::CommonName, "fastrouter mock server");
        if kind == CertKind::Expired {
            leaf_params.not_before = date_time_ymd(2019, 1, 1);
            leaf_params.not_after = date_time_ymd(2020, 1, 1);
        }
        let leaf_key = KeyPair::generate().map_err(tls_error)?;
        let leaf = leaf_params
            .signed_by(&leaf_key, &issuer)
            .map_err(tls_error)?;

        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
        let mut config = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(vec![leaf.der().clone(), ca_cert.der().clone()], key)
            .map_err(tls_error)?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Self {
            ca_pem: ca_cert.pem(),
            acceptor: TlsAcceptor::from(Arc::new(config)),
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::mock::{MockConfig, MockServer};

    fn get_models(kind: CertKind, http1_only: bool) -> (reqwest::Result<reqwest::Version>, String) {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let config = MockConfig {
            tls: Some(kind),
            ..MockConfig::default()
        };
        let server = MockServer::start(runtime.handle(), config).unwrap();
        let ca = reqwest::Certificate::from_pem(server.ca_pem().unwrap().as_bytes()).unwrap();
        let mut builder = reqwest::Client::builder()
            .tls_backend_rustls()
            .tls_certs_only([ca]);
        if http1_only {
            builder = builder.http1_only();
        }
        let client = builder.build().unwrap();
        let url = format!("{}/models", server.base_url());
        let version =
            runtime.block_on(async { client.get(&url).send().await.map(|r| r.version()) });
        (version, url)
    }

    #[test]
    fn serves_h2_and_http11_by_alpn_with_its_own_ca() {
        let (version, url) = get_models(CertKind::Valid, false);
        assert!(url.starts_with("https://127.0.0.1:"));
        assert_eq!(version.unwrap(), reqwest::Version::HTTP_2);
        let (version, _) = get_models(CertKind::Valid, true);
        assert_eq!(version.unwrap(), reqwest::Version::HTTP_11);
    }

    #[test]
    fn faulty_certificates_are_refused_by_a_verifying_client() {
        for kind in [CertKind::Expired, CertKind::WrongHost] {
            let (version, _) = get_models(kind, false);
            assert!(version.is_err(), "{kind:?} must not verify");
        }
    }
}
