"""Shared setup of the benchmark suite: CPU pinning, the mock server process, the results table.

The benchmark process runs on one core and the mock server (``fastrouter mock``) on another,
so the client's CPU time is not mixed with the server's. Every benchmark records its own
measurements (see ``record_result``) and the table is printed and written to
``benches/results.md`` at the end of the run.
"""

from __future__ import annotations

import os
import platform
import re
import select
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional
from urllib.parse import urlsplit

import pytest

RESULTS_FILE = Path(__file__).with_name("results.md")
REFERENCE = "fastrouter AsyncClient"
OPENAI = "openai AsyncOpenAI"


# ------------------------------------------------------------------------- CPU pinning


def _allowed_cpus() -> List[int]:
    if not hasattr(os, "sched_getaffinity"):
        return []
    return sorted(os.sched_getaffinity(0))


_CPUS = _allowed_cpus()
CLIENT_CPU: Optional[int] = _CPUS[0] if len(_CPUS) >= 2 else None
SERVER_CPU: Optional[int] = _CPUS[1] if len(_CPUS) >= 2 else None


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


# ------------------------------------------------------------------------- mock server


def _mock_command() -> List[str]:
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


def _spawn_mock() -> subprocess.Popen[str]:
    return subprocess.Popen(_mock_command(), stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)


def _read_line(proc: subprocess.Popen[str], deadline: float) -> str:
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 0.1)
        if ready:
            return proc.stdout.readline()
        if proc.poll() is not None:
            break
    raise RuntimeError(f"`fastrouter mock` did not print its address (exit code {proc.poll()})")


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


@pytest.fixture(scope="session")
def mock_base_url() -> Iterator[str]:
    """Base URL (``.../api/v1``) of a ``fastrouter mock`` process pinned to its own core."""
    proc = _spawn_mock()
    try:
        line = _read_line(proc, time.monotonic() + 30)
        match = re.search(r"(http://\S+)", line)
        if not match:
            raise RuntimeError(f"unexpected output from `fastrouter mock`: {line!r}")
        base_url = match.group(1)
        parts = urlsplit(base_url)
        assert parts.hostname is not None and parts.port is not None
        _wait_accepting(parts.hostname, parts.port, time.monotonic() + 30)
        yield base_url
    finally:
        _stop(proc)


# ------------------------------------------------------------------------- results


@dataclass
class Result:
    client: str
    cpu_us_per_request: float
    requests_per_second: float
    requests: int
    rounds: int


_RESULTS = pytest.StashKey[Dict[str, Result]]()


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_RESULTS] = {}


@pytest.fixture
def record_result(pytestconfig: pytest.Config) -> Callable[..., None]:
    """``record_result(client=..., cpu_us_per_request=..., ...)`` adds a row to the final table."""

    def record(**fields: Any) -> None:
        result = Result(**fields)
        pytestconfig.stash[_RESULTS][result.client] = result

    return record


def _table(results: Dict[str, Result]) -> str:
    reference = results.get(REFERENCE)
    rows = [
        "| client | CPU µs/request | req/s | CPU ratio vs fastrouter |",
        "| --- | ---: | ---: | ---: |",
    ]
    for result in sorted(results.values(), key=lambda r: r.cpu_us_per_request):
        ratio = f"{result.cpu_us_per_request / reference.cpu_us_per_request:.2f}×" if reference else "n/a"
        rows.append(
            f"| {result.client} | {result.cpu_us_per_request:.0f} | {result.requests_per_second:,.0f} | {ratio} |"
        )
    return "\n".join(rows)


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:  # type: ignore[no-untyped-def]
    results = config.stash.get(_RESULTS, {})
    if not results:
        return
    any_result = next(iter(results.values()))
    table = _table(results)
    context = (
        f"{any_result.requests} non-streaming chat requests per round, 64 in flight, median of "
        f"{any_result.rounds} rounds; {pinning_note()}; Python {platform.python_version()}, "
        f"{platform.system()} {platform.machine()}."
    )
    openai_result = results.get(OPENAI)
    reference = results.get(REFERENCE)
    if openai_result and reference:
        share = openai_result.cpu_us_per_request / reference.cpu_us_per_request
        context += f" {REFERENCE} uses 1/{share:.1f} of the openai SDK's CPU per request (target: at most 1/5)."
    terminalreporter.write_sep("=", "nonstream-64: client CPU per request (lower is better)")
    terminalreporter.write_line(table)
    terminalreporter.write_line(context)
    RESULTS_FILE.write_text(
        "# Benchmark results: nonstream-64\n\n"
        "Generated by `python -m pytest benches -p no:randomly --benchmark-only -q` "
        f"on {time.strftime('%Y-%m-%d')} (see README.md).\n\n{table}\n\n{context}\n",
        encoding="utf-8",
    )
    terminalreporter.write_line(f"written to {RESULTS_FILE}")
