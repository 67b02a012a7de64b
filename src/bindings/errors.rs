//! The one place core errors become Python exceptions. The classes live in
//! `fastrouter/errors.py`; `errors._from_native` picks the class from the core's kind alone.

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyString};
use serde_json::Value;

use super::json::{from_value, loads_if};
use super::records::attempt_list;
use crate::error::{Error, ErrorDetails};
use crate::failover::{answer_cost, Attempt, ChainError};

static FROM_NATIVE: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// Convert a chain failure into the matching `fastrouter` exception.
/// `partial` is the completion received before a stream failed (JSON text).
pub fn chain_error_to_py(error: ChainError, partial: Option<String>) -> PyErr {
    build(
        &error.error,
        &error.attempts,
        error.exhausted_chain,
        partial,
    )
}

/// Convert a single core error into the matching `fastrouter` exception.
pub fn error_to_py(error: &Error) -> PyErr {
    build(error, &[], false, None)
}

fn build(
    error: &Error,
    attempts: &[Attempt],
    exhausted_chain: bool,
    partial: Option<String>,
) -> PyErr {
    Python::attach(|py| {
        let make = || -> PyResult<PyErr> {
            let factory = FROM_NATIVE.get_or_try_init(py, || {
                py.import("fastrouter.errors")?
                    .getattr("_from_native")
                    .map(Bound::unbind)
            })?;
            let details = error.details();
            let kwargs = PyDict::new(py);
            kwargs.set_item("kind", error.kind().as_str())?;
            kwargs.set_item("message", error.message())?;
            kwargs.set_item("status", details.status)?;
            let (code, metadata) = code_and_metadata(py, details)?;
            kwargs.set_item("code", code)?;
            kwargs.set_item("metadata", metadata)?;
            kwargs.set_item("retry_after", details.retry_after.map(|d| d.as_secs_f64()))?;
            kwargs.set_item("request_id", details.request_id.as_deref())?;
            kwargs.set_item("provider", details.provider.as_deref())?;
            kwargs.set_item("model", details.model.as_deref())?;
            kwargs.set_item("body", details.body_snippet.as_deref())?;
            kwargs.set_item("headers", details.headers.as_deref())?;
            kwargs.set_item("attempts", attempt_list(py, attempts)?)?;
            kwargs.set_item("answer_cost", answer_cost(attempts))?;
            kwargs.set_item("exhausted_chain", exhausted_chain)?;
            kwargs.set_item("partial", partial)?;
            let exception = factory.bind(py).call((), Some(&kwargs))?;
            Ok(PyErr::from_value(exception))
        };
        make().unwrap_or_else(|mapping_failed| mapping_failed)
    })
}

type Parts<'py> = (Option<Bound<'py, PyAny>>, Option<Bound<'py, PyAny>>);

/// The error's `code` and `metadata`: an in-band error's as `json.loads` reads the object
/// sent (the keys the core added to `metadata` too), else the core's trees (also when
/// `json.loads` refuses the object: Python's limits lowered since the core checked the
/// chunk against them).
fn code_and_metadata<'py>(py: Python<'py>, details: &ErrorDetails) -> PyResult<Parts<'py>> {
    let tree = |value: &Option<Value>| {
        value
            .as_ref()
            .map(|value| from_value(py, value))
            .transpose()
    };
    let loaded = match &details.sent {
        Some(sent) => loads_if(py, PyString::new(py, sent.get()).into_any())?.ok(),
        None => None,
    };
    let Some(object) = loaded.as_ref().and_then(|o| o.cast::<PyDict>().ok()) else {
        return Ok((tree(&details.code)?, tree(&details.metadata)?));
    };
    let code = object.get_item("code")?.filter(|code| !code.is_none());
    let metadata = object.get_item("metadata")?.filter(|m| !m.is_none());
    let Some(Value::Object(core)) = &details.metadata else {
        return Ok((code, metadata));
    };
    // The keys the core added to `metadata` (`error_type`, `availability`: members of the
    // error object itself) are those the metadata as sent has not; each is read from the
    // object as sent, as the rest.
    let dict = match metadata.as_ref().map(|m| m.cast::<PyDict>()) {
        Some(Ok(dict)) => dict.clone(),
        _ => PyDict::new(py),
    };
    for (key, value) in core {
        if !dict.contains(key)? {
            let value = match object.get_item(key)? {
                Some(sent) => sent,
                None => from_value(py, value)?,
            };
            dict.set_item(key, value)?;
        }
    }
    Ok((code, Some(dict.into_any())))
}
