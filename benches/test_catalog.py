"""catalog-search: ``Catalog.search`` over a 1,000-model catalog.

The catalog is the mock's bundled 321-model payload (recorded from OpenRouter) replicated
with new ids up to 1,000 models, about three times today's real catalog. Each case is one
search call; the one-time work (sort orders, the text index) is done before timing, as
it is once per catalog. The target is "well under a millisecond" per search. Group
``catalog-build`` times building the 1,000-model catalog from decoded JSON. Standard
pytest-benchmark output (no row in ``results.md``)::

    python -m pytest benches/test_catalog.py -p no:randomly --benchmark-only -q
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from fastrouter.catalog import Catalog
from fastrouter.testing import MockServer

SIZE = 1000

pytestmark = pytest.mark.benchmark(group="catalog-search")


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    with MockServer() as server:
        models: list[dict[str, Any]] = json.loads(httpx.get(f"{server.base_url}/models?output_modalities=all").content)[
            "data"
        ]
    replicated = []
    for copy in range(SIZE // len(models) + 1):
        for model in models:
            replicated.append({**model, "id": model["id"] if copy == 0 else f"{model['id']}-copy{copy}"})
    built = Catalog.from_payload({"data": replicated[:SIZE]})
    assert len(built) == SIZE
    return built


CASES: dict[str, dict[str, Any]] = {
    "everything, by price": {},
    "text 'claude'": {"text": "claude"},
    "two words, by name": {"text": "coding model", "sort": "name"},
    "filters, no text": {
        "supports": ["tools", "reasoning"],
        "min_context": 100_000,
        "max_prompt_price_per_m": "10",
        "free": False,
    },
    "text + every filter + limit": {
        "text": "claude",
        "provider": "anthropic",
        "supports": ["tools"],
        "modality": "image",
        "min_context": 100_000,
        "max_prompt_price_per_m": "4",
        "max_completion_price_per_m": "20",
        "sort": "newest",
        "limit": 10,
    },
    "free models by context": {"free": True, "sort": "context"},
}


@pytest.mark.parametrize("case", list(CASES))
def test_search_1000_models(benchmark: Any, catalog: Catalog, case: str) -> None:
    kwargs = CASES[case]
    expected = catalog.search(**kwargs)  # builds the sort order and text index once
    found = benchmark(catalog.search, **kwargs)
    assert found == expected and found


@pytest.mark.benchmark(group="catalog-build")
def test_build_1000_model_catalog(benchmark: Any, catalog: Catalog) -> None:
    payload = {"data": [dict(model.raw) for model in catalog]}
    built = benchmark(Catalog.from_payload, payload)
    assert len(built) == SIZE
