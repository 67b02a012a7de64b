"""Routing configuration: parsing and validation, resolution into chains, explain, round trips."""

from __future__ import annotations

import copy
import dataclasses
import json
import pickle
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import fastrouter
import pytest
from fastrouter import routing as routing_module
from fastrouter.routing import BUDGET_PERIODS, MODES, ResolvedRoute, Route, Routing, RoutingError
from fastrouter.usage.budget import Budget
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from routing_helpers import SMALL, entry, real_catalog, small_catalog

CATALOG = small_catalog()
PAID = ["acme/cheap", "beta/mid", "gamma/mid2", "delta/dear", "epsilon/top"]

DOC_TOML = """
default_route = "smart"

[aliases]
fast = ["openai/gpt-4o-mini", "anthropic/claude-3.5-haiku"]

[routes.smart]
supports = ["tools"]
min_context = 100000
max_prompt_price_per_m = 5.0          # USD per million prompt tokens
mode = "quality"
max_models = 3
max_retries = 1
hedge_after = 2.0
deadline_s = 30
max_cost_per_request = 0.50
providers = { sort = "throughput" }

[[budgets]]
usd = 10
per = "day"
"""


def chain(spec: dict[str, Any], latencies: dict[str, float] | None = None, catalog: Any = CATALOG) -> list[str]:
    """The chain of a single route ``r`` built from ``spec``."""
    routing = Routing.from_dict({"routes": {"r": spec}})
    return list(routing.resolve("r", catalog, latencies=latencies).chain)


# ----------------------------------------------------------------------------- loading


def test_the_documented_toml_loads_with_typed_values(tmp_path: Path) -> None:
    path = tmp_path / "fastrouter.toml"
    path.write_text(DOC_TOML)
    routing = Routing.from_toml(path)
    assert routing.source == str(path)
    assert routing.default_route == "smart"
    assert routing.aliases == {"fast": ("openai/gpt-4o-mini", "anthropic/claude-3.5-haiku")}
    smart = routing.routes["smart"]
    assert smart == Route(
        "smart",
        supports=["tools"],
        min_context=100_000,
        max_prompt_price_per_m=Decimal("5.0"),
        mode="quality",
        max_models=3,
        max_retries=1,
        hedge_after=2.0,
        deadline_s=30.0,
        max_cost_per_request=Decimal("0.5"),
        providers={"sort": "throughput"},
    )
    assert isinstance(smart.max_prompt_price_per_m, Decimal) and isinstance(smart.deadline_s, float)
    assert routing.budgets == (Budget(Decimal(10), per="day"),)
    assert routing.names() == ("fast", "smart")
    assert routing.is_route("smart") and routing.is_route("fast") and "fast" in routing
    assert not routing.is_route("openai/gpt-4o-mini")


def test_routing_in_code_and_from_dict_agree() -> None:
    in_code = Routing(
        aliases={"fast": ["openai/gpt-4o-mini"]},
        routes=[Route("smart", supports="tools", max_prompt_price_per_m=5, mode="cheapest")],
        budgets=[Budget("1.50", per="request", tags=["batch"])],
    )
    from_dict = Routing.from_dict(
        {
            "aliases": {"fast": "openai/gpt-4o-mini"},
            "routes": {"smart": {"supports": ["tools"], "max_prompt_price_per_m": "5", "mode": "cheapest"}},
            "budgets": [{"usd": 1.5, "per": "request", "tags": ["batch"]}],
        }
    )
    assert in_code == from_dict
    assert in_code.routes["smart"].supports == ("tools",)  # a bare string is one item
    assert Routing(routes={"smart": in_code.routes["smart"]}).routes == {"smart": in_code.routes["smart"]}


def test_objects_are_frozen_and_the_error_is_a_value_error() -> None:
    route = Route("r")
    with pytest.raises(dataclasses.FrozenInstanceError):
        route.mode = "cheapest"  # type: ignore[misc]
    assert issubclass(RoutingError, fastrouter.FastrouterError)
    assert issubclass(RoutingError, ValueError)
    assert hash(route) == hash(Route("r"))
    assert route.effective_mode == "balanced" and route.effective_max_models == 3
    listed = Route("r", ["a/b", "c/d", "e/f", "g/h"])
    assert listed.effective_mode == "ordered" and listed.effective_max_models == 4


