//! The type slots of [`AsyncChunks`] that PyO3 cannot write: the crate's only `unsafe`.
//!
//! Each chunk of an async stream is one `await`. CPython 3.10 and 3.11 complete an `await`
//! through the awaitable's `am_send` slot, which returns the value without making a
//! `StopIteration`; PyO3 offers no such slot, and completing through `__next__` makes (and
//! normalizes) an exception per chunk, which cost more than the async generator it would
//! replace (benches/README.md, "s2iter"). So, once at import, the type's `am_send` is set
//! to [`am_send`], its `am_anext` and `am_await` to [`itself`] (both return the iterator:
//! no PyO3 call wrapper for them), and its `tp_iternext` (3.12 and later complete an
//! `await` there, as does a traced 3.11) to [`iternext`], which completes with
//! `PyErr_SetObject(StopIteration, chunk)`, as CPython's own async generators do.
//!
//! The usual step (the next chunk of a batch held) runs without PyO3's attach bookkeeping:
//! it calls no Python code and drops no `Py` (whose release PyO3 defers while it does not
//! count the thread as attached). Every other step (take a batch, wait, end, fail) runs
//! inside `Python::attach`, which counts it (through `PyGILState_Ensure` when no PyO3 call
//! is on the stack). An error or a panic in any step becomes a Python exception and ends
//! the iteration as any other failure does (the stream records it).
#![allow(unsafe_code)]

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;

use pyo3::exceptions::{PyBaseException, PyStopIteration};
use pyo3::ffi;
use pyo3::panic::PanicException;
use pyo3::prelude::*;
use pyo3::types::PyTuple;
use pyo3::PyTypeInfo;

use super::async_chunks::{AsyncChunks, Sent};

/// Give `AsyncChunks`' type the slots above. Called once, as the module is made.
pub fn install(py: Python<'_>) {
    let raw = AsyncChunks::type_object(py).as_type_ptr();
    // SAFETY: `raw` is the live heap type PyO3 made for `AsyncChunks` (no instance exists
    // yet, and the GIL is held). A heap type's `tp_as_async` points into its own
    // `PyHeapTypeObject`, writable memory; the functions written match the slots'
    // signatures. `PyType_Modified` drops any cached lookup of the old ones.
    unsafe {
        let methods = (*raw).tp_as_async;
        if methods.is_null() {
            return; // never for a heap type; then the PyO3 slots stay, correct but slower
        }
        (*methods).am_send = Some(am_send);
        (*methods).am_anext = Some(itself);
        (*methods).am_await = Some(itself);
        (*raw).tp_iternext = Some(iternext);
        ffi::PyType_Modified(raw);
    }
}

/// `am_anext` and `am_await`: the iterator is its own awaitable (see `AsyncChunks`).
unsafe extern "C" fn itself(slf: *mut ffi::PyObject) -> *mut ffi::PyObject {
    // SAFETY: `slf` is alive for the call; the reference returned is the caller's.
    unsafe { ffi::Py_IncRef(slf) };
    slf
}

/// One step of the awaitable, an error (a panic included) as a Python exception.
fn step(py: Python<'_>, slf: &Bound<'_, PyAny>) -> PyResult<Sent> {
    let chunks = slf.cast::<AsyncChunks>()?;
    let caught = catch_unwind(AssertUnwindSafe(|| {
        if let Ok(mut this) = chunks.try_borrow_mut() {
            match this.next_ready(py) {
                Some(Ok(chunk)) => return Ok(Sent::Return(chunk)),
                Some(Err(error)) => {
                    drop(this);
                    return Python::attach(|_| Err(AsyncChunks::failed(chunks, error)));
                }
                None => {}
            }
        }
        Python::attach(|_| AsyncChunks::advance(chunks))
    }));
    caught.unwrap_or_else(|payload| {
        let message = payload
            .downcast_ref::<&str>()
            .map(|text| (*text).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic in a stream's iterator".to_owned());
        let panic = PanicException::new_err(message);
        Python::attach(|_| Err(AsyncChunks::failed(chunks, panic)))
    })
}

/// `am_send`: complete the `await` with a chunk (`PYGEN_RETURN`), suspend the awaiting
/// task on what is handed to it (`PYGEN_NEXT`), or raise (`PYGEN_ERROR`). `value` is
/// ignored: an `await`'s resumption always sends `None`.
unsafe extern "C" fn am_send(
    slf: *mut ffi::PyObject,
    value: *mut ffi::PyObject,
    result: *mut *mut ffi::PyObject,
) -> ffi::PySendResult {
    let _ = value;
    // SAFETY: CPython calls a slot with the GIL held, `slf` alive for the call.
    let py = unsafe { Python::assume_attached() };
    let slf = unsafe { Bound::from_borrowed_ptr(py, slf) };
    let (status, object) = match step(py, &slf) {
        Ok(Sent::Return(value)) => (ffi::PySendResult::PYGEN_RETURN, value.into_ptr()),
        Ok(Sent::Yield(handed)) => (ffi::PySendResult::PYGEN_NEXT, handed.into_ptr()),
        Ok(Sent::End) => {
            // SAFETY: the GIL is held; the exception type is a static object.
            unsafe { ffi::PyErr_SetNone(ffi::PyExc_StopAsyncIteration) };
            (ffi::PySendResult::PYGEN_ERROR, ptr::null_mut())
        }
        Err(error) => {
            error.restore(py);
            (ffi::PySendResult::PYGEN_ERROR, ptr::null_mut())
        }
    };
    // SAFETY: `result` is where the caller takes a new reference (NULL with an error).
    unsafe { *result = object };
    status
}

/// `tp_iternext`: as [`am_send`], a completed `await` raising `StopIteration(chunk)`.
unsafe extern "C" fn iternext(slf: *mut ffi::PyObject) -> *mut ffi::PyObject {
    // SAFETY: as in `am_send`.
    let py = unsafe { Python::assume_attached() };
    let slf = unsafe { Bound::from_borrowed_ptr(py, slf) };
    match step(py, &slf) {
        Ok(Sent::Yield(handed)) => handed.into_ptr(),
        Ok(Sent::Return(value)) => {
            let value = value.into_bound(py);
            if value.is_instance_of::<PyTuple>() || value.is_instance_of::<PyBaseException>() {
                // Never a chunk; `PyErr_SetObject` would read it as the exception's arguments.
                PyStopIteration::new_err((value.unbind(),)).restore(py);
            } else {
                // SAFETY: both pointers are alive; `PyErr_SetObject` takes its own references.
                unsafe { ffi::PyErr_SetObject(ffi::PyExc_StopIteration, value.as_ptr()) };
            }
            ptr::null_mut()
        }
        Ok(Sent::End) => {
            // SAFETY: as above.
            unsafe { ffi::PyErr_SetNone(ffi::PyExc_StopAsyncIteration) };
            ptr::null_mut()
        }
        Err(error) => {
            error.restore(py);
            ptr::null_mut()
        }
    }
}
