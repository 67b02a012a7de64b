"""Shared state behind one small interface (:class:`Store`): in this process's memory (the
default), a SQLite file (the response cache) or a Redis server shared by many processes."""

from __future__ import annotations

from os import PathLike
from typing import Union

from .base import LEASE_S, WAIT_FOR_RELEASE, WINDOW_S, BudgetSlot, LimitSpec, Store
from .memory import MemoryStore

__all__ = ["Store", "MemoryStore", "LimitSpec", "BudgetSlot", "open_store", "WINDOW_S", "WAIT_FOR_RELEASE", "LEASE_S"]

StoreArg = Union[str, "PathLike[str]", Store, None]


def open_store(spec: StoreArg) -> Store:
    """The store ``spec`` names: ``None``/``"memory"`` (in-process), ``"redis://..."`` or
    ``"rediss://..."`` (needs ``fastrouter[redis]``), a ``.db`` path (SQLite) or a
    :class:`Store` as is."""
    if spec is None or spec == "memory":
        return MemoryStore()
    if isinstance(spec, Store):
        return spec
    text = str(spec)
    if text.startswith(("redis://", "rediss://", "unix://")):
        try:
            from .redis_store import RedisStore
        except ImportError as error:  # pragma: no cover - depends on the environment
            raise ImportError("a redis:// store needs redis-py: pip install 'fastrouter[redis]'") from error
        return RedisStore(text)
    if isinstance(spec, (str, PathLike)):
        from .sqlite import SqliteStore

        return SqliteStore(text)
    raise TypeError(f"store must be 'memory', 'redis://...', a SQLite path or a Store, got {spec!r}")
