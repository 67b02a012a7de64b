"""The client with the catalog: models.list/endpoints, routing, budgets and catalog pricing."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import fastrouter
import pytest
from fastrouter.testing import Fail, MockServer, Raw, Reply

MINI = "openai/gpt-4o-mini"
HAIKU = "anthropic/claude-3.5-haiku"
OPUS = "anthropic/claude-opus-4"
USER = [{"role": "user", "content": "hello"}]


def _client(caller: Any, server: MockServer, tmp_path: Path, **kwargs: Any) -> Any:
    return caller.client(server, catalog_cache=fastrouter.CatalogCache(tmp_path), **kwargs)


async def _list(caller: Any, client: Any, **kwargs: Any) -> fastrouter.Catalog:
    result = client.models.list(**kwargs)
    return await result if caller.mode == "async" else result  # type: ignore[no-any-return]


async def test_models_list_is_fetched_once_then_cached(server: MockServer, caller: Any, tmp_path: Path) -> None:
    client = _client(caller, server, tmp_path)
    catalog = await _list(caller, client)
    assert len(catalog) == 321
    assert catalog[MINI].pricing.prompt == Decimal("0.00000015")
    again = await _list(caller, client)
    assert again.source == "memory"
    fetches = [r for r in server.requests if r.path.startswith("/models?")]
    assert [r.path for r in fetches] == ["/models?output_modalities=all"]
    await _list(caller, client, refresh=True)
    assert len([r for r in server.requests if r.path.startswith("/models?")]) == 2


async def test_models_endpoints(server: MockServer, caller: Any, tmp_path: Path) -> None:
    client = _client(caller, server, tmp_path)
    result = client.models.endpoints(MINI)
    endpoints = await result if caller.mode == "async" else result
    assert endpoints.id == MINI
    assert endpoints.endpoints[0].provider_name == "OpenAI"
    assert endpoints.endpoints[0].pricing.completion == Decimal("0.0000006")


async def test_an_alias_is_a_chain(server: MockServer, caller: Any, tmp_path: Path) -> None:
    routing = fastrouter.Routing(aliases={"fast": [MINI, HAIKU]})
    client = _client(caller, server, tmp_path, routing=routing)
    server.script(MINI, Fail(503))
    resp = await caller.create(client, model="fast")
    assert [(a.model, a.status) for a in resp.attempts] == [(MINI, 503), (HAIKU, 200)]
    assert client.usage.entries[-1].requested == "fast"


async def test_a_route_resolves_against_the_catalog(server: MockServer, caller: Any, tmp_path: Path) -> None:
    routing = fastrouter.Routing.from_dict(
        {
            "routes": {
                "cheap-tools": {
                    "supports": ["tools"],
                    "min_context": 100_000,
                    "mode": "cheapest",
                    "max_models": 2,
                    "providers": {"sort": "throughput"},
                }
            }
        }
    )
    client = _client(caller, server, tmp_path, routing=routing)
    catalog = await _list(caller, client)
    expected = routing.resolve("cheap-tools", catalog).chain
    assert len(expected) == 2
    resp = await caller.create(client, model="cheap-tools", provider={"allow_fallbacks": False})
    assert resp.model == expected[0]
    (request,) = server.chat_requests()
    assert request.body["model"] == expected[0]
    # Route preferences and the request's own are merged; the request wins on conflicts.
    assert request.body["provider"] == {"sort": "throughput", "allow_fallbacks": False}


async def test_a_budget_refuses_before_sending(server: MockServer, caller: Any, tmp_path: Path) -> None:
    client = _client(caller, server, tmp_path, budgets=[fastrouter.Budget(usd="0.001", per="request")])
    resp = await caller.create(client, model=MINI, max_tokens=100)
    assert resp.model == MINI
    with pytest.raises(fastrouter.BudgetExceededError, match="could cost up to"):
        await caller.create(client, model=OPUS, max_tokens=30_000)
    assert [r.model for r in server.chat_requests()] == [MINI]


async def test_an_unpriced_model_cannot_be_budgeted(server: MockServer, caller: Any, tmp_path: Path) -> None:
    client = _client(caller, server, tmp_path, budgets=[fastrouter.Budget(usd=10)])
    with pytest.raises(fastrouter.BudgetExceededError, match="price is unknown"):
        await caller.create(client, model="openrouter/auto")
    assert server.chat_requests() == []


async def test_a_total_budget_holds_under_a_thousand_concurrent_requests(server: MockServer, tmp_path: Path) -> None:
    budget = Decimal("0.01")
    cost = Decimal("0.00002")  # within the worst-case estimate, as real costs are
    server.script(MINI, *[Reply("ok", cost=float(cost)) for _ in range(1000)])
    client = fastrouter.AsyncClient(
        base_url=server.base_url,
        api_key="k",
        max_retries=0,
        budgets=[fastrouter.Budget(usd=budget, per="total")],
        catalog_cache=fastrouter.CatalogCache(tmp_path),
    )
    async with client:
        await client.models.list()

        async def one() -> bool:
            try:
                await client.chat.completions.create(model=MINI, messages=USER, max_tokens=50)
            except fastrouter.BudgetExceededError:
                return False
            return True

        outcomes = await asyncio.gather(*[one() for _ in range(1000)])
    sent = len(server.chat_requests())
    assert sent == sum(outcomes)
    assert 0 < sent < 1000
    assert client.usage.total_cost == cost * sent
    assert client.usage.total_cost <= budget


async def test_a_route_cost_cap(server: MockServer, caller: Any, tmp_path: Path) -> None:
    routing = fastrouter.Routing.from_dict({"routes": {"capped": {"models": [OPUS], "max_cost_per_request": 0.01}}})
    client = _client(caller, server, tmp_path, routing=routing)
    with pytest.raises(fastrouter.BudgetExceededError, match=r"fits max_cost_per_request=\$0\.01.*could cost up to"):
        await caller.create(client, model="capped", max_tokens=10_000)
    resp = await caller.create(client, model="capped", max_tokens=50)
    assert resp.model == OPUS


async def test_a_reply_without_cost_is_priced_from_the_catalog(server: MockServer, caller: Any, tmp_path: Path) -> None:
    client = _client(caller, server, tmp_path)
    await _list(caller, client)
    server.script(MINI, Reply("priced", prompt_tokens=1000, completion_tokens=500, omit_cost=True))
    resp = await caller.create(client, model=MINI)
    assert resp.cost == Decimal("0.00000015") * 1000 + Decimal("0.0000006") * 500
    entry = client.usage.entries[-1]
    assert (entry.cost, entry.cost_source) == (resp.cost, "catalog")


async def test_catalog_pricing_counts_cache_reads_writes_and_reasoning(
    server: MockServer, caller: Any, tmp_path: Path
) -> None:
    client = _client(caller, server, tmp_path)
    await _list(caller, client)
    usage = {
        "prompt_tokens": 10_000,
        "completion_tokens": 2_000,
        "total_tokens": 12_000,
        "prompt_tokens_details": {"cached_tokens": 6_000, "cache_write_tokens": 1_000},
        "completion_tokens_details": {"reasoning_tokens": 1_500},
    }
    body = {
        "id": "gen-priced",
        "model": OPUS,
        "provider": "Anthropic",
        "object": "chat.completion",
        "created": 1,
        "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "x"}}],
        "usage": usage,
    }
    server.script(OPUS, Raw(json.dumps(body)))
    resp = await caller.create(client, model=OPUS)
    expected = (
        3_000 * Decimal("0.000015")  # uncached prompt
        + 6_000 * Decimal("0.0000015")  # cache reads
        + 1_000 * Decimal("0.00001875")  # cache writes
        + 2_000 * Decimal("0.000075")  # completion (reasoning priced as completion: internal_reasoning is 0)
    )
    assert resp.cost == expected


async def test_router_prices_are_unknown_not_negative(server: MockServer, caller: Any, tmp_path: Path) -> None:
    client = _client(caller, server, tmp_path)
    catalog = await _list(caller, client)
    auto = catalog["openrouter/auto"]
    assert auto.pricing.prompt is None and auto.is_router
    body = {
        "id": "gen-auto",
        "model": "openrouter/auto",
        "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "x"}}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 5, "total_tokens": 10},
    }
    server.script("openrouter/auto", Raw(json.dumps(body)))
    resp = await caller.create(client, model="openrouter/auto")
    assert resp.cost is None
