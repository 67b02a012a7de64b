"""stream-16x1000: 16 concurrent streamed chat completions of 1,000 chunks each.

The server is ``benches/stream_server.py`` (a ``fastrouter.testing.MockServer`` in its own
process, pinned to the server core) whose model ``bench/stream`` streams 1,000 content
chunks of 4 characters (``"000 "``, ``"001 "``, ...) plus the role, finish and usage chunks
and ``data: [DONE]``. Every client sends the same request body with ``stream: true``, reads
``choices[0].delta.content`` of every chunk and joins the text, which must equal the
scripted content exactly and arrive in exactly 1,000 content chunks (so a broken or
coalescing client cannot look fast). One round is 16 concurrent streams; each client keeps
one event loop and one client (warm pool) for all its rounds. The clients' rounds are
interleaved (one round of each in turn, see ``interleave.interleaved_rounds``), so a slow
spell of the machine falls on all of them alike. Each round measures the benchmark
process's CPU time (``time.process_time``: every thread, so a Rust runtime's threads count
too) and wall time; the table reports each client's median round per content chunk.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any, cast

import aiohttp
import fastrouter
import httpx
import openai
import orjson
import pytest
from httpx_sse import aconnect_sse
from interleave import interleaved_rounds, selected, threaded_rounds, timed_round
from stream_server import MODEL, stream_content

CONCURRENCY = 16
CHUNKS = 1000  # content chunks per stream; must match stream_server.py's default --chunks
PER_ROUND = CONCURRENCY * CHUNKS
ROUNDS = int(os.environ.get("BENCH_STREAM_ROUNDS", "5"))
EXPECTED = stream_content(CHUNKS)
MESSAGES = [{"role": "user", "content": "Count to one thousand."}]
API_KEY = "bench-key"

pytestmark = [pytest.mark.benchmark(group="stream-16x1000"), pytest.mark.timeout(600)]

Received = tuple[str, int]  # (joined delta.content, number of chunks with non-empty content)
RoundFn = Callable[[], int]  # runs one round, returns the number of verified content chunks


def _check(received: Received) -> int:
    text, chunks = received
    if text != EXPECTED:
        raise AssertionError(f"wrong text: {len(text)} characters, starts {text[:40]!r}, ends {text[-40:]!r}")
    if chunks != CHUNKS:
        raise AssertionError(f"{chunks} content chunks, expected {CHUNKS}")
    return chunks


async def _async_round(stream: Callable[[], Awaitable[Received]]) -> int:
    async def one() -> int:
        return _check(await stream())

    return sum(await asyncio.gather(*(one() for _ in range(CONCURRENCY))))


def _close_loop(loop: asyncio.AbstractEventLoop) -> None:
    loop.run_until_complete(loop.shutdown_asyncgens())
    loop.run_until_complete(loop.shutdown_default_executor())
    loop.close()


def _record(
    benchmark: Any, record_result: Callable[..., None], client: str, measured: list[tuple[float, float]]
) -> None:
    cpu_us = statistics.median(cpu for cpu, _ in measured) / PER_ROUND * 1e6
    rate = PER_ROUND / statistics.median(wall for _, wall in measured)
    by_round = tuple(cpu / PER_ROUND * 1e6 for cpu, _ in measured)  # each round, in cycle order
    benchmark.extra_info[client] = {
        "cpu_us_per_chunk": round(cpu_us, 3),
        "cpu_us_per_chunk_min": round(min(by_round), 3),
        "chunks_per_second": round(rate, 1),
        "cpu_us_per_chunk_by_round": [round(value, 3) for value in by_round],
    }
    record_result(
        client=client,
        cpu_us=cpu_us,
        rate=rate,
        setup=(
            f"{CONCURRENCY} concurrent streams × {CHUNKS:,} content chunks of 4 characters per round, "
            "rounds interleaved"
        ),
        rounds=len(measured),
        by_round=by_round,
    )


@contextmanager
def _async_fixture(
    make: Callable[[], Awaitable[Any]],
    stream: Callable[[Any], Callable[[], Awaitable[Received]]],
    close: Callable[[Any], Awaitable[None]],
) -> Iterator[RoundFn]:
    loop = asyncio.new_event_loop()
    client = loop.run_until_complete(make())
    one_stream = stream(client)
    try:
        yield lambda: loop.run_until_complete(_async_round(one_stream))
    finally:
        loop.run_until_complete(close(client))
        _close_loop(loop)


# ---------------------------------------------------------------------- fastrouter


@contextmanager
def _fastrouter_async(base_url: str) -> Iterator[RoundFn]:
    async def make() -> fastrouter.AsyncClient:
        return fastrouter.AsyncClient(base_url=base_url, api_key=API_KEY)

    def stream(client: fastrouter.AsyncClient) -> Callable[[], Awaitable[Received]]:
        create = client.chat.completions.create

        async def one() -> Received:
            parts: list[str] = []
            async with await create(model=MODEL, messages=MESSAGES, stream=True) as chunks:
                async for chunk in chunks:
                    if chunk.choices:
                        content = chunk.choices[0].delta.content
                        if content:
                            parts.append(content)
            return "".join(parts), len(parts)

        return one

    async def close(client: fastrouter.AsyncClient) -> None:
        await client.close()

    with _async_fixture(make, stream, close) as run_round:
        yield run_round


@contextmanager
def _fastrouter_threads(base_url: str) -> Iterator[RoundFn]:
    client = fastrouter.Client(base_url=base_url, api_key=API_KEY)
    create = client.chat.completions.create

    def one() -> int:
        parts: list[str] = []
        with create(model=MODEL, messages=MESSAGES, stream=True) as chunks:
            for chunk in chunks:
                if chunk.choices:
                    content = chunk.choices[0].delta.content
                    if content:
                        parts.append(content)
        return _check(("".join(parts), len(parts)))

    try:
        with threaded_rounds(one, CONCURRENCY) as run_round:
            yield run_round
    finally:
        client.close()


# ---------------------------------------------------------------------- openai SDK


@contextmanager
def _openai_async(base_url: str) -> Iterator[RoundFn]:
    async def make() -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(base_url=base_url, api_key=API_KEY)

    def stream(client: openai.AsyncOpenAI) -> Callable[[], Awaitable[Received]]:
        create = client.chat.completions.create

        async def one() -> Received:
            parts: list[str] = []
            response = await create(model=MODEL, messages=MESSAGES, stream=True)  # type: ignore[arg-type]
            chunks = cast("openai.AsyncStream[Any]", response)
            async with chunks:
                async for chunk in chunks:
                    if chunk.choices:
                        content = chunk.choices[0].delta.content
                        if content:
                            parts.append(content)
            return "".join(parts), len(parts)

        return one

    async def close(client: openai.AsyncOpenAI) -> None:
        await client.close()

    with _async_fixture(make, stream, close) as run_round:
        yield run_round


# ---------------------------------------------------------------------- hand-written httpx-sse / aiohttp


def _content(data: Any, parts: list[str]) -> None:
    """Append ``choices[0].delta.content`` of one decoded chunk, if any."""
    choices = json.loads(data)["choices"]
    if choices:
        content = choices[0]["delta"].get("content")
        if content:
            parts.append(content)


@contextmanager
def _httpx_sse_async(base_url: str) -> Iterator[RoundFn]:
    url = f"{base_url}/chat/completions"
    body = {"model": MODEL, "messages": MESSAGES, "stream": True}

    async def make() -> httpx.AsyncClient:
        return httpx.AsyncClient(
            headers={"Authorization": f"Bearer {API_KEY}"},
            limits=httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY),
            timeout=60.0,
        )

    def stream(client: httpx.AsyncClient) -> Callable[[], Awaitable[Received]]:
        async def one() -> Received:
            parts: list[str] = []
            async with aconnect_sse(client, "POST", url, json=body) as source:
                source.response.raise_for_status()
                async for event in source.aiter_sse():
                    if event.data == "[DONE]":
                        break
                    _content(event.data, parts)
            return "".join(parts), len(parts)

        return one

    async def close(client: httpx.AsyncClient) -> None:
        await client.aclose()

    with _async_fixture(make, stream, close) as run_round:
        yield run_round


@contextmanager
def _aiohttp_async(base_url: str) -> Iterator[RoundFn]:
    url = f"{base_url}/chat/completions"
    body = {"model": MODEL, "messages": MESSAGES, "stream": True}

    async def make() -> aiohttp.ClientSession:
        return aiohttp.ClientSession(
            headers={"Authorization": f"Bearer {API_KEY}"},
            connector=aiohttp.TCPConnector(limit=CONCURRENCY),
            timeout=aiohttp.ClientTimeout(total=60.0),
        )

    def stream(session: aiohttp.ClientSession) -> Callable[[], Awaitable[Received]]:
        async def one() -> Received:
            parts: list[str] = []
            async with session.post(url, json=body) as resp:
                resp.raise_for_status()
                async for line in resp.content:  # one line per iteration
                    if not line.startswith(b"data:"):
                        continue  # blank separators, comments (keep-alives)
                    data = line[5:].strip()
                    if data == b"[DONE]":
                        break
                    _content(data, parts)
            return "".join(parts), len(parts)

        return one

    async def close(session: aiohttp.ClientSession) -> None:
        await session.close()

    with _async_fixture(make, stream, close) as run_round:
        yield run_round


@contextmanager
def _aiohttp_orjson_async(base_url: str) -> Iterator[RoundFn]:
    """The same aiohttp loop with ``orjson.loads``: the fastest hand-written client here."""
    url = f"{base_url}/chat/completions"
    body = {"model": MODEL, "messages": MESSAGES, "stream": True}
    loads = orjson.loads

    async def make() -> aiohttp.ClientSession:
        return aiohttp.ClientSession(
            headers={"Authorization": f"Bearer {API_KEY}"},
            connector=aiohttp.TCPConnector(limit=CONCURRENCY),
            timeout=aiohttp.ClientTimeout(total=60.0),
        )

    def stream(session: aiohttp.ClientSession) -> Callable[[], Awaitable[Received]]:
        async def one() -> Received:
            parts: list[str] = []
            async with session.post(url, json=body) as resp:
                resp.raise_for_status()
                async for line in resp.content:
                    if not line.startswith(b"data:"):
                        continue
                    data = line[5:].strip()
                    if data == b"[DONE]":
                        break
                    choices = loads(data)["choices"]
                    if choices:
                        content = choices[0]["delta"].get("content")
                        if content:
                            parts.append(content)
            return "".join(parts), len(parts)

        return one

    async def close(session: aiohttp.ClientSession) -> None:
        await session.close()

    with _async_fixture(make, stream, close) as run_round:
        yield run_round


# ---------------------------------------------------------------------- the group


def test_stream_16x1000(benchmark: Any, record_result: Callable[..., None], stream_base_url: str) -> None:
    clients = selected(
        {
            "fastrouter AsyncClient": partial(_fastrouter_async, stream_base_url),
            f"fastrouter Client ({CONCURRENCY} threads)": partial(_fastrouter_threads, stream_base_url),
            "openai AsyncOpenAI": partial(_openai_async, stream_base_url),
            "httpx + httpx-sse (hand-written)": partial(_httpx_sse_async, stream_base_url),
            "aiohttp.ClientSession (hand-written)": partial(_aiohttp_async, stream_base_url),
            "aiohttp + orjson (hand-written)": partial(_aiohttp_orjson_async, stream_base_url),
        },
        reference="fastrouter AsyncClient",
    )
    samples = interleaved_rounds(benchmark, clients, timed_round(PER_ROUND, "chunks"), ROUNDS)
    for client, measured in samples.items():
        _record(benchmark, record_result, client, measured)
