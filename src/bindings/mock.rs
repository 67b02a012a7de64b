//! `NativeMockServer`: the embedded OpenRouter mock, driven from `fastrouter.testing`.

use std::collections::HashMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Mutex;

use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::prelude::*;

use super::runtime::runtime;
use crate::mock::{parse_outcomes, Catalog, CertKind, Flavor, MockConfig, MockServer};

#[pyclass(frozen, module = "fastrouter._fastrouter")]
pub struct NativeMockServer {
    server: Mutex<MockServer>,
    addr: SocketAddr,
    ca_pem: Option<String>,
}

impl NativeMockServer {
    fn with<T>(&self, f: impl FnOnce(&mut MockServer) -> T) -> T {
        let mut guard = self.server.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut guard)
    }
}

#[pymethods]
impl NativeMockServer {
    #[new]
    #[pyo3(signature = (*, host="127.0.0.1", port=0, api_key=None, catalog_json=None, total_credits=100.0, tls=None, flavor="openrouter"))]
    #[allow(clippy::too_many_arguments)] // keyword-only arguments mirroring MockServer(...)
    fn new(
        py: Python<'_>,
        host: &str,
        port: u16,
        api_key: Option<String>,
        catalog_json: Option<String>,
        total_credits: f64,
        tls: Option<&str>,
        flavor: &str,
    ) -> PyResult<Self> {
        let tls = tls
            .map(|name| {
                CertKind::parse(name).ok_or_else(|| {
                    PyValueError::new_err(format!(
                        "tls must be \"valid\", \"expired\" or \"wrong-host\", got {name:?}"
                    ))
                })
            })
            .transpose()?;
        let flavor = match flavor {
            "openrouter" => Flavor::OpenRouter,
            "openai" => Flavor::OpenAi,
            other => {
                return Err(PyValueError::new_err(format!(
                    "flavor must be 'openrouter' or 'openai', got {other:?}"
                )))
            }
        };
        let addr = (host, port)
            .to_socket_addrs()
            .ok()
            .and_then(|mut addrs| addrs.next())
            .ok_or_else(|| PyValueError::new_err(format!("cannot resolve host {host:?}")))?;
        let catalog = match catalog_json {
            Some(json) => Catalog::from_json(&json).map_err(PyValueError::new_err)?,
            None => Catalog::bundled(),
        };
        let config = MockConfig {
            addr,
            api_key,
            catalog,
            total_credits,
            tls,
            flavor,
        };
        let server = py
            .detach(|| MockServer::start(runtime().handle(), config))
            .map_err(|e| {
                PyOSError::new_err(format!(
                    "could not start the mock server on {host}:{port}: {e}"
                ))
            })?;
        let addr = server.addr();
        let ca_pem = server.ca_pem().map(str::to_owned);
        Ok(Self {
            server: Mutex::new(server),
            addr,
            ca_pem,
        })
    }

    #[getter]
    fn host(&self) -> String {
        self.addr.ip().to_string()
    }

    #[getter]
    fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The CA certificate (PEM) to trust, or `None` when serving plain HTTP.
    #[getter]
    fn ca_pem(&self) -> Option<String> {
        self.ca_pem.clone()
    }

    /// Queue outcomes (a JSON list or object) for `model` (`"*"`: any model).
    fn push(&self, model: &str, outcomes_json: &str) -> PyResult<()> {
        let outcomes = parse_outcomes(outcomes_json)
            .map_err(|e| PyValueError::new_err(format!("invalid scripted outcome: {e}")))?;
        self.with(|server| server.push(model, outcomes));
        Ok(())
    }

    fn pending(&self) -> HashMap<String, usize> {
        self.with(|server| server.pending())
    }

    /// The recorded requests (the most recent 10,000), as a JSON list.
    fn requests_json(&self) -> PyResult<String> {
        let requests = self.with(|server| server.requests());
        serde_json::to_string(&requests).map_err(|e| PyValueError::new_err(e.to_string()))
    }

    /// `(opened, closed)` TCP connections so far.
    fn connections(&self) -> (u64, u64) {
        self.with(|server| server.connections())
    }

    fn reset(&self) {
        self.with(|server| server.reset());
    }

    fn stop(&self, py: Python<'_>) {
        py.detach(|| self.with(|server| server.stop()));
    }
}
