"""The model catalog (``fastrouter.catalog``): parsing, search, lookups, endpoints, caching.

The catalog comes from the real ``MockServer`` (the bundled 321-model payload recorded from
OpenRouter, or a custom list), fetched with httpx as the client would. The newer-schema
payload is ``tests/fixtures/openrouter-traffic/llm-openrouter__responses_api_stream_tool_call.
interaction0.body.json`` (the ``/models`` body of that VCR cassette; see its sidecar).
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import json
import logging
import os
import pickle
import sys
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastrouter.catalog import (
    FEATURE_ALIASES,
    Architecture,
    CacheEntry,
    Catalog,
    CatalogCache,
    CatalogLoader,
    CatalogUnavailableError,
    Endpoint,
    Model,
    ModelEndpoints,
    Pricing,
    TopProvider,
    conditional_headers,
    default_cache_dir,
    validator_from_headers,
)
from fastrouter.errors import APIConnectionError, FastrouterError
from fastrouter.testing import MockServer

FIXTURES = Path(__file__).parent / "fixtures" / "openrouter-traffic"
NEWER_SCHEMA = FIXTURES / "llm-openrouter__responses_api_stream_tool_call.interaction0.body.json"
ENDPOINTS_FIXTURE = FIXTURES / "roo-code__model_endpoints_gemini-2.5-pro-preview.body.json"
MODELS_PATH = "/models?output_modalities=all"

FetchResult = tuple[bytes | None, str | None]


def fetch_from(server: MockServer) -> Callable[[str | None], FetchResult]:
    """A loader fetch function: GET /models?output_modalities=all with httpx (conditional
    when given a validator); connection failures raise APIConnectionError, as the client's."""
    url = f"{server.base_url}/models?output_modalities=all"

    def fetch(validator: str | None) -> FetchResult:
        try:
            response = httpx.get(url, headers=conditional_headers(validator), timeout=10)
        except httpx.HTTPError as exc:
            raise APIConnectionError(f"cannot reach {url}: {exc}") from exc
        if response.status_code == 304:
            return None, validator_from_headers(response.headers) or validator
        response.raise_for_status()
        return response.content, validator_from_headers(response.headers)

    return fetch


def models_requests(server: MockServer) -> int:
    return sum(1 for r in server.requests if r.path.startswith("/models"))


@pytest.fixture(scope="module")
def catalog() -> Iterator[Catalog]:
    """The bundled 321-model catalog, as served by the mock."""
    with MockServer() as server:
        yield Catalog.from_json(fetch_from(server)(None)[0] or b"", source="network")


@pytest.fixture
def cache(tmp_path: Path) -> CatalogCache:
    return CatalogCache(tmp_path / "cache", ttl_s=3600)


def entry(model_id: str, **fields: Any) -> dict[str, Any]:
    """A small /models entry."""
    base: dict[str, Any] = {
        "id": model_id,
        "name": fields.pop("name", model_id),
        "created": 1_700_000_000,
        "description": "",
        "context_length": 8192,
        "architecture": {"modality": "text->text", "input_modalities": ["text"], "output_modalities": ["text"]},
        "pricing": {"prompt": "0.000001", "completion": "0.000002"},
        "top_provider": {"context_length": 8192, "max_completion_tokens": None, "is_moderated": False},
        "supported_parameters": [],
    }
    base.update(fields)
    return base


# ------------------------------------------------------------------------------ parsing


def test_the_real_321_model_payload_parses_completely(catalog: Catalog) -> None:
    assert len(catalog) == 321
    assert len(set(catalog.ids)) == 321
    for model in catalog:
        assert isinstance(model, Model) and model.id and model.name
        assert isinstance(model.pricing, Pricing) and isinstance(model.architecture, Architecture)
        assert isinstance(model.top_provider, TopProvider)
        assert "text" in model.architecture.input_modalities
        assert model.context_length is not None and model.created is not None
        assert model.canonical_slug is None  # the old schema has none
        assert model.raw["id"] == model.id
    unknown_prompt = [m.id for m in catalog if m.pricing.prompt is None]
    assert unknown_prompt == ["openrouter/auto"]


def test_exact_decimal_prices(catalog: Catalog) -> None:
    opus = catalog["anthropic/claude-opus-4"]
    p = opus.pricing
    assert p.prompt == Decimal("0.000015") and isinstance(p.prompt, Decimal)
    assert p.completion == Decimal("0.000075")
    assert p.image == Decimal("0.024")
    assert p.input_cache_read == Decimal("0.0000015")
    assert p.input_cache_write == Decimal("0.00001875")
    assert p.request == 0 and p.web_search == 0 and p.internal_reasoning == 0
    assert p.per_million("prompt") == Decimal(15) and str(p.per_million("prompt")) == "15"
    assert str(p.per_million("completion")) == "75"
    assert str(p.per_million("input_cache_write")) == "18.75"
    assert p.per_million() == p.per_million("prompt")
    assert not p.is_free and not p.is_unknown and p.extra == {}
    mini = catalog["openai/gpt-4o-mini"].pricing
    assert mini.prompt == Decimal("0.00000015") and str(mini.per_million("prompt")) == "0.15"


def test_model_fields(catalog: Catalog) -> None:
    opus = catalog["anthropic/claude-opus-4"]
    assert opus.name == "Anthropic: Claude Opus 4"
    assert opus.created == 1747931245
    assert opus.context_length == 200000
    assert opus.architecture == Architecture(
        modality="text+image->text",
        input_modalities=("image", "text"),
        output_modalities=("text",),
        tokenizer="Claude",
        instruct_type=None,
    )
    assert opus.top_provider == TopProvider(context_length=200000, max_completion_tokens=32000, is_moderated=True)
    assert opus.max_completion_tokens == 32000
    assert "tools" in opus.supported_parameters and isinstance(opus.supported_parameters, tuple)
    assert opus.hugging_face_id is None  # "" in the payload
    assert opus.per_request_limits is None
    assert opus.description.startswith("Claude Opus 4 is benchmarked")
    assert (opus.author, opus.slug, opus.variant, opus.base_id) == ("anthropic", "claude-opus-4", None, opus.id)
    assert "description" not in repr(opus) and "anthropic/claude-opus-4" in repr(opus)


