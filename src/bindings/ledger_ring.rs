//! The in-memory ledger's ring (`python/fastrouter/usage/columns.py` lays out its records):
//! the last `capacity` entries as fixed-size packed records, their generation ids, and the
//! table of distinct label combinations the records point into, with reference counts.
//! The usual answer (one attempt, priced by the core) is packed here straight from the
//! facts the core read from its body ([`AnswerFacts`]), without a Python object per field.

use std::collections::HashMap;
use std::sync::Arc;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString, PyTuple};

use super::records::EntryValues;

/// A record's label code that is not in the table (the labels sit in the side table).
const ODD_CODE: u32 = u32::MAX;
/// The largest token count a record holds (`ODD_CODE` marks one in the side table).
const INT_MAX: u64 = ODD_CODE as u64 - 1;

/// Whether the ring packs this answer's facts itself: a cost in fixed point and token
/// counts a record holds (anything else is recorded by the facade, field by field).
pub fn packable(entry: &EntryValues) -> bool {
    entry.cost_units.is_some()
        && [
            entry.prompt_tokens,
            entry.completion_tokens,
            entry.cached_tokens,
            entry.reasoning_tokens,
        ]
        .iter()
        .all(|&count| count <= INT_MAX)
}

/// A usual answer's ledger facts (`NativeChat.ring_facts`), shared with its `NativeChat`.
#[pyclass(frozen, module = "fastrouter._fastrouter")]
pub struct AnswerFacts {
    entry: Arc<EntryValues>,
}

impl AnswerFacts {
    pub fn new(entry: Arc<EntryValues>) -> Self {
        Self { entry }
    }
}

#[pymethods]
impl AnswerFacts {
    /// The facts as `NativeChat.entry_facts` gives them.
    #[getter]
    fn entry_facts<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        self.entry.to_tuple(py)
    }
}

/// A held entry's generation id.
enum Id {
    None,
    Text(Box<str>),
    Object(Py<PyAny>),
}

impl Id {
    /// A generation id given by the facade: a plain string is kept as text.
    fn of(id: &Bound<'_, PyAny>) -> Self {
        if id.is_none() {
            return Id::None;
        }
        match id.cast_exact::<PyString>().map(|text| text.to_str()) {
            Ok(Ok(text)) => Id::Text(text.into()),
            _ => Id::Object(id.clone().unbind()),
        }
    }

    fn heap_bytes(&self) -> usize {
        match self {
            // Rounded to the allocator's 16-byte size classes.
            Id::Text(text) => text.len().div_ceil(16) * 16,
            _ => 0,
        }
    }

    fn to_object(&self, py: Python<'_>) -> Py<PyAny> {
        match self {
            Id::None => py.None(),
            Id::Text(text) => PyString::new(py, text).into_any().unbind(),
            Id::Object(object) => object.clone_ref(py),
        }
    }
}

/// Where the usual answer's facts go in a record (byte offsets, little-endian).
struct AnswerLayout {
    time: usize,
    latency: usize,
    prompt: usize,
    completion: usize,
    cached: usize,
    reasoning: usize,
    byok: usize,
    cost: usize,
}

/// What the answers packed here (`add_answers`) add to the ledger's totals.
#[derive(Default)]
struct AnswerTotals {
    requests: u64,
    prompt: u64,
    completion: u64,
    cost_units: i128,
    /// The most decimal places of any of their costs' texts (the sum's exponent).
    places: usize,
}

/// The ledger's ring of packed entries (see the module docs).
#[pyclass(module = "fastrouter._fastrouter")]
pub struct LedgerRing {
    capacity: u64,
    /// Sequence number of the oldest entry held, and of the next entry added.
    first: u64,
    next: u64,
    size: usize,
    buffer: Vec<u8>,
    ids: Vec<Id>,
    id_bytes: usize,
    /// Entries the facade keeps more of (side-table values, an unpriced id): the usual
    /// answer does not overwrite one before the facade forgets it (`unmark`).
    marks: Vec<bool>,
    /// Distinct label combinations: value (None once free), records using it, free codes,
    /// and the Python dict from combination to code.
    labels: Vec<Option<Py<PyAny>>>,
    refs: Vec<u32>,
    free: Vec<u32>,
    codes: Py<PyDict>,
    /// The usual answer's record with its constant fields filled in, and where its facts go.
    template: Vec<u8>,
    layout: AnswerLayout,
    /// The usual answer's label combination: constants, with the requested name, the model
    /// and the provider at these positions.
    answer_labels: Py<PyTuple>,
    answer_slots: (usize, usize, usize),
    /// The code of each (requested, model, provider) of a usual answer seen, by key bytes;
    /// a code's key, to forget it when the code is freed.
    answer_codes: HashMap<Box<[u8]>, u32>,
    code_keys: Vec<Option<Box<[u8]>>>,
    scratch: Vec<u8>,
    record: Vec<u8>,
    totals: AnswerTotals,
}

