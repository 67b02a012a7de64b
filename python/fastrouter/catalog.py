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

from __future__ import annotations

import asyncio
import bisect
import dataclasses
import difflib
import hashlib
import json
import logging
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from types import MappingProxyType
from typing import Any, Callable, Dict, FrozenSet, List, Optional, Set, Tuple, Type, TypeVar, Union

from .errors import FastrouterError

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

logger = logging.getLogger("fastrouter")

_T = TypeVar("_T")

PriceLike = Union[Decimal, float, int, str]
"""A price argument: a ``Decimal``, a number or a decimal string (USD per token)."""

PRICE_FIELDS: Tuple[str, ...] = (
    "prompt",
    "completion",
    "request",
    "image",
    "web_search",
    "internal_reasoning",
    "input_cache_read",
    "input_cache_write",
)
"""The price keys :class:`Pricing` has a typed field for; any other key lands in ``extra``."""

PER_TOKEN_PRICES: FrozenSet[str] = frozenset(
    ("prompt", "completion", "internal_reasoning", "input_cache_read", "input_cache_write", "input_cache_write_1h")
)
"""Price keys that are per token (the others are per request, per image, per search...)."""

DYNAMIC_VARIANTS: FrozenSet[str] = frozenset(("nitro", "floor", "online", "exacto"))
"""Variants OpenRouter accepts on any model id without listing them in ``/models``."""

ROUTER_IDS: FrozenSet[str] = frozenset(
    (
        "openrouter/auto",
        "openrouter/auto-beta",
        "openrouter/free",
        "openrouter/pareto-code",
        "openrouter/fusion",
        "openrouter/bodybuilder",
    )
)
"""Pseudo-models that pick another model per request."""

SORT_KEYS: Tuple[str, ...] = ("price", "context", "newest", "name")
"""The orders :meth:`Catalog.search` knows."""

DEFAULT_CATALOG_TTL = 3600.0
"""How long (seconds) a fetched catalog counts as fresh by default."""

_EMPTY_STRINGS: Mapping[str, str] = MappingProxyType({})

# ------------------------------------------------------------------------------ features

_P, _IN, _OUT, _CACHE = "param", "input", "output", "cache"
_Feature = Tuple[str, FrozenSet[str]]


def _feature(kind: str, *values: str) -> _Feature:
    return (kind, frozenset(values))


FEATURE_ALIASES: Mapping[str, _Feature] = MappingProxyType(
    {
        "tools": _feature(_P, "tools"),
        "tool_calling": _feature(_P, "tools"),
        "function_calling": _feature(_P, "tools"),
        "tool_choice": _feature(_P, "tool_choice"),
        "reasoning": _feature(_P, "reasoning", "include_reasoning"),
        "thinking": _feature(_P, "reasoning", "include_reasoning"),
        "structured_outputs": _feature(_P, "structured_outputs"),
        "json_schema": _feature(_P, "structured_outputs"),
        "response_format": _feature(_P, "response_format", "structured_outputs"),
        "json": _feature(_P, "response_format", "structured_outputs"),
        "json_mode": _feature(_P, "response_format", "structured_outputs"),
        "web_search": _feature(_P, "web_search_options"),
        "vision": _feature(_IN, "image"),
        "image": _feature(_IN, "image"),
        "images": _feature(_IN, "image"),
        "image_input": _feature(_IN, "image"),
        "file": _feature(_IN, "file"),
        "files": _feature(_IN, "file"),
        "pdf": _feature(_IN, "file"),
        "audio": _feature(_IN, "audio"),
        "audio_input": _feature(_IN, "audio"),
        "video": _feature(_IN, "video"),
        "video_input": _feature(_IN, "video"),
        "image_output": _feature(_OUT, "image"),
        "image_generation": _feature(_OUT, "image"),
        "audio_output": _feature(_OUT, "audio"),
        "speech": _feature(_OUT, "audio"),
        "embeddings": _feature(_OUT, "embeddings"),
        "embedding": _feature(_OUT, "embeddings"),
        "caching": _feature(_CACHE),
        "prompt_caching": _feature(_CACHE),
    }
)
"""How :meth:`Model.supports` and ``search(supports=...)`` read friendly feature names
(case-insensitive, ``-`` and spaces read as ``_``):

- ``tools`` / ``tool_calling`` / ``function_calling``: ``"tools"`` in ``supported_parameters``;
  ``tool_choice``: ``"tool_choice"``;
- ``reasoning`` / ``thinking``: ``"reasoning"`` or ``"include_reasoning"``;
- ``structured_outputs`` / ``json_schema``: ``"structured_outputs"``;
- ``response_format`` / ``json`` / ``json_mode``: ``"response_format"`` or ``"structured_outputs"``;
- ``web_search``: ``"web_search_options"``;
- ``vision`` / ``image`` / ``images`` / ``image_input``: ``"image"`` in the input modalities;
  ``file`` / ``files`` / ``pdf``: ``"file"``; ``audio`` / ``audio_input``: ``"audio"``;
  ``video`` / ``video_input``: ``"video"``;
- ``image_output`` / ``image_generation``: ``"image"`` in the output modalities;
  ``audio_output`` / ``speech``: ``"audio"``; ``embeddings`` / ``embedding``: ``"embeddings"``;
- ``caching`` / ``prompt_caching``: the model has an ``input_cache_read`` price;
- any other name: that exact name in ``supported_parameters`` (``"seed"``, ``"logprobs"``...).
"""


_ANY = "any"
_ANY_OF_FEATURES: Tuple[_Feature, ...] = tuple(
    sorted({f for f in FEATURE_ALIASES.values() if len(f[1]) > 1}, key=lambda f: (f[0], sorted(f[1])))
)
"""Features met by any of several traits (``reasoning``: either parameter); each gets a
bit of its own in the search index."""


def _resolve_feature(name: str) -> _Feature:
    if not isinstance(name, str):
        raise TypeError(f"a feature must be a str, got {name!r}")
    key = name.strip().lower().replace("-", "_").replace(" ", "_")
    return FEATURE_ALIASES.get(key) or (_P, frozenset((key,)))


# ----------------------------------------------------------------------- frozen records


