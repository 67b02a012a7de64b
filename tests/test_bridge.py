"""The asyncio bridge (``fastrouter._bridge``) and the runtime behind it: the fallback for
event loops without ``add_reader`` (forced here on Linux), and a panicking Rust task
resolving its awaitable (or blocking call) with a typed error instead of hanging."""

from __future__ import annotations

import asyncio
import os
import stat
from decimal import Decimal
from typing import Any

import fastrouter
import pytest
from fastrouter import _bridge, _fastrouter
from fastrouter.testing import Fail, MockServer, Reply

MODEL = "openai/gpt-4o-mini"
USER = [{"role": "user", "content": "hi"}]


class NoReaderLoop(asyncio.SelectorEventLoop):
    """A loop without ``add_reader``, like Windows' proactor loop."""

    def add_reader(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError("no add_reader on this loop")


def run_without_add_reader(main: Any) -> Any:
    loop = NoReaderLoop()
    try:
        return loop.run_until_complete(main())
    finally:
        loop.close()


def test_loops_without_add_reader_fall_back_to_call_soon_threadsafe(server: MockServer) -> None:
    server.script(MODEL, Fail(503), *[Reply(f"answer {i}") for i in range(40)])

    async def main() -> tuple[list[str], list[str], Any]:
        async with fastrouter.AsyncClient(base_url=server.base_url, api_key="test", max_retries=1) as client:
            replies = await asyncio.gather(
                *(client.chat.completions.create(model=MODEL, messages=USER) for _ in range(40))
            )
            stream = await client.chat.completions.create(model=MODEL, messages=USER, stream=True)
            pieces = [chunk.choices[0].delta.content or "" async for chunk in stream if chunk.choices]
            queue = _bridge._queues[asyncio.get_running_loop()]
            return [r.choices[0].message.content or "" for r in replies], pieces, queue.fileno()

    contents, pieces, fileno = run_without_add_reader(main)

    assert fileno is None  # the queue wakes the loop by callback, not by socket
    assert sorted(contents) == sorted(f"answer {i}" for i in range(40))
    assert "".join(pieces)


def test_cancellation_works_on_the_fallback_loop(server: MockServer) -> None:
    server.script(MODEL, Reply("slow", delay=5.0))

    async def main() -> None:
        async with fastrouter.AsyncClient(base_url=server.base_url, api_key="test", max_retries=0) as client:
            task = asyncio.ensure_future(client.chat.completions.create(model=MODEL, messages=USER))
            await asyncio.sleep(0.1)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            server.script(MODEL, Reply("next"))
            reply = await client.chat.completions.create(model=MODEL, messages=USER)
            assert reply.choices[0].message.content == "next"

    run_without_add_reader(main)


async def test_a_panicking_task_raises_a_typed_error_in_its_awaiter() -> None:
    with pytest.raises(fastrouter.APIError) as info:
        await _bridge.awaiting(_fastrouter._debug_spawn_panic)
    assert info.value.kind == "internal"
    assert "panicked" in info.value.message
    # The bridge still works afterwards.
    with pytest.raises(fastrouter.APIError):
        await _bridge.awaiting(_fastrouter._debug_spawn_panic)


def test_a_panicking_task_raises_a_typed_error_on_the_fallback_loop() -> None:
    async def main() -> str:
        with pytest.raises(fastrouter.APIError) as info:
            await _bridge.awaiting(_fastrouter._debug_spawn_panic)
        return info.value.kind

    assert run_without_add_reader(main) == "internal"


def test_a_panicking_task_raises_a_typed_error_in_a_blocking_call() -> None:
    with pytest.raises(fastrouter.APIError) as info:
        _fastrouter._debug_block_on_panic()
    assert info.value.kind == "internal"


def test_the_answer_cost_is_the_cores(server: MockServer, client: fastrouter.Client) -> None:
    server.script(MODEL, Fail(503), Reply("ok", cost=0.0012345))
    reply = client.chat.completions.create(model=MODEL, messages=USER, max_retries=1)
    assert reply.cost == Decimal("0.0012345")
    assert [a.status for a in reply.attempts] == [503, 200]
    assert reply.attempts[-1].cost == reply.cost


def test_the_wake_up_pipe_never_blocks_the_loop() -> None:
    # The loop watches a non-blocking pipe: draining an idle queue (nothing written, or
    # the byte already consumed) returns at once instead of blocking the event loop.
    queue = _fastrouter.CompletionQueue()
    fileno = queue.fileno()
    assert fileno is not None
    assert stat.S_ISFIFO(os.fstat(fileno).st_mode)
    assert not os.get_blocking(fileno)
    queue.drain()
    queue.drain()


def _spy_on_futures(monkeypatch: pytest.MonkeyPatch, on_start: Any = None) -> list[Any]:
    """Record each ``NativeFuture`` a non-streaming ``create()`` awaits (``on_start(future)``
    called before the request's task awaits it)."""
    started: list[Any] = []
    awaiting = _bridge.awaiting

    def spy(start: Any, *args: Any) -> Any:
        future = awaiting(start, *args)
        started.append(future)
        if on_start is not None:
            on_start(future)
        return future

    monkeypatch.setattr("fastrouter.client.awaiting", spy)
    return started


async def test_a_native_future_speaks_asyncio_s_future_protocol(
    server: MockServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.script(MODEL, Reply("one"), Fail(400))
    started = _spy_on_futures(monkeypatch)
    async with fastrouter.AsyncClient(base_url=server.base_url, api_key="test", max_retries=0) as client:
        reply = await client.chat.completions.create(model=MODEL, messages=USER)
        with pytest.raises(fastrouter.BadRequestError):
            await client.chat.completions.create(model=MODEL, messages=USER)
    done, failed = started
    assert reply.choices[0].message.content == "one"
    assert asyncio.isfuture(done) and done.get_loop() is asyncio.get_running_loop()
    assert done.done() and not done.cancelled() and done.exception() is None
    assert isinstance(done.result(), _fastrouter.NativeChat)
    assert not done.cancel()  # already done
    assert isinstance(failed.exception(), fastrouter.BadRequestError)
    with pytest.raises(fastrouter.BadRequestError):
        failed.result()


async def test_cancelling_the_awaiting_task_cancels_the_native_future(
    server: MockServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.script(MODEL, Reply("slow", delay=5.0), Reply("slow too", delay=5.0), Reply("next"))
    started = _spy_on_futures(monkeypatch)
    async with fastrouter.AsyncClient(base_url=server.base_url, api_key="test", max_retries=0) as client:
        task = asyncio.create_task(client.chat.completions.create(model=MODEL, messages=USER))
        await asyncio.sleep(0.1)
        task.cancel("stop")
        with pytest.raises(asyncio.CancelledError):
            await task
        assert started[0].cancelled()
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(client.chat.completions.create(model=MODEL, messages=USER), 0.05)
        assert started[1].cancelled()
        reply = await client.chat.completions.create(model=MODEL, messages=USER)
        assert reply.choices[0].message.content == "next"


def test_a_failing_done_callback_goes_to_the_loop_s_handler_and_an_interrupt_loses_no_waiter(
    server: MockServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.script(MODEL, Reply("first"), Reply("second"))
    raised: list[BaseException] = [ValueError("a callback's bug"), KeyboardInterrupt()]

    def add_raising_callback(future: Any) -> None:
        error = raised.pop(0)

        def callback(_: Any) -> None:
            raise error

        future.add_done_callback(callback)  # before the awaiting task's own wake-up

    _spy_on_futures(monkeypatch, add_raising_callback)
    handled: list[dict[str, Any]] = []
    loop = asyncio.new_event_loop()
    loop.set_exception_handler(lambda _, context: handled.append(context))
    try:
        client = fastrouter.AsyncClient(base_url=server.base_url, api_key="test", max_retries=0)

        async def ask() -> str:
            reply = await client.chat.completions.create(model=MODEL, messages=USER)
            return reply.choices[0].message.content or ""

        assert loop.run_until_complete(ask()) == "first"
        assert [type(context["exception"]) for context in handled] == [ValueError]
        task = loop.create_task(ask())
        with pytest.raises(KeyboardInterrupt):
            loop.run_until_complete(task)
        assert loop.run_until_complete(task) == "second"  # its wake-up was scheduled, not lost
        loop.run_until_complete(client.close())
    finally:
        loop.close()


async def test_a_request_started_and_cancelled_in_one_drain_never_leaves(
    server: MockServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A task resumed by the drain starts its next request (spawned when the drain ends);
    # a later callback of the same drain cancels that task first: the request is dropped
    # before it is sent, and the cancellation still reaches the task.
    server.script(MODEL, Reply("first"), Reply("second"))
    futures: list[Any] = []
    tasks: list[asyncio.Task[Any]] = []

    def cancel_the_asker(future: Any) -> None:
        if len(futures) == 1:  # the first request: a callback after its task's wake-up
            later = asyncio.get_running_loop().call_soon
            later(future.add_done_callback, lambda _: tasks[0].cancel())

    futures = _spy_on_futures(monkeypatch, cancel_the_asker)
    async with fastrouter.AsyncClient(base_url=server.base_url, api_key="test", max_retries=0) as client:

        async def ask_twice() -> None:
            await client.chat.completions.create(model=MODEL, messages=USER)
            await client.chat.completions.create(model=MODEL, messages=USER)

        tasks.append(asyncio.create_task(ask_twice()))
        with pytest.raises(asyncio.CancelledError):
            await tasks[0]
        assert len(futures) == 2 and futures[1].cancelled()
        await asyncio.sleep(0.2)
        assert len(server.requests) == 1
        reply = await client.chat.completions.create(model=MODEL, messages=USER)
        assert reply.choices[0].message.content == "second"
