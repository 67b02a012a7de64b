//! A non-streamed answer's body as the facade's objects, built by the core in one go: the
//! JSON object behind `ChatCompletion` (left on the core's tape, `tape_object.rs`, or the
//! dict `json.loads` gives) and, for the parts nearly every caller reads (`choices`, each
//! choice's `message`, `usage`), the typed models their getters would build on first
//! read, so `resp.choices[0].message.content` converts nothing in Python.
//!
//! The models are `fastrouter.types`' own classes (`Choice`, `ChatCompletionMessage`,
//! `CompletionUsage`), made as their getters make them (`cls(data)`: its JSON object and
//! an empty cache), and only where the getter would make them: a part of another shape is
//! left to the getter, which converts it (or raises) on read as before. The
//! `ChatCompletion` itself is made here too, every slot set as its `__init__` sets them;
//! all four by writing their slots in place (`slotted.rs`).

use std::sync::Arc;

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyDict, PyList, PyString, PyType};

use super::slotted::SlottedClass;
use super::tape_object::TapeObject;
use crate::json_tape::Tape;

/// `ChatCompletion` (every slot) and the three model classes (their JSON object and
/// cache, `_json` and `_cache`).
struct Makers {
    completion: SlottedClass<8>,
    choice: SlottedClass<2>,
    message: SlottedClass<2>,
    usage: SlottedClass<2>,
}

static MAKERS: PyOnceLock<Makers> = PyOnceLock::new();

/// The slots of a model, in the order [`model`] gives their values.
const MODEL_SLOTS: [&str; 2] = ["_json", "_cache"];

/// Every slot of a `ChatCompletion` (`ChatCompletion.__init__` sets them all), in the
/// order [`completion`] gives their values.
const COMPLETION_SLOTS: [&str; 8] = [
    "_json",
    "_cache",
    "_attempts",
    "_answer_cost",
    "_http",
    "_priced_cost",
    "_cascade",
    "_cached",
];

fn makers(py: Python<'_>) -> PyResult<&Makers> {
    MAKERS.get_or_try_init(py, || {
        let types = py.import("fastrouter.types")?;
        let class = |name: &str| {
            SlottedClass::new(&types.getattr(name)?.cast_into::<PyType>()?, &MODEL_SLOTS)
        };
        let completion = types.getattr("ChatCompletion")?.cast_into::<PyType>()?;
        Ok(Makers {
            completion: SlottedClass::new(&completion, &COMPLETION_SLOTS)?,
            choice: class("Choice")?,
            message: class("ChatCompletionMessage")?,
            usage: class("CompletionUsage")?,
        })
    })
}

/// A model of `class` over `data` (its `_json`), with `cache` (what `cls(data)` builds,
/// without running `__init__`).
fn model<'py>(
    py: Python<'py>,
    class: &SlottedClass<2>,
    data: &Bound<'py, PyAny>,
    cache: Option<Bound<'py, PyDict>>,
) -> PyResult<Bound<'py, PyAny>> {
    let cache = cache.map_or_else(|| py.None().into_bound(py), Bound::into_any);
    class.make(py, [data.clone(), cache])
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
        model(py, &makers.message, &message, None)?,
    )?;
    model(py, &makers.choice, item, Some(cache)).map(Some)
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

/// The `ChatCompletion` of an answer, every slot set as `ChatCompletion.__init__` sets
/// it: its JSON object and first cache ([`answer`]), the core's attempt records, the
/// answering attempt's reported cost (decimal text) and the response's headers. `None`
/// when `class` is not the `ChatCompletion` the core makes (a subclass, or the class of a
/// reloaded module): the facade makes that one.
pub fn completion<'py>(
    py: Python<'py>,
    class: &Bound<'py, PyType>,
    body: &[u8],
    tape: Option<&Arc<Tape>>,
    attempts: Bound<'py, PyAny>,
    answer_cost: Option<&str>,
    headers: Bound<'py, PyAny>,
) -> PyResult<Option<Bound<'py, PyAny>>> {
    let makers = makers(py)?;
    if !class.is(makers.completion.class(py)) {
        return Ok(None);
    }
    let (data, cache) = answer(py, body, tape)?;
    let none = || py.None().into_bound(py);
    let cache = cache.map_or_else(none, Bound::into_any);
    let answer_cost = answer_cost.map_or_else(none, |cost| PyString::new(py, cost).into_any());
    let not_cached = PyBool::new(py, false).to_owned().into_any();
    let values = [
        data,
        cache,
        attempts,
        answer_cost,
        headers,
        none(),
        none(),
        not_cached,
    ];
    makers.completion.make(py, values).map(Some)
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
            model(py, &makers.usage, &usage, None)?,
        )?;
    }
    Ok(if cache.is_empty() { None } else { Some(cache) })
}

/// Whether the core makes every model of an answer by writing its slots (else with
/// `setattr`, slower): for the tests, which hold it.
#[pyfunction]
pub fn _debug_answer_models_write_slots(py: Python<'_>) -> PyResult<bool> {
    let makers = makers(py)?;
    Ok(makers.completion.writes_slots()
        && [&makers.choice, &makers.message, &makers.usage]
            .iter()
            .all(|class| class.writes_slots()))
}

/// An instance of `class` made as the core makes an answer's models, with `values` for
/// `names` (`_json` and `_cache`), and whether its slots were written in place: for the
/// tests of the general way (a class that does not qualify).
#[pyfunction]
pub fn _debug_make_model<'py>(
    py: Python<'py>,
    class: &Bound<'py, PyType>,
    names: [String; 2],
    values: [Bound<'py, PyAny>; 2],
) -> PyResult<(Bound<'py, PyAny>, bool)> {
    let names = [names[0].as_str(), names[1].as_str()];
    let slotted = SlottedClass::new(class, &names)?;
    Ok((slotted.make(py, values)?, slotted.writes_slots()))
}
