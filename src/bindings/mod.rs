//! The Python extension module `fastrouter._fastrouter`. Thin: convert arguments,
//! release the GIL, call the core, convert back. Users import `fastrouter`, never this.

mod answer;
mod async_chunks;
mod bridge;
mod chunk;
mod client;
mod errors;
mod fields;
mod future;
mod json;
mod ledger_ring;
mod mock;
mod records;
mod runtime;
mod slots;
mod slotted;
mod stream;
mod tape_object;
mod wake;

use pyo3::prelude::*;

/// Register each listed `#[pyclass]` on the module.
macro_rules! add_classes {
    ($module:expr, $($class:ty),+ $(,)?) => {
        $( $module.add_class::<$class>()?; )+
    };
}

/// `sys.get_int_max_str_digits` (3.11 and the 3.10 patch releases that have it), or
/// `None` where Python has no such limit.
static INT_MAX_DIGITS_OF: pyo3::sync::PyOnceLock<Option<Py<PyAny>>> = pyo3::sync::PyOnceLock::new();

/// Python's limit on an integer's digits now, which `json.loads` applies to a chunk's rare
/// parts: the core refuses a chunk past it. Read at each stream's start, so a limit the
/// program changed (`sys.set_int_max_str_digits`, 0 for none) counts from its next stream.
pub(crate) fn refresh_int_max_digits(py: Python<'_>) {
    let getter = INT_MAX_DIGITS_OF.get_or_init(py, || {
        py.import("sys")
            .and_then(|sys| sys.getattr("get_int_max_str_digits"))
            .ok()
            .map(Bound::unbind)
    });
    let digits = match getter {
        None => Ok(0), // no limit in this Python
        Some(getter) => getter
            .call0(py)
            .and_then(|digits| digits.extract::<usize>(py)),
    };
    if let Ok(digits) = digits {
        crate::stream::raw_json::set_int_max_digits(digits);
    }
}

#[pymodule]
fn _fastrouter(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("USER_AGENT", crate::transport::USER_AGENT)?;
    refresh_int_max_digits(m.py());
    m.add_function(wrap_pyfunction!(runtime::debug::_debug_spawn_panic, m)?)?;
    m.add_function(wrap_pyfunction!(runtime::debug::_debug_block_on_panic, m)?)?;
    m.add_function(wrap_pyfunction!(runtime::debug::_debug_keep_busy, m)?)?;
    m.add_function(wrap_pyfunction!(runtime::debug::_debug_busy_spells, m)?)?;
    m.add_function(wrap_pyfunction!(runtime::debug::_debug_eager_starts, m)?)?;
    m.add_function(wrap_pyfunction!(
        answer::_debug_answer_models_write_slots,
        m
    )?)?;
    m.add_function(wrap_pyfunction!(answer::_debug_make_model, m)?)?;
    m.add_function(wrap_pyfunction!(json::encode_json, m)?)?;
    m.add_function(wrap_pyfunction!(tape_object::model_data, m)?)?;
    m.add_function(wrap_pyfunction!(tape_object::json_get, m)?)?;
    add_classes!(
        m,
        client::NativeClient,
        mock::NativeMockServer,
        stream::NativeStream,
        stream::SyncChunks,
        async_chunks::AsyncChunks,
        async_chunks::NextChunk,
        async_chunks::ChunksAclose,
        chunk::StreamChunk,
        chunk::StreamChoice,
        chunk::StreamDelta,
        chunk::StreamChunkWithExtras,
        chunk::StreamChoiceWithExtras,
        chunk::StreamDeltaWithExtras,
        bridge::CompletionQueue,
        future::NativeFuture,
        fields::FieldGetter,
        tape_object::TapeObject,
        records::NativeAttempt,
        records::NativeChat,
        records::NativeHeaders,
        records::NativeChainEvent,
        records::NativeHealth,
        ledger_ring::LedgerRing,
        ledger_ring::AnswerFacts,
    );
    slots::install(m.py());
    // After os.fork() (gunicorn --preload, Celery prefork, multiprocessing) the child must
    // not wait on the parent's runtime threads: rebuild lazily instead.
    let kwargs = pyo3::types::PyDict::new(m.py());
    kwargs.set_item(
        "after_in_child",
        wrap_pyfunction!(runtime::after_fork_in_child, m)?,
    )?;
    m.py()
        .import("os")?
        .call_method("register_at_fork", (), Some(&kwargs))?;
    m.add(
        "__all__",
        [
            "AnswerFacts",
            "AsyncChunks",
            "ChunksAclose",
            "NativeAttempt",
            "NativeChainEvent",
            "NativeChat",
            "NativeClient",
            "NativeFuture",
            "NativeHeaders",
            "NativeHealth",
            "NativeMockServer",
            "NativeStream",
            "NextChunk",
            "SyncChunks",
            "CompletionQueue",
            "LedgerRing",
            "USER_AGENT",
            "__version__",
        ],
    )?;
    Ok(())
}