def test_a_missing_toml_parser_says_to_install_tomli(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "tomllib", None)  # as on Python < 3.11 without tomli
    monkeypatch.setitem(sys.modules, "tomli", None)
    with pytest.raises(ImportError, match="pip install tomli"):
        Routing.from_toml_str("[aliases]\n")


# -------------------------------------------------------------------------- validation

VALIDATION_CASES = [
    # (toml, key, message fragment, suggestion fragment)
    ('[routes.smart]\nmode = "fastst"', "routes.smart.mode", "unknown mode 'fastst'", "did you mean 'fastest'?"),
    (
        '[routes.smart]\nmin_context = "100000"',
        "routes.smart.min_context",
        "expected an integer",
        "100000 without quotes",
    ),
    ("[routes.smart]\nmin_context = -5", "routes.smart.min_context", "must be at least 1", "for example 100000"),
    ("[routes.smart]\nmax_models = 0", "routes.smart.max_models", "must be at least 1", "for example 3"),
    ("[routes.smart]\nmax_retries = 1.5", "routes.smart.max_retries", "expected an integer", "for example 1"),
    (
        "[routes.smart]\nmax_prompt_price_per_m = -1",
        "routes.smart.max_prompt_price_per_m",
        "non-negative",
        "for example 5.0",
    ),
    ('[routes.smart]\nmax_cost_per_request = "lots"', "routes.smart.max_cost_per_request", "amount in USD", "0.50"),
    ("[routes.smart]\nhedge_after = 0", "routes.smart.hedge_after", "positive number of seconds", "2.0"),
    ('[routes.smart]\ndeadline_s = "30s"', "routes.smart.deadline_s", "number of seconds", "for example 30"),
    ('[routes.smart]\nprefer_free = "true"', "routes.smart.prefer_free", "true or false", "true without quotes"),
    ("[routes.smart]\nsupports = 3", "routes.smart.supports", "list of strings", '["tools"]'),
    (
        '[routes.smart]\nsupports = ["tool"]',
        "routes.smart.supports[0]",
        "unknown feature 'tool'",
        "did you mean 'tools'?",
    ),
    (
        '[routes.smart]\ninput_modalities = ["imag"]',
        "routes.smart.input_modalities[0]",
        "unknown input modality",
        "did you mean 'image'?",
    ),
    ("[routes.smart]\nmin_contxt = 5", "routes.smart.min_contxt", "unknown key", "did you mean 'min_context'?"),
    ("[routez.smart]\nmode = 'cheapest'", "routez", "unknown key 'routez'", "did you mean 'routes'?"),
    (
        '[routes.smart]\nproviders = { sortt = "price" }',
        "routes.smart.providers.sortt",
        "unknown provider preference",
        "did you mean 'sort'?",
    ),
    (
        '[routes.smart]\nproviders = { sort = "fast" }',
        "routes.smart.providers.sort",
        "unknown sort 'fast'",
        "'throughput'",
    ),
    ('[routes.smart]\nproviders = "price"', "routes.smart.providers", "expected a table", "sort"),
    (
        '[routes.smart]\nproviders = { allow_fallbacks = "no" }',
        "routes.smart.providers.allow_fallbacks",
        "true or false",
        "true or false",
    ),
    ('[routes.smart]\nmodels = ["a/b", "a/b"]', "routes.smart.models[1]", "listed twice", "remove the duplicate"),
    ('[routes.smart]\nmodels = ["a/b"]\nexclude = ["a/b"]', "routes.smart.exclude[0]", "both listed", "remove it"),
    ('[routes.smart]\nmode = "ordered"', "routes.smart.mode", "lists none", "list the models"),
    (
        '[aliases]\nsmart = ["a/b"]\n[routes.smart]\nmode = "cheapest"',
        "routes.smart",
        "both an alias and a route",
        "rename",
    ),
    ("[aliases]\nfast = []", "aliases.fast", "at least one model id", "openai/gpt-4o-mini"),
    ("[aliases]\nfast = [1]", "aliases.fast[0]", "expected a string", "for example"),
    ('[aliases]\n"a/b" = ["x/y"]', "aliases.a/b", "invalid alias name", "'a-b'"),
    ('default_route = "smrt"\n[routes.smart]\n', "default_route", "neither an alias nor a route", "'smart'"),
    ('[[budgets]]\nusd = 10\nper = "daily"', "budgets[0].per", "unknown budget period", "did you mean 'day'?"),
    ('[[budgets]]\nper = "day"', "budgets[0]", "missing 'usd'", "usd = 10"),
    ("[budgets]\nusd = 10", "budgets", "list of budget tables", "per"),
]


