"""What happened on each try of a request: :class:`Attempt`."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._fastrouter import NativeAttempt

__all__ = ["Attempt"]


@dataclass(frozen=True)
class Attempt:
    """One try of one model in a chain (successful or not).

    ``status`` is the HTTP status (200 for the successful try, ``None`` when no response
    came); ``error_kind`` is the core's classification of a failure (``"rate_limited"``,
    ``"timeout"``, ...); ``cost`` is exact (``Decimal``) when the server reported it;
    ``http_version`` is the protocol the exchange used (``"HTTP/2"``, ``"HTTP/1.1"``), or
    ``None`` when no response came.
    """

    model: str
    provider: str | None
    status: int | None
    error_kind: str | None
    error: str | None
    latency_s: float
    first_token_s: float | None
    cost: Decimal | None
    retry: int
    hedged: bool
    http_version: str | None = None

    @property
    def ok(self) -> bool:
        """True for the attempt that produced the answer."""
        return self.error_kind is None

    @classmethod
    def _from_native(cls, raw: NativeAttempt) -> Attempt:
        cost = raw.cost
        return cls(
            model=raw.model,
            provider=raw.provider,
            status=raw.status,
            error_kind=raw.error_kind,
            error=raw.error,
            latency_s=raw.latency_s,
            first_token_s=raw.first_token_s,
            cost=Decimal(cost) if cost is not None else None,
            retry=raw.retry,
            hedged=raw.hedged,
            http_version=raw.http_version,
        )
