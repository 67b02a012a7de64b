//! Streamed chunks as Python objects built by the core: `StreamChunk`, `StreamChoice` and
//! `StreamDelta` read their fields lazily from the tree the decoder parsed once, so the hot
//! path (`chunk.choices[0].delta.content`) costs a few native getters and no JSON work.
//!
//! They stand for `fastrouter.types.ChatCompletionChunk`, `ChunkChoice` and `ChoiceDelta`
//! (which count them as instances): nested models (usage, tool calls, logprobs, errors)
//! are those Python classes, built on access, and everything else a model offers
//! (`to_dict`, `to_json`, `model_dump`, unknown fields, `repr`, `==`, pickling) is
//! delegated to the equivalent Python model, built on demand.

use std::sync::OnceLock;

use pyo3::exceptions::{PyAttributeError, PyRuntimeError, PyTypeError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyDict, PyList, PyString};
use serde_json::Value;

use crate::stream::decoder::Chunk;

static TYPES: PyOnceLock<Py<PyModule>> = PyOnceLock::new();

/// The value in `cell`, made by `make` on first use. Not `PyOnceLock`: its first use
/// detaches from the interpreter (two GIL switches), too dear once per chunk. Two threads
/// may both make a value; the first one stored wins, so every reader sees one object.
fn cached<'a, 'py, T>(
    py: Python<'py>,
    cell: &'a OnceLock<Py<T>>,
    make: impl FnOnce() -> PyResult<Py<T>>,
) -> PyResult<&'a Bound<'py, T>> {
    if cell.get().is_none() {
        let _ = cell.set(make()?);
    }
    cell.get()
        .map(|value| value.bind(py))
        .ok_or_else(|| PyRuntimeError::new_err("fastrouter: a cached chunk field vanished"))
}

/// A class of `fastrouter.types`.
fn model_class<'py>(py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyAny>> {
    TYPES
        .get_or_try_init(py, || py.import("fastrouter.types").map(Bound::unbind))?
        .bind(py)
        .getattr(name)
}

/// A JSON value as the plain Python object `json.loads` gives.
pub fn to_py<'py>(py: Python<'py>, value: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match value {
        Value::Null => py.None().into_bound(py),
        Value::Bool(flag) => PyBool::new(py, *flag).to_owned().into_any(),
        Value::Number(number) => {
            if let Some(int) = number.as_i64() {
                int.into_pyobject(py)?.into_any()
            } else if let Some(int) = number.as_u64() {
                int.into_pyobject(py)?.into_any()
            } else {
                number
                    .as_f64()
                    .unwrap_or(f64::NAN)
                    .into_pyobject(py)?
                    .into_any()
            }
        }
        Value::String(text) => PyString::new(py, text).into_any(),
        Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(to_py(py, item)?)?;
            }
            list.into_any()
        }
        Value::Object(map) => {
            let dict = PyDict::new(py);
            for (key, item) in map {
                dict.set_item(key, to_py(py, item)?)?;
            }
            dict.into_any()
        }
    })
}

/// A scalar field: `None` when absent, else the plain value.
fn scalar<'py>(py: Python<'py>, node: &Value, key: &str) -> PyResult<Bound<'py, PyAny>> {
    match node.get(key) {
        Some(value) => to_py(py, value),
        None => Ok(py.None().into_bound(py)),
    }
}

fn wrong_type(owner: &str, key: &str, expected: &str) -> PyErr {
    PyTypeError::new_err(format!(
        "{owner}.{key}: expected a JSON {expected}, got another type"
    ))
}

/// An optional nested model field: `None` when absent or null, else `class(dict)`.
fn model<'py>(
    py: Python<'py>,
    owner: &str,
    node: &Value,
    key: &str,
    class: &str,
) -> PyResult<Bound<'py, PyAny>> {
    match node.get(key) {
        None | Some(Value::Null) => Ok(py.None().into_bound(py)),
        Some(value @ Value::Object(_)) => model_class(py, class)?.call1((to_py(py, value)?,)),
        Some(_) => Err(wrong_type(owner, key, "object")),
    }
}

