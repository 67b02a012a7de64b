//! fastrouter core: the fast, dependable way to call OpenRouter.
//!
//! Plain Rust, testable with `cargo test` and no interpreter: the pooled transport
//! ([`transport`]), response and error interpretation ([`response`], [`error`]), model
//! chains with retries ([`failover`]) and the embedded mock server ([`mock`]). The Python
//! extension lives in `bindings`, compiled only with the `python` feature.

pub mod accumulate;
pub mod duration;
pub mod error;
pub mod events;
pub mod failover;
pub mod health;
pub mod hedge;
pub mod mock;
pub mod response;
pub mod sse;
pub mod stream;
pub mod streaming;
pub mod transport;

#[cfg(feature = "python")]
mod bindings;

pub use error::{Error, ErrorKind};