fn put(buffer: &mut [u8], at: usize, bytes: &[u8]) {
    buffer[at..at + bytes.len()].copy_from_slice(bytes);
}

fn key_part(out: &mut Vec<u8>, part: Option<&str>) {
    match part {
        None => out.push(0),
        Some(text) => {
            out.push(1);
            out.extend_from_slice(&(text.len() as u64).to_le_bytes());
            out.extend_from_slice(text.as_bytes());
        }
    }
}

impl LedgerRing {
    fn held(&self, seq: u64) -> PyResult<usize> {
        if seq < self.first || seq >= self.next {
            return Err(PyValueError::new_err(format!("entry {seq} is not held")));
        }
        Ok(usize::try_from(seq % self.capacity).unwrap_or(usize::MAX))
    }

    fn code_at(&self, pos: usize) -> u32 {
        let end = (pos + 1) * self.size;
        let mut code = [0u8; 4];
        code.copy_from_slice(&self.buffer[end - 4..end]);
        u32::from_le_bytes(code)
    }

    fn release(&mut self, py: Python<'_>, code: u32) -> PyResult<()> {
        let Some(refs) = self.refs.get_mut(code as usize) else {
            return Ok(()); // ODD_CODE: the labels are in the side table
        };
        *refs = refs.saturating_sub(1);
        if *refs > 0 {
            return Ok(());
        }
        if let Some(labels) = self.labels[code as usize].take() {
            self.codes.bind(py).del_item(labels)?;
        }
        if let Some(key) = self.code_keys[code as usize].take() {
            self.answer_codes.remove(&key);
        }
        self.free.push(code);
        Ok(())
    }

    /// Store `record` (whose label code is already counted) and `id` as the newest entry,
    /// releasing what the entry it overwrites held.
    fn push_record(&mut self, py: Python<'_>, record: &[u8], id: Id, marked: bool) -> PyResult<()> {
        let seq = self.next;
        if self.capacity == 0 {
            self.next += 1;
            self.first = self.next;
            return Ok(());
        }
        if seq < self.capacity {
            if self.ids.len() == self.ids.capacity() {
                self.grow();
            }
            self.buffer.extend_from_slice(record);
            self.id_bytes += id.heap_bytes();
            self.ids.push(id);
            self.marks.push(marked);
        } else {
            let pos = usize::try_from(seq % self.capacity).unwrap_or(usize::MAX);
            self.release(py, self.code_at(pos))?;
            let start = pos * self.size;
            put(&mut self.buffer, start, record);
            self.id_bytes = self.id_bytes + id.heap_bytes() - self.ids[pos].heap_bytes();
            self.ids[pos] = id;
            self.marks[pos] = marked;
        }
        self.next = seq + 1;
        self.first = self.first.max(self.next.saturating_sub(self.capacity));
        Ok(())
    }

    /// Room for twice as many entries, but never more than `capacity`: a full ring holds
    /// no spare room.
    fn grow(&mut self) {
        let held = self.ids.len();
        let room = usize::try_from(self.capacity)
            .unwrap_or(usize::MAX)
            .min(held.saturating_mul(2).max(64));
        let more = room.saturating_sub(held);
        self.buffer.reserve_exact(more * self.size);
        self.ids.reserve_exact(more);
        self.marks.reserve_exact(more);
    }

