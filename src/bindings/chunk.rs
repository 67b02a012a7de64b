//! Streamed chunks as Python objects built by the core: `StreamChunk`, `StreamChoice` and
//! `StreamDelta` read their fields lazily from the chunk the decoder parsed once (its typed
//! view; the rare fields found in its JSON text and read by `json.loads`, exactly as a
//! non-streamed answer's are where the core's tape leaves it: `1e400` is `inf`, `-0` is 0,
//! a big integer exact, a lone surrogate kept), so the hot path
//! (`chunk.choices[0].delta.content`) costs a few native getters and no JSON work.
//!
//! They stand for `fastrouter.types.ChatCompletionChunk`, `ChunkChoice` and `ChoiceDelta`
//! (which count them as instances): nested models (usage, tool calls, logprobs, errors)
//! are those Python classes, built on access, and everything else a model offers
//! (`repr`, `==`, pickling here; `to_dict`, `model_dump` and the rest attached by
//! `fastrouter.streaming`) is delegated to the equivalent Python model, built on demand.
//!
//! The usual chunk's classes have no `__getattr__`: a class with its own attribute hook
//! makes CPython take the slow way for *every* attribute read on it (no specialized
//! load). A chunk whose JSON has fields outside the typed view (the scan skipped unknown
//! ones, or serde read it) is built of `...WithExtras` subclasses instead, whose
//! `__getattr__` reads them by name.

use std::sync::Arc;

use pyo3::exceptions::{PyAttributeError, PyTypeError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyList, PyString};
use serde_json::value::RawValue;

use crate::stream::chunk::{ChoiceView, Chunk, Text};
use crate::stream::raw_json;

static TYPES: PyOnceLock<Py<PyModule>> = PyOnceLock::new();

/// A class of `fastrouter.types`.
fn model_class<'py>(py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyAny>> {
    TYPES
        .get_or_try_init(py, || py.import("fastrouter.types").map(Bound::unbind))?
        .bind(py)
        .getattr(name)
}

/// JSON text (a part of a chunk the core checked) as `json.loads` reads it; one it still
/// refuses (Python's limits changed since) is the typed error of a bad chunk.
fn loads<'py>(py: Python<'py>, text: &str) -> PyResult<Bound<'py, PyAny>> {
    super::json::loads_or(py, PyString::new(py, text).into_any(), |err| {
        format!("a stream chunk's part is not JSON this Python reads: {err}")
    })
}

/// Member `key` of a node's JSON text (`None` when the node is absent or not an object).
fn member<'a>(node: Option<&'a str>, key: &str) -> Option<&'a RawValue> {
    raw_json::member(node?, key)
}

/// A scalar field: `None` when absent, else the plain value.
fn scalar<'py>(py: Python<'py>, node: Option<&str>, key: &str) -> PyResult<Bound<'py, PyAny>> {
    match member(node, key) {
        Some(value) => loads(py, value.get()),
        None => Ok(py.None().into_bound(py)),
    }
}

fn wrong_type(owner: &str, key: &str, expected: &str) -> PyErr {
    PyTypeError::new_err(format!(
        "{owner}.{key}: expected a JSON {expected}, got another type"
    ))
}

/// An optional nested model field (`many`: a list of them): `None` when absent or null,
/// else `class(dict)` (or `[class(dict), ...]`).
fn model<'py>(
    py: Python<'py>,
    owner: &str,
    node: Option<&str>,
    key: &str,
    class: &str,
    many: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let make = |item: Bound<'py, PyAny>, what: &str| {
        if !item.is_instance_of::<PyDict>() {
            return Err(wrong_type(owner, what, "object"));
        }
        model_class(py, class)?.call1((item,))
    };
    let value = match member(node, key) {
        None => return Ok(py.None().into_bound(py)),
        Some(value) => loads(py, value.get())?,
    };
    if value.is_none() {
        return Ok(value);
    }
    if !many {
        return make(value, key);
    }
    let items = value
        .cast_into::<PyList>()
        .map_err(|_| wrong_type(owner, key, "array"))?;
    let list = PyList::empty(py);
    for item in items.iter() {
        list.append(make(item, &format!("{key}[]"))?)?;
    }
    Ok(list.into_any())
}

/// The Python model equivalent to a node (an empty one for a missing or null node).
fn python_model<'py>(
    py: Python<'py>,
    class: &str,
    node: Option<&str>,
) -> PyResult<Bound<'py, PyAny>> {
    let data = match node.map(|node| loads(py, node)).transpose()? {
        Some(data) if data.is_instance_of::<PyDict>() => data,
        _ => PyDict::new(py).into_any(),
    };
    model_class(py, class)?.call1((data,))
}

