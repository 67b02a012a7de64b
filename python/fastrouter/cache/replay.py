"""Streams served from the cache: the original chunks replayed, in order, through the same
:class:`~fastrouter.AsyncStream` / :class:`~fastrouter.Stream` interface."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any, cast

from ..streaming import AsyncStream, Stream
from ..types import ChatCompletion, ChatCompletionChunk

if TYPE_CHECKING:
    from .._fastrouter import NativeStream

__all__ = ["ReplayAsyncStream", "ReplayStream"]


class _Replay:
    """Stands in for the native stream: every chunk in one batch, then the end."""

    keepalives = 0
    entry_facts = None  # a cached answer is booked as one (RequestBooks.served_from_cache)

    def __init__(self, chunks: list[str], completion: ChatCompletion) -> None:
        self.chunks: list[str] | None = chunks
        self.completion = completion

    def take_chunks(self) -> list[ChatCompletionChunk]:
        """Every cached chunk at once, then none."""
        chunks, self.chunks = self.chunks, None
        return [ChatCompletionChunk(json.loads(data)) for data in chunks] if chunks else []

    def completion_json(self) -> str:
        return json.dumps(self.completion._data)

    def attempts(self) -> list[Any]:
        return []

    def close(self) -> None:
        self.chunks = None


def _native(chunks: list[str], completion: ChatCompletion) -> NativeStream:
    # Duck-typed: the streams' shared code calls the methods above but `take_chunks`,
    # which the replay streams' own `_chunks` read.
    return cast("NativeStream", _Replay(chunks, completion))


class ReplayAsyncStream(AsyncStream):
    """An :class:`AsyncStream` over cached chunks (``completion.cached`` is True)."""

    def __init__(self, chunks: list[str], completion: ChatCompletion) -> None:
        super().__init__(_native(chunks, completion))
        self._completion = completion

    async def _chunks(self) -> AsyncIterator[ChatCompletionChunk]:
        for chunk in cast("_Replay", self._native).take_chunks():
            yield chunk
        self._ended_with("ok")


class ReplayStream(Stream):
    """A :class:`Stream` over cached chunks (``completion.cached`` is True)."""

    def __init__(self, chunks: list[str], completion: ChatCompletion) -> None:
        super().__init__(_native(chunks, completion))
        self._completion = completion

    def _chunks(self) -> Iterator[ChatCompletionChunk]:
        yield from cast("_Replay", self._native).take_chunks()
        self._ended_with("ok")