@pytest.mark.parametrize(("text", "key", "message", "suggestion"), VALIDATION_CASES)
def test_validation_errors_name_the_file_the_key_and_a_fix(text: str, key: str, message: str, suggestion: str) -> None:
    with pytest.raises(RoutingError) as caught:
        Routing.from_toml_str(text, source="fastrouter.toml")
    error = caught.value
    assert error.source == "fastrouter.toml"
    assert error.key == key
    assert message in error.message
    assert error.suggestion is not None and suggestion in error.suggestion
    assert str(error).startswith(f"fastrouter.toml: {key}: ")
    assert str(error).endswith(f"({error.suggestion})")


def test_the_error_format_matches_the_documented_example() -> None:
    with pytest.raises(RoutingError) as caught:
        Routing.from_toml_str('[routes.smart]\nmode = "fastst"', source="fastrouter.toml")
    assert str(caught.value) == "fastrouter.toml: routes.smart.mode: unknown mode 'fastst' (did you mean 'fastest'?)"


def test_invalid_toml_and_unreadable_files_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "fastrouter.toml"
    path.write_text("[routes.smart\n")
    with pytest.raises(RoutingError, match=r"fastrouter\.toml: invalid TOML: .*line 1") as caught:
        Routing.from_toml(path)
    assert caught.value.source == str(path)
    with pytest.raises(RoutingError, match="cannot read the file"):
        Routing.from_toml(tmp_path / "missing.toml")


def test_errors_from_code_have_no_source_and_from_dict_defaults_to_dict() -> None:
    with pytest.raises(RoutingError) as caught:
        Route("smart", mode="fastst")
    assert caught.value.source is None
    assert str(caught.value) == "routes.smart.mode: unknown mode 'fastst' (did you mean 'fastest'?)"
    with pytest.raises(RoutingError, match=r"^<dict>: routes\.smart\.mode: "):
        Routing.from_dict({"routes": {"smart": {"mode": "fastst"}}})
    with pytest.raises(RoutingError, match="the route stored under 'a' is named 'b'"):
        Routing(routes={"a": Route("b")})


def test_unknown_names_that_resemble_nothing_pass_through() -> None:
    route = Route("r", supports=["vision", "some_future_param"], providers={"brand_new_pref": {"x": [1, 2.5]}})
    assert route.supports == ("vision", "some_future_param")
    assert route.providers == {"brand_new_pref": {"x": [1, 2.5]}}


def test_providers_cannot_hold_null() -> None:
    with pytest.raises(RoutingError, match=r"routes\.r\.providers\.order: null is not allowed"):
        Route("r", providers={"order": None})


# -------------------------------------------------------------------------- resolution


def test_the_catalog_pool_sets_routers_unpriced_free_and_non_text_models_aside() -> None:
    resolved = Routing(routes=[Route("r", mode="cheapest", max_models=10)]).resolve("r", CATALOG)
    assert list(resolved.chain) == PAID
    assert resolved.candidates == 5 and resolved.kind == "route" and resolved.mode == "cheapest"


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("cheapest", ["acme/cheap", "beta/mid", "gamma/mid2"]),
        ("quality", ["epsilon/top", "delta/dear", "gamma/mid2"]),
        # median paid price is gamma's 4.5/M; beta is 1.5x below it, delta ~9x above, acme ~15x below
        ("balanced", ["gamma/mid2", "beta/mid", "delta/dear"]),
        ("fastest", ["acme/cheap", "beta/mid", "gamma/mid2"]),  # nothing measured: by price
    ],
)
def test_each_mode_orders_the_catalog(mode: str, expected: list[str]) -> None:
    assert chain({"mode": mode}) == expected


def test_the_default_mode_is_balanced() -> None:
    assert chain({}) == chain({"mode": "balanced"})