def test_routers_have_unknown_prices_never_negative(catalog: Catalog) -> None:
    auto = catalog["openrouter/auto"]
    assert auto.raw["pricing"] == {"prompt": "-1", "completion": "-1"}
    assert auto.pricing.prompt is None and auto.pricing.completion is None
    assert auto.pricing.unknown_keys == ("completion", "prompt")
    assert auto.pricing.is_unknown and auto.is_router
    assert not auto.is_free and not auto.pricing.is_free
    assert auto.pricing.per_million("prompt") is None
    assert sum(m.is_router for m in catalog) == 1
    assert auto not in catalog.search(max_prompt_price_per_m=1_000_000)
    assert catalog.search(sort="price")[-1] is auto  # unknown prices sort last


def test_router_detection_by_id_and_tokenizer() -> None:
    free_router = Model.from_dict(entry("openrouter/free", pricing={"prompt": "0", "completion": "0"}))
    assert free_router.is_router and free_router.is_free and not free_router.pricing.is_unknown
    by_tokenizer = Model.from_dict(entry("x/router", architecture={"tokenizer": "Router"}))
    assert by_tokenizer.is_router
    stealth = Model.from_dict(entry("openrouter/quasar-alpha"))
    assert not stealth.is_router


def test_variants(catalog: Catalog) -> None:
    free = catalog["deepseek/deepseek-r1:free"]
    assert (free.variant, free.base_id, free.slug, free.author) == (
        "free",
        "deepseek/deepseek-r1",
        "deepseek-r1",
        "deepseek",
    )
    assert free.is_free and free.pricing.is_free
    thinking = catalog["anthropic/claude-3.7-sonnet:thinking"]
    assert thinking.variant == "thinking" and not thinking.is_free and thinking.supports("reasoning")
    assert catalog["openai/gpt-4o:extended"].variant == "extended"
    assert catalog["anthropic/claude-3.5-sonnet:beta"].variant == "beta"
    # free by price, without a :free variant
    exp = catalog["google/gemini-2.5-pro-exp-03-25"]
    assert exp.variant is None and exp.is_free
    assert sum(m.variant == "free" for m in catalog) == 68


def test_dynamic_variants_resolve_to_the_listed_model(catalog: Catalog) -> None:
    for variant in ("nitro", "floor", "online", "exacto"):
        model_id = f"openai/gpt-4o:{variant}"
        assert model_id in catalog
        model = catalog[model_id]
        assert model.id == model_id and model.variant == variant and model.base_id == "openai/gpt-4o"
        assert model.pricing == catalog["openai/gpt-4o"].pricing
    assert "openai/gpt-4o:free" not in catalog  # static variants must be listed
    assert "openai/nope:nitro" not in catalog
    assert catalog.get("openai/gpt-4o:free") is None
    assert len(catalog) == 321  # lookups do not add entries


def test_ids_authors_and_aliases() -> None:
    alias = Model.from_dict(entry("~anthropic/claude-sonnet-latest"))
    assert alias.is_alias and alias.author == "anthropic" and alias.slug == "claude-sonnet-latest"
    bare = Model.from_dict(entry("local-model:free"))
    assert (bare.author, bare.slug, bare.variant, bare.base_id) == ("", "local-model", "free", "local-model")


def test_newer_schema_payload_with_unknown_fields() -> None:
    body = NEWER_SCHEMA.read_bytes()
    assert json.loads(body)["total_count"] == 338
    catalog = Catalog.from_json(body)
    assert catalog.ids == ("anthropic/claude-sonnet-4", "openai/gpt-4.1-mini", "openai/gpt-4o", "openai/gpt-3.5-turbo")
    sonnet = catalog["anthropic/claude-sonnet-4"]
    assert sonnet.canonical_slug == "anthropic/claude-4-sonnet-20250522"
    assert sonnet.context_length == 1_000_000 and sonnet.top_provider.context_length == 200_000
    assert sonnet.pricing.prompt == Decimal("0.000003") and sonnet.pricing.web_search == Decimal("0.01")
    assert sonnet.pricing.extra == {"input_cache_write_1h": "0.000006"}
    assert sonnet.pricing.per_million("input_cache_write_1h") == Decimal(6)
    assert sonnet.raw["pricing"]["overrides"][0]["min_prompt_tokens"] == 200000
    assert sonnet.raw["knowledge_cutoff"] == "2025-01-31"
    assert sonnet.raw["reasoning"] == {"mandatory": False}
    assert sonnet.supports("reasoning") and sonnet.supports("tools") and sonnet.supports("file")
    # a canonical (dated) slug finds the model too
    assert catalog["anthropic/claude-4-sonnet-20250522"] is sonnet
    assert catalog["openai/gpt-4.1-mini-2025-04-14"].id == "openai/gpt-4.1-mini"


def test_newer_schema_served_by_the_mock_is_the_same() -> None:
    payload = json.loads(NEWER_SCHEMA.read_bytes())
    with MockServer(catalog=payload) as server:
        served = Catalog.from_json(fetch_from(server)(None)[0] or b"")
    assert [m for m in served] == [m for m in Catalog.from_payload(payload)]


def test_tolerates_sparse_and_odd_entries() -> None:
    odd: list[dict[str, Any]] = [
        {"id": "a/minimal"},
        {
            "id": "a/nulls",
            "name": None,
            "context_length": None,
            "architecture": None,
            "pricing": None,
            "top_provider": None,
            "supported_parameters": None,
            "created": None,
        },
        {
            "id": "a/bad-prices",
            "pricing": {
                "prompt": "abc",
                "completion": "NaN",
                "request": None,
                "image": "-0.5",
                "discount": 0.25,
                "overrides": [{"prompt": "1"}],
                "weird": {"x": 1},
            },
        },
        {
            "id": "a/legacy",
            "architecture": {"modality": "text+image->text"},
            "context_length": "4096",
            "top_provider": {"context_length": 4096.0},
        },
    ]
    with MockServer(catalog=odd) as server:
        catalog = Catalog.from_json(fetch_from(server)(None)[0] or b"")
    assert catalog.ids == ("a/minimal", "a/nulls", "a/bad-prices", "a/legacy")
    # entries without a usable id are skipped (the mock refuses to serve them)
    skipped = Catalog.from_payload({"data": [{"name": "no id"}, "not an object", {"id": 42}, *odd]})
    assert skipped.ids == catalog.ids
    minimal = catalog["a/minimal"]
    assert minimal.name == "a/minimal" and minimal.context_length is None and minimal.created is None
    assert minimal.pricing == Pricing() and minimal.architecture == Architecture()
    assert not minimal.is_free and not minimal.is_router and not minimal.supports("tools")
    bad = catalog["a/bad-prices"].pricing
    assert bad.prompt is None and bad.completion is None and bad.request is None and bad.image is None
    assert bad.unknown_keys == ("image",)
    assert dict(bad.extra) == {"discount": "0.25"}
    legacy = catalog["a/legacy"]
    assert legacy.architecture.input_modalities == ("text", "image") and legacy.architecture.output_modalities == (
        "text",
    )
    assert legacy.context_length == 4096 and legacy.top_provider.context_length == 4096
    assert catalog.search(modality="image") == [legacy]


