"""nonstream-64: 64 concurrent non-streaming chat completions against one mock server.

Every client sends the same request body and reads ``choices[0].message.content`` and
``usage`` from each answer. One round is ``REQUESTS`` requests issued by 64 concurrent
workers (64 in flight at all times); each client keeps one event loop and one client (a warm
connection pool) for all its rounds. Each round measures the benchmark process's CPU time
(``time.process_time``: every thread, so a Rust runtime's worker threads count too) and wall
time; the table reports the median round.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import statistics
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import aiohttp
import fastrouter
import httpx
import openai
import pytest
from fastrouter.usage.ledger import UsageLedger

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


def _measure(benchmark: Any, record_result: Callable[..., None], client: str, run_round: RoundFn) -> None:
    samples: list[tuple[float, float]] = []

    def one_round() -> None:
        cpu0, wall0 = time.process_time(), time.perf_counter()
        done = run_round()
        wall1, cpu1 = time.perf_counter(), time.process_time()
        assert done == REQUESTS, f"{client}: {done} verified answers, expected {REQUESTS}"
        samples.append((cpu1 - cpu0, wall1 - wall0))

    benchmark.pedantic(one_round, rounds=ROUNDS, iterations=1, warmup_rounds=1)
    measured = samples[-ROUNDS:]  # drop the warm-up round
    cpu_us = statistics.median(cpu for cpu, _ in measured) / REQUESTS * 1e6
    rps = REQUESTS / statistics.median(wall for _, wall in measured)
    benchmark.extra_info.update(
        client=client,
        requests_per_round=REQUESTS,
        concurrency=CONCURRENCY,
        cpu_us_per_request=round(cpu_us, 1),
        cpu_us_per_request_min=round(min(cpu for cpu, _ in measured) / REQUESTS * 1e6, 1),
        requests_per_second=round(rps, 1),
    )
    record_result(
        client=client,
        cpu_us=cpu_us,
        rate=rps,
        setup=f"{REQUESTS} non-streaming chat requests per round, {CONCURRENCY} in flight",
        rounds=len(measured),
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


def _fastrouter_async_round(
    mock_base_url: str, model: Any, distinct: bool = False, sampling: dict[str, Any] | None = None, **options: Any
) -> Iterator[RoundFn]:
    """``distinct``: every request asks something new (a response cache only misses);
    ``sampling``: parameters every request passes too."""
    loop = _new_loop()

    async def make() -> fastrouter.AsyncClient:
        return fastrouter.AsyncClient(base_url=mock_base_url, api_key=API_KEY, **options)

    client = loop.run_until_complete(make())
    create = client.chat.completions.create
    asked = itertools.count()

    async def call() -> Answer:
        messages = [{"role": "user", "content": f"Say hello, {next(asked)}."}] if distinct else MESSAGES
        resp = await create(model=model, messages=messages, **(sampling or {}))
        usage = resp.usage
        return resp.choices[0].message.content or "", usage.total_tokens if usage else 0

    yield lambda: loop.run_until_complete(_async_round(call))
    loop.run_until_complete(client.close())
    _close_loop(loop)


@pytest.fixture
def fastrouter_async(mock_base_url: str) -> Iterator[RoundFn]:
    yield from _fastrouter_async_round(mock_base_url, MODEL)


@pytest.fixture
def fastrouter_async_sampling(mock_base_url: str) -> Iterator[RoundFn]:
    yield from _fastrouter_async_round(mock_base_url, MODEL, sampling={"temperature": 0.7, "max_tokens": 256})


@pytest.fixture
def fastrouter_async_chain(mock_base_url: str) -> Iterator[RoundFn]:
    yield from _fastrouter_async_round(mock_base_url, CHAIN)


@pytest.fixture
def fastrouter_async_no_ledger(mock_base_url: str) -> Iterator[RoundFn]:
    yield from _fastrouter_async_round(mock_base_url, MODEL, ledger=_NoLedger())


# A rate limit generous enough never to make a request wait: what admitting and releasing cost.
GENEROUS_LIMIT = {"*": fastrouter.Limit(rpm=10**9, concurrency=10**6)}


@pytest.fixture
def fastrouter_async_limits(mock_base_url: str) -> Iterator[RoundFn]:
    yield from _fastrouter_async_round(mock_base_url, MODEL, limits=GENEROUS_LIMIT)


@pytest.fixture
def fastrouter_async_cache_misses(mock_base_url: str) -> Iterator[RoundFn]:
    yield from _fastrouter_async_round(mock_base_url, MODEL, distinct=True, cache=True)


@pytest.fixture
def fastrouter_async_sqlite(mock_base_url: str, tmp_path: Path) -> Iterator[RoundFn]:
    ledger = UsageLedger(tmp_path / "usage.db")
    yield from _fastrouter_async_round(mock_base_url, MODEL, ledger=ledger)
    ledger.close()


def test_fastrouter_async_no_ledger(
    benchmark: Any, record_result: Callable[..., None], fastrouter_async_no_ledger: RoundFn
) -> None:
    _measure(benchmark, record_result, "fastrouter AsyncClient, ledger off", fastrouter_async_no_ledger)


def test_fastrouter_async_sampling(
    benchmark: Any, record_result: Callable[..., None], fastrouter_async_sampling: RoundFn
) -> None:
    _measure(benchmark, record_result, "fastrouter AsyncClient, temperature and max_tokens", fastrouter_async_sampling)


def test_fastrouter_async_sqlite(
    benchmark: Any, record_result: Callable[..., None], fastrouter_async_sqlite: RoundFn
) -> None:
    _measure(benchmark, record_result, "fastrouter AsyncClient, SQLite ledger", fastrouter_async_sqlite)


def test_fastrouter_async(benchmark: Any, record_result: Callable[..., None], fastrouter_async: RoundFn) -> None:
    _measure(benchmark, record_result, "fastrouter AsyncClient", fastrouter_async)


def test_fastrouter_async_chain(
    benchmark: Any, record_result: Callable[..., None], fastrouter_async_chain: RoundFn
) -> None:
    _measure(benchmark, record_result, "fastrouter AsyncClient, 3-model chain", fastrouter_async_chain)


def test_fastrouter_async_limits(
    benchmark: Any, record_result: Callable[..., None], fastrouter_async_limits: RoundFn
) -> None:
    _measure(benchmark, record_result, "fastrouter AsyncClient, limits on", fastrouter_async_limits)


def test_fastrouter_async_cache_misses(
    benchmark: Any, record_result: Callable[..., None], fastrouter_async_cache_misses: RoundFn
) -> None:
    _measure(benchmark, record_result, "fastrouter AsyncClient, cache on, all misses", fastrouter_async_cache_misses)


@pytest.fixture
def fastrouter_threads(mock_base_url: str) -> Iterator[RoundFn]:
    client = fastrouter.Client(base_url=mock_base_url, api_key=API_KEY)
    pool = ThreadPoolExecutor(max_workers=CONCURRENCY)
    create = client.chat.completions.create

    def worker() -> int:
        for _ in range(PER_WORKER):
            resp = create(model=MODEL, messages=MESSAGES)
            usage = resp.usage
            _check((resp.choices[0].message.content or "", usage.total_tokens if usage else 0))
        return PER_WORKER

    def run_round() -> int:
        futures = [pool.submit(worker) for _ in range(CONCURRENCY)]
        return sum(f.result() for f in futures)

    yield run_round
    pool.shutdown(wait=True)
    client.close()


def test_fastrouter_sync_threads(
    benchmark: Any, record_result: Callable[..., None], fastrouter_threads: RoundFn
) -> None:
    _measure(benchmark, record_result, f"fastrouter Client ({CONCURRENCY} threads)", fastrouter_threads)


# ---------------------------------------------------------------------- openai SDK


@pytest.fixture
def openai_async(mock_base_url: str) -> Iterator[RoundFn]:
    loop = _new_loop()

    async def make() -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(base_url=mock_base_url, api_key=API_KEY)

    client = loop.run_until_complete(make())
    create = client.chat.completions.create

    async def call() -> Answer:
        resp = await create(model=MODEL, messages=MESSAGES)  # type: ignore[arg-type]
        usage = resp.usage
        return resp.choices[0].message.content or "", usage.total_tokens if usage else 0

    yield lambda: loop.run_until_complete(_async_round(call))
    loop.run_until_complete(client.close())
    _close_loop(loop)


def test_openai_async(benchmark: Any, record_result: Callable[..., None], openai_async: RoundFn) -> None:
    _measure(benchmark, record_result, "openai AsyncOpenAI", openai_async)


# ---------------------------------------------------------------------- hand-written httpx / aiohttp


def _answer(payload: Any) -> Answer:
    usage = payload.get("usage") or {}
    return payload["choices"][0]["message"]["content"] or "", usage.get("total_tokens", 0)


@pytest.fixture
def httpx_async(mock_base_url: str) -> Iterator[RoundFn]:
    loop = _new_loop()
    url = f"{mock_base_url}/chat/completions"
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

    yield lambda: loop.run_until_complete(_async_round(call))
    loop.run_until_complete(client.aclose())
    _close_loop(loop)


def test_httpx_async(benchmark: Any, record_result: Callable[..., None], httpx_async: RoundFn) -> None:
    _measure(benchmark, record_result, "httpx.AsyncClient (hand-written)", httpx_async)


@pytest.fixture
def aiohttp_async(mock_base_url: str) -> Iterator[RoundFn]:
    loop = _new_loop()
    url = f"{mock_base_url}/chat/completions"
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

    yield lambda: loop.run_until_complete(_async_round(call))
    loop.run_until_complete(session.close())
    _close_loop(loop)


def test_aiohttp_async(benchmark: Any, record_result: Callable[..., None], aiohttp_async: RoundFn) -> None:
    _measure(benchmark, record_result, "aiohttp.ClientSession (hand-written)", aiohttp_async)
