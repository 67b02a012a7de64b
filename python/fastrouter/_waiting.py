"""One party waiting to be woken from any thread: a thread's event, or an asyncio event
set on its own loop."""

from __future__ import annotations

import asyncio
import threading

__all__ = ["Waiter"]


class Waiter:
    """Made in the waiting thread or coroutine (``loop`` is its running loop, or ``None``
    for a thread); :meth:`wake` may be called from anywhere, any number of times."""

    __slots__ = ("event", "loop")

    def __init__(self, loop: asyncio.AbstractEventLoop | None) -> None:
        self.loop = loop
        self.event: threading.Event | asyncio.Event = asyncio.Event() if loop is not None else threading.Event()

    def wake(self) -> None:
        if self.loop is None:
            self.event.set()
        elif not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self.event.set)

    def wait(self, timeout: float | None) -> None:
        """Block this thread until woken or ``timeout`` (then re-arm)."""
        event = self.event
        assert isinstance(event, threading.Event)
        event.wait(timeout)
        event.clear()

    async def wait_async(self, timeout: float | None) -> None:
        """Await until woken or ``timeout`` (then re-arm)."""
        event = self.event
        assert isinstance(event, asyncio.Event)
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except asyncio.TimeoutError:
            pass
        event.clear()