def test_quality_breaks_price_ties_by_context() -> None:
    catalog = small_catalog([entry("a/short", "1", "1", context=8_000), entry("b/long", "1", "1", context=64_000)])
    assert chain({"mode": "quality"}, catalog=catalog) == ["b/long", "a/short"]
    assert chain({"mode": "cheapest"}, catalog=catalog) == ["b/long", "a/short"]


def test_fastest_puts_measured_models_first_then_the_rest_by_price() -> None:
    latencies = {"delta/dear": 0.2, "beta/mid": 0.5, "not/in-pool": 0.01}
    assert chain({"mode": "fastest"}, latencies) == ["delta/dear", "beta/mid", "acme/cheap"]
    resolved = Routing(routes=[Route("r", mode="fastest")]).resolve("r", CATALOG, latencies=latencies)
    reasons = dict(resolved.reasons)
    assert "measured p50 first token 0.2s" in reasons["delta/dear"]
    assert "not measured yet" in reasons["acme/cheap"]


def test_balanced_uses_latency_inside_a_price_tier_only() -> None:
    assert chain({"mode": "balanced"}, {"beta/mid": 0.4}) == ["beta/mid", "gamma/mid2", "delta/dear"]
    # a fast model far from the median price does not jump the tiers
    assert chain({"mode": "balanced"}, {"epsilon/top": 0.1}) == ["gamma/mid2", "beta/mid", "delta/dear"]


def test_requirements_filter_the_catalog() -> None:
    assert chain({"supports": ["tools"], "mode": "cheapest"}) == ["acme/cheap", "beta/mid", "delta/dear"]
    assert chain({"input_modalities": ["image"], "mode": "cheapest"}) == ["beta/mid", "epsilon/top"]
    assert chain({"supports": ["vision"], "mode": "cheapest"}) == ["beta/mid", "epsilon/top"]  # catalog aliases
    assert chain({"min_context": 150_000, "mode": "cheapest"}) == ["gamma/mid2", "delta/dear", "epsilon/top"]
    assert chain({"max_prompt_price_per_m": 1, "mode": "quality"}) == ["beta/mid", "acme/cheap"]
    assert chain({"max_completion_price_per_m": "3", "mode": "quality"}) == ["gamma/mid2", "beta/mid", "acme/cheap"]
    assert chain({"authors": ["ACME", "beta"], "mode": "cheapest"}) == ["acme/cheap", "beta/mid"]
    assert chain({"exclude": ["acme/cheap"], "mode": "cheapest"}) == ["beta/mid", "gamma/mid2", "delta/dear"]
    assert chain({"output_modalities": ["embeddings"]}) == ["zeta/embed"]


def test_max_models_bounds_the_chain() -> None:
    assert chain({"mode": "cheapest", "max_models": 1}) == ["acme/cheap"]
    assert chain({"mode": "cheapest", "max_models": 4}) == PAID[:4]


def test_prefer_free_admits_free_models_and_puts_them_first() -> None:
    assert chain({"mode": "cheapest", "prefer_free": True}) == ["acme/cheap:free", "acme/cheap", "beta/mid"]
    assert chain({"mode": "quality", "prefer_free": True}) == ["acme/cheap:free", "epsilon/top", "delta/dear"]
    resolved = Routing(routes=[Route("r", prefer_free=True)]).resolve("r", CATALOG)
    assert "prefer_free" in dict(resolved.reasons)["acme/cheap:free"]


def test_listed_models_keep_their_order_and_requirements_drop_the_unfit() -> None:
    routing = Routing(routes=[Route("r", ["delta/dear", "gamma/mid2", "acme/cheap"], supports=["tools"])])
    resolved = routing.resolve("r", CATALOG)
    assert resolved.chain == ("delta/dear", "acme/cheap")
    assert resolved.mode == "ordered"
    assert resolved.dropped == (("gamma/mid2", "does not support tools"),)
    assert dict(resolved.reasons)["acme/cheap"] == "listed #3 in models"


