"""Client settings: timeouts, and resolving arguments against the documented env vars."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

__all__ = ["Timeout", "TimeoutLike", "Hedge", "DEFAULT_BASE_URL", "DEFAULT_TIMEOUT", "DEFAULT_MAX_RETRIES"]

DEFAULT_BASE_URL = "https://openrouter.ai/api/v1"
# Retries of a failed attempt per model of a chain (a call may override it).
DEFAULT_MAX_RETRIES = 2


class TimeoutLike(Protocol):
    """Anything shaped like ``httpx.Timeout`` (what ``openai`` users pass as ``timeout=``):
    ``connect`` and ``read`` are honoured; ``write`` and ``pool`` have no equivalent here
    and are ignored (see :meth:`Timeout.coerce`)."""

    @property
    def connect(self) -> float | None: ...
    @property
    def read(self) -> float | None: ...
    @property
    def write(self) -> float | None: ...
    @property
    def pool(self) -> float | None: ...


@dataclass(frozen=True)
class Timeout:
    """Timeouts in seconds; ``None`` disables one. NaN, zero and negatives are a
    ``ValueError``; values past 10⁹ s (about 31 years, infinity included) are clamped to
    it, i.e. no practical limit.

    - ``attempt``: one HTTP exchange (what a plain ``timeout=60.0`` sets).
    - ``connect``: establishing a connection. Per client only: a per-request
      ``timeout=`` cannot change it (connections are pooled and shared by requests).
    - ``read``: the longest wait for the server's next bytes (the response headers,
      then each read of the body); only time spent waiting counts, so a caller slower
      than a stream never trips it. A per-request ``Timeout`` (or ``httpx.Timeout``)
      replaces the client's; a per-request number keeps it (see :meth:`for_call`).
    - ``first_token``: for streams, from the request to the first content (keep-alive
      comments do not count); default: ``attempt``.
    - ``idle``: for streams, the longest wait for progress after the first token
      (keep-alive comments do not count); default: ``attempt``.
    - ``total``: the whole call, retries and failover included; backoff never sleeps
      past it.
    """

    attempt: float | None = 60.0
    connect: float | None = 10.0
    read: float | None = None
    first_token: float | None = None
    idle: float | None = None
    total: float | None = None

    def __post_init__(self) -> None:
        for name in ("attempt", "connect", "read", "first_token", "idle", "total"):
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError(f"Timeout.{name} must be a number of seconds or None, got {value!r}")
            if not value > 0:
                raise ValueError(f"Timeout.{name} must be positive, got {value!r}")

    @classmethod
    def coerce(cls, value: float | Timeout | TimeoutLike | None) -> Timeout:
        """``Timeout`` as is; a number is the per-attempt timeout; ``None`` disables it.

        An object shaped like ``httpx.Timeout`` (attributes ``connect``, ``read``,
        ``write``, ``pool``; e.g. ``httpx.Timeout(60.0, connect=5.0)`` as passed to
        ``openai``) sets ``connect`` and ``read`` and nothing else: no per-attempt or
        total limit (httpx has none); ``write`` and ``pool`` have no equivalent and are
        ignored.
        """
        if isinstance(value, Timeout):
            return value
        if value is None:
            return cls(attempt=None)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            shaped = _httpx_shaped(value)
            if shaped is not None:
                return cls(attempt=None, connect=shaped[0], read=shaped[1])
            raise TypeError(
                "timeout must be a number of seconds, a fastrouter.Timeout, an httpx.Timeout"
                f" (or alike) or None, got {value!r}"
            )
        if not value > 0:
            raise ValueError(f"timeout must be a positive number of seconds, got {value!r}")
        return cls(attempt=float(value))

    def for_call(self, value: float | Timeout | TimeoutLike | None) -> Timeout:
        """A call's ``timeout=`` (or ``with_options(timeout=...)``) over this, the client's:
        a :class:`Timeout` or an ``httpx.Timeout``-shaped object replaces every limit; a
        number replaces ``attempt`` (and with it ``first_token``, ``idle``, ``total``) and
        keeps this ``read``; ``None`` disables them all. ``connect`` always stays this one:
        connections are pooled and shared by the client's calls."""
        call = Timeout.coerce(value)
        read = self.read if isinstance(value, (int, float)) else call.read
        if call.connect == self.connect and call.read == read:
            return call
        return dataclasses.replace(call, connect=self.connect, read=read)


