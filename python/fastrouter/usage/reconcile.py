"""Reconciliation: filling a ledger entry's missing cost in from ``GET /generation`` (a
stream that was cancelled or ended without usage still cost something, and OpenRouter's
generation record says what).

Bounded by design: each client has at most one :class:`Reconciler` worker thread, started
when the first lookup is queued and gone after a few idle seconds; lookups wait in a
bounded queue (the oldest are dropped past ``max_pending``); the record is eventually
consistent (a 404 for a few hundred ms to seconds right after the request), so a 404 is
retried with backoff before giving up; and the ledger finds the entry by generation id in
O(1). Only OpenRouter has ``/generation``, so clients reconcile by default only against an
OpenRouter base URL (:func:`reconciles_by_default`).
"""

from __future__ import annotations

import heapq
import itertools
import os
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from ..errors import FastrouterError, NotFoundError
from .cost import generation_cost
from .ledger import UsageLedger

__all__ = ["RETRY_DELAYS", "DEFAULT_MAX_PENDING", "Reconciler", "reconciles_by_default"]

# Waits before each retry of a 404 (about 8 s in all).
RETRY_DELAYS: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0, 4.0)
# Lookups waiting at most (the oldest are dropped beyond it).
DEFAULT_MAX_PENDING = 10_000
# A worker with nothing to do for this long exits (the next lookup starts another).
IDLE_EXIT_S = 5.0


def reconciles_by_default(base_url: str) -> bool:
    """Whether ``base_url`` is OpenRouter's (``openrouter.ai`` or a subdomain), the only
    server known to answer ``GET /generation``."""
    host = (urlsplit(base_url).hostname or "").lower()
    return host == "openrouter.ai" or host.endswith(".openrouter.ai")


def _fill(ledger: UsageLedger, generation_id: str, payload: Any) -> bool:
    """Put the generation record's cost (when it has one) into the ledger entry."""
    cost = generation_cost(payload)
    return cost is not None and ledger.reconcile(generation_id, cost)


class Reconciler:
    """One client's lookups of missing costs: a bounded queue and one worker thread.

    ``fetch(generation_id)`` blocks (with the GIL released) and returns the parsed
    ``/generation`` body or raises :class:`~fastrouter.FastrouterError`. ``submit`` never
    blocks the caller. Counters: ``filled``, ``given_up`` (404 after every retry, or
    another error), ``dropped`` (queue full, or the client closed with lookups pending).
    """

    def __init__(
        self,
        ledger: UsageLedger,
        fetch: Callable[[str], Any],
        *,
        delays: tuple[float, ...] = RETRY_DELAYS,
        max_pending: int = DEFAULT_MAX_PENDING,
        idle_exit_s: float = IDLE_EXIT_S,
    ) -> None:
        self._ledger = ledger
        self._fetch = fetch
        self._delays = delays
        self._max_pending = max_pending
        self._idle_exit_s = idle_exit_s
        self._cond = threading.Condition()
        # (due time, order, generation id, retries so far): earliest due first.
        self._queue: list[tuple[float, int, str, int]] = []
        self._order = itertools.count()
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()
        self._closed = False
        self.filled = 0
        self.given_up = 0
        self.dropped = 0

    def submit(self, generation_id: str) -> bool:
        """Queue a lookup of ``generation_id`` (False when the reconciler is closed)."""
        with self._cond:
            if self._closed:
                return False
            if self._pid != os.getpid():  # a forked child: the parent's worker is not here
                self._pid, self._thread, self._queue = os.getpid(), None, []
            heapq.heappush(self._queue, (time.monotonic(), next(self._order), generation_id, 0))
            if len(self._queue) > self._max_pending:
                # Drop the lookup due last (the one that has waited and retried most).
                self._queue.remove(max(self._queue))
                heapq.heapify(self._queue)
                self.dropped += 1
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, name="fastrouter-reconcile", daemon=True)
                self._thread.start()
            else:
                self._cond.notify()
        return True

    @property
    def pending(self) -> int:
        """Lookups waiting (in the queue, not the one in flight)."""
        with self._cond:
            return len(self._queue)

    @property
    def running(self) -> bool:
        """Whether the worker thread is alive."""
        thread = self._thread
        return thread is not None and thread.is_alive()

    def close(self, timeout: float = 1.0) -> None:
        """Stop the worker (pending lookups are dropped) and wait up to ``timeout`` for it."""
        with self._cond:
            self._closed = True
            self.dropped += len(self._queue)
            self._queue.clear()
            thread, self._thread = self._thread, None
            self._cond.notify()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def _next(self) -> tuple[str, int] | None:
        """Wait for the next due lookup; ``None`` when closed or idle for too long."""
        with self._cond:
            idle_since = time.monotonic()
            while not self._closed:
                now = time.monotonic()
                if self._queue:
                    due = self._queue[0][0]
                    if due <= now:
                        _, _, generation_id, tries = heapq.heappop(self._queue)
                        return generation_id, tries
                    self._cond.wait(due - now)
                    idle_since = time.monotonic()
                elif now - idle_since >= self._idle_exit_s:
                    self._thread = None  # the next submit starts a new worker
                    return None
                else:
                    self._cond.wait(self._idle_exit_s - (now - idle_since))
            return None

    def _work(self) -> None:
        while True:
            job = self._next()
            if job is None:
                return
            generation_id, tries = job
            try:
                payload = self._fetch(generation_id)
            except NotFoundError:
                self._retry(generation_id, tries)
                continue
            except (FastrouterError, ValueError):  # another error, or a body that is not JSON
                self.given_up += 1
                continue
            if _fill(self._ledger, generation_id, payload):
                self.filled += 1
            else:
                self.given_up += 1

    def _retry(self, generation_id: str, tries: int) -> None:
        with self._cond:
            if tries >= len(self._delays):
                self.given_up += 1
                return
            due = time.monotonic() + self._delays[tries]
            heapq.heappush(self._queue, (due, next(self._order), generation_id, tries + 1))
