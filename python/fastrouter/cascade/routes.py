"""Cascades as routes: ``[routes.x] cascade = { tiers = [...] }`` resolved against the
catalog (each tier checked) and explained (``Routing.explain``, ``fastrouter route explain``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from ..errors import RoutingError
from ..routing.explain import settings_lines
from ..routing.resolution import ResolvedRoute, _check_id
from .scoring import RULES
from .tiers import Cascade

if TYPE_CHECKING:
    from ..catalog import Catalog
    from ..routing.config import Route, Routing

__all__ = ["resolve_cascade_route", "explain_cascade_route"]


def _tier_chain(
    routing: Routing,
    route_name: str,
    index: int,
    tier: tuple[str, ...],
    catalog: Catalog,
    latencies: Mapping[str, float],
) -> tuple[tuple[str, ...], str]:
    """A tier's model ids and how they were found."""
    key = f"routes.{route_name}.cascade.tiers[{index}]"
    if len(tier) == 1 and routing.is_route(tier[0]):
        name = tier[0]
        if name == route_name or getattr(routing.routes.get(name), "cascade", None) is not None:
            raise RoutingError(
                f"tier {name!r} is itself a cascade",
                key=key,
                suggestion="tiers are model ids, chains, aliases or routes",
            )
        resolved = routing.resolve(name, catalog, latencies=latencies)
        return resolved.chain, f"{resolved.kind} {name!r}"
    for i, model_id in enumerate(tier):
        _check_id(model_id, key if len(tier) == 1 else f"{key}[{i}]", catalog)
    return tier, "model" if len(tier) == 1 else "chain"


def resolve_cascade_route(
    routing: Routing, route: Route, catalog: Catalog, latencies: Mapping[str, float]
) -> ResolvedRoute:
    """The :class:`ResolvedRoute` of a cascade route: ``kind="cascade"``, every model its
    tiers may call as the chain (cheapest tier first), the reasons naming each tier."""
    cascade = route.cascade
    assert cascade is not None
    chain: list[str] = []
    reasons: list[tuple[str, str]] = []
    for index, tier in enumerate(cascade.tiers):
        ids, how = _tier_chain(routing, route.name, index, tier, catalog, latencies)
        role = "always kept" if index == len(cascade.tiers) - 1 else f"kept if its score reaches {cascade.threshold:g}"
        for position, model_id in enumerate(ids):
            if model_id in chain:
                continue
            chain.append(model_id)
            inside = f", #{position + 1} of its chain" if len(ids) > 1 else ""
            reasons.append((model_id, f"tier {index} ({how}{inside}): {role}"))
    limit = cascade.max_cost_per_request if cascade.max_cost_per_request is not None else route.max_cost_per_request
    return ResolvedRoute(
        name=route.name,
        kind="cascade",
        chain=tuple(chain),
        reasons=tuple(reasons),
        candidates=len(chain),
        providers=route.providers,
        max_retries=route.max_retries,
        hedge_after=route.hedge_after,
        deadline_s=route.deadline_s,
        max_cost_per_request=limit,
        cascade=cascade,
    )


def explain_cascade_route(
    routing: Routing,
    name: str,
    resolved: ResolvedRoute,
    catalog: Catalog,
    where: str,
    model_facts: Callable[[Catalog, str], str],
) -> str:
    """The readable account of a cascade route: its tiers (with prices), how answers are
    scored, and its settings."""
    cascade = resolved.cascade
    assert isinstance(cascade, Cascade)
    lines = [f"cascade route {name!r}{where}: cheapest tier first, escalating when an answer scores too low"]
    lines.append(f"  threshold:    {cascade.threshold:g} (the last tier's answer is always kept)")
    checks: dict[str, str] = {
        "built-in": "refusal / finish_reason / empty (gates), response_format and tool-call schemas (gate),"
        " token confidence from logprobs" + ("" if cascade.logprobs else " (not requested)") + ", hedging (weak)",
    }
    if cascade.judge is not None:
        checks["judge"] = f"{Cascade.tier_label(cascade.judge)} (weight {cascade.judge_weight:g}), on drafts only"
    for label, text in checks.items():
        lines.append(f"  {label + ':':<13} {text}")
    lines.append(f"  scoring:      {RULES}")
    lines.append(f"tiers ({len(cascade.tiers)}):")
    width = max((len(m) for m in resolved.chain), default=0)
    for model_id, why in resolved.reasons:
        lines.append(f"  {model_id:<{width}}  {model_facts(catalog, model_id)}")
        lines.append(f"    {why}")
    lines += settings_lines(resolved)
    return "\n".join(lines)
