"""The last good ``/models`` body on disk, and the conditional-GET validator format it stores."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .records import DEFAULT_CATALOG_TTL, _frozen_slots

logger = logging.getLogger("fastrouter")


# --------------------------------------------------------------------------------- cache


def fresh(fetched_at: float, now: float, ttl_s: float) -> bool:
    """Whether a copy fetched at ``fetched_at`` is still fresh at ``now``: younger than
    ``ttl_s`` and not from the future (a clock set back, a copied file), which would
    otherwise stay fresh for ever."""
    return 0 <= now - fetched_at < ttl_s


def default_cache_dir() -> Path:
    """Where the catalog is cached: ``$FASTROUTER_CACHE_DIR`` if set, else the user's cache
    directory: ``~/Library/Caches/fastrouter`` on macOS, ``%LOCALAPPDATA%\\fastrouter\\Cache``
    on Windows, ``$XDG_CACHE_HOME/fastrouter`` or ``~/.cache/fastrouter`` elsewhere."""
    override = os.environ.get("FASTROUTER_CACHE_DIR")
    if override:
        return Path(override).expanduser()
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "fastrouter"
    if sys.platform == "win32":
        local = os.environ.get("LOCALAPPDATA")
        return (Path(local) if local else Path.home() / "AppData" / "Local") / "fastrouter" / "Cache"
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".cache") / "fastrouter"


@_frozen_slots
@dataclass(frozen=True)
class CacheEntry:
    """One cached ``/models`` response: the body as received, when it was fetched (epoch
    seconds) and the validator to revalidate it with (``etag``: an ETag, or a Last-Modified
    date; see :func:`validator_from_headers`)."""

    body: bytes = field(repr=False)
    fetched_at: float
    etag: str | None = None
    base_url: str = ""


_CACHE_FORMAT = "fastrouter-models/1"


class CatalogCache:
    """The ``/models`` body on disk, one file per base URL, with a freshness TTL.

    ``path`` is the directory (default :func:`default_cache_dir`); ``ttl_s`` how long a
    copy counts as fresh. A file holds one JSON header line (base URL, ``fetched_at``,
    validator) then the body as received; it is replaced atomically (a temporary file
    then ``os.replace``), so readers never see half a file.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, ttl_s: float = DEFAULT_CATALOG_TTL) -> None:
        if isinstance(ttl_s, bool) or not isinstance(ttl_s, (int, float)) or ttl_s < 0:
            raise ValueError(f"ttl_s must be a non-negative number of seconds, got {ttl_s!r}")
        self.path = Path(path).expanduser() if path is not None else default_cache_dir()
        self.ttl_s = float(ttl_s)

    def __repr__(self) -> str:
        return f"CatalogCache(path={str(self.path)!r}, ttl_s={self.ttl_s:g})"

    def file_for(self, base_url: str) -> Path:
        """The cache file of ``base_url`` (named by a hash of the URL)."""
        digest = hashlib.sha256(base_url.rstrip("/").encode("utf-8")).hexdigest()[:20]
        return self.path / f"models-{digest}.cache"

    def is_fresh(self, entry: CacheEntry, now: float | None = None) -> bool:
        """Whether ``entry`` is younger than ``ttl_s``. A timestamp in the future (a clock
        set back, a copied file) is not fresh: it would otherwise stay fresh for ever."""
        return fresh(entry.fetched_at, time.time() if now is None else now, self.ttl_s)

    def read(self, base_url: str) -> CacheEntry | None:
        """The cached entry of ``base_url``, or None (missing, unreadable or corrupt files
        read as absent)."""
        target = self.file_for(base_url)
        try:
            blob = target.read_bytes()
        except OSError:
            return None
        header, newline, body = blob.partition(b"\n")
        try:
            meta = json.loads(header) if newline else None
        except ValueError:
            meta = None
        if (
            not isinstance(meta, dict)
            or meta.get("format") != _CACHE_FORMAT
            or meta.get("base_url") != base_url.rstrip("/")
            or not isinstance(meta.get("fetched_at"), (int, float))
        ):
            logger.debug("fastrouter: ignoring the unreadable catalog cache %s", target)
            return None
        etag = meta.get("etag")
        return CacheEntry(
            body=body,
            fetched_at=float(meta["fetched_at"]),
            etag=etag if isinstance(etag, str) else None,
            base_url=base_url.rstrip("/"),
        )

    def write(self, base_url: str, entry: CacheEntry) -> Path:
        """Store ``entry`` for ``base_url`` atomically; returns the file. Raises OSError."""
        target = self.file_for(base_url)
        target.parent.mkdir(parents=True, exist_ok=True)
        header = {
            "format": _CACHE_FORMAT,
            "base_url": base_url.rstrip("/"),
            "fetched_at": entry.fetched_at,
            "etag": entry.etag,
        }
        fd, tmp = tempfile.mkstemp(prefix=target.name + ".", suffix=".tmp", dir=str(target.parent))
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(json.dumps(header, separators=(",", ":")).encode("utf-8") + b"\n")
                out.write(entry.body)
            os.replace(tmp, target)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
        return target

    def clear(self, base_url: str | None = None) -> None:
        """Delete the cache file of ``base_url``, or every catalog cache file."""
        targets = [self.file_for(base_url)] if base_url is not None else list(self.path.glob("models-*.cache"))
        for target in targets:
            try:
                target.unlink()
            except FileNotFoundError:
                pass


def validator_from_headers(headers: Mapping[str, str]) -> str | None:
    """The validator to store from response headers (any case): the ``ETag``, else
    ``"last-modified:" + Last-Modified``, else None."""
    lowered = {k.lower(): v for k, v in headers.items()}
    etag = lowered.get("etag")
    if etag:
        return etag
    modified = lowered.get("last-modified")
    return f"last-modified:{modified}" if modified else None


def conditional_headers(validator: str | None) -> dict[str, str]:
    """The request headers that revalidate ``validator`` (``If-None-Match`` or
    ``If-Modified-Since``); empty when there is none."""
    if not validator:
        return {}
    if validator.startswith("last-modified:"):
        return {"If-Modified-Since": validator[len("last-modified:") :]}
    return {"If-None-Match": validator}


def fetched(result: tuple[bytes | None, Sequence[tuple[str, str]]]) -> tuple[bytes | None, str | None]:
    """A native GET's ``(body, validator headers)`` -> ``(body, validator)``."""
    body, headers = result
    return body, validator_from_headers(dict(headers))
