"""Routing that covers what users configure (issue 12), through the mock: the default route,
request defaults, per-request cost caps, bound models, spread groups, unknown ids, budgets
on unpriced models."""

from __future__ import annotations

import warnings
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import fastrouter
import pytest
from fastrouter import Budget, Route, Routing
from fastrouter.routing.plan import DEFAULT_OUTPUT_ALLOWANCE, merge_params, spread_order
from fastrouter.testing import Fail, MockServer, Reply

MINI = "openai/gpt-4o-mini"  # $0.15 / $0.60 per million
HAIKU = "anthropic/claude-3.5-haiku"
OPUS = "anthropic/claude-opus-4"  # $15 / $75 per million
USER = [{"role": "user", "content": "hi"}]


def _client(caller: Any, server: MockServer, tmp_path: Path, **kwargs: Any) -> Any:
    return caller.client(server, catalog_cache=fastrouter.CatalogCache(tmp_path), **kwargs)


def _sent(server: MockServer) -> dict[str, Any]:
    body = server.chat_requests()[-1].body
    assert isinstance(body, dict)
    return body


# ------------------------------------------------------------------ default route


async def test_create_without_model_uses_the_default_route(server: MockServer, caller: Any, tmp_path: Path) -> None:
    routing = Routing.from_toml_str(f'default_route = "fast"\n[aliases]\nfast = ["{MINI}"]\n')
    client = _client(caller, server, tmp_path, routing=routing)
    resp = await caller.create(client)
    assert resp.attempts[-1].model == MINI
    assert _sent(server)["model"] == MINI
    assert client.usage.entries[-1].requested == "fast"


async def test_create_without_model_or_default_route_says_what_to_do(
    server: MockServer, caller: Any, tmp_path: Path
) -> None:
    client = _client(caller, server, tmp_path, routing=Routing(aliases={"fast": [MINI]}))
    with pytest.raises(TypeError, match=r"needs model=.*default_route"):
        await caller.create(client)
    assert server.chat_requests() == []


# --------------------------------------------------------------- request defaults


TOML_DEFAULTS = f"""
[aliases.chat]
models = ["{MINI}"]
params = {{ temperature = 0.7, top_p = 0.9 }}

[routes.smart]
models = ["{MINI}"]
params = {{ temperature = 0.3, max_tokens = 800, provider = {{ sort = "price" }} }}
providers = {{ allow_fallbacks = false }}
"""


async def test_route_and_alias_params_merge_under_the_call(server: MockServer, caller: Any, tmp_path: Path) -> None:
    client = _client(caller, server, tmp_path, routing=Routing.from_toml_str(TOML_DEFAULTS))
    await caller.create(client, model="smart")
    sent = _sent(server)
    assert (sent["temperature"], sent["max_tokens"]) == (0.3, 800)
    assert sent["provider"] == {"allow_fallbacks": False, "sort": "price"}
    await caller.create(client, model="smart", temperature=1.0, provider={"sort": "latency"})
    sent = _sent(server)
    assert (sent["temperature"], sent["max_tokens"]) == (1.0, 800)
    assert sent["provider"] == {"allow_fallbacks": False, "sort": "latency"}
    await caller.create(client, model="chat", top_p=0.5)
    sent = _sent(server)
    assert (sent["temperature"], sent["top_p"]) == (0.7, 0.5)


def test_params_are_checked_with_a_suggestion() -> None:
    with pytest.raises(fastrouter.RoutingError, match=r"routes\.r\.params\.temprature.*did you mean 'temperature'"):
        Routing.from_toml_str(f'[routes.r]\nmodels = ["{MINI}"]\nparams = {{ temprature = 0.3 }}\n')
    with pytest.raises(fastrouter.RoutingError, match=r"aliases\.a\.params\.messages.*is set per call"):
        Routing.from_dict({"aliases": {"a": {"models": [MINI], "params": {"messages": []}}}})
    with pytest.raises(fastrouter.RoutingError, match=r"aliases\.a\.mode.*did you mean 'spread'"):
        Routing.from_dict({"aliases": {"a": {"models": [MINI], "mode": "spred"}}})


def test_explain_shows_the_merged_request() -> None:
    routing = Routing.from_toml_str(TOML_DEFAULTS)
    catalog = _bundled()
    text = routing.explain("smart", catalog, params={"temperature": 1.0, "seed": 7})
    assert 'request defaults: {"max_tokens": 800' in text
    assert "max_tokens=800 (default)" in text
    assert "temperature=1.0 (call)" in text and "seed=7 (call)" in text
    assert "temperature=0.3" not in text.split("request:")[1]


