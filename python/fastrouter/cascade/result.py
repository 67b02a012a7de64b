"""What a cascade tells about one answer: :class:`CascadeResult` (``resp.cascade``)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from .scoring import TierScore

__all__ = ["CascadeResult"]

_HUNDRED = Decimal(100)


@dataclass(frozen=True)
class CascadeResult:
    """``resp.cascade``: how a cascade reached its answer.

    ``model_used`` answered and ``accepted_tier`` (0-based) is its tier; ``scores`` has one
    :class:`TierScore` per tier tried (score, reasons, cost); ``cost`` is everything the
    answer cost (every tier tried and every judge call; the same as ``resp.cost``);
    ``baseline_cost`` is what the last tier alone would have cost for the same request
    (priced from the catalog on the kept answer's usage when the last tier was not
    called; ``None`` when its price is unknown).
    """

    model_used: str
    accepted_tier: int
    scores: tuple[TierScore, ...]
    cost: Decimal
    baseline_cost: Decimal | None
    threshold: float

    @property
    def escalations(self) -> int:
        """How many tiers were tried and dropped before the kept one."""
        return len(self.scores) - 1

    @property
    def savings(self) -> Decimal | None:
        """``baseline_cost - cost`` (negative when escalating cost more than the last tier
        alone would have); ``None`` without a baseline."""
        return None if self.baseline_cost is None else self.baseline_cost - self.cost

    @property
    def savings_pct(self) -> float | None:
        """``savings`` as a percentage of ``baseline_cost``."""
        savings = self.savings
        if savings is None or not self.baseline_cost:
            return None
        return float(savings * _HUNDRED / self.baseline_cost)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict (money as decimal strings)."""
        savings = self.savings
        return {
            "model_used": self.model_used,
            "accepted_tier": self.accepted_tier,
            "threshold": self.threshold,
            "cost": str(self.cost),
            "baseline_cost": None if self.baseline_cost is None else str(self.baseline_cost),
            "savings": None if savings is None else str(savings),
            "savings_pct": self.savings_pct,
            "scores": [s.to_dict() for s in self.scores],
        }
