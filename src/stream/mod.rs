//! Streamed completions, in the order bytes flow: the sans-IO SSE parser ([`sse`]), the
//! OpenRouter stream semantics on top of it ([`decoder`]), each chunk parsed once into a
//! typed view ([`chunk`], the usual shape read by [`scan`]), merging chunks into the whole completion ([`accumulate`]) and
//! the read loop that drives a chain ([`reader`]) and hands batches to the consumer
//! ([`channel`]).

pub mod accumulate;
pub mod channel;
pub mod chunk;
pub mod decoder;
pub mod raw_json;
pub mod reader;
pub mod scan;
pub mod sse;
