"""Cost rules: what an answer, its failed attempts and a planned request cost, in exact
``Decimal`` USD (no float drift).

:func:`answer_cost` is the one place usage code reads what an answer cost; catalog prices
fill in when OpenRouter's ``usage.cost`` is missing, and give the worst-case estimate that
budgets reserve before a request is sent.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from .._fastrouter import json_get

if TYPE_CHECKING:
    from ..attempts import Attempt
    from ..catalog import Catalog, Model, Pricing
    from ..routing.backends import Backend
    from ..types import ChatCompletion

__all__ = [
    "answer_cost",
    "core_cost_text",
    "reliability_cost",
    "generation_cost",
    "catalog_cost",
    "backend_cost",
    "price_usage",
    "estimate_prompt_tokens",
    "worst_case_cost",
    "chain_worst_case",
]

_ZERO = Decimal(0)


def _int(value: Any) -> int:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0


def answer_cost(completion: ChatCompletion) -> Decimal | None:
    """What the answer cost, as the completion reports it (``completion.cost``). Every
    read of an answer's cost in usage code goes through here, so pointing it at another
    source (the core's own fact) changes one line."""
    return completion.cost


def core_cost_text(completion: ChatCompletion) -> str | None:
    """:func:`answer_cost` as the core decided it (decimal text), for a plain answer (not
    served from the cache, not a cascade's): ``None`` when the core reported no cost or
    the answer is not plain (then :func:`answer_cost` says)."""
    if completion._cached or completion._cascade is not None:
        return None
    return completion._answer_cost


def reliability_cost(attempts: Sequence[Attempt], answered: bool) -> Decimal:
    """What the attempts that did not produce the answer cost (all of them on failure;
    when answered, the last attempt is the answer's)."""
    total = _ZERO
    for attempt in attempts[:-1] if answered else attempts:
        cost = attempt.cost
        if cost is not None:
            total += cost
    return total


def generation_cost(payload: Any) -> Decimal | None:
    """``total_cost`` of a ``GET /generation`` body (``{"data": {...}}``), exactly."""
    record = payload.get("data") if isinstance(payload, dict) else None
    value = record.get("total_cost") if isinstance(record, dict) else None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return Decimal(repr(value))
    return None


def catalog_cost(completion: ChatCompletion, load_catalog: Callable[[], Catalog | None]) -> Decimal | None:
    """The completion's reported usage priced at the answering model's catalog prices
    (``None`` without usage, a catalog, or a known model; the catalog is loaded only when
    there is usage to price)."""
    usage = json_get(completion, "usage")
    model_id = json_get(completion, "model")
    if not isinstance(usage, dict) or not isinstance(model_id, str):
        return None
    catalog = load_catalog()
    model = catalog.get(model_id) if catalog is not None else None
    return price_usage(model.pricing, usage) if model is not None else None


def backend_cost(
    completion: ChatCompletion,
    served: str,
    load_catalog: Callable[[], Catalog | None],
    backends: Mapping[str, Backend],
) -> tuple[Decimal | None, str]:
    """What an answer from another backend (``served``: its ``backend::model`` entry) cost
    when the backend sent no ``usage.cost``: its usage at the backend's configured prices
    (source ``"backend"``), else at the catalog's for the same id (``"catalog"``), else
    ``(None, "unknown")``."""
    from ..routing.backends import model_for

    usage = json_get(completion, "usage")
    if not isinstance(usage, dict):
        return None, "unknown"
    backend_name, model_id = served.split("::", 1)
    backend = backends.get(backend_name)
    configured = backend is not None and model_id in backend.prices
    model = model_for(served, None if configured else load_catalog(), backends)
    cost = price_usage(model.pricing, usage) if model is not None else None
    if cost is None:
        return None, "unknown"
    return cost, "backend" if configured else "catalog"


def price_usage(pricing: Pricing, usage: Mapping[str, Any]) -> Decimal | None:
    """What ``usage`` costs at these prices: uncached prompt tokens at the prompt price,
    cache reads and writes at their own prices (the prompt price when the model has none),
    completion tokens at the completion price (reasoning tokens at ``internal_reasoning``
    when the model prices them separately), plus the per-request fee and web searches.
    ``None`` when the prompt or completion price is unknown (routers' ``"-1"``)."""
    if pricing.prompt is None or pricing.completion is None:
        return None
    prompt = _int(usage.get("prompt_tokens"))
    completion = _int(usage.get("completion_tokens"))
    prompt_details = usage.get("prompt_tokens_details") or {}
    completion_details = usage.get("completion_tokens_details") or {}
    tools = usage.get("server_tool_use_details") or {}
    cached = _int(prompt_details.get("cached_tokens"))
    written = _int(prompt_details.get("cache_write_tokens"))
    reasoning = min(_int(completion_details.get("reasoning_tokens")), completion)
    searches = _int(tools.get("web_search_requests"))

    uncached = max(prompt - cached - written, 0)
    cost = uncached * pricing.prompt
    cost += cached * (pricing.input_cache_read if pricing.input_cache_read is not None else pricing.prompt)
    cost += written * (pricing.input_cache_write if pricing.input_cache_write is not None else pricing.prompt)
    if pricing.internal_reasoning and reasoning:
        cost += (completion - reasoning) * pricing.completion + reasoning * pricing.internal_reasoning
    else:
        cost += completion * pricing.completion
    cost += pricing.request or _ZERO
    cost += searches * (pricing.web_search or _ZERO)
    return cost


def estimate_prompt_tokens(body_bytes: int) -> int:
    """A generous token count for a request body: one token per 3 bytes of JSON (real
    tokenizers average about 4 characters per token, and JSON adds structure)."""
    return body_bytes // 3 + 1


def worst_case_cost(model: Model, body_bytes: int, max_tokens: int | None) -> Decimal | None:
    """The most this request can cost on ``model``: every prompt token uncached, and the
    completion as long as allowed (``max_tokens``, else the model's maximum, else whatever
    the context leaves). ``None`` when the model's prices are unknown."""
    pricing = model.pricing
    if pricing.prompt is None or pricing.completion is None:
        return None
    prompt = estimate_prompt_tokens(body_bytes)
    completion = max_tokens
    if completion is None:
        completion = model.max_completion_tokens
    if completion is None:
        context = model.context_length or 0
        completion = max(context - prompt, 0) if context else 0
    per_output = max(pricing.completion, pricing.internal_reasoning or _ZERO)
    return prompt * pricing.prompt + completion * per_output + (pricing.request or _ZERO)


def chain_worst_case(
    chain: Iterable[str], body_bytes: int, max_tokens: int | None, lookup: Callable[[str], Model | None]
) -> tuple[Decimal | None, tuple[str, ...]]:
    """The worst case over a chain (any of its members may answer), each member priced by
    ``lookup`` (the catalog, or a backend's prices), and the members without a price; the
    worst case is ``None`` when there are any."""
    worst: Decimal | None = None
    unpriced = []
    for entry in chain:
        model = lookup(entry)
        estimate = worst_case_cost(model, body_bytes, max_tokens) if model is not None else None
        if estimate is None:
            unpriced.append(entry)
        elif worst is None or estimate > worst:
            worst = estimate
    return (None if unpriced else worst), tuple(unpriced)
