"""An async stream's iterator driven the ways a plain ``async for`` does not: by hand
(``__anext__``, ``__await__``, ``send``, ``throw``), a second iterator, ``aclose``, a
second event loop, a stream whose chunks are always ready. Each ends with exactly one
ledger entry."""

from __future__ import annotations

import asyncio
import collections.abc
import contextlib
import gc
import inspect
import itertools
import sys
import threading
import time
import weakref
from collections.abc import Iterator
from typing import Any

import fastrouter
import pytest
from fastrouter import ChatCompletionChunk
from fastrouter.testing import MockServer, Reply, StreamScript
from stream_helpers import joined

MODEL = "a/x"
HI = [{"role": "user", "content": "hi"}]
LONG = "".join(chr(ord("A") + i % 26) for i in range(40))


def slow(delay: float) -> Reply:
    return Reply(LONG, stream=StreamScript(chunks=len(LONG), chunk_delay=delay))


def client_of(server: MockServer) -> fastrouter.AsyncClient:
    return fastrouter.AsyncClient(base_url=server.base_url, api_key="test", max_retries=0)


def statuses(client: fastrouter.AsyncClient) -> list[str]:
    return [entry.status for entry in client.usage.entries]


async def until_closed(server: MockServer, closed_before: int) -> None:
    deadline = time.monotonic() + 10
    while server.connections[1] <= closed_before:
        assert time.monotonic() < deadline, f"the connection stayed open: {server.connections}"
        await asyncio.sleep(0.01)


async def pending_wait(iterator: Any) -> tuple[Any, Any]:
    """Drive ``await iterator.__anext__()`` by hand until it suspends on a wait: the
    awaitable's iterator and the wait's future."""
    while True:
        awaiting = iterator.__anext__().__await__()
        try:
            handed = awaiting.send(None)
        except StopIteration:
            continue  # a chunk was ready
        if handed is None:
            continue  # a turn of the loop
        assert handed._asyncio_future_blocking
        assert not handed.done()
        return awaiting, handed


async def test_the_iterator_ends_once(server: MockServer) -> None:
    server.script(MODEL, slow(0.0))
    async with client_of(server) as client:
        stream = await client.chat.completions.create(model=MODEL, messages=HI, stream=True)
        iterator = stream.__aiter__()
        assert iterator.__aiter__() is iterator
        chunks: list[ChatCompletionChunk] = []
        async for chunk in iterator:
            chunks.append(chunk)
        assert joined(chunks) == LONG
        for _ in range(2):
            with pytest.raises(StopAsyncIteration):
                await iterator.__anext__()
        assert statuses(client) == ["ok"]
        assert stream.completion.choices[0].message.content == LONG


async def test_aclose_leaves_the_stream_open_until_close(server: MockServer) -> None:
    server.script(MODEL, slow(0.02))
    async with client_of(server) as client:
        stream = await client.chat.completions.create(model=MODEL, messages=HI, stream=True)
        closed = server.connections[1]
        iterator = stream.__aiter__()
        await iterator.__anext__()
        assert await iterator.aclose() is None
        with pytest.raises(StopAsyncIteration):
            await iterator.__anext__()
        await asyncio.sleep(0.1)
        assert statuses(client) == []  # still open
        assert server.connections[1] == closed
        await stream.close()
        await until_closed(server, closed)
        assert statuses(client) == ["cancelled"]


async def test_a_second_iterator_reads_on(server: MockServer) -> None:
    server.script(MODEL, slow(0.005))
    async with client_of(server) as client:
        stream = await client.chat.completions.create(model=MODEL, messages=HI, stream=True)
        first: list[ChatCompletionChunk] = []
        async for chunk in stream:
            first.append(chunk)
            if len(first) == 4:
                break
        rest = [chunk async for chunk in stream]
        # The first iterator keeps what is left of the batch it holds.
        assert LONG.startswith(joined(first))
        assert LONG.endswith(joined(rest))
        assert len(joined(first)) + len(joined(rest)) <= len(LONG)
        assert stream.completion.choices[0].message.content == LONG
        assert statuses(client) == ["ok"]


