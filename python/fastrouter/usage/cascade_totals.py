"""Cascade totals over ledger entries: requests, acceptance per tier, cost, baseline, savings."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .ledger import UsageEntry

__all__ = ["CascadeTotals", "cascade_totals"]

_ZERO = Decimal(0)
_HUNDRED = Decimal(100)


@dataclass
class CascadeTotals:
    """What the cascades recorded in a ledger did (``client.usage.cascade()``).

    ``requests`` counts cascades that ended (one ``kept`` entry each, answered or
    failed); ``accepted`` maps a tier (0-based) to the answers kept there; ``cost`` is
    everything the cascades spent (drafts, kept answers, judges; exact); ``baseline`` is
    what the last tier alone would have cost for the answered requests; ``savings`` is
    ``baseline - cost``.
    """

    requests: int = 0
    failed: int = 0
    accepted: dict[int, int] = field(default_factory=dict)
    cost: Decimal = _ZERO
    draft_cost: Decimal = _ZERO
    judge_cost: Decimal = _ZERO
    baseline: Decimal = _ZERO
    unknown_baseline: int = 0

    @property
    def acceptance(self) -> dict[int, float]:
        """The share of answered cascades kept at each tier."""
        answered = sum(self.accepted.values())
        return {tier: count / answered for tier, count in sorted(self.accepted.items())} if answered else {}

    @property
    def savings(self) -> Decimal:
        """``baseline - cost`` (negative when escalations cost more than they saved)."""
        return self.baseline - self.cost

    @property
    def savings_pct(self) -> float | None:
        """``savings`` as a percentage of ``baseline`` (``None`` without a baseline)."""
        return float(self.savings * _HUNDRED / self.baseline) if self.baseline else None

    def add(self, entry: UsageEntry) -> None:
        """Count one entry (entries without a cascade role are ignored)."""
        role = entry.role
        if role is None:
            return
        spent = entry.total_cost
        self.cost += spent
        if role == "draft":
            self.draft_cost += spent
        elif role == "judge":
            self.judge_cost += spent
        elif role == "kept":
            self.requests += 1
            if entry.status == "error":
                self.failed += 1
                return
            tier = entry.cascade_tier if entry.cascade_tier is not None else -1
            self.accepted[tier] = self.accepted.get(tier, 0) + 1
            if entry.baseline_cost is None:
                self.unknown_baseline += 1
            else:
                self.baseline += entry.baseline_cost


def cascade_totals(entries: Iterable[UsageEntry]) -> CascadeTotals:
    """The :class:`CascadeTotals` of these entries."""
    totals = CascadeTotals()
    for entry in entries:
        totals.add(entry)
    return totals
