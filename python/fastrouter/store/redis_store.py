"""The Redis store: every operation of :class:`~.base.Store` as one atomic Lua script or
command on a Redis server that many processes and hosts share (redis-py; its asyncio API
for ``AsyncClient``). Imported only when a client is given ``store="redis://..."``."""

from __future__ import annotations

import asyncio
import socket
import weakref
from collections.abc import AsyncGenerator, Callable, Iterable, Sequence
from typing import Any, NamedTuple, TypeVar

import redis
import redis.asyncio

from ..cache.key import digest
from ..errors import StoreUnavailableError
from . import scripts
from .base import WAIT_FOR_RELEASE, WINDOW_S, BudgetSlot, LimitSpec, Store

__all__ = ["RedisStore"]

_T = TypeVar("_T")
_PREFIX = "fastrouter:"
_SCRIPTS = ("ADMIT", "RELEASE", "BUDGET_RESERVE", "BUDGET_SETTLE", "BUDGET_COMMITTED", "CACHE_GET", "CACHE_PUT")
# Connecting or answering slower than this counts as unreachable (loopback or LAN).
_SOCKET_TIMEOUT_S = 5.0
# Connections per process (and per event loop): requests beyond wait for one to be free
# (at most _SOCKET_TIMEOUT_S) instead of opening more; each operation holds one for a
# single round trip.
_MAX_CONNECTIONS = 8


def _limit_args(specs: Sequence[LimitSpec]) -> list[int]:
    out: list[int] = []
    for spec in specs:
        for cap in (spec.rpm, spec.tpm, spec.concurrency):
            out.append(-1 if cap is None else cap)
    return out


def _wait(result: Sequence[Any]) -> float:
    wait_ms, for_release = int(result[0]), int(result[1])
    if wait_ms > 0:
        return wait_ms / 1000.0
    return WAIT_FOR_RELEASE if for_release else 0.0


class _LoopClient(NamedTuple):
    """One event loop's asyncio client, its scripts, and what closes it with the loop."""

    client: redis.asyncio.Redis
    scripts: dict[str, Any]
    keeper: AsyncGenerator[None, None]

    async def aclose(self) -> None:
        await _close(self.client)


