//! JSON to the plain Python objects `json.loads` gives (dict, list, str, int, float,
//! bool, None): a non-streamed answer's body from the tape the core read it into (the dict
//! behind `ChatCompletion`; a body the tape does not take is `json.loads`' own reading), or
//! an already parsed `serde_json::Value` (a chunk's rare fields, an error's metadata).

use std::cell::RefCell;

use pyo3::exceptions::{PyRecursionError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyBytes, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use serde::ser::{self, SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};
use serde_json::value::RawValue;
use serde_json::Value;

use crate::error::{Error, ErrorKind};
use crate::json_tape::{Tape, Token, KNOWN_KEYS};

/// An answer's body as Python objects: built from the tape the core read it into, or
/// read by `json.loads` itself when it has none (see [`loads`]).
pub fn parsed<'py>(
    py: Python<'py>,
    text: &[u8],
    tape: Option<&Tape>,
) -> PyResult<Bound<'py, PyAny>> {
    match tape {
        Some(tape) => from_tape(py, tape),
        None => loads(py, text),
    }
}

/// The Python strings of [`KNOWN_KEYS`], made once (interned: a fixed, small set).
static KNOWN: PyOnceLock<Vec<Py<PyString>>> = PyOnceLock::new();

/// A tape's value as Python objects (what [`loads`] gives for its text).
pub fn from_tape<'py>(py: Python<'py>, tape: &Tape) -> PyResult<Bound<'py, PyAny>> {
    value_at(py, tape, 0)
}

/// The value at token `at` of a tape as Python objects.
pub fn value_at<'py>(py: Python<'py>, tape: &Tape, at: usize) -> PyResult<Bound<'py, PyAny>> {
    TapeBuilder::new(py, tape, at).value()
}

/// The object at token `at` of a tape as a dict, each member's value taken from
/// `made(value's index)` when it gives one (a part already built and handed out, so the
/// dict holds that very object), else built.
pub fn object_at<'py>(
    py: Python<'py>,
    tape: &Tape,
    at: usize,
    mut made: impl FnMut(usize) -> PyResult<Option<Bound<'py, PyAny>>>,
) -> PyResult<Bound<'py, PyDict>> {
    let mut builder = TapeBuilder::new(py, tape, at);
    let Token::Object { items, .. } = builder.next()? else {
        return Err(broken());
    };
    let dict = PyDict::new(py);
    for _ in 0..items {
        let key = builder.key()?;
        let value = match made(builder.at)? {
            Some(value) => {
                builder.at = tape.after(builder.at).ok_or_else(broken)?;
                value
            }
            None => builder.value()?,
        };
        dict.set_item(key, value)?;
    }
    Ok(dict)
}

struct TapeBuilder<'a, 'py> {
    py: Python<'py>,
    tape: &'a Tape,
    tokens: &'a [Token],
    known: &'a [Py<PyString>],
    at: usize,
}

impl<'a, 'py> TapeBuilder<'a, 'py> {
    fn new(py: Python<'py>, tape: &'a Tape, at: usize) -> Self {
        let known = KNOWN.get_or_init(py, || {
            KNOWN_KEYS
                .iter()
                .map(|key| PyString::intern(py, key).unbind())
                .collect()
        });
        TapeBuilder {
            py,
            tape,
            tokens: tape.tokens(),
            known,
            at,
        }
    }

    /// An object's next key (a known key is lent, not cloned).
    fn key(&mut self) -> PyResult<Bound<'py, PyString>> {
        let py = self.py;
        match self.next()? {
            Token::KnownKey(index) => {
                let key = self.known.get(usize::from(index)).ok_or_else(broken)?;
                Ok(key.bind(py).clone())
            }
            Token::Key(span) => Ok(object_key(py, self.tape.text(span))),
            _ => Err(broken()),
        }
    }

    fn next(&mut self) -> PyResult<Token> {
        let token = self.tokens.get(self.at).copied();
        self.at += 1;
        token.ok_or_else(|| PyValueError::new_err("the answer's tape ended early"))
    }

    fn value(&mut self) -> PyResult<Bound<'py, PyAny>> {
        let py = self.py;
        Ok(match self.next()? {
            Token::Null => py.None().into_bound(py),
            Token::Bool(flag) => PyBool::new(py, flag).to_owned().into_any(),
            Token::UInt { value, .. } => value.into_pyobject(py)?.into_any(),
            Token::Int { value, .. } => value.into_pyobject(py)?.into_any(),
            Token::Float { value, .. } => PyFloat::new(py, value).into_any(),
            Token::Str(span) => {
                let text = self.tape.text(span);
                if text.len() <= SHORT_VALUE_LEN {
                    // "stop", "assistant", "chat.completion", the provider, the model: the
                    // same few short values in every answer, made once like the keys
                    object_key(py, text).into_any()
                } else {
                    PyString::new(py, text).into_any()
                }
            }
            Token::Array { items, .. } => {
                let mut list = Vec::with_capacity(items as usize);
                for _ in 0..items {
                    list.push(self.value()?);
                }
                PyList::new(py, list)?.into_any()
            }
            Token::Object { items, .. } => {
                let dict = PyDict::new(py);
                for _ in 0..items {
                    // A known key is lent, not cloned (no reference count taken and dropped).
                    match self.next()? {
                        Token::KnownKey(index) => {
                            let key = self.known.get(usize::from(index)).ok_or_else(broken)?;
                            dict.set_item(key.bind(py), self.value()?)?;
                        }
                        Token::Key(span) => {
                            let key = object_key(py, self.tape.text(span));
                            dict.set_item(key, self.value()?)?;
                        }
                        _ => return Err(broken()),
                    }
                }
                dict.into_any()
            }
            Token::Key(_) | Token::KnownKey(_) => return Err(broken()),
        })
    }
}

