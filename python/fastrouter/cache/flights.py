"""Requests in flight by cache key, so identical requests made at once are sent once: the
first leads, the others wait for it to land and then read its answer from the cache."""

from __future__ import annotations

import asyncio
import threading
from time import monotonic

from .._waiting import Waiter

__all__ = ["Flights"]


class Flights:
    """Leaders by key, each with the requests waiting on it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: dict[bytes, list[Waiter]] = {}

    def lead(self, key: bytes) -> bool:
        """True when no identical request is in flight: the caller leads (and must
        :meth:`land`)."""
        with self._lock:
            if key in self._open:
                return False
            self._open[key] = []
            return True

    def _join(self, key: bytes, waiter: Waiter) -> bool:
        with self._lock:
            waiters = self._open.get(key)
            if waiters is None:
                return False  # landed already
            waiters.append(waiter)
            return True

    def follow(self, key: bytes, deadline: float | None) -> None:
        """Block until the leader of ``key`` lands (or the deadline)."""
        waiter = Waiter(None)
        if self._join(key, waiter):
            waiter.wait(None if deadline is None else max(deadline - monotonic(), 0.0))

    async def follow_async(self, key: bytes, deadline: float | None) -> None:
        """Await the leader of ``key`` landing (or the deadline)."""
        waiter = Waiter(asyncio.get_running_loop())
        if self._join(key, waiter):
            await waiter.wait_async(None if deadline is None else max(deadline - monotonic(), 0.0))

    def land(self, key: bytes) -> None:
        """The leader is done (its answer stored, or not): wake its followers."""
        with self._lock:
            waiters = self._open.pop(key, [])
        for waiter in waiters:
            waiter.wake()
