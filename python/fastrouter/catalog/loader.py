"""Where a catalog comes from (memory, disk, network or a stale copy), and the fetch signatures it calls."""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import Awaitable, Callable
from typing import TypeAlias

from .._format import format_age
from ..errors import CatalogUnavailableError, FastrouterError
from .cache import CacheEntry, CatalogCache, fresh
from .records import DEFAULT_CATALOG_TTL
from .search import Catalog

logger = logging.getLogger("fastrouter")


FetchResult = tuple[bytes | None, str | None]
"""What a fetch function returns: ``(body, validator)``; ``body`` is None for "not modified"."""

Fetch = Callable[[str | None], FetchResult]
"""``fetch(validator) -> (body or None if not modified, new validator)``; raises when offline."""

AsyncFetch = Callable[[str | None], Awaitable[FetchResult]]
"""The async form of :data:`Fetch`."""

FALLBACK_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    FastrouterError,
    ValueError,
    TimeoutError,
    asyncio.TimeoutError,
)
"""Failures of a fetch (or of its body) after which the last good copy is served."""


class _Copy:
    """A copy of the catalog the loader holds: the cache entry, parsed on demand."""

    __slots__ = ("entry", "origin", "_catalog")

    def __init__(self, entry: CacheEntry, origin: str, catalog: Catalog | None = None) -> None:
        self.entry = entry
        self.origin = origin
        self._catalog = catalog

    def catalog(self) -> Catalog:
        if self._catalog is None:
            self._catalog = Catalog.from_json(self.entry.body, fetched_at=self.entry.fetched_at, source=self.origin)
        return self._catalog


_AsyncFlight: TypeAlias = "asyncio.Future[Catalog | None]"
"""One network load in progress in an event loop: its catalog, or None once the leading task
gave up (the waiters look again)."""


class _Flight:
    """One network load in progress in a thread, shared by the callers that come meanwhile."""

    __slots__ = ("done", "catalog", "error", "pid")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.catalog: Catalog | None = None  # None once done: the leader gave up, look again
        self.error: Exception | None = None
        self.pid = os.getpid()  # a flight inherited by a forked child has no leader there


