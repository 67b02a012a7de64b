//! An answer's JSON object left on the core's tape until it is read: the `_json` of a
//! `ChatCompletion` (and of its `usage`) made by the core. A field read takes just that
//! member off the tape; the plain dict behind `_data` is built only when something asks
//! for the whole object (`to_dict`, `==`, an unknown field, pickling, ...). Most callers
//! read a few fields (`choices[0].message.content`, `usage.total_tokens`), so most
//! answers never build their top-level dict or their `usage` dicts (issue 11, S1).
//!
//! One object, whatever the order of reads: every container handed out (a member's list
//! or dict, a nested `TapeObject`) is kept and becomes that very member of the dict when
//! the dict is built, so `resp.choices[0]._data is resp._data["choices"][0]` as before.
//! Scalars are immutable, so they are made on each read. Once built, the dict is the
//! truth (a caller may change it) and the tape is let go.
//!
//! No borrow of an object is held while Python objects are made: making them may run a
//! collection, and so Python code (a finalizer, a `gc` callback, another thread) that
//! reads the same object. A part made meanwhile by such code wins: each read returns the
//! part that is kept, and a dict is installed only if no part was added while it was built.

use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};
use pyo3::{PyTraverseError, PyVisit};

use crate::json_tape::{Tape, Token};

/// A tape smaller than this is kept whole ([`TapeObject::shed`]), and shared with its
/// member objects; a part is shed from a larger one when it holds at least
/// `SHED_PART_BYTES`, and a member object of a larger one gets a tape of its own. A usual
/// answer (under 1 KB of JSON) keeps its whole tape, about 1.8 KB.
const SHED_TAPE_BYTES: usize = 4096;
const SHED_PART_BYTES: usize = 2048;

/// A JSON object on an answer's tape, read member by member (see the module's doc).
#[pyclass(module = "fastrouter._fastrouter")]
pub struct TapeObject {
    state: State,
}

enum State {
    Unread {
        tape: Arc<Tape>,
        /// The object's token.
        at: usize,
        /// The members handed out so far, by their value's token.
        made: Vec<(usize, Made)>,
    },
    Read(Py<PyDict>),
}

enum Made {
    Value(Py<PyAny>),
    Object(Py<TapeObject>),
}

/// Where a member's value comes from, found under a borrow and used after it.
enum Found {
    Missing,
    Read(Py<PyDict>),
    Kept(Made),
    OnTape(Arc<Tape>, usize),
}

#[pymethods]
impl TapeObject {
    /// Bytes of tape this object keeps alive (0 once its dict is built), shared with the
    /// objects made from the same answer.
    #[getter]
    fn held_bytes(&self) -> usize {
        match &self.state {
            State::Unread { tape, .. } => tape.held_bytes(),
            State::Read(_) => 0,
        }
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        match &self.state {
            State::Unread { made, .. } => {
                for (_, part) in made {
                    match part {
                        Made::Value(value) => visit.call(value)?,
                        Made::Object(object) => visit.call(object)?,
                    }
                }
            }
            State::Read(dict) => visit.call(dict)?,
        }
        Ok(())
    }
}

impl TapeObject {
    /// The object at token `at` of `tape`; `None` when that is not an object.
    pub fn new(tape: Arc<Tape>, at: usize) -> Option<Self> {
        tape.is_object(at).then(|| Self {
            state: State::Unread {
                tape,
                at,
                made: Vec::new(),
            },
        })
    }

