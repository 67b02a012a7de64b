"""S3, sequential: one request at a time against the mock, p50 latency per request.

Each client sends non-streaming requests one after the other on a warm connection and the
table reports the median (p50) of the per-request wall times, next to ``wrk`` (C, no JSON
parsing; one connection, one thread, POSTing the same body with a Lua script) on the same
server: the floor a client can reach. Target: fastrouter's p50 at most 2x wrk's.

The clients' rounds are interleaved (see ``interleave.interleaved_rounds``), so a slow
spell of the machine falls on wrk and the clients alike: a round is ``REQUESTS`` requests
after ``WARMUP`` unmeasured ones (a Python client), or ``WRK_SECONDS`` of ``wrk`` (one
fresh process, whose p50 is the round's). Every row's p50 is the median of its rounds'
p50s. Without ``wrk`` (``apt-get install wrk``) the table has no floor row and the run
warns.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import statistics
import subprocess
import tempfile
import time
import warnings
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import aiohttp
import fastrouter
import openai
import pytest
from interleave import interleaved_rounds, selected

REQUESTS = int(os.environ.get("BENCH_SEQ_REQUESTS", "500"))  # per round
ROUNDS = int(os.environ.get("BENCH_SEQ_ROUNDS", "8"))
WARMUP = 100
WRK_SECONDS = int(os.environ.get("BENCH_WRK_SECONDS", "1"))  # per round
MODEL = "openai/gpt-4o-mini"
MESSAGES = [{"role": "user", "content": "Say hello in one short sentence."}]
API_KEY = "bench-key"
BODY = {"model": MODEL, "messages": MESSAGES}
WRK = "wrk (C, no parsing)"

pytestmark = [pytest.mark.benchmark(group="sequential"), pytest.mark.timeout(600)]

Call = Callable[[], Awaitable[str]]
Round = tuple[list[float], float]  # (latencies in µs, or wrk's p50 alone; requests per second)


@dataclass(frozen=True)
class Sequential:
    """One client of the table: ``warm`` readies it for a round, ``round`` measures one."""

    warm: Callable[[], object]
    round: Callable[[], Round]


def _timed(latencies: list[float], elapsed: float) -> Round:
    return [x * 1e6 for x in latencies], len(latencies) / elapsed


@contextmanager
def _async_client(make: Callable[[], Awaitable[Any]], call_with: Callable[[Any], Call]) -> Iterator[Sequential]:
    """An asyncio client on its own loop: each round awaits its calls one at a time."""
    loop = asyncio.new_event_loop()
    try:
        client = loop.run_until_complete(make())
        call = call_with(client)

        async def calls(n: int) -> list[float]:
            latencies = []
            clock = time.perf_counter
            for _ in range(n):
                start = clock()
                content = await call()
                latencies.append(clock() - start)
                assert content
            return latencies

        def one_round() -> Round:
            start = time.perf_counter()
            latencies = loop.run_until_complete(calls(REQUESTS))
            return _timed(latencies, time.perf_counter() - start)

        try:
            yield Sequential(warm=lambda: loop.run_until_complete(calls(WARMUP)), round=one_round)
        finally:
            close = getattr(client, "close", None) or client.aclose
            loop.run_until_complete(close())
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.run_until_complete(loop.shutdown_default_executor())
        loop.close()


@contextmanager
def _fastrouter_async(base_url: str) -> Iterator[Sequential]:
    async def make() -> fastrouter.AsyncClient:
        return fastrouter.AsyncClient(base_url=base_url, api_key=API_KEY)

    def call_with(client: fastrouter.AsyncClient) -> Call:
        async def call() -> str:
            resp = await client.chat.completions.create(model=MODEL, messages=MESSAGES)
            return resp.choices[0].message.content or ""

        return call

    with _async_client(make, call_with) as client:
        yield client


@contextmanager
def _fastrouter_sync(base_url: str) -> Iterator[Sequential]:
    with fastrouter.Client(base_url=base_url, api_key=API_KEY) as client:
        create = client.chat.completions.create

        def calls(n: int) -> list[float]:
            latencies = []
            clock = time.perf_counter
            for _ in range(n):
                start = clock()
                content = create(model=MODEL, messages=MESSAGES).choices[0].message.content
                latencies.append(clock() - start)
                assert content
            return latencies

        def one_round() -> Round:
            start = time.perf_counter()
            latencies = calls(REQUESTS)
            return _timed(latencies, time.perf_counter() - start)

        yield Sequential(warm=lambda: calls(WARMUP), round=one_round)


@contextmanager
def _openai_async(base_url: str) -> Iterator[Sequential]:
    async def make() -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(base_url=base_url, api_key=API_KEY)

    def call_with(client: openai.AsyncOpenAI) -> Call:
        async def call() -> str:
            resp = await client.chat.completions.create(model=MODEL, messages=MESSAGES)  # type: ignore[arg-type]
            return resp.choices[0].message.content or ""

        return call

    with _async_client(make, call_with) as client:
        yield client


@contextmanager
def _aiohttp_async(base_url: str) -> Iterator[Sequential]:
    url = f"{base_url}/chat/completions"

    async def make() -> aiohttp.ClientSession:
        return aiohttp.ClientSession(headers={"Authorization": f"Bearer {API_KEY}"})

    def call_with(session: aiohttp.ClientSession) -> Call:
        async def call() -> str:
            async with session.post(url, json=BODY) as resp:
                resp.raise_for_status()
                content: str = (await resp.json())["choices"][0]["message"]["content"]
                return content

        return call

    with _async_client(make, call_with) as client:
        yield client


# ---------------------------------------------------------------------- wrk


_WRK_SCRIPT = """wrk.method = "POST"
wrk.body = {body}
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer {key}"
"""

_UNITS = {"us": 1.0, "ms": 1e3, "s": 1e6}


def wrk_p50_us(output: str) -> float:
    """The 50% line of ``wrk --latency``'s distribution, in µs."""
    match = re.search(r"^\s*50%\s+([\d.]+)(us|ms|s)\s*$", output, re.M)
    if not match:
        raise AssertionError(f"no p50 in wrk's output:\n{output}")
    return float(match.group(1)) * _UNITS[match.group(2)]


