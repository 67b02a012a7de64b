"""The :class:`Cache` a user configures: how long answers live, how much they may take, and
where they are kept."""

from __future__ import annotations

from dataclasses import dataclass
from os import PathLike
from typing import Any

__all__ = ["Cache", "DEFAULT_TTL_S", "DEFAULT_MAX_BYTES"]

DEFAULT_TTL_S = 3600.0
DEFAULT_MAX_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class Cache:
    """A response cache: identical requests (same model or chain, messages and every
    parameter that changes the answer; ``user``, tags and headers aside) are answered from
    it for ``ttl`` seconds (``None``: until evicted), at no cost. At most ``max_bytes`` are
    kept, least recently used out first. ``store`` is where: ``None`` (the client's store,
    in memory unless ``store=`` says otherwise), a SQLite path or ``"redis://..."``.

    Errors, refusals and broken or cancelled streams are never stored; a streamed request
    that hits replays the original chunks. Per call, ``cache=False`` skips the cache and
    ``cache=<seconds>`` sets the ttl of what this call stores.
    """

    ttl: float | None = DEFAULT_TTL_S
    max_bytes: int = DEFAULT_MAX_BYTES
    store: str | PathLike[str] | None = None

    def __post_init__(self) -> None:
        if self.ttl is not None and (
            isinstance(self.ttl, bool) or not isinstance(self.ttl, (int, float)) or self.ttl <= 0
        ):
            raise ValueError(f"Cache.ttl must be a positive number of seconds or None, got {self.ttl!r}")
        if isinstance(self.max_bytes, bool) or not isinstance(self.max_bytes, int) or self.max_bytes < 1:
            raise ValueError(f"Cache.max_bytes must be a positive int, got {self.max_bytes!r}")

    @classmethod
    def coerce(cls, value: Any) -> Cache | None:
        """``cache=`` as given to a client: a Cache, a location (path or URL), True or None."""
        if value is None or value is False:
            return None
        if value is True:
            return cls()
        if isinstance(value, Cache):
            return value
        if isinstance(value, (str, PathLike)):
            return cls(store=value)
        raise TypeError(f"cache must be a fastrouter.Cache, a SQLite path, 'redis://...' or None, got {value!r}")
