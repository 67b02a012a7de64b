"""The :class:`Limit` a user configures: requests and tokens per minute, requests in flight."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["Limit"]

_FIELDS = ("rpm", "tpm", "concurrency", "wait")


def _cap(value: Any, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"Limit.{name} must be a positive int or None, got {value!r}")
    return value


@dataclass(frozen=True)
class Limit:
    """A client-side rate limit: at most ``rpm`` requests and ``tpm`` tokens (prompt plus
    completion) in any sliding 60 s window, and ``concurrency`` requests in flight.

    Requests are admitted before they are sent: tokens are estimated then (the prompt's
    size plus ``max_tokens``) and corrected from the answer's usage. Over a limit a request
    waits (first come, first served, within its deadline) or, with ``wait=False``, raises
    :class:`~fastrouter.RateLimitError` (``client_side=True``) at once, sending nothing.
    """

    rpm: int | None = None
    tpm: int | None = None
    concurrency: int | None = None
    wait: bool = True

    def __post_init__(self) -> None:
        for name in ("rpm", "tpm", "concurrency"):
            _cap(getattr(self, name), name)
        if not isinstance(self.wait, bool):
            raise TypeError(f"Limit.wait must be a bool, got {self.wait!r}")
        if self.rpm is None and self.tpm is None and self.concurrency is None:
            raise ValueError("a Limit needs at least one of rpm, tpm, concurrency")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Limit:
        """A limit from a table (``{ rpm = 60, concurrency = 4 }``)."""
        unknown = [k for k in data if k not in _FIELDS]
        if unknown:
            raise ValueError(f"unknown Limit field {unknown[0]!r} (expected {', '.join(_FIELDS)})")
        return cls(**dict(data))

    def to_dict(self) -> dict[str, Any]:
        """The table form (unset caps left out)."""
        out: dict[str, Any] = {k: getattr(self, k) for k in ("rpm", "tpm", "concurrency") if getattr(self, k)}
        if not self.wait:
            out["wait"] = False
        return out