def _frozen_slots(cls: Type[_T]) -> Type[_T]:
    """Give a frozen dataclass ``__slots__``: what ``dataclass(slots=True)`` does on 3.10+,
    done by hand so the package keeps Python 3.9. Also makes instances picklable (a frozen
    slotted object cannot be restored with ``setattr``)."""
    names = tuple(f.name for f in dataclasses.fields(cls))  # type: ignore[arg-type]
    namespace = dict(cls.__dict__)
    for name in names:
        namespace.pop(name, None)  # defaults live in __init__, not as class attributes
    namespace.pop("__dict__", None)
    namespace.pop("__weakref__", None)
    namespace["__slots__"] = names

    def __getstate__(self: Any) -> Tuple[Any, ...]:
        # mappingproxy cannot be pickled: send a dict, wrap it again on the way back
        values = (getattr(self, name) for name in names)
        return tuple(dict(v) if isinstance(v, MappingProxyType) else v for v in values)

    def __setstate__(self: Any, state: Tuple[Any, ...]) -> None:
        for name, value in zip(names, state):
            object.__setattr__(self, name, MappingProxyType(value) if isinstance(value, dict) else value)

    def __setattr__(self: Any, name: str, value: Any) -> None:
        # dataclass's own check names the original class (super() fails on 3.9 for non-fields)
        raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self: Any, name: str) -> None:
        raise dataclasses.FrozenInstanceError(f"cannot delete field {name!r}")

    namespace["__getstate__"] = __getstate__
    namespace["__setstate__"] = __setstate__
    namespace["__setattr__"] = __setattr__
    namespace["__delattr__"] = __delattr__
    metaclass: Any = type(cls)
    new_cls: Type[_T] = metaclass(cls.__name__, cls.__bases__, namespace)
    new_cls.__qualname__ = cls.__qualname__
    return new_cls


def _empty_map() -> Mapping[str, Any]:
    return MappingProxyType({})


# ------------------------------------------------------------------------- tolerant reads


def _str(value: Any) -> Optional[str]:
    return value if isinstance(value, str) else None


def _int(value: Any) -> Optional[int]:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            return None
    return None


def _float(value: Any) -> Optional[float]:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _strs(value: Any) -> Tuple[str, ...]:
    if not isinstance(value, (list, tuple)):
        return ()
    return tuple(v for v in value if isinstance(v, str))


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else _EMPTY_STRINGS


def _frozen_map(value: Any) -> Optional[Mapping[str, Any]]:
    return MappingProxyType(dict(value)) if isinstance(value, Mapping) else None


def _decimal(value: Any) -> Optional[Decimal]:
    """A price as sent (decimal string or number) -> Decimal; None when not a finite number."""
    if isinstance(value, str):
        try:
            number = Decimal(value)  # surrounding whitespace is allowed
        except (InvalidOperation, ValueError):
            return None
    elif isinstance(value, Decimal):
        number = value
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        number = Decimal(str(value))  # str(): 1e-06, not the binary float's 50 digits
    else:
        return None
    return number if number.is_finite() else None


def _to_price(value: PriceLike, name: str) -> Decimal:
    """A user-given price limit (per token) -> Decimal; ValueError for nonsense."""
    number = _decimal(value)
    if number is None:
        raise ValueError(f"{name} must be a number of USD per token, got {value!r}")
    return number


def _trim(value: Decimal) -> Decimal:
    """``15.000000`` -> ``15``, ``0.07500`` -> ``0.075`` (no exponent notation)."""
    if value == value.to_integral_value():
        return value.quantize(Decimal(1))
    return value.normalize()


# -------------------------------------------------------------------------------- models


@_frozen_slots
@dataclass(frozen=True)
class Pricing:
    """Prices in USD as :class:`~decimal.Decimal`, exactly as OpenRouter sends them.

    ``prompt``, ``completion``, ``internal_reasoning``, ``input_cache_read`` and
    ``input_cache_write`` are per token; ``request`` is per request, ``image`` per input
    image and ``web_search`` per search. A field is ``None`` when the payload has no such
    price, or when it is the ``"-1"`` sentinel of dynamically priced routers (or any
    negative value): unknown, never a negative cost. The keys that carried the sentinel are
    in ``unknown_keys`` (sorted). Other scalar price keys (``input_cache_write_1h``, ``discount``,
    ``image_output``, ...) are kept as strings in ``extra``; structured ones
    (``overrides``) stay in ``Model.raw["pricing"]``.
    """

    prompt: Optional[Decimal] = None
    completion: Optional[Decimal] = None
    request: Optional[Decimal] = None
    image: Optional[Decimal] = None
    web_search: Optional[Decimal] = None
    internal_reasoning: Optional[Decimal] = None
    input_cache_read: Optional[Decimal] = None
    input_cache_write: Optional[Decimal] = None
    extra: Mapping[str, str] = field(default_factory=_empty_map, hash=False)
    unknown_keys: Tuple[str, ...] = ()

    @classmethod
    def from_dict(cls, data: Optional[Mapping[str, Any]]) -> Pricing:
        """Build from a ``pricing`` object of a ``/models`` or endpoints payload (tolerant:
        unparseable values read as absent)."""
        values: Dict[str, Optional[Decimal]] = {}
        extra: Dict[str, str] = {}
        unknown: List[str] = []
        for key, raw in _mapping(data).items():
            if not isinstance(key, str):
                continue
            number = _decimal(raw)
            if number is not None and number < 0:
                unknown.append(key)
                number = None
            if key in PRICE_FIELDS:
                values[key] = number
            elif isinstance(raw, str):
                extra[key] = raw
            elif isinstance(raw, (int, float)) and not isinstance(raw, bool):
                extra[key] = str(raw)
        return cls(**values, extra=MappingProxyType(extra), unknown_keys=tuple(sorted(unknown)))

    def get(self, name: str) -> Optional[Decimal]:
        """The price ``name`` (a field or an ``extra`` key) as a Decimal, or None."""
        if name in PRICE_FIELDS:
            value: Optional[Decimal] = getattr(self, name)
            return value
        number = _decimal(self.extra.get(name))
        return number if number is not None and number >= 0 else None

    def per_million(self, name: str = "prompt") -> Optional[Decimal]:
        """The price ``name`` times one million (USD per million tokens for per-token
        prices), trimmed (``Decimal('15')``, ``Decimal('0.075')``); None when unknown."""
        value = self.get(name)
        return None if value is None else _trim(value * 1_000_000)

    @property
    def is_free(self) -> bool:
        """True when both the prompt and the completion price are exactly 0."""
        return self.prompt == 0 and self.completion == 0 and self.prompt is not None and self.completion is not None

    @property
    def is_unknown(self) -> bool:
        """True when the prompt or completion price is the ``"-1"`` dynamic-pricing
        sentinel (routers such as ``openrouter/auto``): the cost is known per request only."""
        return "prompt" in self.unknown_keys or "completion" in self.unknown_keys