    /// `dict.get(key)` of the object as `json.loads` reads it (`key_text` is `key`'s text).
    pub fn get<'py>(
        object: &Bound<'py, Self>,
        key: &Bound<'py, PyString>,
        key_text: &str,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = object.py();
        match Self::find(object, key_text)? {
            Found::Missing => Ok(py.None().into_bound(py)),
            Found::Read(dict) => Ok(dict
                .bind(py)
                .get_item(key)?
                .unwrap_or_else(|| py.None().into_bound(py))),
            Found::Kept(part) => part.plain(py),
            Found::OnTape(tape, value_at) => {
                let value = super::json::value_at(py, &tape, value_at)?;
                if !is_container(&tape, value_at) {
                    return Ok(value); // immutable: made on each read
                }
                match Self::keep(object, &tape, value_at, Made::Value(value.unbind()))? {
                    Found::Read(dict) => Ok(dict
                        .bind(py)
                        .get_item(key)?
                        .unwrap_or_else(|| py.None().into_bound(py))),
                    Found::Kept(part) => part.plain(py),
                    Found::Missing | Found::OnTape(..) => Ok(py.None().into_bound(py)),
                }
            }
        }
    }

    /// The member `key` as a `TapeObject` of its own, when it is an object still unread
    /// (the same one on every call); `None` otherwise (read it with [`Self::get`]).
    pub fn member<'py>(object: &Bound<'py, Self>, key: &str) -> PyResult<Option<Bound<'py, Self>>> {
        let py = object.py();
        let found = match Self::find(object, key)? {
            Found::OnTape(tape, value_at) => {
                if !tape.is_object(value_at) {
                    return Ok(None);
                }
                // On a large tape the member gets a tape of its own: kept alone (an
                // answer's usage), it must not keep the rest of the body alive.
                let member = if tape.held_bytes() < SHED_TAPE_BYTES {
                    Self::new(Arc::clone(&tape), value_at)
                } else {
                    tape.part(value_at)
                        .and_then(|part| Self::new(Arc::new(part), 0))
                };
                let Some(member) = member else {
                    return Ok(None);
                };
                let member = Made::Object(Bound::new(py, member)?.unbind());
                Self::keep(object, &tape, value_at, member)?
            }
            found => found,
        };
        Ok(match found {
            Found::Kept(Made::Object(member)) => Some(member.into_bound(py)),
            _ => None,
        })
    }

    /// Let go of the tape under the member `key`, already handed out, when it is large:
    /// the tape kept holds the rest only (an answer's `choices`, built with the answer,
    /// hold most of its text). A small part stays: copying the rest would cost more.
    pub fn shed(object: &Bound<'_, Self>, key: &str) -> PyResult<()> {
        let mut this = object.try_borrow_mut()?;
        let State::Unread { tape, at, made } = &mut this.state else {
            return Ok(());
        };
        if tape.held_bytes() < SHED_TAPE_BYTES {
            return Ok(());
        }
        let Some(value_at) = tape.member(*at, key) else {
            return Ok(());
        };
        if tape.part_bytes(value_at).unwrap_or(0) < SHED_PART_BYTES {
            return Ok(());
        }
        // Only a part kept here may go, and only while nothing after it is kept (their
        // tokens would move).
        if made_at(made, value_at).is_none() || made.iter().any(|(kept, _)| *kept > value_at) {
            return Ok(());
        }
        if let Some(rest) = tape.without(value_at) {
            *tape = Arc::new(rest);
        }
        Ok(())
    }

    /// The whole object as a dict (built once; what `json.loads` gives, holding every
    /// part already handed out).
    pub fn dict<'py>(object: &Bound<'py, Self>) -> PyResult<Bound<'py, PyDict>> {
        let py = object.py();
        loop {
            let (tape, at, made) = {
                let this = object.try_borrow()?;
                match &this.state {
                    State::Read(dict) => return Ok(dict.bind(py).clone()),
                    State::Unread { tape, at, made } => (
                        Arc::clone(tape),
                        *at,
                        made.iter()
                            .map(|(value_at, part)| (*value_at, part.clone_ref(py)))
                            .collect::<Vec<_>>(),
                    ),
                }
            };
            let dict = super::json::object_at(py, &tape, at, |value_at| {
                made_at(&made, value_at)
                    .map(|part| part.plain(py))
                    .transpose()
            })?;
            let unread = {
                let mut this = object.try_borrow_mut()?;
                match &this.state {
                    State::Read(built) => return Ok(built.bind(py).clone()),
                    // A part handed out while this was built: build again, holding it.
                    State::Unread { made: now, .. } if now.len() != made.len() => continue,
                    State::Unread { .. } => {}
                }
                std::mem::replace(&mut this.state, State::Read(dict.clone().unbind()))
            };
            drop(unread); // the tape and the parts' references, let go outside the borrow
            return Ok(dict);
        }
    }

    /// Where the member `key`'s value comes from.
    fn find(object: &Bound<'_, Self>, key: &str) -> PyResult<Found> {
        let py = object.py();
        let this = object.try_borrow()?;
        Ok(match &this.state {
            State::Read(dict) => Found::Read(dict.clone_ref(py)),
            State::Unread { tape, at, made } => match tape.member(*at, key) {
                None => Found::Missing,
                Some(value_at) => match made_at(made, value_at) {
                    Some(part) => Found::Kept(part.clone_ref(py)),
                    None => Found::OnTape(Arc::clone(tape), value_at),
                },
            },
        })
    }

    /// Keep `part` as the member at `value_at` of `tape`, unless one was kept (or the
    /// whole built) meanwhile: what is kept now. A part read off a tape since replaced
    /// (`shed`) is handed out as it is, not kept: its index is the old tape's.
    fn keep(
        object: &Bound<'_, Self>,
        tape: &Arc<Tape>,
        value_at: usize,
        part: Made,
    ) -> PyResult<Found> {
        let py = object.py();
        let mut this = object.try_borrow_mut()?;
        Ok(match &mut this.state {
            State::Read(dict) => Found::Read(dict.clone_ref(py)),
            State::Unread { tape: now, .. } if !Arc::ptr_eq(now, tape) => Found::Kept(part),
            State::Unread { made, .. } => match made_at(made, value_at) {
                Some(kept) => Found::Kept(kept.clone_ref(py)),
                None => {
                    made.push((value_at, part.clone_ref(py)));
                    Found::Kept(part)
                }
            },
        })
    }
}

