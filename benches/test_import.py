"""S5, import: a fresh Python process that imports a client library and builds a client.

Each variant runs ``RUNS`` times in a new interpreter (this venv's, pinned like the rest of
the suite), the variants taking turns (``interleave.interleaved_rounds``, so a slow spell
of the machine falls on all alike); the table reports the median wall time of the whole
process (start, import, construct, exit) and its median CPU time, against the bare
interpreter (``-c pass``). Target: fastrouter at most 4x the bare interpreter.

Where the time goes: ``python -X importtime -c "import fastrouter"`` (see README.md).
"""

from __future__ import annotations

import importlib.util
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any

import pytest
from interleave import interleaved_rounds, selected

RUNS = int(os.environ.get("BENCH_IMPORT_RUNS", "15"))
BASE_URL = "http://127.0.0.1:9/api/v1"  # never contacted: nothing is sent

pytestmark = [pytest.mark.benchmark(group="import"), pytest.mark.timeout(600)]

_FASTROUTER_ASYNC = f"import fastrouter\nfastrouter.AsyncClient(api_key='k', base_url={BASE_URL!r})"
_FASTROUTER_SYNC = f"import fastrouter\nfastrouter.Client(api_key='k', base_url={BASE_URL!r})"
_OPENAI = f"import openai\nopenai.AsyncOpenAI(api_key='k', base_url={BASE_URL!r})"
# aiohttp's session wants a running loop.
_AIOHTTP = """import asyncio, aiohttp
async def main():
    session = aiohttp.ClientSession(headers={'Authorization': 'Bearer k'})
    await session.close()
asyncio.run(main())"""

VARIANTS = {
    "bare interpreter": "pass",
    "fastrouter AsyncClient": _FASTROUTER_ASYNC,
    "fastrouter Client": _FASTROUTER_SYNC,
    "openai AsyncOpenAI": _OPENAI,
    "aiohttp.ClientSession (hand-written)": _AIOHTTP,
}


# Every variant reads compiled bytecode, as from an installed wheel: this tree's editable
# install has none, and PYTHONDONTWRITEBYTECODE would make fastrouter alone compile its
# sources at each start. The warm-up run writes them under a private prefix.
_PYCACHE = tempfile.mkdtemp(prefix="fastrouter-bench-pycache-")
_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def run_once(code: str) -> tuple[float, float]:
    """Wall and CPU seconds of one fresh ``python -c code`` process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    command = [sys.executable, "-X", f"pycache_prefix={_PYCACHE}", "-c", code]
    subprocess.run(command, check=True, stdin=subprocess.DEVNULL, env=_ENV)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


@contextmanager
def _variant(code: str) -> Iterator[str]:
    run_once(code)  # page cache, .pyc files
    yield code


def test_import(benchmark: Any, record_result: Callable[..., None]) -> None:
    variants = dict(VARIANTS)
    if importlib.util.find_spec("openai") is None:
        del variants["openai AsyncOpenAI"]
    clients = selected({name: partial(_variant, code) for name, code in variants.items()}, "bare interpreter")
    samples = interleaved_rounds(benchmark, clients, lambda _, code: run_once(code), RUNS, warm=lambda _, code: None)
    for client, runs in samples.items():
        wall_ms = statistics.median(w for w, _ in runs) * 1e3
        cpu_ms = statistics.median(c for _, c in runs) * 1e3
        benchmark.extra_info[client] = {"wall_ms": round(wall_ms, 2), "cpu_ms": round(cpu_ms, 2)}
        record_result(
            client=client,
            cpu_us=wall_ms,
            rate=cpu_ms,
            setup="one fresh process per run, the variants in turn",
            rounds=len(runs),
        )