def test_payload_shapes() -> None:
    assert len(Catalog.from_payload([entry("a/b")])) == 1
    assert len(Catalog.from_payload({"data": [], "total_count": 0})) == 0
    with pytest.raises(ValueError, match="not a /models payload"):
        Catalog.from_payload({"error": {"message": "nope"}})
    with pytest.raises(ValueError):
        Catalog.from_json(b"<html>")
    with pytest.raises(ValueError, match="no id"):
        Model.from_dict({"name": "x"})
    with pytest.raises(TypeError):
        Catalog([{"id": "a/b"}])  # type: ignore[list-item]
    dupes = Catalog.from_payload([entry("a/b", name="first"), entry("a/b", name="second")])
    assert len(dupes) == 1 and dupes["a/b"].name == "first"


def test_records_are_frozen_slotted_hashable_and_picklable(catalog: Catalog) -> None:
    opus = catalog["anthropic/claude-opus-4"]
    for record in (opus, opus.pricing, opus.architecture, opus.top_provider):
        assert not hasattr(record, "__dict__")
        assert "__slots__" in vars(type(record))
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(record, "name", "x")  # noqa: B010
    with pytest.raises(dataclasses.FrozenInstanceError):
        opus.pricing.prompt = Decimal(0)  # type: ignore[misc]
    with pytest.raises(TypeError):
        opus.raw["id"] = "x"  # type: ignore[index]
    assert hash(opus) == hash(catalog["anthropic/claude-opus-4"])
    assert len({*catalog}) == 321
    for record in (opus, catalog["openrouter/auto"]):
        clone = pickle.loads(pickle.dumps(record))
        assert clone == record and clone.raw == record.raw and clone.pricing.extra == record.pricing.extra
        assert copy.deepcopy(record) == record
    assert dataclasses.replace(opus, name="x").name == "x"


def test_pricing_helpers() -> None:
    p = Pricing.from_dict({"prompt": "0", "completion": "0", "input_cache_write_1h": "0.000012", "discount": 0})
    assert p.is_free and not p.is_unknown
    assert p.per_million("input_cache_write_1h") == Decimal(12)
    assert p.get("discount") == 0 and p.get("nope") is None and p.per_million("nope") is None
    assert not Pricing.from_dict({"prompt": "0"}).is_free  # completion missing: not known to be free
    assert not Pricing.from_dict({"prompt": "0", "completion": "0.000001"}).is_free
    assert Pricing.from_dict({"prompt": "-1", "completion": "0"}).is_unknown
    assert not Pricing.from_dict({"image": "-1"}).is_unknown  # only prompt/completion make a router
    tiny = Pricing.from_dict({"prompt": "0.00000008333333333333334"})
    assert tiny.prompt == Decimal("0.00000008333333333333334")
    assert tiny.per_million("prompt") == Decimal("0.08333333333333334")
    assert Pricing.from_dict({"prompt": 1e-06}).prompt == Decimal("0.000001")


def test_supports_mapping(catalog: Catalog) -> None:
    opus = catalog["anthropic/claude-opus-4"]
    assert opus.supports("tools") and opus.supports("function_calling") and opus.supports("Tool-Calling")
    assert opus.supports("reasoning") and opus.supports("thinking")
    assert opus.supports("vision") and opus.supports("image") and opus.supports("images")
    assert opus.supports("caching") and opus.supports("prompt_caching")
    assert opus.supports("top_k")  # any other name is a request parameter
    assert not opus.supports("structured_outputs") and not opus.supports("json")
    assert not opus.supports("file") and not opus.supports("audio") and not opus.supports("seed")
    mini = catalog["openai/gpt-4o-mini"]
    assert mini.supports("structured_outputs") and mini.supports("json_schema") and mini.supports("json")
    assert mini.supports("response_format") and mini.supports("file") and mini.supports("pdf")
    assert mini.supports("web_search") and mini.supports("seed")
    only_include = Model.from_dict(entry("a/r", supported_parameters=["include_reasoning"]))
    assert only_include.supports("reasoning")
    structured_only = Model.from_dict(entry("a/s", supported_parameters=["structured_outputs"]))
    assert structured_only.supports("json") and structured_only.supports("response_format")
    image_gen = Model.from_dict(
        entry("a/img", architecture={"input_modalities": ["text"], "output_modalities": ["image"]})
    )
    assert (
        image_gen.supports("image_output")
        and image_gen.supports("image_generation")
        and not image_gen.supports("vision")
    )
    embed = Model.from_dict(
        entry("a/emb", architecture={"input_modalities": ["text"], "output_modalities": ["embeddings"]})
    )
    assert embed.supports("embeddings")
    assert set(FEATURE_ALIASES) >= {"tools", "reasoning", "structured_outputs", "vision", "image", "caching"}


# ------------------------------------------------------------------------------- search


def words_of(model: Model) -> str:
    return f"{model.id}\n{model.name}\n{model.description}".lower()


def test_search_without_filters_returns_everything(catalog: Catalog) -> None:
    assert len(catalog.search()) == 321
    assert catalog.search(None, supports=(), input_modalities=(), output_modalities=()) == catalog.search()