@_frozen_slots
@dataclass(frozen=True)
class Architecture:
    """What goes in and out: ``modality`` (``"text+image->text"``), the input and output
    modalities (``text``, ``image``, ``file``, ``audio``, ``video``, ``embeddings``...),
    the ``tokenizer`` family and the ``instruct_type`` (``None`` for most chat models)."""

    modality: Optional[str] = None
    input_modalities: Tuple[str, ...] = ()
    output_modalities: Tuple[str, ...] = ()
    tokenizer: Optional[str] = None
    instruct_type: Optional[str] = None

    @classmethod
    def from_dict(cls, data: Optional[Mapping[str, Any]]) -> Architecture:
        """Build from an ``architecture`` object (missing parts read as empty). Payloads
        without the modality lists get them from ``modality`` (``"text+image->text"``)."""
        data = _mapping(data)
        modality = _str(data.get("modality"))
        inputs = _strs(data.get("input_modalities"))
        outputs = _strs(data.get("output_modalities"))
        if modality and "->" in modality and not (inputs or outputs):
            left, _, right = modality.partition("->")
            inputs = tuple(m for m in left.split("+") if m)
            outputs = tuple(m for m in right.split("+") if m)
        return cls(
            modality=modality,
            input_modalities=inputs,
            output_modalities=outputs,
            tokenizer=_str(data.get("tokenizer")),
            instruct_type=_str(data.get("instruct_type")),
        )


@_frozen_slots
@dataclass(frozen=True)
class TopProvider:
    """Limits of the model's primary provider: ``context_length``,
    ``max_completion_tokens`` (None when not limited or not reported) and whether its
    prompts are moderated (False when not reported)."""

    context_length: Optional[int] = None
    max_completion_tokens: Optional[int] = None
    is_moderated: bool = False

    @classmethod
    def from_dict(cls, data: Optional[Mapping[str, Any]]) -> TopProvider:
        """Build from a ``top_provider`` object."""
        data = _mapping(data)
        return cls(
            context_length=_int(data.get("context_length")),
            max_completion_tokens=_int(data.get("max_completion_tokens")),
            is_moderated=data.get("is_moderated") is True,
        )