class RedisStore(Store):
    """State shared through the Redis server at ``url`` (``redis://host:port/db``)."""

    shared = True

    def __init__(self, url: str, *, prefix: str = _PREFIX) -> None:
        self.url = url
        self.prefix = prefix
        options: dict[str, Any] = {
            "socket_connect_timeout": _SOCKET_TIMEOUT_S,
            "socket_timeout": _SOCKET_TIMEOUT_S,
            "max_connections": _MAX_CONNECTIONS,
            "timeout": _SOCKET_TIMEOUT_S,
        }
        self._options = options
        pool = redis.BlockingConnectionPool.from_url(url, **options)
        self._sync = redis.Redis(connection_pool=pool)
        # asyncio clients are bound to the loop they were made on: one per loop, closed as
        # that loop ends (see _abound).
        self._async: dict[asyncio.AbstractEventLoop, _LoopClient] = {}
        self._scripts = {name: self._sync.register_script(getattr(scripts, name)) for name in _SCRIPTS}

    def __repr__(self) -> str:
        return f"RedisStore({self.url.split('@')[-1]!r})"  # never show a password

    # -- plumbing
    def _key(self, kind: str, name: str) -> str:
        return f"{self.prefix}{kind}:{name}"

    def _abound(self) -> _LoopClient:
        loop = asyncio.get_running_loop()
        bound = self._async.get(loop)
        if bound is None:
            pool = redis.asyncio.BlockingConnectionPool.from_url(self.url, **self._options)
            client = redis.asyncio.Redis(connection_pool=pool)
            scripts_ = {name: client.register_script(getattr(scripts, name)) for name in _SCRIPTS}
            keeper = _closed_with(weakref.ref(self), loop, client)
            bound = self._async[loop] = _LoopClient(client, scripts_, keeper)
            # Started here, the generator waits at its `yield` until the loop's end closes
            # it (asyncio.run() closes every async generator as it ends; a pending task
            # would not do: code that gathers all tasks would wait on it for good).
            try:
                keeper.asend(None).send(None)
            except StopIteration:
                pass  # at its yield
        return bound

    def _aclient(self) -> redis.asyncio.Redis:
        return self._abound().client

    def _call(self, fn: Callable[[], _T]) -> _T:
        try:
            return fn()
        except redis.RedisError as error:
            raise self._unavailable(error) from error

    async def _acall(self, name: str, keys: Sequence[str], args: Sequence[Any]) -> Any:
        script = self._abound().scripts[name]
        try:
            return await script(keys=list(keys), args=list(args))
        except redis.RedisError as error:
            raise self._unavailable(error) from error

    def _unavailable(self, error: redis.RedisError) -> StoreUnavailableError:
        failure = StoreUnavailableError(f"the shared store at {self!r} is unreachable: {error}")
        # redis-py raises a failed connect as a ConnectionError made in the handling of the
        # socket's OSError (a few levels down at most).
        cause: BaseException | None = error
        for _ in range(8):
            if cause is None:
                break
            if isinstance(cause, (ConnectionRefusedError, socket.gaierror)):
                failure.unsent = True
                break
            cause = cause.__cause__ or cause.__context__
        return failure

    def _run(self, name: str, keys: Sequence[str], args: Sequence[Any]) -> Any:
        script = self._scripts[name]
        return self._call(lambda: script(keys=list(keys), args=list(args)))

    # -- limits
    def _admit_args(self, specs: Sequence[LimitSpec], rid: str, tokens: int, lease_s: float) -> tuple[Any, ...]:
        keys = [self._key("limit", spec.key) for spec in specs]
        args = [rid, tokens, int(lease_s * 1000), int(WINDOW_S * 1000), *_limit_args(specs)]
        return keys, args

    def admit(self, specs: Sequence[LimitSpec], rid: str, tokens: int, lease_s: float) -> float:
        return _wait(self._run("ADMIT", *self._admit_args(specs, rid, tokens, lease_s)))

    async def admit_async(self, specs: Sequence[LimitSpec], rid: str, tokens: int, lease_s: float) -> float:
        return _wait(await self._acall("ADMIT", *self._admit_args(specs, rid, tokens, lease_s)))

    def release(self, specs: Sequence[LimitSpec], rid: str, token_delta: int, refund: bool) -> None:
        keys = [self._key("limit", spec.key) for spec in specs]
        self._run("RELEASE", keys, [rid, token_delta, int(refund)])

    async def release_async(self, specs: Sequence[LimitSpec], rid: str, token_delta: int, refund: bool) -> None:
        keys = [self._key("limit", spec.key) for spec in specs]
        await self._acall("RELEASE", keys, [rid, token_delta, int(refund)])

    def tighten(self, keys: Iterable[str], seconds: float) -> None:
        ms = max(int(seconds * 1000), 1)
        pipe = self._sync.pipeline(transaction=False)
        for key in keys:
            pipe.set(self._key("limit", key) + ":blk", 1, px=ms)
        self._call(pipe.execute)

    async def tighten_async(self, keys: Iterable[str], seconds: float) -> None:
        ms = max(int(seconds * 1000), 1)
        try:
            async with self._aclient().pipeline(transaction=False) as pipe:
                for key in keys:
                    pipe.set(self._key("limit", key) + ":blk", 1, px=ms)
                await pipe.execute()
        except redis.RedisError as error:
            raise StoreUnavailableError(f"the shared store at {self!r} is unreachable: {error}") from error

    # -- budgets
    def _reserve_args(
        self, slots: Sequence[BudgetSlot], rid: str, amount: int, lease_s: float
    ) -> tuple[list[str], list[Any]]:
        args: list[Any] = [rid, amount, max(int(lease_s * 1000), 1)]
        for slot in slots:
            args += [slot.cap_nanos, slot.ttl_s]
        return [self._key("budget", slot.key) for slot in slots], args

    def budget_reserve(self, slots: Sequence[BudgetSlot], rid: str, amount: int, lease_s: float) -> tuple[int, int]:
        index, committed = self._run("BUDGET_RESERVE", *self._reserve_args(slots, rid, amount, lease_s))
        return int(index), int(committed)

    async def budget_reserve_async(
        self, slots: Sequence[BudgetSlot], rid: str, amount: int, lease_s: float
    ) -> tuple[int, int]:
        index, committed = await self._acall("BUDGET_RESERVE", *self._reserve_args(slots, rid, amount, lease_s))
        return int(index), int(committed)

    def budget_settle(self, keys: Sequence[str], rid: str, reserved: int, actual: int) -> None:
        self._run("BUDGET_SETTLE", [self._key("budget", k) for k in keys], [rid, reserved, actual])

    async def budget_settle_async(self, keys: Sequence[str], rid: str, reserved: int, actual: int) -> None:
        await self._acall("BUDGET_SETTLE", [self._key("budget", k) for k in keys], [rid, reserved, actual])

    def budget_committed(self, key: str) -> int:
        return int(self._run("BUDGET_COMMITTED", [self._key("budget", key)], []))

    # -- cooldowns
    def cool(self, models: Sequence[tuple[str, float]]) -> None:
        pipe = self._sync.pipeline(transaction=False)
        for model, seconds in models:
            pipe.set(self._key("cool", model), 1, px=max(int(seconds * 1000), 1))
        self._call(pipe.execute)

    async def cool_async(self, models: Sequence[tuple[str, float]]) -> None:
        try:
            async with self._aclient().pipeline(transaction=False) as pipe:
                for model, seconds in models:
                    pipe.set(self._key("cool", model), 1, px=max(int(seconds * 1000), 1))
                await pipe.execute()
        except redis.RedisError as error:
            raise StoreUnavailableError(f"the shared store at {self!r} is unreachable: {error}") from error

    def cooling(self, models: Sequence[str]) -> set[str]:
        found = self._call(lambda: self._sync.mget([self._key("cool", m) for m in models]))
        return {m for m, hit in zip(models, found, strict=False) if hit is not None}

    async def cooling_async(self, models: Sequence[str]) -> set[str]:
        try:
            found = await self._aclient().mget([self._key("cool", m) for m in models])
        except redis.RedisError as error:
            raise StoreUnavailableError(f"the shared store at {self!r} is unreachable: {error}") from error
        return {m for m, hit in zip(models, found, strict=False) if hit is not None}

    # -- cache
    def _cache_keys(self, request: bytes) -> list[str]:
        key = digest(request)
        return [
            self._key("cache", key),
            self._key("cache", "_lru"),
            self._key("cache", "_sizes"),
            self._key("cache", "_bytes"),
        ]

    def cache_get(self, key: bytes) -> bytes | None:
        value = self._run("CACHE_GET", self._cache_keys(key)[:2], [])
        return None if value is None else bytes(value)

    async def cache_get_async(self, key: bytes) -> bytes | None:
        value = await self._acall("CACHE_GET", self._cache_keys(key)[:2], [])
        return None if value is None else bytes(value)

    def cache_put(self, key: bytes, value: bytes, ttl_s: float | None, max_bytes: int) -> None:
        if len(value) <= max_bytes:
            self._run("CACHE_PUT", self._cache_keys(key), [value, int((ttl_s or 0) * 1000), max_bytes])

    async def cache_put_async(self, key: bytes, value: bytes, ttl_s: float | None, max_bytes: int) -> None:
        if len(value) <= max_bytes:
            await self._acall("CACHE_PUT", self._cache_keys(key), [value, int((ttl_s or 0) * 1000), max_bytes])

    def close(self) -> None:
        self._sync.close()
        self._sync.connection_pool.disconnect()

    async def aclose(self) -> None:
        self._sync.close()
        bound = self._async.pop(asyncio.get_running_loop(), None)
        if bound is not None:
            await bound.aclose()
            await bound.keeper.aclose()  # ended now, not handed to the loop's finalizer


async def _closed_with(
    store_ref: weakref.ref[RedisStore], loop: asyncio.AbstractEventLoop, client: redis.asyncio.Redis
) -> AsyncGenerator[None, None]:
    """Closes ``loop``'s ``client`` as the loop ends (after the store's updates still
    running on it), or a store shared by many ``asyncio.run()`` calls would keep each
    one's loop, pool and sockets for good. The store by a weak reference: no cycle."""
    try:
        yield
    finally:
        store = store_ref()
        bound = store._async.get(loop) if store is not None else None
        if store is None or (bound is not None and bound.client is client):  # not one made after aclose()
            if store is not None:
                from .._background import finish_background

                await finish_background(store)
                store._async.pop(loop, None)
            await _close(client)


async def _close(client: redis.asyncio.Redis) -> None:
    """Close an asyncio client and its pool (made here, not owned by the client)."""
    await client.aclose()
    await client.connection_pool.disconnect()
