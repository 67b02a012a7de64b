"""pydantic-style dumps of response objects with openai's options (``include``/``exclude``, ``exclude_unset``...)."""

from __future__ import annotations

import sys
import typing
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypedDict, Union

if TYPE_CHECKING:
    from ..types import _Model

__all__ = ["DumpOptions", "IncEx", "dump", "model_dump"]

# pydantic's include/exclude spelling: a set of field names, or a dict from a field name (a
# list index, or "__all__" for every item) to True or a nested spec.
IncEx = typing.AbstractSet[int | str] | Mapping[int | str, Any]


class DumpOptions(TypedDict, total=False):
    """The keywords of pydantic's ``model_dump`` as openai's models take them. Field names
    are the API's and the data is plain JSON, so ``mode``, ``by_alias`` and the rest after
    ``exclude_none`` change nothing; defaults are all ``None``, so ``exclude_defaults``
    drops ``None`` values like ``exclude_none``."""

    include: IncEx | None
    exclude: IncEx | None
    exclude_unset: bool
    exclude_defaults: bool
    exclude_none: bool
    mode: str
    context: Any | None
    by_alias: bool | None
    exclude_computed_fields: bool
    round_trip: bool
    warnings: bool | str
    fallback: Callable[[Any], Any] | None
    serialize_as_any: bool


_DUMP_OPTIONS = frozenset(DumpOptions.__annotations__)

# Per class: declared field -> (nested model class or None, is a list of it).
_SHAPES: dict[type, dict[str, tuple[type | None, bool]]] = {}


def _shape(cls: type[_Model]) -> dict[str, tuple[type | None, bool]]:
    shape = _SHAPES.get(cls)
    if shape is not None:
        return shape
    from ..types import _Model

    module = sys.modules[cls.__module__]
    ns = {**vars(sys.modules[_Model.__module__]), **vars(module)}
    shape = {}
    for name, hint in typing.get_type_hints(cls, globalns=ns, localns=ns).items():
        if name.startswith("_") or name not in cls._fields:
            continue
        args = [a for a in typing.get_args(hint) if a is not type(None)] if typing.get_origin(hint) is Union else [hint]
        target = args[0] if len(args) == 1 else None
        is_list = typing.get_origin(target) is list
        if is_list:
            inner = typing.get_args(target)
            target = inner[0] if inner else None
        origin = typing.get_origin(target)
        target = origin if isinstance(origin, type) else target
        model = target if isinstance(target, type) and issubclass(target, _Model) else None
        shape[name] = (model, is_list)
    _SHAPES[cls] = shape
    return shape


def _sub(spec: IncEx | None, key: int | str) -> tuple[bool, IncEx | None]:
    """Whether ``key`` is named by ``spec``, and the nested spec below it (None: all)."""
    if spec is None:
        return True, None
    if isinstance(spec, Mapping):
        value = spec.get(key, spec.get("__all__"))
        if value is None or value is False:
            return False, None
        return True, (None if value is True or value is ... else value)
    return key in spec, None


def _picked(include: IncEx | None, exclude: IncEx | None, key: int | str) -> tuple[bool, IncEx | None, IncEx | None]:
    """Whether ``include`` and ``exclude`` keep ``key``, and their specs for its value."""
    keep, inc = _sub(include, key) if include is not None else (True, None)
    if not keep:
        return False, None, None
    exc: IncEx | None = None
    if exclude is not None:
        named, exc = _sub(exclude, key)
        if named and exc is None:
            return False, None, None
    return True, inc, exc


def _list(
    items: list[Any], model: type | None, include: IncEx | None, exclude: IncEx | None, opts: tuple[bool, bool]
) -> list[Any]:
    out = []
    for index, item in enumerate(items):
        keep, inc, exc = _picked(include, exclude, index)
        if not keep:
            continue
        if model is not None and isinstance(item, dict):
            out.append(_dict(item, model, inc, exc, opts))
        else:
            out.append(_plain(item, opts[1]))
    return out


def _plain(value: Any, exclude_none: bool) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v, exclude_none) for k, v in value.items() if not (exclude_none and v is None)}
    if isinstance(value, list):
        return [_plain(v, exclude_none) for v in value]
    return value


def _dict(
    data: dict[str, Any],
    cls: type | None,
    include: IncEx | None,
    exclude: IncEx | None,
    opts: tuple[bool, bool],
) -> dict[str, Any]:
    exclude_unset, exclude_none = opts
    shape = _shape(cls) if cls is not None else {}
    keys = list(data)
    if not exclude_unset:
        keys += [name for name in shape if name not in data]
    out: dict[str, Any] = {}
    for key in keys:
        keep, inc, exc = _picked(include, exclude, key)
        if not keep:
            continue
        value = data.get(key)
        if value is None:
            if not exclude_none:
                out[key] = None
            continue
        model, is_list = shape.get(key, (None, False))
        if is_list and isinstance(value, list):
            out[key] = _list(value, model, inc, exc, opts)
        elif model is not None and isinstance(value, dict):
            out[key] = _dict(value, model, inc, exc, opts)
        elif isinstance(value, dict) and (inc is not None or exc is not None):
            out[key] = _dict(value, None, inc, exc, opts)
        else:
            out[key] = _plain(value, exclude_none)
    return out


def dump(
    model: _Model,
    *,
    include: IncEx | None = None,
    exclude: IncEx | None = None,
    exclude_unset: bool = False,
    exclude_none: bool = False,
) -> dict[str, Any]:
    """A deep copy of ``model``'s JSON as plain dicts and lists: every declared field
    (``None`` when the server did not send it, unless ``exclude_unset``) plus every field it
    sent, filtered by ``include`` / ``exclude`` and ``exclude_none``."""
    return _dict(model._data, type(model), include, exclude, (exclude_unset, exclude_none))


def model_dump(model: _Model, what: str, options: DumpOptions) -> dict[str, Any]:
    """:func:`dump` with pydantic's keywords (``what`` names the method in errors)."""
    for name in options.keys() - _DUMP_OPTIONS:
        raise TypeError(f"{what}() got an unexpected keyword argument {name!r}")
    return dump(
        model,
        include=options.get("include"),
        exclude=options.get("exclude"),
        exclude_unset=options.get("exclude_unset", False),
        exclude_none=options.get("exclude_none", False) or options.get("exclude_defaults", False),
    )
