//! A response whose head has arrived and whose body is still to be read: reqwest's (https
//! targets, OpenRouter's other endpoints) or the plain-http path's own
//! ([`crate::plain_http`]). The plain one is the pool's response as it is, with no
//! `reqwest::Response` shell around it: the shell cost about seven allocations per request
//! (its URL, the extension map carrying it, two boxed body layers) and two dynamic calls per
//! read (benches/README.md, "plainresp").

use bytes::Bytes;
use http_body_util::BodyExt;
use reqwest::header::HeaderMap;
use reqwest::{StatusCode, Version};

use crate::error::{Error, Result};
use crate::plain_http::PlainBody;

/// A response being read, from either path.
pub enum HttpResponse {
    Reqwest(reqwest::Response),
    Plain(hyper::Response<PlainBody>),
}

impl From<reqwest::Response> for HttpResponse {
    fn from(response: reqwest::Response) -> Self {
        Self::Reqwest(response)
    }
}

impl std::fmt::Debug for HttpResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpResponse")
            .field("status", &self.status())
            .field("version", &self.version())
            .finish_non_exhaustive()
    }
}

impl HttpResponse {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Reqwest(response) => response.status(),
            Self::Plain(response) => response.status(),
        }
    }

    pub fn version(&self) -> Version {
        match self {
            Self::Reqwest(response) => response.version(),
            Self::Plain(response) => response.version(),
        }
    }

    pub fn headers(&self) -> &HeaderMap {
        match self {
            Self::Reqwest(response) => response.headers(),
            Self::Plain(response) => response.headers(),
        }
    }

    pub fn headers_mut(&mut self) -> &mut HeaderMap {
        match self {
            Self::Reqwest(response) => response.headers_mut(),
            Self::Plain(response) => response.headers_mut(),
        }
    }

    /// The body's length when its framing says it (not when it is decompressed), as
    /// reqwest's `content_length` reads it.
    pub fn content_length(&self) -> Option<u64> {
        match self {
            Self::Reqwest(response) => response.content_length(),
            Self::Plain(response) => hyper::body::Body::size_hint(response.body()).exact(),
        }
    }

    /// The body's next bytes; `None` at its end. Cancel-safe: dropped before it is ready,
    /// no bytes are lost.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>> {
        match self {
            Self::Reqwest(response) => response.chunk().await.map_err(Error::from_transport),
            Self::Plain(response) => loop {
                match response.body_mut().frame().await {
                    None => return Ok(None),
                    // Trailers are skipped, as reqwest's `chunk` skips them.
                    Some(Ok(frame)) => {
                        if let Ok(data) = frame.into_data() {
                            return Ok(Some(data));
                        }
                    }
                    Some(Err(err)) => return Err(crate::diagnose::plain_body_error(&*err)),
                }
            },
        }
    }
}
