"""The catalog's typed records (Model, Pricing, Architecture, TopProvider), built tolerantly from ``/models`` JSON."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from types import MappingProxyType
from typing import Any, TypeVar

from .._format import trim
from .features import _IN, _OUT, _P, _resolve_feature

_T = TypeVar("_T")


PriceLike = Decimal | float | int | str
"""A price argument: a ``Decimal``, a number or a decimal string (USD per token)."""

PRICE_FIELDS: tuple[str, ...] = (
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

PER_TOKEN_PRICES: frozenset[str] = frozenset(
    ("prompt", "completion", "internal_reasoning", "input_cache_read", "input_cache_write", "input_cache_write_1h")
)
"""Price keys that are per token (the others are per request, per image, per search...)."""

DYNAMIC_VARIANTS: frozenset[str] = frozenset(("nitro", "floor", "online", "exacto"))
"""Variants OpenRouter accepts on any model id without listing them in ``/models``."""

ROUTER_IDS: frozenset[str] = frozenset(
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

SORT_KEYS: tuple[str, ...] = ("price", "context", "newest", "name")
"""The orders :meth:`Catalog.search` knows."""

DEFAULT_CATALOG_TTL = 3600.0
"""How long (seconds) a fetched catalog counts as fresh by default."""

_EMPTY_STRINGS: Mapping[str, str] = MappingProxyType({})

# ----------------------------------------------------------------------- frozen records


def _frozen_slots(cls: type[_T]) -> type[_T]:
    """Give a frozen dataclass ``__slots__`` and make it picklable: ``dataclass(slots=True,
    frozen=True)`` on Python 3.10 cannot restore a pickle (no ``__setstate__`` before 3.11;
    a frozen slotted object cannot be restored with ``setattr``)."""
    names = tuple(f.name for f in dataclasses.fields(cls))  # type: ignore[arg-type]
    namespace = dict(cls.__dict__)
    for name in names:
        namespace.pop(name, None)  # defaults live in __init__, not as class attributes
    namespace.pop("__dict__", None)
    namespace.pop("__weakref__", None)
    namespace["__slots__"] = names

    def __getstate__(self: Any) -> tuple[Any, ...]:
        # mappingproxy cannot be pickled: send a dict, wrap it again on the way back
        values = (getattr(self, name) for name in names)
        return tuple(dict(v) if isinstance(v, MappingProxyType) else v for v in values)

    def __setstate__(self: Any, state: tuple[Any, ...]) -> None:
        for name, value in zip(names, state, strict=False):
            object.__setattr__(self, name, MappingProxyType(value) if isinstance(value, dict) else value)

    def __setattr__(self: Any, name: str, value: Any) -> None:
        # dataclass's own check names the class it decorated, not this slotted copy
        raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self: Any, name: str) -> None:
        raise dataclasses.FrozenInstanceError(f"cannot delete field {name!r}")

    namespace["__getstate__"] = __getstate__
    namespace["__setstate__"] = __setstate__
    namespace["__setattr__"] = __setattr__
    namespace["__delattr__"] = __delattr__
    metaclass: Any = type(cls)
    new_cls: type[_T] = metaclass(cls.__name__, cls.__bases__, namespace)
    new_cls.__qualname__ = cls.__qualname__
    return new_cls


def _empty_map() -> Mapping[str, Any]:
    return MappingProxyType({})


# ------------------------------------------------------------------------- tolerant reads


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _int(value: Any) -> int | None:
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


def _float(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _strs(value: Any) -> tuple[str, ...]:
    if not isinstance(value, (list, tuple)):
        return ()
    return tuple(v for v in value if isinstance(v, str))


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else _EMPTY_STRINGS


def _frozen_map(value: Any) -> Mapping[str, Any] | None:
    return MappingProxyType(dict(value)) if isinstance(value, Mapping) else None


def _decimal(value: Any) -> Decimal | None:
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


def _to_price(value: PriceLike, name: str, unit: str = "token") -> Decimal:
    """A user-given price limit -> Decimal; ValueError for nonsense."""
    number = _decimal(value)
    if number is None:
        raise ValueError(f"{name} must be a number of USD per {unit}, got {value!r}")
    return number


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

    prompt: Decimal | None = None
    completion: Decimal | None = None
    request: Decimal | None = None
    image: Decimal | None = None
    web_search: Decimal | None = None
    internal_reasoning: Decimal | None = None
    input_cache_read: Decimal | None = None
    input_cache_write: Decimal | None = None
    extra: Mapping[str, str] = field(default_factory=_empty_map, hash=False)
    unknown_keys: tuple[str, ...] = ()

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> Pricing:
        """Build from a ``pricing`` object of a ``/models`` or endpoints payload (tolerant:
        unparseable values read as absent)."""
        values: dict[str, Decimal | None] = {}
        extra: dict[str, str] = {}
        unknown: list[str] = []
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

    def get(self, name: str) -> Decimal | None:
        """The price ``name`` (a field or an ``extra`` key) as a Decimal, or None."""
        if name in PRICE_FIELDS:
            value: Decimal | None = getattr(self, name)
            return value
        number = _decimal(self.extra.get(name))
        return number if number is not None and number >= 0 else None

    def per_million(self, name: str = "prompt") -> Decimal | None:
        """The price ``name`` times one million (USD per million tokens for per-token
        prices), trimmed (``Decimal('15')``, ``Decimal('0.075')``); None when unknown."""
        value = self.get(name)
        return None if value is None else trim(value * 1_000_000)

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

    modality: str | None = None
    input_modalities: tuple[str, ...] = ()
    output_modalities: tuple[str, ...] = ()
    tokenizer: str | None = None
    instruct_type: str | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> Architecture:
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

    context_length: int | None = None
    max_completion_tokens: int | None = None
    is_moderated: bool = False

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> TopProvider:
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
    created: int | None = None
    description: str = field(default="", repr=False)
    context_length: int | None = None
    architecture: Architecture = field(default_factory=Architecture)
    pricing: Pricing = field(default_factory=Pricing)
    top_provider: TopProvider = field(default_factory=TopProvider)
    supported_parameters: tuple[str, ...] = field(default=(), repr=False)
    canonical_slug: str | None = None
    hugging_face_id: str | None = field(default=None, repr=False)
    per_request_limits: Mapping[str, Any] | None = field(default=None, hash=False, repr=False)
    raw: Mapping[str, Any] = field(default_factory=_empty_map, compare=False, hash=False, repr=False)

    @property
    def owned_by(self) -> str:
        """The author part of the id (``"anthropic"``), as openai's ``Model.owned_by``."""
        return self.id.split("/", 1)[0]

    @property
    def object(self) -> str:
        """``"model"``, as openai's ``Model.object``."""
        return "model"

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
    def variant(self) -> str | None:
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
    def max_completion_tokens(self) -> int | None:
        """The top provider's output limit (None when not limited or not reported)."""
        return self.top_provider.max_completion_tokens

    def supports(self, feature: str) -> bool:
        """Whether the model supports ``feature``: a friendly name (``"tools"``,
        ``"reasoning"``, ``"vision"``, ``"structured_outputs"``, ``"json"``, ...; see
        :data:`FEATURE_ALIASES` for the mapping) or any request parameter name."""
        kind, wanted = _resolve_feature(feature)
        return self.supports_any(kind, wanted)

    def supports_any(self, kind: str, wanted: frozenset[str]) -> bool:
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