    fn intern_labels(&mut self, py: Python<'_>, labels: &Bound<'_, PyAny>) -> PyResult<u32> {
        let codes = self.codes.bind(py);
        if let Some(code) = codes.get_item(labels)? {
            let code: u32 = code.extract()?;
            self.refs[code as usize] += 1;
            return Ok(code);
        }
        let code = match self.free.pop() {
            Some(code) => {
                self.labels[code as usize] = Some(labels.clone().unbind());
                self.refs[code as usize] = 1;
                code
            }
            None => {
                let code = u32::try_from(self.labels.len())
                    .ok()
                    .filter(|&code| code < ODD_CODE)
                    .ok_or_else(|| PyValueError::new_err("too many distinct ledger labels"))?;
                self.labels.push(Some(labels.clone().unbind()));
                self.refs.push(1);
                self.code_keys.push(None);
                code
            }
        };
        codes.set_item(labels, code)?;
        Ok(code)
    }

    /// The (counted) label code of a usual answer to `requested` from `model` at `provider`.
    fn answer_code(
        &mut self,
        py: Python<'_>,
        requested: &Bound<'_, PyString>,
        entry: &EntryValues,
    ) -> PyResult<u32> {
        let mut key = std::mem::take(&mut self.scratch);
        key.clear();
        key_part(&mut key, Some(requested.to_str()?));
        key_part(&mut key, entry.model.as_deref());
        key_part(&mut key, entry.provider.as_deref());
        let found = self.answer_codes.get(key.as_slice()).copied();
        let code = match found {
            Some(code) => {
                self.refs[code as usize] += 1;
                code
            }
            None => {
                let template = self.answer_labels.bind(py);
                let mut labels: Vec<Bound<'_, PyAny>> = template.iter().collect();
                let (at_requested, at_model, at_provider) = self.answer_slots;
                let text = |part: &Option<String>| match part {
                    Some(text) => PyString::new(py, text).into_any(),
                    None => py.None().into_bound(py),
                };
                labels[at_requested] = requested.clone().into_any();
                labels[at_model] = text(&entry.model);
                labels[at_provider] = text(&entry.provider);
                let labels = PyTuple::new(py, labels)?;
                let code = self.intern_labels(py, labels.as_any())?;
                let stored: Box<[u8]> = key.as_slice().into();
                self.answer_codes.insert(stored.clone(), code);
                self.code_keys[code as usize] = Some(stored);
                code
            }
        };
        self.scratch = key;
        Ok(code)
    }

    /// The usual answer's record, written over `record` (the template's size).
    fn answer_record(
        &self,
        record: &mut [u8],
        entry: &EntryValues,
        units: u64,
        started: f64,
        ended: f64,
        code: u32,
    ) {
        let layout = &self.layout;
        record.copy_from_slice(&self.template);
        let count = |n: u64| u32::try_from(n).unwrap_or(ODD_CODE).to_le_bytes();
        put(record, layout.time, &started.to_le_bytes());
        put(record, layout.latency, &(ended - started).to_le_bytes());
        put(record, layout.prompt, &count(entry.prompt_tokens));
        put(record, layout.completion, &count(entry.completion_tokens));
        put(record, layout.cached, &count(entry.cached_tokens));
        put(record, layout.reasoning, &count(entry.reasoning_tokens));
        put(record, layout.byok, &[u8::from(entry.byok)]);
        put(record, layout.cost, &units.to_le_bytes());
        let end = record.len();
        put(record, end - 4, &code.to_le_bytes());
    }

