"""Streamed chat completions: :class:`AsyncStream` and :class:`Stream`.

The Rust core reads the socket, parses each event once and merges the completion with the
GIL released; each wake-up hands Python *every* chunk that is ready as one batch of chunk
objects built by the core (``StreamChunk``: a ``ChatCompletionChunk`` whose fields are read
lazily from the parsed tree). Both streams iterate through the core's iterators
(``AsyncChunks``, ``SyncChunks``), which hand out one held chunk per step: no JSON work and
no Python frame per chunk.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator
from typing import TYPE_CHECKING, cast

from . import _fastrouter as _native
from ._closing import AsyncClosing, Closing
from .attempts import Attempt
from .dropin.response import Response, stream_response
from .errors import APIResponseValidationError, FastrouterError
from .types import ChatCompletion, ChatCompletionChunk, ChoiceDelta, ChunkChoice, _Model
from .usage.books import exit_status

if TYPE_CHECKING:
    from ._fastrouter import NativeStream, StreamChunk

__all__ = ["AsyncStream", "Stream"]

_loads = json.loads
_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def _wire(chunk: ChatCompletionChunk) -> str:
    """A chunk's JSON, for the response cache to replay (paid only while it records)."""
    return _dumps(chunk.to_dict())


def _model_attribute(name: str) -> property:
    return property(lambda chunk: getattr(chunk._model(), name), doc=f"As the equivalent model's ``{name}``.")


def _attach_model_attributes() -> None:
    """Give the core's chunk classes the rest of their models' API (``to_dict``,
    ``model_dump``, ``to_json``, ...), each read from the equivalent Python model built
    on demand. As class attributes, not an ``__getattr__``: a class with its own attribute
    hook makes every attribute read on it slower, ``chunk.choices[0].delta.content``
    included."""
    pairs: tuple[tuple[type, type[_Model]], ...] = (
        (_native.StreamChunk, ChatCompletionChunk),
        (_native.StreamChoice, ChunkChoice),
        (_native.StreamDelta, ChoiceDelta),
    )
    for native, model in pairs:
        for name in dir(model):
            if not name.startswith("__") and not hasattr(native, name):
                setattr(native, name, _model_attribute(name))


_attach_model_attributes()


class _StreamBase:
    """What both stream kinds share: the finished completion, attempts, closing."""

    def __init__(self, native: NativeStream, on_finish: Callable[[_StreamBase, str], None] | None = None) -> None:
        self._native = native
        self._completion: ChatCompletion | None = None
        self._ended = False
        self._end_status = "cancelled"  # how it ended, once it has (see _ended_with)
        self._on_finish = on_finish
        # The response cache sets a list here to keep every chunk's JSON as it arrives.
        self._record: list[str] | None = None

    def _finish(self, status: str) -> None:
        """Report the stream's end once: ``ok``, ``stream_error`` or ``cancelled``. A report
        cut short by an interruption (a Ctrl-C as it began) is made again when the stream
        is closed or dropped, so ``on_finish`` may be called again after a call that raised
        one (the request's books still record once); one that failed on its own is not."""
        on_finish, self._on_finish = self._on_finish, None
        if on_finish is not None:
            try:
                on_finish(self, status)
            except BaseException as error:
                if not isinstance(error, Exception):
                    self._on_finish = on_finish
                raise

    @property
    def completion(self) -> ChatCompletion:
        """The whole :class:`ChatCompletion`: content and reasoning joined, tool-call deltas
        merged by index, finish_reason, usage and cost. Before the end (or after a
        failure or ``close()``) it holds what was received so far."""
        if self._completion is not None:
            return self._completion
        native = self._native
        try:
            received = _loads(native.completion_json())
        except (ValueError, RecursionError) as error:  # Python's limits lowered since the core checked
            raise APIResponseValidationError(
                f"a stream's completion is not JSON this Python reads: {error}",
                kind="invalid_response",
                attempts=self.attempts,
            ) from None
        completion = ChatCompletion._from_native(received, native.attempts() or (), native.answer_cost())
        if self._ended:
            self._completion = completion
        return completion

    @property
    def attempts(self) -> list[Attempt]:
        """Every try of the model chain, once the stream has ended."""
        return [Attempt._from_native(a) for a in self._native.attempts() or ()]

    @property
    def response(self) -> Response:
        """The HTTP response being read, as openai's ``stream.response``: status and headers."""
        return stream_response(self._native)

    @property
    def keepalives(self) -> int:
        """OpenRouter keep-alive comments received (liveness, not progress)."""
        return self._native.keepalives

    def _keep(self, record: list[str], batch: list[StreamChunk]) -> None:
        """Keep each chunk's JSON while the response cache records (checked per batch by
        the iterators, without a call: a batch is ~8 chunks)."""
        record.extend(map(_wire, cast("list[ChatCompletionChunk]", batch)))

    def _ended_with(self, status: str) -> None:
        self._end_status = status
        self._ended = True
        self._finish(status)

    def _stopped(self, error: BaseException) -> None:
        """Iteration ended by an exception: the stream's own error, or an interruption."""
        if isinstance(error, FastrouterError):
            self._ended_with("stream_error")
        else:
            self._interrupted(error)

    def _closed(self) -> None:
        self._native.close()
        self._finish(self._end_status)  # "cancelled" unless it had ended (and its report was cut short)

    # -- faults-py (issue 10.2/10.4): every way out of a stream settles and records once.
    def _interrupted(self, error: BaseException) -> None:
        """Iteration stopped by an exception that is not the stream's own (cancellation,
        Ctrl-C, a bad chunk): close the stream and record it as such."""
        self._native.close()
        if not self._ended:
            self._ended_with(exit_status(error, streaming=True))
        else:
            self._finish(self._end_status)  # its end's report, should the error have cut it short

    def __del__(self) -> None:
        # Dropped without close() or reaching its end: cancel the request, record it.
        if getattr(self, "_on_finish", None) is not None:
            self._closed()

    # -- end faults-py

    def __repr__(self) -> str:
        state = "ended" if self._ended else "open"
        return f"{type(self).__name__}({state})"


class AsyncStream(_StreamBase, AsyncClosing):
    """An async iterator of :class:`ChatCompletionChunk`; also an async context manager.

    ``close()`` (or leaving ``async with``, or dropping the stream) cancels the request
    and closes its connection.
    """

    def __aiter__(self) -> AsyncIterator[ChatCompletionChunk]:
        return self._chunks()

    def _chunks(self) -> AsyncIterator[ChatCompletionChunk]:
        """The chunks, by the core's async iterator: each chunk's ``await`` completes at
        once from the batch it holds; only an empty stream waits. It keeps the response
        cache's record and reports the end or any failure (``_keep``, ``_ended_with``,
        ``_stopped``), as the sync stream's iterator does."""
        return cast("AsyncIterator[ChatCompletionChunk]", _native.AsyncChunks(self))

    async def close(self) -> None:
        """Cancel the request (if still running) and release the connection."""
        self._closed()


class Stream(_StreamBase, Closing):
    """An iterator of :class:`ChatCompletionChunk` (blocking without the GIL while it
    waits); also a context manager. ``close()`` cancels the request."""

    def __iter__(self) -> Iterator[ChatCompletionChunk]:
        return self._chunks()

    def _chunks(self) -> Iterator[ChatCompletionChunk]:
        """The chunks, by the core's iterator (it keeps the response cache's record and
        reports the end or any failure, as the async stream's iterator does)."""
        return cast("Iterator[ChatCompletionChunk]", _native.SyncChunks(self))

    def close(self) -> None:
        """Cancel the request (if still running) and release the connection."""
        self._closed()
