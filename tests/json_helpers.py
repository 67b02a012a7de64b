"""Helpers shared by the tests that compare the core's JSON readings with `json.loads`."""

from __future__ import annotations

import math
from typing import Any


def typed(value: Any) -> Any:
    """`value` with every type spelled out (1, 1.0 and True differ; so do 0.0 and -0.0)."""
    if isinstance(value, dict):
        return ("dict", [(key, typed(item)) for key, item in value.items()])
    if isinstance(value, list):
        return ("list", [typed(item) for item in value])
    if isinstance(value, float):
        return ("float", value.hex() if math.isfinite(value) else repr(value))
    return (type(value).__name__, value)