@pytest.mark.parametrize("thrown", [KeyboardInterrupt, asyncio.CancelledError, RuntimeError])
async def test_an_exception_thrown_in_at_the_wait_closes_and_records_the_stream(
    server: MockServer, thrown: type[BaseException]
) -> None:
    server.script(MODEL, slow(0.05))
    async with client_of(server) as client:
        stream = await client.chat.completions.create(model=MODEL, messages=HI, stream=True)
        closed = server.connections[1]
        iterator = stream.__aiter__()
        awaiting, wait = await pending_wait(iterator)
        error = thrown("stop")
        with pytest.raises(thrown) as raised:
            awaiting.throw(error)
        assert raised.value is error
        del wait
        with pytest.raises(StopAsyncIteration):
            await iterator.__anext__()
        await until_closed(server, closed)
        assert statuses(client) == ["stream_error" if thrown is RuntimeError else "cancelled"]


async def test_cancelling_the_task_at_the_wait_cancels_it_and_records_the_stream(server: MockServer) -> None:
    server.script(MODEL, slow(0.05))
    async with client_of(server) as client:
        stream = await client.chat.completions.create(model=MODEL, messages=HI, stream=True)
        closed = server.connections[1]
        iterator = stream.__aiter__()
        while True:
            task = asyncio.ensure_future(iterator.__anext__())
            await asyncio.sleep(0.01)
            waiter = task._fut_waiter  # type: ignore[attr-defined]
            if waiter is not None:
                break
            await task  # a chunk was ready
        assert type(waiter).__name__ == "NativeFuture"
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert waiter.cancelled()
        await until_closed(server, closed)
        assert statuses(client) == ["cancelled"]


async def test_two_iterators_waiting_at_once_both_finish(server: MockServer) -> None:
    """Two `async for` over one stream in two tasks wait at the same time: the second wait
    joins the first (a stream has one waker), and both end when the stream does."""
    server.script(MODEL, slow(0.02))
    async with client_of(server) as client:
        stream = await client.chat.completions.create(model=MODEL, messages=HI, stream=True)

        async def read() -> list[ChatCompletionChunk]:
            return [chunk async for chunk in stream]

        first, second = await asyncio.wait_for(asyncio.gather(read(), read()), timeout=10)
        assert sorted(joined(first) + joined(second)) == sorted(LONG)
        assert statuses(client) == ["ok"]


def test_a_stream_read_on_from_another_loop(server: MockServer) -> None:
    server.script(MODEL, slow(0.005))
    client = client_of(server)

    async def begin() -> tuple[Any, list[ChatCompletionChunk]]:
        stream = await client.chat.completions.create(model=MODEL, messages=HI, stream=True)
        iterator = stream.__aiter__()
        return stream, [await iterator.__anext__() for _ in range(3)]

    async def rest(stream: Any) -> list[ChatCompletionChunk]:
        chunks = [chunk async for chunk in stream]
        await client.close()
        return chunks

    first_loop, second_loop = asyncio.new_event_loop(), asyncio.new_event_loop()
    try:
        stream, first = first_loop.run_until_complete(begin())
        chunks = second_loop.run_until_complete(rest(stream))
    finally:
        first_loop.close()
        second_loop.close()
    assert LONG.startswith(joined(first))
    assert LONG.endswith(joined(chunks))
    assert stream.completion.choices[0].message.content == LONG
    assert statuses(client) == ["ok"]


async def test_a_stream_whose_chunks_are_always_ready_lets_other_tasks_run(server: MockServer) -> None:
    """The consumer is slower than the server, so the stream is seldom empty: the iterator
    still gives the loop a turn (suspends with ``None``) every few ready batches."""
    text = "x" * 3000
    server.script(MODEL, Reply(text, stream=StreamScript(chunks=3000, chunk_delay=0.0)))
    async with client_of(server) as client:
        stream = await client.chat.completions.create(model=MODEL, messages=HI, stream=True)
        iterator = stream.__aiter__()
        chunks: list[ChatCompletionChunk] = []
        turns = 0
        while True:
            awaiting = iterator.__anext__().__await__()
            try:
                handed = awaiting.send(None)
                if handed is None:
                    turns += 1
                else:  # a wait: let the loop finish it
                    while not handed.done():
                        await asyncio.sleep(0.001)
                awaiting.send(None)
            except StopIteration as stop:
                chunks.append(stop.value)
                time.sleep(0.00002)  # slower than the server
            except StopAsyncIteration:
                break
        assert joined(chunks) == text
        assert turns >= 1, "a stream that is never empty must still yield to the loop"
        assert statuses(client) == ["ok"]