def test_round_trip_keeps_params_weights_backends_and_alias_tables() -> None:
    routing = Routing.from_toml_str(
        TOML_DEFAULTS
        + '\n[aliases.spread]\nmodels = ["a/x", "b/y"]\nmode = "spread"\nweights = { "a/x" = 3 }\n'
        + "max_cost_per_request = 0.01\n"
        + '\n[backends.local]\nbase_url = "http://127.0.0.1:9/v1"\nheaders = { "X-Team" = "a" }\n'
        + 'prices = { "llama" = { prompt = 0.05, completion = 0.08 } }\n'
    )
    assert Routing.from_toml_str(routing.to_toml()) == routing
    assert Routing.from_dict(routing.to_dict()) == routing
    assert routing.backends["local"].prices["llama"].prompt == Decimal("0.05") / 1_000_000


# ---------------------------------------------------------------- per-request cap


async def test_a_cap_skips_candidates_that_could_cost_more(server: MockServer, caller: Any, tmp_path: Path) -> None:
    routing = Routing(routes={"quality": Route("quality", models=[OPUS, MINI], max_cost_per_request="0.01")})
    client = _client(caller, server, tmp_path, routing=routing)
    resp = await caller.create(client, model="quality")
    # Opus could cost ~$0.31 with the default allowance; mini at most ~$0.0025.
    assert [a.model for a in resp.attempts] == [MINI]
    assert _sent(server)["max_tokens"] == DEFAULT_OUTPUT_ALLOWANCE
    # With a short answer asked for, Opus fits and keeps its place.
    resp = await caller.create(client, model="quality", max_tokens=50)
    assert resp.attempts[0].model == OPUS
    assert _sent(server)["max_tokens"] == 50


async def test_a_capped_quality_route_chooses_the_best_models_that_fit(
    server: MockServer, caller: Any, tmp_path: Path
) -> None:
    # issue 12: a quality route capped at $0.001 used to fail ("could cost up to $60")
    routing = Routing(routes={"q": Route("q", mode="quality", max_cost_per_request="0.001")})
    client = _client(caller, server, tmp_path, routing=routing)
    resp = await caller.create(client, model="q")
    catalog = _bundled()
    tried = resp.attempts[0].model
    fitting = [m for m in routing.resolve("q", catalog).ranked if _worst(catalog[m]) <= Decimal("0.001")]
    assert tried == fitting[0]
    assert routing.resolve("q", catalog).chain[0] != tried  # the uncapped favourite did not fit
    text = routing.explain("q", catalog, params={"max_tokens": 20})
    assert "cost cap: $0.001 per request; for a short prompt with max_tokens=20: the chain is" in text
    assert "(skipped: " in text
    tiny = Routing(routes={"q": Route("q", models=[OPUS], max_cost_per_request="0.000001")})
    assert "nothing fits, so such a request is refused" in tiny.explain("q", catalog)


def _worst(model: fastrouter.Model) -> Decimal:
    from fastrouter.usage.cost import worst_case_cost

    cost = worst_case_cost(model, len(b'{"messages":[{"role":"user","content":"hi"}],"max_tokens":4096}'), 4096)
    return cost if cost is not None else Decimal("Infinity")


async def test_a_cap_refuses_only_when_nothing_fits_naming_why(server: MockServer, caller: Any, tmp_path: Path) -> None:
    routing = Routing(aliases={"pair": [OPUS, "acme/not-listed"]}, strict=False)
    client = _client(caller, server, tmp_path, routing=routing, max_cost_per_request="0.001")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", fastrouter.RoutingWarning)
        with pytest.raises(fastrouter.BudgetExceededError) as caught:
            await caller.create(client, model="pair")
    message = str(caught.value)
    assert "max_cost_per_request=$0.001" in message
    assert f"{OPUS} could cost up to $0.3" in message
    assert "acme/not-listed its price is unknown" in message
    assert server.chat_requests() == []


async def test_call_cap_wins_over_route_and_client(server: MockServer, caller: Any, tmp_path: Path) -> None:
    routing = Routing(routes={"quality": Route("quality", models=[OPUS, MINI], max_cost_per_request="0.01")})
    client = _client(caller, server, tmp_path, routing=routing, max_cost_per_request="0.0001")
    resp = await caller.create(client, model="quality", max_cost_per_request=1)
    assert resp.attempts[0].model == OPUS
    assert "max_cost_per_request" not in _sent(server)
    # the client's cap covers plain ids and lists
    resp = await caller.create(client, model=[OPUS, MINI], max_cost_per_request="0.01")
    assert [a.model for a in resp.attempts] == [MINI]
    with pytest.raises(fastrouter.BudgetExceededError, match="max_cost_per_request=\\$0.0001"):
        await caller.create(client, model=MINI)


