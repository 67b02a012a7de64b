"""Live-paced streams: client CPU per chunk when chunks arrive as a model writes them.

Run: ``python benches/paced_streams.py`` (about two minutes; prints a Markdown table). A
script, not a pytest benchmark. ``benches/test_stream.py`` (S2) measures streams whose
chunks are all ready at once, where a client reads many per wake-up; here each of S
concurrent streams sends one chunk every DELAY seconds (streams started at random
offsets), as a live model does, so nearly every chunk is a wake-up of the client: its
I/O thread, its event loop, its wait for the next chunk. That is what a server relaying
many users' streams pays.

The mock server runs in its own process pinned to the second core; every client runs in
a fresh process of its own pinned to the first. CPU is the client process's
(``time.process_time``: every thread), per content chunk, median of the measured rounds.
Clients: fastrouter ``AsyncClient``, hand-written aiohttp + orjson (the S2 baseline).
Answers are checked (the number of content chunks), so a broken client fails instead of
looking fast.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
MODEL = "pace/live"
MESSAGES = [{"role": "user", "content": "Talk slowly."}]
API_KEY = "bench-key"
# (concurrent streams, content chunks per stream, seconds between chunks)
SCENARIOS = [(64, 200, 0.005), (16, 100, 0.010)]
ROUNDS = 5
CLIENTS = ["fastrouter", "aiohttp"]
LABELS = {"fastrouter": "fastrouter AsyncClient", "aiohttp": "aiohttp + orjson (hand-written)"}


def serve(chunks: int, delay: float) -> None:
    """Run the mock server (this process); print its base URL, keep its script full."""
    from fastrouter.testing import MockServer, Reply, StreamScript

    reply = Reply(content="tick" * chunks, stream=StreamScript(chunks=chunks, chunk_delay=delay))
    server = MockServer().start()
    server.script(MODEL, *([reply] * 4000))
    print(server.base_url, flush=True)
    try:
        while True:
            if server.pending().get(MODEL, 0) < 2000:
                server.script(MODEL, *([reply] * 2000))
            time.sleep(0.2)
    finally:
        server.stop()


def fastrouter_stream(base_url: str) -> tuple[Callable[[], Awaitable[int]], Callable[[], Awaitable[None]]]:
    import fastrouter

    client = fastrouter.AsyncClient(base_url=base_url, api_key=API_KEY, max_retries=0)

    async def one() -> int:
        count = 0
        async with await client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True) as chunks:
            async for chunk in chunks:
                if chunk.choices and chunk.choices[0].delta.content:
                    count += 1
        return count

    return one, client.close


def aiohttp_stream(base_url: str) -> tuple[Callable[[], Awaitable[int]], Callable[[], Awaitable[None]]]:
    import aiohttp
    import orjson

    session = aiohttp.ClientSession(
        headers={"Authorization": f"Bearer {API_KEY}"}, connector=aiohttp.TCPConnector(limit=256)
    )
    url = f"{base_url}/chat/completions"
    body = {"model": MODEL, "messages": MESSAGES, "stream": True}

    async def one() -> int:
        count = 0
        async with session.post(url, json=body) as response:
            response.raise_for_status()
            async for line in response.content:
                if not line.startswith(b"data:"):
                    continue
                data = line[5:].strip()
                if data == b"[DONE]":
                    break
                choices = orjson.loads(data)["choices"]
                if choices and choices[0]["delta"].get("content"):
                    count += 1
        return count

    return one, session.close


async def run_one(kind: str, base_url: str, streams: int, chunks: int, delay: float) -> dict[str, float]:
    one, close = (fastrouter_stream if kind == "fastrouter" else aiohttp_stream)(base_url)

    async def started_at_random() -> int:
        await asyncio.sleep(random.random() * delay)
        return await one()

    async def round_() -> float:
        cpu = time.process_time()
        counts = await asyncio.gather(*(started_at_random() for _ in range(streams)))
        if counts != [chunks] * streams:
            raise AssertionError(f"{kind}: content chunks per stream {sorted(set(counts))}, expected {chunks}")
        return (time.process_time() - cpu) / (streams * chunks) * 1e6

    await round_()  # warm-up: connections, imports, caches
    samples = [await round_() for _ in range(ROUNDS)]
    await close()
    return {"cpu_us": statistics.median(samples)}


def cpus() -> tuple[int | None, int | None]:
    allowed = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    return (allowed[0], allowed[1]) if len(allowed) >= 2 else (None, None)


def pinned(command: list[str], cpu: int | None) -> list[str]:
    return ["taskset", "-c", str(cpu), *command] if cpu is not None else command


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve", nargs=2, metavar=("CHUNKS", "DELAY"))
    parser.add_argument("--one", nargs=5, metavar=("CLIENT", "BASE_URL", "STREAMS", "CHUNKS", "DELAY"))
    args = parser.parse_args()
    if args.serve:
        serve(int(args.serve[0]), float(args.serve[1]))
        return 0
    if args.one:
        kind, base_url, streams, chunks, delay = args.one
        print(json.dumps(asyncio.run(run_one(kind, base_url, int(streams), int(chunks), float(delay)))))
        return 0

    client_cpu, server_cpu = cpus()
    rows: dict[str, list[float]] = {kind: [] for kind in CLIENTS}
    for streams, chunks, delay in SCENARIOS:
        server = subprocess.Popen(
            pinned([sys.executable, __file__, "--serve", str(chunks), str(delay)], server_cpu),
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert server.stdout is not None
            base_url = server.stdout.readline().strip()
            for kind in CLIENTS:
                command = [sys.executable, __file__, "--one", kind, base_url, str(streams), str(chunks), str(delay)]
                out = subprocess.run(pinned(command, client_cpu), capture_output=True, text=True, check=True)
                result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
                rows[kind].append(result["cpu_us"])
                print(f"{kind} {streams}x{chunks} every {delay * 1e3:.0f} ms: {result}", file=sys.stderr)
        finally:
            server.terminate()
            server.wait()

    heads = [f"{s} streams, a chunk every {d * 1e3:.0f} ms" for s, _, d in SCENARIOS]
    print("| client (CPU µs per content chunk) | " + " | ".join(heads) + " |")
    print("| --- |" + " ---: |" * len(heads))
    base = rows["fastrouter"]
    for kind in CLIENTS:
        cells = [f"{value:.1f} ({value / ref:.2f}×)" for value, ref in zip(rows[kind], base, strict=True)]
        print(f"| {LABELS[kind]} | " + " | ".join(cells) + " |")
    print(f"\nclient on core {client_cpu}, server on core {server_cpu}; Python {sys.version.split()[0]}; one run.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
