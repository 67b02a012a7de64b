"""Rounds of several clients taken in turn, so the machine's slow spells fall on all alike."""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, ExitStack, contextmanager
from typing import Any, TypeVar

import pytest

Client = TypeVar("Client")
Sample = TypeVar("Sample")


def selected(clients: Mapping[str, Client], reference: str) -> dict[str, Client]:
    """The clients whose names contain one of ``BENCH_CLIENTS``'s comma-separated words
    (case-insensitive), and the group's ``reference`` row (the ratios' denominator); all
    of them when it is unset. ``BENCH_CLIENTS="openai,aiohttp"`` measures a subset (a group
    runs as one test, so ``-k`` cannot pick its clients)."""
    words = [w.strip().lower() for w in os.environ.get("BENCH_CLIENTS", "").split(",") if w.strip()]
    return {
        name: c
        for name, c in clients.items()
        if not words or name == reference or any(w in name.lower() for w in words)
    }


def interleaved_rounds(
    benchmark: Any,
    clients: Mapping[str, Callable[[], AbstractContextManager[Client]]],
    measure: Callable[[str, Client], Sample],
    rounds: int,
    warm: Callable[[str, Client], object] | None = None,
) -> dict[str, list[Sample]]:
    """Open every client, run ``rounds`` cycles of one measured round of every client, and
    return each client's samples.

    Why interleaved: this machine has slow spells of seconds to minutes. Measured one after
    the other, a client whose rounds fall in a slow spell gets every round slow, and its
    ratio to a client measured a minute later is the spell's, not the code's. Taken in
    turn, every client's rounds spread over the whole run, so the median round of each is
    measured under the same conditions as the others'. Each cycle takes the clients in a
    new order (shuffled, seeded by the cycle's number, so runs repeat it): no client always
    runs first, nor always right after the same one.

    Each measured round follows ``warm`` (by default an unmeasured round) of the same
    client: a round that starts right after another client's pays for caches and branch
    predictors that client left cold and for threads it let park (measured: +4 to +5 µs
    per request on fastrouter's 13 ms rounds of S1, about a fifth), which a client running
    on its own pays once."""
    names = list(clients)
    if not names:
        pytest.skip("BENCH_CLIENTS names no client of this group")
    samples: dict[str, list[Sample]] = {name: [] for name in names}
    with ExitStack() as stack:
        opened = {name: stack.enter_context(clients[name]()) for name in names}
        warm_up = warm or measure
        cycles = 0

        def cycle() -> None:
            nonlocal cycles
            order = list(names)
            random.Random(cycles).shuffle(order)
            cycles += 1
            for name in order:
                warm_up(name, opened[name])  # (again) after the other clients' rounds
                samples[name].append(measure(name, opened[name]))

        # With --benchmark-disable (CI), pytest-benchmark runs one cycle: each client once.
        benchmark.pedantic(cycle, rounds=rounds, iterations=1)
    # --benchmark-cprofile runs one more cycle, profiled: not a sample.
    return {name: taken[:rounds] for name, taken in samples.items()}


def timed_round(expected: int, what: str) -> Callable[[str, Callable[[], int]], tuple[float, float]]:
    """A ``measure`` for ``interleaved_rounds``: run one round (a function returning how
    many verified units it did, which must be ``expected``) and give its (CPU seconds of
    this whole process, so the Rust runtime's threads count too; wall seconds)."""

    def measure(client: str, run_round: Callable[[], int]) -> tuple[float, float]:
        cpu0, wall0 = time.process_time(), time.perf_counter()
        done = run_round()
        wall1, cpu1 = time.perf_counter(), time.process_time()
        assert done == expected, f"{client}: {done} verified {what}, expected {expected}"
        return cpu1 - cpu0, wall1 - wall0

    return measure


@contextmanager
def threaded_rounds(worker: Callable[[], int], threads: int) -> Iterator[Callable[[], int]]:
    """A round of ``threads`` calls of ``worker`` at once, one per thread of a pool kept for
    every round: the sync client's side of a group. Yields the round (its workers' sum)."""
    with ThreadPoolExecutor(max_workers=threads) as pool:

        def run_round() -> int:
            return sum(f.result() for f in [pool.submit(worker) for _ in range(threads)])

        yield run_round
