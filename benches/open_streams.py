"""Hold N streamed chat completions open at once in a fresh process and print its peak RSS.

Run by ``benches/test_memory.py`` (one fresh process per client, so nothing another client
loaded or freed counts): ``python benches/open_streams.py CLIENT BASE_URL [--streams N]``
with CLIENT one of ``fastrouter``, ``aiohttp``, ``openai``. The process imports the client
library, builds one client, runs one warm-up stream to the end, then opens N streams of
model ``bench/open`` (whose chunks come slowly, so they stay open), reads each one's first
content chunk, and once all N are open and have content it reads the peak RSS
(``VmHWM``), closes them and prints one JSON line: ``peak_rss_mb``, ``base_rss_mb`` (RSS
after the warm-up, before any stream was opened), ``per_stream_kb`` and ``open_s``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

OPEN_MODEL = "bench/open"
MESSAGES = [{"role": "user", "content": "Count slowly."}]
API_KEY = "bench-key"


def _status_kb(field: str) -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


class _Holder:
    """Opens streams and keeps them until told to close (one task per stream)."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.opened = 0
        self.all_open = asyncio.Event()
        self.release = asyncio.Event()

    def one_open(self) -> None:
        self.opened += 1
        if self.opened == self.count:
            self.all_open.set()


async def _fastrouter(base_url: str, holder: _Holder) -> Callable[[], Awaitable[None]]:
    import fastrouter

    client = fastrouter.AsyncClient(base_url=base_url, api_key=API_KEY)

    async def one() -> None:
        stream = await client.chat.completions.create(model=OPEN_MODEL, messages=MESSAGES, stream=True)
        async with stream:
            async for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    break
            holder.one_open()
            await holder.release.wait()

    async def warmup() -> None:
        stream = await client.chat.completions.create(model="bench/stream", messages=MESSAGES, stream=True)
        async with stream:
            async for _ in stream:
                pass

    await warmup()
    return one


async def _aiohttp(base_url: str, holder: _Holder) -> Callable[[], Awaitable[None]]:
    import aiohttp
    import orjson

    session = aiohttp.ClientSession(
        headers={"Authorization": f"Bearer {API_KEY}"},
        connector=aiohttp.TCPConnector(limit=0),
        timeout=aiohttp.ClientTimeout(total=600.0),
    )
    url = f"{base_url}/chat/completions"

    async def read(model: str, stop_at_content: bool) -> None:
        body = {"model": model, "messages": MESSAGES, "stream": True}
        async with session.post(url, json=body) as resp:
            resp.raise_for_status()
            async for line in resp.content:
                if not line.startswith(b"data:"):
                    continue
                data = line[5:].strip()
                if data == b"[DONE]":
                    break
                choices = orjson.loads(data)["choices"]
                if stop_at_content and choices and choices[0]["delta"].get("content"):
                    holder.one_open()
                    await holder.release.wait()
                    return

    async def one() -> None:
        await read(OPEN_MODEL, True)

    await read("bench/stream", False)
    return one


async def _openai(base_url: str, holder: _Holder) -> Callable[[], Awaitable[None]]:
    import openai

    client = openai.AsyncOpenAI(base_url=base_url, api_key=API_KEY, max_retries=0, timeout=600.0)

    async def read(model: str, stop_at_content: bool) -> None:
        stream: Any = await client.chat.completions.create(model=model, messages=MESSAGES, stream=True)  # type: ignore[call-overload]
        async with stream:
            async for chunk in stream:
                if stop_at_content and chunk.choices and chunk.choices[0].delta.content:
                    holder.one_open()
                    await holder.release.wait()
                    return

    async def one() -> None:
        await read(OPEN_MODEL, True)

    await read("bench/stream", False)
    return one


CLIENTS: dict[str, Callable[[str, _Holder], Awaitable[Callable[[], Awaitable[None]]]]] = {
    "fastrouter": _fastrouter,
    "aiohttp": _aiohttp,
    "openai": _openai,
}


async def _run(client: str, base_url: str, count: int) -> dict[str, float]:
    holder = _Holder(count)
    one = await CLIENTS[client](base_url, holder)
    base_kb = _status_kb("VmRSS")
    started = time.perf_counter()
    tasks: list[asyncio.Task[None]] = [asyncio.ensure_future(one()) for _ in range(count)]
    waiter = asyncio.ensure_future(holder.all_open.wait())
    done, _ = await asyncio.wait([waiter, *tasks], return_when=asyncio.FIRST_COMPLETED, timeout=120)
    if waiter not in done:
        failed = [t for t in tasks if t.done() and t.exception() is not None]
        raise RuntimeError(f"only {holder.opened} of {count} streams opened; first failure: {failed[:1]}")
    open_s = time.perf_counter() - started
    peak_kb = _status_kb("VmHWM")
    holder.release.set()
    await asyncio.gather(*tasks)
    return {
        "peak_rss_mb": peak_kb / 1024,
        "base_rss_mb": base_kb / 1024,
        "per_stream_kb": (peak_kb - base_kb) / count,
        "open_s": open_s,
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("client", choices=sorted(CLIENTS))
    parser.add_argument("base_url")
    parser.add_argument("--streams", type=int, default=500)
    args = parser.parse_args(argv)
    result = asyncio.run(_run(args.client, args.base_url, args.streams))
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
