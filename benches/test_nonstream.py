"""nonstream-64: 64 concurrent non-streaming chat completions against one mock server.

Every client sends the same request body and reads ``choices[0].message.content`` and
``usage`` from each answer. One round is ``REQUESTS`` requests issued by 64 concurrent
workers (64 in flight at all times); each client keeps one event loop and one client (a warm
connection pool) for all its rounds. The clients' rounds are interleaved (one round of
each in turn, see ``interleave.interleaved_rounds``), so a slow spell of the machine falls on
all of them alike. Each round measures the benchmark process's CPU time
(``time.process_time``: every thread, so a Rust runtime's worker threads count too) and wall
time; the table reports each client's median round.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import statistics
import tempfile
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import aiohttp
import fastrouter
import httpx
import openai
import pytest
from fastrouter.usage.ledger import UsageLedger
from interleave import interleaved_rounds, selected, threaded_rounds, timed_round

CONCURRENCY = 64
PER_WORKER = int(os.environ.get("BENCH_PER_WORKER", "10"))
REQUESTS = CONCURRENCY * PER_WORKER
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "10"))
MODEL = "openai/gpt-4o-mini"
MESSAGES = [{"role": "user", "content": "Say hello in one short sentence."}]
API_KEY = "bench-key"

pytestmark = [pytest.mark.benchmark(group="nonstream-64"), pytest.mark.timeout(600)]

Answer = tuple[str, int]  # (choices[0].message.content, usage.total_tokens)
RoundFn = Callable[[], int]  # runs one round, returns the number of verified answers


def _check(answer: Answer) -> None:
    content, total_tokens = answer
    if not (isinstance(content, str) and content):
        raise AssertionError(f"empty or missing content: {content!r}")
    if not (isinstance(total_tokens, int) and total_tokens > 0):
        raise AssertionError(f"missing usage: {total_tokens!r}")


async def _async_round(call: Callable[[], Awaitable[Answer]]) -> int:
    async def worker() -> int:
        for _ in range(PER_WORKER):
            _check(await call())
        return PER_WORKER

    return sum(await asyncio.gather(*(worker() for _ in range(CONCURRENCY))))


def _new_loop() -> asyncio.AbstractEventLoop:
    return asyncio.new_event_loop()


def _close_loop(loop: asyncio.AbstractEventLoop) -> None:
    loop.run_until_complete(loop.shutdown_asyncgens())
    loop.run_until_complete(loop.shutdown_default_executor())
    loop.close()


def _record(
    benchmark: Any, record_result: Callable[..., None], client: str, measured: list[tuple[float, float]]
) -> None:
    cpu_us = statistics.median(cpu for cpu, _ in measured) / REQUESTS * 1e6
    rps = REQUESTS / statistics.median(wall for _, wall in measured)
    by_round = tuple(cpu / REQUESTS * 1e6 for cpu, _ in measured)  # each round, in cycle order
    benchmark.extra_info[client] = {
        "cpu_us_per_request": round(cpu_us, 1),
        "cpu_us_per_request_min": round(min(by_round), 1),
        "requests_per_second": round(rps, 1),
        "cpu_us_per_request_by_round": [round(value, 1) for value in by_round],
    }
    record_result(
        client=client,
        cpu_us=cpu_us,
        rate=rps,
        setup=f"{REQUESTS} non-streaming chat requests per round, {CONCURRENCY} in flight, rounds interleaved",
        rounds=len(measured),
        by_round=by_round,
    )


# ---------------------------------------------------------------------- fastrouter


# A failover chain whose first model answers: it must cost no more than a plain request.
CHAIN = [MODEL, "anthropic/claude-3.5-haiku", "google/gemini-2.0-flash-001"]


class _NoLedger(UsageLedger):
    """Stores nothing: the baseline for the in-memory ledger's own cost. The books still
    take the path they take for the in-memory ledger (an answer handed over as its
    fields' values, no entry built), so only the ledger's own work is left out."""

    def __init__(self) -> None:
        super().__init__()
        self._packs = True
        # Take an answer or an entry and keep nothing, at the cost of the ledger's own append.
        self._post = deque[tuple[Any, ...]](maxlen=0).append
        self._post_entry = deque[Any](maxlen=0).append

    def record(self, entry: Any) -> None:
        pass


@contextmanager
def _fastrouter_async(
    base_url: str, model: Any = MODEL, distinct: bool = False, sampling: dict[str, Any] | None = None, **options: Any
) -> Iterator[RoundFn]:
    """``distinct``: every request asks something new (a response cache only misses);
    ``sampling``: parameters every request passes too."""
    loop = _new_loop()

    async def make() -> fastrouter.AsyncClient:
        return fastrouter.AsyncClient(base_url=base_url, api_key=API_KEY, **options)

    client = loop.run_until_complete(make())
    create = client.chat.completions.create
    asked = itertools.count()

    async def call() -> Answer:
        messages = [{"role": "user", "content": f"Say hello, {next(asked)}."}] if distinct else MESSAGES
        resp = await create(model=model, messages=messages, **(sampling or {}))
        usage = resp.usage
        return resp.choices[0].message.content or "", usage.total_tokens if usage else 0

    try:
        yield lambda: loop.run_until_complete(_async_round(call))
    finally:
        loop.run_until_complete(client.close())
        _close_loop(loop)


@contextmanager
def _fastrouter_async_sqlite(base_url: str) -> Iterator[RoundFn]:
    with tempfile.TemporaryDirectory() as tmp:
        ledger = UsageLedger(Path(tmp) / "usage.db")
        try:
            with _fastrouter_async(base_url, ledger=ledger) as run_round:
                yield run_round
        finally:
            ledger.close()


# A rate limit generous enough never to make a request wait: what admitting and releasing cost.
GENEROUS_LIMIT = {"*": fastrouter.Limit(rpm=10**9, concurrency=10**6)}


@contextmanager
def _fastrouter_threads(base_url: str) -> Iterator[RoundFn]:
    client = fastrouter.Client(base_url=base_url, api_key=API_KEY)
    create = client.chat.completions.create

    def worker() -> int:
        for _ in range(PER_WORKER):
            resp = create(model=MODEL, messages=MESSAGES)
            usage = resp.usage
            _check((resp.choices[0].message.content or "", usage.total_tokens if usage else 0))
        return PER_WORKER

    try:
        with threaded_rounds(worker, CONCURRENCY) as run_round:
            yield run_round
    finally:
        client.close()


# ---------------------------------------------------------------------- openai SDK


@contextmanager
def _openai_async(base_url: str) -> Iterator[RoundFn]:
    loop = _new_loop()

    async def make() -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(base_url=base_url, api_key=API_KEY)

    client = loop.run_until_complete(make())
    create = client.chat.completions.create

    async def call() -> Answer:
        resp = await create(model=MODEL, messages=MESSAGES)  # type: ignore[arg-type]
        usage = resp.usage
        return resp.choices[0].message.content or "", usage.total_tokens if usage else 0

    try:
        yield lambda: loop.run_until_complete(_async_round(call))
    finally:
        loop.run_until_complete(client.close())
        _close_loop(loop)


# ---------------------------------------------------------------------- hand-written httpx / aiohttp


def _answer(payload: Any) -> Answer:
    usage = payload.get("usage") or {}
    return payload["choices"][0]["message"]["content"] or "", usage.get("total_tokens", 0)


@contextmanager
def _httpx_async(base_url: str) -> Iterator[RoundFn]:
    loop = _new_loop()
    url = f"{base_url}/chat/completions"
    body = {"model": MODEL, "messages": MESSAGES}

    async def make() -> httpx.AsyncClient:
        return httpx.AsyncClient(
            headers={"Authorization": f"Bearer {API_KEY}"},
            limits=httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY),
            timeout=60.0,
        )

    client = loop.run_until_complete(make())

    async def call() -> Answer:
        resp = await client.post(url, json=body)
        resp.raise_for_status()
        return _answer(resp.json())

    try:
        yield lambda: loop.run_until_complete(_async_round(call))
    finally:
        loop.run_until_complete(client.aclose())
        _close_loop(loop)


@contextmanager
def _aiohttp_async(base_url: str) -> Iterator[RoundFn]:
    loop = _new_loop()
    url = f"{base_url}/chat/completions"
    body = {"model": MODEL, "messages": MESSAGES}

    async def make() -> aiohttp.ClientSession:
        return aiohttp.ClientSession(
            headers={"Authorization": f"Bearer {API_KEY}"},
            connector=aiohttp.TCPConnector(limit=CONCURRENCY),
            timeout=aiohttp.ClientTimeout(total=60.0),
        )

    session = loop.run_until_complete(make())

    async def call() -> Answer:
        async with session.post(url, json=body) as resp:
            resp.raise_for_status()
            return _answer(await resp.json())

    try:
        yield lambda: loop.run_until_complete(_async_round(call))
    finally:
        loop.run_until_complete(session.close())
        _close_loop(loop)


# ---------------------------------------------------------------------- the group


def _clients(base_url: str) -> dict[str, Callable[[], AbstractContextManager[RoundFn]]]:
    """Every client of the table, by row name: each opens its client (and loop) and yields
    a function running one round."""
    return {
        "fastrouter AsyncClient": partial(_fastrouter_async, base_url),
        "fastrouter AsyncClient, ledger off": partial(_fastrouter_async, base_url, ledger=_NoLedger()),
        "fastrouter AsyncClient, temperature and max_tokens": partial(
            _fastrouter_async, base_url, sampling={"temperature": 0.7, "max_tokens": 256}
        ),
        "fastrouter AsyncClient, 3-model chain": partial(_fastrouter_async, base_url, CHAIN),
        "fastrouter AsyncClient, limits on": partial(_fastrouter_async, base_url, limits=GENEROUS_LIMIT),
        "fastrouter AsyncClient, cache on, all misses": partial(_fastrouter_async, base_url, distinct=True, cache=True),
        "fastrouter AsyncClient, SQLite ledger": partial(_fastrouter_async_sqlite, base_url),
        f"fastrouter Client ({CONCURRENCY} threads)": partial(_fastrouter_threads, base_url),
        "openai AsyncOpenAI": partial(_openai_async, base_url),
        "httpx.AsyncClient (hand-written)": partial(_httpx_async, base_url),
        "aiohttp.ClientSession (hand-written)": partial(_aiohttp_async, base_url),
    }


def test_nonstream_64(benchmark: Any, record_result: Callable[..., None], mock_base_url: str) -> None:
    clients = selected(_clients(mock_base_url), reference="fastrouter AsyncClient")
    samples = interleaved_rounds(benchmark, clients, timed_round(REQUESTS, "answers"), ROUNDS)
    for client, measured in samples.items():
        _record(benchmark, record_result, client, measured)
