"""The cache key of a request: the model or chain, and the request body normalised (keys
sorted, fields that do not change the answer dropped), hashed."""

from __future__ import annotations

import hashlib
import json
from typing import Any, Dict, Sequence

__all__ = ["request_key"]

# Sent to OpenRouter but not part of what the model answers.
_IGNORED = ("user",)
_dumps = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode


def request_key(chain: Sequence[str], body: bytes, stream: bool) -> str:
    """A stable key: equal for requests that must get the same answer."""
    data: Dict[str, Any] = json.loads(body)
    for name in _IGNORED:
        data.pop(name, None)
    data["stream"] = stream
    data["model"] = list(chain)
    return hashlib.blake2b(_dumps(data).encode(), digest_size=20).hexdigest()
