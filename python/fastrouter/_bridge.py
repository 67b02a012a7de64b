"""Awaiting Rust tasks from asyncio without a thread hop or an extra loop turn per result.

Each event loop gets one native :class:`CompletionQueue`. A Rust task is awaited through
the :class:`NativeFuture` it was started with; when the task finishes, it pushes its
result to the queue and, when the queue was idle, wakes the loop once; the loop then
drains every finished result in one callback, converting them on its own thread and
resuming each awaiting task right there (``asyncio.Future`` would schedule that for the
next turn of the loop). So a burst of 64 finished requests costs one wake-up.

How the loop is woken depends on the loop:

- ``loop.add_reader`` (selector loops on Unix, uvloop): the queue writes one byte to a
  pipe the loop watches. Tokio threads never wait for the GIL. The default.
- no ``add_reader`` (it raises ``NotImplementedError``, e.g. Windows' proactor loop): the
  queue calls ``loop.call_soon_threadsafe(drain)`` from the tokio thread that finished
  first, taking the GIL once per idle-to-busy transition. Chosen automatically; batching
  is the same.
"""

from __future__ import annotations

import os
import weakref
from _thread import get_ident
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ._fastrouter import CompletionQueue, NativeFuture

if TYPE_CHECKING:
    import asyncio

__all__ = ["awaiting", "queue_of", "running_queue"]


def _wake_queue(loop: asyncio.AbstractEventLoop) -> CompletionQueue:
    """A queue that wakes ``loop``: a pipe it watches, else ``call_soon_threadsafe``."""
    try:
        queue = CompletionQueue()
        fileno = queue.fileno()
        if fileno is None:
            raise NotImplementedError("no pipe to watch")
        loop.add_reader(fileno, queue.drain)
        return queue
    except NotImplementedError:
        # No add_reader on this loop (or no pipe on this platform): wake it with
        # call_soon_threadsafe from the completing side instead.
        waker = _CallSoonWaker(loop)
        queue = waker.queue = CompletionQueue(wake=waker.wake)
        return queue


class _CallSoonWaker:
    """``loop.call_soon_threadsafe(queue.drain)``, holding both weakly: the queue keeps its
    waker, and the loop's table of queues must not keep the loop alive."""

    __slots__ = ("_loop", "_queue")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = weakref.ref(loop)
        self._queue: weakref.ref[CompletionQueue] | None = None

    @property
    def queue(self) -> CompletionQueue | None:
        return None if self._queue is None else self._queue()

    @queue.setter
    def queue(self, queue: CompletionQueue) -> None:
        self._queue = weakref.ref(queue)

    def wake(self) -> None:
        loop, queue = self._loop(), self.queue
        if loop is not None and queue is not None:
            loop.call_soon_threadsafe(queue.drain)


_queues: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, CompletionQueue] = weakref.WeakKeyDictionary()
# The last loop used and its queue: most programs run one loop, and a weak-keyed lookup
# (a new weak reference each time) is dear once per request.
_last: tuple[weakref.ref[asyncio.AbstractEventLoop], CompletionQueue] | None = None


def queue_of(loop: asyncio.AbstractEventLoop) -> CompletionQueue:
    """The completion queue of ``loop`` (made on first use)."""
    global _last
    last = _last
    if last is not None and last[0]() is loop:
        return last[1]
    queue = _queues.get(loop)
    if queue is None:
        queue = _queues[loop] = _wake_queue(loop)
    _last = (weakref.ref(loop), queue)
    return queue


# asyncio.get_running_loop, taken on first use (importing asyncio is left to the loop:
# `import fastrouter` and a sync client stay free of its ~10 ms import).
_running_loop: Callable[[], asyncio.AbstractEventLoop] | None = None


def running_queue() -> tuple[CompletionQueue, asyncio.AbstractEventLoop]:
    """The running loop's completion queue and the loop: what a Rust task awaited on this
    loop is started with (:func:`awaiting`, spelled out where it is dear: once per request,
    once per wait of a stream).

    The last loop used is still the running one while it runs in this thread (an asyncio
    loop's ``_thread_id``): asyncio runs one loop per thread at a time (nest_asyncio can
    nest another, so its loops always ask asyncio). Checking that spares
    ``asyncio.get_running_loop()``, which on CPython 3.11 makes a ``getpid()`` system
    call each time (~1 µs on a virtual machine: more than the rest of a stream's wait)."""
    global _running_loop
    last = _last
    if last is not None:
        loop = last[0]()
        if (
            loop is not None
            and getattr(loop, "_thread_id", None) == get_ident()
            and not getattr(loop, "_nest_patched", False)
        ):
            return last[1], loop
    running_loop = _running_loop
    if running_loop is None:
        import asyncio

        running_loop = _running_loop = asyncio.get_running_loop
    loop = running_loop()
    return queue_of(loop), loop


def _forget_last_loop() -> None:
    # A child forked inside a running loop finds it "running" in its own thread too, but
    # asyncio says it has no running loop there: let asyncio decide again.
    global _last
    _last = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_last_loop)


def awaiting(start: Callable[..., NativeFuture], *args: Any) -> NativeFuture:
    """The awaitable of the Rust task that ``start(queue, loop, *args)`` spawns: a
    :class:`NativeFuture` of the running loop. Call it where it is awaited. Cancelling the
    awaiting task cancels the Rust task (and so its request)."""
    queue, loop = running_queue()
    return start(queue, loop, *args)
