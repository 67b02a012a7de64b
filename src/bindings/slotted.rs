//! Instances of the facade's slotted classes (`fastrouter.types`' models) made by the core
//! as `object.__new__(cls)` makes them, their slots then written in place.
//!
//! A slot assigned from Rust (`setattr`) looks its descriptor up on the class and calls
//! it; a usual answer sets fourteen (the completion's eight, two each for its choice,
//! message and usage models). The offset of each slot is read once from the class's
//! member descriptor (a plain object slot, checked), so making a model is an allocation
//! and a store per slot (benches/README.md, "slotted": −2.6k instructions per answer on
//! the loop thread). A class that does not qualify (an attribute that is not such a slot,
//! its own `__setattr__`, `__new__` or `__dict__`) is made the general way, with
//! `object.__new__` and `setattr`, as before.
#![allow(unsafe_code)]

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyString, PyTuple, PyType};

enum Layout<const N: usize> {
    /// Each slot's offset in the instance.
    Offsets([isize; N]),
    /// The attribute names, set with `setattr` on what `object.__new__` made.
    Names([Py<PyString>; N]),
}

/// A class and where the `N` slots it is made with live.
pub struct SlottedClass<const N: usize> {
    class: Py<PyType>,
    layout: Layout<N>,
}

/// Whether instances of `class` can be made by `tp_alloc` and their slots written in
/// place with the effect `object.__new__` and `setattr` have: the generic allocator,
/// `object`'s `__new__`, the generic `__setattr__`, no `__dict__`, not abstract.
fn plain_layout(class: &Bound<'_, PyType>) -> bool {
    let class_ptr = class.as_type_ptr();
    let object_ptr = class.py().get_type::<pyo3::types::PyAny>().as_type_ptr();
    let generic_alloc: ffi::allocfunc = ffi::PyType_GenericAlloc;
    let generic_setattr: ffi::setattrofunc = ffi::PyObject_GenericSetAttr;
    // SAFETY: both are live type objects, read with the GIL held.
    let (alloc, new, object_new, setattr, dict_offset) = unsafe {
        (
            (*class_ptr).tp_alloc,
            (*class_ptr).tp_new,
            (*object_ptr).tp_new,
            (*class_ptr).tp_setattro,
            (*class_ptr).tp_dictoffset,
        )
    };
    let same_new = match (new, object_new) {
        (Some(new), Some(object_new)) => std::ptr::fn_addr_eq(new, object_new),
        _ => false,
    };
    alloc.is_some_and(|alloc| std::ptr::fn_addr_eq(alloc, generic_alloc))
        && setattr.is_some_and(|setattr| std::ptr::fn_addr_eq(setattr, generic_setattr))
        && same_new
        && dict_offset == 0
}

/// The offset of `class`'s attribute `name` when it is a plain object slot of the class's
/// layout (a member descriptor of `T_OBJECT_EX` and no flags, as `__slots__` makes).
fn slot_offset(class: &Bound<'_, PyType>, name: &str) -> PyResult<Option<isize>> {
    static MEMBER_DESCRIPTOR: PyOnceLock<Py<PyType>> = PyOnceLock::new();
    let py = class.py();
    let member_type = MEMBER_DESCRIPTOR.get_or_try_init(py, || {
        let found = py.import("types")?.getattr("MemberDescriptorType")?;
        Ok::<_, PyErr>(found.cast_into::<PyType>()?.unbind())
    })?;
    // The class attribute of a slot is its member descriptor (its `__get__` without an
    // instance gives the descriptor itself).
    let descriptor = class.getattr(name)?;
    if !descriptor.get_type().is(member_type.bind(py)) {
        return Ok(None);
    }
    let class_ptr = class.as_type_ptr();
    // SAFETY: `descriptor` is exactly a member descriptor (checked above), whose layout
    // is `PyMemberDescrObject` in every CPython this builds for; its `d_member` points to
    // the `PyMemberDef` the descriptor was made from, alive as long as its class (CPython
    // 3.10 declares it a `PyMemberDef *` too: pyo3-ffi types it otherwise before 3.11,
    // hence the cast). The class pointer is alive (borrowed), read with the GIL held.
    let (defining, member, basic_size) = unsafe {
        let described = descriptor.as_ptr().cast::<ffi::PyMemberDescrObject>();
        (
            (*described).d_common.d_type,
            (*described).d_member.cast::<ffi::PyMemberDef>(),
            (*class_ptr).tp_basicsize,
        )
    };
    if member.is_null() || defining.is_null() {
        return Ok(None);
    }
    // SAFETY: both are live type objects; `member` is non-null (checked), read as above.
    let (subclass, type_code, flags, offset) = unsafe {
        (
            ffi::PyType_IsSubtype(class_ptr, defining) != 0,
            (*member).type_code,
            (*member).flags,
            (*member).offset,
        )
    };
    let pointer = std::mem::size_of::<*mut ffi::PyObject>() as isize;
    let header = std::mem::size_of::<ffi::PyObject>() as isize;
    let fits = offset >= header && offset + pointer <= basic_size;
    // No flag at all: not read-only, audited or relative (what `__slots__` makes).
    let plain = type_code == ffi::Py_T_OBJECT_EX && flags == 0;
    Ok((subclass && fits && plain).then_some(offset))
}

