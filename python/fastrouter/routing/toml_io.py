"""Reading TOML (``tomllib`` or ``tomli``) and writing the TOML that ``Routing.to_toml`` returns."""

from __future__ import annotations

import importlib
import json
import math
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

_BARE_KEY_RE = re.compile(r"^[A-Za-z0-9_-]+$")


# ------------------------------------------------------------------------------- TOML


def _tomllib() -> Any:
    """``tomllib`` (3.11+) or ``tomli``; a clear ImportError when neither is present."""
    for name in ("tomllib", "tomli"):
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    raise ImportError("reading TOML on Python < 3.11 needs the tomli package: pip install tomli")


def _toml_key(key: str) -> str:
    return key if _BARE_KEY_RE.match(key) else _toml_string(key)


def _toml_string(text: str) -> str:
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def _toml_money(amount: Decimal) -> str:
    if amount == amount.to_integral_value() and abs(amount) < 2**53:
        return str(int(amount))
    as_float = float(amount)
    if math.isfinite(as_float) and Decimal(repr(as_float)) == amount:
        return repr(as_float)
    return _toml_string(str(amount))


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, Decimal):
        return _toml_money(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        if not value:
            return "{}"
        return "{ " + ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")
