"""Admitting requests under their limits: which limits a request falls under (its *lane*),
taking them on the store, and waiting first come, first served when they are full.

A waiting request sleeps until the store says a slot frees (its window slides), until a
request of this process finishes (a concurrency slot frees) or, on a shared store, for a
short poll (another process may free it); async requests await, threads block on an event
(the GIL released). Leaving the queue for any reason (admitted, deadline, cancellation)
wakes the next in line.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Mapping
from fnmatch import fnmatchcase
from time import monotonic
from typing import TYPE_CHECKING

from .._dual import blocking
from .._waiting import Waiter
from ..errors import RateLimitError
from ..store import LEASE_S, WAIT_FOR_RELEASE, LimitSpec, Store
from ..store.ids import new_id
from .limit import Limit

if TYPE_CHECKING:
    import asyncio
    from typing import Protocol

    class _Holder(Protocol):
        hold: Hold | None


__all__ = ["Lane", "Hold", "Limiter"]

# A waiter on a shared store re-asks this often when only another process can free a slot.
_SHARED_POLL_S = 0.02
# When an upstream 429 names no reset, its limit stays shut this long.
DEFAULT_TIGHTEN_S = 1.0
_GLOB_CHARS = frozenset("*?[")


class Lane:
    """The limits one kind of request falls under, and its waiting line."""

    __slots__ = ("key", "specs", "wait", "max_tokens", "queue")

    def __init__(self, specs: tuple[LimitSpec, ...], wait: bool) -> None:
        self.key = tuple(spec.key for spec in specs)
        self.specs = specs
        self.wait = wait
        caps = [spec.tpm for spec in specs if spec.tpm is not None]
        # A request larger than a whole window's tokens is clamped so it can still pass alone.
        self.max_tokens = min(caps) if caps else None
        self.queue: deque[Waiter] = deque()


class Hold:
    """What one admitted request holds until :meth:`Limiter.release`."""

    __slots__ = ("lane", "rid", "tokens")

    def __init__(self, lane: Lane, rid: str, tokens: int) -> None:
        self.lane = lane
        self.rid = rid
        self.tokens = tokens


class _Held:
    """A holder for a caller that keeps the hold it is given (see :meth:`Limiter.admitting`)."""

    __slots__ = ("hold",)

    def __init__(self) -> None:
        self.hold: Hold | None = None


def _running_loop() -> asyncio.AbstractEventLoop:
    import asyncio  # only async waiters need it

    return asyncio.get_running_loop()


def _refused(lane: Lane, wait: float, why: str) -> RateLimitError:
    retry_after = None if wait == WAIT_FOR_RELEASE else round(wait, 3)
    names = ", ".join(repr(k) for k in lane.key)
    error = RateLimitError(
        f"client-side rate limit {names}: {why}; nothing was sent", kind="client_rate_limited", retry_after=retry_after
    )
    error.client_side = True
    return error


class Limiter:
    """The limits of one client on its store. ``limits`` maps a model id, a glob, a route
    name or ``"*"`` to a :class:`Limit`."""

    def __init__(self, limits: Mapping[str, Limit], store: Store) -> None:
        for key, limit in limits.items():
            if not isinstance(key, str) or not key:
                raise TypeError(f"limits keys must be model ids, globs, route names or '*', got {key!r}")
            if not isinstance(limit, Limit):
                raise TypeError(f"limits[{key!r}] must be a fastrouter.Limit, got {limit!r}")
        self.limits = dict(limits)
        self.store = store
        self._lanes: dict[tuple[str, ...], Lane | None] = {}
        self._lock = threading.Lock()
        self._waiting = 0  # waiters in every line
        # A store whose async calls are its blocking ones (the in-process default) is
        # called directly on the event loop too: no coroutine per admission and release.
        cls = type(store)
        self.inline = (
            not store.shared and cls.admit_async is Store.admit_async and cls.release_async is Store.release_async
        )

    def __bool__(self) -> bool:
        return bool(self.limits)

    def lane(self, names: tuple[str, ...]) -> Lane | None:
        """The lane of a request that may use ``names`` (its route and models); ``None``
        when no limit applies."""
        try:
            return self._lanes[names]
        except KeyError:
            pass
        keys = sorted(
            key
            for key in self.limits
            if key == "*"
            or key in names
            or (not _GLOB_CHARS.isdisjoint(key) and any(fnmatchcase(name, key) for name in names))
        )
        lane = None
        if keys:
            specs = tuple(
                LimitSpec(k, self.limits[k].rpm, self.limits[k].tpm, self.limits[k].concurrency) for k in keys
            )
            lane = Lane(specs, all(self.limits[k].wait for k in keys))
        with self._lock:
            return self._lanes.setdefault(names, lane)

    # -- admission
    def _tokens(self, lane: Lane, tokens: int) -> int:
        cap = lane.max_tokens
        return tokens if cap is None or tokens <= cap else cap

    def _enqueue(self, lane: Lane, waiter: Waiter) -> None:
        with self._lock:
            lane.queue.append(waiter)
            self._waiting += 1

    def _leave(self, lane: Lane, waiter: Waiter) -> None:
        with self._lock:
            was_head = bool(lane.queue) and lane.queue[0] is waiter
            try:
                lane.queue.remove(waiter)
            except ValueError:
                return
            self._waiting -= 1
            if was_head and lane.queue:
                lane.queue[0].wake()

    def _timeout(self, lane: Lane, wait: float, deadline: float | None) -> float | None:
        """How long the head of the line sleeps before asking again (``None``: until woken)."""
        if wait == WAIT_FOR_RELEASE:
            timeout = _SHARED_POLL_S if self.store.shared else None
        else:
            timeout = wait
        if deadline is not None:
            remaining = deadline - monotonic()
            if remaining <= 0 or (wait != WAIT_FOR_RELEASE and wait > remaining):
                raise _refused(lane, wait, "it would not fit before the request's deadline")
            timeout = remaining if timeout is None else min(timeout, remaining)
        return timeout

    def admit_now(self, lane: Lane, tokens: int, holder: _Holder) -> Hold | None:
        """An :attr:`inline` store's admission when nobody waits and the request fits at
        once (the usual case); ``None``: it goes through :meth:`admitting` (which asks again).
        ``holder.hold`` is set as in :meth:`admitting`."""
        if lane.queue:
            return None
        holder.hold = hold = Hold(lane, new_id(), self._tokens(lane, tokens))
        if self.store.admit(lane.specs, hold.rid, hold.tokens, LEASE_S):
            holder.hold = None
            return None
        return hold

    async def admitting(
        self, lane: Lane, tokens: int, deadline: float | None, asynchronous: bool, holder: _Holder
    ) -> Hold:
        """Admit a request: ask the store, else queue first come, first served and sleep at
        the head of the line until it fits, the deadline passes or the caller goes
        (leaving the line wakes the next). Written once for both clients (see fastrouter._dual).
        ``holder.hold`` is set to the hold before the store is asked: however the caller is
        interrupted (a Ctrl-C, a cancellation), from then on it knows what to release (a
        store's release of a request it never admitted changes nothing); a refusal clears it."""
        holder.hold = hold = Hold(lane, new_id(), self._tokens(lane, tokens))
        try:
            store, ask = self.store, (lane.specs, hold.rid, hold.tokens, LEASE_S)
            if not lane.queue:
                wait = await store.admit_async(*ask) if asynchronous and not self.inline else store.admit(*ask)
                if not wait:
                    return hold
                if not lane.wait:
                    raise _refused(lane, wait, "over the limit")
            elif not lane.wait:
                raise _refused(lane, WAIT_FOR_RELEASE, "requests are already waiting")
            waiter = Waiter(_running_loop() if asynchronous else None)
            self._enqueue(lane, waiter)
            try:
                while True:
                    timeout: float | None = None
                    if lane.queue[0] is waiter:
                        wait = await store.admit_async(*ask) if asynchronous else store.admit(*ask)
                        if not wait:
                            return hold
                        timeout = self._timeout(lane, wait, deadline)
                    elif deadline is not None:
                        timeout = self._timeout(lane, 0.0, deadline)
                    await waiter.wait_async(timeout) if asynchronous else waiter.wait(timeout)
            finally:
                self._leave(lane, waiter)
        except Exception:
            holder.hold = None  # refused, or the store failed: nothing was admitted
            raise

    def acquire(self, lane: Lane, tokens: int, deadline: float | None) -> Hold:
        """Admit a request (blocking while it waits, the GIL released)."""
        return blocking(self.admitting, lane, tokens, deadline, False, _Held())

    async def acquire_async(self, lane: Lane, tokens: int, deadline: float | None) -> Hold:
        """Admit a request (awaiting while it waits; cancelling leaves the line)."""
        return await self.admitting(lane, tokens, deadline, True, _Held())

    # -- after the request
    def _wake_lines(self, hold: Hold) -> None:
        if not self._waiting:
            return  # nobody in line (the usual case): nothing to wake
        keys = set(hold.lane.key)
        with self._lock:
            heads = [
                lane.queue[0]
                for lane in self._lanes.values()
                if lane is not None and lane.queue and not keys.isdisjoint(lane.key)
            ]
        for head in heads:
            head.wake()

    def _release_args(
        self, hold: Hold, used_tokens: int | None, sent: bool
    ) -> tuple[tuple[LimitSpec, ...], str, int, bool]:
        """The store's release of ``hold``: its tokens corrected from the answer's usage
        (``None``: the estimate kept), or refunded when nothing was ``sent``."""
        delta = 0 if used_tokens is None else used_tokens - hold.tokens
        return hold.lane.specs, hold.rid, delta, not sent

    def release(self, hold: Hold, used_tokens: int | None, sent: bool) -> None:
        """The request ended: free its slots, correct its tokens from the answer's usage
        (``None``: keep the estimate) or, when nothing was ``sent``, take it back."""
        self.store.release(*self._release_args(hold, used_tokens, sent))
        self._wake_lines(hold)

    async def release_async(self, hold: Hold, used_tokens: int | None, sent: bool) -> None:
        """:meth:`release`, awaiting the store (an :attr:`inline` one: called directly)."""
        if self.inline:
            self.store.release(*self._release_args(hold, used_tokens, sent))
        else:
            await self.store.release_async(*self._release_args(hold, used_tokens, sent))
        self._wake_lines(hold)

    def release_soon(self, hold: Hold, used_tokens: int | None, sent: bool, on_loop: bool) -> None:
        """:meth:`release` for a request already failing: never waits on a shared store from
        the event loop (``on_loop``: a task there) and never raises (a failure is logged)."""
        self.store.background(on_loop, "release", *self._release_args(hold, used_tokens, sent))
        self._wake_lines(hold)

    def tighten_keys(self, models: list[str]) -> list[str]:
        """The limit keys an upstream 429 from ``models`` shuts."""
        return [
            key
            for key in self.limits
            if key == "*" or any(key == m or (not _GLOB_CHARS.isdisjoint(key) and fnmatchcase(m, key)) for m in models)
        ]