def test_listed_models_with_a_mode_are_sorted_and_may_be_routers_or_free() -> None:
    models = ["delta/dear", "openrouter/auto", "acme/cheap:free", "acme/cheap"]
    assert chain({"models": models, "mode": "cheapest"}) == [
        "acme/cheap:free",
        "acme/cheap",
        "delta/dear",
        "openrouter/auto",  # unknown (dynamic) price: last
    ]
    assert chain({"models": models, "mode": "fastest"}, {"openrouter/auto": 0.1})[0] == "openrouter/auto"
    assert chain({"models": models, "max_models": 2}) == ["delta/dear", "openrouter/auto"]


def test_variants_and_openrouter_side_aliases_are_accepted() -> None:
    routing = Routing(
        aliases={"fast": ["beta/mid:nitro", "~acme/cheap-latest", "gamma/mid2"]},
        routes=[Route("r", ["beta/mid:floor", "acme/cheap"], mode="cheapest")],
    )
    alias = routing.resolve("fast", CATALOG)
    assert alias.chain == ("beta/mid:nitro", "~acme/cheap-latest", "gamma/mid2")
    assert "OpenRouter resolves it" in dict(alias.reasons)["~acme/cheap-latest"]
    assert routing.resolve("r", CATALOG).chain == ("acme/cheap", "beta/mid:floor")


def test_aliases_resolve_to_their_list() -> None:
    resolved = Routing(aliases={"fast": ["gamma/mid2", "acme/cheap"]}).resolve("fast", CATALOG)
    assert resolved == ResolvedRoute(
        name="fast",
        kind="alias",
        chain=("gamma/mid2", "acme/cheap"),
        reasons=(("gamma/mid2", "listed #1 in the alias"), ("acme/cheap", "listed #2 in the alias")),
        candidates=2,
    )


def test_route_settings_travel_with_the_chain() -> None:
    routing = Routing.from_toml_str(DOC_TOML)
    resolved = routing.resolve("smart", real_catalog())
    assert resolved.providers == {"sort": "throughput"}
    assert (resolved.max_retries, resolved.hedge_after, resolved.deadline_s) == (1, 2.0, 30.0)
    assert resolved.max_cost_per_request == Decimal("0.5")
    with pytest.raises(TypeError):
        resolved.providers["sort"] = "price"  # type: ignore[index]  # read-only: results are shared
    assert routing.routes["smart"].providers == {"sort": "throughput"}


def test_the_chain_follows_the_catalog_when_it_refreshes() -> None:
    routing = Routing(routes=[Route("r", mode="cheapest", max_models=2)])
    assert routing.resolve("r", CATALOG).chain == ("acme/cheap", "beta/mid")
    refreshed = small_catalog([*SMALL[1:], entry("acme/cheap", "50", "50")])  # acme got dear
    assert routing.resolve("r", refreshed).chain == ("beta/mid", "gamma/mid2")


def test_results_are_reused_until_the_catalog_or_the_latencies_change() -> None:
    routing = Routing(routes=[Route("q", mode="quality"), Route("f", mode="fastest")])
    first = routing.resolve("q", CATALOG)
    assert routing.resolve("q", CATALOG, latencies={"beta/mid": 0.1}) is first  # quality ignores latency
    assert routing.resolve("q", small_catalog()) is not first
    fast = routing.resolve("f", CATALOG, latencies={"beta/mid": 0.1})
    assert routing.resolve("f", CATALOG, latencies={"beta/mid": 0.1001}) is fast  # same to the millisecond
    slower = routing.resolve("f", CATALOG, latencies={"beta/mid": 0.1, "delta/dear": 0.05})
    assert slower.chain[:2] == ("delta/dear", "beta/mid")


def test_a_routing_pickles_and_copies_without_its_cache() -> None:
    routing = Routing.from_toml_str(DOC_TOML)
    routing.resolve("fast", real_catalog())
    clone = pickle.loads(pickle.dumps(routing))
    assert clone == routing and clone.source == routing.source
    assert copy.deepcopy(routing) == routing
    assert dataclasses.replace(routing, default_route="fast").default_route == "fast"


