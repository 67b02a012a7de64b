"""The asyncio bridge (``fastrouter._bridge``) and the runtime behind it: the fallback for
event loops without ``add_reader`` (forced here on Linux), and a panicking Rust task
resolving its awaitable (or blocking call) with a typed error instead of hanging."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import gc
import os
import stat
import statistics
import sys
import threading
import time
import weakref
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import fastrouter
import pytest
from fastrouter import _bridge, _fastrouter
from fastrouter.testing import Fail, MockServer, Reply, StreamScript

MODEL = "openai/gpt-4o-mini"
OTHER_MODEL = "anthropic/claude-3-haiku"
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


async def _until_sent(server: MockServer, count: int) -> None:
    """Lets the loop run until the server has received ``count`` chat requests (a request
    cancelled before it is sent leaves its scripted outcome to the next one)."""
    deadline = time.monotonic() + 10
    while len(server.chat_requests()) < count:
        assert time.monotonic() < deadline, "the request never reached the server"
        await asyncio.sleep(0.005)


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
            await _until_sent(server, 1)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            server.script(MODEL, Reply("next"))
            reply = await client.chat.completions.create(model=MODEL, messages=USER)
            assert reply.choices[0].message.content == "next"

    run_without_add_reader(main)


@pytest.mark.parametrize("eager", [False, True])
async def test_a_panicking_task_raises_a_typed_error_in_its_awaiter(eager: bool) -> None:
    # `eager`: a request's task, which panics in its first poll, on this thread.
    with pytest.raises(fastrouter.APIError) as info:
        await _bridge.awaiting(_fastrouter._debug_spawn_panic, eager, eager)
    assert info.value.kind == "internal"
    assert "panicked" in info.value.message
    # The bridge still works afterwards.
    with pytest.raises(fastrouter.APIError):
        await _bridge.awaiting(_fastrouter._debug_spawn_panic, eager, eager)


def test_a_panicking_task_raises_a_typed_error_on_the_fallback_loop() -> None:
    async def main() -> str:
        with pytest.raises(fastrouter.APIError) as info:
            await _bridge.awaiting(_fastrouter._debug_spawn_panic)
        return info.value.kind

    assert run_without_add_reader(main) == "internal"


@pytest.mark.parametrize(("when_idle", "eager"), [(False, False), (True, False), (False, True)])
def test_a_panicking_task_raises_a_typed_error_in_a_blocking_call(when_idle: bool, eager: bool) -> None:
    # `when_idle`: the wait of a sync stream's batch (woken once the I/O thread is idle);
    # `eager`: a request's, which panics in its first poll, on this thread.
    before = _fastrouter._debug_eager_starts()
    with pytest.raises(fastrouter.APIError) as info:
        _fastrouter._debug_block_on_panic(when_idle, eager)
    assert info.value.kind == "internal"
    assert _fastrouter._debug_eager_starts() == before + eager  # it did run on this thread


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
    called before the request's task awaits it), from clients built after this call."""
    started: list[Any] = []
    native_client = fastrouter._fastrouter.NativeClient

    class Spied:
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            self._native = native_client(*args, **kwargs)

        def __getattr__(self, name: str) -> Any:
            return getattr(self._native, name)

        def chat(self, *args: Any) -> Any:
            return self._started(self._native.chat(*args))

        def chat_usual(self, *args: Any) -> Any:
            return self._started(self._native.chat_usual(*args))

        def _started(self, future: Any) -> Any:
            started.append(future)
            if on_start is not None:
                on_start(future)
            return future

    monkeypatch.setattr("fastrouter._fastrouter.NativeClient", Spied)
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
    server.script(MODEL, Reply("slow", delay=5.0), Reply("slow too", delay=5.0))
    started = _spy_on_futures(monkeypatch)
    async with fastrouter.AsyncClient(base_url=server.base_url, api_key="test", max_retries=0) as client:
        task = asyncio.create_task(client.chat.completions.create(model=MODEL, messages=USER))
        await _until_sent(server, 1)
        task.cancel("stop")
        with pytest.raises(asyncio.CancelledError):
            await task
        assert started[0].cancelled()
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(client.chat.completions.create(model=MODEL, messages=USER), 0.05)
        assert started[1].cancelled()
        # Cancelled after 50 ms, the second may not have reached the server: drop its
        # outcome if it is still queued, so the next request gets "next" either way.
        server.reset()
        server.script(MODEL, Reply("next"))
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