@_frozen_slots
@dataclass(frozen=True)
class Model:
    """One entry of ``/models``.

    ``id`` is the routable id (``author/slug[:variant]``); ``created`` is unix seconds;
    ``context_length`` falls back to the top provider's when the model has none.
    ``hugging_face_id`` and ``canonical_slug`` are None when absent or empty. ``raw`` is the
    entry as received: newer fields (``reasoning``, ``benchmarks``, ``knowledge_cutoff``,
    ``pricing.overrides``...) are there.
    """

    id: str
    name: str = ""
    created: Optional[int] = None
    description: str = field(default="", repr=False)
    context_length: Optional[int] = None
    architecture: Architecture = field(default_factory=Architecture)
    pricing: Pricing = field(default_factory=Pricing)
    top_provider: TopProvider = field(default_factory=TopProvider)
    supported_parameters: Tuple[str, ...] = field(default=(), repr=False)
    canonical_slug: Optional[str] = None
    hugging_face_id: Optional[str] = field(default=None, repr=False)
    per_request_limits: Optional[Mapping[str, Any]] = field(default=None, hash=False, repr=False)
    raw: Mapping[str, Any] = field(default_factory=_empty_map, compare=False, hash=False, repr=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Model:
        """Build from one ``/models`` entry; ``ValueError`` when it has no string ``id``.
        Everything else is optional and unknown fields are ignored (kept in ``raw``)."""
        if not isinstance(data, Mapping):
            raise ValueError(f"a model entry must be a JSON object, got {type(data).__name__}")
        model_id = data.get("id")
        if not isinstance(model_id, str) or not model_id:
            raise ValueError(f"a model entry has no id: {str(data)[:80]}")
        top_provider = TopProvider.from_dict(data.get("top_provider"))
        context = _int(data.get("context_length"))
        return cls(
            id=model_id,
            name=_str(data.get("name")) or model_id,
            created=_int(data.get("created")),
            description=_str(data.get("description")) or "",
            context_length=context if context is not None else top_provider.context_length,
            architecture=Architecture.from_dict(data.get("architecture")),
            pricing=Pricing.from_dict(data.get("pricing")),
            top_provider=top_provider,
            supported_parameters=_strs(data.get("supported_parameters")),
            canonical_slug=_str(data.get("canonical_slug")) or None,
            hugging_face_id=_str(data.get("hugging_face_id")) or None,
            per_request_limits=_frozen_map(data.get("per_request_limits")),
            raw=data if isinstance(data, MappingProxyType) else MappingProxyType(dict(data)),
        )

    @property
    def base_id(self) -> str:
        """The id without its variant: ``"openai/gpt-4o"`` for ``"openai/gpt-4o:extended"``."""
        return self.id.partition(":")[0]

    @property
    def author(self) -> str:
        """The part before ``/`` (``"anthropic"``; ``~`` of aliases dropped); ``""`` if none."""
        author, slash, _ = self.base_id.partition("/")
        return author.lstrip("~") if slash else ""

    @property
    def slug(self) -> str:
        """The part after ``/``, without the variant: ``"claude-opus-4"``."""
        base = self.base_id
        return base.partition("/")[2] if "/" in base else base

    @property
    def variant(self) -> Optional[str]:
        """The text after ``:`` (``"free"``, ``"nitro"``, ``"thinking"``, ``"beta"``...), or None."""
        _, colon, variant = self.id.partition(":")
        return variant if colon else None

    @property
    def is_free(self) -> bool:
        """True for ``:free`` variants and for models whose prompt and completion cost 0."""
        return self.variant == "free" or self.pricing.is_free

    @property
    def is_router(self) -> bool:
        """True for pseudo-models that pick a model per request (``openrouter/auto``,
        ``openrouter/free``, ...): a known router id, the ``Router`` tokenizer, or
        ``"-1"`` (dynamic) prompt/completion prices."""
        return self.base_id in ROUTER_IDS or self.architecture.tokenizer == "Router" or self.pricing.is_unknown

    @property
    def is_alias(self) -> bool:
        """True for ``~author/family-latest`` aliases (they resolve to the newest member)."""
        return self.id.startswith("~")

    @property
    def max_completion_tokens(self) -> Optional[int]:
        """The top provider's output limit (None when not limited or not reported)."""
        return self.top_provider.max_completion_tokens

    def supports(self, feature: str) -> bool:
        """Whether the model supports ``feature``: a friendly name (``"tools"``,
        ``"reasoning"``, ``"vision"``, ``"structured_outputs"``, ``"json"``, ...; see
        :data:`FEATURE_ALIASES` for the mapping) or any request parameter name."""
        kind, wanted = _resolve_feature(feature)
        return self.supports_any(kind, wanted)

    def supports_any(self, kind: str, wanted: FrozenSet[str]) -> bool:
        """Whether the model has any of ``wanted`` among its supported parameters
        (``kind="param"``), input modalities (``"input"``) or output modalities
        (``"output"``); ``kind="cache"`` asks for prompt caching."""
        if kind == _P:
            return not wanted.isdisjoint(self.supported_parameters)
        if kind == _IN:
            return not wanted.isdisjoint(self.architecture.input_modalities)
        if kind == _OUT:
            return not wanted.isdisjoint(self.architecture.output_modalities)
        return self.pricing.input_cache_read is not None


# ------------------------------------------------------------------------------- catalog


class _Row:
    """What search compares, computed once per model. ``mask`` has one bit per supported
    parameter, input modality, output modality (and prompt caching) of the model, so
    ``supports=`` and the modality filters cost one integer ``&`` per model."""

    __slots__ = ("model", "index", "author", "mask", "context", "prompt", "completion", "free")

    def __init__(self, model: Model, index: int, mask: int) -> None:
        self.model = model
        self.index = index
        self.author = model.author.lower()
        self.mask = mask
        self.context = model.context_length
        self.prompt = model.pricing.prompt
        self.completion = model.pricing.completion
        self.free = model.is_free


def _traits(model: Model) -> Iterator[Tuple[str, str]]:
    """The (kind, name) traits a feature requirement can ask for."""
    for name in model.supported_parameters:
        yield (_P, name)
    for name in model.architecture.input_modalities:
        yield (_IN, name.lower())
    for name in model.architecture.output_modalities:
        yield (_OUT, name.lower())
    if model.pricing.input_cache_read is not None:
        yield (_CACHE, "")
    for kind, names in _ANY_OF_FEATURES:
        if model.supports_any(kind, names):
            yield (_ANY, _any_key(kind, names))


def _any_key(kind: str, names: FrozenSet[str]) -> str:
    return kind + ":" + ",".join(sorted(names))


class _TextIndex:
    """Finds the models whose id, name or description contains a word.

    A search word has no whitespace, so it occurs in a text only inside one of the text's
    whitespace-separated tokens: the index joins the catalog's distinct (lower-case) tokens
    into one string, finds the word there with ``str.find`` (C speed, and the distinct
    tokens are a fraction of all the text) and maps each hit to the models having that token.
    """

    __slots__ = ("joined", "starts", "postings", "size")

    def __init__(self, models: Sequence[Model]) -> None:
        by_token: Dict[str, List[int]] = {}
        for index, model in enumerate(models):
            text = f"{model.id}\n{model.name}\n{model.description}".lower()
            for token in set(text.split()):
                by_token.setdefault(token, []).append(index)
        tokens = list(by_token)
        starts: List[int] = []
        offset = 0
        for token in tokens:
            starts.append(offset)
            offset += len(token) + 1
        self.joined = "\n".join(tokens)
        self.starts = starts
        self.postings: List[List[int]] = [by_token[t] for t in tokens]
        self.size = len(models)

    def matching(self, word: str) -> Set[int]:
        """Indexes of the models with ``word`` (lower-case, no whitespace) in their text."""
        found: Set[int] = set()
        joined, starts, postings = self.joined, self.starts, self.postings
        last = len(starts) - 1
        pos = joined.find(word)
        while pos != -1:
            k = bisect.bisect_right(starts, pos) - 1
            found.update(postings[k])
            if k == last or len(found) == self.size:  # a common word may match everything early
                break
            pos = joined.find(word, starts[k + 1])
        return found


def _sort_key(sort: str) -> Callable[[_Row], Tuple[Any, ...]]:
    if sort == "price":
        return lambda r: (r.prompt is None, r.prompt or 0, r.completion is None, r.completion or 0, r.model.id)
    if sort == "context":
        return lambda r: (r.context is None, -(r.context or 0), r.model.id)
    if sort == "newest":
        return lambda r: (r.model.created is None, -(r.model.created or 0), r.model.id)
    return lambda r: (r.model.name.lower(), r.model.id)


def _names(value: Union[str, Iterable[str], None], what: str) -> Tuple[str, ...]:
    """A str or an iterable of str (a bare string is one name, not its characters)."""
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    names = tuple(value)
    for name in names:
        if not isinstance(name, str):
            raise TypeError(f"{what} must be a str or a list of str, got {name!r}")
    return names


class Catalog:
    """An immutable, searchable collection of :class:`Model`, in payload order.

    ``len(catalog)``, ``for model in catalog``, ``"a/b" in catalog``, ``catalog["a/b"]``
    (``KeyError`` with "did you mean ..." suggestions), ``catalog.get("a/b")``. Lookups
    also accept canonical slugs and dynamic variants of listed models
    (``"openai/gpt-4o:nitro"`` gives the ``openai/gpt-4o`` entry under that id).

    ``fetched_at`` is when the data was fetched (epoch seconds), ``source`` where this copy
    came from (``"network"``, ``"memory"``, ``"disk"``, or ``"payload"`` when built
    directly) and ``stale`` is True when a refresh failed (or was not allowed) and this is
    an older copy: ``age_s`` says how old.
    """

    __slots__ = (
        "_models",
        "_rows",
        "_bits",
        "_by_id",
        "_by_slug",
        "_orders",
        "_text",
        "_keys",
        "_fetched_at",
        "_source",
        "_stale",
    )

    def __init__(
        self,
        models: Iterable[Model],
        *,
        fetched_at: Optional[float] = None,
        source: str = "payload",
        stale: bool = False,
    ) -> None:
        by_id: Dict[str, Model] = {}
        for model in models:
            if not isinstance(model, Model):
                raise TypeError(f"Catalog holds Model objects, got {type(model).__name__}")
            by_id.setdefault(model.id, model)  # the first entry of a duplicated id wins
        self._models: Tuple[Model, ...] = tuple(by_id.values())
        self._by_id = by_id
        self._by_slug: Dict[str, str] = {}
        for model in self._models:
            if model.canonical_slug and model.canonical_slug not in by_id:
                self._by_slug.setdefault(model.canonical_slug, model.id)
        bits: Dict[Tuple[str, str], int] = {}
        rows = []
        for index, model in enumerate(self._models):
            mask = 0
            for trait in _traits(model):
                bit = bits.get(trait)
                if bit is None:
                    bit = bits[trait] = 1 << len(bits)
                mask |= bit
            rows.append(_Row(model, index, mask))
        self._rows: Tuple[_Row, ...] = tuple(rows)
        self._bits = bits
        self._orders: Dict[str, Tuple[_Row, ...]] = {}
        self._text: Optional[_TextIndex] = None
        self._keys: Optional[Tuple[Tuple[str, str], ...]] = None
        self._fetched_at = time.time() if fetched_at is None else float(fetched_at)
        self._source = source
        self._stale = bool(stale)

    # construction ---------------------------------------------------------------------
    @classmethod
    def from_payload(
        cls,
        payload: Union[Mapping[str, Any], Sequence[Mapping[str, Any]]],
        *,
        fetched_at: Optional[float] = None,
        source: str = "payload",
        stale: bool = False,
    ) -> Catalog:
        """Build from a decoded ``/models`` response (``{"data": [...]}``, extra keys such as
        ``total_count``/``links`` ignored) or a plain list of model entries. Entries without
        an id are skipped; ``ValueError`` when the payload has no model list at all."""
        data: Any = payload.get("data") if isinstance(payload, Mapping) else payload
        if not isinstance(data, (list, tuple)):
            raise ValueError("not a /models payload: expected {'data': [...]}")
        models = []
        for entry in data:
            try:
                models.append(Model.from_dict(entry))
            except ValueError as exc:
                logger.debug("fastrouter: skipping a /models entry: %s", exc)
        return cls(models, fetched_at=fetched_at, source=source, stale=stale)

    @classmethod
    def from_json(
        cls,
        text: Union[str, bytes],
        *,
        fetched_at: Optional[float] = None,
        source: str = "payload",
        stale: bool = False,
    ) -> Catalog:
        """Build from the JSON text of a ``/models`` response (``ValueError`` if invalid)."""
        return cls.from_payload(json.loads(text), fetched_at=fetched_at, source=source, stale=stale)

    def _evolve(self, *, fetched_at: Optional[float] = None, source: Optional[str] = None, stale: bool) -> Catalog:
        """The same models with other metadata (shares every precomputed table)."""
        new = object.__new__(Catalog)
        for name in Catalog.__slots__:
            object.__setattr__(new, name, getattr(self, name))
        new._fetched_at = self._fetched_at if fetched_at is None else fetched_at
        new._source = self._source if source is None else source
        new._stale = stale
        return new

    # metadata -------------------------------------------------------------------------
    @property
    def fetched_at(self) -> float:
        """When the data was fetched from the server (epoch seconds)."""
        return self._fetched_at

    @property
    def age_s(self) -> float:
        """Seconds since ``fetched_at``."""
        return max(0.0, time.time() - self._fetched_at)

    @property
    def stale(self) -> bool:
        """True when this is an older copy served because the catalog could not be refreshed
        (the server was unreachable, or ``offline=True`` and the copy is past its TTL)."""
        return self._stale

    @property
    def source(self) -> str:
        """Where this copy came from: ``"network"``, ``"memory"``, ``"disk"`` or ``"payload"``."""
        return self._source

    @property
    def models(self) -> Tuple[Model, ...]:
        """Every model, in payload order."""
        return self._models

    @property
    def ids(self) -> Tuple[str, ...]:
        """Every model id, in payload order."""
        return tuple(self._by_id)

    # collection -----------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._models)

    def __iter__(self) -> Iterator[Model]:
        return iter(self._models)

    def __contains__(self, model_id: object) -> bool:
        return isinstance(model_id, str) and self._lookup(model_id) is not None

    def __getitem__(self, model_id: str) -> Model:
        model = self._lookup(model_id) if isinstance(model_id, str) else None
        if model is None:
            raise KeyError(self._missing_message(model_id))
        return model

    def get(self, model_id: str, default: Optional[Model] = None) -> Optional[Model]:
        """``catalog[model_id]``, or ``default`` when there is no such model."""
        model = self._lookup(model_id) if isinstance(model_id, str) else None
        return default if model is None else model

    def __repr__(self) -> str:
        stale = ", stale" if self._stale else ""
        return f"<Catalog {len(self)} models, source={self._source!r}, age {_format_age(self.age_s)}{stale}>"

    def _lookup(self, model_id: str) -> Optional[Model]:
        model = self._by_id.get(model_id)
        if model is not None:
            return model
        canonical = self._by_slug.get(model_id)
        if canonical is not None:
            return self._by_id[canonical]
        base, colon, variant = model_id.rpartition(":")
        if colon and variant in DYNAMIC_VARIANTS:
            base_model = self._lookup(base)
            if base_model is not None:
                return dataclasses.replace(base_model, id=model_id)
        return None

    def suggest(self, text: str, n: int = 3, cutoff: float = 0.6) -> List[str]:
        """Up to ``n`` model ids whose id, slug or name is close to ``text`` (difflib
        similarity at least ``cutoff``), best first."""
        if self._keys is None:
            keys: List[Tuple[str, str]] = []
            for model in self._models:
                keys.append((model.id.lower(), model.id))
                keys.append((model.slug.lower(), model.id))
                keys.append((model.name.lower(), model.id))
            self._keys = tuple(keys)
        matcher = difflib.SequenceMatcher()
        matcher.set_seq2(text.lower())
        scores: Dict[str, float] = {}
        for key, model_id in self._keys:
            matcher.set_seq1(key)
            if matcher.real_quick_ratio() >= cutoff and matcher.quick_ratio() >= cutoff:
                ratio = matcher.ratio()
                if ratio >= cutoff and ratio > scores.get(model_id, 0.0):
                    scores[model_id] = ratio
        return sorted(scores, key=lambda m: (-scores[m], m))[:n]

    def _missing_message(self, model_id: object) -> str:
        if not isinstance(model_id, str):
            return f"model ids are str, got {model_id!r}"
        if not self._models:
            return f"unknown model {model_id!r}: the catalog is empty"
        close = self.suggest(model_id)
        if close:
            return f"unknown model {model_id!r}; did you mean " + ", ".join(repr(c) for c in close) + "?"
        return f"unknown model {model_id!r} (no similar id; try catalog.search({model_id!r}))"

    # search ---------------------------------------------------------------------------
    def _ordered(self, sort: str) -> Tuple[_Row, ...]:
        rows = self._orders.get(sort)
        if rows is None:
            rows = self._orders[sort] = tuple(sorted(self._rows, key=_sort_key(sort)))
        return rows

    def search(
        self,
        text: Optional[str] = None,
        *,
        provider: Union[str, Iterable[str], None] = None,
        supports: Union[str, Iterable[str]] = (),
        input_modalities: Union[str, Iterable[str]] = (),
        output_modalities: Union[str, Iterable[str]] = (),
        modality: Optional[str] = None,
        min_context: Optional[int] = None,
        max_prompt_price: Optional[PriceLike] = None,
        max_completion_price: Optional[PriceLike] = None,
        free: Optional[bool] = None,
        sort: str = "price",
        limit: Optional[int] = None,
    ) -> List[Model]:
        """The models matching every given filter, in ``sort`` order.

        - ``text``: each whitespace-separated word must occur (case-insensitively) in the
          id, name or description;
        - ``provider``: the author part of the id (``"anthropic"``), or a list of them (any);
        - ``supports``: features that must all be supported (see :meth:`Model.supports`);
        - ``input_modalities`` / ``output_modalities``: modalities that must all be
          accepted / produced; ``modality`` is one more input modality (as in
          ``modality="image"``);
        - ``min_context``: at least this many tokens of context;
        - ``max_prompt_price`` / ``max_completion_price``: USD **per token** (Decimal,
          number or string; ``Decimal("3e-6")`` is $3 per million); models whose price is
          unknown (routers) or missing never match a price limit;
        - ``free``: True for free models only, False for paid ones only;
        - ``sort``: ``"price"`` (prompt, then completion price, ascending; unknown last),
          ``"context"`` (largest first), ``"newest"`` (latest ``created`` first) or
          ``"name"``; ties are broken by id;
        - ``limit``: at most this many results.
        """
        if sort not in SORT_KEYS:
            raise ValueError(f"sort must be one of {', '.join(map(repr, SORT_KEYS))}, got {sort!r}")
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
            raise ValueError(f"limit must be a non-negative int or None, got {limit!r}")
        if min_context is not None and (isinstance(min_context, bool) or not isinstance(min_context, int)):
            raise TypeError(f"min_context must be an int, got {min_context!r}")
        if free is not None and not isinstance(free, bool):
            raise TypeError(f"free must be True, False or None, got {free!r}")
        if text is not None and not isinstance(text, str):
            raise TypeError(f"text must be a str, got {text!r}")
        authors = frozenset(a.lower() for a in _names(provider, "provider"))
        # every requirement is a set of traits of which the model needs at least one
        required: List[Tuple[str, FrozenSet[str]]] = [_resolve_feature(f) for f in _names(supports, "supports")]
        required += [(_IN, frozenset((m.lower(),))) for m in _names(input_modalities, "input_modalities")]
        required += [(_OUT, frozenset((m.lower(),))) for m in _names(output_modalities, "output_modalities")]
        if modality is not None:
            required.append((_IN, frozenset((modality.lower(),))))
        all_mask = 0  # one bit per requirement; a model must have them all
        for kind, names in required:
            if kind == _CACHE:
                trait = (_CACHE, "")
            elif len(names) > 1:
                trait = (_ANY, _any_key(kind, names))
            else:
                trait = (kind, next(iter(names)))
            bit = self._bits.get(trait)
            if bit is None:
                return []  # no model has it
            all_mask |= bit
        max_prompt = None if max_prompt_price is None else _to_price(max_prompt_price, "max_prompt_price")
        max_completion = (
            None if max_completion_price is None else _to_price(max_completion_price, "max_completion_price")
        )
        matched: Optional[Set[int]] = None
        if text:
            if self._text is None:
                self._text = _TextIndex(self._models)
            for word in text.lower().split():
                hits = self._text.matching(word)
                matched = hits if matched is None else matched & hits
                if not matched:
                    return []

        found: List[Model] = []
        if limit == 0:
            return found
        for row in self._ordered(sort):
            if matched is not None and row.index not in matched:
                continue
            if authors and row.author not in authors:
                continue
            if all_mask and row.mask & all_mask != all_mask:
                continue
            if min_context is not None and (row.context is None or row.context < min_context):
                continue
            if max_prompt is not None and (row.prompt is None or row.prompt > max_prompt):
                continue
            if max_completion is not None and (row.completion is None or row.completion > max_completion):
                continue
            if free is not None and row.free is not free:
                continue
            found.append(row.model)
            if limit is not None and len(found) >= limit:
                break
        return found


# ----------------------------------------------------------------------------- endpoints


@_frozen_slots
@dataclass(frozen=True)
class Endpoint:
    """One provider serving a model (``GET /models/{author}/{slug}/endpoints``).

    ``tag`` is the provider slug to use in ``provider.order``/``only`` (``"deepinfra/turbo"``);
    ``status`` is 0 when normal and negative when degraded; uptimes are percentages;
    ``latency_last_30m`` / ``throughput_last_30m`` are ``{p50, p75, p90, p99}`` as sent
    (only when authenticated; units not documented). Missing values are None.
    """

    name: str
    model_id: Optional[str] = None
    provider_name: Optional[str] = None
    tag: Optional[str] = None
    context_length: Optional[int] = None
    max_completion_tokens: Optional[int] = None
    max_prompt_tokens: Optional[int] = None
    pricing: Pricing = field(default_factory=Pricing)
    quantization: Optional[str] = None
    supported_parameters: Tuple[str, ...] = field(default=(), repr=False)
    status: Optional[int] = None
    uptime_last_30m: Optional[float] = None
    uptime_last_5m: Optional[float] = None
    uptime_last_1d: Optional[float] = None
    latency_last_30m: Optional[Mapping[str, Any]] = field(default=None, hash=False)
    throughput_last_30m: Optional[Mapping[str, Any]] = field(default=None, hash=False)
    raw: Mapping[str, Any] = field(default_factory=_empty_map, compare=False, hash=False, repr=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], model_id: Optional[str] = None) -> Endpoint:
        """Build from one entry of ``endpoints`` (``model_id`` fills in for older payloads
        that do not name the model)."""
        data = _mapping(data)
        return cls(
            name=_str(data.get("name")) or "",
            model_id=_str(data.get("model_id")) or model_id,
            provider_name=_str(data.get("provider_name")),
            tag=_str(data.get("tag")),
            context_length=_int(data.get("context_length")),
            max_completion_tokens=_int(data.get("max_completion_tokens")),
            max_prompt_tokens=_int(data.get("max_prompt_tokens")),
            pricing=Pricing.from_dict(data.get("pricing")),
            quantization=_str(data.get("quantization")),
            supported_parameters=_strs(data.get("supported_parameters")),
            status=_int(data.get("status")),
            uptime_last_30m=_float(data.get("uptime_last_30m")),
            uptime_last_5m=_float(data.get("uptime_last_5m")),
            uptime_last_1d=_float(data.get("uptime_last_1d")),
            latency_last_30m=_frozen_map(data.get("latency_last_30m")),
            throughput_last_30m=_frozen_map(data.get("throughput_last_30m")),
            raw=MappingProxyType(dict(data)),
        )

    @property
    def is_degraded(self) -> bool:
        """True when ``status`` is set and not 0 (OpenRouter deranks degraded endpoints)."""
        return self.status is not None and self.status != 0