def test_the_documented_route_resolves_sensibly_against_the_real_catalog() -> None:
    catalog = real_catalog()
    resolved = Routing.from_toml_str(DOC_TOML).resolve("smart", catalog)
    assert len(resolved.chain) == 3
    prices = []
    for model_id in resolved.chain:
        model = catalog[model_id]
        assert model.supports("tools") and (model.context_length or 0) >= 100_000
        assert model.pricing.prompt is not None and model.pricing.prompt * 1_000_000 <= 5
        assert not model.is_router and not model.is_free
        prices.append(model.pricing.prompt + (model.pricing.completion or 0))
    assert prices == sorted(prices, reverse=True)  # quality: dearest first
    cheapest = Routing(routes=[Route("c", supports=["tools"], mode="cheapest", max_models=10)]).resolve("c", catalog)
    totals = [catalog[m].pricing.prompt + catalog[m].pricing.completion for m in cheapest.chain]  # type: ignore[operator]
    assert totals == sorted(totals)


# ------------------------------------------------------------------ resolution errors


def resolve_error(routing: Routing, name: str, catalog: Any = CATALOG) -> RoutingError:
    with pytest.raises(RoutingError) as caught:
        routing.resolve(name, catalog)
    return caught.value


def test_an_unknown_model_id_suggests_close_ids() -> None:
    routing = Routing.from_toml_str(
        'strict = true\n[aliases]\nfast = ["acme/cheap", "beta/mdi"]', source="fastrouter.toml"
    )
    error = resolve_error(routing, "fast")
    assert error.key == "aliases.fast[1]"
    assert str(error).startswith("fastrouter.toml: aliases.fast[1]: unknown model id 'beta/mdi'")
    assert error.suggestion is not None and "'beta/mid'" in error.suggestion
    error = resolve_error(Routing.from_toml_str('strict = true\n[routes.r]\nmodels = ["zzz/qqq"]'), "r")
    assert error.key == "routes.r.models[0]" and "openrouter.ai/models" in (error.suggestion or "")
    # not strict (the default): unknown ids pass through, listed in `unknown`
    lenient = Routing.from_toml_str('[aliases]\nfast = ["acme/cheap", "beta/mdi"]').resolve("fast", CATALOG)
    assert lenient.chain == ("acme/cheap", "beta/mdi") and lenient.unknown == ("beta/mdi",)


@pytest.mark.parametrize(
    ("spec", "key", "suggestion"),
    [
        (
            {"min_context": 5_000_000},
            "routes.r.min_context",
            "largest context among the 5 remaining models is 1,000,000",
        ),
        (
            {"supports": ["tools"], "max_prompt_price_per_m": 0.05},
            "routes.r.max_prompt_price_per_m",
            "raise max_prompt_price_per_m to at least 0.1",
        ),
        ({"max_completion_price_per_m": 0.1}, "routes.r.max_completion_price_per_m", "at least 0.2"),
        ({"input_modalities": ["video"]}, "routes.r.input_modalities", "they accept: file, image, text"),
        ({"output_modalities": ["audio"]}, "routes.r.output_modalities", "they output: embeddings, text"),
        ({"supports": ["tools", "web_search_options"]}, "routes.r.supports", "'web_search_options'"),
        ({"authors": ["acmee"]}, "routes.r.authors", "did you mean 'acme'?"),
        ({"exclude": PAID}, "routes.r.exclude", "remove some ids from exclude"),
        (
            {"max_prompt_price_per_m": 0},
            "routes.r.max_prompt_price_per_m",
            "or set prefer_free = true: 1 free model would qualify",
        ),
        (
            {"models": ["gamma/mid2"], "supports": ["tools"]},
            "routes.r.supports",
            "none of the 1 remaining model supports 'tools'",
        ),
    ],
)
def test_an_impossible_requirement_is_named_with_a_way_out(spec: dict[str, Any], key: str, suggestion: str) -> None:
    error = resolve_error(Routing.from_dict({"routes": {"r": spec}}, source="fastrouter.toml"), "r")
    assert error.key == key
    assert "no model meets the requirements" in error.message
    assert error.suggestion is not None and suggestion in error.suggestion
    assert str(error).startswith(f"fastrouter.toml: {key}: ")


def test_an_unknown_name_suggests_a_defined_one() -> None:
    routing = Routing.from_toml_str(DOC_TOML, source="fastrouter.toml")
    error = resolve_error(routing, "smrt")
    assert str(error) == "fastrouter.toml: unknown route or alias 'smrt' (did you mean 'smart'?)"
    assert "none is defined" in str(resolve_error(Routing(), "x"))


