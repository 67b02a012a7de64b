"""How a tier's check results combine into its one quality score, and :class:`TierScore`.

The rules (also in ``resp.cascade.scores``, one :class:`TierScore` per tier tried):

1. **Gates decide alone.** If any gate failed (a refusal; finish_reason ``length``,
   ``content_filter`` or ``error``; an empty answer; JSON or tool-call arguments that do
   not parse or do not match the schema; a user check returning ``False``) the score is 0.
2. **Signals are averaged.** The weighted mean of the signals that applied: token
   confidence from logprobs (weight 1), each user check returning a number (weight 1,
   clamped to 0..1), the judge (weight ``judge_weight``, default 2). With no signal at all
   an answer that passed every gate scores 1.0.
3. **Hedging is a weak signal.** Each distinct hedging phrase ("I'm not sure", "I cannot",
   ...) multiplies the score by 0.85, at most twice (x0.72): it cannot sink a sure answer
   on its own, but tips a doubtful one below the threshold.

The first tier whose score reaches the cascade's ``threshold`` is kept; the last tier's
answer is always kept.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any, NamedTuple

from .checks import CheckResult

__all__ = ["RULES", "TierScore", "combine"]

RULES = (
    "a failed gate scores 0; else the weighted mean of the signals (confidence 1, user checks 1,"
    " judge 2; 1.0 with none), x0.85 per hedging phrase (at most twice)"
)
"""The rules above in one line (``Routing.explain`` shows it)."""


def combine(results: Iterable[CheckResult]) -> float:
    """The score of one answer from its check results (see the module rules)."""
    weighted = 0.0
    weights = 0.0
    factor = 1.0
    for result in results:
        score = result.score
        if score is None:
            continue
        if result.gate:
            if score <= 0.0:
                return 0.0
        elif result.name == "hedging":
            factor *= score
        else:
            weighted += result.weight * score
            weights += result.weight
    soft = weighted / weights if weights else 1.0
    return max(0.0, min(1.0, soft * factor))


class TierScore(NamedTuple):
    """One tier of a cascade as it went: the ``model`` that answered, its ``score``
    (0..1), whether it was ``kept``, the ``checks`` behind the score, what the tier
    ``cost`` (exact), and the ``error`` when the tier failed outright."""

    tier: int
    model: str | None
    score: float
    kept: bool
    checks: tuple[CheckResult, ...]
    cost: Decimal
    error: str | None = None

    @property
    def reasons(self) -> tuple[str, ...]:
        """Each check's verdict in words: ``"confidence 0.93: mean token probability ..."``."""
        if self.error is not None:
            return (f"failed: {self.error}",)
        return tuple(str(result) for result in self.checks)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict (cost as a decimal string)."""
        return {
            "tier": self.tier,
            "model": self.model,
            "score": round(self.score, 4),
            "kept": self.kept,
            "cost": str(self.cost),
            "error": self.error,
            "checks": [
                {"name": c.name, "score": c.score, "reasons": list(c.reasons), "gate": c.gate} for c in self.checks
            ],
        }

    def __str__(self) -> str:
        head = f"tier {self.tier} {self.model or '?'}: {self.score:.2f}{' (kept)' if self.kept else ''}"
        return head + "".join(f"\n  {reason}" for reason in self.reasons)