/// An optional list-of-models field: `None` when absent or null, else `[class(dict), ...]`.
fn model_list<'py>(
    py: Python<'py>,
    owner: &str,
    node: &Value,
    key: &str,
    class: &str,
) -> PyResult<Bound<'py, PyAny>> {
    match node.get(key) {
        None | Some(Value::Null) => Ok(py.None().into_bound(py)),
        Some(Value::Array(items)) => {
            let class = model_class(py, class)?;
            let list = PyList::empty(py);
            for item in items {
                if !item.is_object() {
                    return Err(wrong_type(owner, &format!("{key}[]"), "object"));
                }
                list.append(class.call1((to_py(py, item)?,))?)?;
            }
            Ok(list.into_any())
        }
        Some(_) => Err(wrong_type(owner, key, "array")),
    }
}

/// The Python model equivalent to a node (an empty one for a missing or null node).
fn python_model<'py>(py: Python<'py>, class: &str, node: &Value) -> PyResult<Bound<'py, PyAny>> {
    let data = if node.is_object() {
        to_py(py, node)?
    } else {
        PyDict::new(py).into_any()
    };
    model_class(py, class)?.call1((data,))
}

/// An unknown field: the JSON value when the node has it, else whatever the Python model
/// has by that name (its methods), else `AttributeError`.
fn fallback<'py>(
    py: Python<'py>,
    class: &str,
    node: &Value,
    name: &str,
) -> PyResult<Bound<'py, PyAny>> {
    if name.starts_with("__") {
        return Err(PyAttributeError::new_err(name.to_owned()));
    }
    if let Some(value) = node.get(name) {
        return to_py(py, value);
    }
    python_model(py, class, node)?.getattr(name)
}

/// One streamed chunk (`ChatCompletionChunk`).
#[pyclass(frozen, module = "fastrouter._fastrouter")]
pub struct StreamChunk {
    chunk: Chunk,
    choices: OnceLock<Py<PyList>>,
}

impl StreamChunk {
    pub fn new(chunk: Chunk) -> Self {
        Self {
            chunk,
            choices: OnceLock::new(),
        }
    }

    fn node(&self) -> &Value {
        &self.chunk
    }
}

const CHUNK: &str = "ChatCompletionChunk";

#[pymethods]
impl StreamChunk {
    #[getter]
    fn id<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        scalar(py, &self.chunk, "id")
    }
    #[getter]
    fn object<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        scalar(py, &self.chunk, "object")
    }
    #[getter]
    fn created<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        scalar(py, &self.chunk, "created")
    }
    #[getter]
    fn model<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        scalar(py, &self.chunk, "model")
    }
    #[getter]
    fn provider<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        scalar(py, &self.chunk, "provider")
    }
    #[getter]
    fn system_fingerprint<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        scalar(py, &self.chunk, "system_fingerprint")
    }
    #[getter]
    fn service_tier<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        scalar(py, &self.chunk, "service_tier")
    }

    /// Every choice (an empty list when the chunk has none, e.g. the usage chunk).
    #[getter]
    fn choices<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let list = cached(py, &self.choices, || {
            let count = match self.chunk.get("choices") {
                None | Some(Value::Null) => 0,
                Some(Value::Array(items)) => {
                    if items.iter().any(|item| !item.is_object()) {
                        return Err(wrong_type(CHUNK, "choices[]", "object"));
                    }
                    items.len()
                }
                Some(_) => return Err(wrong_type(CHUNK, "choices", "array")),
            };
            let items = (0..count)
                .map(|index| Py::new(py, StreamChoice::new(self.chunk.clone(), index)))
                .collect::<PyResult<Vec<_>>>()?;
            Ok(PyList::new(py, items)?.unbind())
        })?;
        Ok(list.clone())
    }

    #[getter]
    fn usage<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        model(py, CHUNK, &self.chunk, "usage", "CompletionUsage")
    }

    #[getter]
    fn error<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        model(py, CHUNK, &self.chunk, "error", "ChoiceError")
    }

    /// The equivalent `fastrouter.types` model (a plain, dict-backed one).
    fn _model<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        python_model(py, CHUNK, self.node())
    }
    fn __getattr__<'py>(&self, py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyAny>> {
        fallback(py, CHUNK, self.node(), name)
    }
    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(self._model(py)?.repr()?.to_string())
    }
    fn __eq__(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> PyResult<bool> {
        self._model(py)?.eq(other)
    }
    fn __reduce__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self._model(py)?.call_method0("__reduce__")
    }
}

