"""Shared state on one Redis server, from several processes at once.

Run: ``python benches/shared_store.py budget`` and ``python benches/shared_store.py rpm
[seconds]``. Starts its own ``redis-server`` on a free loopback port and one mock
OpenRouter server, then worker processes, each an ``AsyncClient`` on ``store=redis://...``:

- ``budget``: 8 processes x 64 concurrent requests against one ``Budget(usd=0.01)``; every
  request reserves its worst case and settles its real cost. Reports what was spent in
  total (the processes' ledgers added up) against the budget.
- ``rpm``: 4 processes x 16 concurrent requests under one shared ``Limit(rpm=1200)`` for
  ``seconds`` (default 70); reports the most requests sent in any 60 s window, against the
  limit, and the least in any full window (how close to the limit it ran).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from decimal import Decimal

import fastrouter
from fastrouter.testing import MockServer, Reply

MODEL = "openai/gpt-4o-mini"
BUDGET = Decimal("0.01")
RPM = 1200
# Workers start fresh interpreters: the parent runs the mock server's threads.
_SPAWN = multiprocessing.get_context("spawn")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start_redis() -> tuple[subprocess.Popen[bytes], str, tempfile.TemporaryDirectory[str]]:
    binary = shutil.which("redis-server")
    if binary is None:
        sys.exit("redis-server is not installed (apt-get install -y redis-server)")
    port = _free_port()
    workdir = tempfile.TemporaryDirectory()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        cwd=workdir.name,
        stdout=subprocess.DEVNULL,
    )
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            break
        except OSError:
            time.sleep(0.02)
    return process, f"redis://127.0.0.1:{port}/0", workdir


def _budget_worker(
    base_url: str, store: str, concurrency: int, out: multiprocessing.Queue[tuple[str, int, int]]
) -> None:
    async def main() -> tuple[str, int, int]:
        client = fastrouter.AsyncClient(
            base_url=base_url, api_key="k", store=store, budgets=[fastrouter.Budget(usd=BUDGET)], max_retries=0
        )
        await client.models.list()  # load the catalog once, before 64 requests want it at once
        refused = 0

        async def one() -> None:
            nonlocal refused
            while True:
                try:
                    await client.chat.completions.create(
                        model=MODEL, messages=[{"role": "user", "content": "hi"}], max_tokens=10
                    )
                except fastrouter.BudgetExceededError:
                    refused += 1
                    return

        await asyncio.gather(*[one() for _ in range(concurrency)])
        await asyncio.sleep(0.2)  # settlements still being written
        ok = sum(1 for e in client.usage.entries if e.status == "ok")
        spent = str(client.usage.total_cost)
        await client.close()
        return spent, ok, refused

    out.put(asyncio.run(main()))


def _rpm_worker(
    base_url: str, store: str, concurrency: int, seconds: float, out: multiprocessing.Queue[list[float]]
) -> None:
    async def main() -> list[float]:
        client = fastrouter.AsyncClient(
            base_url=base_url,
            api_key="k",
            store=store,
            limits={"*": fastrouter.Limit(rpm=RPM)},
            max_retries=0,
        )
        sent: list[float] = []
        end = time.time() + seconds

        async def one() -> None:
            while time.time() < end:
                try:
                    await client.chat.completions.create(
                        model=MODEL, messages=[{"role": "user", "content": "hi"}], timeout=fastrouter.Timeout(total=5)
                    )
                    sent.append(time.time())
                except fastrouter.RateLimitError:
                    pass  # not admitted within its 5 s deadline: asks again

        await asyncio.gather(*[one() for _ in range(concurrency)])
        await client.close()
        return sent

    out.put(asyncio.run(main()))


def bench_budget(processes: int = 8, concurrency: int = 64) -> None:
    redis_process, url, workdir = _start_redis()
    try:
        with MockServer() as server:
            # Replies within max_tokens, so each costs less than the worst case reserved.
            server.script("*", *[Reply(content="ok", prompt_tokens=5, completion_tokens=5)] * 20_000)
            out: multiprocessing.Queue[tuple[str, int, int]] = _SPAWN.Queue()
            started = time.perf_counter()
            workers = [
                _SPAWN.Process(target=_budget_worker, args=(server.base_url, url, concurrency, out))
                for _ in range(processes)
            ]
            for worker in workers:
                worker.start()
            results = [out.get() for _ in workers]
            for worker in workers:
                worker.join()
            elapsed = time.perf_counter() - started
    finally:
        redis_process.terminate()
        redis_process.wait()
        workdir.cleanup()
    spent = sum((Decimal(r[0]) for r in results), Decimal(0))
    ok = sum(r[1] for r in results)
    refused = sum(r[2] for r in results)
    print(f"{processes} processes x {concurrency} concurrent, one Budget(usd={BUDGET}) on Redis, {elapsed:.1f} s")
    print(f"  answered {ok}, refused {refused}; spent ${spent} of ${BUDGET}: overspend ${max(spent - BUDGET, 0)}")


def bench_rpm(seconds: float, processes: int = 4, concurrency: int = 16) -> None:
    redis_process, url, workdir = _start_redis()
    try:
        with MockServer() as server:
            out: multiprocessing.Queue[list[float]] = _SPAWN.Queue()
            workers = [
                _SPAWN.Process(target=_rpm_worker, args=(server.base_url, url, concurrency, seconds, out))
                for _ in range(processes)
            ]
            for worker in workers:
                worker.start()
            times = sorted(t for _ in workers for t in out.get())
            for worker in workers:
                worker.join()
    finally:
        redis_process.terminate()
        redis_process.wait()
        workdir.cleanup()
    # Every 60 s window starting at a request: the most and (for full windows) least sent.
    most, least, j = 0, None, 0
    for i, start in enumerate(times):
        while j < len(times) and times[j] < start + 60.0:
            j += 1
        most = max(most, j - i)
        if start + 60.0 <= times[-1]:
            least = j - i if least is None else min(least, j - i)
    print(
        f"{processes} processes x {concurrency} concurrent, one shared Limit(rpm={RPM}) on Redis, {seconds:.0f} s run"
    )
    print(f"  sent {len(times)}; most in any 60 s window {most} ({(most - RPM) / RPM:+.2%} vs the limit)")
    if least is not None:
        print(f"  least in any full 60 s window {least} ({(least - RPM) / RPM:+.2%})")


if __name__ == "__main__":
    what = sys.argv[1] if len(sys.argv) > 1 else "budget"
    if what == "budget":
        bench_budget()
    else:
        bench_rpm(float(sys.argv[2]) if len(sys.argv) > 2 else 70.0)