/// An unknown field: the JSON value when the node has it, else whatever the Python model
/// has by that name (its methods), else `AttributeError`.
fn fallback<'py>(
    py: Python<'py>,
    class: &str,
    node: Option<&str>,
    name: &str,
) -> PyResult<Bound<'py, PyAny>> {
    if name.starts_with("__") {
        return Err(PyAttributeError::new_err(name.to_owned()));
    }
    if let Some(value) = member(node, name) {
        return loads(py, value.get());
    }
    python_model(py, class, node)?.getattr(name)
}

/// A text field of the view: `None` when absent.
fn text<'py>(py: Python<'py>, chunk: &Chunk, field: Option<&Text>) -> Bound<'py, PyAny> {
    match field {
        Some(field) => PyString::new(py, chunk.str(field)).into_any(),
        None => py.None().into_bound(py),
    }
}

/// A native model's getters and the rest of its methods (`_model`, `repr`, `==`,
/// pickling, all delegated to the equivalent Python model), in one `#[pymethods]` block
/// with `$methods`; and `$extra`, its subclass for chunks with extra fields. Getters:
/// `text` fields of the typed view (`name: |this| the field`), nested `model`s and lists
/// of `models` read from the chunk's JSON text (`name: "Class"`). Objects built with the
/// chunk are struct members (`#[pyo3(get)]`), read without a call.
macro_rules! native_model {
    (
        $ty:ident, $extra:ident, $class:expr,
        text { $($name:ident: $field:expr),* $(,)? }
        model { $($model:ident: $model_class:literal),* $(,)? }
        models { $($models:ident: $models_class:literal),* $(,)? }
        $($methods:tt)*
    ) => {
        #[pymethods]
        impl $ty {
            $(
                #[getter]
                fn $name<'py>(&self, py: Python<'py>) -> Bound<'py, PyAny> {
                    let field: fn(&Self) -> Option<&Text> = $field;
                    text(py, &self.chunk, field(self))
                }
            )*
            $(
                #[getter]
                fn $model<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
                    model(py, $class, self.node(), stringify!($model), $model_class, false)
                }
            )*
            $(
                #[getter]
                fn $models<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
                    model(py, $class, self.node(), stringify!($models), $models_class, true)
                }
            )*

            $($methods)*

            /// The equivalent `fastrouter.types` model (a plain, dict-backed one).
            fn _model<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
                python_model(py, $class, self.node())
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

        /// The same model for a chunk whose JSON has fields outside the typed view:
        /// `__getattr__` reads them (and only this class pays for the hook).
        #[pyclass(frozen, extends = $ty, module = "fastrouter._fastrouter")]
        pub struct $extra;

        #[pymethods]
        impl $extra {
            fn __getattr__<'py>(slf: &Bound<'py, Self>, name: &str) -> PyResult<Bound<'py, PyAny>> {
                fallback(slf.py(), $class, slf.as_super().get().node(), name)
            }
        }
    };
}

/// `value` as a Python object: of its own class, or of `$extra` (its subclass that reads
/// extra fields by name) when `$extras`.
macro_rules! new_object {
    ($py:expr, $value:expr, $extras:expr, $extra:expr) => {
        if $extras {
            Py::new($py, PyClassInitializer::from($value).add_subclass($extra))?.into_any()
        } else {
            Py::new($py, $value)?.into_any()
        }
    };
}

/// One streamed chunk (`ChatCompletionChunk`).
#[pyclass(frozen, subclass, module = "fastrouter._fastrouter")]
pub struct StreamChunk {
    chunk: Arc<Chunk>,
    /// Every choice (an empty list when the chunk has none, e.g. the usage chunk). Built
    /// with the chunk: nearly every reader goes `choices[0].delta`, and building them
    /// then costs less than a lazy cell's first-use check and store.
    #[pyo3(get)]
    choices: Py<PyList>,
}

