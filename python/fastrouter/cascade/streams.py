"""Streams of a cascade's kept answer: a draft's buffered chunks replayed, or the last
tier's stream passed through live; either way ``.cascade`` says how it was reached."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

from ..streaming import AsyncStream, Stream, _StreamBase

if TYPE_CHECKING:
    from ..types import ChatCompletion, ChatCompletionChunk
    from .result import CascadeResult

__all__ = ["CascadeAsyncStream", "CascadeStream"]


class _Replay:
    """A finished draft stream's chunks and completion, to hand out again."""

    __slots__ = ("chunks", "completion")

    def __init__(self, chunks: list[ChatCompletionChunk], completion: ChatCompletion) -> None:
        self.chunks = chunks
        self.completion = completion


class _CascadeStreamBase(_StreamBase):
    """What both kinds add to a stream: the cascade's result, and a kept draft's replay."""

    _cascade: CascadeResult | None = None
    _replay: _Replay | None = None

    @classmethod
    def replay(cls, drained: Any, chunks: list[ChatCompletionChunk], result: CascadeResult | None) -> Any:
        """The kept draft's buffered chunks, replayed from the stream that read them."""
        stream = cls(drained._native)
        stream._replay = _Replay(chunks, drained.completion)
        stream._cascade = result
        return stream

    @property
    def cascade(self) -> CascadeResult | None:
        """How the cascade reached this answer (``None`` until the stream ends)."""
        return self._cascade

    @property
    def completion(self) -> ChatCompletion:
        replay = self._replay
        return replay.completion if replay is not None else super().completion


class CascadeAsyncStream(_CascadeStreamBase, AsyncStream):
    """An :class:`~fastrouter.AsyncStream` of a cascade's kept answer. ``cascade`` (and
    ``completion.cascade``) is the :class:`CascadeResult` once the stream has ended."""

    async def _chunks(self) -> AsyncIterator[ChatCompletionChunk]:
        replay = self._replay
        if replay is None:
            async for chunk in super()._chunks():
                yield chunk
            return
        for chunk in replay.chunks:
            yield chunk
        self._ended = True


class CascadeStream(_CascadeStreamBase, Stream):
    """A :class:`~fastrouter.Stream` of a cascade's kept answer. ``cascade`` (and
    ``completion.cascade``) is the :class:`CascadeResult` once the stream has ended."""

    def _chunks(self) -> Iterator[ChatCompletionChunk]:
        replay = self._replay
        if replay is None:
            yield from super()._chunks()
            return
        yield from replay.chunks
        self._ended = True