async def test_a_request_started_and_cancelled_in_one_drain_cancels_its_task(
    server: MockServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A task resumed by the drain starts its next request; a later callback of the same
    # drain cancels that task: the cancellation reaches the task and its future.
    server.script(MODEL, Reply("first"), Reply("second", delay=0.5))
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
        # Sent or not (it left at once, then was cancelled), the client goes on working.
        server.script(OTHER_MODEL, Reply("next"))
        reply = await client.chat.completions.create(model=OTHER_MODEL, messages=USER)
        assert reply.choices[0].message.content == "next"


async def test_a_request_started_inside_the_drain_leaves_before_the_drain_returns(
    server: MockServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A resumed task that blocks (CPU work, or a nested loop waiting for its answer, as
    # nest_asyncio or a sync wrapper does) must not hold back the request it started.
    server.script(MODEL, Reply("first"), Reply("second"))
    started: list[Any] = []
    seen_while_blocked: list[int] = []

    def start_another_and_block(_: Any) -> None:
        started.append(client.chat.completions.create(model=MODEL, messages=USER))
        started[-1].send(None)  # runs until it awaits its request's future
        deadline = time.monotonic() + 10.0
        while len(server.requests) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        seen_while_blocked.append(len(server.requests))

    def on_start(future: Any) -> None:
        if not started:
            future.add_done_callback(start_another_and_block)  # runs inside the drain

    _spy_on_futures(monkeypatch, on_start)
    async with fastrouter.AsyncClient(base_url=server.base_url, api_key="test", max_retries=0) as client:
        reply = await client.chat.completions.create(model=MODEL, messages=USER)
        assert reply.choices[0].message.content == "first"
        assert seen_while_blocked == [2]
        started[0].close()


def _finished_together(loop: asyncio.AbstractEventLoop, count: int) -> list[Any]:
    """``count`` native futures whose tasks all finish before the loop drains any of them."""
    futures = [_bridge.awaiting(_fastrouter._debug_spawn_panic) for _ in range(count)]
    time.sleep(0.3)  # the loop thread is busy: every task finishes, one drain takes them all
    return futures


async def test_a_drain_resumes_every_waiter_inline_and_schedules_nothing() -> None:
    loop = asyncio.get_running_loop()
    futures = _finished_together(loop, 3)
    ready_when_resumed: list[int] = []
    for future in futures:
        future.add_done_callback(lambda _: ready_when_resumed.append(len(loop._ready)))  # type: ignore[attr-defined]
    await asyncio.sleep(0.1)  # the loop drains the three (its task sleeps on a timer)
    # Each ran inside the one drain with nothing queued on the loop; scheduled with
    # call_soon (as asyncio.Future does), they would have seen their followers queued.
    assert ready_when_resumed == [0, 0, 0]
    assert all(isinstance(future.exception(), fastrouter.APIError) for future in futures)


NESTED_LOOP_SCRIPT = """
import asyncio, sys
import nest_asyncio
import fastrouter
from fastrouter.testing import MockServer, Reply

MODEL = "openai/gpt-4o-mini"
USER = [{"role": "user", "content": "hi"}]

def sync_wrapper(coro):  # a sync helper around async code, as run in Jupyter
    return asyncio.get_event_loop().run_until_complete(asyncio.wait_for(coro, 5))

async def main(server):
    async with fastrouter.AsyncClient(base_url=server.base_url, api_key="k", max_retries=0) as c:
        server.script(MODEL, Reply("one"), Reply("two"))
        await c.chat.completions.create(model=MODEL, messages=USER)
        # This task was resumed by a drain: the loop runs again inside it.
        print(sync_wrapper(c.chat.completions.create(model=MODEL, messages=USER)).choices[0].message.content)
        server.script(MODEL, Reply("a", delay=0.3), Reply("b", delay=0.3))
        async def waits_for_its_sibling(sibling):
            await c.chat.completions.create(model=MODEL, messages=USER)
            return sync_wrapper(asyncio.shield(sibling))
        sibling = asyncio.ensure_future(c.chat.completions.create(model=MODEL, messages=USER))
        answer = await asyncio.create_task(waits_for_its_sibling(sibling))
        print(answer.choices[0].message.content in ("a", "b"))

nest_asyncio.apply()
with MockServer() as server:
    asyncio.run(main(server))
"""


def test_a_loop_run_again_inside_a_resumed_task_works_under_nest_asyncio() -> None:
    # nest_asyncio (a sync wrapper in Jupyter) runs the loop again from inside a task; such
    # loops get their wake-ups scheduled, so the drain's reader is never re-entered and the
    # siblings a drain finished are resumed by the inner loop. In a subprocess: nest_asyncio
    # patches asyncio for the whole process.
    pytest.importorskip("nest_asyncio")
    import subprocess

    done = subprocess.run(
        [sys.executable, "-c", NESTED_LOOP_SCRIPT], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["two", "True"]


async def test_removing_a_done_callback_keeps_the_list_when_a_comparison_raises() -> None:
    future = _bridge.awaiting(_fastrouter._debug_spawn_panic)
    called: list[str] = []

    def callback(_: Any) -> None:
        called.append("callback")

    class Incomparable:
        def __eq__(self, other: object) -> bool:
            raise ValueError("no comparison")

        __hash__ = object.__hash__

    future.add_done_callback(callback)
    with pytest.raises(ValueError, match="no comparison"):
        future.remove_done_callback(Incomparable())
    with pytest.raises(fastrouter.APIError):
        await future
    await asyncio.sleep(0)
    assert called == ["callback"]
    assert future.remove_done_callback(callback) == 0  # ran: no longer listed


_VAR: contextvars.ContextVar[str] = contextvars.ContextVar("test_bridge_var", default="unset")


async def test_a_done_callback_without_context_runs_in_a_copy_of_the_adder_s_context() -> None:
    future = _bridge.awaiting(_fastrouter._debug_spawn_panic)
    seen: list[str] = []
    adder = contextvars.copy_context()
    adder.run(_VAR.set, "at add time")
    adder.run(future.add_done_callback, lambda _: seen.append(_VAR.get()))
    adder.run(_VAR.set, "changed after")  # asyncio copies the context when adding
    with pytest.raises(fastrouter.APIError):
        await future
    await asyncio.sleep(0)
    assert seen == ["at add time"]


async def test_a_native_future_in_a_cycle_through_its_error_or_cancel_message_is_collected() -> None:
    class Held:
        future: Any = None

    failed = _bridge.awaiting(_fastrouter._debug_spawn_panic)
    with contextlib.suppress(fastrouter.APIError):
        await failed
    error_held, message = Held(), Held()
    failed.exception().held = error_held  # the error holds its future, which holds the error
    error_held.future = failed
    cancelled = _bridge.awaiting(_fastrouter._debug_spawn_panic)
    # Cancelled after its task ended (the queue drops its reference under the GIL; an
    # aborted task's reference is released whenever PyO3 next takes the GIL).
    time.sleep(0.3)
    cancelled.cancel(message)
    message.future = cancelled
    refs = [weakref.ref(error_held), weakref.ref(message)]
    del failed, cancelled, error_held, message
    # The drain drops the queue's reference (an aborted task's, the next time PyO3 takes
    # the GIL): collect until both are gone, with a generous deadline.
    deadline = time.monotonic() + 10
    while True:
        await asyncio.sleep(0.05)
        gc.collect()
        if [ref() for ref in refs] == [None, None] or time.monotonic() > deadline:
            break
    assert [ref() for ref in refs] == [None, None]


def test_an_interrupt_in_a_done_callback_survives_a_loop_that_refuses_the_rest(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    unraisable: list[Any] = []
    monkeypatch.setattr(sys, "unraisablehook", unraisable.append)

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("Event loop is closed")

    loop = asyncio.new_event_loop()
    try:

        async def main() -> None:
            future = _bridge.awaiting(_fastrouter._debug_spawn_panic)

            def interrupt(_: Any) -> None:
                loop.call_soon = refuse  # type: ignore[method-assign]
                raise KeyboardInterrupt

            future.add_done_callback(interrupt)
            future.add_done_callback(lambda _: None)  # left over: scheduling it fails
            await asyncio.sleep(0.5)

        task = loop.create_task(main())
        with pytest.raises(KeyboardInterrupt):
            loop.run_until_complete(task)
        del loop.call_soon  # type: ignore[method-assign]
        loop.run_until_complete(task)
    finally:
        loop.close()
    assert [type(report.exc_value) for report in unraisable] == [RuntimeError]


def _arrived_as_sent(gaps: list[float]) -> None:
    """Chunks sent 50 ms apart arrived one by one, about that far apart: not held and
    handed over together. One late wake-up of a loaded machine may bunch two of them."""
    assert 0.03 < statistics.median(gaps) < 0.15, [round(gap * 1000) for gap in gaps]
    assert max(gaps) < 0.3, [round(gap * 1000) for gap in gaps]


async def test_a_streams_batches_reach_the_loop_as_they_come_when_reported_on_idle(server: MockServer) -> None:
    # A stream's next batch wakes the loop when the I/O thread runs out of work: chunks
    # sent 50 ms apart still arrive one by one, about 50 ms apart, and a request
    # answered meanwhile (reported at once) is not held back by them.
    words = " ".join(f"w{i}" for i in range(6))
    server.script("a/slow", Reply(words, stream=StreamScript(chunk_delay=0.05)))
    server.script("a/slow", Reply(words, stream=StreamScript(chunk_delay=0.05)))
    messages = [{"role": "user", "content": "hi"}]
    async with fastrouter.AsyncClient(base_url=server.base_url, api_key="k") as client:
        loop = asyncio.get_running_loop()

        async def arrivals() -> list[float]:
            times = []
            stream = await client.chat.completions.create(model="a/slow", messages=messages, stream=True)
            async with stream:
                async for chunk in stream:
                    if chunk.choices and chunk.choices[0].delta.content:
                        times.append(loop.time())
            return times

        first, second, answer = await asyncio.gather(
            arrivals(),
            arrivals(),
            client.chat.completions.create(model="openai/gpt-4o-mini", messages=messages),
        )
    assert answer.choices[0].message.content
    for times in (first, second):
        assert len(times) == 6
        gaps = [later - earlier for earlier, later in zip(times, times[1:], strict=False)]
        _arrived_as_sent(gaps)


async def test_a_streams_batches_reach_the_loop_while_the_io_thread_stays_busy(server: MockServer) -> None:
    # A task that only yields keeps the I/O thread from ever running out of work (it never
    # parks): a stream's batches must still reach the loop as they come, 50 ms apart.
    words = " ".join(f"w{i}" for i in range(12))
    server.script("a/slow", Reply(words, stream=StreamScript(chunk_delay=0.05)))
    messages = [{"role": "user", "content": "hi"}]
    async with fastrouter.AsyncClient(base_url=server.base_url, api_key="k") as client:
        loop = asyncio.get_running_loop()
        stream = await client.chat.completions.create(model="a/slow", messages=messages, stream=True)
        _fastrouter._debug_keep_busy(1500)
        times = []
        async with stream:
            async for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    times.append(loop.time())
    assert len(times) == 12
    gaps = [later - earlier for earlier, later in zip(times, times[1:], strict=False)]
    _arrived_as_sent(gaps[1:])


async def _until_no_busy_spell() -> None:
    """Lets the loop run until no ``_debug_keep_busy`` spell (this test's or an earlier
    one's) keeps the I/O thread from running out of work."""
    deadline = time.monotonic() + 10
    while _fastrouter._debug_busy_spells():
        assert time.monotonic() < deadline, "a busy spell never ended"
        await asyncio.sleep(0.01)


def _answers() -> tuple[int, int, int]:
    """The running loop's answers ``(due, reported at once, deferred)``."""
    queue, _ = _bridge.running_queue()
    return queue._debug_answers()


async def test_answers_in_a_burst_wake_the_loop_once_the_io_thread_is_done_and_a_lone_one_at_once(
    server: MockServer,
) -> None:
    # The only answer due wakes the loop at once; answers that land together while
    # another of the loop's requests is on its way wait for the I/O thread to run out of
    # work, and one that lands alone does not. A task that only yields keeps that thread
    # from ever parking: a burst's answers must still come at once, not when the busy
    # spell or the slow request ends.
    server.script("a/slow", Reply("slow", delay=3))
    await _until_no_busy_spell()
    async with fastrouter.AsyncClient(base_url=server.base_url, api_key="k", max_retries=0) as client:
        create = client.chat.completions.create
        await create(model=MODEL, messages=USER)
        due, at_once, deferred = _answers()
        assert (due, deferred) == (0, 0) and at_once >= 1
        slow = asyncio.ensure_future(create(model="a/slow", messages=USER))
        await _until_sent(server, 2)
        assert _answers()[0] == 1
        _fastrouter._debug_keep_busy(600)
        took = []
        for _ in range(3):
            started = time.monotonic()
            replies = await asyncio.gather(*(create(model=MODEL, messages=USER) for _ in range(8)))
            took.append(time.monotonic() - started)
            assert all(reply.choices[0].message.content for reply in replies)
        assert max(took) < 0.3, [round(t * 1000) for t in took]
        due, _, deferred = _answers()
        assert due == 1 and deferred >= 3
        # Once the busy spell is over, an answer alone in its pass (the one before it
        # alone in its own) wakes the loop at once though the slow one is still due.
        await _until_no_busy_spell()
        await create(model=MODEL, messages=USER)
        due, at_once, deferred = _answers()
        await create(model=MODEL, messages=USER)
        assert _answers() == (1, at_once + 1, deferred)
        assert not slow.done()
        assert (await slow).choices[0].message.content == "slow"
        assert _answers()[0] == 0


async def test_every_answer_due_is_counted_out_by_answers_errors_panics_and_cancellations(
    server: MockServer,
) -> None:
    # The count that decides how an answer wakes the loop goes back to zero whichever
    # way a request ends: answered, failed, panicked, or cancelled while its task runs
    # (aborted, it never completes).
    server.script(MODEL, *[Reply(f"answer {i}") if i % 3 else Fail(400) for i in range(24)])
    server.script("a/slow", *[Reply("never", delay=30) for _ in range(8)])
    async with fastrouter.AsyncClient(base_url=server.base_url, api_key="k", max_retries=0) as client:
        create = client.chat.completions.create
        slow = [asyncio.ensure_future(create(model="a/slow", messages=USER)) for _ in range(8)]
        outcomes = await asyncio.gather(
            *(create(model=MODEL, messages=USER) for _ in range(24)),
            *(_bridge.awaiting(_fastrouter._debug_spawn_panic, True) for _ in range(4)),
            return_exceptions=True,
        )
        assert sum(isinstance(o, fastrouter.BadRequestError) for o in outcomes) == 8
        assert sum(type(o) is fastrouter.APIError for o in outcomes) == 4
        await _until_sent(server, 32)
        assert _answers()[0] == 8
        for task in slow:
            task.cancel()
        await asyncio.gather(*slow, return_exceptions=True)
        deadline = time.monotonic() + 5  # the replies would take 30 s
        while _answers()[0]:  # the aborted tasks count out on the I/O thread
            assert time.monotonic() < deadline, _answers()
            await asyncio.sleep(0.005)
        reply = await create(model=MODEL, messages=USER)
        assert reply.choices[0].message.content


def test_a_blocking_streams_batches_reach_its_thread_as_they_come_when_reported_on_idle(server: MockServer) -> None:
    # The sync Client's wait for a batch is woken like the loop (when the I/O thread runs
    # out of work): chunks sent 50 ms apart still arrive one by one, about 50 ms apart,
    # with a second stream and a request running alongside.
    words = " ".join(f"w{i}" for i in range(6))
    server.script("a/slow", Reply(words, stream=StreamScript(chunk_delay=0.05)))
    server.script("a/slow", Reply(words, stream=StreamScript(chunk_delay=0.05)))
    messages = [{"role": "user", "content": "hi"}]
    with fastrouter.Client(base_url=server.base_url, api_key="k") as client:

        def arrivals() -> list[float]:
            times = []
            with client.chat.completions.create(model="a/slow", messages=messages, stream=True) as stream:
                for chunk in stream:
                    if chunk.choices and chunk.choices[0].delta.content:
                        times.append(time.monotonic())
            return times

        with ThreadPoolExecutor(3) as pool:
            first, second = pool.submit(arrivals), pool.submit(arrivals)
            answer = pool.submit(client.chat.completions.create, model="openai/gpt-4o-mini", messages=messages)
            runs = [first.result(), second.result()]
            assert answer.result().choices[0].message.content
    for times in runs:
        assert len(times) == 6
        gaps = [later - earlier for earlier, later in zip(times, times[1:], strict=False)]
        _arrived_as_sent(gaps)


def test_a_blocking_streams_batches_reach_its_thread_while_the_io_thread_stays_busy(server: MockServer) -> None:
    # The I/O thread never parks (a task that only yields): a blocked thread's batches
    # still come as sent, 50 ms apart (the deferred wake-up ends after one pass).
    words = " ".join(f"w{i}" for i in range(12))
    server.script("a/slow", Reply(words, stream=StreamScript(chunk_delay=0.05)))
    messages = [{"role": "user", "content": "hi"}]
    with fastrouter.Client(base_url=server.base_url, api_key="k") as client:
        stream = client.chat.completions.create(model="a/slow", messages=messages, stream=True)
        _fastrouter._debug_keep_busy(1500)
        times = []
        with stream:
            for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    times.append(time.monotonic())
    assert len(times) == 12
    gaps = [later - earlier for earlier, later in zip(times, times[1:], strict=False)]
    _arrived_as_sent(gaps[1:])


# -- the running loop without asyncio.get_running_loop() (its getpid() costs ~1 µs on 3.11)


def _queue_and_loop() -> tuple[Any, asyncio.AbstractEventLoop]:
    return _bridge.running_queue()


def test_the_running_loop_is_the_one_running_in_this_thread_whichever_was_used_last() -> None:
    first = asyncio.new_event_loop()
    other_ready, other_done = threading.Event(), threading.Event()
    seen: dict[str, Any] = {}

    def other_thread() -> None:
        async def run() -> None:
            seen["other"] = _queue_and_loop()
            other_ready.set()
            await asyncio.get_running_loop().run_in_executor(None, other_done.wait)

        asyncio.run(run())

    async def main() -> None:
        seen["first"] = _queue_and_loop()
        thread = threading.Thread(target=other_thread)
        thread.start()
        other_ready.wait(5)
        # The other thread's loop was used last and is running, but not in this thread.
        seen["first again"] = _queue_and_loop()
        other_done.set()
        thread.join(5)

    try:
        first.run_until_complete(main())
    finally:
        first.close()
    assert seen["first"] == (_bridge.queue_of(first), first)
    assert seen["first again"] == seen["first"]
    other_queue, other_loop = seen["other"]
    assert other_loop is not first and other_queue is not seen["first"][0]

    # The last loop stopped: a new one in the same thread is found, and none outside one.
    async def current() -> tuple[Any, asyncio.AbstractEventLoop]:
        return _queue_and_loop()

    second = asyncio.new_event_loop()
    try:
        queue, loop = second.run_until_complete(current())
    finally:
        second.close()
    assert loop is second and queue is _bridge.queue_of(second)
    with pytest.raises(RuntimeError, match="no running event loop"):
        _queue_and_loop()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_child_forked_inside_a_running_loop_has_no_running_loop_as_asyncio_says() -> None:
    async def fork_here() -> tuple[int, str]:
        _queue_and_loop()  # the loop is the last one used
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: report what running_queue says, then leave at once
            try:
                _queue_and_loop()
                verdict = b"found a loop"
            except RuntimeError as error:
                verdict = str(error).encode()
            os.write(write, verdict)
            os._exit(0)
        os.close(write)
        with os.fdopen(read, "rb") as pipe:
            verdict = pipe.read().decode()
        _, status = os.waitpid(pid, 0)
        return status, verdict

    status, verdict = asyncio.run(fork_here())
    assert status == 0
    assert verdict == "no running event loop"


NESTED_OTHER_LOOP_SCRIPT = """
import asyncio
import nest_asyncio
from fastrouter import _bridge

async def inner():
    return _bridge.running_queue()[1]

async def outer():
    assert _bridge.running_queue()[1] is outer_loop
    inner_loop = asyncio.new_event_loop()
    nest_asyncio.apply(inner_loop)
    found = inner_loop.run_until_complete(inner())  # a second loop runs inside this one
    print(found is inner_loop, _bridge.running_queue()[1] is outer_loop)

outer_loop = asyncio.new_event_loop()
nest_asyncio.apply(outer_loop)
outer_loop.run_until_complete(outer())
"""


def test_under_nest_asyncio_a_loop_nested_in_another_is_the_running_one() -> None:
    # Both loops then say they run in this thread: nest_asyncio's loops ask asyncio.
    pytest.importorskip("nest_asyncio")
    import subprocess

    done = subprocess.run(
        [sys.executable, "-c", NESTED_OTHER_LOOP_SCRIPT], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "True"]