def test_search_text(catalog: Catalog) -> None:
    claude = catalog.search("claude")
    assert claude and all("claude" in words_of(m) for m in claude)
    assert {m.id for m in claude} == {m.id for m in catalog if "claude" in words_of(m)}
    assert catalog.search("CLAUDE") == claude
    both = catalog.search("claude sonnet")
    assert both and all("claude" in words_of(m) and "sonnet" in words_of(m) for m in both)
    assert {m.id for m in both} < {m.id for m in claude}
    # id fragments, names and description-only words
    assert catalog.search("gpt-4o-mini-2024")[0].id == "openai/gpt-4o-mini-2024-07-18"
    assert "anthropic/claude-opus-4" in [m.id for m in catalog.search("terminal-bench")]
    opus = catalog.search("Anthropic: Claude Opus", sort="newest")
    assert opus[0].id == "anthropic/claude-opus-4" and all("opus" in words_of(m) for m in opus)
    assert catalog.search("zzz-no-such-word") == []
    # the index finds exactly what a substring scan finds
    for word in ("a", "4o", "-", "’s", "(72.5%)", "instruct", "mistralai/", "b:free", "e"):
        expected = {m.id for m in catalog if word in words_of(m)}
        assert {m.id for m in catalog.search(word)} == expected, word


def test_search_provider(catalog: Catalog) -> None:
    anthropic = catalog.search(provider="anthropic")
    assert len(anthropic) == 25 and all(m.author == "anthropic" for m in anthropic)
    assert catalog.search(provider="Anthropic") == anthropic
    both = catalog.search(provider=["anthropic", "openai"])
    assert len(both) == 25 + 39 and {m.author for m in both} == {"anthropic", "openai"}
    assert catalog.search(provider="nobody") == []


def test_search_supports(catalog: Catalog) -> None:
    tools = catalog.search(supports="tools")
    assert len(tools) == 132 and all("tools" in m.supported_parameters for m in tools)
    assert catalog.search(supports=["tools"]) == tools
    both = catalog.search(supports=["tools", "reasoning"])
    assert both and all(m.supports("tools") and m.supports("reasoning") for m in both)
    assert {m.id for m in both} == {m.id for m in tools if m.supports("reasoning")}
    vision = catalog.search(supports="vision")
    assert len(vision) == 92 and vision == catalog.search(input_modalities="image")
    assert {m.id for m in catalog.search(supports="caching")} == {
        m.id for m in catalog if m.pricing.input_cache_read is not None
    }
    assert catalog.search(supports="no_such_parameter") == []
    with pytest.raises(ValueError, match="unknown provider 'antrhopic': did you mean 'anthropic'"):
        catalog.search(provider="antrhopic")
    assert catalog.search(provider="no-such-lab") == []
    assert catalog.search(supports=["seed", "logprobs"]) == [
        m for m in catalog.search() if m.supports("seed") and m.supports("logprobs")
    ]


def test_search_modalities(catalog: Catalog) -> None:
    images = catalog.search(input_modalities=["image"])
    assert len(images) == 92 and all("image" in m.architecture.input_modalities for m in images)
    assert catalog.search(modality="image") == images  # the API.md alias
    assert catalog.search(input_modalities="image") == images
    files = catalog.search(input_modalities=["image", "file"])
    assert files and all({"image", "file"} <= set(m.architecture.input_modalities) for m in files)
    assert catalog.search(modality="file", input_modalities=["image"]) == files
    assert len(catalog.search(output_modalities="text")) == 321
    assert catalog.search(output_modalities="image") == []


def test_search_output_modalities_with_image_and_embedding_models() -> None:
    models = [
        entry("a/chat"),
        entry(
            "a/painter",
            architecture={"modality": "text->image", "input_modalities": ["text"], "output_modalities": ["image"]},
        ),
        entry("a/both", architecture={"input_modalities": ["text", "image"], "output_modalities": ["text", "image"]}),
        entry("a/embed", architecture={"input_modalities": ["text"], "output_modalities": ["embeddings"]}),
        entry("a/voice", architecture={"input_modalities": ["text", "audio"], "output_modalities": ["text", "audio"]}),
    ]
    with MockServer(catalog=models) as server:
        catalog = Catalog.from_json(fetch_from(server)(None)[0] or b"")
        assert server.requests[-1].path == MODELS_PATH

    def ids(found: list[Model]) -> list[str]:
        return sorted(m.id for m in found)

    assert ids(catalog.search(output_modalities="image")) == ["a/both", "a/painter"]
    assert ids(catalog.search(output_modalities=["text", "image"])) == ["a/both"]
    assert ids(catalog.search(output_modalities="embeddings")) == ["a/embed"]
    assert ids(catalog.search(supports="embeddings")) == ["a/embed"]
    assert ids(catalog.search(supports="audio_output")) == ["a/voice"]
    assert ids(catalog.search(input_modalities="audio")) == ["a/voice"]
    assert ids(catalog.search(supports="image_generation", modality="image")) == ["a/both"]


def test_search_min_context(catalog: Catalog) -> None:
    big = catalog.search(min_context=1_000_000)
    assert big and all(m.context_length is not None and m.context_length >= 1_000_000 for m in big)
    assert {m.id for m in big} == {m.id for m in catalog if (m.context_length or 0) >= 1_000_000}
    assert catalog.search(min_context=200_000, provider="anthropic") == catalog.search(
        provider="anthropic", min_context=200000
    )
    assert "anthropic/claude-opus-4" in [m.id for m in catalog.search(min_context=200_000)]  # inclusive
    assert catalog.search(min_context=10**9) == []
    sparse = Catalog.from_payload([{"id": "a/unknown-context"}])
    assert sparse.search(min_context=1) == []


