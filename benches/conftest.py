"""Shared setup of the benchmark suite: CPU pinning, the mock server processes, the results tables.

The benchmark process runs on one core and the mock server (``fastrouter mock``, or
``benches/stream_server.py`` for the streaming group) on another, so the client's CPU time
is not mixed with the server's. Every benchmark records its own measurements (see
``record_result``); at the end each benchmark group's table is printed and all of them are
written to ``benches/results.md``.
"""

from __future__ import annotations

import os
import platform
import re
import select
import shutil
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

RESULTS_FILE = Path(__file__).with_name("results.md")
REFERENCE = "fastrouter AsyncClient"
OPENAI = "openai AsyncOpenAI"
STREAM_SERVER = Path(__file__).with_name("stream_server.py")


# ------------------------------------------------------------------------- CPU pinning


def _allowed_cpus() -> list[int]:
    if not hasattr(os, "sched_getaffinity"):
        return []
    return sorted(os.sched_getaffinity(0))


_CPUS = _allowed_cpus()
CLIENT_CPU: int | None = _CPUS[0] if len(_CPUS) >= 2 else None
SERVER_CPU: int | None = _CPUS[1] if len(_CPUS) >= 2 else None


def _pin_this_process(cpu: int) -> None:
    """Pin every thread of this process (``sched_setaffinity(0, ...)`` only moves the
    calling thread; threads started later inherit the main thread's mask)."""
    os.sched_setaffinity(0, {cpu})
    try:
        tids = [int(t) for t in os.listdir("/proc/self/task")]
    except OSError:
        return
    for tid in tids:
        try:
            os.sched_setaffinity(tid, {cpu})
        except OSError:
            pass


# Pin at import, before any client library starts a thread pool or runtime.
if CLIENT_CPU is not None:
    _pin_this_process(CLIENT_CPU)


def pinning_note() -> str:
    if CLIENT_CPU is None:
        return "not pinned (fewer than 2 usable cores)"
    return f"client pinned to core {CLIENT_CPU}, server to core {SERVER_CPU}"


def _raise_open_files_limit(want: int = 4096) -> None:
    """A group opens all its clients at once (``interleave.py``; S1: 11 clients × 64
    connections, ~770 descriptors), past macOS's default 256 and near Linux's common
    1,024: raise the soft limit toward the hard one."""
    try:
        import resource
    except ImportError:  # not on Unix
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = want if hard == resource.RLIM_INFINITY else min(want, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


_raise_open_files_limit()


# ------------------------------------------------------------------------- mock server


def _mock_command() -> list[str]:
    """``[taskset -c SERVER_CPU] fastrouter mock --port 0``; without taskset, the same CLI
    run by a small Python stub that pins itself first (so it does not inherit our core)."""
    args = ["mock", "--port", "0"]
    taskset = shutil.which("taskset")
    if SERVER_CPU is not None and not taskset:
        stub = (
            f"import os, sys; os.sched_setaffinity(0, {{{SERVER_CPU}}}); "
            "from fastrouter.cli import main; sys.exit(main())"
        )
        return [sys.executable, "-c", stub, *args]
    script = Path(sys.executable).with_name("fastrouter")
    if script.exists():
        command = [str(script), *args]
    else:
        command = [shutil.which("fastrouter") or "fastrouter", *args]
    if SERVER_CPU is not None and taskset:
        command = [taskset, "-c", str(SERVER_CPU), *command]
    return command


def _stream_server_command() -> list[str]:
    """``[taskset -c SERVER_CPU] python benches/stream_server.py --port 0`` (``--cpu`` instead
    of taskset when taskset is missing)."""
    command = [sys.executable, str(STREAM_SERVER), "--port", "0"]
    if SERVER_CPU is None:
        return command
    taskset = shutil.which("taskset")
    if taskset:
        return [taskset, "-c", str(SERVER_CPU), *command]
    return [*command, "--cpu", str(SERVER_CPU)]


def _read_line(proc: subprocess.Popen[str], deadline: float) -> str:
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 0.1)
        if ready:
            return proc.stdout.readline()
        if proc.poll() is not None:
            break
    raise RuntimeError(f"{' '.join(proc.args)!r} did not print its address (exit code {proc.poll()})")  # type: ignore[arg-type]


