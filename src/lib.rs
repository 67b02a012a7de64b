//! fastrouter core: the fast, dependable way to call OpenRouter.
//!
//! Plain Rust, testable with `cargo test` and no interpreter: the pooled transport
//! ([`transport`]), response and error interpretation ([`response`], [`error`]), model
//! chains with retries ([`failover`], [`hedge`], [`health`]), the non-streaming driver
//! ([`chat`]), streamed completions ([`stream`]) and the embedded mock server
//! ([`mock`]). The Python extension lives in `bindings`, compiled only with the
//! `python` feature.

pub mod answer_facts;
pub mod chat;
pub mod diagnose;
pub mod duration;
pub mod eager;
pub mod error;
pub mod events;
pub mod failover;
pub mod fork_fds;
pub mod h1_conn;
pub mod h1_pool;
pub mod health;
pub mod hedge;
pub mod http_response;
pub mod json_tape;
pub mod ledger;
pub mod mock;
pub mod network;
pub mod plain_http;
pub mod read_timeout;
pub mod response;
pub mod stream;
pub mod transport;
pub mod trust;

#[cfg(feature = "python")]
mod bindings;

/// The extension allocates on the runtime's threads what the event loop frees (every
/// streamed chunk): mimalloc's cross-thread frees are cheap where glibc's arenas lock
/// and consolidate (see Cargo.toml for the measured effect).
#[cfg(feature = "python")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[cfg(test)]
mod chain_tests;

pub use error::{Error, ErrorKind};
