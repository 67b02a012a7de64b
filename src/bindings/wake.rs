//! How a completion queue wakes its event loop: a byte on a socket the loop watches
//! (`loop.add_reader`, Unix), or a Python callback for loops without `add_reader`.

#[cfg(unix)]
use std::io::{Read, Write};
#[cfg(unix)]
use std::os::unix::net::UnixStream;

use pyo3::prelude::*;

pub enum Wake {
    /// One byte written to a socket pair; tokio threads never touch the GIL.
    #[cfg(unix)]
    Socket {
        writer: UnixStream,
        reader: UnixStream,
    },
    /// `callback()` called from the tokio thread, with the GIL (the facade passes
    /// `loop.call_soon_threadsafe(drain)`).
    Callback(Py<PyAny>),
}

impl Wake {
    /// A socket pair for `loop.add_reader` (not available off Unix).
    pub fn socket() -> PyResult<Self> {
        #[cfg(unix)]
        {
            let (reader, writer) = UnixStream::pair()?;
            reader.set_nonblocking(true)?;
            writer.set_nonblocking(true)?;
            Ok(Self::Socket { writer, reader })
        }
        #[cfg(not(unix))]
        Err(pyo3::exceptions::PyNotImplementedError::new_err(
            "CompletionQueue needs wake= on this platform",
        ))
    }

    /// Wake the loop (called once per idle-to-busy transition).
    pub fn notify(&self) {
        match self {
            // A full socket buffer already means a pending wake-up: ignore WouldBlock.
            #[cfg(unix)]
            Self::Socket { writer, .. } => {
                let _ = (&*writer).write(&[1]);
            }
            Self::Callback(callback) => Python::attach(|py| {
                if let Err(err) = callback.call0(py) {
                    err.write_unraisable(py, None);
                }
            }),
        }
    }

    /// Consume pending wake-ups before draining.
    pub fn clear(&self) {
        #[cfg(unix)]
        if let Self::Socket { reader, .. } = self {
            // A short read emptied it: no second read just to see WouldBlock (usually
            // one byte waits, the queue writes one per idle-to-busy transition).
            let mut sink = [0u8; 256];
            while matches!((&*reader).read(&mut sink), Ok(n) if n == sink.len()) {}
        }
    }

    /// The file descriptor to watch with `loop.add_reader`, if any.
    pub fn fileno(&self) -> Option<i64> {
        match self {
            #[cfg(unix)]
            Self::Socket { reader, .. } => {
                use std::os::fd::AsRawFd;
                Some(i64::from(reader.as_raw_fd()))
            }
            Self::Callback(_) => None,
        }
    }
}