@contextmanager
def _wrk(base_url: str, wrk: str) -> Iterator[Sequential]:
    """``wrk -t1 -c1`` for ``WRK_SECONDS``, a fresh process per round."""
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "post.lua"
        script.write_text(_WRK_SCRIPT.format(body=json.dumps(json.dumps(BODY)), key=API_KEY), encoding="utf-8")
        url = f"{base_url}/chat/completions"
        command = [wrk, "-t1", "-c1", f"-d{WRK_SECONDS}s", "--latency", "-s", str(script), url]

        def one_round() -> Round:
            output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
            if re.search(r"Non-2xx or 3xx responses", output):
                raise AssertionError(f"wrk got error responses:\n{output}")
            requests = re.search(r"(\d+) requests in", output)
            return [wrk_p50_us(output)], int(requests.group(1)) / WRK_SECONDS if requests else 0.0

        yield Sequential(warm=lambda: None, round=one_round)


# ---------------------------------------------------------------------- the group


def test_sequential(benchmark: Any, record_result: Callable[..., None], mock_base_url: str) -> None:
    clients = {
        "fastrouter AsyncClient": partial(_fastrouter_async, mock_base_url),
        "fastrouter Client": partial(_fastrouter_sync, mock_base_url),
        "openai AsyncOpenAI": partial(_openai_async, mock_base_url),
        "aiohttp.ClientSession (hand-written)": partial(_aiohttp_async, mock_base_url),
    }
    wrk = shutil.which("wrk")
    if wrk is None:
        warnings.warn("wrk is not installed (apt-get install wrk): the S3 table has no floor row", stacklevel=1)
    else:
        clients[WRK] = partial(_wrk, mock_base_url, wrk)
    samples = interleaved_rounds(
        benchmark,
        selected(clients, reference=WRK),
        lambda _, client: client.round(),
        ROUNDS,
        warm=lambda _, client: client.warm(),
    )
    for client, rounds in samples.items():
        # The same estimator for every row: the median of the rounds' p50s (a wrk round
        # gives its p50 alone), so a few slow rounds move no row more than another.
        p50s = [statistics.median(latencies) for latencies, _ in rounds]
        p50 = statistics.median(p50s)
        benchmark.extra_info[client] = {"p50_us": round(p50, 1), "p50_us_by_round": [round(x, 1) for x in p50s]}
        record_result(
            client=client,
            cpu_us=p50,
            rate=statistics.median(rate for _, rate in rounds),
            setup=(
                f"sequential non-streaming requests, {REQUESTS} per round after {WARMUP} warm-up "
                f"({WRK_SECONDS} s per round for wrk), rounds interleaved, the median of the rounds' p50s"
            ),
            rounds=len(rounds),
        )