@_frozen_slots
@dataclass(frozen=True)
class ModelEndpoints:
    """A model and the providers serving it: iterate it (or read ``endpoints``) for one
    :class:`Endpoint` per provider, in the order OpenRouter lists them."""

    id: str
    name: str = ""
    architecture: Architecture = field(default_factory=Architecture)
    endpoints: Tuple[Endpoint, ...] = ()

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> ModelEndpoints:
        """Build from a decoded endpoints response (``{"data": {...}}`` or the inner
        object); ``ValueError`` when it is not one."""
        data: Any = payload.get("data", payload) if isinstance(payload, Mapping) else None
        if not isinstance(data, Mapping) or not isinstance(data.get("id"), str):
            raise ValueError("not a model endpoints payload: expected {'data': {'id': ..., 'endpoints': [...]}}")
        model_id: str = data["id"]
        entries = data.get("endpoints")
        endpoints = tuple(
            Endpoint.from_dict(e, model_id)
            for e in (entries if isinstance(entries, list) else ())
            if isinstance(e, Mapping)
        )
        return cls(
            id=model_id,
            name=_str(data.get("name")) or model_id,
            architecture=Architecture.from_dict(data.get("architecture")),
            endpoints=endpoints,
        )

    @classmethod
    def from_json(cls, text: Union[str, bytes]) -> ModelEndpoints:
        """Build from the JSON text of an endpoints response."""
        return cls.from_payload(json.loads(text))

    def __len__(self) -> int:
        return len(self.endpoints)

    def __iter__(self) -> Iterator[Endpoint]:
        return iter(self.endpoints)


