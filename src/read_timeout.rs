//! The read timeout (`Timeout(read=...)`): how long fastrouter waits for the server's next
//! bytes (the response head, then each body chunk) and the error when they do not come.
//!
//! It counts only while a read waits: a consumer slower than the stream stops the reads
//! (the stream's buffers fill and push back on the server) without tripping it. A read
//! whose bytes are already there always wins over an expired deadline.

use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use tokio::time::{timeout_at, Instant};

use crate::error::{Error, ErrorKind, Result};
use crate::http_response::HttpResponse;

/// The read timeout of one transport; `None`: no limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadTimeout(Option<Duration>);

impl ReadTimeout {
    pub fn new(limit: Option<Duration>) -> Self {
        Self(limit)
    }

    pub fn limit(self) -> Option<Duration> {
        self.0
    }

    /// When a wait starting at `start` times out: `None` without a limit, or with one
    /// too far to represent (`read=1e300`).
    pub fn deadline_from<I: CheckedAdd>(self, start: I) -> Option<I> {
        start.checked_add(self.0?)
    }

    /// When a wait starting now times out; the clock is read only with a limit.
    fn deadline(self) -> Option<Instant> {
        self.0.and_then(|limit| Instant::now().checked_add(limit))
    }

    /// Wait for a response's head (connecting, sending, redirects included, as reqwest
    /// counted its read timeout on the whole request).
    pub async fn head<T>(self, send: impl Future<Output = Result<T>>) -> Result<T> {
        match self.deadline() {
            Some(deadline) => timeout_at(deadline, send)
                .await
                .unwrap_or_else(|_| Err(head_timed_out())),
            None => send.await,
        }
    }

    /// The next chunk of `response`'s body.
    pub async fn chunk(self, response: &mut HttpResponse) -> Result<Option<Bytes>> {
        let read = response.chunk();
        match self.deadline() {
            Some(deadline) => match timeout_at(deadline, read).await {
                Ok(read) => read,
                Err(_) => Err(body_timed_out()),
            },
            None => read.await,
        }
    }
}

/// Instants a limit can be added to (std's and tokio's), without overflowing.
pub trait CheckedAdd: Sized {
    fn checked_add(&self, duration: Duration) -> Option<Self>;
}

impl CheckedAdd for std::time::Instant {
    fn checked_add(&self, duration: Duration) -> Option<Self> {
        std::time::Instant::checked_add(self, duration)
    }
}

impl CheckedAdd for Instant {
    fn checked_add(&self, duration: Duration) -> Option<Self> {
        Instant::checked_add(self, duration)
    }
}

/// The response head did not arrive in time (worded as reqwest worded its own).
pub fn head_timed_out() -> Error {
    Error::new(
        ErrorKind::Timeout,
        "error sending request: operation timed out",
    )
}

/// The next body bytes did not arrive in time (worded as reqwest worded its own).
pub fn body_timed_out() -> Error {
    Error::new(
        ErrorKind::Timeout,
        "error decoding response body: request or response body error: operation timed out",
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::disallowed_methods)] // tests spawn their servers directly
mod tests {
    use super::*;

    #[test]
    fn no_limit_and_a_limit_too_far_mean_no_deadline() {
        let now = std::time::Instant::now();
        assert_eq!(ReadTimeout::new(None).deadline_from(now), None);
        let far = ReadTimeout::new(Some(Duration::from_secs(u64::MAX)));
        assert_eq!(far.deadline_from(now), None);
        let near = ReadTimeout::new(Some(Duration::from_secs(1)));
        assert_eq!(near.deadline_from(now), Some(now + Duration::from_secs(1)));
    }

    #[tokio::test(start_paused = true)]
    async fn a_late_head_times_out_and_a_timely_one_arrives() {
        let read = ReadTimeout::new(Some(Duration::from_secs(1)));
        let late = read.head(async {
            tokio::time::sleep(Duration::from_millis(1001)).await;
            Ok(())
        });
        let err = late.await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Timeout);
        assert_eq!(err.message(), head_timed_out().message());
        let timely = read.head(async {
            tokio::time::sleep(Duration::from_millis(999)).await;
            Ok(7)
        });
        assert_eq!(timely.await.unwrap(), 7);
        let unlimited = ReadTimeout::new(None).head(async {
            tokio::time::sleep(Duration::from_secs(86_400)).await;
            Ok(8)
        });
        assert_eq!(unlimited.await.unwrap(), 8);
    }

    /// A body whose chunks come from a channel: the test decides when bytes arrive.
    struct ChannelBody(tokio::sync::mpsc::Receiver<Bytes>);

    impl hyper::body::Body for ChannelBody {
        type Data = Bytes;
        type Error = std::io::Error;

        fn poll_frame(
            mut self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<std::result::Result<hyper::body::Frame<Bytes>, Self::Error>>>
        {
            self.0
                .poll_recv(cx)
                .map(|bytes| bytes.map(|b| Ok(hyper::body::Frame::data(b))))
        }
    }

    fn channel_response() -> (tokio::sync::mpsc::Sender<Bytes>, HttpResponse) {
        let (sender, receiver) = tokio::sync::mpsc::channel(16);
        let body = reqwest::Body::wrap(ChannelBody(receiver));
        let response = reqwest::Response::from(hyper::Response::new(body));
        (sender, HttpResponse::from(response))
    }

    #[tokio::test(start_paused = true)]
    async fn only_waiting_for_bytes_counts() {
        let read = ReadTimeout::new(Some(Duration::from_secs(1)));
        let (sender, mut response) = channel_response();
        sender.send(Bytes::from_static(b"a")).await.unwrap();
        assert_eq!(read.chunk(&mut response).await.unwrap().unwrap(), "a");
        // The server sends on time while nobody reads for far longer than the limit.
        tokio::time::sleep(Duration::from_millis(500)).await;
        sender.send(Bytes::from_static(b"b")).await.unwrap();
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert_eq!(read.chunk(&mut response).await.unwrap().unwrap(), "b");
        // A wait just within the limit, then one past it.
        let late = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(999)).await;
            sender.send(Bytes::from_static(b"c")).await.unwrap();
            tokio::time::sleep(Duration::from_millis(1001)).await;
            sender
        });
        assert_eq!(read.chunk(&mut response).await.unwrap().unwrap(), "c");
        let err = read.chunk(&mut response).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Timeout);
        assert_eq!(err.message(), body_timed_out().message());
        drop(late.await.unwrap());
        // Without a limit nothing times out; the body's end reads as the end.
        let (sender, mut response) = channel_response();
        let ends = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(86_400)).await;
            drop(sender);
        });
        let unlimited = ReadTimeout::new(None);
        assert!(unlimited.chunk(&mut response).await.unwrap().is_none());
        ends.await.unwrap();
    }
}