    /// Add one usual answer `(facts, requested, started, ended)`; false (nothing added)
    /// for an item of any other form, or when it would overwrite a marked entry.
    fn add_answer(&mut self, py: Python<'_>, item: &Bound<'_, PyAny>) -> PyResult<bool> {
        let Ok(item) = item.cast_exact::<PyTuple>() else {
            return Ok(false);
        };
        if item.len() != 4 {
            return Ok(false);
        }
        let facts = item.get_item(0)?;
        let Ok(facts) = facts.cast_exact::<AnswerFacts>() else {
            return Ok(false);
        };
        let entry: &EntryValues = &facts.get().entry;
        if !packable(entry) {
            return Ok(false);
        }
        let Some(units) = entry.cost_units else {
            return Ok(false);
        };
        if self.capacity > 0 && self.next >= self.capacity {
            let pos = usize::try_from(self.next % self.capacity).unwrap_or(usize::MAX);
            if self.marks[pos] {
                return Ok(false);
            }
        }
        let requested = item.get_item(1)?;
        // A `str` subclass (a route name given as a `StrEnum`) is held as its plain text:
        // the ring keys labels by text, which a subclass's own `__eq__`/`__hash__` may not.
        let requested = match requested.cast_exact::<PyString>() {
            Ok(text) => text.clone(),
            Err(_) => PyString::new(py, requested.cast::<PyString>()?.to_str()?),
        };
        let requested = &requested;
        let started: f64 = item.get_item(2)?.extract()?;
        let ended: f64 = item.get_item(3)?.extract()?;
        if self.capacity > 0 {
            let code = self.answer_code(py, requested, entry)?;
            let mut record = std::mem::take(&mut self.record);
            record.resize(self.size, 0);
            self.answer_record(&mut record, entry, units, started, ended, code);
            let id = entry
                .id
                .as_deref()
                .map_or(Id::None, |id| Id::Text(id.into()));
            let pushed = self.push_record(py, &record, id, false);
            self.record = record;
            pushed?;
        } else {
            self.push_record(py, &[], Id::None, false)?;
        }
        let totals = &mut self.totals;
        totals.requests += 1;
        totals.prompt += entry.prompt_tokens;
        totals.completion += entry.completion_tokens;
        totals.cost_units += i128::from(units);
        let places = entry.cost.split_once('.').map_or(0, |(_, frac)| frac.len());
        totals.places = totals.places.max(places);
        Ok(true)
    }
}

#[pymethods]
impl LedgerRing {
    /// A ring of `capacity` records of `template`'s size; `offsets`: where the usual
    /// answer's time, latency, four token counts, byok flag and cost go in `template` (the
    /// usual answer's record with its constants); `answer_labels`: its label combination,
    /// the requested name, model and provider at `answer_slots`.
    #[new]
    fn new(
        py: Python<'_>,
        capacity: u64,
        template: Vec<u8>,
        offsets: (usize, usize, usize, usize, usize, usize, usize, usize),
        answer_labels: Bound<'_, PyTuple>,
        answer_slots: (usize, usize, usize),
    ) -> PyResult<Self> {
        let (time, latency, prompt, completion, cached, reasoning, byok, cost) = offsets;
        let size = template.len();
        let fits = [
            (time, 8),
            (latency, 8),
            (prompt, 4),
            (completion, 4),
            (cached, 4),
            (reasoning, 4),
            (byok, 1),
            (cost, 8),
        ]
        .iter()
        .all(|&(at, width)| at + width <= size.saturating_sub(4));
        let (a, b, c) = answer_slots;
        if !fits || [a, b, c].iter().any(|&slot| slot >= answer_labels.len()) {
            return Err(PyValueError::new_err(
                "a ledger record layout that does not fit",
            ));
        }
        Ok(Self {
            capacity,
            first: 0,
            next: 0,
            size,
            buffer: Vec::new(),
            ids: Vec::new(),
            id_bytes: 0,
            marks: Vec::new(),
            labels: Vec::new(),
            refs: Vec::new(),
            free: Vec::new(),
            codes: PyDict::new(py).unbind(),
            template,
            layout: AnswerLayout {
                time,
                latency,
                prompt,
                completion,
                cached,
                reasoning,
                byok,
                cost,
            },
            answer_labels: answer_labels.unbind(),
            answer_slots,
            answer_codes: HashMap::new(),
            code_keys: Vec::new(),
            scratch: Vec::new(),
            record: Vec::new(),
            totals: AnswerTotals::default(),
        })
    }

    /// Sequence number of the oldest entry held.
    #[getter]
    fn first(&self) -> u64 {
        self.first
    }

    /// Sequence number the next entry gets.
    #[getter]
    fn next(&self) -> u64 {
        self.next
    }

    /// The code of the label combination `labels`, counted once more (a record will hold
    /// it); `TypeError` when it is unhashable.
    fn intern(&mut self, py: Python<'_>, labels: &Bound<'_, PyAny>) -> PyResult<u32> {
        self.intern_labels(py, labels)
    }

    /// The label combination of `code`.
    fn labels(&self, py: Python<'_>, code: u32) -> Py<PyAny> {
        match self.labels.get(code as usize) {
            Some(Some(labels)) => labels.clone_ref(py),
            _ => py.None(),
        }
    }

