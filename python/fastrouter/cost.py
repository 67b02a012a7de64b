"""Exact cost arithmetic on catalog prices (``Decimal`` end to end, no float drift).

Used when OpenRouter's ``usage.cost`` is missing (pricing the reported usage) and before a
request is sent (a worst-case estimate for budgets).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Mapping, Optional

from .catalog import Model, Pricing

__all__ = ["price_usage", "estimate_prompt_tokens", "worst_case_cost"]

_ZERO = Decimal(0)


def _int(value: Any) -> int:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0


def price_usage(pricing: Pricing, usage: Mapping[str, Any]) -> Optional[Decimal]:
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


def worst_case_cost(model: Model, body_bytes: int, max_tokens: Optional[int]) -> Optional[Decimal]:
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
