"""A small synthetic catalog for routing tests, where the expected orders are obvious."""

from __future__ import annotations

import json
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from fastrouter.catalog import Catalog

# The one bundled copy of the genuine 321-model catalog (the mock serves it; provenance in its .source.txt).
REAL_CATALOG = Path(__file__).parent.parent / "src" / "mock" / "models.json"


def entry(
    model_id: str,
    prompt: str,
    completion: str,
    *,
    context: int = 100_000,
    params: Sequence[str] = ("tools", "temperature"),
    inputs: Sequence[str] = ("text",),
    outputs: Sequence[str] = ("text",),
) -> dict[str, Any]:
    """A ``/models`` entry; prices in USD per MILLION tokens ("-1" = dynamic, "" = unpriced)."""
    pricing: dict[str, str] = {}
    for key, value in (("prompt", prompt), ("completion", completion)):
        if value == "-1":
            pricing[key] = "-1"
        elif value:
            pricing[key] = str(Decimal(value) / 1_000_000)
    return {
        "id": model_id,
        "name": model_id,
        "context_length": context,
        "pricing": pricing,
        "architecture": {"input_modalities": list(inputs), "output_modalities": list(outputs)},
        "supported_parameters": list(params),
    }


# in+out per million: a 0.3, b 3, c 4.5, d 40, e 90 (median of the paid ones: c).
SMALL: list[dict[str, Any]] = [
    entry("acme/cheap", "0.1", "0.2", context=32_000),
    entry("beta/mid", "1", "2", context=128_000, inputs=("text", "image")),
    entry("gamma/mid2", "1.5", "3", context=200_000, params=("temperature",)),
    entry("delta/dear", "10", "30", context=200_000),
    entry("epsilon/top", "15", "75", context=1_000_000, inputs=("text", "image", "file")),
    entry("acme/cheap:free", "0", "0", context=32_000),
    entry("openrouter/auto", "-1", "-1", context=2_000_000),
    entry("zeta/embed", "0.02", "0", context=8_000, params=(), outputs=("embeddings",)),
    entry("eta/unpriced", "", "", context=100_000),
]


def small_catalog(entries: Sequence[dict[str, Any]] = SMALL) -> Catalog:
    """:data:`SMALL` (or ``entries``) as a Catalog."""
    return Catalog.from_payload({"data": list(entries)})


def real_catalog() -> Catalog:
    """The recorded 321-model catalog."""
    return Catalog.from_payload(json.loads(REAL_CATALOG.read_text(encoding="utf-8")))
