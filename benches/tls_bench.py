"""TLS benchmarks: S1, S2, S4 and the cold request over HTTPS, HTTP/2 and HTTP/1.1.

Run: ``python benches/tls_bench.py`` (about two minutes; prints a Markdown table). The
server is ``benches/stream_server.py --tls`` in its own process pinned to the second core;
every client variant runs in a fresh process of its own pinned to the first core (so peak
RSS is that client's alone), talking to the same server:

- S1: 64 concurrent non-streaming requests (640 per round), client CPU µs per request;
- S2: 16 concurrent streams × 1,000 chunks, client CPU µs per chunk;
- S4: 500 streams open at once (each has delivered its first chunk; they go on slowly,
  one chunk every 2 s), RSS growth over the warm client, per open stream;
- cold: a new client's first request (client construction, TCP, TLS handshake with
  certificate verification, the request), wall ms, against a warm request.

Clients: fastrouter ``AsyncClient`` with HTTP/2 (ALPN) and with ``http2=False``; httpx
(HTTP/1.1, and HTTP/2 with ``http2=True``) and aiohttp (HTTP/1.1 only), hand-written, all
trusting the mock's CA on top of their usual store. Answers are checked (content, chunk
counts), so a broken client fails instead of looking fast.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import ssl
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
STREAM_MODEL = "bench/stream"
HOLD_MODEL = "bench/hold"
ECHO_MODEL = "openai/gpt-4o-mini"
MESSAGES = [{"role": "user", "content": "Count to one thousand."}]
API_KEY = "bench-key"
S1_CONCURRENCY, S1_PER_WORKER, S1_ROUNDS = 64, 10, 5
S2_CONCURRENCY, S2_CHUNKS, S2_ROUNDS = 16, 1000, 3
S4_STREAMS = 500
COLD_SAMPLES = 15

CLIENTS = ["fastrouter-h2", "fastrouter-h1", "httpx-h2", "httpx-h1", "aiohttp-h1"]
LABELS = {
    "fastrouter-h2": "fastrouter AsyncClient, HTTP/2",
    "fastrouter-h1": "fastrouter AsyncClient, HTTP/1.1",
    "httpx-h2": "httpx AsyncClient, HTTP/2 (hand-written)",
    "httpx-h1": "httpx AsyncClient, HTTP/1.1 (hand-written)",
    "aiohttp-h1": "aiohttp ClientSession, HTTP/1.1 (hand-written)",
}


def cpus() -> tuple[int | None, int | None]:
    allowed = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    return (allowed[0], allowed[1]) if len(allowed) >= 2 else (None, None)


def rss_kib() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


# ----------------------------------------------------------------------------- clients


class Bench:
    """One client variant: ``post`` (a non-streaming answer's content), ``stream``
    (iterate content chunks), ``hold`` (open a stream, return it after its first chunk)."""

    def __init__(self, kind: str, base_url: str, ca_path: str, pool: int) -> None:
        self.kind = kind
        self.base_url = base_url
        self.url = f"{base_url}/chat/completions"
        self.ca_path = ca_path
        self.pool = pool
        self.client: Any = None

    def ssl_context(self) -> ssl.SSLContext:
        import certifi

        context = ssl.create_default_context(cafile=certifi.where())
        context.load_verify_locations(self.ca_path)
        return context

    async def open(self) -> None:
        if self.kind.startswith("fastrouter"):
            import fastrouter

            http2 = None if self.kind == "fastrouter-h2" else False
            self.client = fastrouter.AsyncClient(
                base_url=self.base_url, api_key=API_KEY, ca_bundle=self.ca_path, http2=http2, max_retries=0
            )
        elif self.kind.startswith("httpx"):
            import httpx

            self.client = httpx.AsyncClient(
                headers={"Authorization": f"Bearer {API_KEY}"},
                verify=self.ssl_context(),
                http2=self.kind == "httpx-h2",
                limits=httpx.Limits(max_connections=self.pool, max_keepalive_connections=self.pool),
                timeout=120.0,
            )
        else:
            import aiohttp

            self.client = aiohttp.ClientSession(
                headers={"Authorization": f"Bearer {API_KEY}"},
                connector=aiohttp.TCPConnector(limit=self.pool, ssl=self.ssl_context()),
                timeout=aiohttp.ClientTimeout(total=120.0),
            )

    async def close(self) -> None:
        if self.kind.startswith("httpx"):
            await self.client.aclose()
        else:
            await self.client.close()

    async def post(self) -> str:
        body = {"model": ECHO_MODEL, "messages": MESSAGES}
        if self.kind.startswith("fastrouter"):
            resp = await self.client.chat.completions.create(model=ECHO_MODEL, messages=MESSAGES)
            return str(resp.choices[0].message.content)
        if self.kind.startswith("httpx"):
            r = await self.client.post(self.url, json=body)
            r.raise_for_status()
            return str(r.json()["choices"][0]["message"]["content"])
        async with self.client.post(self.url, json=body) as r:
            r.raise_for_status()
            return str((await r.json())["choices"][0]["message"]["content"])

    async def chunks(self, model: str, on_chunk: Callable[[str], Awaitable[None]]) -> None:
        """Stream ``model``, awaiting ``on_chunk(content)`` for each content chunk."""
        body = {"model": model, "messages": MESSAGES, "stream": True}
        if self.kind.startswith("fastrouter"):
            async with await self.client.chat.completions.create(model=model, messages=MESSAGES, stream=True) as s:
                async for chunk in s:
                    if chunk.choices and chunk.choices[0].delta.content:
                        await on_chunk(chunk.choices[0].delta.content)
            return
        if self.kind.startswith("httpx"):
            async with self.client.stream("POST", self.url, json=body) as r:
                r.raise_for_status()
                async for line in r.aiter_lines():
                    if await self._line(line.encode(), on_chunk):
                        break
            return
        async with self.client.post(self.url, json=body) as r:
            r.raise_for_status()
            async for line in r.content:
                if await self._line(line, on_chunk):
                    break

    @staticmethod
    async def _line(line: bytes, on_chunk: Callable[[str], Awaitable[None]]) -> bool:
        if not line.startswith(b"data:"):
            return False
        data = line[5:].strip()
        if data == b"[DONE]":
            return True
        choices = json.loads(data)["choices"]
        if choices and choices[0]["delta"].get("content"):
            await on_chunk(choices[0]["delta"]["content"])
        return False


async def s1(bench: Bench) -> dict[str, float]:
    async def worker() -> int:
        for _ in range(S1_PER_WORKER):
            assert await bench.post()
        return S1_PER_WORKER

    samples = []
    for round_ in range(S1_ROUNDS + 1):  # the first round warms the pool up
        cpu0, wall0 = time.process_time(), time.perf_counter()
        done = sum(await asyncio.gather(*(worker() for _ in range(S1_CONCURRENCY))))
        if round_:
            samples.append((time.process_time() - cpu0, time.perf_counter() - wall0, done))
    cpu = statistics.median(c / n for c, _, n in samples) * 1e6
    rate = statistics.median(n / w for _, w, n in samples)
    return {"cpu_us": cpu, "rate": rate}


async def s2(bench: Bench) -> dict[str, float]:
    from stream_server import stream_content

    expected = stream_content(S2_CHUNKS)

    async def one() -> int:
        parts: list[str] = []

        async def keep(content: str) -> None:
            parts.append(content)

        await bench.chunks(STREAM_MODEL, keep)
        assert "".join(parts) == expected and len(parts) == S2_CHUNKS, len(parts)
        return len(parts)

    samples = []
    for round_ in range(S2_ROUNDS + 1):
        cpu0, wall0 = time.process_time(), time.perf_counter()
        done = sum(await asyncio.gather(*(one() for _ in range(S2_CONCURRENCY))))
        if round_:
            samples.append((time.process_time() - cpu0, time.perf_counter() - wall0, done))
    cpu = statistics.median(c / n for c, _, n in samples) * 1e6
    rate = statistics.median(n / w for _, w, n in samples)
    return {"cpu_us": cpu, "rate": rate}


async def s4(bench: Bench) -> dict[str, float]:
    assert await bench.post()  # warm: one connection, ALPN known, runtime started
    base = rss_kib()
    opened = asyncio.Event()
    started = 0

    async def hold() -> None:
        nonlocal started
        first = True

        async def on_chunk(content: str) -> None:
            nonlocal started, first
            if first:
                first = False
                started += 1
                if started == S4_STREAMS:
                    opened.set()
            # Keep reading (a chunk every HOLD_INTERVAL s): unread streams would exhaust an
            # HTTP/2 connection window and stall the others, which is not what is measured.

        await bench.chunks(HOLD_MODEL, on_chunk)

    tasks = [asyncio.ensure_future(hold()) for _ in range(S4_STREAMS)]
    try:
        await asyncio.wait_for(opened.wait(), 60)
    except asyncio.TimeoutError:
        raise RuntimeError(f"only {started} of {S4_STREAMS} streams opened within 60 s") from None
    peak = rss_kib()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return {"kib_per_stream": (peak - base) / S4_STREAMS, "base_mib": base / 1024, "peak_mib": peak / 1024}


async def cold(bench: Bench) -> dict[str, float]:
    cold_ms, construct_ms, warm_ms = [], [], []
    for _ in range(COLD_SAMPLES):
        t0 = time.perf_counter()
        await bench.open()
        t1 = time.perf_counter()
        assert await bench.post()
        t2 = time.perf_counter()
        assert await bench.post()
        t3 = time.perf_counter()
        await bench.close()
        construct_ms.append((t1 - t0) * 1e3)
        cold_ms.append((t2 - t0) * 1e3)
        warm_ms.append((t3 - t2) * 1e3)
    return {
        "cold_ms": statistics.median(cold_ms),
        "construct_ms": statistics.median(construct_ms),
        "warm_ms": statistics.median(warm_ms),
    }


SCENARIOS: dict[str, tuple[Callable[[Bench], Awaitable[dict[str, float]]], int]] = {
    "S1": (s1, S1_CONCURRENCY),
    "S2": (s2, S2_CONCURRENCY),
    "S4": (s4, S4_STREAMS),
}


async def run_one(kind: str, scenario: str, base_url: str, ca_path: str) -> dict[str, float]:
    if scenario == "cold":
        return await cold(Bench(kind, base_url, ca_path, pool=1))
    measure, pool = SCENARIOS[scenario]
    bench = Bench(kind, base_url, ca_path, pool)
    await bench.open()
    try:
        return await measure(bench)
    finally:
        await bench.close()


# ----------------------------------------------------------------------------- driver


def start_server(server_cpu: int | None) -> tuple[subprocess.Popen[str], str, str]:
    command = [sys.executable, str(HERE / "stream_server.py"), "--port", "0", "--tls"]
    if server_cpu is not None and shutil.which("taskset"):
        command = ["taskset", "-c", str(server_cpu), *command]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    base_url = proc.stdout.readline().strip()
    ca_path = proc.stdout.readline().strip()
    if not base_url.startswith("https://"):
        proc.terminate()
        raise RuntimeError(f"stream_server.py --tls printed {base_url!r}")
    return proc, base_url, ca_path


def measure_in_subprocess(kind: str, scenario: str, base_url: str, ca_path: str) -> dict[str, float]:
    """The scenario's numbers, or ``{}`` when the client failed it (its error is printed)."""
    command = [sys.executable, __file__, "--one", kind, scenario, base_url, ca_path]
    out = subprocess.run(command, capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        print(f"{kind} {scenario} failed: {out.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
        return {}
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def table(results: dict[str, dict[str, dict[str, float]]]) -> str:
    ref = results["fastrouter-h2"]
    rows = [
        "| client | S1 CPU µs/request | S1 req/s | S2 CPU µs/chunk | S2 chunks/s "
        "| S4 KiB/open stream | cold request ms (construct) | warm request ms |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]

    def cell(kind: str, scenario: str, key: str, fmt: str, ratio: bool = False) -> str:
        value = results[kind].get(scenario, {}).get(key)
        if value is None:
            return "failed"
        text = format(value, fmt)
        reference = ref.get(scenario, {}).get(key)
        return f"{text} ({value / reference:.2f}×)" if ratio and reference else text

    for kind in results:
        rows.append(
            f"| {LABELS[kind]} | {cell(kind, 'S1', 'cpu_us', '.0f', True)} | {cell(kind, 'S1', 'rate', ',.0f')} "
            f"| {cell(kind, 'S2', 'cpu_us', '.2f', True)} | {cell(kind, 'S2', 'rate', ',.0f')} "
            f"| {cell(kind, 'S4', 'kib_per_stream', '.1f', True)} "
            f"| {cell(kind, 'cold', 'cold_ms', '.1f')} ({cell(kind, 'cold', 'construct_ms', '.1f')}) "
            f"| {cell(kind, 'cold', 'warm_ms', '.2f')} |"
        )
    return "\n".join(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--one", nargs=4, metavar=("CLIENT", "SCENARIO", "BASE_URL", "CA_PATH"))
    parser.add_argument("--clients", default=",".join(CLIENTS))
    args = parser.parse_args()
    client_cpu, server_cpu = cpus()
    if args.one:
        kind, scenario, base_url, ca_path = args.one
        if client_cpu is not None:
            os.sched_setaffinity(0, {client_cpu})  # before any runtime starts a thread
        sys.path.insert(0, str(HERE))
        print(json.dumps(asyncio.run(run_one(kind, scenario, base_url, ca_path))))
        return 0
    proc, base_url, ca_path = start_server(server_cpu)
    results: dict[str, dict[str, dict[str, float]]] = {}
    try:
        for kind in args.clients.split(","):
            for scenario in ("S1", "S2", "S4", "cold"):
                results.setdefault(kind, {})[scenario] = measure_in_subprocess(kind, scenario, base_url, ca_path)
                print(kind, scenario, results[kind][scenario], file=sys.stderr, flush=True)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    print(table(results))
    pinned = f"client on core {client_cpu}, server on core {server_cpu}" if client_cpu is not None else "not pinned"
    print(f"\n{pinned}; Python {sys.version.split()[0]}; one run.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