fn is_container(tape: &Tape, at: usize) -> bool {
    matches!(
        tape.tokens().get(at),
        Some(Token::Array { .. } | Token::Object { .. })
    )
}

fn made_at(made: &[(usize, Made)], value_at: usize) -> Option<&Made> {
    made.iter()
        .find(|(at, _)| *at == value_at)
        .map(|(_, part)| part)
}

impl Made {
    /// The part as plain JSON objects (a nested object as its dict).
    fn plain<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        match self {
            Made::Value(value) => Ok(value.bind(py).clone()),
            Made::Object(object) => TapeObject::dict(object.bind(py)).map(Bound::into_any),
        }
    }

    fn clone_ref(&self, py: Python<'_>) -> Self {
        match self {
            Made::Value(value) => Made::Value(value.clone_ref(py)),
            Made::Object(object) => Made::Object(object.clone_ref(py)),
        }
    }
}

/// The dict behind a model (its `_data`): the model's `_json`, built first when the core
/// left it on the tape (and kept in `_json` from then on).
#[pyfunction]
pub fn model_data<'py>(model: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    let py = model.py();
    let json = model.getattr(pyo3::intern!(py, "_json"))?;
    let Ok(object) = json.cast_exact::<TapeObject>() else {
        return Ok(json);
    };
    let dict = TapeObject::dict(object)?;
    model.setattr(pyo3::intern!(py, "_json"), &dict)?;
    Ok(dict.into_any())
}

/// `model._data.get(key)` without building the whole when the model's object is still on
/// the core's tape (for the facade's own reads of an answer: its usage, model, id).
#[pyfunction]
pub fn json_get<'py>(
    model: &Bound<'py, PyAny>,
    key: &Bound<'py, PyString>,
) -> PyResult<Bound<'py, PyAny>> {
    super::fields::data_get(model, key, key.to_str()?)
}
