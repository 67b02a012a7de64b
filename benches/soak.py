"""Soak: many rounds of streams and requests with cancellations and abandoned streams mixed
in, printing memory, file descriptors, threads and ledger totals after each round.

Nothing may grow round over round (RSS settles after the first rounds; fds and threads
stay flat), and the books must balance every round: exactly one ledger entry per call
(a task cancelled before its first step never called ``create()`` and is counted apart as
``never_started``), nothing left reserved on the budget. The mock server runs in its own process (this script
with ``--serve``) so the figures are the client's alone.

    python benches/soak.py                        # 8 rounds of 10,000 streams + 20,000 requests
    python benches/soak.py --rounds 3 --streams 1000 --requests 2000   # a short run

Bounded: ``--max-seconds`` stops after the round that passes it. Exit status 1 when a
round's books do not balance.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from decimal import Decimal
from typing import Any

STREAM_MODEL = "openai/gpt-4o-mini"  # scripted: a stream of 20 chunks, a few ms apart
SLOW_MODEL = "anthropic/claude-3.5-sonnet"  # scripted: a reply after 20 ms (cancellable)
PLAIN_MODEL = "meta-llama/llama-3.1-8b-instruct"  # the mock's default echo reply
HI = [{"role": "user", "content": "soak"}]
LOW, HIGH = 2_000, 4_000  # the server tops its scripted queues up to HIGH below LOW


# ------------------------------------------------------------------ the server process


def serve() -> int:
    """Run the mock, keep the scripted models topped up, print the base URL, serve."""
    from fastrouter.testing import MockServer, Reply, StreamScript

    stream_reply = Reply("w " * 20, cost=0.00002, stream=StreamScript(chunks=20, chunk_delay=0.002))
    slow_reply = Reply("slow", cost=0.00001, delay=0.02)
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    server = MockServer().start()
    try:
        print(server.base_url, flush=True)
        while not stopping.is_set():
            pending = server.pending()
            for model, reply in ((STREAM_MODEL, stream_reply), (SLOW_MODEL, slow_reply)):
                left = pending.get(model, 0)
                if left < LOW:
                    server.script(model, *([reply] * (HIGH - left)))
            stopping.wait(0.01)
    finally:
        server.stop()
    return 0


# ------------------------------------------------------------------ measuring


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def os_threads() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("Threads:"):
                return int(line.split()[1])
    return 0


def fds() -> int:
    return len(os.listdir("/proc/self/fd"))


# ------------------------------------------------------------------ one round


async def one_stream(client: Any, n: int, cancel_every: int, abandon_every: int) -> str:
    """A stream read to the end, cancelled while open, or abandoned after a chunk."""
    if cancel_every and n % cancel_every == 0:
        started = asyncio.Event()
        task = asyncio.ensure_future(_read_stream(client, abandon=False, started=started))
        await asyncio.sleep(0.004 * (n % 5))  # opening, or part-way through
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            # A task cancelled before its first step never called create(): no request.
            return "cancelled" if started.is_set() else "never_started"
        return "finished"
    return await _read_stream(client, abandon=bool(abandon_every) and n % abandon_every == 1)


async def _read_stream(client: Any, abandon: bool, started: asyncio.Event | None = None) -> str:
    if started is not None:
        started.set()
    stream = await client.chat.completions.create(model=STREAM_MODEL, messages=HI, stream=True)
    if abandon:
        async for _ in stream:
            break
        del stream  # no close(): the finalizer cancels and records it
        return "abandoned"
    async for _ in stream:
        pass
    return "finished"


async def one_request(client: Any, n: int, cancel_every: int) -> str:
    if cancel_every and n % cancel_every == 0:
        started = asyncio.Event()

        async def call() -> Any:
            started.set()
            return await client.chat.completions.create(model=SLOW_MODEL, messages=HI)

        try:
            await asyncio.wait_for(call(), 0.005)
        except asyncio.TimeoutError:
            return "cancelled" if started.is_set() else "never_started"
        return "finished"
    await client.chat.completions.create(model=PLAIN_MODEL, messages=HI)
    return "finished"


async def run_round(client: Any, args: argparse.Namespace) -> Counter[str]:
    outcomes: Counter[str] = Counter()
    limit = asyncio.Semaphore(args.concurrency)

    async def bounded(make: Any) -> None:
        async with limit:
            try:
                outcomes[await make()] += 1
            except Exception as error:  # typed errors count; anything else is a bug
                outcomes[type(error).__name__] += 1

    jobs: list[Any] = []
    for n in range(args.streams):
        jobs.append(lambda n=n: one_stream(client, n, args.cancel_every, args.abandon_every))
    for n in range(args.requests):
        jobs.append(lambda n=n: one_request(client, n, args.cancel_every))
    # Interleave streams and requests.
    jobs = [job for pair in zip(jobs[: args.streams], jobs[args.streams :], strict=False) for job in pair] + jobs[
        2 * min(args.streams, args.requests) :
    ]
    await asyncio.gather(*(bounded(job) for job in jobs))
    return outcomes


# ------------------------------------------------------------------ the soak


async def soak(args: argparse.Namespace, base_url: str) -> int:
    import fastrouter

    client = fastrouter.AsyncClient(
        base_url=base_url,
        api_key="soak",
        max_retries=0,
        budgets=[fastrouter.Budget(usd="1000000")],  # every call reserves and settles
    )
    started = time.monotonic()
    failures = 0
    calls = 0
    print(
        f"{'round':>5} {'s':>6} {'RSS MB':>7} {'fds':>4} {'threads':>7} {'py thr':>6}"
        f" {'entries':>8} {'ok':>7} {'cancelled':>9} {'errors':>6} {'cost $':>10} {'reserved':>8}  outcomes",
        flush=True,
    )
    for round_no in range(1, args.rounds + 1):
        round_started = time.monotonic()
        outcomes = await run_round(client, args)
        calls += args.streams + args.requests - outcomes["never_started"]
        gc.collect()
        await asyncio.sleep(0.2)  # aborted tasks release their sockets
        usage = client.usage
        statuses = Counter(e.status for e in usage.entries)  # the entries kept in memory (last 100,000)
        reserved = sum(client._budgets._reserved, Decimal(0))
        balanced = len(usage) == calls and reserved == 0
        failures += not balanced
        print(
            f"{round_no:>5} {time.monotonic() - round_started:>6.1f} {rss_mb():>7.1f} {fds():>4}"
            f" {os_threads():>7} {threading.active_count():>6} {len(usage):>8} {statuses['ok']:>7}"
            f" {statuses['cancelled']:>9} {statuses['error'] + statuses['stream_error']:>6}"
            f" {usage.total_cost:>10f} {reserved:>8}  {dict(outcomes)}{'' if balanced else '  UNBALANCED'}",
            flush=True,
        )
        if time.monotonic() - started > args.max_seconds:
            print(f"stopping after {time.monotonic() - started:.0f} s (--max-seconds)")
            break
    await client.close()
    return 1 if failures else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--streams", type=int, default=10_000, help="streams per round")
    parser.add_argument("--requests", type=int, default=20_000, help="plain requests per round")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--cancel-every", type=int, default=10, help="cancel every Nth call (0: never)")
    parser.add_argument("--abandon-every", type=int, default=10, help="abandon every Nth stream (0: never)")
    parser.add_argument("--max-seconds", type=float, default=1800.0, help="stop after the round that passes it")
    args = parser.parse_args(argv)
    if args.serve:
        return serve()
    server = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--serve"], stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        base_url = server.stdout.readline().strip()
        print(
            f"soak: {args.rounds} rounds x ({args.streams} streams + {args.requests} requests),"
            f" concurrency {args.concurrency}, cancel every {args.cancel_every},"
            f" abandon every {args.abandon_every} stream; mock at {base_url} (pid {server.pid})",
            flush=True,
        )
        return asyncio.run(soak(args, base_url))
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    sys.exit(main())
