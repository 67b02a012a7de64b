//! The getters of the facade's model fields (`fastrouter.types`): each field's `property`
//! reads through the bound `read` of a `FieldGetter`, so reading `resp.usage.total_tokens`
//! runs no Python frame (a frame per read was most of a read's cost, issue 11).
//!
//! They do exactly what the Python getters they replace did: a scalar field is
//! `model._data.get(key)`; a converted field (a nested model, a list of models) is looked
//! up in `model._cache` (made `{}` on first use), else `convert(model._data.get(key))`,
//! kept there. `_data.get(key)` is read from the model's `_json`, where the core may have
//! left the object on its tape (`tape_object.rs`): then only that member is read. Every
//! attribute is read as Python reads it (`getattr`), so a model missing its `_json` or a
//! subclass's own `_cache` behave as before.

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};
use pyo3::{PyTraverseError, PyVisit};

use super::tape_object::TapeObject;

/// One field's getter: `key` in the model's JSON object, and how its value is converted
/// (and then cached), if it is.
#[pyclass(frozen, module = "fastrouter._fastrouter")]
pub struct FieldGetter {
    key: Py<PyString>,
    key_text: Box<str>,
    convert: Option<Py<PyAny>>,
}

#[pymethods]
impl FieldGetter {
    #[new]
    #[pyo3(signature = (key, convert=None))]
    fn new(key: &Bound<'_, PyString>, convert: Option<Py<PyAny>>) -> PyResult<Self> {
        let key_text: Box<str> = key.to_str()?.into();
        Ok(Self {
            key: PyString::intern(key.py(), &key_text).unbind(),
            key_text,
            convert,
        })
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        // The converter holds its model class: a class whose field refers to itself
        // (made at run time) is a cycle the collector must see.
        if let Some(convert) = &self.convert {
            visit.call(convert)?;
        }
        Ok(())
    }

    // No doc comment: `property(getter.read)` takes its getter's docstring, and the
    // fields' properties have none.
    fn read<'py>(&self, model: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let py = model.py();
        let key = self.key.bind(py);
        let Some(convert) = &self.convert else {
            return data_get(model, key, &self.key_text);
        };
        let cache = model.getattr(intern!(py, "_cache"))?;
        let cache = if cache.is_none() {
            let made = PyDict::new(py).into_any();
            model.setattr(intern!(py, "_cache"), &made)?;
            made
        } else {
            if let Ok(cached) = cache.cast_exact::<PyDict>() {
                if let Some(value) = cached.get_item(key)? {
                    return Ok(value);
                }
            } else if cache.contains(key)? {
                return cache.get_item(key);
            }
            cache
        };
        let value = convert
            .bind(py)
            .call1((data_get(model, key, &self.key_text)?,))?;
        cache.set_item(key, &value)?;
        Ok(value)
    }
}

/// `model._data.get(key)`, read from `_json` (a dict, or the object still on the core's
/// tape: just that member is read, see `tape_object.rs`).
pub(crate) fn data_get<'py>(
    model: &Bound<'py, PyAny>,
    key: &Bound<'py, PyString>,
    key_text: &str,
) -> PyResult<Bound<'py, PyAny>> {
    let py = model.py();
    let data = model.getattr(intern!(py, "_json"))?;
    if let Ok(fields) = data.cast_exact::<PyDict>() {
        return Ok(fields
            .get_item(key)?
            .unwrap_or_else(|| py.None().into_bound(py)));
    }
    if let Ok(object) = data.cast_exact::<TapeObject>() {
        return TapeObject::get(object, key, key_text);
    }
    data.call_method1(intern!(py, "get"), (key,))
}
