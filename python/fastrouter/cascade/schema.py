"""A small JSON Schema validator for the subset structured outputs and tool parameters use.

Covered: ``type`` (one or a list), ``enum``, ``const``, ``properties``, ``required``,
``additionalProperties`` (bool or schema), ``items`` (a schema), ``minItems`` /
``maxItems``, ``minLength`` / ``maxLength``, ``pattern``, ``minimum`` / ``maximum`` /
``exclusiveMinimum`` / ``exclusiveMaximum``, ``anyOf`` / ``oneOf`` / ``allOf``, and local
``$ref`` (``#/$defs/...``, ``#/definitions/...``). Other keywords are ignored (accepted),
so a schema using more than this subset is checked less strictly, never wrongly refused.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

__all__ = ["schema_errors"]

_TYPES = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: (isinstance(v, int) and not isinstance(v, bool)) or (isinstance(v, float) and v.is_integer()),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}
_MAX_ERRORS = 5
_BOUNDS = (
    ("minimum", "at least"),
    ("maximum", "at most"),
    ("exclusiveMinimum", "more than"),
    ("exclusiveMaximum", "less than"),
)


def _resolve(ref: str, root: Mapping[str, Any]) -> Mapping[str, Any] | None:
    if not ref.startswith("#/"):
        return None
    node: Any = root
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node if isinstance(node, dict) else None


def _check(value: Any, schema: Any, root: Mapping[str, Any], path: str, errors: list[str], depth: int) -> None:
    if len(errors) >= _MAX_ERRORS or type(schema) is not dict or depth > 64:
        return
    where = path or "the value"
    if "$ref" in schema and isinstance(schema["$ref"], str):
        target = _resolve(schema["$ref"], root)
        if target is not None:
            _check(value, target, root, path, errors, depth + 1)
    kind = schema.get("type")
    if kind is not None:
        kinds = kind if isinstance(kind, list) else (kind,)
        known = [k for k in kinds if k in _TYPES]
        if known and not any(_TYPES[k](value) for k in known):
            errors.append(f"{where} should be {' or '.join(known)}, got {type(value).__name__}")
            return
    if "enum" in schema and isinstance(schema["enum"], list) and value not in schema["enum"]:
        errors.append(f"{where} should be one of {schema['enum']!r}, got {value!r}")
    if "const" in schema and value != schema["const"]:
        errors.append(f"{where} should be {schema['const']!r}, got {value!r}")
    if type(value) is dict:
        properties = schema.get("properties")
        if type(properties) is not dict:
            properties = {}
        for name in schema.get("required") or ():
            if name not in value:
                errors.append(f"{where} is missing the required property {name!r}")
        extra = schema.get("additionalProperties", True)
        if properties or extra is not True:
            for name, item in value.items():
                sub = properties.get(name)
                if sub is not None:
                    _check(item, sub, root, f"{path}.{name}" if path else name, errors, depth + 1)
                elif extra is False:
                    errors.append(f"{where} has the unexpected property {name!r}")
                elif type(extra) is dict:
                    _check(item, extra, root, f"{path}.{name}" if path else name, errors, depth + 1)
    elif type(value) is list:
        items = schema.get("items")
        if type(items) is dict:
            for index, item in enumerate(value):
                _check(item, items, root, f"{path}[{index}]", errors, depth + 1)
        if isinstance(schema.get("minItems"), int) and len(value) < schema["minItems"]:
            errors.append(f"{where} should have at least {schema['minItems']} items, has {len(value)}")
        if isinstance(schema.get("maxItems"), int) and len(value) > schema["maxItems"]:
            errors.append(f"{where} should have at most {schema['maxItems']} items, has {len(value)}")
    elif type(value) is str:
        if "minLength" in schema and isinstance(schema["minLength"], int) and len(value) < schema["minLength"]:
            errors.append(f"{where} should be at least {schema['minLength']} characters long")
        if "maxLength" in schema and isinstance(schema["maxLength"], int) and len(value) > schema["maxLength"]:
            errors.append(f"{where} should be at most {schema['maxLength']} characters long")
        pattern = schema.get("pattern")
        if isinstance(pattern, str):
            try:
                if re.search(pattern, value) is None:
                    errors.append(f"{where} does not match the pattern {pattern!r}")
            except re.error:
                pass  # a pattern Python cannot compile is not the answer's fault
    elif _TYPES["number"](value):
        for key, words in _BOUNDS:
            bound = schema.get(key)
            if bound is None or not _TYPES["number"](bound):
                continue
            low = key in ("minimum", "exclusiveMinimum")
            inclusive = not key.startswith("exclusive")
            if low:
                fails = value < bound if inclusive else value <= bound
            else:
                fails = value > bound if inclusive else value >= bound
            if fails:
                errors.append(f"{where} should be {words} {bound}, got {value}")
    if "allOf" in schema:
        for sub in schema["allOf"] or ():
            _check(value, sub, root, path, errors, depth + 1)
    for key in ("anyOf", "oneOf"):
        options = schema.get(key)
        if isinstance(options, list) and options:
            matching = sum(1 for sub in options if not schema_errors(value, sub, root))
            if matching == 0 or (key == "oneOf" and matching > 1):
                errors.append(f"{where} matches {matching} of the {len(options)} {key} alternatives")


def schema_errors(value: Any, schema: Any, root: Mapping[str, Any] | None = None) -> list[str]:
    """Why ``value`` does not validate against ``schema`` (empty: it does); at most five
    reasons, each naming the path (``items[2].name``)."""
    errors: list[str] = []
    _check(value, schema, root if root is not None else (schema if isinstance(schema, dict) else {}), "", errors, 0)
    return errors
