"""One request's plan from a resolved chain: request defaults merged under the call's values,
the spread order, and the per-request cost cap as a selection constraint.

The cap (``max_cost_per_request``: the call's, else the route's or alias's, else the
client's) skips every candidate whose worst case exceeds it (see
:func:`fastrouter.usage.cost.worst_case_cost`); only when nothing fits is the request
refused, with each candidate's reason. Without ``max_tokens`` (or
``max_completion_tokens``) the worst case assumes :data:`DEFAULT_OUTPUT_ALLOWANCE`
completion tokens, and that allowance is sent as ``max_tokens`` so the cap holds.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from .._format import usd
from ..catalog import Model
from ..errors import BudgetExceededError
from ..usage.cost import estimate_prompt_tokens, worst_case_cost

__all__ = ["DEFAULT_OUTPUT_ALLOWANCE", "PriceTable", "merge_params", "spread_order", "fit_cost_cap"]

_MIN_SPEED, _MAX_SPEED = 0.25, 4.0

DEFAULT_OUTPUT_ALLOWANCE = 4096
"""Completion tokens a capped request may use when it sets no ``max_tokens``."""


def merge_params(*layers: Mapping[str, Any] | None) -> dict[str, Any]:
    """Request parameters from the lowest layer (route or alias defaults) to the highest
    (the call): a later layer's value wins; ``provider`` preferences merge key by key."""
    merged: dict[str, Any] = {}
    for layer in layers:
        if not layer:
            continue
        for key, value in layer.items():
            if key == "provider" and isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
                merged[key] = {**merged[key], **value}
            else:  # read-only mappings of a routing become plain dicts, JSON-able
                merged[key] = dict(value) if isinstance(value, Mapping) else value
    return merged


def spread_order(
    chain: Sequence[str],
    weights: Mapping[str, float],
    latencies: Mapping[str, float],
    cooling: set[str],
    rng: Callable[[], float] = random.random,
) -> list[str]:
    """``chain`` reordered to share traffic: healthy members drawn one after another with
    probability proportional to ``weight x (median latency / own latency)`` (weight 1 when
    unlisted; unmeasured members count as the median; the speed factor is kept within
    1/4..4 so a noisy measurement cannot starve a member), cooling members last in chain order.
    The rest of the order is the failover order of this request."""
    healthy = [m for m in chain if m not in cooling]
    measured = sorted(
        s for s in (latencies.get(m) for m in healthy) if isinstance(s, (int, float)) and math.isfinite(s) and s > 0
    )
    median = measured[len(measured) // 2] if measured else 1.0
    scores: dict[str, float] = {}
    for model in healthy:
        seconds = latencies.get(model)
        measured_ok = isinstance(seconds, (int, float)) and math.isfinite(seconds) and seconds > 0
        speed = min(max(median / float(seconds or 1.0), _MIN_SPEED), _MAX_SPEED) if measured_ok else 1.0
        scores[model] = max(float(weights.get(model, 1.0)), 0.0) * speed
    order: list[str] = []
    pool = list(healthy)
    while pool:
        total = sum(scores[m] for m in pool)
        if total <= 0:
            order += pool
            break
        point = rng() * total
        for model in pool:
            point -= scores[model]
            if point < 0:
                break
        order.append(model)
        pool.remove(model)
    return order + [m for m in chain if m in cooling]


class PriceTable:
    """A pool's prices as floats, computed once per resolved chain: screening hundreds of
    candidates against a cap is then plain float arithmetic, and only the candidates near
    the cap or kept are priced exactly (``Decimal``, :func:`worst_case_cost`)."""

    __slots__ = ("entries",)

    def __init__(self, pool: Sequence[str], lookup: Callable[[str], Model | None]) -> None:
        self.entries: list[tuple[str, Model | None, tuple[float, float, float] | None]] = []
        for entry in pool:
            model = lookup(entry)
            pricing = model.pricing if model is not None else None
            floats = None
            if pricing is not None and pricing.prompt is not None and pricing.completion is not None:
                per_output = max(pricing.completion, pricing.internal_reasoning or Decimal(0))
                floats = (float(pricing.prompt), float(per_output), float(pricing.request or 0))
            self.entries.append((entry, model, floats))


def fit_cost_cap(
    chain: Sequence[str],
    cap: Decimal,
    body_bytes: int,
    max_tokens: int | None,
    lookup: Callable[[str], Model | None],
    requested: str,
    want: int | None = None,
    table: PriceTable | None = None,
) -> tuple[list[str], list[tuple[str, str]]]:
    """The members of ``chain`` (in order; ``table``: the same pool, priced beforehand)
    whose worst case fits ``cap``, at most ``want`` of them, and ``(member, why)`` for
    those skipped; raises :class:`BudgetExceededError` naming the reasons when none fits."""
    kept: list[str] = []
    skipped: list[tuple[str, str]] = []
    allowance = max_tokens if max_tokens is not None else DEFAULT_OUTPUT_ALLOWANCE
    prompt_tokens = estimate_prompt_tokens(body_bytes)
    ceiling = float(cap) * (1 + 1e-9)  # above it (floats agree to ~1e-15): surely over
    for entry, model, floats in (table or PriceTable(chain, lookup)).entries:
        if want is not None and len(kept) >= want:
            break
        if floats is None or model is None:
            skipped.append((entry, "its price is unknown"))
            continue
        prompt, output, fee = floats
        if prompt_tokens * prompt + allowance * output + fee > ceiling:
            skipped.append((entry, ""))  # the exact amount is worked out only for a refusal
            continue
        worst = worst_case_cost(model, body_bytes, allowance)
        if worst is None or worst > cap:
            skipped.append((entry, ""))
        else:
            kept.append(entry)
    if not kept:
        tokens = f"max_tokens={max_tokens}" if max_tokens is not None else f"{DEFAULT_OUTPUT_ALLOWANCE} output tokens"
        reasons = "; ".join(
            f"{entry} {why or _over(entry, lookup, body_bytes, allowance)}" for entry, why in skipped[:5]
        )
        if len(skipped) > 5:
            reasons += f"; and {len(skipped) - 5} more"
        raise BudgetExceededError(
            f"no model for {requested} fits max_cost_per_request={usd(cap)} with {tokens}: {reasons}."
            " Lower max_tokens, raise the cap, or add cheaper models"
        )
    return kept, [(entry, why or "could cost more than the cap") for entry, why in skipped]


def _over(entry: str, lookup: Callable[[str], Model | None], body_bytes: int, allowance: int) -> str:
    model = lookup(entry)
    worst = worst_case_cost(model, body_bytes, allowance) if model is not None else None
    return "its price is unknown" if worst is None else f"could cost up to {usd(worst)}"
