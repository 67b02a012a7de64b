"""The readable account of what a route or alias resolves to (``Routing.explain``, ``fastrouter route explain``)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Dict, List, Optional

from .._format import usd
from ..catalog import Catalog
from .resolution import _count, _per_million

if TYPE_CHECKING:
    from .config import Routing


def _model_facts(catalog: Catalog, model_id: str) -> str:
    model = catalog.get(model_id)
    if model is None:
        return "(not in the catalog)"
    context = f"{model.context_length:,}" if model.context_length else "?"
    prompt, completion = _per_million(model.pricing.prompt), _per_million(model.pricing.completion)
    return f"{prompt}/M in, {completion}/M out, {context} context"


_MODE_HELP: Dict[str, str] = {
    "cheapest": "cheapest first (prompt + completion price), then larger context",
    "quality": "most expensive first (price stands in for quality: OpenRouter has no quality score), "
    "then larger context",
    "fastest": "lowest measured p50 time to first token first; unmeasured models after, cheapest first",
    "balanced": "priced near the candidates' median first (tiers of 2x), fastest measured first inside a tier",
    "ordered": "the listed order",
}


def explain_route(
    routing: Routing,
    name: str,
    catalog: Catalog,
    latencies: Optional[Mapping[str, float]] = None,
) -> str:
    """What ``name`` resolves to, as :meth:`Routing.explain` returns it."""
    resolved = routing.resolve(name, catalog, latencies=latencies)
    where = f" ({routing.source})" if routing.source and not routing.source.startswith("<") else ""
    if resolved.kind == "cascade":
        from ..cascade.routes import explain_cascade_route

        return explain_cascade_route(routing, name, resolved, catalog, where, _model_facts)
    lines: List[str] = []
    if resolved.kind == "alias":
        lines.append(f"alias {name!r}{where}: a fixed chain, tried in order")
    else:
        route = routing.routes[name]
        lines.append(f"route {name!r}{where}")
        if route.models:
            pool = f"the {_count(len(route.models), 'listed model')}"
        else:
            free = "" if route.prefer_free else ", free"
            pool = f"the catalog (routers, unpriced{free} and non-text-output models set aside)"
            if route.output_modalities:
                pool = f"the catalog (routers, unpriced{free} models set aside)"
        lines.append(f"  pool:         {pool}")
        lines.append(f"  requirements: {route.describe_requirements() or 'none'}")
        lines.append(f"  mode:         {resolved.mode} - {_MODE_HELP[resolved.mode or 'ordered']}")
        if route.prefer_free:
            lines.append("  prefer_free:  free models first")
        lines.append(f"  candidates:   {resolved.candidates}")
    lines.append(f"chain ({len(resolved.chain)} models):")
    width = max((len(m) for m in resolved.chain), default=0)
    for i, (model_id, why) in enumerate(resolved.reasons, 1):
        lines.append(f"  {i}. {model_id:<{width}}  {_model_facts(catalog, model_id)}")
        lines.append(f"     {' ' * len(str(i))}{why}")
    for model_id, why in resolved.dropped:
        lines.append(f"  dropped {model_id}: {why}")
    settings = []
    if resolved.max_retries is not None:
        settings.append(f"max_retries={resolved.max_retries}")
    if resolved.hedge_after is not None:
        settings.append(f"hedge_after={resolved.hedge_after:g}s")
    if resolved.deadline_s is not None:
        settings.append(f"deadline={resolved.deadline_s:g}s")
    if resolved.max_cost_per_request is not None:
        settings.append(f"max_cost_per_request={usd(resolved.max_cost_per_request)}")
    if settings:
        lines.append("settings: " + ", ".join(settings))
    if resolved.providers:
        lines.append("provider preferences: " + json.dumps(dict(resolved.providers), sort_keys=True))
    return "\n".join(lines)
