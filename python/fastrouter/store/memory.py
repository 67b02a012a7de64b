"""The in-process store (the default): limits, budgets, cooldowns and an LRU cache in this
process's memory, each behind one lock."""

from __future__ import annotations

import threading
from collections import OrderedDict, deque
from collections.abc import Iterable, Sequence
from time import monotonic

from .base import WAIT_FOR_RELEASE, WINDOW_S, BudgetSlot, LimitSpec, Store

__all__ = ["MemoryStore"]


class _Window:
    """One limit's sliding window: ``[time, requests, tokens]`` entries (lists, so a
    correction or refund edits the entry in place), running sums, and the requests
    admitted and not yet released, by id: their number is the slots in use, so a release
    is the one step of taking its id out (done twice, the second changes nothing)."""

    __slots__ = ("entries", "requests", "tokens", "blocked_until", "by_id")

    def __init__(self) -> None:
        self.entries: deque[list[float]] = deque()
        self.requests = 0
        self.tokens = 0
        self.blocked_until = 0.0
        self.by_id: dict[str, list[float]] = {}

    @property
    def inflight(self) -> int:
        """The requests admitted and not yet released (a concurrency limit's slots in use)."""
        return len(self.by_id)

    def expire(self, now: float) -> None:
        horizon = now - WINDOW_S
        entries = self.entries
        while entries and entries[0][0] <= horizon:
            _, requests, tokens = entries.popleft()
            self.requests -= int(requests)
            self.tokens -= int(tokens)

    def wait(self, spec: LimitSpec, tokens: int, now: float) -> float:
        """Seconds until one more request of ``tokens`` fits (0: now)."""
        wait = self.blocked_until - now if self.blocked_until > now else 0.0
        if spec.rpm is not None and self.requests + 1 > spec.rpm:
            wait = max(wait, self._until(now, 1, self.requests + 1 - spec.rpm))
        if spec.tpm is not None and self.tokens + tokens > spec.tpm:
            wait = max(wait, self._until(now, 2, self.tokens + tokens - spec.tpm))
        if spec.concurrency is not None and self.inflight >= spec.concurrency and wait == 0.0:
            return WAIT_FOR_RELEASE
        return wait

    def _until(self, now: float, column: int, excess: int) -> float:
        """When enough of the oldest entries leave the window to free ``excess``."""
        freed = 0
        for entry in self.entries:
            freed += int(entry[column])
            if freed >= excess:
                return max(entry[0] + WINDOW_S - now, 1e-3)
        return WINDOW_S


class MemoryStore(Store):
    """Everything in this process (thread-safe)."""

    shared = False

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._windows: dict[str, _Window] = {}
        self._budgets: dict[str, list[int]] = {}
        self._held: set[tuple[str, str]] = set()  # (budget key, reservation id) not yet settled
        self._cooling: dict[str, float] = {}
        self._cache: OrderedDict[bytes, tuple[bytes, float]] = OrderedDict()
        self._cache_bytes = 0

    def _window(self, key: str) -> _Window:
        window = self._windows.get(key)
        if window is None:
            window = self._windows[key] = _Window()
        return window

    def admit(self, specs: Sequence[LimitSpec], rid: str, tokens: int, lease_s: float) -> float:
        now = monotonic()
        windows = self._windows
        with self._lock:
            wait = 0.0
            for spec in specs:
                window = windows.get(spec.key) or self._window(spec.key)
                if window.entries and window.entries[0][0] <= now - WINDOW_S:
                    window.expire(now)
                if (
                    window.blocked_until > now
                    or (spec.rpm is not None and window.requests >= spec.rpm)
                    or (spec.tpm is not None and window.tokens + tokens > spec.tpm)
                    or (spec.concurrency is not None and window.inflight >= spec.concurrency)
                ):
                    wait = max(wait, window.wait(spec, tokens, now))
            if wait:
                return wait
            for spec in specs:
                window = windows[spec.key]
                entry = [now, 1, tokens]
                window.entries.append(entry)
                window.by_id[rid] = entry
                window.requests += 1
                window.tokens += tokens
            return 0.0

    def release(self, specs: Sequence[LimitSpec], rid: str, token_delta: int, refund: bool) -> None:
        with self._lock:
            for spec in specs:
                window = self._windows.get(spec.key)
                if window is None:
                    continue
                entry = window.by_id.pop(rid, None)  # its slot freed (see _Window)
                if entry is None or not window.entries or entry[0] < window.entries[0][0]:
                    continue  # already out of the window
                if refund:
                    window.requests -= int(entry[1])
                    window.tokens -= int(entry[2])
                    entry[1] = entry[2] = 0
                elif token_delta:
                    delta = max(token_delta, -int(entry[2]))
                    entry[2] += delta
                    window.tokens += delta

    def tighten(self, keys: Iterable[str], seconds: float) -> None:
        until = monotonic() + seconds
        with self._lock:
            for key in keys:
                window = self._window(key)
                window.blocked_until = max(window.blocked_until, until)

    def budget_reserve(self, slots: Sequence[BudgetSlot], rid: str, amount: int, lease_s: float) -> tuple[int, int]:
        # No lease: what this process holds here ends with it.
        with self._lock:
            for index, slot in enumerate(slots, 1):
                spent, reserved = self._budgets.get(slot.key, (0, 0))
                if spent + reserved + amount > slot.cap_nanos:
                    return index, spent + reserved
            for slot in slots:
                self._budgets.setdefault(slot.key, [0, 0])[1] += amount
                self._held.add((slot.key, rid))
            return 0, 0

    def budget_settle(self, keys: Sequence[str], rid: str, reserved: int, actual: int) -> None:
        with self._lock:
            for key in keys:
                if (key, rid) in self._held:
                    self._held.discard((key, rid))
                    counters = self._budgets[key]
                    counters[1] -= reserved
                    counters[0] += actual

    def budget_committed(self, key: str) -> int:
        with self._lock:
            spent, reserved = self._budgets.get(key, (0, 0))
            return spent + reserved

    def cool(self, models: Sequence[tuple[str, float]]) -> None:
        now = monotonic()
        with self._lock:
            for model, seconds in models:
                self._cooling[model] = max(self._cooling.get(model, 0.0), now + seconds)

    def cooling(self, models: Sequence[str]) -> set[str]:
        now = monotonic()
        with self._lock:
            return {m for m in models if self._cooling.get(m, 0.0) > now}

    def cache_get(self, key: bytes) -> bytes | None:
        with self._lock:
            found = self._cache.get(key)
            if found is None:
                return None
            value, expires = found
            if expires and expires <= monotonic():
                del self._cache[key]
                self._cache_bytes -= len(key) + len(value)
                return None
            self._cache.move_to_end(key)
            return value

    def cache_put(self, key: bytes, value: bytes, ttl_s: float | None, max_bytes: int) -> None:
        size = len(key) + len(value)  # the key is the request itself: it counts too
        if size > max_bytes:
            return  # would evict everything and still not fit
        expires = monotonic() + ttl_s if ttl_s else 0.0
        cache = self._cache
        with self._lock:
            if key in cache:
                self._cache_bytes -= len(key) + len(cache.pop(key)[0])
            cache[key] = (value, expires)
            self._cache_bytes += size
            while self._cache_bytes > max_bytes:
                evicted_key, (evicted, _) = self._cache.popitem(last=False)
                self._cache_bytes -= len(evicted_key) + len(evicted)