# ------------------------------------------------------------------ bound models


async def test_bound_model_sync(server: MockServer, tmp_path: Path) -> None:
    routing = Routing.from_toml_str(TOML_DEFAULTS)
    with fastrouter.Client(
        base_url=server.base_url, api_key="k", routing=routing, catalog_cache=fastrouter.CatalogCache(tmp_path)
    ) as client:
        smart = client.model("smart", temperature=0.2)
        assert isinstance(smart, fastrouter.BoundModel)
        resp = smart.create(messages=USER)
        assert isinstance(resp, fastrouter.ChatCompletion)
        assert (_sent(server)["temperature"], _sent(server)["max_tokens"]) == (0.2, 800)
        text = smart.complete("Say hi", temperature=0.5, system="be brief")
        assert isinstance(text, str) and text
        sent = _sent(server)
        assert sent["temperature"] == 0.5
        assert sent["messages"] == [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "Say hi"},
        ]
        with pytest.raises(TypeError, match="has its model already"):
            smart.create(messages=USER, model=MINI)
        assert "temperature=0.2" in repr(smart)


async def test_bound_model_async(server: MockServer, tmp_path: Path) -> None:
    async with fastrouter.AsyncClient(
        base_url=server.base_url, api_key="k", catalog_cache=fastrouter.CatalogCache(tmp_path)
    ) as client:
        mini = client.model(MINI, seed=3)
        assert isinstance(mini, fastrouter.AsyncBoundModel)
        text = await mini.complete("Say hi")
        assert isinstance(text, str) and text
        assert _sent(server)["seed"] == 3
        stream = await mini.create(messages=USER, stream=True)
        async with stream:
            chunks = [c async for c in stream]
        assert chunks and stream.completion is not None


# ------------------------------------------------------------------------ spread


def test_spread_order_draws_by_weight_and_speed_and_puts_cooling_members_last() -> None:
    chain = ["a", "b", "c"]
    assert spread_order(chain, {}, {}, {"a"}, rng=lambda: 0.0) == ["b", "c", "a"]
    # weight 3 for "c": of a total of 5, a draw at 0.5 (2.5) lands in c's share (after a=1, b=1)
    assert spread_order(chain, {"c": 3}, {}, set(), rng=lambda: 0.5)[0] == "c"
    # twice as slow halves the share: a=1/2... measured median 1s, "a" at 2s -> 0.5
    counts = Counter(spread_order(chain, {}, {"a": 2.0, "b": 1.0, "c": 1.0}, set())[0] for _ in range(3000))
    assert counts["a"] < counts["b"] * 0.75 and counts["a"] < counts["c"] * 0.75
    counts = Counter(spread_order(["x", "y"], {"x": 3}, {}, set())[0] for _ in range(4000))
    assert 2700 < counts["x"] < 3300


async def test_a_spread_alias_shares_traffic_and_fails_over(server: MockServer, caller: Any, tmp_path: Path) -> None:
    routing = Routing.from_dict({"aliases": {"pool": {"models": [MINI, HAIKU], "mode": "spread"}}})
    client = _client(caller, server, tmp_path, routing=routing)
    firsts = Counter()
    for _ in range(40):
        resp = await caller.create(client, model="pool")
        firsts[resp.attempts[0].model] += 1
    assert firsts[MINI] > 0 and firsts[HAIKU] > 0
    # a failing member is failed over from, then cooled down and no longer drawn first
    server.script(HAIKU, *[Fail(500)] * 3)
    for _ in range(200):
        resp = await caller.create(client, model="pool")
        assert resp.attempts[-1].model == MINI
        if HAIKU in client.health() and client.health()[HAIKU].state == "open":
            break
    assert client.health()[HAIKU].state == "open"
    for _ in range(5):
        resp = await caller.create(client, model="pool")
        assert [a.model for a in resp.attempts] == [MINI]


def test_a_spread_route_explains_itself() -> None:
    routing = Routing(routes={"r": Route("r", models=[MINI, HAIKU], mode="spread", weights={MINI: 2})})
    text = routing.explain("r", _bundled())
    assert "mode:         spread" in text and "(chain chosen ordered)" in text
    assert f"weights: {MINI}=2" in text


# -------------------------------------------------------------- unknown ids


