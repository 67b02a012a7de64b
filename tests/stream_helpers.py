"""Helpers shared by the streaming test files: drive sync and async streams alike."""

from __future__ import annotations

from typing import Any

from fastrouter import ChatCompletionChunk
from fastrouter.streaming import AsyncStream, Stream

MODEL = "a/x"


async def drain(stream: Any, into: list[ChatCompletionChunk] | None = None) -> list[ChatCompletionChunk]:
    """Every chunk of a sync or async stream. ``into`` keeps what arrived when iteration
    raises."""
    chunks: list[ChatCompletionChunk] = [] if into is None else into
    if isinstance(stream, Stream):
        for chunk in stream:
            chunks.append(chunk)
    else:
        assert isinstance(stream, AsyncStream)
        async for chunk in stream:
            chunks.append(chunk)
    return chunks


async def open_stream(caller: Any, client: Any, **kwargs: Any) -> Any:
    kwargs.setdefault("model", MODEL)
    stream = await caller.create(client, stream=True, **kwargs)
    assert isinstance(stream, Stream if caller.mode == "sync" else AsyncStream)
    return stream


def joined(chunks: list[ChatCompletionChunk]) -> str:
    return "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)


def content_chunks(chunks: list[ChatCompletionChunk]) -> list[ChatCompletionChunk]:
    return [chunk for chunk in chunks if chunk.choices and chunk.choices[0].delta.content]


def interrupt_once(monkeypatch: Any, target: Any, name: str, wrap: Any = None) -> None:
    """Make ``target.name`` raise ``KeyboardInterrupt`` on its first call (standing in for
    a SIGINT landing there), then behave as before; ``wrap`` (e.g. ``staticmethod``)
    wraps the stand-in as the original is wrapped."""
    original = getattr(target, name)
    calls: list[int] = []

    def interrupted(*args: Any, **kwargs: Any) -> Any:
        if not calls:
            calls.append(1)
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    monkeypatch.setattr(target, name, interrupted if wrap is None else wrap(interrupted))
