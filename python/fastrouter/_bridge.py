"""Awaiting Rust tasks from asyncio without a thread hop per result.

Each event loop gets one native :class:`CompletionQueue`. Rust tasks push their results to
it and, when it was idle, wake the loop once; the loop then drains every finished result
in one callback, converting them on its own thread. So a burst of 64 finished requests
costs one wake-up.

How the loop is woken depends on the loop:

- ``loop.add_reader`` (selector loops on Unix, uvloop): the queue writes one byte to a
  pipe the loop watches. Tokio threads never wait for the GIL. The default.
- no ``add_reader`` (it raises ``NotImplementedError``, e.g. Windows' proactor loop): the
  queue calls ``loop.call_soon_threadsafe(drain)`` from the tokio thread that finished
  first, taking the GIL once per idle-to-busy transition. Chosen automatically; batching
  is the same.
"""

from __future__ import annotations

import functools
import itertools
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ._fastrouter import CompletionQueue, NativeFuture, TaskHandle

if TYPE_CHECKING:
    import asyncio

__all__ = ["awaiting", "run"]


class _LoopQueue:
    """The completion queue of one event loop and the futures waiting on it."""

    __slots__ = ("native", "futures", "next_id", "__weakref__")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.futures: dict[int, asyncio.Future[Any]] = {}
        self.next_id = itertools.count(1).__next__
        try:
            self.native = CompletionQueue()
            fileno = self.native.fileno()
            if fileno is None:
                raise NotImplementedError("no pipe to watch")
            loop.add_reader(fileno, self._drain)
        except NotImplementedError:
            # No add_reader on this loop (or no pipe on this platform): wake it
            # with call_soon_threadsafe from the completing side instead.
            self.native = CompletionQueue(wake=functools.partial(loop.call_soon_threadsafe, self._drain))

    def submit(
        self, loop: asyncio.AbstractEventLoop, start: Callable[..., TaskHandle], *args: Any
    ) -> tuple[asyncio.Future[Any], int, TaskHandle]:
        """Start the Rust task ``start(native queue, id, *args)`` for ``loop`` (this queue's;
        not kept here: the queue lives as long as its loop, in a weak-keyed table): the
        future its result will complete, its id and its handle (see :meth:`forget`)."""
        task_id = self.next_id()
        future = loop.create_future()
        self.futures[task_id] = future
        try:
            handle = start(self.native, task_id, *args)
        except BaseException:
            del self.futures[task_id]
            raise
        return future, task_id, handle

    def forget(self, task_id: int, handle: TaskHandle) -> None:
        """The awaiting side was cancelled: cancel the Rust task (and so its request)."""
        handle.cancel()
        self.futures.pop(task_id, None)

    def _drain(self) -> None:
        futures = self.futures
        for task_id, ok, value in self.native.drain():
            future = futures.pop(task_id, None)
            if future is None or future.done():
                continue
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)


_queues: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopQueue] = weakref.WeakKeyDictionary()
# The last loop used and its queue: most programs run one loop, and a weak-keyed lookup
# (a new weak reference each time) is dear once per request.
_last: tuple[weakref.ref[asyncio.AbstractEventLoop], _LoopQueue] | None = None


def _queue_of(loop: asyncio.AbstractEventLoop) -> _LoopQueue:
    global _last
    last = _last
    if last is not None and last[0]() is loop:
        return last[1]
    queue = _queues.get(loop)
    if queue is None:
        queue = _queues[loop] = _LoopQueue(loop)
    _last = (weakref.ref(loop), queue)
    return queue


# asyncio.get_running_loop, taken on first use (importing asyncio is left to the loop).
_running_loop: Callable[[], asyncio.AbstractEventLoop] | None = None


def awaiting(start: Callable[..., NativeFuture], *args: Any) -> NativeFuture:
    """The awaitable of the Rust task that ``start(queue, loop, *args)`` spawns (a
    :class:`NativeFuture`: the queue's drain finishes it and resumes the awaiting task at
    once). Call it where it is awaited. Cancelling the awaiting task cancels the Rust task."""
    global _running_loop
    running_loop = _running_loop
    if running_loop is None:
        import asyncio

        running_loop = _running_loop = asyncio.get_running_loop
    loop = running_loop()
    return start(_queue_of(loop).native, loop, *args)


async def run(start: Callable[..., TaskHandle], *args: Any) -> Any:
    """``await`` the Rust task that ``start(queue, id, *args)`` spawns. Cancelling the
    awaiting task cancels the Rust task (and so its request)."""
    # Imported here, not at the top: `import fastrouter` (and a sync client) stay free of
    # asyncio's ~10 ms import; inside a running loop it is already loaded.
    import asyncio

    loop = asyncio.get_running_loop()
    queue = _queue_of(loop)
    future, task_id, handle = queue.submit(loop, start, *args)
    try:
        return await future
    except asyncio.CancelledError:
        queue.forget(task_id, handle)
        raise