fn broken() -> PyErr {
    PyValueError::new_err("the answer's tape is broken")
}

/// An answer's body the tape does not take (`-0`, an integer past 64 bits, `1e400`, a lone
/// surrogate, deep nesting, a very long body: rare) as `json.loads` reads it, exactly what
/// the openai SDK gives; a body it refuses is the answer's typed error (`invalid_response`).
pub fn loads<'py>(py: Python<'py>, text: &[u8]) -> PyResult<Bound<'py, PyAny>> {
    loads_or(py, PyBytes::new(py, text).into_any(), |err| {
        format!("the server sent a 200 response that is not a chat completion: {err}")
    })
}

/// `json.loads(text)` for the bindings: a text it refuses (`ValueError`, `RecursionError`)
/// is the typed error `invalid_response`, worded by `why`; anything else (`MemoryError`,
/// `KeyboardInterrupt`) goes on as raised.
pub fn loads_or<'py>(
    py: Python<'py>,
    text: Bound<'py, PyAny>,
    why: impl FnOnce(&PyErr) -> String,
) -> PyResult<Bound<'py, PyAny>> {
    loads_if(py, text)?.map_err(|err| {
        super::errors::error_to_py(&Error::new(ErrorKind::InvalidResponse, why(&err)))
    })
}

/// `json.loads(text)`, its refusal of the text (`ValueError`, `RecursionError`) as the
/// inner `Err`; anything else (`MemoryError`, `KeyboardInterrupt`) goes on as raised.
pub fn loads_if<'py>(
    py: Python<'py>,
    text: Bound<'py, PyAny>,
) -> PyResult<Result<Bound<'py, PyAny>, PyErr>> {
    static LOADS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let loads = LOADS.get_or_try_init(py, || {
        py.import("json")?.getattr("loads").map(Bound::unbind)
    })?;
    match loads.bind(py).call1((text,)) {
        Ok(value) => Ok(Ok(value)),
        Err(err) if !unreadable(py, &err) => Err(err),
        Err(err) => Ok(Err(err)),
    }
}

/// `json.loads`' refusals of a text: `ValueError` (JSONDecodeError) or `RecursionError`
/// (nesting deeper than Python's recursion limit).
fn unreadable(py: Python<'_>, err: &PyErr) -> bool {
    err.is_instance_of::<PyValueError>(py) || err.is_instance_of::<PyRecursionError>(py)
}

/// An already parsed JSON value as Python objects.
pub fn from_value<'py>(py: Python<'py>, value: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match value {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => i.into_pyobject(py)?.into_any(),
            (_, Some(u)) => u.into_pyobject(py)?.into_any(),
            _ => PyFloat::new(py, n.as_f64().unwrap_or(f64::NAN)).into_any(),
        },
        Value::String(s) => PyString::new(py, s).into_any(),
        Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(from_value(py, item)?)?;
            }
            list.into_any()
        }
        Value::Object(map) => {
            let dict = PyDict::new(py);
            for (key, item) in map {
                dict.set_item(key, from_value(py, item)?)?;
            }
            dict.into_any()
        }
    })
}

/// How many object keys a thread remembers (direct-mapped by a hash of the key's text),
/// and the longest key remembered.
const KEY_SLOTS: usize = 256;
const KEY_MAX_LEN: usize = 40;
/// The longest string value of an answer's tape taken from the same table (a str is
/// immutable: an answer cannot tell a shared one from its own).
const SHORT_VALUE_LEN: usize = 24;

type KeySlots = Vec<Option<(Box<str>, Py<PyString>)>>;

thread_local! {
    /// Object keys (and an answer's short string values) already made on this thread, as
    /// Python strings: an answer's keys (`id`, `choices`, `usage`, ...) recur in every
    /// body, so each becomes a Python string (and computes its hash) once instead of once
    /// per body. Not interned: interned strings
    /// may be immortal, and keys are whatever the server sends. Released at thread exit
    /// (PyO3 defers each decref to the next thread attached to Python): a thread per
    /// request must not leak its table.
    static KEYS: RefCell<KeySlots> = RefCell::new((0..KEY_SLOTS).map(|_| None).collect());
}

/// FNV-1a: enough to spread a few dozen short keys over the slots.
fn key_slot(text: &str) -> usize {
    let hash = text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x100_0000_01b3)
    });
    (hash % KEY_SLOTS as u64) as usize
}

