"""What the cache keeps for one answer: the completion as the core returned it, its chunks
when it was streamed, and what it cost (the saving each hit reports); and which answers
may be kept at all.

Stored as three lines, ``cost`` / chunks (a JSON list, or empty) / the completion's JSON,
so storing an answer copies bytes the core already produced and a hit parses only what it
returns (JSON text never holds a raw newline).
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import NamedTuple

from .._fastrouter import json_get
from ..types import ChatCompletion

__all__ = ["CachedAnswer", "encode", "decode", "cacheable"]


class CachedAnswer(NamedTuple):
    """A stored answer: the completion's JSON, its chunks (``None`` unless streamed) and
    its cost (``None`` when unknown)."""

    completion: bytes
    chunks: list[str] | None
    cost: Decimal | None

    def to_completion(self) -> ChatCompletion:
        """A fresh completion marked as served from the cache."""
        completion = ChatCompletion._from_native(json.loads(self.completion), ())
        completion._cached = True
        return completion


def encode(completion: ChatCompletion, body: bytes | str | None, chunks: list[str] | None) -> bytes:
    """The stored form of ``completion`` (``body``: its JSON as the core returned it)."""
    text = completion._answer_cost  # the core's reading of usage.cost, as ChatCompletion.cost reads it first
    if text is not None:
        head = text.encode()
    else:
        cost = completion.cost
        head = b"" if cost is None else str(cost).encode()
    if body is None:
        body = json.dumps(completion._data, separators=(",", ":"), ensure_ascii=False)
    if isinstance(body, str):
        body = body.encode()
    listed = b"" if chunks is None else json.dumps(chunks, separators=(",", ":"), ensure_ascii=False).encode()
    return b"\n".join((head, listed, body))


def decode(raw: bytes) -> CachedAnswer:
    head, listed, body = raw.split(b"\n", 2)
    return CachedAnswer(body, json.loads(listed) if listed else None, Decimal(head.decode()) if head else None)


def cacheable(completion: ChatCompletion) -> bool:
    """Only whole, ordinary answers: no error object, no refusal or content filter, every
    choice finished."""
    # Read member by member: an answer the core made builds no dict for this.
    if json_get(completion, "error"):
        return False
    choices = json_get(completion, "choices") or []
    if not choices:
        return False
    for choice in choices:
        reason = choice.get("finish_reason")
        message = choice.get("message") or {}
        if reason is None or reason in ("content_filter", "error") or message.get("refusal") or choice.get("error"):
            return False
    return True
