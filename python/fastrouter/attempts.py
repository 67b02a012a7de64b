"""What happened on each try of a request: :class:`Attempt`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Optional

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
    provider: Optional[str]
    status: Optional[int]
    error_kind: Optional[str]
    error: Optional[str]
    latency_s: float
    first_token_s: Optional[float]
    cost: Optional[Decimal]
    retry: int
    hedged: bool
    http_version: Optional[str] = None

    @property
    def ok(self) -> bool:
        """True for the attempt that produced the answer."""
        return self.error_kind is None

    @classmethod
    def _from_native(cls, raw: Sequence[Any]) -> Attempt:
        (model, provider, status, error_kind, error, latency, first_token, cost, retry, hedged, http_version) = raw
        return cls(
            model=model,
            provider=provider,
            status=status,
            error_kind=error_kind,
            error=error,
            latency_s=latency,
            first_token_s=first_token,
            cost=Decimal(cost) if cost is not None else None,
            retry=retry,
            hedged=hedged,
            http_version=http_version,
        )
