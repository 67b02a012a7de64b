"""The model catalog: typed, searchable, cached ``GET /models``.

:class:`Catalog` is an immutable collection of :class:`Model` records (frozen, slotted
dataclasses) built from OpenRouter's ``/models`` payload, with ``catalog[id]`` (a
"did you mean ..." :class:`KeyError` for near misses) and :meth:`Catalog.search`::

    catalog = Catalog.from_json(body)
    catalog["anthropic/claude-opus-4"].pricing.per_million("prompt")   # Decimal('15')
    catalog.search("claude", supports=["tools"], min_context=100_000, sort="price", limit=5)

Prices are :class:`~decimal.Decimal` USD per unit (per token for ``prompt``/``completion``),
exactly as OpenRouter sends them; the ``"-1"`` sentinel of routers (``openrouter/auto``)
means "decided per request" and becomes ``None`` (``Pricing.is_unknown``), never a
negative cost. Unknown fields of newer payloads are tolerated and kept in ``Model.raw``.

:class:`CatalogCache` keeps the last good ``/models`` body on disk (the user's cache
directory) and :class:`CatalogLoader` decides when to use it: a fresh memory or disk copy is
served as is; otherwise the catalog is fetched (conditionally when the server gave a
validator); when that fails, the last good copy is served with ``stale=True`` and its age.
The loader does no I/O of its own: the caller passes the fetch function, sync or async.

Design note: what :meth:`Catalog.search` compares is prepared once per catalog: each
model's capabilities and modalities are bits of one integer (a ``supports=`` filter is one
``&``), prices are ``Decimal`` attributes, each sort order is computed once and then walked
(so ``limit`` stops early), and text words are found with ``str.find`` in the catalog's
distinct tokens rather than in every description. A search over 1,000 models takes tens of
microseconds without text and about 0.15 ms with it (``benches/test_catalog.py``).
"""

from ..errors import CatalogUnavailableError
from .cache import CacheEntry, CatalogCache, conditional_headers, default_cache_dir, validator_from_headers
from .endpoints import Endpoint, ModelEndpoints
from .features import FEATURE_ALIASES
from .loader import FALLBACK_ERRORS, AsyncFetch, CatalogLoader, Fetch, FetchResult
from .records import (
    DEFAULT_CATALOG_TTL,
    DYNAMIC_VARIANTS,
    PER_TOKEN_PRICES,
    PRICE_FIELDS,
    ROUTER_IDS,
    SORT_KEYS,
    Architecture,
    Model,
    PriceLike,
    Pricing,
    TopProvider,
)
from .search import Catalog

__all__ = [
    "AsyncFetch",
    "Architecture",
    "CacheEntry",
    "Catalog",
    "CatalogCache",
    "CatalogLoader",
    "CatalogUnavailableError",
    "DEFAULT_CATALOG_TTL",
    "DYNAMIC_VARIANTS",
    "Endpoint",
    "FALLBACK_ERRORS",
    "FEATURE_ALIASES",
    "Fetch",
    "FetchResult",
    "Model",
    "ModelEndpoints",
    "PER_TOKEN_PRICES",
    "PRICE_FIELDS",
    "PriceLike",
    "Pricing",
    "ROUTER_IDS",
    "SORT_KEYS",
    "TopProvider",
    "conditional_headers",
    "default_cache_dir",
    "validator_from_headers",
]