    /// Every label combination held, and how many records use each.
    fn held_labels<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let held = self
            .labels
            .iter()
            .zip(&self.refs)
            .filter_map(|(labels, &refs)| Some((labels.as_ref()?.clone_ref(py), refs)));
        PyList::new(py, held)
    }

    /// Add `record` (packed, its label code counted) with generation id `id` as the newest
    /// entry, dropping the oldest when the ring is full (only counting it when the ring
    /// holds none: capacity 0); `marked`: see `unmark`.
    fn push(
        &mut self,
        py: Python<'_>,
        record: &[u8],
        id: &Bound<'_, PyAny>,
        marked: bool,
    ) -> PyResult<()> {
        if self.capacity > 0 && record.len() != self.size {
            return Err(PyValueError::new_err("a ledger record of another size"));
        }
        self.push_record(py, record, Id::of(id), marked)
    }

    /// Replace held entry `seq`'s record (its label code counted) and id.
    fn set(
        &mut self,
        py: Python<'_>,
        seq: u64,
        record: &[u8],
        id: &Bound<'_, PyAny>,
        marked: bool,
    ) -> PyResult<()> {
        let pos = self.held(seq)?;
        if record.len() != self.size {
            return Err(PyValueError::new_err("a ledger record of another size"));
        }
        self.release(py, self.code_at(pos))?;
        put(&mut self.buffer, pos * self.size, record);
        let id = Id::of(id);
        self.id_bytes = self.id_bytes + id.heap_bytes() - self.ids[pos].heap_bytes();
        self.ids[pos] = id;
        self.marks[pos] = marked;
        Ok(())
    }

    /// Clear held entry `seq`'s mark: the facade has forgotten what it kept of it, so a
    /// usual answer may overwrite it.
    fn unmark(&mut self, seq: u64) -> PyResult<()> {
        let pos = self.held(seq)?;
        self.marks[pos] = false;
        Ok(())
    }

    /// Held entry `seq`'s record.
    fn record<'py>(&self, py: Python<'py>, seq: u64) -> PyResult<Bound<'py, PyBytes>> {
        let pos = self.held(seq)?;
        Ok(PyBytes::new(
            py,
            &self.buffer[pos * self.size..(pos + 1) * self.size],
        ))
    }

    /// Held entry `seq`'s generation id.
    fn id(&self, py: Python<'_>, seq: u64) -> PyResult<Py<PyAny>> {
        let pos = self.held(seq)?;
        Ok(self.ids[pos].to_object(py))
    }

    /// Add the usual answers `items[start:stop]`, each `(AnswerFacts, requested, started,
    /// ended)` (times in epoch seconds), in order, up to the first item of another form;
    /// returns the index of that item (`stop` when every one was added).
    fn add_answers(
        &mut self,
        py: Python<'_>,
        items: &Bound<'_, PyList>,
        start: usize,
        stop: usize,
    ) -> PyResult<usize> {
        let stop = stop.min(items.len());
        let mut at = start;
        while at < stop && self.add_answer(py, &items.get_item(at)?)? {
            at += 1;
        }
        Ok(at)
    }

    /// What the answers added by `add_answers` sum to: `(requests, prompt_tokens,
    /// completion_tokens, cost_units, places)`, the cost in fixed point (10**-18) and the
    /// most decimal places any of their costs was written with.
    #[getter]
    fn answered(&self) -> (u64, u64, u64, i128, usize) {
        let totals = &self.totals;
        (
            totals.requests,
            totals.prompt,
            totals.completion,
            totals.cost_units,
            totals.places,
        )
    }

    /// Bytes the ring holds outside Python's allocator (records, ids, tables).
    #[getter]
    fn heap_bytes(&self) -> usize {
        self.buffer.capacity()
            + self.ids.capacity() * std::mem::size_of::<Id>()
            + self.marks.capacity()
            + self.id_bytes
            + self.labels.capacity() * std::mem::size_of::<Option<Py<PyAny>>>()
            + self.refs.capacity() * 4
            + self.code_keys.capacity() * std::mem::size_of::<Option<Box<[u8]>>>()
            + self.answer_codes.capacity() * (std::mem::size_of::<Box<[u8]>>() + 4)
    }
}