async def test_unknown_alias_ids_refresh_the_catalog_once_then_pass_through(
    server: MockServer, caller: Any, tmp_path: Path
) -> None:
    client = _client(caller, server, tmp_path, routing=Routing(aliases={"new": ["acme/brand-new", MINI]}))
    server.script("acme/brand-new", Reply(content="new"), Reply(content="new"))
    with pytest.warns(fastrouter.RoutingWarning, match="acme/brand-new"):
        resp = await caller.create(client, model="new")
    assert resp.attempts[0].model == "acme/brand-new"
    fetches = [r for r in server.requests if r.path.startswith("/models?")]
    assert len(fetches) == 2  # the first load, then one refresh
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        await caller.create(client, model="new")  # no second refresh, no second warning
    assert len([r for r in server.requests if r.path.startswith("/models?")]) == 2


async def test_strict_routing_still_rejects_unknown_ids(server: MockServer, caller: Any, tmp_path: Path) -> None:
    routing = Routing.from_toml_str('strict = true\n[aliases]\nnew = ["openai/gpt-4o-mimi"]\n')
    client = _client(caller, server, tmp_path, routing=routing)
    with pytest.raises(fastrouter.RoutingError, match="did you mean 'openai/gpt-4o-mini'"):
        await caller.create(client, model="new")


# ------------------------------------------------------------ unpriced budgets


async def test_a_budget_on_an_unpriced_model_says_so_or_follows_its_policy(
    server: MockServer, caller: Any, tmp_path: Path
) -> None:
    client = _client(caller, server, tmp_path, budgets=[Budget(10, per="day")])
    with pytest.raises(
        fastrouter.PriceUnknownError, match=r"price is unknown for acme/unpriced.*unknown_price='allow'"
    ):
        await caller.create(client, model="acme/unpriced")
    assert server.chat_requests() == []
    lenient = _client(caller, server, tmp_path, budgets=[Budget(10, per="day", unknown_price="allow")])
    server.script("acme/unpriced", Reply(content="ok", cost=0.25))
    resp = await caller.create(lenient, model="acme/unpriced")
    assert resp.cost == Decimal("0.25")  # reported by the server, so it settles against the budget
    assert lenient._budgets.remaining()[0] == Decimal("9.75")
    assert Routing.from_dict({"budgets": [{"usd": 1, "unknown_price": "allow"}]}).budgets[0].unknown_price == "allow"


# ----------------------------------------------------------------- explain


def test_explain_explains_an_empty_route_instead_of_raising() -> None:
    routing = Routing(routes={"tiny": Route("tiny", min_context=50_000_000)})
    text = routing.explain("tiny", _bundled())
    assert "chain: empty" in text
    assert "min_context" in text and "fix: the largest context" in text
    with pytest.raises(fastrouter.RoutingError, match="unknown route or alias"):
        routing.explain("nope", _bundled())


def test_merge_params_merges_provider_key_by_key() -> None:
    merged = merge_params({"temperature": 0.1, "provider": {"sort": "price"}}, None, {"provider": {"only": ["x"]}})
    assert merged == {"temperature": 0.1, "provider": {"sort": "price", "only": ["x"]}}


def _bundled() -> fastrouter.Catalog:
    from routing_helpers import real_catalog

    return real_catalog()


def test_old_price_keys_still_read_with_a_deprecation_warning() -> None:
    with pytest.warns(DeprecationWarning, match="'max_prompt_price' is now 'max_prompt_price_per_m'"):
        routing = Routing.from_toml_str("[routes.r]\nmax_prompt_price = 5\n")
    assert routing.routes["r"].max_prompt_price_per_m == Decimal(5)
    assert "max_prompt_price_per_m = 5" in routing.to_toml()


def test_the_cap_is_exact_at_its_boundary() -> None:
    from fastrouter.routing.plan import PriceTable, fit_cost_cap
    from fastrouter.usage.cost import worst_case_cost

    catalog = _bundled()
    model = catalog[OPUS]
    worst = worst_case_cost(model, 100, 50)
    assert worst is not None
    table = PriceTable([OPUS, MINI], catalog.get)
    kept, skipped = fit_cost_cap([OPUS, MINI], worst, 100, 50, catalog.get, "r", table=table)
    assert kept == [OPUS, MINI] and skipped == []
    kept, skipped = fit_cost_cap([OPUS, MINI], worst - Decimal("1e-12"), 100, 50, catalog.get, "r", table=table)
    assert kept == [MINI] and skipped == [(OPUS, "could cost more than the cap")]
    with pytest.raises(fastrouter.BudgetExceededError, match=f"{OPUS} could cost up to \\$"):
        fit_cost_cap([OPUS], Decimal("1e-9"), 100, 50, catalog.get, "r")
