"""S3, sequential: one request at a time against the mock, p50 latency per request.

Each client sends ``REQUESTS`` non-streaming requests one after the other on a warm
connection (after ``WARMUP``) and the table reports the median (p50) of the per-request wall
times, next to ``wrk`` (C, no JSON parsing; one connection, one thread, POSTing the same
body with a Lua script) on the same server: the floor a client can reach. ``wrk`` is
skipped when it is not installed (``apt-get install wrk``). Target: fastrouter's p50 at
most 2x wrk's.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import statistics
import subprocess
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import fastrouter
import openai
import pytest

REQUESTS = int(os.environ.get("BENCH_SEQ_REQUESTS", "2000"))
WARMUP = 100
WRK_SECONDS = int(os.environ.get("BENCH_WRK_SECONDS", "5"))
MODEL = "openai/gpt-4o-mini"
MESSAGES = [{"role": "user", "content": "Say hello in one short sentence."}]
API_KEY = "bench-key"
BODY = {"model": MODEL, "messages": MESSAGES}

pytestmark = [pytest.mark.benchmark(group="sequential"), pytest.mark.timeout(600)]

Call = Callable[[], Awaitable[str]]


def _record(benchmark: Any, record_result: Callable[..., None], client: str, latencies: list[float]) -> None:
    p50 = statistics.median(latencies) * 1e6
    benchmark.extra_info.update(client=client, p50_us=round(p50, 1), requests=len(latencies))
    record_result(
        client=client,
        cpu_us=p50,
        rate=len(latencies) / sum(latencies),
        setup=f"{REQUESTS} sequential non-streaming requests after {WARMUP} warm-up",
        rounds=1,
    )


def _run_async(make: Callable[[], Awaitable[Any]], call_with: Callable[[Any], Call]) -> list[float]:
    """Latency of each of ``REQUESTS`` awaited calls, one at a time, on one event loop."""

    async def main() -> list[float]:
        client = await make()
        call = call_with(client)
        try:
            for _ in range(WARMUP):
                assert await call()
            latencies = []
            clock = time.perf_counter
            for _ in range(REQUESTS):
                start = clock()
                content = await call()
                latencies.append(clock() - start)
                assert content
            return latencies
        finally:
            await client.close()

    return asyncio.run(main())


def _measure(benchmark: Any, run: Callable[[], list[float]]) -> list[float]:
    out: list[list[float]] = []
    benchmark.pedantic(lambda: out.append(run()), rounds=1, iterations=1)
    return out[-1]


def test_fastrouter_async(benchmark: Any, record_result: Callable[..., None], mock_base_url: str) -> None:
    async def make() -> fastrouter.AsyncClient:
        return fastrouter.AsyncClient(base_url=mock_base_url, api_key=API_KEY)

    def call_with(client: fastrouter.AsyncClient) -> Call:
        async def call() -> str:
            resp = await client.chat.completions.create(model=MODEL, messages=MESSAGES)
            return resp.choices[0].message.content or ""

        return call

    latencies = _measure(benchmark, lambda: _run_async(make, call_with))
    _record(benchmark, record_result, "fastrouter AsyncClient", latencies)


def test_fastrouter_sync(benchmark: Any, record_result: Callable[..., None], mock_base_url: str) -> None:
    def run() -> list[float]:
        with fastrouter.Client(base_url=mock_base_url, api_key=API_KEY) as client:
            create = client.chat.completions.create
            for _ in range(WARMUP):
                assert create(model=MODEL, messages=MESSAGES).choices[0].message.content
            latencies = []
            clock = time.perf_counter
            for _ in range(REQUESTS):
                start = clock()
                content = create(model=MODEL, messages=MESSAGES).choices[0].message.content
                latencies.append(clock() - start)
                assert content
            return latencies

    _record(benchmark, record_result, "fastrouter Client", _measure(benchmark, run))


def test_openai_async(benchmark: Any, record_result: Callable[..., None], mock_base_url: str) -> None:
    async def make() -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(base_url=mock_base_url, api_key=API_KEY)

    def call_with(client: openai.AsyncOpenAI) -> Call:
        async def call() -> str:
            resp = await client.chat.completions.create(model=MODEL, messages=MESSAGES)  # type: ignore[arg-type]
            return resp.choices[0].message.content or ""

        return call

    latencies = _measure(benchmark, lambda: _run_async(make, call_with))
    _record(benchmark, record_result, "openai AsyncOpenAI", latencies)


def test_aiohttp_async(benchmark: Any, record_result: Callable[..., None], mock_base_url: str) -> None:
    url = f"{mock_base_url}/chat/completions"

    async def make() -> aiohttp.ClientSession:
        return aiohttp.ClientSession(headers={"Authorization": f"Bearer {API_KEY}"})

    def call_with(session: aiohttp.ClientSession) -> Call:
        async def call() -> str:
            async with session.post(url, json=BODY) as resp:
                resp.raise_for_status()
                content: str = (await resp.json())["choices"][0]["message"]["content"]
                return content

        return call

    latencies = _measure(benchmark, lambda: _run_async(make, call_with))
    _record(benchmark, record_result, "aiohttp.ClientSession (hand-written)", latencies)


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


@pytest.fixture
def wrk_script(tmp_path: Path) -> Iterator[Path]:
    script = tmp_path / "post.lua"
    script.write_text(_WRK_SCRIPT.format(body=json.dumps(json.dumps(BODY)), key=API_KEY), encoding="utf-8")
    yield script


def test_wrk(benchmark: Any, record_result: Callable[..., None], mock_base_url: str, wrk_script: Path) -> None:
    wrk = shutil.which("wrk")
    if wrk is None:
        pytest.skip("wrk is not installed (apt-get install wrk)")
    url = f"{mock_base_url}/chat/completions"
    command = [wrk, "-t1", "-c1", f"-d{WRK_SECONDS}s", "--latency", "-s", str(wrk_script), url]
    outputs: list[str] = []
    benchmark.pedantic(
        lambda: outputs.append(subprocess.run(command, check=True, capture_output=True, text=True).stdout),
        rounds=1,
        iterations=1,
    )
    output = outputs[-1]
    if re.search(r"Non-2xx or 3xx responses", output):
        raise AssertionError(f"wrk got error responses:\n{output}")
    p50 = wrk_p50_us(output)
    requests = re.search(r"(\d+) requests in", output)
    benchmark.extra_info.update(client="wrk", p50_us=p50)
    record_result(
        client="wrk (C, no parsing)",
        cpu_us=p50,
        rate=int(requests.group(1)) / WRK_SECONDS if requests else 0.0,
        setup=f"{REQUESTS} sequential non-streaming requests after {WARMUP} warm-up",
        rounds=1,
    )