def test_search_price_limits(catalog: Catalog) -> None:
    limit = Decimal("0.000003")  # $3 per million
    cheap = catalog.search(max_prompt_price_per_m=3)
    assert cheap and all(m.pricing.prompt is not None and m.pricing.prompt <= limit for m in cheap)
    assert {m.id for m in cheap} == {
        m.id for m in catalog if m.pricing.prompt is not None and m.pricing.prompt <= limit
    }
    assert catalog.search(max_prompt_price_per_m="3") == cheap
    assert catalog.search(max_prompt_price_per_m=3.0) == cheap
    assert catalog.search(max_prompt_price_per_m=Decimal(3)) == cheap
    # inclusive at the exact price
    assert "anthropic/claude-opus-4" in [m.id for m in catalog.search(max_prompt_price_per_m="15")]
    assert "anthropic/claude-opus-4" not in [m.id for m in catalog.search(max_prompt_price_per_m="14.9")]
    out = catalog.search(max_completion_price_per_m="10")
    assert out and all(m.pricing.completion is not None and m.pricing.completion <= Decimal("0.00001") for m in out)
    assert "openrouter/auto" not in [m.id for m in catalog.search(max_completion_price_per_m=100)]
    zero = catalog.search(max_prompt_price_per_m=0, max_completion_price_per_m=0)
    assert zero and all(m.pricing.is_free for m in zero)
    with pytest.raises(ValueError, match="max_prompt_price_per_m must be a number of USD per million tokens"):
        catalog.search(max_prompt_price_per_m="cheap")
    # the old per-token keywords still work, with a DeprecationWarning naming the new ones
    with pytest.warns(DeprecationWarning, match="max_prompt_price_per_m"):
        assert catalog.search(max_prompt_price="0.000003") == cheap
    # issue 12: $1 per million is not "everything but one model"
    assert len(catalog.search(max_prompt_price_per_m=1)) < len(catalog.search(max_prompt_price_per_m=1000)) - 50


def test_search_ranks_id_and_name_matches_above_description_matches(catalog: Catalog) -> None:
    found = catalog.search("claude")
    by_name = [m for m in found if "claude" in m.id.lower() or "claude" in m.name.lower()]
    assert by_name and found[: len(by_name)] == by_name
    assert len(found) > len(by_name), "some models mention claude only in their description"
    prices = [(m.pricing.prompt or 0) for m in found[: len(by_name)] if m.pricing.prompt is not None]
    assert prices == sorted(prices)  # each group keeps the sort order


def test_search_suggests_a_near_miss_filter_value(catalog: Catalog) -> None:
    with pytest.raises(ValueError, match="unknown feature 'tolls': did you mean 'tools'"):
        catalog.search(supports="tolls")
    with pytest.raises(ValueError, match="unknown input modality 'imag'.*'image'"):
        catalog.search(modality="imag")
    assert catalog.search(supports="no_such_parameter") == []
    with pytest.raises(ValueError, match="unknown provider 'antrhopic': did you mean 'anthropic'"):
        catalog.search(provider="antrhopic")
    assert catalog.search(provider="no-such-lab") == []


def test_search_free(catalog: Catalog) -> None:
    free = catalog.search(free=True)
    paid = catalog.search(free=False)
    assert all(m.is_free for m in free) and not any(m.is_free for m in paid)
    assert len(free) + len(paid) == 321
    assert len(free) == 69  # 68 :free variants + one model priced at 0
    assert "openrouter/auto" in [m.id for m in paid]


def test_search_sorts(catalog: Catalog) -> None:
    by_price = catalog.search(sort="price")
    priced = [m for m in by_price if m.pricing.prompt is not None]
    keys = [(m.pricing.prompt, m.pricing.completion or 0, m.id) for m in priced]
    assert keys == sorted(keys) and by_price[-1].id == "openrouter/auto"
    assert catalog.search() == by_price  # price is the default

    by_context = catalog.search(sort="context")
    contexts = [m.context_length or 0 for m in by_context]
    assert contexts == sorted(contexts, reverse=True)

    newest = catalog.search(sort="newest")
    created = [m.created or 0 for m in newest]
    assert created == sorted(created, reverse=True)
    assert newest[0].id == "anthropic/claude-opus-4"  # the latest in the recording

    by_name = catalog.search(sort="name")
    names = [m.name.lower() for m in by_name]
    assert names == sorted(names)

    # ties are broken by id, so results are deterministic
    tied = [m for m in by_context if m.context_length == 200_000]
    assert [m.id for m in tied] == sorted(m.id for m in tied)
    with pytest.raises(ValueError, match="sort must be one of"):
        catalog.search(sort="popularity")


def test_search_limit(catalog: Catalog) -> None:
    assert catalog.search(limit=5) == catalog.search()[:5]
    assert catalog.search("claude", sort="newest", limit=3) == catalog.search("claude", sort="newest")[:3]
    assert catalog.search(limit=0) == []
    assert len(catalog.search(limit=10_000)) == 321
    with pytest.raises(ValueError, match="limit"):
        catalog.search(limit=-1)


def test_search_filters_are_anded(catalog: Catalog) -> None:
    found = catalog.search(
        "claude", provider="anthropic", supports=["tools"], modality="image",
        min_context=100_000, max_prompt_price_per_m="4", max_completion_price_per_m="20", free=False,
    )  # fmt: skip
    expected = [
        m
        for m in catalog.search()
        if "claude" in words_of(m)
        and m.author == "anthropic"
        and m.supports("tools")
        and "image" in m.architecture.input_modalities
        and (m.context_length or 0) >= 100_000
        and m.pricing.prompt is not None
        and m.pricing.prompt <= Decimal("0.000004")
        and m.pricing.completion is not None
        and m.pricing.completion <= Decimal("0.00002")
        and not m.is_free
    ]
    assert found == expected and len(found) > 3


def test_search_argument_errors(catalog: Catalog) -> None:
    with pytest.raises(TypeError):
        catalog.search(min_context="big")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        catalog.search(free="yes")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        catalog.search(supports=[1])  # type: ignore[list-item]


# ---------------------------------------------------------------------- lookups, near misses


