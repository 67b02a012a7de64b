"""Ledger: bytes per in-memory entry (tracemalloc over ``ENTRIES`` entries) and the CPU
cost of recording one, for :class:`UsageLedger` against what it used to keep (the
``UsageEntry`` dataclasses in a ``deque``). Target: at most 200 bytes an entry.

Entries look like the client's: a unique OpenRouter-style generation id each, a few models,
providers and statuses, varying token counts, a cost as exact decimal text.
"""

from __future__ import annotations

import gc
import os
import random
import string
import time
import tracemalloc
from collections import deque
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest
from fastrouter.usage.ledger import UsageEntry, UsageLedger

ENTRIES = int(os.environ.get("BENCH_LEDGER_ENTRIES", "100000"))
MODELS = ["openai/gpt-4o-mini", "anthropic/claude-3.5-haiku", "google/gemini-2.0-flash-001"]
PROVIDERS = ["OpenAI", "Anthropic", "Google"]

pytestmark = [pytest.mark.benchmark(group="ledger"), pytest.mark.timeout(600)]


def entries(count: int, seed: int = 11) -> Iterator[UsageEntry]:
    """``count`` entries as the client records them (made one at a time, so only what the
    ledger keeps stays allocated)."""
    rng = random.Random(seed)
    alphabet = string.ascii_letters + string.digits
    start = time.time()
    for i in range(count):
        which = i % 3
        prompt, completion = rng.randint(5, 4000), rng.randint(1, 800)
        cost = Decimal(f"0.{rng.randint(1, 99999999):08d}")
        yield UsageEntry._fast(
            start + i * 0.01,
            f"gen-{1732900000 + i}-{''.join(rng.choices(alphabet, k=20))}",
            MODELS[which],
            MODELS[which],
            PROVIDERS[which],
            prompt,
            completion,
            0,
            0,
            cost,
            "usage",
            Decimal(0),
            False,
            rng.random(),
            1,
            (),
            "ok",
            False,
            False,
        )


def held_bytes(build: Callable[[], Any], count: int) -> float:
    """Bytes per entry that ``build()``'s result holds after ``count`` entries: what
    tracemalloc sees, plus what a ledger's ring holds in the core (outside Python's
    allocator, which tracemalloc does not trace)."""
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    kept = build()
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    if isinstance(kept, UsageLedger):
        after += kept._entries.heap_bytes
    del kept
    return (after - before) / count


def cpu_us(build: Callable[[], Any], count: int) -> float:
    """CPU µs per entry of ``build()`` (without tracemalloc, which slows allocation down)."""
    gc.collect()
    cpu = time.process_time()
    kept = build()
    cpu = time.process_time() - cpu
    del kept
    return cpu / count * 1e6


def _ledger() -> UsageLedger:
    ledger = UsageLedger(max_entries=ENTRIES)
    record = ledger.record
    for entry in entries(ENTRIES):
        record(entry)
    assert len(ledger) == ENTRIES
    return ledger


def _deque() -> deque[UsageEntry]:
    kept: deque[UsageEntry] = deque(maxlen=ENTRIES)
    for entry in entries(ENTRIES):
        kept.append(entry)
    return kept


def _generated() -> list[None]:
    for _ in entries(ENTRIES):
        pass
    return []


@pytest.mark.parametrize(
    "client",
    ["UsageLedger (in memory)", "UsageEntry dataclasses in a deque (before)"],
)
def test_ledger_memory(benchmark: Any, record_result: Callable[..., None], client: str) -> None:
    build = _ledger if client.startswith("UsageLedger") else _deque
    out: list[float] = []
    benchmark.pedantic(lambda: out.append(held_bytes(build, ENTRIES)), rounds=1, iterations=1)
    per_entry = out[-1]
    # Recording alone: minus what making the entries costs.
    recording_us = cpu_us(build, ENTRIES) - cpu_us(_generated, ENTRIES)
    benchmark.extra_info.update(client=client, bytes_per_entry=round(per_entry, 1))
    record_result(
        client=client,
        cpu_us=per_entry,
        rate=max(recording_us, 0.0),
        setup=f"{ENTRIES:,} entries, tracemalloc",
        rounds=1,
    )