# --------------------------------------------------------------------------------- cache


class CatalogUnavailableError(FastrouterError, LookupError):
    """No catalog could be had: offline (``offline=True``) with nothing cached."""


def default_cache_dir() -> Path:
    """Where the catalog is cached: ``$FASTROUTER_CACHE_DIR`` if set, else the user's cache
    directory: ``~/Library/Caches/fastrouter`` on macOS, ``%LOCALAPPDATA%\\fastrouter\\Cache``
    on Windows, ``$XDG_CACHE_HOME/fastrouter`` or ``~/.cache/fastrouter`` elsewhere."""
    override = os.environ.get("FASTROUTER_CACHE_DIR")
    if override:
        return Path(override).expanduser()
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "fastrouter"
    if sys.platform == "win32":
        local = os.environ.get("LOCALAPPDATA")
        return (Path(local) if local else Path.home() / "AppData" / "Local") / "fastrouter" / "Cache"
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".cache") / "fastrouter"


@_frozen_slots
@dataclass(frozen=True)
class CacheEntry:
    """One cached ``/models`` response: the body as received, when it was fetched (epoch
    seconds) and the validator to revalidate it with (``etag``: an ETag, or a Last-Modified
    date; see :func:`validator_from_headers`)."""

    body: bytes = field(repr=False)
    fetched_at: float
    etag: Optional[str] = None
    base_url: str = ""