/// One choice of a streamed chunk (`ChunkChoice`).
#[pyclass(frozen, module = "fastrouter._fastrouter")]
pub struct StreamChoice {
    chunk: Chunk,
    index: usize,
    delta: OnceLock<Py<StreamDelta>>,
}

const CHOICE: &str = "ChunkChoice";

impl StreamChoice {
    fn new(chunk: Chunk, index: usize) -> Self {
        Self {
            chunk,
            index,
            delta: OnceLock::new(),
        }
    }

    fn node(&self) -> &Value {
        &self.chunk["choices"][self.index]
    }
}

#[pymethods]
impl StreamChoice {
    #[getter]
    fn index<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        scalar(py, self.node(), "index")
    }

    /// The delta (an empty one when the choice has none).
    #[getter]
    fn delta<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, StreamDelta>> {
        let delta = cached(py, &self.delta, || {
            match self.node().get("delta") {
                None | Some(Value::Null | Value::Object(_)) => {}
                Some(_) => return Err(wrong_type(CHOICE, "delta", "object")),
            }
            Py::new(
                py,
                StreamDelta {
                    chunk: self.chunk.clone(),
                    index: self.index,
                },
            )
        })?;
        Ok(delta.clone())
    }

    #[getter]
    fn finish_reason<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        scalar(py, self.node(), "finish_reason")
    }
    #[getter]
    fn native_finish_reason<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        scalar(py, self.node(), "native_finish_reason")
    }
    #[getter]
    fn logprobs<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        model(py, CHOICE, self.node(), "logprobs", "ChoiceLogprobs")
    }
    #[getter]
    fn error<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        model(py, CHOICE, self.node(), "error", "ChoiceError")
    }

    /// The equivalent `fastrouter.types` model (a plain, dict-backed one).
    fn _model<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        python_model(py, CHOICE, self.node())
    }
    fn __getattr__<'py>(&self, py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyAny>> {
        fallback(py, CHOICE, self.node(), name)
    }
    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(self._model(py)?.repr()?.to_string())
    }
    fn __eq__(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> PyResult<bool> {
        self._model(py)?.eq(other)
    }
    fn __reduce__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self._model(py)?.call_method0("__reduce__")
    }
}

/// The delta of one streamed choice (`ChoiceDelta`).
#[pyclass(frozen, module = "fastrouter._fastrouter")]
pub struct StreamDelta {
    chunk: Chunk,
    index: usize,
}

const DELTA: &str = "ChoiceDelta";

impl StreamDelta {
    fn node(&self) -> &Value {
        &self.chunk["choices"][self.index]["delta"]
    }
}

#[pymethods]
impl StreamDelta {
    #[getter]
    fn role<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        scalar(py, self.node(), "role")
    }
    #[getter]
    fn content<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        scalar(py, self.node(), "content")
    }
    #[getter]
    fn refusal<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        scalar(py, self.node(), "refusal")
    }
    #[getter]
    fn reasoning<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        scalar(py, self.node(), "reasoning")
    }
    #[getter]
    fn reasoning_details<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        model_list(
            py,
            DELTA,
            self.node(),
            "reasoning_details",
            "ReasoningDetail",
        )
    }
    #[getter]
    fn tool_calls<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        model_list(py, DELTA, self.node(), "tool_calls", "ChoiceDeltaToolCall")
    }
    #[getter]
    fn annotations<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        model_list(py, DELTA, self.node(), "annotations", "Annotation")
    }
    #[getter]
    fn images<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        scalar(py, self.node(), "images")
    }

    /// The equivalent `fastrouter.types` model (a plain, dict-backed one).
    fn _model<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        python_model(py, DELTA, self.node())
    }
    fn __getattr__<'py>(&self, py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyAny>> {
        fallback(py, DELTA, self.node(), name)
    }
    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(self._model(py)?.repr()?.to_string())
    }
    fn __eq__(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> PyResult<bool> {
        self._model(py)?.eq(other)
    }
    fn __reduce__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self._model(py)?.call_method0("__reduce__")
    }
}

/// A batch of parsed chunks as a Python list of [`StreamChunk`].
pub fn chunk_list<'py>(py: Python<'py>, batch: Vec<Chunk>) -> PyResult<Bound<'py, PyList>> {
    let items = batch
        .into_iter()
        .map(|chunk| Py::new(py, StreamChunk::new(chunk)))
        .collect::<PyResult<Vec<_>>>()?;
    PyList::new(py, items)
}