def test_lookup_and_did_you_mean(catalog: Catalog) -> None:
    assert catalog["anthropic/claude-opus-4"].id == "anthropic/claude-opus-4"
    assert "anthropic/claude-opus-4" in catalog and "anthropic/claude-opus4" not in catalog and 42 not in catalog
    assert catalog.get("nope/nope") is None
    opus = catalog["anthropic/claude-opus-4"]
    assert catalog.get("nope/nope", opus) is opus

    with pytest.raises(KeyError) as typo:
        catalog["anthropic/claude-opus4"]
    message = typo.value.args[0]
    assert message.startswith("unknown model 'anthropic/claude-opus4'; did you mean 'anthropic/claude-opus-4'")
    assert message.endswith("?") and message.count("'") <= 8  # at most three suggestions

    with pytest.raises(KeyError, match="did you mean 'openai/gpt-4o'"):
        catalog["gpt-4o"]  # the slug alone
    with pytest.raises(KeyError, match="did you mean 'anthropic/claude-opus-4'"):
        catalog["Anthropic: Claude Opus 4"]  # the display name
    with pytest.raises(KeyError, match="did you mean 'openai/gpt-4o-mini'"):
        catalog["openai/gpt4o-mini"]
    with pytest.raises(KeyError) as far:
        catalog["zzzzzzzzzzzzzzzzzzzz"]
    assert "did you mean" not in far.value.args[0] and "no similar id" in far.value.args[0]
    assert catalog.suggest("claude opus 4")[0] == "anthropic/claude-opus-4"

    with pytest.raises(KeyError, match="the catalog is empty"):
        Catalog([])["a/b"]


def test_catalog_metadata_and_collection(catalog: Catalog) -> None:
    assert catalog.source == "network" and not catalog.stale
    assert 0 <= catalog.age_s < 600 and catalog.fetched_at <= time.time()
    assert [m.id for m in catalog][:2] == list(catalog.ids[:2]) and catalog.models[0] is next(iter(catalog))
    assert "321 models" in repr(catalog)
    old = Catalog.from_payload([entry("a/b")], fetched_at=time.time() - 7200, stale=True)
    assert 7199 < old.age_s < 7300 and old.stale and old.source == "payload" and "stale" in repr(old)


# ------------------------------------------------------------------------------ endpoints


def test_endpoints_from_the_mock(server: MockServer) -> None:
    response = httpx.get(f"{server.base_url}/models/anthropic/claude-opus-4/endpoints")
    result = ModelEndpoints.from_json(response.content)
    assert result.id == "anthropic/claude-opus-4" and result.name == "Anthropic: Claude Opus 4"
    assert result.architecture.tokenizer == "Claude"
    assert len(result) == 1
    (endpoint,) = result
    assert isinstance(endpoint, Endpoint)
    assert endpoint.name == "Anthropic | anthropic/claude-opus-4"
    assert endpoint.model_id == "anthropic/claude-opus-4"
    assert (endpoint.provider_name, endpoint.tag, endpoint.quantization) == ("Anthropic", "anthropic", None)
    assert endpoint.context_length == 200000 and endpoint.max_completion_tokens == 32000
    assert endpoint.max_prompt_tokens is None
    assert endpoint.pricing.prompt == Decimal("0.000015") and endpoint.pricing.extra == {"discount": "0"}
    assert endpoint.status == 0 and not endpoint.is_degraded
    assert (endpoint.uptime_last_30m, endpoint.uptime_last_5m, endpoint.uptime_last_1d) == (99.5, 100.0, 99.8)
    assert endpoint.latency_last_30m is None and endpoint.throughput_last_30m is None
    assert "tools" in endpoint.supported_parameters
    assert endpoint.raw["supports_implicit_caching"] is False


def test_endpoints_recorded_fixture() -> None:
    result = ModelEndpoints.from_json(ENDPOINTS_FIXTURE.read_bytes())
    assert result.id == "google/gemini-2.5-pro-preview"
    assert result.architecture.input_modalities == ("text", "image", "file")
    assert [e.tag for e in result] == ["google-vertex", "google-ai-studio"]
    vertex, studio = result.endpoints
    assert vertex.model_id == "google/gemini-2.5-pro-preview"  # older payloads do not name it: the parent's id
    assert vertex.provider_name == "Google" and studio.provider_name == "Google AI Studio"
    assert vertex.max_completion_tokens == 65535 and studio.max_completion_tokens == 65536
    assert vertex.context_length == 1048576
    assert vertex.pricing.prompt == Decimal("0.00000125") and vertex.pricing.per_million("completion") == 10
    assert vertex.pricing.image == Decimal("0.00516")
    assert vertex.uptime_last_30m is None and vertex.status == 0
    assert ModelEndpoints.from_payload(json.loads(ENDPOINTS_FIXTURE.read_bytes())["data"]) == result


def test_endpoint_status_and_stats() -> None:
    degraded = Endpoint.from_dict(
        {"name": "X | a/b", "status": -2, "latency_last_30m": {"p50": 0.4, "p99": 2.5}, "uptime_last_30m": 87}
    )
    assert degraded.is_degraded and degraded.status == -2
    assert degraded.latency_last_30m == {"p50": 0.4, "p99": 2.5} and degraded.uptime_last_30m == 87.0
    assert hash(degraded) == hash(Endpoint.from_dict(dict(degraded.raw)))
    assert not Endpoint.from_dict({"name": "x"}).is_degraded
    with pytest.raises(ValueError):
        ModelEndpoints.from_payload({"error": {"code": 404}})
    with pytest.raises(ValueError):
        ModelEndpoints.from_json(b"[]")


def test_endpoints_of_a_custom_mock_model() -> None:
    with MockServer(catalog=[entry("a/b", name="B")]) as server:
        result = ModelEndpoints.from_json(httpx.get(f"{server.base_url}/models/a/b/endpoints").content)
    assert result.id == "a/b" and len(result.endpoints) == 1
    assert result.endpoints[0].pricing.prompt == Decimal("0.000001") or result.endpoints[0].pricing.prompt is None


# --------------------------------------------------------------------------------- caching


def test_default_cache_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FASTROUTER_CACHE_DIR", str(tmp_path / "explicit"))
    assert default_cache_dir() == tmp_path / "explicit"
    assert CatalogCache().path == tmp_path / "explicit"
    monkeypatch.delenv("FASTROUTER_CACHE_DIR")
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "fastrouter"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/ignored")
    assert default_cache_dir() == Path.home() / ".cache" / "fastrouter"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert default_cache_dir() == Path.home() / ".cache" / "fastrouter"
    monkeypatch.setattr(sys, "platform", "darwin")
    assert default_cache_dir() == Path.home() / "Library" / "Caches" / "fastrouter"
    with pytest.raises(ValueError):
        CatalogCache(tmp_path, ttl_s=-1)