def test_a_catalog_of_free_models_needs_prefer_free() -> None:
    error = resolve_error(Routing(routes=[Route("r")]), "r", small_catalog([entry("a/x:free", "0", "0")]))
    assert error.key == "routes.r.prefer_free" and error.suggestion == "set prefer_free = true to use them"


def test_an_empty_catalog_cannot_fill_a_route() -> None:
    error = resolve_error(Routing(routes=[Route("r")]), "r", small_catalog([]))
    assert error.key == "routes.r" and "no priced model" in error.message


# -------------------------------------------------------------------------------- explain


def test_explain_shows_requirements_mode_and_why_each_model_is_there() -> None:
    routing = Routing.from_toml_str(
        """
[routes.smart]
supports = ["tools"]
min_context = 100000
mode = "cheapest"
max_retries = 1
hedge_after = 2.5
providers = { sort = "throughput" }
""",
        source="fastrouter.toml",
    )
    text = routing.explain("smart", CATALOG)
    lines = text.splitlines()
    assert lines[0] == "route 'smart' (fastrouter.toml)"
    assert "requirements: supports tools, context >= 100,000" in text
    assert "mode:         cheapest - cheapest first" in text
    assert "candidates:   3" in text
    assert "chain (3 models):" in text
    assert "1. beta/mid     $1.00/M in, $2.00/M out, 128,000 context" in text
    assert "#1 cheapest of 3 models with tools, >=100k context" in text
    assert "2. delta/dear   $10.00/M in, $30.00/M out, 200,000 context" in text
    assert "settings: max_retries=1, hedge_after=2.5s" in text
    assert 'provider preferences: {"sort": "throughput"}' in text


def test_explain_for_quality_fastest_balanced_and_aliases() -> None:
    routing = Routing(
        aliases={"fast": ["acme/cheap", "beta/mid"]},
        routes=[Route("q", mode="quality"), Route("f", mode="fastest"), Route("b", max_cost_per_request="0.25")],
    )
    assert "OpenRouter has no quality score" in routing.explain("q", CATALOG)
    assert "#1 most expensive (price is the quality proxy) of 5 models" in routing.explain("q", CATALOG)
    fastest = routing.explain("f", CATALOG, {"delta/dear": 0.25})
    assert "#1 fastest of 5 models: measured p50 first token 0.25s" in fastest
    balanced = routing.explain("b", CATALOG)
    assert "price tier 1: 1x the median price of 5 models ($4.50/M in+out); not measured yet" in balanced
    assert "max_cost_per_request=$0.25" in balanced
    alias = routing.explain("fast", CATALOG)
    assert alias.splitlines()[0] == "alias 'fast': a fixed chain, tried in order"
    assert "listed #2 in the alias" in alias and "$0.10/M in" in alias


def test_explain_lists_dropped_models() -> None:
    routing = Routing(routes=[Route("r", ["gamma/mid2", "beta/mid"], supports=["tools"])])
    text = routing.explain("r", CATALOG)
    assert "pool:         the 2 listed models" in text
    assert "dropped gamma/mid2: does not support tools" in text


# ------------------------------------------------------------------------- round trips


def test_to_dict_is_plain_json_and_round_trips() -> None:
    routing = Routing.from_toml_str(DOC_TOML)
    data = routing.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["routes"]["smart"]["max_prompt_price_per_m"] == "5.0"
    assert Routing.from_dict(data) == routing
    assert Routing.from_toml_str(routing.to_toml()) == routing