def _wait_accepting(host: str, port: int, deadline: float) -> None:
    while True:
        try:
            with socket.create_connection((host, port), timeout=1.0):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
    if proc.stdout is not None:
        proc.stdout.close()


def _serve(command: list[str]) -> Iterator[str]:
    """Run ``command`` (a server that prints its base URL first), yield that URL once it
    accepts connections, stop the process afterwards."""
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
    try:
        line = _read_line(proc, time.monotonic() + 30)
        match = re.search(r"(http://\S+)", line)
        if not match:
            raise RuntimeError(f"unexpected output from {' '.join(command)!r}: {line!r}")
        base_url = match.group(1)
        parts = urlsplit(base_url)
        assert parts.hostname is not None and parts.port is not None
        _wait_accepting(parts.hostname, parts.port, time.monotonic() + 30)
        yield base_url
    finally:
        _stop(proc)


@pytest.fixture(scope="session")
def mock_base_url() -> Iterator[str]:
    """Base URL (``.../api/v1``) of a ``fastrouter mock`` process pinned to its own core."""
    yield from _serve(_mock_command())


@pytest.fixture(scope="session")
def stream_base_url() -> Iterator[str]:
    """Base URL of ``benches/stream_server.py`` (a mock whose model ``STREAM_MODEL`` always
    streams 1,000 chunks) in its own process, pinned to the server core."""
    yield from _serve(_stream_server_command())


# ------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Group:
    """How one benchmark group's table reads: what one unit of work is, its rate's
    label, and the target share of the openai SDK's CPU per unit. Groups that measure
    something other than CPU name it in ``metric`` (recorded in ``cpu_us``) and the row
    ratios are taken against ``reference``."""

    unit: str  # "request", "chunk"
    rate: str  # "req/s", "chunks/s"
    target_share: int  # fastrouter must use at most 1/target_share of openai's CPU per unit
    metric: str = ""  # column title; default "CPU µs/<unit>"
    reference: str = REFERENCE
    title: str = ""  # what the table shows; default "client CPU per <unit>"


GROUPS: dict[str, Group] = {
    # Issue 11's targets against the openai SDK (S1 >= 65x, S2 >= 80x).
    "nonstream-64": Group(unit="request", rate="req/s", target_share=65),
    "stream-16x1000": Group(unit="chunk", rate="chunks/s", target_share=80),
    # Peak RSS of a fresh process holding 500 open streams (test_memory.py); "rate" is
    # the memory per open stream, the target is absolute (<= 45 MB, below aiohttp).
    "stream-memory-500": Group(
        unit="process",
        rate="KB per open stream",
        target_share=1,
        metric="peak RSS MB",
        title="peak memory with 500 open streams",
    ),
    # S3 (test_sequential.py): one request at a time, p50 latency; ratios against wrk.
    "sequential": Group(
        unit="request",
        rate="req/s",
        target_share=0,
        metric="p50 latency µs",
        reference="wrk (C, no parsing)",
        title="sequential requests, p50 latency",
    ),
    # S5 (test_import.py): a fresh process importing a client library and building a client.
    "import": Group(
        unit="process",
        rate="CPU ms",
        target_share=0,
        metric="wall ms",
        reference="bare interpreter",
        title="start, import and construct a client",
    ),
    # Ledger (test_ledger.py): in-memory bytes per entry and the cost of recording one.
    "ledger": Group(
        unit="entry",
        rate="µs/record",
        target_share=0,
        metric="bytes/entry",
        reference="UsageLedger (in memory)",
        title="in-memory ledger size and recording cost",
    ),
}


@dataclass
class Result:
    group: str
    client: str
    cpu_us: float  # client CPU µs per unit (request, chunk)
    rate: float  # units per second of wall time
    setup: str  # what one round is, for the note under the table
    rounds: int
    # CPU µs per unit of each measured round, in the order of the cycles that took them
    # (interleaved groups: round i of every client ran in cycle i, seconds apart).
    by_round: tuple[float, ...] = ()


_RESULTS = pytest.StashKey[dict[str, dict[str, Result]]]()


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_RESULTS] = {}