def test_cache_file_round_trip(cache: CatalogCache) -> None:
    assert cache.read("http://x/api/v1") is None
    written = CacheEntry(body=b'{"data": []}', fetched_at=123.5, etag='W/"abc"', base_url="http://x/api/v1")
    path = cache.write("http://x/api/v1/", written)
    assert path == cache.file_for("http://x/api/v1") and path.parent == cache.path
    assert cache.read("http://x/api/v1") == written
    assert cache.file_for("http://y/api/v1") != path and cache.read("http://y/api/v1") is None
    assert [p.name for p in cache.path.iterdir()] == [path.name]  # no temporary files left
    assert not cache.is_fresh(written) and cache.is_fresh(written, now=124.0)
    path.write_bytes(b"garbage")
    assert cache.read("http://x/api/v1") is None
    cache.clear()
    assert not path.exists()


def test_fresh_disk_copy_is_used_without_network(server: MockServer, cache: CatalogCache) -> None:
    first = CatalogLoader(cache, server.base_url)
    catalog = first.load_sync(fetch_from(server))
    assert catalog.source == "network" and len(catalog) == 321 and not catalog.stale
    assert models_requests(server) == 1 and server.requests[0].path == MODELS_PATH
    assert cache.file_for(server.base_url).exists()

    again = first.load_sync(fetch_from(server))
    assert again.source == "memory" and again.ids == catalog.ids

    other = CatalogLoader(cache, server.base_url)  # a new process, say
    from_disk = other.load_sync(fetch_from(server))
    assert from_disk.source == "disk" and not from_disk.stale and from_disk.ids == catalog.ids
    assert abs(from_disk.fetched_at - catalog.fetched_at) < 1e-6
    assert other.load_sync(fetch_from(server)).source == "memory"
    assert models_requests(server) == 1


def test_expired_copy_is_refetched(server: MockServer, cache: CatalogCache) -> None:
    body = fetch_from(server)(None)[0]
    assert body is not None
    cache.write(server.base_url, CacheEntry(body, time.time() - 7200, None, server.base_url))
    before = models_requests(server)
    catalog = CatalogLoader(cache, server.base_url).load_sync(fetch_from(server))
    assert catalog.source == "network" and catalog.age_s < 60
    assert models_requests(server) == before + 1
    stored = cache.read(server.base_url)
    assert stored is not None and time.time() - stored.fetched_at < 60


def test_memory_copy_expires_too(server: MockServer, cache: CatalogCache) -> None:
    loader = CatalogLoader(cache, server.base_url, ttl_s=0)
    loader.load_sync(fetch_from(server))
    loader.load_sync(fetch_from(server))
    assert models_requests(server) == 2


def test_refresh_forces_a_fetch(server: MockServer, cache: CatalogCache) -> None:
    loader = CatalogLoader(cache, server.base_url)
    loader.load_sync(fetch_from(server))
    assert loader.load_sync(fetch_from(server), refresh=True).source == "network"
    assert models_requests(server) == 2
    loader.invalidate()
    assert loader.load_sync(fetch_from(server)).source == "disk"


def test_memory_only_loader(server: MockServer) -> None:
    loader = CatalogLoader(None, server.base_url)
    assert loader.ttl_s == 3600
    assert loader.load_sync(fetch_from(server)).source == "network"
    assert loader.load_sync(fetch_from(server)).source == "memory"
    assert models_requests(server) == 1


class FakeServer:
    """A fetch function with ETag support, scripted per call."""

    def __init__(self, body: bytes, etag: str | None = '"v1"') -> None:
        self.body = body
        self.etag = etag
        self.seen: list[str | None] = []
        self.fail: BaseException | None = None

    def __call__(self, validator: str | None) -> FetchResult:
        self.seen.append(validator)
        if self.fail is not None:
            raise self.fail
        if validator is not None and validator == self.etag:
            return None, self.etag  # 304 Not Modified
        return self.body, self.etag


def test_conditional_refresh_with_an_etag(tmp_path: Path) -> None:
    body = json.dumps({"data": [entry("a/b"), entry("c/d")]}).encode()
    fake = FakeServer(body)
    cache = CatalogCache(tmp_path, ttl_s=0)  # every load revalidates
    loader = CatalogLoader(cache, "http://fake/api/v1")
    first = loader.load_sync(fake)
    assert fake.seen == [None] and first.ids == ("a/b", "c/d")
    stored = cache.read("http://fake/api/v1")
    assert stored is not None and stored.etag == '"v1"' and stored.body == body

    time.sleep(0.01)
    second = loader.load_sync(fake)
    assert fake.seen == [None, '"v1"']  # If-None-Match sent, 304 received
    assert second.source == "network" and not second.stale and second.ids == first.ids
    assert second.fetched_at > first.fetched_at
    renewed = cache.read("http://fake/api/v1")
    assert renewed is not None and renewed.fetched_at == second.fetched_at and renewed.body == body

    # a new loader revalidates the disk copy with its stored ETag
    fresh_loader = CatalogLoader(cache, "http://fake/api/v1")
    assert fresh_loader.load_sync(fake).ids == ("a/b", "c/d") and fake.seen[-1] == '"v1"'

    # changed on the server: a new body and ETag replace the copy
    fake.body, fake.etag = json.dumps({"data": [entry("e/f")]}).encode(), '"v2"'
    assert loader.load_sync(fake).ids == ("e/f",)
    assert cache.read("http://fake/api/v1").etag == '"v2"'  # type: ignore[union-attr]


def test_not_modified_without_a_copy_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not modified"):
        CatalogLoader(CatalogCache(tmp_path), "http://fake").load_sync(lambda v: (None, '"x"'))


def test_validator_headers() -> None:
    assert validator_from_headers({"ETag": 'W/"1"', "Last-Modified": "x"}) == 'W/"1"'
    assert validator_from_headers({"last-modified": "Wed, 21 Oct 2026 07:28:00 GMT"}) == (
        "last-modified:Wed, 21 Oct 2026 07:28:00 GMT"
    )
    assert validator_from_headers({}) is None
    assert conditional_headers('"abc"') == {"If-None-Match": '"abc"'}
    assert conditional_headers("last-modified:Wed, 21 Oct 2026 07:28:00 GMT") == {
        "If-Modified-Since": "Wed, 21 Oct 2026 07:28:00 GMT"
    }
    assert conditional_headers(None) == {}