@contextlib.contextmanager
def traced() -> Iterator[None]:
    """Trace Python code: CPython 3.11 then completes an ``await`` through the awaitable's
    ``tp_iternext`` (``StopIteration(chunk)``), as 3.12 always does, not its ``am_send``."""

    def tracer(frame: Any, event: str, arg: Any) -> Any:
        return tracer

    before = sys.gettrace()
    sys.settrace(tracer)
    try:
        yield
    finally:
        sys.settrace(before)


@pytest.mark.parametrize("tracing", [False, True], ids=["am_send", "tp_iternext"])
async def test_an_await_completes_with_each_chunk_either_way(server: MockServer, tracing: bool) -> None:
    server.script(MODEL, slow(0.002))
    async with client_of(server) as client:
        stream = await client.chat.completions.create(model=MODEL, messages=HI, stream=True)
        with traced() if tracing else contextlib.nullcontext():
            chunks = [chunk async for chunk in stream]
        assert joined(chunks) == LONG
        assert statuses(client) == ["ok"]


@pytest.mark.parametrize("tracing", [False, True], ids=["am_send", "tp_iternext"])
@pytest.mark.parametrize("stop", [StopIteration, StopAsyncIteration])
async def test_a_stop_raised_by_the_books_is_a_runtime_error(
    server: MockServer, stop: type[Exception], tracing: bool
) -> None:
    """As in an async generator (PEP 479): raised as is, a ``StopIteration`` would complete
    the ``await`` with its value and a ``StopAsyncIteration`` end the loop, as if nothing
    had failed."""
    server.script(MODEL, slow(0.002))
    async with client_of(server) as client:
        stream = await client.chat.completions.create(model=MODEL, messages=HI, stream=True)

        class FailingRecord(list[str]):
            def extend(self, _: Any) -> None:
                raise stop("from the books")

        stream._record = FailingRecord()
        chunks: list[ChatCompletionChunk] = []
        with traced() if tracing else contextlib.nullcontext(), pytest.raises(RuntimeError) as raised:
            async for chunk in stream:
                chunks.append(chunk)
        assert isinstance(raised.value.__cause__, stop)
        assert chunks == []
        assert statuses(client) == ["stream_error"]


async def test_a_second_await_of_a_waiting_iterator_is_refused(server: MockServer) -> None:
    server.script(MODEL, slow(0.05))
    async with client_of(server) as client:
        stream = await client.chat.completions.create(model=MODEL, messages=HI, stream=True)
        iterator = stream.__aiter__()
        awaiting, wait = await pending_wait(iterator)
        with pytest.raises(RuntimeError, match="already being awaited"):
            await iterator.__anext__()
        while not wait.done():
            await asyncio.sleep(0.005)
        with pytest.raises(StopIteration) as completed:
            awaiting.send(None)
        rest = [chunk async for chunk in iterator]
        assert LONG.endswith(joined([completed.value.value, *rest]))
        assert statuses(client) == ["ok"]


async def test_an_aclose_never_awaited_closes_nothing(server: MockServer) -> None:
    server.script(MODEL, slow(0.0))
    async with client_of(server) as client:
        stream = await client.chat.completions.create(model=MODEL, messages=HI, stream=True)
        iterator = stream.__aiter__()
        first = await iterator.__anext__()
        iterator.aclose()  # an async generator's does nothing until awaited
        rest = [chunk async for chunk in iterator]
        assert joined([first, *rest]) == LONG
        assert statuses(client) == ["ok"]


async def test_generator_exit_thrown_in_at_the_wait_leaves_the_stream_open(server: MockServer) -> None:
    """The awaiting coroutine is being closed: as leaving ``async for`` early, the stream
    stays open (a fresh iterator reads on) until ``close()`` or its end."""
    server.script(MODEL, slow(0.05))
    async with client_of(server) as client:
        stream = await client.chat.completions.create(model=MODEL, messages=HI, stream=True)
        awaiting, _ = await pending_wait(stream.__aiter__())
        with pytest.raises(GeneratorExit):
            awaiting.throw(GeneratorExit)
        assert statuses(client) == []
        rest = [chunk async for chunk in stream]
        assert LONG.endswith(joined(rest))
        assert statuses(client) == ["ok"]