impl StreamChunk {
    /// The chunk's Python object (a `StreamChunk`, or a `StreamChunkWithExtras`).
    pub fn new_object(py: Python<'_>, chunk: Arc<Chunk>) -> PyResult<Py<PyAny>> {
        let extras = chunk.extras;
        let choice = |index: usize| -> PyResult<Py<PyAny>> {
            let content = text(py, &chunk, choice_view(&chunk, index).content.as_ref());
            let delta = StreamDelta {
                chunk: chunk.clone(),
                index,
                content: content.unbind(),
            };
            let choice = StreamChoice {
                chunk: chunk.clone(),
                index,
                delta: new_object!(py, delta, extras, StreamDeltaWithExtras),
            };
            Ok(new_object!(py, choice, extras, StreamChoiceWithExtras))
        };
        // The usual chunk has one choice: its list is built without a `Vec` in between.
        let choices = match chunk.choices.len() {
            0 => PyList::empty(py),
            1 => PyList::new(py, [choice(0)?])?,
            n => PyList::new(py, (0..n).map(choice).collect::<PyResult<Vec<_>>>()?)?,
        };
        let value = Self {
            choices: choices.unbind(),
            chunk,
        };
        Ok(new_object!(py, value, extras, StreamChunkWithExtras))
    }

    fn node(&self) -> Option<&str> {
        Some(self.chunk.json())
    }
}

const CHUNK: &str = "ChatCompletionChunk";

native_model! {
    StreamChunk, StreamChunkWithExtras, CHUNK,
    text {
        id: |this| this.chunk.id.as_ref(),
        object: |this| this.chunk.object.as_ref(),
        model: |this| this.chunk.model.as_ref(),
        provider: |this| this.chunk.provider.as_ref(),
        system_fingerprint: |this| this.chunk.system_fingerprint.as_ref(),
        service_tier: |this| this.chunk.service_tier.as_ref(),
    }
    model { usage: "CompletionUsage", error: "ChoiceError" }
    models {}

    #[getter]
    fn created(&self) -> Option<i64> {
        self.chunk.created
    }
}

/// One choice of a streamed chunk (`ChunkChoice`).
#[pyclass(frozen, subclass, module = "fastrouter._fastrouter")]
pub struct StreamChoice {
    chunk: Arc<Chunk>,
    index: usize,
    /// The delta (an empty one when the choice has none): a `StreamDelta`.
    #[pyo3(get)]
    delta: Py<PyAny>,
}

const CHOICE: &str = "ChunkChoice";

/// The view of choice `index` (an empty one past the end: never, choices are fixed).
fn choice_view(chunk: &Chunk, index: usize) -> &ChoiceView {
    static EMPTY: ChoiceView = ChoiceView::EMPTY;
    chunk.choices.get(index).unwrap_or(&EMPTY)
}

impl StreamChoice {
    fn view(&self) -> &ChoiceView {
        choice_view(&self.chunk, self.index)
    }

    fn node(&self) -> Option<&str> {
        self.chunk.choice_json(self.index)
    }
}

native_model! {
    StreamChoice, StreamChoiceWithExtras, CHOICE,
    text {
        finish_reason: |this| this.view().finish_reason.as_ref(),
        native_finish_reason: |this| this.view().native_finish_reason.as_ref(),
    }
    model { logprobs: "ChoiceLogprobs", error: "ChoiceError" }
    models {}

    #[getter]
    fn index(&self) -> Option<u32> {
        self.view().index
    }
}

/// The delta of one streamed choice (`ChoiceDelta`).
#[pyclass(frozen, subclass, module = "fastrouter._fastrouter")]
pub struct StreamDelta {
    chunk: Arc<Chunk>,
    index: usize,
    /// The text (`None` when absent): built with the chunk, since nearly every reader
    /// reads it, and then read as a struct member, without a call.
    #[pyo3(get)]
    content: Py<PyAny>,
}

const DELTA: &str = "ChoiceDelta";

impl StreamDelta {
    fn view(&self) -> &ChoiceView {
        choice_view(&self.chunk, self.index)
    }

    fn node(&self) -> Option<&str> {
        self.chunk.delta_json(self.index)
    }
}

native_model! {
    StreamDelta, StreamDeltaWithExtras, DELTA,
    text {
        role: |this| this.view().role.as_ref(),
        refusal: |this| this.view().refusal.as_ref(),
        reasoning: |this| this.view().reasoning.as_ref(),
    }
    model {}
    models {
        reasoning_details: "ReasoningDetail",
        tool_calls: "ChoiceDeltaToolCall",
        annotations: "Annotation",
    }

    #[getter]
    fn images<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        scalar(py, self.node(), "images")
    }
}

/// A batch of parsed chunks as a Python list of [`StreamChunk`].
pub fn chunk_list<'py>(py: Python<'py>, batch: Vec<Arc<Chunk>>) -> PyResult<Bound<'py, PyList>> {
    let items = batch
        .into_iter()
        .map(|chunk| StreamChunk::new_object(py, chunk))
        .collect::<PyResult<Vec<_>>>()?;
    PyList::new(py, items)
}