class CatalogLoader:
    """Decides where a catalog comes from: memory, disk, the network, or a stale copy.

    ``load_sync(fetch)`` / ``await load_async(fetch)``:

    1. a fresh copy in memory is returned (``source="memory"``);
    2. else a fresh copy on disk (``source="disk"``);
    3. else ``fetch(validator)`` is called, with the validator of the newest copy if any;
       a "not modified" answer (``body`` None) renews that copy's ``fetched_at``; a body is
       parsed and stored (``source="network"``);
    4. if the fetch (or parsing its body) fails with one of ``fallback_on``, the newest
       copy (memory or disk, however old) is returned with ``stale=True``, and a warning
       saying how old it is goes to the ``"fastrouter"`` logger; with no copy at all the
       error propagates.

    ``refresh=True`` skips steps 1-2; ``offline=True`` never fetches (the newest copy,
    ``stale`` when past its TTL; :class:`CatalogUnavailableError` when there is none).
    ``cache=None`` keeps copies in memory only. ``ttl_s`` defaults to the cache's.

    Steps 3-4 are single-flight: callers that need the network while a load is in progress
    (threads with ``load_sync``, tasks of the same event loop with ``load_async``) wait for
    it and share its catalog or its error, so N concurrent first requests make one GET. A
    failure is not remembered: the next caller after it fetches again. A leading caller
    cancelled (or interrupted) before the load ends hands over: its waiters look again.
    """

    def __init__(
        self,
        cache: CatalogCache | None,
        base_url: str,
        *,
        ttl_s: float | None = None,
        fallback_on: tuple[type[BaseException], ...] = FALLBACK_ERRORS,
    ) -> None:
        if ttl_s is not None and (isinstance(ttl_s, bool) or not isinstance(ttl_s, (int, float)) or ttl_s < 0):
            raise ValueError(f"ttl_s must be a non-negative number of seconds, got {ttl_s!r}")
        self.cache = cache
        self.base_url = base_url.rstrip("/")
        self.ttl_s = float(ttl_s) if ttl_s is not None else (cache.ttl_s if cache is not None else DEFAULT_CATALOG_TTL)
        self.fallback_on = fallback_on
        self._memory: _Copy | None = None
        self._flight_lock = threading.Lock()
        self._flight: _Flight | None = None
        self._async_flight: _AsyncFlight | None = None

    def __repr__(self) -> str:
        return f"CatalogLoader(cache={self.cache!r}, base_url={self.base_url!r}, ttl_s={self.ttl_s:g})"

    def invalidate(self) -> None:
        """Forget the copy held in memory (the disk copy stays)."""
        self._memory = None

    def _fresh(self, entry: CacheEntry, now: float) -> bool:
        return fresh(entry.fetched_at, now, self.ttl_s)

    def _newest(self) -> _Copy | None:
        """The newest copy, memory or disk (``None`` when there is neither)."""
        best = self._memory
        if self.cache is not None:
            entry = self.cache.read(self.base_url)
            if entry is not None and (best is None or entry.fetched_at > best.entry.fetched_at):
                disk = _Copy(entry, "disk")
                try:
                    disk.catalog()
                except ValueError as exc:
                    logger.warning("fastrouter: ignoring a corrupt catalog cache (%s)", exc)
                else:
                    best = disk
        return best

    def _lookup(self, refresh: bool, offline: bool) -> tuple[Catalog | None, _Copy | None]:
        """``(catalog to return, None)`` or ``(None, newest copy to revalidate or fall back on)``."""
        now = time.time()
        memory = self._memory
        if memory is not None and not refresh and self._fresh(memory.entry, now):
            return memory.catalog()._evolve(source="memory", stale=False), None
        newest = self._newest()
        if newest is not None and newest is not memory:
            self._memory = newest
        if offline:
            if newest is None:
                raise CatalogUnavailableError(
                    f"no cached model catalog for {self.base_url} and offline=True (fetch it once online first)"
                )
            fresh = self._fresh(newest.entry, now)
            return newest.catalog()._evolve(source=newest.origin, stale=not fresh), None
        if newest is not None and not refresh and self._fresh(newest.entry, now):
            return newest.catalog()._evolve(source=newest.origin, stale=False), None
        return None, newest

    def _store(self, result: FetchResult, last: _Copy | None) -> Catalog:
        body, validator = result
        now = time.time()
        if body is None:
            if last is None:
                raise ValueError("the server said 'not modified' but there is no cached catalog")
            entry = CacheEntry(last.entry.body, now, validator or last.entry.etag, self.base_url)
            catalog = last.catalog()._evolve(fetched_at=now, source="network", stale=False)
        else:
            if not isinstance(body, (bytes, bytearray)):
                raise TypeError(f"a catalog fetch must return bytes or None, got {type(body).__name__}")
            entry = CacheEntry(bytes(body), now, validator, self.base_url)
            catalog = Catalog.from_json(entry.body, fetched_at=now, source="network")
        self._memory = _Copy(entry, "memory", catalog)
        if self.cache is not None:
            try:
                self.cache.write(self.base_url, entry)
            except OSError as exc:
                logger.warning("fastrouter: could not write the model catalog cache: %s", exc)
        return catalog

    def _fallback(self, exc: BaseException, last: _Copy | None) -> Catalog:
        if last is None:
            raise exc
        catalog = last.catalog()._evolve(source=last.origin, stale=True)
        logger.warning(
            "fastrouter: could not refresh the model catalog from %s (%s: %s); using the %s copy fetched %s ago",
            self.base_url,
            type(exc).__name__,
            exc,
            last.origin,
            format_age(catalog.age_s),
        )
        return catalog

    def load_sync(self, fetch: Fetch, *, refresh: bool = False, offline: bool = False) -> Catalog:
        """The catalog, calling ``fetch`` only when needed (see the class docs)."""
        while True:
            catalog, last = self._lookup(refresh, offline)
            if catalog is not None:
                return catalog
            with self._flight_lock:
                flight = self._flight
                if flight is None or flight.pid != os.getpid():
                    flight = self._flight = _Flight()
                    leading = True
                else:
                    leading = False
            if leading:
                return self._lead_sync(fetch, refresh, offline, flight)
            flight.done.wait()
            if flight.error is not None:
                raise flight.error
            if flight.catalog is not None:
                return flight.catalog

    def _lead_sync(self, fetch: Fetch, refresh: bool, offline: bool, flight: _Flight) -> Catalog:
        """Load for every caller waiting on ``flight``."""
        try:
            # Look again: a flight that landed between the caller's look and now serves it.
            catalog, last = self._lookup(refresh, offline)
            if catalog is None:
                try:
                    catalog = self._store(fetch(last.entry.etag if last is not None else None), last)
                except self.fallback_on as exc:
                    catalog = self._fallback(exc, last)
            flight.catalog = catalog
            return catalog
        except Exception as exc:
            flight.error = exc
            raise
        finally:
            with self._flight_lock:
                if self._flight is flight:
                    self._flight = None
            flight.done.set()

    async def load_async(self, fetch: AsyncFetch, *, refresh: bool = False, offline: bool = False) -> Catalog:
        """Like :meth:`load_sync` with an async ``fetch`` (the disk is read and written
        inline: one small file, rarely)."""
        while True:
            catalog, last = self._lookup(refresh, offline)
            if catalog is not None:
                return catalog
            loop = asyncio.get_running_loop()
            flight = self._async_flight
            if flight is None or flight.get_loop() is not loop:
                return await self._lead_async(fetch, last, loop.create_future())
            # shield: a waiter cancelled must not cancel the load the others wait for
            shared = await asyncio.shield(flight)
            if shared is not None:
                return shared

    async def _lead_async(self, fetch: AsyncFetch, last: _Copy | None, flight: _AsyncFlight) -> Catalog:
        """Load for every task of this event loop waiting on ``flight``."""
        self._async_flight = flight
        try:
            try:
                catalog = self._store(await fetch(last.entry.etag if last is not None else None), last)
            except self.fallback_on as exc:
                catalog = self._fallback(exc, last)
        except Exception as exc:
            flight.set_exception(exc)
            flight.exception()  # marked retrieved: no "never retrieved" warning when nobody waits
            raise
        except BaseException:
            flight.set_result(None)  # cancelled or interrupted: the waiters look again
            raise
        else:
            flight.set_result(catalog)
            return catalog
        finally:
            if self._async_flight is flight:
                self._async_flight = None
