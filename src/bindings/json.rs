//! JSON to the plain Python objects `json.loads` gives (dict, list, str, int, float,
//! bool, None): from text in one pass with no tree in between (how a non-streamed
//! answer's body becomes the dict behind `ChatCompletion`), or from an already parsed
//! `serde_json::Value` (a chunk's rare fields, an error's metadata).
//!
//! Numbers are read as serde_json reads them: floats correctly rounded (the
//! `float_roundtrip` feature), integers up to 64 bits exact (larger ones, which no chat
//! completion carries, become floats).

use std::cell::RefCell;
use std::fmt;
use std::mem::ManuallyDrop;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

/// Parse `text` (one JSON value) into Python objects.
pub fn loads<'py>(py: Python<'py>, text: &[u8]) -> PyResult<Bound<'py, PyAny>> {
    let mut reader = serde_json::Deserializer::from_slice(text);
    let value = PyValue(py)
        .deserialize(&mut reader)
        .and_then(|value| reader.end().map(|()| value))
        .map_err(|err| PyValueError::new_err(format!("invalid JSON: {err}")))?;
    Ok(value)
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

type KeySlots = Vec<Option<(Box<str>, Py<PyString>)>>;

thread_local! {
    /// Object keys already made on this thread, as Python strings: an answer's keys (`id`,
    /// `choices`, `usage`, ...) recur in every body, so each becomes a Python string (and
    /// computes its hash) once instead of once per body. Not interned: interned strings
    /// may be immortal, and keys are whatever the server sends. Left to leak at thread exit
    /// (at most `KEY_SLOTS` short strings), when Python may be gone.
    static KEYS: RefCell<ManuallyDrop<KeySlots>> = RefCell::new(ManuallyDrop::new((0..KEY_SLOTS).map(|_| None).collect()));
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

/// Builds one object key as a Python string (see [`object_key`]).
#[derive(Clone, Copy)]
struct PyKey<'py>(Python<'py>);

impl<'de, 'py> DeserializeSeed<'de> for PyKey<'py> {
    type Value = Bound<'py, PyString>;

    fn deserialize<D: de::Deserializer<'de>>(self, reader: D) -> Result<Self::Value, D::Error> {
        reader.deserialize_str(self)
    }
}

impl<'de, 'py> Visitor<'de> for PyKey<'py> {
    type Value = Bound<'py, PyString>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
        Ok(object_key(self.0, text))
    }
}

/// Builds one JSON value as a Python object.
#[derive(Clone, Copy)]
struct PyValue<'py>(Python<'py>);

fn python_error<E: de::Error>(err: PyErr) -> E {
    E::custom(err)
}

impl<'de, 'py> DeserializeSeed<'de> for PyValue<'py> {
    type Value = Bound<'py, PyAny>;

    fn deserialize<D: de::Deserializer<'de>>(self, reader: D) -> Result<Self::Value, D::Error> {
        reader.deserialize_any(self)
    }
}

impl<'de, 'py> Visitor<'de> for PyValue<'py> {
    type Value = Bound<'py, PyAny>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(self.0.None().into_bound(self.0))
    }

    fn visit_bool<E: de::Error>(self, flag: bool) -> Result<Self::Value, E> {
        Ok(PyBool::new(self.0, flag).to_owned().into_any())
    }

    fn visit_i64<E: de::Error>(self, int: i64) -> Result<Self::Value, E> {
        let Ok(value) = int.into_pyobject(self.0);
        Ok(value.into_any())
    }

    fn visit_u64<E: de::Error>(self, int: u64) -> Result<Self::Value, E> {
        let Ok(value) = int.into_pyobject(self.0);
        Ok(value.into_any())
    }

    fn visit_f64<E: de::Error>(self, float: f64) -> Result<Self::Value, E> {
        Ok(PyFloat::new(self.0, float).into_any())
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
        Ok(PyString::new(self.0, text).into_any())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut items: A) -> Result<Self::Value, A::Error> {
        let list = PyList::empty(self.0);
        while let Some(item) = items.next_element_seed(self)? {
            list.append(item).map_err(python_error)?;
        }
        Ok(list.into_any())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut entries: A) -> Result<Self::Value, A::Error> {
        let dict = PyDict::new(self.0);
        while let Some(key) = entries.next_key_seed(PyKey(self.0))? {
            let value = entries.next_value_seed(self)?;
            dict.set_item(key, value).map_err(python_error)?;
        }
        Ok(dict.into_any())
    }
}