def test_offline_falls_back_to_the_stale_disk_copy(
    tmp_path: Path, cache: CatalogCache, caplog: pytest.LogCaptureFixture
) -> None:
    with MockServer() as server:
        base_url = server.base_url
        fetch = fetch_from(server)
        body = fetch(None)[0]
    assert body is not None
    cache.write(base_url, CacheEntry(body, time.time() - 2 * 3600 - 5 * 60, None, base_url))
    # the server is gone now
    with caplog.at_level(logging.WARNING, logger="fastrouter"):
        catalog = CatalogLoader(cache, base_url).load_sync(fetch)
    assert catalog.stale and catalog.source == "disk" and len(catalog) == 321
    assert 7500 < catalog.age_s < 7600
    (record,) = [r for r in caplog.records if r.name == "fastrouter"]
    assert record.levelno == logging.WARNING
    assert "could not refresh the model catalog" in record.getMessage()
    assert "APIConnectionError" in record.getMessage() and "2h 5m ago" in record.getMessage()


def test_failed_refresh_falls_back_to_the_memory_copy(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    fake = FakeServer(json.dumps({"data": [entry("a/b")]}).encode())
    loader = CatalogLoader(None, "http://fake", ttl_s=0)
    loader.load_sync(fake)
    fake.fail = OSError("network is unreachable")
    with caplog.at_level(logging.WARNING, logger="fastrouter"):
        catalog = loader.load_sync(fake)
    assert catalog.stale and catalog.source == "memory" and catalog.ids == ("a/b",)
    assert "network is unreachable" in caplog.text
    fake.fail = None
    assert not loader.load_sync(fake).stale  # back online


def test_a_broken_body_keeps_the_last_good_copy(tmp_path: Path) -> None:
    fake = FakeServer(json.dumps({"data": [entry("a/b")]}).encode(), etag=None)
    cache = CatalogCache(tmp_path, ttl_s=0)
    CatalogLoader(cache, "http://fake").load_sync(fake)
    fake.body = b"<html>502 Bad Gateway</html>"
    catalog = CatalogLoader(cache, "http://fake").load_sync(fake)
    assert catalog.stale and catalog.ids == ("a/b",)
    assert cache.read("http://fake").body.startswith(b'{"data"')  # type: ignore[union-attr]
    with pytest.raises(ValueError):
        CatalogLoader(CatalogCache(tmp_path / "empty"), "http://fake").load_sync(fake)


def test_no_copy_and_no_network_raises(tmp_path: Path) -> None:
    with MockServer() as server:
        fetch = fetch_from(server)
        base_url = server.base_url
    with pytest.raises(APIConnectionError):
        CatalogLoader(CatalogCache(tmp_path), base_url).load_sync(fetch)
    fake = FakeServer(b"")
    fake.fail = RuntimeError("a bug, not an outage")
    with pytest.raises(RuntimeError):
        CatalogLoader(CatalogCache(tmp_path), "http://fake").load_sync(fake)


def test_offline_mode_never_fetches(server: MockServer, cache: CatalogCache) -> None:
    loader = CatalogLoader(cache, server.base_url)
    with pytest.raises(CatalogUnavailableError, match="offline") as exc:
        loader.load_sync(fetch_from(server), offline=True)
    assert isinstance(exc.value, FastrouterError) and isinstance(exc.value, LookupError)
    assert models_requests(server) == 0
    loader.load_sync(fetch_from(server))
    offline = CatalogLoader(cache, server.base_url).load_sync(fetch_from(server), offline=True)
    assert offline.source == "disk" and not offline.stale
    entry_ = cache.read(server.base_url)
    assert entry_ is not None
    cache.write(server.base_url, dataclasses.replace(entry_, fetched_at=time.time() - 86400))
    old = CatalogLoader(cache, server.base_url).load_sync(fetch_from(server), offline=True)
    assert old.stale and old.age_s > 86000
    assert models_requests(server) == 1


def test_a_corrupt_cache_file_is_ignored(server: MockServer, cache: CatalogCache) -> None:
    cache.path.mkdir(parents=True)
    cache.file_for(server.base_url).write_bytes(b'{"format": "fastrouter-models/1"}\n')
    assert CatalogLoader(cache, server.base_url).load_sync(fetch_from(server)).source == "network"
    good = cache.read(server.base_url)
    assert good is not None
    # a readable header with a body that is not a catalog
    cache.write(server.base_url, dataclasses.replace(good, body=b"not json"))
    assert CatalogLoader(cache, server.base_url).load_sync(fetch_from(server)).source == "network"


def test_an_unwritable_cache_does_not_break_loading(
    server: MockServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    with caplog.at_level(logging.WARNING, logger="fastrouter"):
        catalog = CatalogLoader(CatalogCache(blocker / "cache"), server.base_url).load_sync(fetch_from(server))
    assert len(catalog) == 321 and "could not write the model catalog cache" in caplog.text


def test_atomic_write_leaves_the_old_file_on_failure(cache: CatalogCache, monkeypatch: pytest.MonkeyPatch) -> None:
    old = CacheEntry(b'{"data": []}', 1.0, None, "http://x")
    cache.write("http://x", old)

    def boom(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        cache.write("http://x", CacheEntry(b"new", 2.0, None, "http://x"))
    assert cache.read("http://x") == old
    assert len(list(cache.path.iterdir())) == 1


async def test_load_async(server: MockServer, cache: CatalogCache) -> None:
    url = f"{server.base_url}/models?output_modalities=all"

    async def fetch(validator: str | None) -> FetchResult:
        async with httpx.AsyncClient() as http:
            response = await http.get(url, headers=conditional_headers(validator))
        return response.content, validator_from_headers(response.headers)

    loader = CatalogLoader(cache, server.base_url)
    catalog = await loader.load_async(fetch)
    assert catalog.source == "network" and len(catalog) == 321
    assert (await loader.load_async(fetch)).source == "memory"
    assert models_requests(server) == 1

    async def offline(validator: str | None) -> FetchResult:
        await asyncio.sleep(0)
        raise APIConnectionError("offline")

    stale_loader = CatalogLoader(CatalogCache(cache.path, ttl_s=0), server.base_url)
    stale = await stale_loader.load_async(offline)
    assert stale.stale and stale.source == "disk" and len(stale) == 321