async def test_the_iterator_speaks_an_async_generator_s_protocols(server: MockServer) -> None:
    """The iterator is not awaitable (code that awaits whatever is awaitable must not eat
    a chunk); ``anext()`` gives a coroutine a task can run; ``aclose()`` too."""
    server.script(MODEL, slow(0.0))
    async with client_of(server) as client:
        stream = await client.chat.completions.create(model=MODEL, messages=HI, stream=True)
        iterator = stream.__aiter__()
        assert isinstance(iterator, collections.abc.AsyncIterator)
        assert not inspect.isawaitable(iterator)
        first = await asyncio.ensure_future(anext(iterator))
        assert asyncio.iscoroutine(iterator.__anext__())
        rest = [chunk async for chunk in iterator]
        assert joined([first, *rest]) == LONG
        assert await asyncio.create_task(iterator.aclose()) is None
        assert statuses(client) == ["ok"]


# -------------------------------------------------------------- the sync stream's iterator


def sync_client_of(server: MockServer) -> fastrouter.Client:
    return fastrouter.Client(base_url=server.base_url, api_key="test", max_retries=0)


def test_a_sync_iterator_ends_once(server: MockServer) -> None:
    server.script(MODEL, slow(0.0))
    with sync_client_of(server) as client:
        stream = client.chat.completions.create(model=MODEL, messages=HI, stream=True)
        iterator = iter(stream)
        assert iter(iterator) is iterator
        assert joined(list(iterator)) == LONG
        for _ in range(2):
            with pytest.raises(StopIteration):
                next(iterator)
        assert [entry.status for entry in client.usage.entries] == ["ok"]
        assert stream.completion.choices[0].message.content == LONG


def test_a_second_sync_iterator_reads_on(server: MockServer) -> None:
    server.script(MODEL, slow(0.005))
    with sync_client_of(server) as client:
        stream = client.chat.completions.create(model=MODEL, messages=HI, stream=True)
        first: list[ChatCompletionChunk] = []
        for chunk in stream:
            first.append(chunk)
            if len(first) == 4:
                break
        rest = list(stream)
        assert LONG.startswith(joined(first))
        assert LONG.endswith(joined(rest))
        assert len(joined(first)) + len(joined(rest)) <= len(LONG)
        assert stream.completion.choices[0].message.content == LONG
        assert [entry.status for entry in client.usage.entries] == ["ok"]


def test_a_sync_iterator_raises_a_failure_once_and_records_it(server: MockServer) -> None:
    server.script(MODEL, Reply(LONG, stream=StreamScript(chunks=len(LONG), error_after=3, error_status=502)))
    with sync_client_of(server) as client:
        stream = client.chat.completions.create(model=MODEL, messages=HI, stream=True)
        iterator = iter(stream)
        received: list[ChatCompletionChunk] = []
        with pytest.raises(fastrouter.StreamError):
            for chunk in iterator:
                received.append(chunk)
        assert LONG.startswith(joined(received))
        with pytest.raises(StopIteration):
            next(iterator)
        assert [entry.status for entry in client.usage.entries] == ["stream_error"]


def test_a_sync_iterator_s_failing_bookkeeping_stops_the_stream(server: MockServer) -> None:
    """An exception from the record's keeping (the response cache's) ends iteration like
    any failure: the stream closes and records it once."""
    server.script(MODEL, slow(0.005))
    with sync_client_of(server) as client:
        stream = client.chat.completions.create(model=MODEL, messages=HI, stream=True)
        closed = server.connections[1]

        class Broken(list[str]):
            def extend(self, _: Any) -> None:
                raise LookupError("the record is broken")

        stream._record = Broken()
        with pytest.raises(LookupError):
            list(stream)
        deadline = time.monotonic() + 10
        while server.connections[1] <= closed:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert [entry.status for entry in client.usage.entries] == ["stream_error"]


def test_a_spent_sync_iterator_holds_neither_the_stream_nor_its_chunks(server: MockServer) -> None:
    server.script(MODEL, slow(0.0))
    with sync_client_of(server) as client:
        stream = client.chat.completions.create(model=MODEL, messages=HI, stream=True)
        iterator = iter(stream)
        assert joined(list(iterator)) == LONG
        alive = weakref.ref(stream)
        del stream
        gc.collect()
        assert alive() is None  # as a finished generator's frame lets go of it
        with pytest.raises(StopIteration):
            next(iterator)