/// The Python string for object key `text`, from this thread's remembered keys.
fn object_key<'py>(py: Python<'py>, text: &str) -> Bound<'py, PyString> {
    if text.len() > KEY_MAX_LEN {
        return PyString::new(py, text);
    }
    let slot = key_slot(text);
    let cached = KEYS.try_with(|keys| {
        let mut keys = keys.borrow_mut();
        if let Some((known, key)) = &keys[slot] {
            if **known == *text {
                return key.bind(py).clone();
            }
        }
        let key = PyString::new(py, text);
        // The key it replaces is released now: the GIL is held.
        keys[slot] = Some((text.into(), key.clone().unbind()));
        key
    });
    cached.unwrap_or_else(|_| PyString::new(py, text))
}

/// How deep [`encode_json`] follows nested containers before leaving the value to Python
/// (whose encoder then reports a circular reference, or encodes it).
const ENCODE_MAX_DEPTH: u32 = 128;

/// `value` as the JSON text `json.JSONEncoder(separators=(",", ":"), ensure_ascii=False,
/// allow_nan=False)` writes, byte for byte (a request body), or `None` when it holds
/// anything but exact dicts with str keys, lists, tuples, str, int, float, bool and
/// None, a non-finite float, a str that is not valid UTF-8, or nests too deep: Python's
/// encoder then encodes it (or raises) as it always did.
#[pyfunction]
pub fn encode_json<'py>(py: Python<'py>, value: &Bound<'py, PyAny>) -> Option<Bound<'py, PyBytes>> {
    let out = serde_json::to_vec(&PlainJson { value, depth: 0 }).ok()?;
    Some(PyBytes::new(py, &out))
}

/// A Python value that serializes as JSON data if it is plain JSON data, else fails (any
/// error only means "let Python's encoder do it"). serde_json's compact writer escapes
/// strings exactly as Python's encoder does with `ensure_ascii=False`.
struct PlainJson<'a, 'py> {
    value: &'a Bound<'py, PyAny>,
    depth: u32,
}

impl<'py> PlainJson<'_, 'py> {
    /// A value inside this one, a level deeper.
    fn inner<'b>(&self, value: &'b Bound<'py, PyAny>) -> PlainJson<'b, 'py> {
        PlainJson {
            value,
            depth: self.depth + 1,
        }
    }

    /// A list's or tuple's items, as a JSON array.
    fn items<S: Serializer>(
        &self,
        out: S,
        len: usize,
        items: impl Iterator<Item = Bound<'py, PyAny>>,
    ) -> Result<S::Ok, S::Error> {
        let mut seq = out.serialize_seq(Some(len))?;
        for item in items {
            seq.serialize_element(&self.inner(&item))?;
        }
        seq.end()
    }
}

fn not_plain<E: ser::Error>(why: &str) -> E {
    E::custom(why)
}

impl Serialize for PlainJson<'_, '_> {
    fn serialize<S: Serializer>(&self, out: S) -> Result<S::Ok, S::Error> {
        let value = self.value;
        if self.depth > ENCODE_MAX_DEPTH {
            return Err(not_plain("nested too deep"));
        }
        if let Ok(text) = value.cast_exact::<PyString>() {
            // A lone surrogate fails here: Python's encoder (then `.encode()`) deals with it.
            return out.serialize_str(text.to_str().map_err(|_| not_plain("not UTF-8"))?);
        }
        if let Ok(dict) = value.cast_exact::<PyDict>() {
            let mut map = out.serialize_map(Some(dict.len()))?;
            for (key, item) in dict.iter() {
                let key = key
                    .cast_exact::<PyString>()
                    .map_err(|_| not_plain("a key is not a str"))?;
                let key = key.to_str().map_err(|_| not_plain("not UTF-8"))?;
                map.serialize_entry(key, &self.inner(&item))?;
            }
            return map.end();
        }
        if let Ok(list) = value.cast_exact::<PyList>() {
            return self.items(out, list.len(), list.iter());
        }
        if let Ok(tuple) = value.cast_exact::<PyTuple>() {
            return self.items(out, tuple.len(), tuple.iter());
        }
        if value.is_none() {
            return out.serialize_unit();
        }
        if let Ok(flag) = value.cast_exact::<PyBool>() {
            return out.serialize_bool(flag.is_true());
        }
        if value.cast_exact::<PyInt>().is_ok() {
            // Beyond 64 bits: Python writes it.
            let int = value
                .extract::<i64>()
                .map_err(|_| not_plain("an int beyond 64 bits"))?;
            return out.serialize_i64(int);
        }
        if let Ok(float) = value.cast_exact::<PyFloat>() {
            if !float.value().is_finite() {
                return Err(not_plain("a non-finite float")); // Python raises, naming it
            }
            // float.__repr__, as Python's encoder writes floats (1e-05, 1e+16, 2.0).
            let repr = float.repr().map_err(|_| not_plain("no repr"))?;
            let repr = repr.to_str().map_err(|_| not_plain("not UTF-8"))?;
            let raw =
                RawValue::from_string(repr.to_owned()).map_err(|_| not_plain("not a number"))?;
            return raw.serialize(out);
        }
        Err(not_plain("not JSON data"))
    }
}