_CACHE_FORMAT = "fastrouter-models/1"


class CatalogCache:
    """The ``/models`` body on disk, one file per base URL, with a freshness TTL.

    ``path`` is the directory (default :func:`default_cache_dir`); ``ttl_s`` how long a
    copy counts as fresh. A file holds one JSON header line (base URL, ``fetched_at``,
    validator) then the body as received; it is replaced atomically (a temporary file
    then ``os.replace``), so readers never see half a file.
    """

    def __init__(self, path: Union[str, os.PathLike[str], None] = None, ttl_s: float = DEFAULT_CATALOG_TTL) -> None:
        if isinstance(ttl_s, bool) or not isinstance(ttl_s, (int, float)) or ttl_s < 0:
            raise ValueError(f"ttl_s must be a non-negative number of seconds, got {ttl_s!r}")
        self.path = Path(path).expanduser() if path is not None else default_cache_dir()
        self.ttl_s = float(ttl_s)

    def __repr__(self) -> str:
        return f"CatalogCache(path={str(self.path)!r}, ttl_s={self.ttl_s:g})"

    def file_for(self, base_url: str) -> Path:
        """The cache file of ``base_url`` (named by a hash of the URL)."""
        digest = hashlib.sha256(base_url.rstrip("/").encode("utf-8")).hexdigest()[:20]
        return self.path / f"models-{digest}.cache"

    def is_fresh(self, entry: CacheEntry, now: Optional[float] = None) -> bool:
        """Whether ``entry`` is younger than ``ttl_s``."""
        return (time.time() if now is None else now) - entry.fetched_at < self.ttl_s

    def read(self, base_url: str) -> Optional[CacheEntry]:
        """The cached entry of ``base_url``, or None (missing, unreadable or corrupt files
        read as absent)."""
        target = self.file_for(base_url)
        try:
            blob = target.read_bytes()
        except OSError:
            return None
        header, newline, body = blob.partition(b"\n")
        try:
            meta = json.loads(header) if newline else None
        except ValueError:
            meta = None
        if (
            not isinstance(meta, dict)
            or meta.get("format") != _CACHE_FORMAT
            or meta.get("base_url") != base_url.rstrip("/")
            or not isinstance(meta.get("fetched_at"), (int, float))
        ):
            logger.debug("fastrouter: ignoring the unreadable catalog cache %s", target)
            return None
        etag = meta.get("etag")
        return CacheEntry(
            body=body,
            fetched_at=float(meta["fetched_at"]),
            etag=etag if isinstance(etag, str) else None,
            base_url=base_url.rstrip("/"),
        )

    def write(self, base_url: str, entry: CacheEntry) -> Path:
        """Store ``entry`` for ``base_url`` atomically; returns the file. Raises OSError."""
        target = self.file_for(base_url)
        target.parent.mkdir(parents=True, exist_ok=True)
        header = {
            "format": _CACHE_FORMAT,
            "base_url": base_url.rstrip("/"),
            "fetched_at": entry.fetched_at,
            "etag": entry.etag,
        }
        fd, tmp = tempfile.mkstemp(prefix=target.name + ".", suffix=".tmp", dir=str(target.parent))
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(json.dumps(header, separators=(",", ":")).encode("utf-8") + b"\n")
                out.write(entry.body)
            os.replace(tmp, target)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
        return target

    def clear(self, base_url: Optional[str] = None) -> None:
        """Delete the cache file of ``base_url``, or every catalog cache file."""
        targets = [self.file_for(base_url)] if base_url is not None else list(self.path.glob("models-*.cache"))
        for target in targets:
            try:
                target.unlink()
            except FileNotFoundError:
                pass


def validator_from_headers(headers: Mapping[str, str]) -> Optional[str]:
    """The validator to store from response headers (any case): the ``ETag``, else
    ``"last-modified:" + Last-Modified``, else None."""
    lowered = {k.lower(): v for k, v in headers.items()}
    etag = lowered.get("etag")
    if etag:
        return etag
    modified = lowered.get("last-modified")
    return f"last-modified:{modified}" if modified else None


def conditional_headers(validator: Optional[str]) -> Dict[str, str]:
    """The request headers that revalidate ``validator`` (``If-None-Match`` or
    ``If-Modified-Since``); empty when there is none."""
    if not validator:
        return {}
    if validator.startswith("last-modified:"):
        return {"If-Modified-Since": validator[len("last-modified:") :]}
    return {"If-None-Match": validator}


FetchResult = Tuple[Optional[bytes], Optional[str]]
"""What a fetch function returns: ``(body, validator)``; ``body`` is None for "not modified"."""

Fetch = Callable[[Optional[str]], FetchResult]
"""``fetch(validator) -> (body or None if not modified, new validator)``; raises when offline."""

AsyncFetch = Callable[[Optional[str]], Awaitable[FetchResult]]
"""The async form of :data:`Fetch`."""

FALLBACK_ERRORS: Tuple[Type[BaseException], ...] = (
    OSError,
    FastrouterError,
    ValueError,
    TimeoutError,
    asyncio.TimeoutError,
)
"""Failures of a fetch (or of its body) after which the last good copy is served."""


