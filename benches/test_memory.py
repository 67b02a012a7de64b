"""stream-memory-500: peak RSS of a fresh client process holding 500 open streams.

Each client runs alone in a new process (``benches/open_streams.py``, pinned to the client
core like this process) against ``benches/stream_server.py`` on the other core: it imports
its library, builds one client, streams one warm-up completion to the end, then opens 500
streams of model ``bench/open`` (a chunk every 0.2 s, so they stay open), reads each one's
first content chunk and, with all 500 open, reads its peak RSS (``VmHWM``). The table
reports that peak and, in the second column, (peak - RSS before the first stream) / 500:
the memory one open stream costs.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

STREAMS = 500
SCRIPT = Path(__file__).with_name("open_streams.py")
CLIENTS = {
    "fastrouter": "fastrouter AsyncClient",
    "aiohttp": "aiohttp + orjson (hand-written)",
    "openai": "openai AsyncOpenAI",
}

pytestmark = [pytest.mark.benchmark(group="stream-memory-500"), pytest.mark.timeout(600)]


def _hold_streams(client: str, base_url: str) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, str(SCRIPT), client, base_url, "--streams", str(STREAMS)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if out.returncode != 0:
        raise AssertionError(f"{client}: exit {out.returncode}\n{out.stderr[-2000:]}")
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.parametrize("client", sorted(CLIENTS))
def test_open_streams_peak_rss(
    benchmark: Any, record_result: Callable[..., None], stream_base_url: str, client: str
) -> None:
    runs = []
    benchmark.pedantic(lambda: runs.append(_hold_streams(client, stream_base_url)), rounds=1, iterations=1)
    result = runs[-1]
    assert result["peak_rss_mb"] > result["base_rss_mb"] > 0
    benchmark.extra_info.update(client=client, streams=STREAMS, **{k: round(v, 2) for k, v in result.items()})
    record_result(
        client=CLIENTS[client],
        cpu_us=result["peak_rss_mb"],
        rate=result["per_stream_kb"],
        setup=(
            f"{STREAMS} concurrent open streams in a fresh process: peak RSS (VmHWM), and "
            "(peak - RSS before the first stream) / 500"
        ),
        rounds=1,
    )
