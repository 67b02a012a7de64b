//! The sockets of this process's live pooled connections ([`PooledSocket`]), so that a
//! forked child can close its copies of them ([`take_inherited`], called by the child's
//! after-fork hook).
//!
//! A forked child shares the parent's sockets. It never uses them (its pools are rebuilt),
//! and it must not drop them through tokio, which would deregister them from the epoll
//! instance it shares with the parent. Left open, they keep open a connection the parent
//! closes (the server sees no EOF, CLOSE_WAIT) for as long as any child lives. Closing the
//! child's copy of the descriptor is safe: the parent's epoll registration and socket
//! belong to its own descriptor. A socket is recorded from its opening until just before
//! its close, with its identity (device, inode), so a child closes a descriptor only if it
//! still is the inherited socket; the record is emptied when taken, so never twice. A
//! socket is also shut down before it closes, so that a copy the record missed (a child
//! forked while its connection was being opened) cannot hold it open for the server.

use tokio::net::TcpStream;

/// A descriptor a forked child inherited from a pooled connection, and the identity of
/// the socket it was (compare with `fstat` before closing it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Inherited {
    pub fd: i32,
    pub dev: u64,
    pub ino: u64,
}

#[cfg(unix)]
mod record {
    use std::collections::BTreeMap;
    use std::os::fd::{AsFd, AsRawFd};
    use std::os::unix::fs::MetadataExt;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Mutex, TryLockError};

    use tokio::net::TcpStream;

    use super::Inherited;

    /// Live pooled sockets by descriptor: (device, inode).
    static LIVE: Mutex<BTreeMap<i32, (u64, u64)>> = Mutex::new(BTreeMap::new());

    /// Set in a forked child whose copy of `LIVE` was locked at the fork by a thread the
    /// child does not have: it stays locked there, so this process records nothing more.
    static ABANDONED: AtomicBool = AtomicBool::new(false);

    /// Record `stream`; the descriptor to [`forget`] before it closes, `None` if it could
    /// not be identified (a child then keeps that copy open, as before).
    pub fn record(stream: &TcpStream) -> Option<i32> {
        if ABANDONED.load(Ordering::Acquire) {
            return None;
        }
        // Identity without an unsafe borrow of the raw descriptor: `fstat` of a duplicate.
        let meta = std::fs::File::from(stream.as_fd().try_clone_to_owned().ok()?)
            .metadata()
            .ok()?;
        let fd = stream.as_raw_fd();
        LIVE.lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(fd, (meta.dev(), meta.ino()));
        Some(fd)
    }

    pub fn forget(fd: i32) {
        if !ABANDONED.load(Ordering::Acquire) {
            LIVE.lock().unwrap_or_else(|p| p.into_inner()).remove(&fd);
        }
    }

    pub fn take_inherited() -> Vec<Inherited> {
        let mut live = match LIVE.try_lock() {
            Ok(live) => live,
            Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
            Err(TryLockError::WouldBlock) => {
                // Held at the fork by another thread (a connection opening or closing on
                // the runtime's): its state is unknown, and nobody will unlock it.
                ABANDONED.store(true, Ordering::Release);
                return Vec::new();
            }
        };
        std::mem::take(&mut *live)
            .into_iter()
            .map(|(fd, (dev, ino))| Inherited { fd, dev, ino })
            .collect()
    }

    #[cfg(test)]
    pub fn identity(fd: i32) -> Option<(u64, u64)> {
        LIVE.lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&fd)
            .copied()
    }
}

#[cfg(not(unix))]
mod record {
    use super::Inherited;
    use tokio::net::TcpStream;

    pub fn record(_: &TcpStream) -> Option<i32> {
        None
    }

    pub fn forget(_: i32) {}

    pub fn take_inherited() -> Vec<Inherited> {
        Vec::new()
    }
}

/// In a forked child, right after the fork (before it opens anything): the descriptors
/// of the pooled sockets it inherited, each returned once. The caller closes those whose
/// `fstat` still shows the same socket; the parent's objects holding them are never
/// used or dropped in the child (see [`PooledSocket`]).
pub fn take_inherited() -> Vec<Inherited> {
    record::take_inherited()
}

/// A pooled connection's socket: recorded while open, and never closed by a process it
/// was not opened in (a forked child: see the module's documentation).
pub struct PooledSocket {
    /// `None` only while being dropped in a forked child.
    stream: Option<TcpStream>,
    recorded: Option<i32>,
    pid: u32,
}

impl PooledSocket {
    pub fn new(stream: TcpStream) -> Self {
        Self {
            recorded: record::record(&stream),
            stream: Some(stream),
            pid: std::process::id(),
        }
    }

    /// The socket, for reads straight into a connection's buffer (`h1_conn`); `None`
    /// only while being dropped.
    pub fn tcp(&self) -> Option<&TcpStream> {
        self.stream.as_ref()
    }

    /// [`Self::tcp`], to read through tokio's `AsyncRead` (`h1_conn`).
    pub fn tcp_mut(&mut self) -> Option<&mut TcpStream> {
        self.stream.as_mut()
    }

    #[cfg(test)]
    pub fn recorded(&self) -> Option<i32> {
        self.recorded
    }
}

impl Drop for PooledSocket {
    fn drop(&mut self) {
        if std::process::id() != self.pid {
            // A forked child: the parent's socket (its copy here may already be closed
            // and the number reused), registered with the parent's epoll. Leak it.
            std::mem::forget(self.stream.take());
            return;
        }
        // Forgotten before the socket closes: a recorded number is always this socket.
        if let Some(fd) = self.recorded {
            record::forget(fd);
        }
        // The end for the server, even if a copy of the descriptor lives elsewhere.
        // Through a duplicate: std shuts down only a socket it owns (closes are rare).
        #[cfg(unix)]
        if let Some(stream) = &self.stream {
            if let Ok(copy) = std::os::fd::AsFd::as_fd(stream).try_clone_to_owned() {
                let _ = std::net::TcpStream::from(copy).shutdown(std::net::Shutdown::Write);
            }
        }
    }
}

#[cfg(all(test, unix))]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    #[tokio::test]
    async fn a_socket_is_recorded_while_open_and_forgotten_before_it_closes() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let stream = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let fd = stream.as_raw_fd();
        let socket = PooledSocket::new(stream);
        assert_eq!(socket.recorded(), Some(fd));
        let identity = record::identity(fd).unwrap();
        drop(socket);
        // Other tests may open a socket under the same number meanwhile: not this one.
        assert_ne!(record::identity(fd), Some(identity));
    }

    #[tokio::test]
    async fn a_socket_ends_for_the_peer_even_while_a_copy_lives() {
        use tokio::io::AsyncReadExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let stream = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (mut peer, _) = listener.accept().await.unwrap();
        // As a child forked while the connection was being opened would hold it.
        let copy = std::os::fd::AsFd::as_fd(&stream)
            .try_clone_to_owned()
            .unwrap();
        drop(PooledSocket::new(stream));
        let mut buf = [0u8; 8];
        let read = tokio::time::timeout(std::time::Duration::from_secs(5), peer.read(&mut buf));
        assert_eq!(read.await.unwrap().unwrap(), 0, "the peer saw the end");
        drop(copy);
    }
}
