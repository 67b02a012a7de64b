"""The cache key of a request: the model or chain, whether it streams, and the request body
as sent (without the fields that do not change the answer).

The key is those bytes themselves: the in-process store uses them as they are (a dict
lookup, no hashing work), stores across the network hash them (:func:`digest`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

__all__ = ["request_key", "digest"]

# Sent to OpenRouter but not part of what the model answers.
_IGNORED = ("user",)
_dumps = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode


def request_key(chain: Sequence[str], body: bytes, stream: bool) -> bytes:
    """A stable key: equal for requests that must get the same answer.

    The body is taken as the client serialised it (the same call gives the same bytes);
    only when it names a field to ignore is it parsed, stripped and re-serialised with
    sorted keys."""
    if b'"user":' in body:  # a key (compact JSON); a value "user" (a role) is never followed by ':'
        data: dict[str, Any] = json.loads(body)
        for name in _IGNORED:
            data.pop(name, None)
        body = _dumps(data).encode()
    head = ("s\x00" if stream else "w\x00") + "\x00".join(chain) + "\x00"
    return head.encode() + body


def digest(key: bytes) -> str:
    """A compact, fixed-size form of a key (hex), for stores that keep keys elsewhere."""
    return hashlib.blake2b(key, digest_size=20).hexdigest()
