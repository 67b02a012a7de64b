"""The readable account of what a route or alias resolves to (``Routing.explain``, ``fastrouter route explain``)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from .._format import usd
from ..catalog import Catalog, Model
from ..errors import BudgetExceededError, RoutingError
from .backends import model_for
from .plan import DEFAULT_OUTPUT_ALLOWANCE, fit_cost_cap, merge_params
from .resolution import ResolvedRoute, _count, _per_million

if TYPE_CHECKING:
    from .config import Routing


def _model_facts(catalog: Catalog, model_id: str, routing: Routing | None = None) -> str:
    if "::" in model_id:
        backend, _, bare = model_id.partition("::")
        config = routing.backends.get(backend) if routing is not None else None
        priced = config.prices.get(bare) if config is not None else None
        if priced is not None:
            return f"backend {backend}: {_per_million(priced.prompt)}/M in, {_per_million(priced.completion)}/M out"
        listed = catalog.get(bare)
        facts = f"priced as {bare}" if listed is not None else "no price configured"
        return f"backend {backend}: {facts}"
    model = catalog.get(model_id)
    if model is None:
        return "(not in the catalog)"
    context = f"{model.context_length:,}" if model.context_length else "?"
    prompt, completion = _per_million(model.pricing.prompt), _per_million(model.pricing.completion)
    return f"{prompt}/M in, {completion}/M out, {context} context"


_MODE_HELP: dict[str, str] = {
    "cheapest": "cheapest first (prompt + completion price), then larger context",
    "quality": "most expensive first (price stands in for quality: OpenRouter has no quality score), "
    "then larger context",
    "fastest": "lowest measured p50 time to first token first; unmeasured models after, cheapest first",
    "balanced": "priced near the candidates' median first (tiers of 2x), fastest measured first inside a tier",
    "ordered": "the listed order",
    "spread": "each request starts at a healthy member drawn by weight and measured speed; the rest fail over",
}


def _request_lines(defaults: Mapping[str, Any] | None, params: Mapping[str, Any] | None) -> list[str]:
    """The request defaults, and the request they merge into when ``params`` (the call's
    values) are given, each value marked with where it came from."""
    if not defaults and params is None:
        return []
    lines = []
    if defaults:
        lines.append("request defaults: " + json.dumps(dict(defaults), sort_keys=True) + " (values given per call win)")
    if params is not None:
        merged = merge_params(defaults, params)
        parts = []
        for key in sorted(merged):
            origin = "call" if key in params else "default"
            parts.append(f"{key}={json.dumps(merged[key], sort_keys=True)} ({origin})")
        lines.append("request: " + (", ".join(parts) or "no parameters"))
    return lines


def settings_lines(resolved: ResolvedRoute) -> list[str]:
    """``settings: ...``: the retries, hedging, deadline and cost cap a route sets (no line
    when it sets none). A cascade's deadline holds per tier and its cap for all its tiers
    together; its tiers are not hedged."""
    cascade = resolved.kind == "cascade"
    settings = []
    if resolved.max_retries is not None:
        settings.append(f"max_retries={resolved.max_retries}")
    if resolved.hedge_after is not None and not cascade:
        settings.append(f"hedge_after={resolved.hedge_after:g}s")
    if resolved.deadline_s is not None:
        settings.append(f"deadline={resolved.deadline_s:g}s" + (" per tier" if cascade else ""))
    if resolved.max_cost_per_request is not None:
        cap = usd(resolved.max_cost_per_request)
        settings.append(f"max_cost_per_request={cap}" + (" for all tiers together" if cascade else ""))
    return ["settings: " + ", ".join(settings)] if settings else []


def _empty(routing: Routing, name: str, error: RoutingError, where: str) -> str:
    """Why ``name`` resolves to no chain, instead of raising."""
    route = routing.routes.get(name)
    lines = [f"route {name!r}{where}" if route is not None else f"alias {name!r}{where}"]
    if route is not None:
        lines.append(f"  requirements: {route.describe_requirements() or 'none'}")
        lines.append(f"  mode:         {route.mode or route.effective_mode}")
    lines.append("chain: empty - no model can serve it")
    lines.append(f"  why: {error.message}" + (f" ({error.key})" if error.key else ""))
    if error.suggestion:
        lines.append(f"  fix: {error.suggestion}")
    return "\n".join(lines)


def explain_route(
    routing: Routing,
    name: str,
    catalog: Catalog,
    latencies: Mapping[str, float] | None = None,
    params: Mapping[str, Any] | None = None,
) -> str:
    """What ``name`` resolves to, as :meth:`Routing.explain` returns it (an empty route is
    explained, not raised; an unknown name still raises)."""
    where = f" ({routing.source})" if routing.source and not routing.source.startswith("<") else ""
    if not routing.is_route(name):
        raise routing._unknown_name(name)
    try:
        resolved = routing.resolve(name, catalog, latencies=latencies)
    except RoutingError as error:
        return _empty(routing, name, error, where)
    if resolved.kind == "cascade":
        from ..cascade.routes import explain_cascade_route

        return explain_cascade_route(routing, name, resolved, catalog, where, _model_facts)
    lines: list[str] = []
    if resolved.kind == "alias":
        how = "traffic spread across the members by weight and speed" if resolved.spread else "tried in order"
        lines.append(f"alias {name!r}{where}: a fixed chain, {how}")
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
        if resolved.spread:
            lines[-1] += f" (chain chosen {route.effective_mode})"
        if route.prefer_free:
            lines.append("  prefer_free:  free models first")
        lines.append(f"  candidates:   {resolved.candidates}")
    lines.append(f"chain ({len(resolved.chain)} models):")
    width = max((len(m) for m in resolved.chain), default=0)
    for i, (model_id, why) in enumerate(resolved.reasons, 1):
        lines.append(f"  {i}. {model_id:<{width}}  {_model_facts(catalog, model_id, routing)}")
        lines.append(f"     {' ' * len(str(i))}{why}")
    for model_id, why in resolved.dropped:
        lines.append(f"  dropped {model_id}: {why}")
    lines += settings_lines(resolved)
    if resolved.providers:
        lines.append("provider preferences: " + json.dumps(dict(resolved.providers), sort_keys=True))
    if resolved.weights:
        lines.append("weights: " + ", ".join(f"{m}={w:g}" for m, w in resolved.weights.items()))
    lines += _request_lines(resolved.params, params)
    if resolved.max_cost_per_request is not None:
        lines.append(_cap_line(routing, resolved, catalog, merge_params(resolved.params, params)))
    return "\n".join(lines)


_SHORT_PROMPT_BYTES = 200  # what a short request body weighs, for the cap's preview


def _cap_line(routing: Routing, resolved: ResolvedRoute, catalog: Catalog, request: Mapping[str, Any]) -> str:
    """How the per-request cap plays out for a short prompt with the merged request's
    ``max_tokens`` (else the default allowance)."""
    max_tokens = request.get("max_completion_tokens") or request.get("max_tokens")
    tokens = f"max_tokens={max_tokens}" if max_tokens else f"the default {DEFAULT_OUTPUT_ALLOWANCE} output tokens"
    cap = resolved.max_cost_per_request
    assert cap is not None
    pool = resolved.ranked or resolved.chain
    kept, skipped = fit_cost_cap_preview(pool, cap, max_tokens, lambda e: model_for(e, catalog, routing.backends))
    head = f"cost cap: {usd(cap)} per request; for a short prompt with {tokens}:"
    if not kept:
        return f"{head} nothing fits, so such a request is refused"
    chosen = kept[: len(resolved.chain)]
    skipped_chain = [m for m, _ in skipped if m in resolved.chain]
    note = f" (skipped: {', '.join(skipped_chain)})" if skipped_chain else ""
    return f"{head} the chain is {', '.join(chosen)}{note}"


def fit_cost_cap_preview(
    pool: Sequence[str], cap: Decimal, max_tokens: int | None, lookup: Callable[[str], Model | None]
) -> tuple[list[str], list[tuple[str, str]]]:
    """:func:`fit_cost_cap` without raising (``([], reasons)`` when nothing fits)."""
    try:
        return fit_cost_cap(pool, cap, _SHORT_PROMPT_BYTES, max_tokens, lookup, "the preview")
    except BudgetExceededError:
        return [], []
