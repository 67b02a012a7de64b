"""Exact cost arithmetic on catalog prices."""

from __future__ import annotations

from decimal import Decimal

from fastrouter.catalog import Model, Pricing
from fastrouter.usage.cost import price_usage, worst_case_cost


def _pricing(**prices: str) -> Pricing:
    return Pricing.from_dict(prices)


def test_reasoning_tokens_use_their_own_price_when_set() -> None:
    pricing = _pricing(prompt="0.000001", completion="0.000002", internal_reasoning="0.000005", request="0.01")
    usage = {
        "prompt_tokens": 100,
        "completion_tokens": 50,
        "completion_tokens_details": {"reasoning_tokens": 20},
        "server_tool_use_details": {"web_search_requests": 2},
    }
    expected = 100 * Decimal("0.000001") + 30 * Decimal("0.000002") + 20 * Decimal("0.000005") + Decimal("0.01")
    assert price_usage(pricing, usage) == expected
    with_search = _pricing(prompt="0", completion="0", web_search="0.004")
    assert price_usage(with_search, usage) == Decimal("0.008")


def test_cache_prices_fall_back_to_the_prompt_price() -> None:
    pricing = _pricing(prompt="0.000003", completion="0.000015")
    usage = {"prompt_tokens": 1000, "completion_tokens": 0, "prompt_tokens_details": {"cached_tokens": 400}}
    assert price_usage(pricing, usage) == 1000 * Decimal("0.000003")


def test_unknown_prices_give_no_cost() -> None:
    assert price_usage(_pricing(prompt="-1", completion="-1"), {"prompt_tokens": 5}) is None
    assert price_usage(Pricing(), {"prompt_tokens": 5}) is None


def test_worst_case_uses_max_tokens_then_the_model_limit() -> None:
    model = Model.from_dict(
        {
            "id": "a/b",
            "context_length": 1000,
            "pricing": {"prompt": "0.000001", "completion": "0.000002"},
            "top_provider": {"max_completion_tokens": 300},
        }
    )
    prompt = 300 // 3 + 1
    assert worst_case_cost(model, 300, 10) == prompt * Decimal("0.000001") + 10 * Decimal("0.000002")
    assert worst_case_cost(model, 300, None) == prompt * Decimal("0.000001") + 300 * Decimal("0.000002")
    unpriced = Model.from_dict({"id": "r/auto", "pricing": {"prompt": "-1", "completion": "-1"}})
    assert worst_case_cost(unpriced, 300, 10) is None
