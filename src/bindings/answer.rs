//! A non-streamed answer's body as the facade's objects, built by the core in one go: the
//! JSON object behind `ChatCompletion` (left on the core's tape, `tape_object.rs`, or the
//! dict `json.loads` gives) and, for the parts nearly every caller reads (`choices`, each
//! choice's `message`, `usage`), the typed models their getters would build on first
//! read, so `resp.choices[0].message.content` converts nothing in Python.
//!
//! The models are `fastrouter.types`' own classes (`Choice`, `ChatCompletionMessage`,
//! `CompletionUsage`), made as their getters make them (`cls(data)`: its JSON object and
//! an empty cache), and only where the getter would make them: a part of another shape is
//! left to the getter, which converts it (or raises) on read as before.

use std::sync::Arc;

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyList, PyTuple};

use super::tape_object::TapeObject;
use crate::json_tape::Tape;

/// `object.__new__` and its arguments for the three model classes (`(cls,)`), made once.
struct Makers {
    new: Py<PyAny>,
    choice: Py<PyTuple>,
    message: Py<PyTuple>,
    usage: Py<PyTuple>,
}

static MAKERS: PyOnceLock<Makers> = PyOnceLock::new();

fn makers(py: Python<'_>) -> PyResult<&Makers> {
    MAKERS.get_or_try_init(py, || {
        let types = py.import("fastrouter.types")?;
        let class = |name: &str| Ok::<_, PyErr>(PyTuple::new(py, [types.getattr(name)?])?.unbind());
        Ok(Makers {
            new: py
                .import("builtins")?
                .getattr("object")?
                .getattr("__new__")?
                .unbind(),
            choice: class("Choice")?,
            message: class("ChatCompletionMessage")?,
            usage: class("CompletionUsage")?,
        })
    })
}

/// A model of the class in `class` (`(cls,)`) over `data` (its `_json`), with `cache`
/// (what `cls(data)` builds, without running `__init__`).
fn model<'py>(
    py: Python<'py>,
    makers: &Makers,
    class: &Py<PyTuple>,
    data: &Bound<'py, PyAny>,
    cache: Option<Bound<'py, PyDict>>,
) -> PyResult<Bound<'py, PyAny>> {
    let made = makers.new.bind(py).call(class.bind(py), None)?;
    made.setattr(intern!(py, "_json"), data)?;
    made.setattr(intern!(py, "_cache"), cache)?;
    Ok(made)
}

/// A choice object's model (`Choice`), its message's model cached in it; `None` when the
/// choice or its message is not a JSON object.
fn choice<'py>(
    py: Python<'py>,
    makers: &Makers,
    item: &Bound<'py, PyAny>,
) -> PyResult<Option<Bound<'py, PyAny>>> {
    let Ok(fields) = item.cast_exact::<PyDict>() else {
        return Ok(None);
    };
    let Some(message) = fields.get_item(intern!(py, "message"))? else {
        return Ok(None);
    };
    if !message.is_exact_instance_of::<PyDict>() {
        return Ok(None);
    }
    let cache = PyDict::new(py);
    cache.set_item(
        intern!(py, "message"),
        model(py, makers, &makers.message, &message, None)?,
    )?;
    model(py, makers, &makers.choice, item, Some(cache)).map(Some)
}

/// The body's JSON object and the completion's first cache (`None` when the body is not
/// a JSON object or holds none of the usual parts in their usual shape). The object is
/// left on the tape (a `TapeObject`, its `usage` too) when the core read the body into
/// one; else it is the dict `json.loads` gives.
pub fn answer<'py>(
    py: Python<'py>,
    body: &[u8],
    tape: Option<&Arc<Tape>>,
) -> PyResult<(Bound<'py, PyAny>, Option<Bound<'py, PyDict>>)> {
    if let Some(object) = tape.and_then(|tape| TapeObject::new(Arc::clone(tape), 0)) {
        let object = Bound::new(py, object)?;
        let choices = TapeObject::get(&object, intern!(py, "choices"), "choices")?;
        // The choices hold most of the text (the content): the tape kept for the other
        // fields does without them.
        TapeObject::shed(&object, "choices")?;
        let usage = TapeObject::member(&object, "usage")?.map(Bound::into_any);
        let cache = first_cache(py, &choices, usage)?;
        return Ok((object.into_any(), cache));
    }
    let data = super::json::parsed(py, body, tape.map(|tape| &**tape))?;
    let cache = match data.cast_exact::<PyDict>() {
        Ok(fields) => {
            let choices = fields
                .get_item(intern!(py, "choices"))?
                .unwrap_or_else(|| py.None().into_bound(py));
            let usage = fields
                .get_item(intern!(py, "usage"))?
                .filter(|usage| usage.is_exact_instance_of::<PyDict>());
            first_cache(py, &choices, usage)?
        }
        Err(_) => None,
    };
    Ok((data, cache))
}

/// The models of `choices` (when it is a list of choice objects, each with a message
/// object) and of `usage` (an object's `_json`, when it is one).
fn first_cache<'py>(
    py: Python<'py>,
    choices: &Bound<'py, PyAny>,
    usage: Option<Bound<'py, PyAny>>,
) -> PyResult<Option<Bound<'py, PyDict>>> {
    let makers = makers(py)?;
    let cache = PyDict::new(py);
    if let Ok(choices) = choices.cast_exact::<PyList>() {
        let mut models = Vec::with_capacity(choices.len());
        for item in choices.iter() {
            match choice(py, makers, &item)? {
                Some(made) => models.push(made),
                None => {
                    models.clear();
                    break;
                }
            }
        }
        if models.len() == choices.len() {
            cache.set_item(intern!(py, "choices"), PyList::new(py, models)?)?;
        }
    }
    if let Some(usage) = usage {
        cache.set_item(
            intern!(py, "usage"),
            model(py, makers, &makers.usage, &usage, None)?,
        )?;
    }
    Ok(if cache.is_empty() { None } else { Some(cache) })
}