_names = st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,10}", fullmatch=True)
_ids = st.from_regex(r"[a-z0-9~-]{1,8}/[a-z0-9.-]{1,10}(:[a-z]{1,6})?", fullmatch=True)
_text = st.text(st.characters(codec="utf-8"), min_size=1, max_size=12).filter(lambda s: bool(s.strip()))
_money = st.one_of(
    st.decimals(min_value=0, max_value=10_000, allow_nan=False, allow_infinity=False, places=6),
    st.decimals(min_value=0, max_value=1, allow_nan=False, allow_infinity=False),
    st.integers(0, 1000).map(Decimal),
)
_seconds = st.floats(min_value=0.001, max_value=1e6, allow_nan=False, allow_infinity=False)
_features = ("tools", "tool_choice", "reasoning", "response_format", "structured_outputs", "seed", "vision", "json")
_providers = st.one_of(
    st.none(),
    st.fixed_dictionaries(
        {},
        optional={
            "sort": st.one_of(
                st.sampled_from(["price", "throughput", "latency", "exacto"]),
                st.fixed_dictionaries({"by": st.sampled_from(["price", "latency"]), "partition": st.just("none")}),
            ),
            "order": st.lists(_text, min_size=1, max_size=3, unique=True),
            "allow_fallbacks": st.booleans(),
            "data_collection": st.sampled_from(["allow", "deny"]),
            "max_price": st.fixed_dictionaries({"prompt": _seconds, "completion": st.integers(0, 100)}),
            "custom_flag": st.one_of(_text, st.integers(-5, 5), st.lists(st.booleans(), max_size=2)),
        },
    ),
)


@st.composite
def routes(draw: st.DrawFn, name: str) -> Route:
    models = tuple(draw(st.lists(_ids, max_size=4, unique=True)))
    modes = [None, *MODES] if models else [None, *[m for m in MODES if m != "ordered"]]
    return Route(
        name,
        models,
        supports=draw(st.lists(st.sampled_from(_features), max_size=3, unique=True)),
        input_modalities=draw(st.lists(st.sampled_from(["text", "image", "file", "audio"]), max_size=2, unique=True)),
        output_modalities=draw(st.lists(st.sampled_from(["text", "image"]), max_size=2, unique=True)),
        min_context=draw(st.none() | st.integers(1, 2_000_000)),
        max_prompt_price_per_m=draw(st.none() | _money),
        max_completion_price_per_m=draw(st.none() | _money),
        authors=draw(st.lists(st.from_regex(r"[a-z][a-z0-9-]{0,8}", fullmatch=True), max_size=2, unique=True)),
        exclude=draw(st.lists(_ids.filter(lambda i: i not in models), max_size=2, unique=True)),
        prefer_free=draw(st.booleans()),
        providers=draw(_providers),
        mode=draw(st.sampled_from(modes)),
        max_models=draw(st.none() | st.integers(1, 10)),
        max_retries=draw(st.none() | st.integers(0, 5)),
        hedge_after=draw(st.none() | _seconds),
        deadline_s=draw(st.none() | _seconds),
        max_cost_per_request=draw(st.none() | _money),
    )


@st.composite
def routings(draw: st.DrawFn) -> Routing:
    names = draw(st.lists(_names, max_size=6, unique=True))
    split = draw(st.integers(0, len(names)))
    aliases = {n: draw(st.lists(_ids, min_size=1, max_size=3, unique=True)) for n in names[:split]}
    route_list = [draw(routes(n)) for n in names[split:]]
    budgets = draw(
        st.lists(
            st.builds(
                Budget,
                _money,
                st.sampled_from(BUDGET_PERIODS),
                st.lists(_text, max_size=2, unique=True),
            ),
            max_size=3,
        )
    )
    default = draw(st.none() | st.sampled_from(names)) if names else None
    return Routing(aliases=aliases, routes=route_list, budgets=budgets, default_route=default)


# ~0.2 s an example on a loaded machine: no per-example deadline, no "too slow" health
# check, and more than the suite's 60 s per test.
@pytest.mark.timeout(600)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(routings())
def test_round_trip_through_dict_json_and_toml(routing: Routing) -> None:
    data = routing.to_dict()
    assert Routing.from_dict(data) == routing
    assert Routing.from_dict(json.loads(json.dumps(data))) == routing
    assert Routing.from_toml_str(routing.to_toml()) == routing


# ------------------------------------------------------------------------------ docs


def test_every_public_name_has_a_docstring() -> None:
    for name in routing_module.__all__:
        obj = getattr(routing_module, name)
        if isinstance(obj, tuple):
            continue  # constants, documented in the module
        assert obj.__doc__, name
        for attr, value in vars(obj).items():
            if attr.startswith("_"):
                continue
            target = value.fget if isinstance(value, property) else getattr(value, "__func__", value)
            if callable(target):
                assert target.__doc__, f"{name}.{attr}"