def _format_age(seconds: float) -> str:
    """``42s``, ``5m 3s``, ``3h 12m``, ``2d 4h``."""
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m {secs}s" if secs else f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h {minutes}m" if minutes else f"{hours}h"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours}h" if hours else f"{days}d"


class _Copy:
    """A copy of the catalog the loader holds: the cache entry, parsed on demand."""

    __slots__ = ("entry", "origin", "_catalog")

    def __init__(self, entry: CacheEntry, origin: str, catalog: Optional[Catalog] = None) -> None:
        self.entry = entry
        self.origin = origin
        self._catalog = catalog

    def catalog(self) -> Catalog:
        if self._catalog is None:
            self._catalog = Catalog.from_json(self.entry.body, fetched_at=self.entry.fetched_at, source=self.origin)
        return self._catalog


class CatalogLoader:
    """Decides where a catalog comes from: memory, disk, the network, or a stale copy.

    ``load_sync(fetch)`` / ``await load_async(fetch)``:

    1. a fresh copy in memory is returned (``source="memory"``);
    2. else a fresh copy on disk (``source="disk"``);
    3. else ``fetch(validator)`` is called, with the validator of the newest copy if any;
       a "not modified" answer (``body`` None) renews that copy's ``fetched_at``; a body is
       parsed and stored (``source="network"``);
    4. if the fetch (or parsing its body) fails with one of ``fallback_on``, the newest
       copy (memory or disk, however old) is returned with ``stale=True``, and a warning
       saying how old it is goes to the ``"fastrouter"`` logger; with no copy at all the
       error propagates.

    ``refresh=True`` skips steps 1-2; ``offline=True`` never fetches (the newest copy,
    ``stale`` when past its TTL; :class:`CatalogUnavailableError` when there is none).
    ``cache=None`` keeps copies in memory only. ``ttl_s`` defaults to the cache's.
    """

    def __init__(
        self,
        cache: Optional[CatalogCache],
        base_url: str,
        *,
        ttl_s: Optional[float] = None,
        fallback_on: Tuple[Type[BaseException], ...] = FALLBACK_ERRORS,
    ) -> None:
        if ttl_s is not None and (isinstance(ttl_s, bool) or not isinstance(ttl_s, (int, float)) or ttl_s < 0):
            raise ValueError(f"ttl_s must be a non-negative number of seconds, got {ttl_s!r}")
        self.cache = cache
        self.base_url = base_url.rstrip("/")
        self.ttl_s = float(ttl_s) if ttl_s is not None else (cache.ttl_s if cache is not None else DEFAULT_CATALOG_TTL)
        self.fallback_on = fallback_on
        self._memory: Optional[_Copy] = None

    def __repr__(self) -> str:
        return f"CatalogLoader(cache={self.cache!r}, base_url={self.base_url!r}, ttl_s={self.ttl_s:g})"

    def invalidate(self) -> None:
        """Forget the copy held in memory (the disk copy stays)."""
        self._memory = None

    def _fresh(self, entry: CacheEntry, now: float) -> bool:
        return now - entry.fetched_at < self.ttl_s

    def _newest(self) -> Optional[_Copy]:
        """The newest copy, memory or disk (``None`` when there is neither)."""
        best = self._memory
        if self.cache is not None:
            entry = self.cache.read(self.base_url)
            if entry is not None and (best is None or entry.fetched_at > best.entry.fetched_at):
                disk = _Copy(entry, "disk")
                try:
                    disk.catalog()
                except ValueError as exc:
                    logger.warning("fastrouter: ignoring a corrupt catalog cache (%s)", exc)
                else:
                    best = disk
        return best

    def _lookup(self, refresh: bool, offline: bool) -> Tuple[Optional[Catalog], Optional[_Copy]]:
        """``(catalog to return, None)`` or ``(None, newest copy to revalidate or fall back on)``."""
        now = time.time()
        memory = self._memory
        if memory is not None and not refresh and self._fresh(memory.entry, now):
            return memory.catalog()._evolve(source="memory", stale=False), None
        newest = self._newest()
        if newest is not None and newest is not memory:
            self._memory = newest
        if offline:
            if newest is None:
                raise CatalogUnavailableError(
                    f"no cached model catalog for {self.base_url} and offline=True (fetch it once online first)"
                )
            fresh = self._fresh(newest.entry, now)
            return newest.catalog()._evolve(source=newest.origin, stale=not fresh), None
        if newest is not None and not refresh and self._fresh(newest.entry, now):
            return newest.catalog()._evolve(source=newest.origin, stale=False), None
        return None, newest

    def _store(self, result: FetchResult, last: Optional[_Copy]) -> Catalog:
        body, validator = result
        now = time.time()
        if body is None:
            if last is None:
                raise ValueError("the server said 'not modified' but there is no cached catalog")
            entry = CacheEntry(last.entry.body, now, validator or last.entry.etag, self.base_url)
            catalog = last.catalog()._evolve(fetched_at=now, source="network", stale=False)
        else:
            if not isinstance(body, (bytes, bytearray)):
                raise TypeError(f"a catalog fetch must return bytes or None, got {type(body).__name__}")
            entry = CacheEntry(bytes(body), now, validator, self.base_url)
            catalog = Catalog.from_json(entry.body, fetched_at=now, source="network")
        self._memory = _Copy(entry, "memory", catalog)
        if self.cache is not None:
            try:
                self.cache.write(self.base_url, entry)
            except OSError as exc:
                logger.warning("fastrouter: could not write the model catalog cache: %s", exc)
        return catalog

    def _fallback(self, exc: BaseException, last: Optional[_Copy]) -> Catalog:
        if last is None:
            raise exc
        catalog = last.catalog()._evolve(source=last.origin, stale=True)
        logger.warning(
            "fastrouter: could not refresh the model catalog from %s (%s: %s); using the %s copy fetched %s ago",
            self.base_url,
            type(exc).__name__,
            exc,
            last.origin,
            _format_age(catalog.age_s),
        )
        return catalog

    def load_sync(self, fetch: Fetch, *, refresh: bool = False, offline: bool = False) -> Catalog:
        """The catalog, calling ``fetch`` only when needed (see the class docs)."""
        catalog, last = self._lookup(refresh, offline)
        if catalog is not None:
            return catalog
        try:
            return self._store(fetch(last.entry.etag if last is not None else None), last)
        except self.fallback_on as exc:
            return self._fallback(exc, last)

    async def load_async(self, fetch: AsyncFetch, *, refresh: bool = False, offline: bool = False) -> Catalog:
        """Like :meth:`load_sync` with an async ``fetch`` (the disk is read and written
        inline: one small file, rarely)."""
        catalog, last = self._lookup(refresh, offline)
        if catalog is not None:
            return catalog
        try:
            return self._store(await fetch(last.entry.etag if last is not None else None), last)
        except self.fallback_on as exc:
            return self._fallback(exc, last)
