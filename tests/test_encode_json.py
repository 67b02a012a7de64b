"""The core's request-body encoder writes exactly what Python's encoder writes, byte for
byte, and leaves everything else (non-finite floats, subclasses, big ints, lone
surrogates, circular or very deep values, non-str keys) to Python's encoder."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from fastrouter._fastrouter import encode_json
from fastrouter.params import build_body

ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)
CHARS = ["a", "é", '"', "\\", "\n", "\r", "\t", "\b", "\f", "\x00", "\x1f", "\x7f", "\u2028", "😀", "/", " ", "中"]
NUMBERS = [0, 1, -1, 2**63 - 1, -(2**63), 0.0, -0.0, 1.5, 1e16, 1e-5, 0.1, 1e300, 5e-324, 2.0, 1e22, -3.25]


def _value(rnd: random.Random, depth: int = 0) -> Any:
    kind = rnd.randrange(8 if depth < 4 else 4)
    if kind == 0:
        return "".join(rnd.choice(CHARS) for _ in range(rnd.randrange(8)))
    if kind == 1:
        return rnd.choice(NUMBERS)
    if kind == 2:
        return rnd.choice([True, False, None, rnd.randrange(-1000, 1000)])
    if kind == 3:
        return rnd.choice(CHARS) * rnd.randrange(3)
    if kind in (4, 5):
        return {rnd.choice(CHARS) * 2: _value(rnd, depth + 1) for _ in range(rnd.randrange(4))}
    if kind == 6:
        return [_value(rnd, depth + 1) for _ in range(rnd.randrange(4))]
    return tuple(_value(rnd, depth + 1) for _ in range(rnd.randrange(4)))


def test_plain_json_data_is_written_byte_for_byte_as_python_writes_it() -> None:
    rnd = random.Random(11)
    for _ in range(3000):
        value = {"messages": [{"role": "user", "content": _value(rnd)}], "extra": _value(rnd)}
        assert encode_json(value) == ENCODER.encode(value).encode()


class _Str(str):
    pass


class _Int(int):
    pass


@pytest.mark.parametrize(
    "value",
    [
        {"a": float("nan")},
        {"a": float("-inf")},
        {1: 2},
        {"a": _Str("x")},
        {"a": _Int(3)},
        {"a": "\ud800"},
        {"a": object()},
        {"a": 2**64},
    ],
)
def test_anything_else_is_left_to_python(value: Any) -> None:
    assert encode_json(value) is None


def test_circular_and_deep_values_are_left_to_python() -> None:
    loop: list[Any] = []
    loop.append(loop)
    assert encode_json(loop) is None
    deep: list[Any] = []
    inner = deep
    for _ in range(500):
        inner.append([])
        inner = inner[0]
    assert encode_json(deep) is None
    assert (
        build_body([{"role": "user", "content": deep}], {}, None)
        == ENCODER.encode({"messages": [{"role": "user", "content": deep}]}).encode()
    )


def test_a_body_python_must_encode_is_still_encoded() -> None:
    class Message:
        def to_dict(self) -> dict[str, str]:
            return {"role": "assistant", "content": "y"}

    assert (
        build_body([Message()], {"seed": 2**70}, None)
        == b'{"messages":[{"role":"assistant","content":"y"}],"seed":%d}' % 2**70
    )
