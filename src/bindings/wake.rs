//! How a completion queue wakes its event loop: a byte on a pipe the loop watches
//! (`loop.add_reader`, Unix), or a Python callback for loops without `add_reader`.

#[cfg(unix)]
use std::fs::File;
#[cfg(unix)]
use std::io::{Read, Write};

use pyo3::prelude::*;

pub enum Wake {
    /// One byte written to a pipe; tokio threads never touch the GIL. A pipe, not a
    /// socket pair: its write and read cost a third of a Unix socket's (no socket
    /// buffer allocated per byte), paid once per wake-up (issue 11).
    #[cfg(unix)]
    Pipe { writer: File, reader: File },
    /// `callback()` called from the tokio thread, with the GIL (the facade passes
    /// `loop.call_soon_threadsafe(drain)`).
    Callback(Py<PyAny>),
}

impl Wake {
    /// A non-blocking pipe for `loop.add_reader` (not available off Unix).
    pub fn pipe() -> PyResult<Self> {
        #[cfg(unix)]
        {
            // tokio's pipe is created non-blocking and close-on-exec; taken back from
            // its reactor at once, the ends are plain files (std's pipe is blocking).
            let _runtime = super::runtime::runtime().enter();
            let (writer, reader) = tokio::net::unix::pipe::pipe()?;
            Ok(Self::Pipe {
                writer: File::from(writer.into_nonblocking_fd()?),
                reader: File::from(reader.into_nonblocking_fd()?),
            })
        }
        #[cfg(not(unix))]
        Err(pyo3::exceptions::PyNotImplementedError::new_err(
            "CompletionQueue needs wake= on this platform",
        ))
    }

    /// Wake the loop (called once per idle-to-busy transition).
    pub fn notify(&self) {
        match self {
            // A full pipe already means a pending wake-up: ignore WouldBlock.
            #[cfg(unix)]
            Self::Pipe { writer, .. } => {
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
        if let Self::Pipe { reader, .. } = self {
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
            Self::Pipe { reader, .. } => {
                use std::os::fd::AsRawFd;
                Some(i64::from(reader.as_raw_fd()))
            }
            Self::Callback(_) => None,
        }
    }
}