@pytest.fixture
def record_result(request: pytest.FixtureRequest, pytestconfig: pytest.Config) -> Callable[..., None]:
    """``record_result(client=..., cpu_us=..., rate=..., setup=..., rounds=...)`` adds a row
    to the final table of the test's benchmark group (its ``benchmark(group=...)`` mark);
    ``by_round=`` (each round's value, in cycle order) adds the openai ratio cycle by cycle."""
    marker = request.node.get_closest_marker("benchmark")
    group = marker.kwargs.get("group") if marker else None
    if group not in GROUPS:
        raise RuntimeError(f"{request.node.nodeid}: benchmark group {group!r} is not one of {sorted(GROUPS)}")

    def record(**fields: Any) -> None:
        result = Result(group=group, **fields)
        pytestconfig.stash[_RESULTS].setdefault(group, {})[result.client] = result

    return record


def _number(value: float) -> str:
    """Three significant digits at most for small values, whole numbers above 100."""
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _table(group: Group, results: dict[str, Result]) -> str:
    reference = results.get(group.reference)
    metric = group.metric or f"CPU µs/{group.unit}"
    against = "fastrouter" if group.reference == REFERENCE else group.reference
    rows = [
        f"| client | {metric} | {group.rate} | ratio vs {against} |",
        "| --- | ---: | ---: | ---: |",
    ]
    for result in sorted(results.values(), key=lambda r: r.cpu_us):
        ratio = f"{result.cpu_us / reference.cpu_us:.2f}×" if reference and reference.cpu_us else "n/a"
        rate = _number(result.rate) if result.rate < 100 else f"{result.rate:,.0f}"
        rows.append(f"| {result.client} | {_number(result.cpu_us)} | {rate} | {ratio} |")
    return "\n".join(rows)


def _context(group: Group, results: dict[str, Result]) -> str:
    any_result = next(iter(results.values()))
    context = (
        f"{any_result.setup}, median of {any_result.rounds} rounds; {pinning_note()}; "
        f"Python {platform.python_version()}, {platform.system()} {platform.machine()}."
    )
    openai_result = results.get(OPENAI)
    reference = results.get(REFERENCE)
    if openai_result and reference and reference.cpu_us:
        share = openai_result.cpu_us / reference.cpu_us
        metric = group.metric or "CPU"
        context += f" {REFERENCE}: 1/{share:.1f} of the openai SDK's {metric} per {group.unit}"
        context += f" (target: at most 1/{group.target_share})." if group.target_share else "."
        context += _per_cycle(openai_result, reference)
    return context


def _per_cycle(openai_result: Result, reference: Result) -> str:
    """The openai share cycle by cycle: each cycle's openai round over its fastrouter round,
    measured seconds apart. Its spread is what the machine's noise does to one ratio
    within one run (empty unless both rows give the same number of rounds)."""
    if len(openai_result.by_round) < 2 or len(openai_result.by_round) != len(reference.by_round):
        return ""
    pairs = zip(openai_result.by_round, reference.by_round, strict=True)
    shares = sorted(openai_us / fastrouter_us for openai_us, fastrouter_us in pairs)
    return (
        f" Cycle by cycle (the two rounds of each cycle): 1/{shares[0]:.1f} to 1/{shares[-1]:.1f},"
        f" median 1/{statistics.median(shares):.1f}."
    )


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:  # type: ignore[no-untyped-def]
    by_group = config.stash.get(_RESULTS, {})
    if not by_group or config.getoption("benchmark_disable", False):
        return  # nothing measured (CI runs each benchmark once, untimed, to keep it working)
    sections = []
    for name, group in GROUPS.items():  # fixed order, whatever order the tests ran in
        results = by_group.get(name)
        if not results:
            continue
        table = _table(group, results)
        context = _context(group, results)
        title = group.title or f"client CPU per {group.unit}"
        terminalreporter.write_sep("=", f"{name}: {title} (lower is better)")
        terminalreporter.write_line(table)
        terminalreporter.write_line(context)
        sections.append(f"## {name}: {title}\n\n{table}\n\n{context}\n")
    RESULTS_FILE.write_text(
        "# Benchmark results\n\n"
        "Generated by `python -m pytest benches -p no:randomly --benchmark-only -q` "
        f"on {time.strftime('%Y-%m-%d')} (see README.md).\n\n" + "\n".join(sections),
        encoding="utf-8",
    )
    terminalreporter.write_line(f"written to {RESULTS_FILE}")
