"""What a cascade is: :class:`Cascade`, its tiers, threshold, checks and judge."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

__all__ = ["Cascade", "Check", "Tier"]

Tier = str | Sequence[str]
"""A tier: a model id, an alias or route name, or a list of model ids (a failover chain)."""

Check = Callable[[dict[str, Any], Any], float | bool | Awaitable[float | bool]]
"""A user check: ``(request, completion) -> float | bool`` (or an awaitable of one)."""

_KEYS = ("tiers", "threshold", "judge", "judge_weight", "logprobs", "max_cost_per_request")


def _tier(value: Any, index: int) -> tuple[str, ...]:
    if isinstance(value, str) and value:
        return (value,)
    if isinstance(value, (list, tuple)) and value and all(isinstance(m, str) and m for m in value):
        return tuple(value)
    raise ValueError(
        f"cascade tier {index} must be a model id, an alias or route name, or a non-empty list of model ids,"
        f" got {value!r}"
    )


class Cascade:
    """Cheap models first, escalating only when an answer is not good enough.

    ``Cascade(["meta-llama/llama-3.1-8b-instruct", "openai/gpt-4o-mini",
    "anthropic/claude-3.5-sonnet"], threshold=0.7)`` is usable as ``model=`` in
    ``create()`` (sync, async, streaming) and as a route (``[routes.x] cascade = {...}``).

    - ``tiers``: cheapest first; each a model id, an alias or route name, or a list of
      ids (a failover chain: failover inside a tier works as for any chain).
    - ``threshold``: keep the first answer whose score (0..1) reaches it; the last tier's
      answer is always kept.
    - ``checks``: extra checks, callables ``(request, completion) -> float | bool``, sync
      or async; ``request`` is the request's parameters (``messages``, ``tools``,
      ``response_format``, ...) as a dict.
    - ``judge``: a model (or chain) that rates each draft 0..10; its cost is counted in
      the answer's. ``judge_weight``: its weight among the signals (default 2).
    - ``logprobs``: request token log probabilities from tiers whose models support them
      (the catalog's ``supported_parameters``) for the confidence check (default True).
    - ``max_cost_per_request``: USD for all tiers (and judge calls) of one request; a tier
      whose worst case would break it is not sent (``BudgetExceededError``).

    How scores combine: :mod:`fastrouter.cascade.scoring`.
    """

    __slots__ = ("tiers", "threshold", "checks", "judge", "judge_weight", "logprobs", "max_cost_per_request")

    tiers: tuple[tuple[str, ...], ...]
    threshold: float
    checks: tuple[Check, ...]
    judge: tuple[str, ...] | None
    judge_weight: float
    logprobs: bool
    max_cost_per_request: Decimal | None

    def __init__(
        self,
        tiers: Sequence[Tier],
        threshold: float = 0.7,
        checks: Sequence[Check] | None = None,
        *,
        judge: Tier | None = None,
        judge_weight: float = 2.0,
        logprobs: bool = True,
        max_cost_per_request: Decimal | float | str | None = None,
    ) -> None:
        if isinstance(tiers, (str, bytes)) or not isinstance(tiers, Sequence) or not tiers:
            raise ValueError(f"a Cascade needs a non-empty list of tiers, cheapest first, got {tiers!r}")
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0.0 <= threshold <= 1.0:
            raise ValueError(f"Cascade threshold must be a number in 0..1, got {threshold!r}")
        if (
            isinstance(judge_weight, bool)
            or not isinstance(judge_weight, (int, float))
            or not math.isfinite(judge_weight)
            or judge_weight < 0
        ):
            raise ValueError(f"Cascade judge_weight must be a non-negative number, got {judge_weight!r}")
        if not isinstance(logprobs, bool):
            raise TypeError(f"Cascade logprobs must be a bool, got {logprobs!r}")
        for check in checks or ():
            if not callable(check):
                raise TypeError(
                    f"Cascade checks must be callables (request, completion) -> float | bool, got {check!r}"
                )
        put = object.__setattr__
        put(self, "tiers", tuple(_tier(t, i) for i, t in enumerate(tiers)))
        put(self, "threshold", float(threshold))
        put(self, "checks", tuple(checks or ()))
        put(self, "judge", None if judge is None else _tier(judge, -1))
        put(self, "judge_weight", float(judge_weight))
        put(self, "logprobs", logprobs)
        limit: Decimal | None = None
        if max_cost_per_request is not None:
            try:
                limit = Decimal(str(max_cost_per_request))
            except InvalidOperation:
                limit = None
            if limit is None or not limit.is_finite() or limit < 0 or isinstance(max_cost_per_request, bool):
                raise ValueError(
                    f"Cascade max_cost_per_request must be a non-negative USD amount, got {max_cost_per_request!r}"
                )
        put(self, "max_cost_per_request", limit)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("a Cascade is immutable")

    @staticmethod
    def tier_label(tier: tuple[str, ...]) -> str:
        """A tier as text: ``a`` or ``a|b`` for a chain."""
        return "|".join(tier)

    @property
    def name(self) -> str:
        """The cascade as the ledger's ``requested`` shows it: ``cascade:a>b>c``."""
        return "cascade:" + ">".join(self.tier_label(t) for t in self.tiers)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Cascade:
        """From a route's ``cascade = { tiers = [...], threshold = 0.7, judge = "..." }``
        table (checks are code, so they are not part of it). Unknown keys are errors."""
        if not isinstance(data, Mapping):
            raise TypeError(f"a cascade table must be a table, got {data!r}")
        unknown = [k for k in data if k not in _KEYS]
        if unknown:
            raise ValueError(f"unknown cascade key {unknown[0]!r}; known: {', '.join(_KEYS)}")
        if "tiers" not in data:
            raise ValueError("a cascade table needs tiers = [...]")
        return cls(**dict(data))

    def to_dict(self) -> dict[str, Any]:
        """The table form (``from_dict(c.to_dict())`` equals ``c`` without its checks)."""
        out: dict[str, Any] = {"tiers": [t[0] if len(t) == 1 else list(t) for t in self.tiers]}
        if self.threshold != 0.7:
            out["threshold"] = self.threshold
        if self.judge is not None:
            out["judge"] = self.judge[0] if len(self.judge) == 1 else list(self.judge)
        if self.judge_weight != 2.0:
            out["judge_weight"] = self.judge_weight
        if not self.logprobs:
            out["logprobs"] = False
        if self.max_cost_per_request is not None:
            out["max_cost_per_request"] = str(self.max_cost_per_request)
        return out

    def _key(self) -> tuple[Any, ...]:
        return (
            self.tiers,
            self.threshold,
            self.checks,
            self.judge,
            self.judge_weight,
            self.logprobs,
            self.max_cost_per_request,
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Cascade) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        args: list[str] = [repr([t[0] if len(t) == 1 else list(t) for t in self.tiers]), f"threshold={self.threshold}"]
        if self.checks:
            args.append(f"checks=<{len(self.checks)}>")
        if self.judge is not None:
            args.append(f"judge={self.tier_label(self.judge)!r}")
        return f"Cascade({', '.join(args)})"
