"""Other OpenAI-compatible backends in one chain (issue 12): ``[backends.NAME]`` and
``NAME::model`` entries, against a second local server speaking plain OpenAI (the mock with
``flavor="openai"``), with failover, retries, cooldowns, hedging, budgets and the ledger."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import fastrouter
import pytest
from fastrouter import Budget, Routing
from fastrouter.testing import Fail, MockServer, Reply

MINI = "openai/gpt-4o-mini"


SERVED = ("llama-local", "anything", "flaky", "slowpoke", "good-model", "longer", "plain")


@pytest.fixture
def other() -> Iterator[MockServer]:
    """A second local server: OpenAI-style error bodies, usage without cost, serving
    the models of :data:`SERVED` (others get OpenAI's 404 ``model_not_found``)."""
    with MockServer(flavor="openai", catalog=[{"id": model} for model in SERVED]) as mock:
        yield mock


def _routing(other: MockServer, **extra: str) -> Routing:
    return Routing.from_toml_str(
        f"""
[backends.local]
base_url = "{other.base_url}"
api_key_env = "FASTROUTER_TEST_LOCAL_KEY"
headers = {{ "X-Team" = "search" }}
prices = {{ "llama-local" = {{ prompt = 1, completion = 2 }} }}

[backends.open]
base_url = "{other.base_url}"

[aliases]
mixed = ["local::bad-model", "local::llama-local", "{MINI}"]
fallback = ["open::flaky", "{MINI}"]
"""
    )


def _client(caller: Any, server: MockServer, tmp_path: Path, **kwargs: Any) -> Any:
    return caller.client(server, catalog_cache=fastrouter.CatalogCache(tmp_path), **kwargs)


async def test_a_chain_mixes_backends_and_fails_over_on_openai_style_errors(
    server: MockServer, other: MockServer, caller: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FASTROUTER_TEST_LOCAL_KEY", "sk-local-secret")
    client = _client(caller, server, tmp_path, routing=_routing(other), api_key="sk-or-secret")
    other.script("bad-model", Fail(404, code="model_not_found"))
    other.script("llama-local", Reply(content="hello from local", prompt_tokens=1000, completion_tokens=500))
    resp = await caller.create(client, model="mixed")
    assert resp.choices[0].message.content == "hello from local"
    assert [(a.model, a.status) for a in resp.attempts] == [("local::bad-model", 404), ("local::llama-local", 200)]
    sent = other.chat_requests()
    assert [r.model for r in sent] == ["bad-model", "llama-local"]
    assert sent[-1].headers["x-team"] == "search"
    assert sent[-1].headers["authorization"] == "Bearer <redacted>"
    assert "x-title" not in sent[-1].headers and "http-referer" not in sent[-1].headers
    assert server.chat_requests() == []
    # cost: no usage.cost from this backend, so its configured prices ($1 / $2 per million)
    assert resp.cost == Decimal("0.002")
    entry = client.usage.entries[-1]
    assert (entry.model, entry.cost, entry.cost_source) == ("local::llama-local", Decimal("0.002"), "backend")
    assert entry.attempts == 2 and entry.backend == "local"
    assert client.usage.by_model()["local::llama-local"].requests == 1


async def test_openrouter_key_never_reaches_a_keyless_backend(
    server: MockServer, other: MockServer, caller: Any, tmp_path: Path
) -> None:
    client = _client(caller, server, tmp_path, routing=_routing(other), api_key="sk-or-secret")
    other.script("anything", Reply(content="served"))
    resp = await caller.create(client, model="open::anything")
    assert resp.attempts[-1].model == "open::anything"
    headers = other.chat_requests()[-1].headers
    assert "authorization" not in headers
    # not in the catalog and no configured price: the cost is unknown and marked so
    assert resp.cost is None
    entry = client.usage.entries[-1]
    assert (entry.cost, entry.cost_source) == (None, "unknown")
    assert not [r for r in server.requests if r.path.startswith("/generation")]


async def test_a_missing_backend_key_names_its_variable(
    server: MockServer, other: MockServer, caller: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FASTROUTER_TEST_LOCAL_KEY", raising=False)
    client = _client(caller, server, tmp_path, routing=_routing(other))
    with pytest.raises(fastrouter.AuthenticationError, match="FASTROUTER_TEST_LOCAL_KEY"):
        await caller.create(client, model="local::llama-local")
    assert other.chat_requests() == []


async def test_a_backend_fails_over_to_openrouter_with_retries_and_cooldown(
    server: MockServer, other: MockServer, caller: Any, tmp_path: Path
) -> None:
    client = _client(
        caller, server, tmp_path, routing=_routing(other), max_retries=1, cooldown=fastrouter.Cooldown(failures=2)
    )
    other.script("flaky", Fail(503), Fail(503))
    resp = await caller.create(client, model="fallback")
    assert [(a.model, a.status) for a in resp.attempts] == [("open::flaky", 503), ("open::flaky", 503), (MINI, 200)]
    assert client.health()["open::flaky"].state == "open"
    resp = await caller.create(client, model="fallback")
    assert [a.model for a in resp.attempts] == ["open::flaky", MINI]
    assert resp.attempts[0].status is None  # skipped while cooling down, never sent
    assert len(other.chat_requests()) == 2
    # the answer came from OpenRouter, which reports its cost
    assert client.usage.entries[-1].model == MINI and client.usage.entries[-1].cost_source == "usage"
    assert client.usage.entries[-1].backend == "openrouter"


async def test_bad_model_fails_over_on_a_plain_openai_compatible_server(other: MockServer, caller: Any) -> None:
    client = caller.client(other)
    other.script("bad-model", Fail(400, message="Invalid model name passed in model=bad-model", code="400"))
    other.script("good-model", Reply(content="good"))
    resp = await caller.create(client, model=["bad-model", "good-model"])
    assert [(a.model, a.status) for a in resp.attempts] == [("bad-model", 400), ("good-model", 200)]
    other.script("long", Fail(400, code="context_length_exceeded"))
    other.script("longer", Reply(content="fits"))
    resp = await caller.create(client, model=["long", "longer"])
    assert [a.model for a in resp.attempts] == ["long", "longer"]
    other.script("plain", Fail(400, message="temperature must be <= 2"))
    with pytest.raises(fastrouter.BadRequestError):
        await caller.create(client, model=["plain", "never"])
    assert [r.model for r in other.chat_requests()][-1] == "plain"


async def test_backends_stream_and_hedge(
    server: MockServer, other: MockServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FASTROUTER_TEST_LOCAL_KEY", "k")
    async with fastrouter.AsyncClient(
        base_url=server.base_url,
        api_key="k",
        routing=_routing(other),
        catalog_cache=fastrouter.CatalogCache(tmp_path),
        hedge=fastrouter.Hedge(after=0.05),
    ) as client:
        other.script("llama-local", Reply(content="streamed here", prompt_tokens=10, completion_tokens=5))
        stream = await client.chat.completions.create(
            model="local::llama-local", messages=[{"role": "user", "content": "hi"}], stream=True
        )
        async with stream:
            text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
        assert text == "streamed here"
        assert client.usage.entries[-1].model == "local::llama-local"
        assert client.usage.entries[-1].cost == Decimal("0.00002")
        # a slow backend is hedged by OpenRouter
        other.script("slowpoke", Reply(content="late", delay=2.0))
        resp = await client.chat.completions.create(
            model=["open::slowpoke", MINI], messages=[{"role": "user", "content": "hi"}]
        )
        assert resp.attempts[-1].model == MINI
        assert any(a.hedged for a in resp.attempts)


async def test_budgets_price_backend_entries(
    server: MockServer, other: MockServer, caller: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FASTROUTER_TEST_LOCAL_KEY", "k")
    routing = _routing(other)
    client = _client(caller, server, tmp_path, routing=routing, budgets=[Budget("0.001", per="request")])
    # worst case at $2 per million output with max_tokens=100 fits a $0.001 budget
    resp = await caller.create(client, model="local::llama-local", max_tokens=100)
    assert resp.attempts[-1].model == "local::llama-local"
    with pytest.raises(fastrouter.BudgetExceededError, match="request budget"):
        await caller.create(client, model="local::llama-local", max_tokens=10_000)
    with pytest.raises(fastrouter.PriceUnknownError, match="open::anything"):
        await caller.create(client, model="open::anything")


def test_backend_configuration_errors_name_the_key() -> None:
    with pytest.raises(fastrouter.RoutingError, match=r"aliases\.a\[0\].*unknown backend 'grok'.*did you mean 'groq'"):
        Routing.from_dict(
            {"backends": {"groq": {"base_url": "https://api.groq.com/openai/v1"}}, "aliases": {"a": ["grok::llama"]}}
        )
    with pytest.raises(fastrouter.RoutingError, match=r"backends\.x.*missing 'base_url'"):
        Routing.from_dict({"backends": {"x": {"api_key_env": "X"}}})
    with pytest.raises(fastrouter.RoutingError, match=r"backends\.x\.base_url.*http"):
        Routing.from_dict({"backends": {"x": {"base_url": "ftp://x"}}})
    with pytest.raises(fastrouter.RoutingError, match=r"backends\.x\.prices\.m.*missing 'completion'"):
        Routing.from_dict({"backends": {"x": {"base_url": "http://x", "prices": {"m": {"prompt": 1}}}}})
    with pytest.raises(fastrouter.RoutingError, match=r"backends\.x\.api_kye_env.*did you mean 'api_key_env'"):
        Routing.from_dict({"backends": {"x": {"base_url": "http://x", "api_kye_env": "X"}}})


def test_explain_names_the_backend() -> None:
    routing = Routing.from_dict(
        {
            "backends": {
                "local": {"base_url": "http://127.0.0.1:9/v1", "prices": {"m": {"prompt": 1, "completion": 2}}}
            },
            "aliases": {"a": ["local::m", "local::n", MINI]},
        }
    )
    from routing_helpers import real_catalog

    text = routing.explain("a", real_catalog())
    assert "backend local: $1.00/M in, $2.00/M out" in text
    assert "backend local: no price configured" in text
    assert "served by the 'local' backend" in text
