"""What the cache keeps for one answer: the completion, its chunks when it was streamed,
and what it cost (the saving each hit reports); and which answers may be kept at all."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any, Dict, List, NamedTuple, Optional

from ..types import ChatCompletion

__all__ = ["CachedAnswer", "encode", "decode", "cacheable"]


class CachedAnswer(NamedTuple):
    """A stored answer: the completion's JSON, its chunks (``None`` unless streamed) and
    its cost (``None`` when unknown)."""

    completion: Dict[str, Any]
    chunks: Optional[List[str]]
    cost: Optional[Decimal]

    def to_completion(self) -> ChatCompletion:
        """A fresh completion marked as served from the cache."""
        completion = ChatCompletion._from_native(json.loads(json.dumps(self.completion)), ())
        completion._cached = True
        return completion


def encode(completion: ChatCompletion, chunks: Optional[List[str]]) -> bytes:
    cost = completion.cost
    record = {"c": completion._data, "k": chunks, "cost": None if cost is None else str(cost)}
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False).encode()


def decode(raw: bytes) -> CachedAnswer:
    record = json.loads(raw)
    cost = record.get("cost")
    return CachedAnswer(record["c"], record.get("k"), None if cost is None else Decimal(cost))


def cacheable(completion: ChatCompletion) -> bool:
    """Only whole, ordinary answers: no error object, no refusal or content filter, every
    choice finished."""
    data = completion._data
    if data.get("error"):
        return False
    choices = data.get("choices") or []
    if not choices:
        return False
    for choice in choices:
        reason = choice.get("finish_reason")
        message = choice.get("message") or {}
        if reason is None or reason in ("content_filter", "error") or message.get("refusal") or choice.get("error"):
            return False
    return True