/// How deep [`encode`] follows nested containers before leaving the value to Python
/// (whose encoder then reports a circular reference, or encodes it).
const ENCODE_MAX_DEPTH: u32 = 128;

/// `value` as the JSON text `json.JSONEncoder(separators=(",", ":"), ensure_ascii=False,
/// allow_nan=False)` writes, byte for byte (a request body), or `None` when it holds
/// anything but exact dicts with str keys, lists, tuples, str, int, float, bool and
/// None, a non-finite float, a str that is not valid UTF-8, or nests too deep: Python's
/// encoder then encodes it (or raises) as it always did.
#[pyfunction]
pub fn encode_json<'py>(py: Python<'py>, value: &Bound<'py, PyAny>) -> Option<Bound<'py, PyBytes>> {
    let mut out = Vec::with_capacity(256);
    encode(value, &mut out, 0).then(|| PyBytes::new(py, &out))
}

fn encode(value: &Bound<'_, PyAny>, out: &mut Vec<u8>, depth: u32) -> bool {
    if depth > ENCODE_MAX_DEPTH {
        return false;
    }
    if let Ok(text) = value.cast_exact::<PyString>() {
        return encode_str(text, out);
    }
    if let Ok(dict) = value.cast_exact::<PyDict>() {
        out.push(b'{');
        for (index, (key, item)) in dict.iter().enumerate() {
            if index > 0 {
                out.push(b',');
            }
            let Ok(key) = key.cast_exact::<PyString>() else {
                return false;
            };
            if !encode_str(key, out) {
                return false;
            }
            out.push(b':');
            if !encode(&item, out, depth + 1) {
                return false;
            }
        }
        out.push(b'}');
        return true;
    }
    if let Ok(list) = value.cast_exact::<PyList>() {
        return encode_items(list.iter(), out, depth);
    }
    if let Ok(tuple) = value.cast_exact::<PyTuple>() {
        return encode_items(tuple.iter(), out, depth);
    }
    if value.is_none() {
        out.extend_from_slice(b"null");
        return true;
    }
    if let Ok(flag) = value.cast_exact::<PyBool>() {
        out.extend_from_slice(if flag.is_true() { b"true" } else { b"false" });
        return true;
    }
    if value.cast_exact::<PyInt>().is_ok() {
        return match value.extract::<i64>() {
            Ok(int) => {
                out.extend_from_slice(int.to_string().as_bytes());
                true
            }
            Err(_) => false, // beyond 64 bits: Python writes it
        };
    }
    if let Ok(float) = value.cast_exact::<PyFloat>() {
        if !float.value().is_finite() {
            return false; // Python raises, naming it
        }
        // float.__repr__, as Python's encoder writes floats (1e-05, 1e+16, 2.0).
        return match float.repr() {
            Ok(text) => match text.to_str() {
                Ok(text) => {
                    out.extend_from_slice(text.as_bytes());
                    true
                }
                Err(_) => false,
            },
            Err(_) => false,
        };
    }
    false
}

fn encode_items<'py>(
    items: impl Iterator<Item = Bound<'py, PyAny>>,
    out: &mut Vec<u8>,
    depth: u32,
) -> bool {
    out.push(b'[');
    for (index, item) in items.enumerate() {
        if index > 0 {
            out.push(b',');
        }
        if !encode(&item, out, depth + 1) {
            return false;
        }
    }
    out.push(b']');
    true
}

/// A str as Python's `encode_basestring` quotes it: `"` and `\` escaped, the control
/// characters below 0x20 as `\n`-style or `\u00XX` escapes, everything else as UTF-8.
fn encode_str(text: &Bound<'_, PyString>, out: &mut Vec<u8>) -> bool {
    let Ok(text) = text.to_str() else {
        return false; // a lone surrogate: Python's encoder (then `.encode()`) deals with it
    };
    out.push(b'"');
    let bytes = text.as_bytes();
    let mut start = 0;
    for (index, &byte) in bytes.iter().enumerate() {
        let escape: &[u8] = match byte {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..index]);
        if escape.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.extend_from_slice(b"\\u00");
            out.push(HEX[usize::from(byte >> 4)]);
            out.push(HEX[usize::from(byte & 0xf)]);
        } else {
            out.extend_from_slice(escape);
        }
        start = index + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
    true
}
