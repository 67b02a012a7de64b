"""The "not given" sentinels (``openai.NOT_GIVEN``, ``openai.omit``, ours), known without importing openai."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, Protocol, TypeVar, Union

__all__ = ["NotGiven", "NOT_GIVEN", "Omitted", "OrOmitted", "is_omitted", "omit", "without_omitted"]

_T = TypeVar("_T")

# openai's `NotGiven` and `Omit` (and older `_NotGiven` copies, ours included): a sentinel
# is known by its class name, so openai never has to be imported to recognise its own.
_SENTINEL_TYPES = frozenset(("NotGiven", "Omit", "_NotGiven"))


class Omitted(Protocol):
    """What a "not given" sentinel looks like to a type checker: an object that is always
    falsy. ``openai.NOT_GIVEN``, ``openai.omit`` and ``fastrouter.NOT_GIVEN`` match it (and
    ``None``); numbers, strings and containers do not."""

    def __bool__(self) -> Literal[False]: ...


# A parameter that may be a value, None, or a "not given" sentinel (as in openai's signatures).
OrOmitted = Union[_T, None, Omitted]  # noqa: UP007  # a generic alias: mypy needs Union here


class NotGiven:
    """fastrouter's own "not given" marker (``fastrouter.NOT_GIVEN``): like ``None`` but
    distinct from it, for arguments where ``None`` means something (``timeout=None``)."""

    __slots__ = ()

    def __bool__(self) -> Literal[False]:
        return False

    def __repr__(self) -> str:
        return "NOT_GIVEN"


NOT_GIVEN: Any = NotGiven()
omit: Any = NOT_GIVEN  # openai's `omit`: leave a parameter out (any "not given" sentinel works)


def is_omitted(value: object) -> bool:
    """True for ``openai.NOT_GIVEN``, ``openai.omit``, ``fastrouter.NOT_GIVEN``."""
    return type(value).__name__ in _SENTINEL_TYPES


def without_omitted(values: Mapping[str, Any] | None) -> dict[str, Any]:
    """``values`` without the entries whose value is a sentinel: ``values`` itself when it
    has none (the common case, no copy), else a new dict."""
    if not values:
        return {}
    names = _SENTINEL_TYPES
    for value in values.values():
        if type(value).__name__ in names:
            return {k: v for k, v in values.items() if type(v).__name__ not in names}
    return values if isinstance(values, dict) else dict(values)
