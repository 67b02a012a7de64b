//! The type slots of a stream's async iterator that PyO3 cannot write: one of the two
//! modules with `unsafe` (the other, `slotted.rs`, writes an answer's model slots).
//!
//! Each chunk of an async stream is one `await` of the iterator's [`NextChunk`]. CPython
//! 3.10 and 3.11 complete an `await` through the awaitable's `am_send` slot, which returns
//! the value without making a `StopIteration`; PyO3 offers no such slot, and completing
//! through `__next__` makes (and normalizes) an exception per chunk, which cost more than
//! the async generator it would replace (benches/README.md, "s2iter"). So, once at import:
//! `NextChunk`'s `am_send` is set to [`am_send`], its `am_await` to [`itself`], and its
//! `tp_iternext` (3.12 and later complete an `await` there, as does a traced 3.11) to
//! [`iternext`], which completes with `PyErr_SetObject(StopIteration, chunk)` as CPython's
//! own async generators do; [`AsyncChunks`]' `am_anext` is set to [`next_chunk`]. No PyO3
//! call wrapper runs per chunk: what each step does, and how an error or a panic in it
//! ends the iteration, is [`NextChunk::step_caught`]'s.
#![allow(unsafe_code)]

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;

use pyo3::exceptions::{PyBaseException, PyStopIteration};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::PyTuple;
use pyo3::PyTypeInfo;

use super::async_chunks::{AsyncChunks, NextChunk, Sent};

/// Give the two types the slots above. Called once, as the module is made.
pub fn install(py: Python<'_>) {
    let next_chunk = NextChunk::type_object(py).as_type_ptr();
    let chunks = AsyncChunks::type_object(py).as_type_ptr();
    // SAFETY: both are live heap types PyO3 made (no instance exists yet, and the GIL is
    // held). A heap type's `tp_as_async` points into its own `PyHeapTypeObject`, writable
    // memory; the functions written match the slots' signatures. `PyType_Modified` drops
    // any cached lookup of the old ones.
    unsafe {
        let methods = (*next_chunk).tp_as_async;
        if !methods.is_null() {
            (*methods).am_send = Some(am_send);
            (*methods).am_await = Some(itself);
            (*next_chunk).tp_iternext = Some(iternext);
            ffi::PyType_Modified(next_chunk);
        }
        let methods = (*chunks).tp_as_async;
        if !methods.is_null() {
            (*methods).am_anext = Some(next_chunk_of);
            ffi::PyType_Modified(chunks);
        }
    }
    // (A heap type always has `tp_as_async`; without it the PyO3 slots stay: slower only.)
}

/// `am_await`: the awaitable is its own iterator.
unsafe extern "C" fn itself(slf: *mut ffi::PyObject) -> *mut ffi::PyObject {
    // SAFETY: `slf` is alive for the call; the reference returned is the caller's.
    unsafe { ffi::Py_IncRef(slf) };
    slf
}

/// `am_anext` of `AsyncChunks`: its `NextChunk`.
unsafe extern "C" fn next_chunk_of(slf: *mut ffi::PyObject) -> *mut ffi::PyObject {
    // SAFETY: CPython calls a slot with the GIL held, `slf` alive for the call.
    let py = unsafe { Python::assume_attached() };
    let slf = unsafe { Bound::from_borrowed_ptr(py, slf) };
    // (The slot is only on `AsyncChunks`, a final class: the cast always succeeds.)
    let next = catch_unwind(AssertUnwindSafe(|| {
        slf.cast::<AsyncChunks>()
            .map(|chunks| chunks.get().next_chunk(py))
            .map_err(PyErr::from)
    }))
    .unwrap_or_else(|_| Err(pyo3::panic::PanicException::new_err("a stream's iterator")));
    match next {
        Ok(next) => next.into_ptr(),
        Err(error) => {
            error.restore(py);
            ptr::null_mut()
        }
    }
}

/// One step of the `NextChunk` at `slf`.
fn step(slf: &Bound<'_, PyAny>) -> PyResult<Sent> {
    NextChunk::step_caught(slf.cast::<NextChunk>()?)
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
    let (status, object) = match step(&slf) {
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
    match step(&slf) {
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
