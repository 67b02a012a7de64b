"""The store interface: the few atomic operations limits, budgets, cooldowns and the cache
need, each with a blocking and an ``async`` form."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

__all__ = ["LimitSpec", "BudgetSlot", "Store", "WINDOW_S", "WAIT_FOR_RELEASE", "LEASE_S"]

# Limits count requests and tokens over a sliding window of this many seconds.
WINDOW_S = 60.0
# ``admit`` answers this when only a concurrency slot is missing: no time is known, a
# waiter waits for a release (or, on a shared store, polls).
WAIT_FOR_RELEASE = float("inf")
# On a shared store, what a process that died held (a limit slot, a budget reservation) is
# freed this long after it was taken: far longer than a usual request (one that outlives
# it only frees what it held early; what it spent still counts when it settles).
LEASE_S = 600.0

logger = logging.getLogger("fastrouter")


class LimitSpec(NamedTuple):
    """One limit as a store sees it: its key and caps (``None``: uncapped)."""

    key: str
    rpm: int | None
    tpm: int | None
    concurrency: int | None


class BudgetSlot(NamedTuple):
    """One budget as a store sees it: its key, its cap in nano-USD and how long its
    counters live (seconds; 0 = forever)."""

    key: str
    cap_nanos: int
    ttl_s: int


class Store:
    """Shared state behind one small interface. ``shared`` is False for the in-process
    default (then budgets and cooldowns stay where they always were)."""

    shared: bool = False

    # -- limits: sliding windows of requests and tokens, plus concurrency slots
    def admit(self, specs: Sequence[LimitSpec], rid: str, tokens: int, lease_s: float) -> float:
        """Take one request of ``tokens`` on every limit at once, or nothing: 0.0 when
        admitted, else the seconds until it could be (``WAIT_FOR_RELEASE`` when only a
        concurrency slot is missing). ``lease_s`` bounds how long a slot is held should
        this process die."""
        raise NotImplementedError

    def release(self, specs: Sequence[LimitSpec], rid: str, token_delta: int, refund: bool) -> None:
        """Free the request's concurrency slots; correct its token count by
        ``token_delta``, or with ``refund`` take the request out of the windows (it was
        never sent). Its slots are freed once: a release asked again (after a Ctrl-C cut
        one short, with ``token_delta`` 0) or for a request never admitted (a caller
        interrupted while waiting in line) changes nothing."""
        raise NotImplementedError

    def tighten(self, keys: Iterable[str], seconds: float) -> None:
        """Admit nothing on ``keys`` for ``seconds`` (an upstream 429 named its reset)."""
        raise NotImplementedError

    async def admit_async(self, specs: Sequence[LimitSpec], rid: str, tokens: int, lease_s: float) -> float:
        return self.admit(specs, rid, tokens, lease_s)

    async def release_async(self, specs: Sequence[LimitSpec], rid: str, token_delta: int, refund: bool) -> None:
        self.release(specs, rid, token_delta, refund)

    async def tighten_async(self, keys: Iterable[str], seconds: float) -> None:
        self.tighten(keys, seconds)

    # -- budgets: reserve (all or nothing) and settle, in nano-USD, by reservation id
    def budget_reserve(self, slots: Sequence[BudgetSlot], rid: str, amount: int, lease_s: float) -> tuple[int, int]:
        """Reserve ``amount`` on every slot for reservation ``rid``, or nothing: ``(0, 0)``
        when reserved, else ``(i, committed)``, the 1-based slot that would break and what
        it already holds; ``(-1, 0)`` when ``rid`` was settled already (its settle came
        first: no caller waits for this answer any more). ``lease_s`` bounds how long the
        reservation is held should this process die; settled after its lease ended, it
        still adds what it spent."""
        raise NotImplementedError

    def budget_settle(self, keys: Sequence[str], rid: str, reserved: int, actual: int) -> None:
        """Replace reservation ``rid`` (of ``reserved``) by ``actual`` spent. Once: a settle
        asked again (after a Ctrl-C cut one short, or a background one was cancelled after
        it reached the store) or for a reservation the store never took (a caller
        interrupted before the store answered, or refused) changes nothing."""
        raise NotImplementedError

    def budget_committed(self, key: str) -> int:
        """Spent plus reserved on one budget, in nano-USD."""
        raise NotImplementedError

    async def budget_reserve_async(
        self, slots: Sequence[BudgetSlot], rid: str, amount: int, lease_s: float
    ) -> tuple[int, int]:
        return self.budget_reserve(slots, rid, amount, lease_s)

    async def budget_settle_async(self, keys: Sequence[str], rid: str, reserved: int, actual: int) -> None:
        self.budget_settle(keys, rid, reserved, actual)

    # -- cooldowns: models skipped by chains until a time
    def cool(self, models: Sequence[tuple[str, float]]) -> None:
        """Mark each ``(model, seconds)`` as cooling down for that long."""
        raise NotImplementedError

    def cooling(self, models: Sequence[str]) -> set[str]:
        """The ones of ``models`` cooling down now."""
        raise NotImplementedError

    async def cool_async(self, models: Sequence[tuple[str, float]]) -> None:
        self.cool(models)

    async def cooling_async(self, models: Sequence[str]) -> set[str]:
        return self.cooling(models)

    # -- the response cache: bytes by key, with a TTL, bounded by size (LRU)
    def cache_get(self, key: bytes) -> bytes | None:
        """The live value at ``key`` (marking it recently used), or ``None``."""
        raise NotImplementedError

    def cache_put(self, key: bytes, value: bytes, ttl_s: float | None, max_bytes: int) -> None:
        """Store ``value`` for ``ttl_s`` seconds (``None``: no expiry), evicting the least
        recently used entries while the cache holds more than ``max_bytes``."""
        raise NotImplementedError

    async def cache_get_async(self, key: bytes) -> bytes | None:
        return self.cache_get(key)

    async def cache_put_async(self, key: bytes, value: bytes, ttl_s: float | None, max_bytes: int) -> None:
        self.cache_put(key, value, ttl_s, max_bytes)

    def background(self, on_loop: bool, operation: str, *args: Any) -> None:
        """Make the update ``operation`` (a method name, idempotent: made twice, it changes
        what it changes once) without making the caller wait on the network: for an async
        caller (``on_loop``) on a shared store, as a task on the running event loop (its
        ``_async`` form; see :mod:`fastrouter._background`); else at once. A failure is
        logged: what it would have updated stays on the safe side."""
        if on_loop and self.shared:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                loop = None
            if loop is not None:
                from .._background import in_background

                try:
                    update = getattr(self, operation + "_async")
                    in_background(loop, self, lambda: update(*args), lambda: self._update_now(operation, args))
                except BaseException:  # a Ctrl-C: perhaps not handed over, so made now too
                    self._update_now(operation, args)
                    raise
                return
        self._update_now(operation, args)

    def _update_now(self, operation: str, args: tuple[Any, ...]) -> None:
        try:
            getattr(self, operation)(*args)
        except Exception as error:  # the request already ended; never fail it now
            logger.warning("fastrouter: a store update failed: %s", error)

    async def aclose(self) -> None:
        """Release connections, the asyncio ones included (idempotent)."""
        self.close()

    def close(self) -> None:
        """Release connections (idempotent)."""
