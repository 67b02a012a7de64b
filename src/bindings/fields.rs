//! The getters of the facade's model fields (`fastrouter.types`): each field's `property`
//! reads through the bound `read` of a `FieldGetter`, so reading `resp.usage.total_tokens`
//! runs no Python frame (a frame per read was most of a read's cost, issue 11).
//!
//! They do exactly what the Python getters they replace did: a scalar field is
//! `model._data.get(key)`; a converted field (a nested model, a list of models) is looked
//! up in `model._cache` (made `{}` on first use), else `convert(model._data.get(key))`,
//! kept there. Every attribute is read as Python reads it (`getattr`), so a model missing
//! its `_data` or a subclass's own `_cache` behave as before.

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};
use pyo3::{PyTraverseError, PyVisit};

/// One field's getter: `key` in the model's JSON object, and how its value is converted
/// (and then cached), if it is.
#[pyclass(frozen, module = "fastrouter._fastrouter")]
pub struct FieldGetter {
    key: Py<PyString>,
    convert: Option<Py<PyAny>>,
}

#[pymethods]
impl FieldGetter {
    #[new]
    #[pyo3(signature = (key, convert=None))]
    fn new(key: &Bound<'_, PyString>, convert: Option<Py<PyAny>>) -> PyResult<Self> {
        Ok(Self {
            key: PyString::intern(key.py(), key.to_str()?).unbind(),
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
            return data_get(model, key);
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
        let value = convert.bind(py).call1((data_get(model, key)?,))?;
        cache.set_item(key, &value)?;
        Ok(value)
    }
}

/// `model._data.get(key)`.
fn data_get<'py>(
    model: &Bound<'py, PyAny>,
    key: &Bound<'py, PyString>,
) -> PyResult<Bound<'py, PyAny>> {
    let py = model.py();
    let data = model.getattr(intern!(py, "_data"))?;
    match data.cast_exact::<PyDict>() {
        Ok(fields) => Ok(fields
            .get_item(key)?
            .unwrap_or_else(|| py.None().into_bound(py))),
        Err(_) => data.call_method1(intern!(py, "get"), (key,)),
    }
}