impl<const N: usize> SlottedClass<N> {
    /// `class`, made with the attributes `names` (in the order [`Self::make`] is given
    /// their values).
    pub fn new(class: &Bound<'_, PyType>, names: &[&str; N]) -> PyResult<Self> {
        let py = class.py();
        let mut offsets = [0isize; N];
        let mut qualifies = plain_layout(class);
        for (offset, name) in offsets.iter_mut().zip(names) {
            if !qualifies {
                break;
            }
            match slot_offset(class, name)? {
                Some(found) => *offset = found,
                None => qualifies = false,
            }
        }
        let layout = if qualifies {
            Layout::Offsets(offsets)
        } else {
            Layout::Names(names.map(|name| PyString::intern(py, name).unbind()))
        };
        Ok(Self {
            class: class.clone().unbind(),
            layout,
        })
    }

    /// The class its instances are made of.
    pub fn class<'py>(&self, py: Python<'py>) -> &Bound<'py, PyType> {
        self.class.bind(py)
    }

    /// Whether its instances are made by writing their slots (else with `setattr`).
    pub fn writes_slots(&self) -> bool {
        matches!(self.layout, Layout::Offsets(_))
    }

    /// An instance, as `object.__new__(cls)` makes it (no `__init__`), with each
    /// attribute set to its value in `values`.
    pub fn make<'py>(
        &self,
        py: Python<'py>,
        values: [Bound<'py, PyAny>; N],
    ) -> PyResult<Bound<'py, PyAny>> {
        let class = self.class.bind(py);
        match &self.layout {
            Layout::Offsets(offsets) => {
                let class_ptr = class.as_type_ptr();
                // SAFETY: a live type object whose `tp_alloc` is the generic allocator
                // (`plain_layout`), called with the GIL held: a new reference to a zeroed
                // instance (its slots NULL), or NULL with an exception set.
                let made = unsafe {
                    Bound::from_owned_ptr_or_err(py, ffi::PyType_GenericAlloc(class_ptr, 0))?
                };
                for (offset, value) in offsets.iter().zip(values) {
                    // SAFETY: `made` is a fresh instance of `class`, its slots all NULL;
                    // each offset is a plain object slot inside the instance
                    // (`slot_offset`), written once with its own reference (`into_ptr`),
                    // as the slot's setter stores it. Nothing here runs Python code, so
                    // no one sees the instance before its slots are set.
                    unsafe {
                        let slot = made
                            .as_ptr()
                            .cast::<u8>()
                            .offset(*offset)
                            .cast::<*mut ffi::PyObject>();
                        *slot = value.into_ptr();
                    }
                }
                Ok(made)
            }
            Layout::Names(names) => {
                let made = object_new(py)?.call1(py, PyTuple::new(py, [class])?)?;
                let made = made.into_bound(py);
                for (name, value) in names.iter().zip(values) {
                    made.setattr(name.bind(py), value)?;
                }
                Ok(made)
            }
        }
    }
}

/// `object.__new__`.
fn object_new(py: Python<'_>) -> PyResult<&Py<PyAny>> {
    static OBJECT_NEW: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    OBJECT_NEW.get_or_try_init(py, || {
        Ok(py
            .import("builtins")?
            .getattr("object")?
            .getattr("__new__")?
            .unbind())
    })
}
