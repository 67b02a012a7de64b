//! An OpenRouter look-alike HTTP server on loopback, for tests, benchmarks, the demo and
//! users' offline tests. It speaks the real wire format (checked against the official
//! `openai` SDK in the Python tests), can be scripted per model, and records requests.

pub mod catalog;
mod kept;
mod logprobs;
mod reply;
pub mod script;
mod stream;
pub mod tls;

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use hyper::server::conn::{http1, http2};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde::Serialize;
use serde_json::{json, Value};
use tokio::sync::oneshot;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

pub use catalog::Catalog;
pub use script::{parse_outcomes, Outcome};
pub use tls::CertKind;

/// Requests bigger than this are refused (the mock must not be a memory sink).
const MAX_REQUEST_BYTES: usize = 32 * 1024 * 1024;
/// Connections waiting to be accepted (the kernel caps it at `net.core.somaxconn`).
const LISTEN_BACKLOG: u32 = 1024;
/// Outcomes queued under this name apply to any model without a queue of its own.
pub const ANY_MODEL: &str = "*";

pub type Body = BoxBody<Bytes, io::Error>;

/// A request the mock received. The API key is never stored.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RecordedRequest {
    pub method: String,
    /// Path and query, without the `/api/v1` prefix.
    pub path: String,
    /// Lower-case names; `authorization` is replaced by `Bearer <redacted>`.
    pub headers: Vec<(String, String)>,
    /// The JSON body, or the raw text when it is not JSON, or null when empty (shared
    /// with the handler that answers it: recorded without a copy).
    #[serde(serialize_with = "shared_value")]
    pub body: Arc<Value>,
    /// `HTTP/1.1` or `HTTP/2`, as the request arrived.
    pub http_version: String,
}

/// Which API's conventions the mock follows for errors and usage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Flavor {
    /// OpenRouter: `{"error": {"code": <status>, "message", "metadata"}}`, `usage.cost`.
    #[default]
    OpenRouter,
    /// A plain OpenAI-compatible server (vLLM, Groq, OpenAI): `{"error": {"message",
    /// "type", "param", "code": "model_not_found"}}`, usage without `cost`.
    OpenAi,
}

/// Settings for [`MockServer::start`].
pub struct MockConfig {
    pub addr: SocketAddr,
    /// When set, requests must carry this key (others get OpenRouter's 401).
    pub api_key: Option<String>,
    pub catalog: Catalog,
    pub total_credits: f64,
    /// Serve HTTPS (h2 and http/1.1 by ALPN) with a generated certificate of this kind.
    pub tls: Option<CertKind>,
    pub flavor: Flavor,
}

impl Default for MockConfig {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            api_key: None,
            catalog: Catalog::bundled(),
            total_credits: 100.0,
            tls: None,
            flavor: Flavor::OpenRouter,
        }
    }
}

#[derive(Default)]
struct Counters {
    connections_opened: AtomicU64,
    connections_closed: AtomicU64,
}

/// Generation ids count up across every mock in the process; each server adds a random
/// prefix, so ids never repeat across instances or processes.
static NEXT_GENERATION: AtomicU64 = AtomicU64::new(0);

struct State {
    flavor: Flavor,
    api_key: Option<String>,
    catalog: Catalog,
    total_credits: f64,
    queues: Mutex<HashMap<String, VecDeque<Outcome>>>,
    requests: Mutex<kept::Recent<RecordedRequest>>,
    generations: Mutex<kept::Generations<reply::Generation>>,
    usage: Mutex<f64>,
    counters: Counters,
    /// Random per server: the middle of its generation ids.
    id_prefix: u32,
}

impl State {
    /// The next generation id, unique across servers and processes.
    fn next_generation(&self, created: u64) -> (u64, String) {
        let counter = NEXT_GENERATION.fetch_add(1, Ordering::Relaxed);
        let id = format!("gen-{created}-mock{:08x}{counter:08}", self.id_prefix);
        (counter, id)
    }