_HTTPX_FIELDS = ("connect", "read", "write", "pool")


def _httpx_shaped(value: object) -> tuple[float | None, float | None] | None:
    """``(connect, read)`` of an object shaped like ``httpx.Timeout`` (duck-typed: httpx is
    never imported), else ``None``."""
    if isinstance(value, bool) or not all(hasattr(value, name) for name in _HTTPX_FIELDS):
        return None
    return value.connect, value.read  # type: ignore[attr-defined]


DEFAULT_TIMEOUT = Timeout()


@dataclass(frozen=True)
class Hedge:
    """Opt-in hedging for chains: if the first model has produced no first token after
    ``after`` seconds, the next model is started in parallel; the first to deliver wins and
    the other is cancelled (its connection closed; it appears in ``attempts`` with
    ``hedged=True`` and ``error_kind="cancelled"``). With ``adaptive=True`` the delay is the
    p95 time-to-first-token this client measured for that model (``after`` until enough
    requests were seen)."""

    after: float = 1.0
    adaptive: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.after, bool) or not isinstance(self.after, (int, float)) or not self.after > 0:
            raise ValueError(f"Hedge.after must be a positive number of seconds, got {self.after!r}")


def _env(*names: str) -> str | None:
    for name in names:
        value = os.environ.get(name)
        if value:
            return value
    return None


def resolve_api_key(api_key: str | None) -> str | None:
    """The argument, else ``OPENROUTER_API_KEY``. (The core rejects a key that cannot be
    a header value, e.g. non-ASCII, with a ``ValueError`` naming ``api_key``.)"""
    if api_key is not None and not isinstance(api_key, str):
        raise TypeError(f"api_key must be a str or None, got {type(api_key).__name__}")
    return api_key if api_key is not None else _env("OPENROUTER_API_KEY")


def resolve_base_url(base_url: str | None) -> str:
    """The argument, else ``OPENROUTER_BASE_URL``, else OpenRouter's API. An empty
    ``base_url`` is an error, never a silent switch to production OpenRouter."""
    if base_url is not None:
        if not isinstance(base_url, str):
            raise TypeError(f"base_url must be a str or None, got {type(base_url).__name__}")
        if not base_url.strip():
            raise ValueError(
                "base_url must not be empty; omit it (or pass None) to use OPENROUTER_BASE_URL or OpenRouter's API"
            )
        return base_url.rstrip("/")
    return (_env("OPENROUTER_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")


def attribution_headers(
    app_url: str | None,
    app_title: str | None,
    app_categories: str | Sequence[str] | None,
    default_headers: Mapping[str, str] | None,
) -> dict[str, str]:
    """Headers sent on every request: app attribution (arguments or env vars), then the
    user's ``default_headers`` (which win)."""
    headers: dict[str, str] = {}
    url = app_url or _env("OPENROUTER_HTTP_REFERER")
    if url:
        headers["HTTP-Referer"] = url
    title = app_title or _env("OPENROUTER_APP_TITLE", "OPENROUTER_X_TITLE")
    if title:
        headers["X-OpenRouter-Title"] = title
        headers["X-Title"] = title
    categories = app_categories if app_categories is not None else _env("OPENROUTER_APP_CATEGORIES")
    if categories:
        headers["X-OpenRouter-Categories"] = categories if isinstance(categories, str) else ",".join(categories)
    for name, value in (default_headers or {}).items():
        if not isinstance(name, str) or not isinstance(value, str):
            raise TypeError(f"default_headers must map str to str, got {name!r}: {type(value).__name__}")
        headers[name] = value
    return headers
