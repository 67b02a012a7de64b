"""The read timeout (``Timeout(read=...)``) counts only while fastrouter waits for bytes from
the server: a consumer slower than the stream never trips it (the stream's buffers fill
and push back on the server), a server that stalls does, on the plain-http path and
on the reqwest path (HTTPS) alike, for streams and for whole answers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import fastrouter
import pytest
from fastrouter.streaming import Stream
from fastrouter.testing import MockServer, Reply, StreamScript
from stream_helpers import MODEL, content_chunks, drain, joined, open_stream

READ = 0.3
# Much longer than READ: while the consumer sleeps, the stream's channel fills and the
# reader stops reading for longer than the read timeout.
CONSUMER_PAUSE = 1.0
WORDS = " ".join(f"w{i}" for i in range(60))
LATE = 5.0  # a first chunk or answer this late trips READ
BEFORE_LATE = LATE - 2.0  # a bound between READ and LATE with room on both sides


@pytest.fixture(params=["plain", "tls"])
def target(request: pytest.FixtureRequest) -> Iterator[tuple[MockServer, dict[str, Any]]]:
    """The mock over plain http (fastrouter's own HTTP/1.1 path) or over HTTPS (reqwest)."""
    with MockServer(tls=request.param == "tls") as server:
        options: dict[str, Any] = {"timeout": fastrouter.Timeout(read=READ)}
        if server.ca_path is not None:
            options["ca_bundle"] = server.ca_path
        yield server, options


async def pausing_drain(stream: Any, pause_after: set[int]) -> list[Any]:
    """Every chunk, sleeping ``CONSUMER_PAUSE`` after the chunks numbered in ``pause_after``."""
    chunks: list[Any] = []
    if isinstance(stream, Stream):
        for chunk in stream:
            chunks.append(chunk)
            if len(chunks) in pause_after:
                time.sleep(CONSUMER_PAUSE)
    else:
        async for chunk in stream:
            chunks.append(chunk)
            if len(chunks) in pause_after:
                await asyncio.sleep(CONSUMER_PAUSE)
    return chunks


async def test_a_consumer_slower_than_the_read_timeout_gets_the_whole_stream(
    target: tuple[MockServer, dict[str, Any]], caller: Any
) -> None:
    server, options = target
    # The server never waits longer than 20 ms between chunks: well within the limit.
    server.script(MODEL, Reply(WORDS, stream=StreamScript(chunk_delay=0.02)))
    stream = await open_stream(caller, caller.client(server, **options))
    chunks = await pausing_drain(stream, pause_after={1, 20})
    assert joined(chunks) == WORDS


async def test_a_stream_stalled_after_content_raises_a_stream_timeout(
    target: tuple[MockServer, dict[str, Any]], caller: Any
) -> None:
    server, options = target
    server.script(MODEL, Reply(WORDS, stream=StreamScript(stall_after=2)))
    started = time.monotonic()
    stream = await open_stream(caller, caller.client(server, **options))
    chunks: list[Any] = []
    with pytest.raises(fastrouter.StreamTimeoutError) as info:
        await drain(stream, chunks)
    assert READ <= time.monotonic() - started < BEFORE_LATE
    assert len(content_chunks(chunks)) == 2
    assert str(info.value).startswith(
        "the stream failed after it began: error decoding response body: "
        "request or response body error: operation timed out"
    )


async def test_a_stream_stalled_before_content_raises_a_timeout(
    target: tuple[MockServer, dict[str, Any]], caller: Any
) -> None:
    server, options = target
    server.script(MODEL, Reply(WORDS, stream=StreamScript(first_chunk_delay=LATE)))
    client = caller.client(server, **options)
    started = time.monotonic()
    with pytest.raises(fastrouter.APITimeoutError) as info:
        await drain(await open_stream(caller, client))
    assert not isinstance(info.value, fastrouter.StreamError)
    assert time.monotonic() - started < BEFORE_LATE
    assert "operation timed out" in str(info.value)


async def test_a_late_answer_raises_a_timeout(target: tuple[MockServer, dict[str, Any]], caller: Any) -> None:
    server, options = target
    server.script(MODEL, Reply("late", delay=LATE))
    client = caller.client(server, **options)
    started = time.monotonic()
    with pytest.raises(fastrouter.APITimeoutError) as info:
        await caller.create(client, model=MODEL)
    assert time.monotonic() - started < BEFORE_LATE
    assert "error sending request: operation timed out" in str(info.value)


async def test_an_answer_within_the_read_timeout_arrives(
    target: tuple[MockServer, dict[str, Any]], caller: Any
) -> None:
    server, options = target
    server.script(MODEL, Reply("in time", delay=READ / 3))
    answer = await caller.create(caller.client(server, **options), model=MODEL)
    assert answer.choices[0].message.content == "in time"