    /// A model this mock serves: in the catalog (with or without a `:variant` suffix),
    /// or scripted (under its name or [`ANY_MODEL`]) since the last reset. Others get
    /// OpenRouter's 400 "not a valid model ID".
    fn knows_model(&self, model: &str) -> bool {
        let base = model.split_once(':').map_or(model, |(base, _)| base);
        if self.catalog.contains(model) || self.catalog.contains(base) {
            return true;
        }
        let queues = lock(&self.queues);
        queues.contains_key(model) || queues.contains_key(ANY_MODEL)
    }
}

/// Poisoning only follows a panic elsewhere; the data is still consistent for a mock.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A running mock server; stops when dropped.
pub struct MockServer {
    addr: SocketAddr,
    /// The CA certificate (PEM) clients must trust, when serving HTTPS.
    ca_pem: Option<String>,
    state: Arc<State>,
    shutdown: Option<oneshot::Sender<()>>,
    stopped: Option<std::sync::mpsc::Receiver<()>>,
}

impl MockServer {
    /// Bind now (so the port is known at once) and serve on `runtime`.
    pub fn start(runtime: &tokio::runtime::Handle, config: MockConfig) -> io::Result<Self> {
        // std's `TcpListener::bind` listens with a backlog of 128: a burst of more new
        // connections (a benchmark opening 500 streams at once) has the rest dropped and
        // retried by the client a second later. A real server's queue is longer.
        let listener = {
            let _guard = runtime.enter();
            let socket = match config.addr {
                SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
                SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
            };
            // As std does (Unix only: elsewhere it would let two servers share a port).
            #[cfg(unix)]
            socket.set_reuseaddr(true)?;
            socket.bind(config.addr)?;
            socket.listen(LISTEN_BACKLOG)?
        };
        let addr = listener.local_addr()?;
        let tls = config.tls.map(tls::MockTls::generate).transpose()?;
        let (ca_pem, acceptor) = match tls {
            Some(tls) => (Some(tls.ca_pem), Some(tls.acceptor)),
            None => (None, None),
        };
        let state = Arc::new(State {
            flavor: config.flavor,
            api_key: config.api_key,
            catalog: config.catalog,
            total_credits: config.total_credits,
            queues: Mutex::default(),
            requests: Mutex::default(),
            generations: Mutex::default(),
            usage: Mutex::default(),
            counters: Counters::default(),
            id_prefix: fastrand::u32(..),
        });
        let (shutdown_tx, shutdown_rx) = oneshot::channel();
        let (stopped_tx, stopped_rx) = std::sync::mpsc::channel();
        // The mock server is a test fixture on the runtime it was handed, not a request.
        #[allow(clippy::disallowed_methods)]
        runtime.spawn(serve(
            listener,
            acceptor,
            state.clone(),
            shutdown_rx,
            stopped_tx,
        ));
        Ok(Self {
            addr,
            ca_pem,
            state,
            shutdown: Some(shutdown_tx),
            stopped: Some(stopped_rx),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL clients use, with OpenRouter's `/api/v1` prefix.
    pub fn base_url(&self) -> String {
        let scheme = if self.ca_pem.is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{}/api/v1", self.addr)
    }

    /// The CA certificate (PEM) that signed the server's certificate, when serving HTTPS.
    pub fn ca_pem(&self) -> Option<&str> {
        self.ca_pem.as_deref()
    }

    /// Queue outcomes for `model` (or [`ANY_MODEL`]); each chat request pops one.
    pub fn push(&self, model: &str, outcomes: Vec<Outcome>) {
        lock(&self.state.queues)
            .entry(model.to_owned())
            .or_default()
            .extend(outcomes);
    }

    /// Outcomes still queued, per model.
    pub fn pending(&self) -> HashMap<String, usize> {
        lock(&self.state.queues)
            .iter()
            .filter(|(_, queue)| !queue.is_empty())
            .map(|(model, queue)| (model.clone(), queue.len()))
            .collect()
    }

    /// The recorded requests, oldest first: the most recent [`kept::KEPT`].
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.state.requests).to_vec()
    }

    /// Forget recorded requests, queued outcomes (and so the models known only by being
    /// scripted), stored generations and the usage total.
    pub fn reset(&self) {
        *lock(&self.state.requests) = kept::Recent::default();
        *lock(&self.state.queues) = HashMap::new();
        *lock(&self.state.generations) = kept::Generations::default();
        *lock(&self.state.usage) = 0.0;
    }

    /// Generations stored for `GET /generation` (memory held by the mock).
    pub fn generations(&self) -> usize {
        lock(&self.state.generations).len()
    }

    /// (opened, closed) TCP connections so far.
    pub fn connections(&self) -> (u64, u64) {
        let counters = &self.state.counters;
        (
            counters.connections_opened.load(Ordering::SeqCst),
            counters.connections_closed.load(Ordering::SeqCst),
        )
    }

    /// Stop accepting, close every connection, and wait (briefly) until done.
    pub fn stop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(stopped) = self.stopped.take() {
            let _ = stopped.recv_timeout(Duration::from_secs(5));
        }
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

async fn serve(
    listener: tokio::net::TcpListener,
    acceptor: Option<TlsAcceptor>,
    state: Arc<State>,
    mut shutdown: oneshot::Receiver<()>,
    stopped: std::sync::mpsc::Sender<()>,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let _ = stream.set_nodelay(true);
                state.counters.connections_opened.fetch_add(1, Ordering::SeqCst);
                connections.spawn(serve_connection(stream, acceptor.clone(), state.clone()));
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    connections.shutdown().await;
    let _ = stopped.send(());
}

/// One accepted connection: plaintext HTTP/1.1, or TLS then HTTP/2 or HTTP/1.1 as ALPN chose.
async fn serve_connection(
    stream: tokio::net::TcpStream,
    acceptor: Option<TlsAcceptor>,
    state: Arc<State>,
) {
    let service = service_fn({
        let state = state.clone();
        move |request| handle(state.clone(), request)
    });
    match acceptor {
        None => {
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        }
        // A failed handshake (untrusted certificate, plaintext client) just closes.
        Some(acceptor) => match acceptor.accept(stream).await {
            Ok(tls) if tls.get_ref().1.alpn_protocol() == Some(b"h2") => {
                let _ = http2::Builder::new(TokioExecutor::new())
                    .max_concurrent_streams(tls::MAX_CONCURRENT_STREAMS)
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            }
            Ok(tls) => {
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            }
            Err(_) => {}
        },
    }
    state
        .counters
        .connections_closed
        .fetch_add(1, Ordering::SeqCst);
}

fn full(body: impl Into<Bytes>) -> Body {
    Full::new(body.into())
        .map_err(|never: Infallible| match never {})
        .boxed()
}

fn json_response(status: u16, body: impl Into<Bytes>) -> Response<Body> {
    let mut response = Response::new(full(body));
    *response.status_mut() =
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

fn error_response(status: u16, message: &str) -> Response<Body> {
    let body = json!({"error": {"message": message, "code": status}});
    json_response(status, body.to_string())
}

async fn handle(
    state: Arc<State>,
    request: Request<Incoming>,
) -> Result<Response<Body>, io::Error> {
    let (parts, body) = request.into_parts();
    let bytes = match Limited::new(body, MAX_REQUEST_BYTES).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => return Ok(error_response(413, "Request body too large")),
    };
    let full_path = parts
        .uri
        .path_and_query()
        .map_or_else(|| parts.uri.path().to_owned(), |pq| pq.as_str().to_owned());
    let full_path = full_path
        .strip_prefix("/api/v1")
        .map(str::to_owned)
        .unwrap_or(full_path);
    let path = full_path.split('?').next().unwrap_or_default().to_owned();
    let query = full_path
        .split_once('?')
        .map(|(_, q)| q)
        .unwrap_or_default();

    let json_body: Option<Arc<Value>> = serde_json::from_slice(&bytes).ok().map(Arc::new);
    lock(&state.requests).push(RecordedRequest {
        method: parts.method.to_string(),
        path: full_path.clone(),
        headers: recorded_headers(&parts.headers),
        body: match (&json_body, bytes.is_empty()) {
            (Some(value), _) => Arc::clone(value),
            (None, true) => Arc::new(Value::Null),
            (None, false) => Arc::new(Value::String(String::from_utf8_lossy(&bytes).into_owned())),
        },
        http_version: crate::transport::version_name(parts.version).to_owned(),
    });

    let public = parts.method == Method::GET && path.starts_with("/models");
    if !public {
        if let Some(denied) = check_auth(&state, &parts.headers) {
            return Ok(denied);
        }
    }

    match (&parts.method, path.as_str()) {
        (&Method::POST, "/chat/completions") => match json_body {
            Some(body) => reply::chat(&state, &body).await,
            None => Ok(error_response(400, "Invalid JSON in request body")),
        },
        (&Method::GET, "/models") => Ok(json_response(200, state.catalog.body())),
        (&Method::GET, _) if path.starts_with("/models/") && path.ends_with("/endpoints") => {
            let id = &path["/models/".len()..path.len() - "/endpoints".len()];
            Ok(match state.catalog.endpoints_body(id) {
                Some(body) => json_response(200, body),
                None => error_response(404, &format!("Model {id} not found")),
            })
        }
        (&Method::GET, "/generation") => {
            let id = query_param(query, "id").unwrap_or_default();
            let found = lock(&state.generations)
                .get(&id)
                .map(reply::Generation::body);
            Ok(match found {
                Some(Ok(body)) => json_response(200, body),
                Some(Err(err)) => error_response(500, &format!("generation not rendered: {err}")),
                None => error_response(404, &format!("Generation {id} not found")),
            })
        }
        (&Method::GET, "/credits") => {
            let usage = *lock(&state.usage);
            let body =
                json!({"data": {"total_credits": state.total_credits, "total_usage": usage}});
            Ok(json_response(200, body.to_string()))
        }
        (&Method::GET, "/key" | "/auth/key") => {
            let usage = *lock(&state.usage);
            let body = json!({"data": {
                "label": "sk-or-v1-mock...",
                "limit": null, "limit_reset": null, "limit_remaining": null,
                "include_byok_in_limit": false,
                "usage": usage, "usage_daily": usage, "usage_weekly": usage, "usage_monthly": usage,
                "byok_usage": 0, "is_free_tier": false, "is_management_key": false,
                "expires_at": null,
                "rate_limit": {"requests": -1, "interval": "10s", "note": "deprecated"},
            }});
            Ok(json_response(200, body.to_string()))
        }
        _ => Ok(error_response(404, "Not Found")),
    }
}

fn check_auth(state: &State, headers: &hyper::HeaderMap) -> Option<Response<Body>> {
    // A plain OpenAI-compatible server without a key (vLLM, Ollama) asks for none.
    if state.flavor == Flavor::OpenAi && state.api_key.is_none() {
        return None;
    }
    let Some(value) = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()) else {
        return Some(error_response(401, "No auth credentials found"));
    };
    let key = value.strip_prefix("Bearer ").unwrap_or_default().trim();
    let accepted = match &state.api_key {
        Some(expected) => key == expected,
        None => !key.is_empty(),
    };
    (!accepted).then(|| error_response(401, "User not found."))
}

fn shared_value<S: serde::Serializer>(
    value: &Arc<Value>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    value.as_ref().serialize(serializer)
}

fn recorded_headers(headers: &hyper::HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(name, value)| {
            let value = if name == AUTHORIZATION {
                "Bearer <redacted>".to_owned()
            } else {
                String::from_utf8_lossy(value.as_bytes()).into_owned()
            };
            (name.as_str().to_owned(), value)
        })
        .collect()
}

fn query_param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        (key == name).then(|| value.to_owned())
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn runtime() -> tokio::runtime::Runtime {
        crate::transport::install_crypto_provider();
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn serves_records_and_stops() {
        let rt = runtime();
        let mut server = MockServer::start(rt.handle(), MockConfig::default()).unwrap();
        let url = format!("{}/models", server.base_url());
        let status = rt.block_on(async {
            reqwest::Client::new()
                .get(&url)
                .send()
                .await
                .unwrap()
                .status()
        });
        assert_eq!(status, 200);
        let recorded = server.requests();
        assert_eq!(recorded.len(), 1);
        assert_eq!(recorded[0].path, "/models");
        server.stop();
        let after = rt.block_on(async { reqwest::Client::new().get(&url).send().await });
        assert!(after.is_err(), "the port must be closed after stop()");
    }

    #[test]
    fn query_params() {
        assert_eq!(query_param("a=1&id=gen-2", "id").as_deref(), Some("gen-2"));
        assert_eq!(query_param("", "id"), None);
    }
}