def test_a_sync_iterator_read_from_a_second_thread_while_one_waits_is_refused(server: MockServer) -> None:
    server.script(MODEL, Reply("abc", stream=StreamScript(chunks=3, chunk_delay=0.4)))
    with sync_client_of(server) as client:
        stream = client.chat.completions.create(model=MODEL, messages=HI, stream=True)
        iterator = iter(stream)
        read: list[ChatCompletionChunk] = []
        reader = threading.Thread(target=lambda: read.extend(iterator))
        reader.start()
        refused = 0
        while reader.is_alive():
            try:
                read.extend(itertools.islice(iterator, 1))
            except ValueError as error:
                assert "already being read" in str(error)
                refused += 1
            time.sleep(0.05)
        reader.join()
        assert refused > 0  # the reader spends nearly all its time waiting for the next chunk
        assert sorted(joined([chunk]) for chunk in read if joined([chunk])) == ["a", "b", "c"]
        assert [entry.status for entry in client.usage.entries] == ["ok"]


def test_a_sync_iterator_s_failing_end_keeps_the_stream_s_error_as_its_context(server: MockServer) -> None:
    server.script(MODEL, slow(0.05))
    with sync_client_of(server) as client:
        stream = client.chat.completions.create(model=MODEL, messages=HI, stream=True)
        iterator = iter(stream)
        next(iterator)

        def failing(*_: Any) -> None:
            raise RuntimeError("the books failed")

        stream._on_finish = failing
        stream._native.close()
        with pytest.raises(RuntimeError) as raised:
            list(iterator)
        assert isinstance(raised.value.__context__, fastrouter.APIError)


def test_a_failing_end_s_own_context_is_kept(server: MockServer) -> None:
    server.script(MODEL, slow(0.05))
    with sync_client_of(server) as client:
        stream = client.chat.completions.create(model=MODEL, messages=HI, stream=True)
        iterator = iter(stream)
        next(iterator)

        def failing(*_: Any) -> None:
            try:
                raise KeyError("inner")
            except KeyError:
                raise RuntimeError("the books failed") from None

        stream._on_finish = failing
        stream._native.close()
        with pytest.raises(RuntimeError) as raised:
            list(iterator)
        assert isinstance(raised.value.__context__, KeyError)  # its own, as Python chained it


def test_a_second_reader_while_the_first_records_a_failure_is_refused(server: MockServer) -> None:
    server.script(MODEL, slow(0.05))
    with sync_client_of(server) as client:
        stream = client.chat.completions.create(model=MODEL, messages=HI, stream=True)
        iterator = iter(stream)
        next(iterator)
        recording = threading.Event()
        second: list[BaseException | str] = []
        finish = stream._on_finish

        def slow_books(*args: Any) -> None:
            recording.set()
            time.sleep(0.5)
            finish(*args)

        def read_meanwhile() -> None:
            recording.wait(10)
            try:
                second.append(f"read {list(itertools.islice(iterator, 1))}")
            except ValueError as error:
                second.append(error)

        reader = threading.Thread(target=read_meanwhile)
        reader.start()
        stream._on_finish = slow_books
        stream._native.close()
        with pytest.raises(fastrouter.APIConnectionError):
            list(iterator)
        reader.join()
        assert len(second) == 1 and isinstance(second[0], ValueError)  # not told the stream ended
        assert [entry.status for entry in client.usage.entries] == ["stream_error"]


async def test_a_waited_for_burst_is_built_chunk_by_chunk(server: MockServer) -> None:
    # The consumer waits, then a burst arrives: its chunks become Python objects as they
    # are handed out, not all at once (a batch of dozens of chunks alive together, ~4
    # objects each, set the cyclic GC running over them: issue 11, S2).
    words = " ".join(["w"] * 1000)
    async with client_of(server) as client:
        for _ in range(2):  # the first stream imports what streams use, the second is measured
            server.script(MODEL, Reply(words, stream=StreamScript(chunks=1000, first_chunk_delay=0.2)))
            stream = await client.chat.completions.create(model=MODEL, messages=HI, stream=True)
            gc.collect()
            gc.disable()
            try:
                base, peak, seen = gc.get_count()[0], 0, []
                async for chunk in stream:
                    peak = max(peak, gc.get_count()[0] - base)
                    seen.append(chunk)
                    seen.clear()  # each chunk dropped as a reader drops it
            finally:
                gc.enable()
        assert peak < 100, peak
        assert statuses(client) == ["ok", "ok"]
