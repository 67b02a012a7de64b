"""Eager requests: a lone call's task first runs on the caller's thread (it writes the
request there), and only where that is safe and pays (see ``src/eager.rs``)."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import fastrouter
import pytest
from fastrouter import _fastrouter
from fastrouter.testing import Fail, MockServer, Reply

MODEL = "openai/gpt-4o-mini"
MESSAGES = [{"role": "user", "content": "hi"}]


def _starts() -> int:
    return _fastrouter._debug_eager_starts()


async def test_a_lone_async_call_runs_eagerly(aclient: fastrouter.AsyncClient) -> None:
    before = _starts()
    reply = await aclient.chat.completions.create(model=MODEL, messages=MESSAGES)
    assert reply.choices[0].message.content
    assert _starts() == before + 1


def test_a_lone_sync_call_runs_eagerly(client: fastrouter.Client) -> None:
    before = _starts()
    reply = client.chat.completions.create(model=MODEL, messages=MESSAGES)
    assert reply.choices[0].message.content
    assert _starts() == before + 1


async def test_calls_made_while_others_are_on_their_way_are_spawned(
    server: MockServer, aclient: fastrouter.AsyncClient
) -> None:
    # The first finds no answer due; the others find it (and each other) on their way.
    server.script("*", *[Reply("slow", delay=0.3)] * 3)
    before = _starts()
    replies = await asyncio.gather(*(aclient.chat.completions.create(model=MODEL, messages=MESSAGES) for _ in range(3)))
    assert [r.choices[0].message.content for r in replies] == ["slow"] * 3
    assert _starts() == before + 1


async def test_streams_are_spawned(aclient: fastrouter.AsyncClient) -> None:
    before = _starts()
    stream = await aclient.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
    async for _ in stream:
        pass
    assert _starts() == before


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_event_hooks_still_run_on_the_io_thread_and_such_calls_are_spawned(kind: str, server: MockServer) -> None:
    # A hook is promised the I/O thread: one that waits on the caller's event loop would
    # stall it if it ran in the caller's first poll.
    server.script(MODEL, Fail(503), Reply("ok"))
    threads: list[str] = []

    def hook(event: Any) -> None:
        threads.append(threading.current_thread().name)

    before = _starts()
    options: dict[str, Any] = {"base_url": server.base_url, "api_key": "k", "max_retries": 1, "on_event": hook}
    if kind == "sync":
        with fastrouter.Client(**options) as client:
            client.chat.completions.create(model=MODEL, messages=MESSAGES)
    else:

        async def main() -> None:
            async with fastrouter.AsyncClient(**options) as aclient:
                await aclient.chat.completions.create(model=MODEL, messages=MESSAGES)

        asyncio.run(main())
    assert threads and threading.main_thread().name not in threads
    assert _starts() == before


def test_https_calls_are_spawned() -> None:
    # Over TLS a connection task writes the request, and gives its connection back to the
    # pool in a task of its own: a next call made on the caller's thread could miss it.
    with MockServer(tls=True) as server:
        with fastrouter.Client(base_url=server.base_url, api_key="k", ca_bundle=server.ca_path) as client:
            before = _starts()
            for _ in range(3):
                client.chat.completions.create(model=MODEL, messages=MESSAGES)
            assert _starts() == before


async def test_a_lone_call_cancelled_while_it_waits_is_dropped_and_recorded_once(
    server: MockServer, aclient: fastrouter.AsyncClient
) -> None:
    server.script(MODEL, Reply("late", delay=30))
    before = _starts()
    task = asyncio.ensure_future(aclient.chat.completions.create(model=MODEL, messages=MESSAGES))
    await asyncio.sleep(0.2)
    assert _starts() == before + 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert [e.status for e in aclient.usage.entries] == ["cancelled"]
    # The connection went with the dropped request: the next call is served.
    reply = await aclient.chat.completions.create(model=MODEL, messages=MESSAGES)
    assert reply.choices[0].message.content
