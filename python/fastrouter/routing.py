"""Routing configuration: aliases, routes resolved against the catalog, budgets.

A :class:`Routing` names model chains so code can say ``model="smart"`` instead of a
list of ids. Build it in code, from a dict (:meth:`Routing.from_dict`) or from a TOML
file (:meth:`Routing.from_toml`)::

    default_route = "smart"

    [aliases]                       # fixed chains, tried in order
    fast = ["openai/gpt-4o-mini", "anthropic/claude-3.5-haiku"]

    [routes.smart]                  # requirements instead of ids
    supports = ["tools"]            # supported_parameters every model must have
    input_modalities = ["image"]    # inputs every model must accept
    min_context = 100000            # tokens
    max_prompt_price = 5.0          # USD per MILLION prompt tokens
    max_completion_price = 15.0     # USD per MILLION completion tokens
    mode = "quality"                # cheapest | balanced | quality | fastest | ordered
    max_models = 3                  # chain length
    max_retries = 1                 # per model, overrides the client's
    hedge_after = 2.0               # seconds without a first token before the next model starts
    deadline_s = 30                 # the whole call, failover included
    max_cost_per_request = 0.50     # USD
    providers = { sort = "throughput" }   # OpenRouter `provider` preferences, sent as is

    [routes.vision]
    models = ["google/gemini-2.5-flash", "openai/gpt-4o"]   # a pool to pick from
    mode = "fastest"

    [[budgets]]
    usd = 10
    per = "day"

**Aliases** resolve to their list of ids, checked against the catalog.

**Routes** resolve against the catalog (:meth:`Routing.resolve`) into a
:class:`ResolvedRoute`: the chain of model ids plus the route's provider preferences and
failover settings; :meth:`Routing.explain` says why each model is in the chain.

- The *pool*: the route's ``models`` when given (any listed id, routers included), else the
  whole catalog minus routers and pseudo-models (``openrouter/*``, ``~`` aliases), models
  with unknown or dynamic (``"-1"``) prices, and free models unless ``prefer_free``.
- *Requirements* filter the pool: ``supports``, ``input_modalities``, ``output_modalities``
  (default: the model outputs text), ``min_context``, ``max_prompt_price``,
  ``max_completion_price``, ``authors``, ``exclude``. If they leave nothing,
  :class:`RoutingError` names the requirement that emptied the set and how to relax it.
- The *mode* orders what is left, then the chain keeps ``max_models`` (default 3; every
  listed model when ``models`` is given):

  - ``cheapest``: ascending prompt + completion price per token; then larger context.
  - ``quality``: descending price, then larger context. OpenRouter publishes no quality
    score, so price (what the market pays) and context are the signal.
  - ``fastest``: ascending p50 time to first token *measured by this client* (the
    ``latencies`` argument); models not measured yet follow, cheapest first.
  - ``balanced`` (default without ``models``): neither the cheapest nor the dearest, then
    speed. Models fall in tiers by how far their price is from the median price of the
    paid candidates (tier 1: within 2x, tier 2: 2x to 4x, ...); inside a tier, measured
    models come first, fastest first, then the rest closest to the median first.
  - ``ordered`` (default with ``models``): the listed order.

  ``prefer_free`` puts free models (``:free`` variants, zero price) first, each group in
  mode order.

Prices in the configuration are **USD per million tokens** (as on openrouter.ai and in
OpenRouter's ``provider.max_price``); the catalog's are per token. Money is
:class:`decimal.Decimal`; :meth:`Routing.to_dict` writes it as decimal strings.

Validation errors are :class:`RoutingError` with the file, the key and a suggestion::

    fastrouter.toml: routes.smart.mode: unknown mode 'fastst' (did you mean 'fastest'?)

Values that look like typos of known feature, modality or provider-preference names are
errors; values resembling nothing known pass through, since OpenRouter keeps adding them.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import importlib
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Tuple, Union

from .catalog import DYNAMIC_VARIANTS, FEATURE_ALIASES, Catalog, Model
from .errors import FastrouterError
from .usage.budget import Budget

if TYPE_CHECKING:
    from os import PathLike

__all__ = [
    "BUDGET_PERIODS",
    "MODES",
    "ResolvedRoute",
    "Route",
    "Routing",
    "RoutingError",
]

MODES: Tuple[str, ...] = ("cheapest", "balanced", "quality", "fastest", "ordered")
"""Route modes; see the module documentation."""

BUDGET_PERIODS: Tuple[str, ...] = ("request", "day", "total")
"""What a :class:`~fastrouter.usage.budget.Budget` amount is per (``day``: the UTC day)."""

_MILLION = Decimal(1_000_000)
_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
_BARE_KEY_RE = re.compile(r"^[A-Za-z0-9_-]+$")

_TOP_KEYS = ("aliases", "routes", "budgets", "default_route")
_ROUTE_KEYS = (
    "models",
    "supports",
    "input_modalities",
    "output_modalities",
    "min_context",
    "max_prompt_price",
    "max_completion_price",
    "authors",
    "exclude",
    "prefer_free",
    "providers",
    "mode",
    "max_models",
    "max_retries",
    "hedge_after",
    "deadline_s",
    "max_cost_per_request",
)
_BUDGET_KEYS = ("usd", "per", "tags")
_MONEY_KEYS = ("max_prompt_price", "max_completion_price", "max_cost_per_request")

# Known names, for "did you mean" on near misses (docs section 6.1 and 2.6).
_KNOWN_FEATURES = (
    "temperature",
    "top_p",
    "top_k",
    "min_p",
    "top_a",
    "frequency_penalty",
    "presence_penalty",
    "repetition_penalty",
    "max_tokens",
    "max_completion_tokens",
    "logit_bias",
    "logprobs",
    "top_logprobs",
    "prediction",
    "seed",
    "response_format",
    "structured_outputs",
    "stop",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "include_reasoning",
    "reasoning",
    "reasoning_effort",
    "web_search_options",
    "verbosity",
)
_KNOWN_INPUT_MODALITIES = ("text", "image", "file", "audio", "video")
_KNOWN_OUTPUT_MODALITIES = ("text", "image", "embeddings", "audio", "video", "rerank", "speech", "transcription")
_PROVIDER_KEYS = (
    "order",
    "allow_fallbacks",
    "require_parameters",
    "data_collection",
    "zdr",
    "enforce_distillable_text",
    "only",
    "ignore",
    "quantizations",
    "sort",
    "preferred_min_throughput",
    "preferred_max_latency",
    "max_price",
)
_PROVIDER_SORTS = ("price", "throughput", "latency", "exacto")


# ------------------------------------------------------------------------------ errors


class RoutingError(FastrouterError, ValueError):
    """A routing configuration is invalid, or a route cannot be resolved.

    ``source`` is the file (or ``"<dict>"``, ``"<string>"``; ``None`` for objects built
    in code), ``key`` the dotted key (``"routes.smart.min_context"``, ``"aliases.fast[1]"``),
    ``suggestion`` how to fix it; ``message`` the problem alone. ``str()`` joins them::

        fastrouter.toml: routes.smart.mode: unknown mode 'fastst' (did you mean 'fastest'?)
    """

    message: str
    source: Optional[str]
    key: Optional[str]
    suggestion: Optional[str]

    def __init__(
        self,
        message: str,
        *,
        source: Optional[str] = None,
        key: Optional[str] = None,
        suggestion: Optional[str] = None,
    ) -> None:
        self.message = message
        self.source = source
        self.key = key
        self.suggestion = suggestion
        super().__init__(self._render())

    def _render(self) -> str:
        text = ": ".join([p for p in (self.source, self.key) if p] + [self.message])
        return f"{text} ({self.suggestion})" if self.suggestion else text

    def __str__(self) -> str:
        return self._render()

    def _with_source(self, source: Optional[str]) -> RoutingError:
        if self.source is not None or source is None:
            return self
        return RoutingError(self.message, source=source, key=self.key, suggestion=self.suggestion)


def _did_you_mean(word: str, options: Iterable[str], cutoff: float = 0.6) -> Optional[str]:
    match = difflib.get_close_matches(word, list(options), n=1, cutoff=cutoff)
    return f"did you mean {match[0]!r}?" if match else None


def _one_of(options: Sequence[str]) -> str:
    return "one of " + ", ".join(repr(o) for o in options)


# -------------------------------------------------------------------------- validation


def _describe(value: Any) -> str:
    names = {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "a list",
        tuple: "a list",
        dict: "a table",
    }
    kind = names.get(type(value), f"a {type(value).__name__}")
    text = repr(value)
    return f"{kind} ({text[:40] + '...' if len(text) > 40 else text})"


def _type_error(key: str, expected: str, value: Any, example: str) -> RoutingError:
    return RoutingError(f"expected {expected}, got {_describe(value)}", key=key, suggestion=f"for example {example}")


def _check_name(name: Any, key: str, what: str) -> str:
    if not isinstance(name, str):
        raise _type_error(key, f"{what} name as a string", name, '"smart"')
    if not _NAME_RE.match(name):
        cleaned = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-.") or "smart"
        raise RoutingError(
            f"invalid {what} name {name!r}: use letters, digits, '_', '-' and '.' (no '/' or ':', which model ids use)",
            key=key,
            suggestion=f"for example {cleaned!r}",
        )
    return name


def _check_str(value: Any, key: str, example: str = '"text"') -> str:
    if not isinstance(value, str):
        raise _type_error(key, "a string", value, example)
    if not value.strip():
        raise RoutingError("empty string", key=key, suggestion=f"for example {example}")
    return value


def _check_str_list(value: Any, key: str, example: str, *, unique: bool = True) -> Tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)):
        raise _type_error(key, "a list of strings", value, example)
    items: List[str] = []
    for i, item in enumerate(value):
        text = _check_str(item, f"{key}[{i}]", example.strip("[]").split(",")[0].strip() or '"text"')
        if unique and text in items:
            raise RoutingError(f"{text!r} is listed twice", key=f"{key}[{i}]", suggestion="remove the duplicate")
        items.append(text)
    return tuple(items)


def _check_known(values: Tuple[str, ...], key: str, known: Sequence[str], what: str) -> None:
    """Reject near misses of known names; let unknown-but-different names through."""
    for i, value in enumerate(values):
        normal = value.strip().lower().replace("-", "_").replace(" ", "_")
        if normal in known:
            continue
        hint = _did_you_mean(normal, known, cutoff=0.75)
        if hint is not None:
            raise RoutingError(f"unknown {what} {value!r}", key=f"{key}[{i}]", suggestion=hint)


def _check_int(value: Any, key: str, minimum: int, example: str) -> int:
    number: int
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    else:
        hint = example
        if isinstance(value, str) and value.strip().isdigit():
            hint = f"{value.strip()} without quotes"
        raise _type_error(key, "an integer", value, hint)
    if number < minimum:
        raise RoutingError(f"must be at least {minimum}, got {number}", key=key, suggestion=f"for example {example}")
    return number


def _check_seconds(value: Any, key: str, example: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _type_error(key, "a number of seconds", value, example)
    seconds = float(value)
    if not math.isfinite(seconds) or seconds <= 0:
        raise RoutingError(
            f"must be a positive number of seconds, got {value!r}", key=key, suggestion=f"for example {example}"
        )
    return seconds


def _check_usd(value: Any, key: str, example: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (int, float, str, Decimal)):
        raise _type_error(key, "an amount in USD (a number or a decimal string)", value, example)
    try:
        amount = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    except InvalidOperation:
        raise _type_error(key, "an amount in USD (a number or a decimal string)", value, example) from None
    if not amount.is_finite() or amount < 0:
        raise RoutingError(
            f"must be a non-negative amount, got {value!r}", key=key, suggestion=f"for example {example}"
        )
    return amount


def _check_bool(value: Any, key: str) -> bool:
    if not isinstance(value, bool):
        hint = "true or false"
        if isinstance(value, str) and value.lower() in ("true", "false"):
            hint = f"{value.lower()} without quotes"
        raise _type_error(key, "true or false", value, hint)
    return value


def _check_choice(value: Any, key: str, choices: Sequence[str], what: str) -> str:
    if not isinstance(value, str):
        raise _type_error(key, f"a {what} as a string", value, repr(choices[0]))
    if value not in choices:
        raise RoutingError(
            f"unknown {what} {value!r}", key=key, suggestion=_did_you_mean(value, choices) or _one_of(choices)
        )
    return value


def _check_keys(mapping: Mapping[str, Any], key: str, known: Sequence[str]) -> None:
    for name in mapping:
        if not isinstance(name, str):
            raise RoutingError(f"keys must be strings, got {name!r}", key=key)
        if name not in known:
            where = f"{key}.{name}" if key else name
            raise RoutingError(
                f"unknown key {name!r}",
                key=where,
                suggestion=_did_you_mean(name, known) or f"known keys: {', '.join(known)}",
            )


def _check_table(value: Any, key: str, example: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise _type_error(key, "a table", value, example)
    return value


def _json_like(value: Any, key: str) -> Any:
    """A deep copy of a JSON value that TOML can also express (no nulls, finite numbers)."""
    if isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise RoutingError(f"must be a finite number, got {value!r}", key=key)
        return value
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise RoutingError(f"must be a finite number, got {value!r}", key=key)
        return float(value)
    if isinstance(value, (list, tuple)):
        return [_json_like(v, f"{key}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, Mapping):
        out: Dict[str, Any] = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise RoutingError(f"keys must be strings, got {k!r}", key=key)
            out[k] = _json_like(v, f"{key}.{k}")
        return out
    if value is None:
        raise RoutingError("null is not allowed", key=key, suggestion="leave the key out instead")
    raise _type_error(key, "a string, number, boolean, list or table", value, '"price"')


def _check_providers(value: Any, key: str) -> Optional[Dict[str, Any]]:
    """OpenRouter ``provider`` preferences: light checks on the documented keys, near-miss
    keys rejected, anything else passed through as JSON."""
    if value is None:
        return None
    table = _check_table(value, key, '{ sort = "throughput" }')
    prefs: Dict[str, Any] = _json_like(table, key)
    for name, item in prefs.items():
        sub = f"{key}.{name}"
        if name not in _PROVIDER_KEYS:
            hint = _did_you_mean(name, _PROVIDER_KEYS, cutoff=0.75)
            if hint is not None:
                raise RoutingError(f"unknown provider preference {name!r}", key=sub, suggestion=hint)
        elif name in ("order", "only", "ignore", "quantizations"):
            _check_str_list(item, sub, '["anthropic", "google-vertex"]')
            if isinstance(item, str):
                prefs[name] = [item]
        elif name in ("allow_fallbacks", "require_parameters", "zdr", "enforce_distillable_text"):
            _check_bool(item, sub)
        elif name == "data_collection":
            _check_choice(item, sub, ("allow", "deny"), "data_collection policy")
        elif name == "sort":
            if isinstance(item, Mapping):
                _check_keys(item, sub, ("by", "partition"))
                if "by" in item:
                    _check_choice(item["by"], f"{sub}.by", _PROVIDER_SORTS, "sort")
                if "partition" in item:
                    _check_choice(item["partition"], f"{sub}.partition", ("model", "none"), "partition")
            else:
                _check_choice(item, sub, _PROVIDER_SORTS, "sort")
        elif name in ("preferred_min_throughput", "preferred_max_latency"):
            numbers = item.values() if isinstance(item, Mapping) else [item]
            for number in numbers:
                if isinstance(number, bool) or not isinstance(number, (int, float)) or number < 0:
                    raise _type_error(sub, "a non-negative number or a table of them", item, "{ p50 = 1.0 }")
        elif name == "max_price":
            prices = _check_table(item, sub, "{ prompt = 1.0, completion = 2.0 }")
            for price_key, price in prices.items():
                _check_usd(price, f"{sub}.{price_key}", "1.0")
    return prefs or None


# ---------------------------------------------------------------------------- classes


@dataclass(frozen=True, init=False, repr=False)
class Route:
    """A named route: requirements and/or a pool of models, a mode, failover settings.

    ``Route("smart", supports=["tools"], min_context=100_000, mode="quality")``. Lists
    accept any sequence (a single string counts as one item) and are stored as tuples;
    prices accept numbers, decimal strings or :class:`~decimal.Decimal` and are stored as
    ``Decimal``. See the module documentation for how a route resolves.

    - ``models``: the pool to pick from (default: the catalog).
    - ``supports``: OpenRouter ``supported_parameters`` every model needs (``"tools"``,
      ``"response_format"``, ``"reasoning"``, ...).
    - ``input_modalities`` / ``output_modalities``: what every model must accept / produce
      (``"image"``, ``"file"``, ``"audio"``, ...); outputs default to text.
    - ``min_context``: the least context length, in tokens.
    - ``max_prompt_price`` / ``max_completion_price``: ceilings in **USD per million
      tokens**.
    - ``authors``: only models by these authors (the id's prefix, e.g. ``"anthropic"``).
    - ``exclude``: model ids never to use.
    - ``prefer_free``: admit free models and put them first.
    - ``providers``: OpenRouter ``provider`` preferences sent with the route's requests.
    - ``mode``: ``cheapest``, ``balanced``, ``quality``, ``fastest`` or ``ordered``
      (default: ``ordered`` with ``models``, else ``balanced``); see :attr:`effective_mode`.
    - ``max_models``: chain length (default: every listed model with ``models``, else 3).
    - ``max_retries``, ``hedge_after`` (seconds), ``deadline_s`` (seconds, the whole call):
      failover settings for the route's requests (``None``: the client's).
    - ``max_cost_per_request``: USD ceiling for one request.
    """

    name: str
    models: Tuple[str, ...]
    supports: Tuple[str, ...]
    input_modalities: Tuple[str, ...]
    output_modalities: Tuple[str, ...]
    min_context: Optional[int]
    max_prompt_price: Optional[Decimal]
    max_completion_price: Optional[Decimal]
    authors: Tuple[str, ...]
    exclude: Tuple[str, ...]
    prefer_free: bool
    providers: Optional[Mapping[str, Any]] = field(hash=False)
    mode: Optional[str]
    max_models: Optional[int]
    max_retries: Optional[int]
    hedge_after: Optional[float]
    deadline_s: Optional[float]
    max_cost_per_request: Optional[Decimal]

    def __init__(
        self,
        name: str,
        models: Sequence[str] = (),
        *,
        supports: Sequence[str] = (),
        input_modalities: Sequence[str] = (),
        output_modalities: Sequence[str] = (),
        min_context: Optional[int] = None,
        max_prompt_price: Union[Decimal, float, str, None] = None,
        max_completion_price: Union[Decimal, float, str, None] = None,
        authors: Sequence[str] = (),
        exclude: Sequence[str] = (),
        prefer_free: bool = False,
        providers: Optional[Mapping[str, Any]] = None,
        mode: Optional[str] = None,
        max_models: Optional[int] = None,
        max_retries: Optional[int] = None,
        hedge_after: Optional[float] = None,
        deadline_s: Optional[float] = None,
        max_cost_per_request: Union[Decimal, float, str, None] = None,
    ) -> None:
        k = f"routes.{name}" if isinstance(name, str) else "routes"
        put = object.__setattr__
        put(self, "name", _check_name(name, k, "route"))
        put(self, "models", _check_str_list(models, f"{k}.models", '["openai/gpt-4o-mini"]'))
        put(self, "supports", _check_str_list(supports, f"{k}.supports", '["tools"]'))
        _check_known(self.supports, f"{k}.supports", (*_KNOWN_FEATURES, *FEATURE_ALIASES), "feature")
        put(self, "input_modalities", _check_str_list(input_modalities, f"{k}.input_modalities", '["image"]'))
        _check_known(self.input_modalities, f"{k}.input_modalities", _KNOWN_INPUT_MODALITIES, "input modality")
        put(self, "output_modalities", _check_str_list(output_modalities, f"{k}.output_modalities", '["text"]'))
        _check_known(self.output_modalities, f"{k}.output_modalities", _KNOWN_OUTPUT_MODALITIES, "output modality")
        put(
            self,
            "min_context",
            None if min_context is None else _check_int(min_context, f"{k}.min_context", 1, "100000"),
        )
        put(
            self,
            "max_prompt_price",
            None if max_prompt_price is None else _check_usd(max_prompt_price, f"{k}.max_prompt_price", "5.0"),
        )
        put(
            self,
            "max_completion_price",
            None
            if max_completion_price is None
            else _check_usd(max_completion_price, f"{k}.max_completion_price", "15.0"),
        )
        put(self, "authors", _check_str_list(authors, f"{k}.authors", '["anthropic", "openai"]'))
        put(self, "exclude", _check_str_list(exclude, f"{k}.exclude", '["openai/gpt-4o"]'))
        put(self, "prefer_free", _check_bool(prefer_free, f"{k}.prefer_free"))
        put(self, "providers", _check_providers(providers, f"{k}.providers"))
        put(self, "mode", None if mode is None else _check_choice(mode, f"{k}.mode", MODES, "mode"))
        put(self, "max_models", None if max_models is None else _check_int(max_models, f"{k}.max_models", 1, "3"))
        put(self, "max_retries", None if max_retries is None else _check_int(max_retries, f"{k}.max_retries", 0, "1"))
        put(
            self, "hedge_after", None if hedge_after is None else _check_seconds(hedge_after, f"{k}.hedge_after", "2.0")
        )
        put(self, "deadline_s", None if deadline_s is None else _check_seconds(deadline_s, f"{k}.deadline_s", "30"))
        put(
            self,
            "max_cost_per_request",
            None
            if max_cost_per_request is None
            else _check_usd(max_cost_per_request, f"{k}.max_cost_per_request", "0.50"),
        )
        if self.mode == "ordered" and not self.models:
            raise RoutingError(
                "mode 'ordered' keeps the order of `models`, but the route lists none",
                key=f"{k}.mode",
                suggestion="list the models, or use 'cheapest', 'balanced', 'quality' or 'fastest'",
            )
        for i, model_id in enumerate(self.exclude):
            if model_id in self.models:
                raise RoutingError(
                    f"{model_id!r} is both listed in models and excluded",
                    key=f"{k}.exclude[{i}]",
                    suggestion="remove it from one of them",
                )

    @property
    def effective_mode(self) -> str:
        """``mode``, else ``"ordered"`` when the route lists ``models``, else ``"balanced"``."""
        if self.mode is not None:
            return self.mode
        return "ordered" if self.models else "balanced"

    @property
    def effective_max_models(self) -> int:
        """``max_models``, else every listed model when ``models`` is given, else 3."""
        if self.max_models is not None:
            return self.max_models
        return len(self.models) if self.models else 3

    @classmethod
    def from_dict(cls, name: str, data: Mapping[str, Any]) -> Route:
        """A route from its table (``[routes.NAME]``); unknown keys are errors."""
        key = f"routes.{name}"
        table = _check_table(data, key, '{ supports = ["tools"] }')
        _check_keys(table, key, _ROUTE_KEYS)
        return cls(name, **table)

    def to_dict(self) -> Dict[str, Any]:
        """The route's table without its name: only the keys that differ from the defaults;
        money as decimal strings. ``Route.from_dict(r.name, r.to_dict()) == r``."""
        out: Dict[str, Any] = {}
        for key in _ROUTE_KEYS:
            value = getattr(self, key)
            if value is None or value == () or value is False:
                continue
            if isinstance(value, tuple):
                value = list(value)
            elif isinstance(value, Decimal):
                value = str(value)
            elif key == "providers":
                value = json.loads(json.dumps(value))
            out[key] = value
        return out

    def describe_requirements(self) -> str:
        """The requirements in words (``"supports tools, context >= 100,000"``); ``""`` if none."""
        parts: List[str] = []
        if self.supports:
            parts.append("supports " + ", ".join(self.supports))
        if self.input_modalities:
            parts.append("accepts " + ", ".join(self.input_modalities))
        if self.output_modalities:
            parts.append("outputs " + ", ".join(self.output_modalities))
        if self.min_context is not None:
            parts.append(f"context >= {self.min_context:,}")
        if self.max_prompt_price is not None:
            parts.append(f"prompt <= {_usd(self.max_prompt_price)}/M")
        if self.max_completion_price is not None:
            parts.append(f"completion <= {_usd(self.max_completion_price)}/M")
        if self.authors:
            parts.append("by " + ", ".join(self.authors))
        if self.exclude:
            parts.append("excluding " + ", ".join(self.exclude))
        return ", ".join(parts)

    def __repr__(self) -> str:
        args = [repr(self.name)]
        for key in _ROUTE_KEYS:
            value = getattr(self, key)
            if value is None or value == () or value is False:
                continue
            args.append(f"{key}={value!r}")
        return f"Route({', '.join(args)})"


def _budget_from_dict(data: Any, key: str) -> Budget:
    """A :class:`~fastrouter.usage.budget.Budget` from its table (``[[budgets]]``), validated
    with :class:`RoutingError` messages; unknown keys are errors."""
    table = _check_table(data, key, '{ usd = 10, per = "day" }')
    _check_keys(table, key, _BUDGET_KEYS)
    if "usd" not in table:
        raise RoutingError("missing 'usd'", key=key, suggestion="for example usd = 10")
    return Budget(
        _check_usd(table["usd"], f"{key}.usd", "10"),
        per=_check_choice(table.get("per", "total"), f"{key}.per", BUDGET_PERIODS, "budget period"),
        tags=_check_str_list(table.get("tags", ()), f"{key}.tags", '["batch"]'),
    )


def _budget_to_dict(budget: Budget) -> Dict[str, Any]:
    """``{"usd": "10", "per": "day"}`` (+ ``tags`` when set)."""
    out: Dict[str, Any] = {"usd": str(budget.usd), "per": budget.per}
    if budget.tags:
        out["tags"] = list(budget.tags)
    return out


@dataclass(frozen=True)
class ResolvedRoute:
    """What a name resolves to against a catalog: the ``chain`` of model ids to try in
    order, with the route's settings for the request.

    - ``kind``: ``"alias"`` or ``"route"``; ``mode``: the effective mode (``None`` for
      aliases).
    - ``reasons``: ``(model_id, why)`` for each model of the chain, in chain order.
    - ``dropped``: ``(model_id, why)`` for listed models a requirement ruled out.
    - ``candidates``: how many models met the requirements (before ``max_models``).
    - ``providers``: OpenRouter ``provider`` preferences to send (``None``: none).
    - ``max_retries``, ``hedge_after``, ``deadline_s``, ``max_cost_per_request``: the
      route's failover and cost settings (``None``: the client's).
    """

    name: str
    kind: str
    chain: Tuple[str, ...]
    reasons: Tuple[Tuple[str, str], ...]
    mode: Optional[str] = None
    candidates: int = 0
    dropped: Tuple[Tuple[str, str], ...] = ()
    providers: Optional[Mapping[str, Any]] = field(default=None, hash=False)
    max_retries: Optional[int] = None
    hedge_after: Optional[float] = None
    deadline_s: Optional[float] = None
    max_cost_per_request: Optional[Decimal] = None


@dataclass(frozen=True, init=False)
class Routing:
    """Aliases, routes and budgets; hand it to a client as ``routing=``.

    ``Routing(aliases={"fast": ["openai/gpt-4o-mini", "anthropic/claude-3.5-haiku"]},
    routes={"smart": Route("smart", supports=["tools"], mode="quality")})``. ``routes``
    maps names to :class:`Route` objects or to route tables (dicts), or is a list of
    routes; ``budgets`` holds :class:`~fastrouter.usage.budget.Budget` objects or tables (the
    client enforces them); ``default_route`` names
    an alias or route for requests that give no model. Names are unique across aliases
    and routes and never contain ``/``, so they cannot shadow model ids.

    ``source`` (the file it came from) only labels errors; it is not compared.
    """

    aliases: Mapping[str, Tuple[str, ...]] = field(hash=False)
    routes: Mapping[str, Route] = field(hash=False)
    budgets: Tuple[Budget, ...]
    default_route: Optional[str]
    source: Optional[str] = field(compare=False, repr=False)
    _cache: Dict[str, Tuple[Catalog, Tuple[Tuple[str, float], ...], ResolvedRoute]] = field(
        init=False, compare=False, repr=False, hash=False
    )

    def __init__(
        self,
        aliases: Optional[Mapping[str, Union[str, Sequence[str]]]] = None,
        routes: Union[Mapping[str, Union[Route, Mapping[str, Any]]], Sequence[Route], None] = None,
        budgets: Sequence[Union[Budget, Mapping[str, Any]]] = (),
        default_route: Optional[str] = None,
        *,
        source: Optional[str] = None,
    ) -> None:
        object.__setattr__(self, "source", source)
        object.__setattr__(self, "_cache", {})
        try:
            self._init(aliases, routes, budgets, default_route)
        except RoutingError as error:
            raise error._with_source(source) from None

    def _init(self, aliases: Any, routes: Any, budgets: Any, default_route: Any) -> None:
        alias_map: Dict[str, Tuple[str, ...]] = {}
        if aliases is not None:
            for name, ids in _check_table(aliases, "aliases", '{ fast = ["openai/gpt-4o-mini"] }').items():
                key = f"aliases.{name}"
                _check_name(name, key, "alias")
                chain = _check_str_list(ids, key, '["openai/gpt-4o-mini", "anthropic/claude-3.5-haiku"]')
                if not chain:
                    raise RoutingError(
                        "an alias needs at least one model id", key=key, suggestion='for example ["openai/gpt-4o-mini"]'
                    )
                alias_map[name] = chain
        route_map: Dict[str, Route] = {}
        if routes is not None:
            if isinstance(routes, Mapping):
                for name, spec in routes.items():
                    if isinstance(spec, Route):
                        if spec.name != name:
                            raise RoutingError(
                                f"the route stored under {name!r} is named {spec.name!r}",
                                key=f"routes.{name}",
                                suggestion="use the route's name as its key",
                            )
                        route_map[name] = spec
                    else:
                        route_map[name] = Route.from_dict(_check_name(name, f"routes.{name}", "route"), spec)
            elif isinstance(routes, (list, tuple)):
                for i, spec in enumerate(routes):
                    if not isinstance(spec, Route):
                        raise _type_error(f"routes[{i}]", "a fastrouter.Route", spec, 'Route("smart", ...)')
                    if spec.name in route_map:
                        raise RoutingError(f"two routes are named {spec.name!r}", key=f"routes[{i}]")
                    route_map[spec.name] = spec
            else:
                raise _type_error("routes", "a table of routes", routes, '{ smart = { supports = ["tools"] } }')
        for name in route_map:
            if name in alias_map:
                raise RoutingError(
                    f"{name!r} is both an alias and a route",
                    key=f"routes.{name}",
                    suggestion=f"rename one of them, e.g. '{name}-route'",
                )
        if isinstance(budgets, Mapping) or not isinstance(budgets, (list, tuple)):
            raise _type_error(
                "budgets", "a list of budget tables ([[budgets]])", budgets, '[{ usd = 10, per = "day" }]'
            )
        budget_list: List[Budget] = []
        for i, spec in enumerate(budgets):
            budget_list.append(spec if isinstance(spec, Budget) else _budget_from_dict(spec, f"budgets[{i}]"))
        if default_route is not None:
            _check_str(default_route, "default_route", '"smart"')
            if default_route not in alias_map and default_route not in route_map:
                names = [*alias_map, *route_map]
                raise RoutingError(
                    f"{default_route!r} is neither an alias nor a route",
                    key="default_route",
                    suggestion=_did_you_mean(default_route, names)
                    or (f"defined names: {', '.join(names)}" if names else "define it under [aliases] or [routes]"),
                )
        object.__setattr__(self, "aliases", alias_map)
        object.__setattr__(self, "routes", route_map)
        object.__setattr__(self, "budgets", tuple(budget_list))
        object.__setattr__(self, "default_route", default_route)

    # ------------------------------------------------------------------- loading

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: Optional[str] = "<dict>") -> Routing:
        """A routing from a dict shaped like the TOML file (see the module docs).
        ``Routing.from_dict(r.to_dict()) == r``."""
        try:
            table = _check_table(data, "", '{ "aliases": {...}, "routes": {...} }')
            _check_keys(table, "", _TOP_KEYS)
        except RoutingError as error:
            raise error._with_source(source) from None
        return cls(
            aliases=table.get("aliases"),
            routes=table.get("routes"),
            budgets=table.get("budgets", ()),
            default_route=table.get("default_route"),
            source=source,
        )

    @classmethod
    def from_toml_str(cls, text: str, *, source: Optional[str] = "<string>") -> Routing:
        """A routing from TOML text (``tomllib`` on Python 3.11+, else ``tomli``)."""
        toml = _tomllib()
        try:
            data = toml.loads(text)
        except toml.TOMLDecodeError as error:
            raise RoutingError(f"invalid TOML: {error}", source=source) from None
        return cls.from_dict(data, source=source)

    @classmethod
    def from_toml(cls, path: Union[str, PathLike[str]]) -> Routing:
        """A routing from a TOML file; errors name the file."""
        file = Path(path)
        try:
            text = file.read_text(encoding="utf-8")
        except OSError as error:
            raise RoutingError(f"cannot read the file: {error.strerror or error}", source=str(file)) from None
        return cls.from_toml_str(text, source=str(file))

    def to_dict(self) -> Dict[str, Any]:
        """A plain, JSON-able dict in the TOML file's shape (empty sections left out;
        money as decimal strings)."""
        out: Dict[str, Any] = {}
        if self.default_route is not None:
            out["default_route"] = self.default_route
        if self.aliases:
            out["aliases"] = {name: list(ids) for name, ids in self.aliases.items()}
        if self.routes:
            out["routes"] = {name: route.to_dict() for name, route in self.routes.items()}
        if self.budgets:
            out["budgets"] = [_budget_to_dict(b) for b in self.budgets]
        return out

    def to_toml(self) -> str:
        """The configuration as TOML text; ``Routing.from_toml_str(r.to_toml()) == r``.
        Money is written as a number when a float holds it exactly, else as a string."""
        lines: List[str] = []
        if self.default_route is not None:
            lines.append(f"default_route = {_toml_value(self.default_route)}")
        if self.aliases:
            lines += ["", "[aliases]"]
            lines += [f"{_toml_key(n)} = {_toml_value(list(ids))}" for n, ids in self.aliases.items()]
        for name, route in self.routes.items():
            lines += ["", f"[routes.{_toml_key(name)}]"]
            for key, value in route.to_dict().items():
                text = _toml_money(Decimal(value)) if key in _MONEY_KEYS else _toml_value(value)
                lines.append(f"{key} = {text}")
        for budget in self.budgets:
            lines += ["", "[[budgets]]"]
            for key, value in _budget_to_dict(budget).items():
                lines.append(f"{key} = {_toml_money(budget.usd) if key == 'usd' else _toml_value(value)}")
        return "\n".join(lines).lstrip("\n") + "\n"

    # ------------------------------------------------------------------- queries

    def names(self) -> Tuple[str, ...]:
        """Every alias and route name: aliases first, in definition order."""
        return (*self.aliases, *self.routes)

    def is_route(self, name: str) -> bool:
        """True when ``name`` is an alias or a route of this routing (model ids never are)."""
        return name in self.aliases or name in self.routes

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.is_route(name)

    # ---------------------------------------------------------------- resolution

    def resolve(
        self,
        name: str,
        catalog: Catalog,
        *,
        latencies: Optional[Mapping[str, float]] = None,
    ) -> ResolvedRoute:
        """Resolve an alias or route against ``catalog`` into a :class:`ResolvedRoute`.

        ``latencies`` maps model ids to the p50 time to first token (seconds) the client
        measured; ``fastest`` and ``balanced`` use it. Raises :class:`RoutingError` for an
        unknown name, an unknown model id (with a did-you-mean), or requirements nothing
        in the catalog meets (naming the requirement that emptied the set).

        The result depends only on the arguments, so call it per request: the last result
        per name is kept and reused while the same catalog object (and, for ``fastest``
        and ``balanced``, the same latencies to the millisecond) comes in; a refreshed
        catalog resolves anew. Treat the result as read-only.
        """
        route = self.routes.get(name)
        if route is None and name not in self.aliases:
            raise self._unknown_name(name)
        measured: Tuple[Tuple[str, float], ...] = ()
        if route is not None and latencies and route.effective_mode in ("fastest", "balanced"):
            measured = tuple(
                sorted(
                    (model_id, round(float(seconds), 3))
                    for model_id, seconds in latencies.items()
                    if isinstance(seconds, (int, float)) and not isinstance(seconds, bool)
                )
            )
        cached = self._cache.get(name)
        if cached is not None and cached[0] is catalog and cached[1] == measured:
            return cached[2]
        try:
            if route is None:
                resolved = _resolve_alias(name, self.aliases[name], catalog)
            else:
                resolved = _resolve_route(route, catalog, latencies or {})
        except RoutingError as error:
            raise error._with_source(self.source) from None
        self._cache[name] = (catalog, measured, resolved)
        return resolved

    def __getstate__(self) -> Dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "_cache"}

    def __setstate__(self, state: Dict[str, Any]) -> None:
        self.__dict__.update(state, _cache={})

    def _unknown_name(self, name: str) -> RoutingError:
        names = self.names()
        return RoutingError(
            f"unknown route or alias {name!r}",
            source=self.source,
            suggestion=_did_you_mean(name, names) or (f"defined: {', '.join(names)}" if names else "none is defined"),
        )

    def explain(
        self,
        name: str,
        catalog: Catalog,
        latencies: Optional[Mapping[str, float]] = None,
    ) -> str:
        """A readable, multi-line account of what ``name`` resolves to: the requirements,
        the mode, each model of the chain with its price per million tokens, context and
        why it is there, and the route's provider preferences and failover settings."""
        resolved = self.resolve(name, catalog, latencies=latencies)
        where = f" ({self.source})" if self.source and not self.source.startswith("<") else ""
        lines: List[str] = []
        if resolved.kind == "alias":
            lines.append(f"alias {name!r}{where}: a fixed chain, tried in order")
        else:
            route = self.routes[name]
            lines.append(f"route {name!r}{where}")
            if route.models:
                pool = f"the {_count(len(route.models), 'listed model')}"
            else:
                free = "" if route.prefer_free else ", free"
                pool = f"the catalog (routers, unpriced{free} and non-text-output models set aside)"
                if route.output_modalities:
                    pool = f"the catalog (routers, unpriced{free} models set aside)"
            lines.append(f"  pool:         {pool}")
            lines.append(f"  requirements: {route.describe_requirements() or 'none'}")
            lines.append(f"  mode:         {resolved.mode} - {_MODE_HELP[resolved.mode or 'ordered']}")
            if route.prefer_free:
                lines.append("  prefer_free:  free models first")
            lines.append(f"  candidates:   {resolved.candidates}")
        lines.append(f"chain ({len(resolved.chain)} models):")
        width = max((len(m) for m in resolved.chain), default=0)
        for i, (model_id, why) in enumerate(resolved.reasons, 1):
            lines.append(f"  {i}. {model_id:<{width}}  {_model_facts(catalog, model_id)}")
            lines.append(f"     {' ' * len(str(i))}{why}")
        for model_id, why in resolved.dropped:
            lines.append(f"  dropped {model_id}: {why}")
        settings = []
        if resolved.max_retries is not None:
            settings.append(f"max_retries={resolved.max_retries}")
        if resolved.hedge_after is not None:
            settings.append(f"hedge_after={resolved.hedge_after:g}s")
        if resolved.deadline_s is not None:
            settings.append(f"deadline={resolved.deadline_s:g}s")
        if resolved.max_cost_per_request is not None:
            settings.append(f"max_cost_per_request={_usd(resolved.max_cost_per_request)}")
        if settings:
            lines.append("settings: " + ", ".join(settings))
        if resolved.providers:
            lines.append("provider preferences: " + json.dumps(dict(resolved.providers), sort_keys=True))
        return "\n".join(lines)


# ----------------------------------------------------------------------- catalog view


def _per_token(value: Optional[Decimal]) -> Optional[Decimal]:
    """A catalog price, ``None`` when unknown or dynamic (negative, e.g. ``"-1"``)."""
    return value if value is not None and value >= 0 else None


def _price(model: Model) -> Optional[Decimal]:
    """Prompt + completion USD per token; ``None`` when either is unknown."""
    prompt, completion = _per_token(model.pricing.prompt), _per_token(model.pricing.completion)
    if prompt is None or completion is None:
        return None
    return prompt + completion


def _is_router(model: Model) -> bool:
    """Routers, ``~`` aliases and models without a known prompt + completion price."""
    return model.is_router or model.is_alias or _price(model) is None


def _remaining(models: Sequence[Model]) -> str:
    return _count(len(models), "remaining model")


def _short_context(tokens: int) -> str:
    if tokens >= 1_000_000 and tokens % 1_000_000 == 0:
        return f"{tokens // 1_000_000}M"
    return f"{tokens // 1000}k" if tokens >= 1000 and tokens % 1000 == 0 else f"{tokens:,}"


def _having(route: Route) -> str:
    """The route's requirements as a phrase for reasons: ``" with tools, >=100k context"``."""
    parts = list(route.supports)
    parts += [f"{m} input" for m in route.input_modalities]
    parts += [f"{m} output" for m in route.output_modalities]
    if route.min_context is not None:
        parts.append(f">={_short_context(route.min_context)} context")
    if route.max_prompt_price is not None:
        parts.append(f"prompt <={_usd(route.max_prompt_price)}/M")
    if route.max_completion_price is not None:
        parts.append(f"completion <={_usd(route.max_completion_price)}/M")
    if route.authors:
        parts.append("by " + "/".join(route.authors))
    listed = " listed" if route.models else ""
    return f"{listed} with {', '.join(parts)}" if parts else listed


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _trim(value: Decimal) -> Decimal:
    """``15.000000`` -> ``15``, ``0.07500`` -> ``0.075`` (no exponent notation)."""
    return value.quantize(Decimal(1)) if value == value.to_integral_value() else value.normalize()


def _usd(amount: Decimal) -> str:
    """``$15.00``, ``$0.60``, ``$0.075``, ``$0``: cents, or up to 6 decimals below that."""
    if amount == 0:
        return "$0"
    if amount == amount.quantize(Decimal("0.01")) or amount >= 100:
        return f"${amount:,.2f}"
    return "$" + f"{amount:.6f}".rstrip("0")


def _per_million(value: Optional[Decimal]) -> str:
    value = _per_token(value)
    return "?" if value is None else _usd(value * _MILLION)


def _model_facts(catalog: Catalog, model_id: str) -> str:
    model = catalog.get(model_id)
    if model is None:
        return "(not in the catalog)"
    context = f"{model.context_length:,}" if model.context_length else "?"
    prompt, completion = _per_million(model.pricing.prompt), _per_million(model.pricing.completion)
    return f"{prompt}/M in, {completion}/M out, {context} context"


_MODE_HELP: Dict[str, str] = {
    "cheapest": "cheapest first (prompt + completion price), then larger context",
    "quality": "most expensive first (price stands in for quality: OpenRouter has no quality score), "
    "then larger context",
    "fastest": "lowest measured p50 time to first token first; unmeasured models after, cheapest first",
    "balanced": "priced near the candidates' median first (tiers of 2x), fastest measured first inside a tier",
    "ordered": "the listed order",
}


def _unknown_id_error(model_id: str, key: str, catalog: Catalog) -> RoutingError:
    close = catalog.suggest(model_id)
    return RoutingError(
        f"unknown model id {model_id!r}: not in the catalog",
        key=key,
        suggestion="did you mean " + ", ".join(repr(c) for c in close) + "?"
        if close
        else "see `fastrouter.Catalog.search()` or https://openrouter.ai/models",
    )


def _check_id(model_id: str, key: str, catalog: Catalog) -> Tuple[Optional[Model], str]:
    """The catalog model for ``model_id`` (with ``model_id`` as its id) and a note, or
    ``None`` when OpenRouter resolves the id (``~`` aliases, presets); unknown ids raise."""
    model = catalog.get(model_id)
    if model is None:
        if model_id.startswith(("~", "@")) or "@preset/" in model_id:
            return None, "not in the catalog: OpenRouter resolves it"
        raise _unknown_id_error(model_id, key, catalog)
    note = ""
    base, _, variant = model_id.rpartition(":")
    if model.id != model_id:  # a canonical slug
        note = f"canonical slug of {model.id}"
        model = dataclasses.replace(model, id=model_id)
    elif base and variant in DYNAMIC_VARIANTS:
        note = f":{variant} variant of {base}, priced as it"
    return model, note


def _resolve_alias(name: str, ids: Tuple[str, ...], catalog: Catalog) -> ResolvedRoute:
    reasons = []
    for i, model_id in enumerate(ids):
        _, note = _check_id(model_id, f"aliases.{name}[{i}]", catalog)
        reasons.append((model_id, f"listed #{i + 1} in the alias" + (f" ({note})" if note else "")))
    return ResolvedRoute(name=name, kind="alias", chain=ids, reasons=tuple(reasons), candidates=len(ids))


# A filter step: config key, predicate, why a model fails it, suggestion when it empties the set.
_Step = Tuple[str, Callable[[Model], bool], Callable[[Model], str], Callable[[List[Model]], str]]


def _steps(route: Route) -> List[_Step]:
    steps: List[_Step] = []
    outputs = route.output_modalities or ("text",)
    for modality in outputs:

        def outputs_it(m: Model, x: str = modality) -> bool:
            return x in m.architecture.output_modalities

        def no_output(_: Model, x: str = modality) -> str:
            return f"does not output {x}"

        def output_hint(before: List[Model], x: str = modality) -> str:
            have = sorted({o for m in before for o in m.architecture.output_modalities})
            return f"none of the {_remaining(before)} outputs {x!r}; they output: {', '.join(have)}"

        steps.append(("output_modalities", outputs_it, no_output, output_hint))
    for modality in route.input_modalities:

        def accepts(m: Model, x: str = modality) -> bool:
            return x in m.architecture.input_modalities

        def no_input(_: Model, x: str = modality) -> str:
            return f"does not accept {x} input"

        def input_hint(before: List[Model], x: str = modality) -> str:
            have = sorted({i for m in before for i in m.architecture.input_modalities})
            return f"none of the {_remaining(before)} accepts {x!r}; they accept: {', '.join(have)}"

        steps.append(("input_modalities", accepts, no_input, input_hint))
    for feature in route.supports:

        def supports(m: Model, x: str = feature) -> bool:
            return m.supports(x)

        def no_support(_: Model, x: str = feature) -> str:
            return f"does not support {x}"

        def support_hint(before: List[Model], x: str = feature) -> str:
            return f"none of the {_remaining(before)} supports {x!r}; drop it from supports or widen the pool"

        steps.append(("supports", supports, no_support, support_hint))
    if route.min_context is not None:
        least = route.min_context

        def long_enough(m: Model) -> bool:
            return (m.context_length or 0) >= least

        def too_short(m: Model) -> str:
            return f"context {m.context_length or 0:,} < {least:,}"

        def context_hint(before: List[Model]) -> str:
            best = max((m.context_length or 0) for m in before)
            return f"the largest context among the {_remaining(before)} is {best:,}: lower min_context to {best}"

        steps.append(("min_context", long_enough, too_short, context_hint))
    for key, ceiling, part in (
        ("max_prompt_price", route.max_prompt_price, "prompt"),
        ("max_completion_price", route.max_completion_price, "completion"),
    ):
        if ceiling is None:
            continue
        per_token = ceiling / _MILLION

        def cheap_enough(m: Model, limit: Decimal = per_token, p: str = part) -> bool:
            value = _per_token(getattr(m.pricing, p))
            return value is not None and value <= limit

        def too_dear(m: Model, limit: Decimal = ceiling, p: str = part) -> str:
            return f"{p} {_per_million(getattr(m.pricing, p))}/M > {_usd(limit)}/M"

        def price_hint(before: List[Model], k: str = key, p: str = part) -> str:
            known = [v for v in (_per_token(getattr(m.pricing, p)) for m in before) if v is not None]
            if not known:
                return f"no remaining model has a known {p} price"
            least = _trim(min(known) * _MILLION)
            cheapest = f"the cheapest of the {_remaining(before)} costs {_usd(least)}/M {p}"
            return f"{cheapest}: raise {k} to at least {least:f}"

        steps.append((key, cheap_enough, too_dear, price_hint))
    if route.authors:
        authors = tuple(a.lower() for a in route.authors)

        def by_author(m: Model) -> bool:
            return m.author.lower() in authors

        def other_author(m: Model) -> str:
            return f"by {m.author}, not {', '.join(authors)}"

        def author_hint(before: List[Model]) -> str:
            have = sorted({m.author for m in before})
            hint = next((h for h in (_did_you_mean(a, have) for a in authors) if h), None)
            return hint or f"authors among the {_remaining(before)}: {', '.join(have[:20])}"

        steps.append(("authors", by_author, other_author, author_hint))
    if route.exclude:
        excluded = route.exclude

        def not_excluded(m: Model) -> bool:
            return m.id not in excluded

        def is_excluded(_: Model) -> str:
            return "excluded"

        def exclude_hint(before: List[Model]) -> str:
            return "every remaining model is excluded: remove some ids from exclude"

        steps.append(("exclude", not_excluded, is_excluded, exclude_hint))
    return steps


def _order(
    models: List[Model], mode: str, latencies: Mapping[str, float], having: str
) -> Tuple[List[Model], Dict[str, str]]:
    """The models in ``mode`` order, and why, per model id (``having``: the requirements
    as a phrase, ``" with tools"``)."""
    n = len(models)
    of_n = f"of {_count(n, 'model')}{having}"

    def price_key(m: Model) -> Tuple[bool, Decimal]:
        price = _price(m)
        return (price is None, price if price is not None else Decimal(0))

    def latency(m: Model) -> Optional[float]:
        value = latencies.get(m.id)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            return None
        return float(value)

    why: Dict[str, str] = {}
    if mode == "ordered":
        ordered = list(models)
        for i, m in enumerate(ordered, 1):
            why[m.id] = f"listed #{i} in models"
        return ordered, why

    def cheapest_order(models: List[Model], why: Dict[str, str]) -> Tuple[List[Model], Dict[str, str]]:
        ordered = sorted(models, key=lambda m: (*price_key(m), -(m.context_length or 0), m.id))
        for i, m in enumerate(ordered, 1):
            known = _price(m) is not None
            why[m.id] = f"#{i} cheapest {of_n}" if known else "price unknown: last"
        return ordered, why

    if mode == "cheapest":
        return cheapest_order(models, why)
    if mode == "quality":

        def quality_key(m: Model) -> Tuple[bool, Decimal, int, str]:
            unknown, price = price_key(m)
            return (unknown, -price, -(m.context_length or 0), m.id)

        ordered = sorted(models, key=quality_key)
        for i, m in enumerate(ordered, 1):
            if _price(m) is None:
                why[m.id] = "price unknown: last"
            else:
                why[m.id] = f"#{i} most expensive (price is the quality proxy) {of_n}"
        return ordered, why
    if mode == "fastest":
        measured = sorted(
            (m for m in models if latency(m) is not None), key=lambda m: (latency(m), *price_key(m), m.id)
        )
        rest = sorted((m for m in models if latency(m) is None), key=lambda m: (*price_key(m), m.id))
        for i, m in enumerate(measured, 1):
            why[m.id] = f"#{i} fastest {of_n}: measured p50 first token {latency(m):.3g}s"
        for m in rest:
            why[m.id] = f"not measured yet: after the {len(measured)} measured, cheapest first {of_n}"
        return measured + rest, why
    # balanced: tiers by distance from the candidates' median price on a log2 scale
    # (tier 1: within 2x of the median, tier 2: 2-4x, ...), measured-fastest first in a tier.
    known = sorted(p for p in (_price(m) for m in models) if p is not None)
    if not known:
        return cheapest_order(models, why)
    positive = [p for p in known if p > 0]
    median = positive[(len(positive) - 1) // 2] if positive else Decimal(0)
    floor = positive[0] / 2 if positive else Decimal(1)

    def distance(m: Model) -> float:
        price = _price(m)
        if price is None:
            return math.inf
        return abs(math.log2(float(max(price, floor) / max(median, floor))))

    def balanced_key(m: Model) -> Tuple[float, bool, float, float, str]:
        d = distance(m)
        seconds = latency(m)
        return (math.floor(d) if math.isfinite(d) else math.inf, seconds is None, seconds or 0.0, d, m.id)

    ordered = sorted(models, key=balanced_key)
    middle = f"the median price {of_n} ({_usd(median * _MILLION)}/M in+out)"
    for m in ordered:
        price = _price(m)
        seconds = latency(m)
        if price is None:
            why[m.id] = "price unknown: last"
            continue
        where = "free" if price == 0 else f"{float(price / median):.2g}x {middle}"
        tier = math.floor(distance(m)) + 1
        speed = f"measured p50 first token {seconds:.3g}s" if seconds is not None else "not measured yet"
        why[m.id] = f"price tier {tier}: {where}; {speed}"
    return ordered, why


def _resolve_route(route: Route, catalog: Catalog, latencies: Mapping[str, float]) -> ResolvedRoute:
    key = f"routes.{route.name}"
    notes: Dict[str, str] = {}
    pool: List[Model] = []
    passthrough: List[str] = []
    free_aside: List[Model] = []
    if route.models:
        for i, model_id in enumerate(route.models):
            model, note = _check_id(model_id, f"{key}.models[{i}]", catalog)
            if model is None:
                passthrough.append(model_id)
            else:
                pool.append(model)
            if note:
                notes[model_id] = note
        origin = f"the {_count(len(route.models), 'listed model')}"
    else:
        priced = [m for m in catalog if not _is_router(m)]
        pool = priced if route.prefer_free else [m for m in priced if not m.is_free]
        free_aside = [] if route.prefer_free else [m for m in priced if m.is_free]
        origin = f"{_count(len(pool), 'priced model')} in the catalog"
        if free_aside and not pool:
            raise RoutingError(
                "the catalog has only free models",
                key=f"{key}.prefer_free",
                suggestion="set prefer_free = true to use them",
            )
    dropped: List[Tuple[str, str]] = []
    steps = _steps(route)
    for step_key, keep, why_not, hint in steps:
        kept = [m for m in pool if keep(m)]
        if not kept and pool and not passthrough:
            suggestion = hint(pool)
            qualifying = [m for m in free_aside if all(step[1](m) for step in steps)]
            if qualifying:
                suggestion += f"; or set prefer_free = true: {_count(len(qualifying), 'free model')} would qualify"
            raise RoutingError(
                f"no model meets the requirements ({route.describe_requirements() or 'none'}) from {origin}",
                key=f"{key}.{step_key}",
                suggestion=suggestion,
            )
        if route.models:
            dropped += [(m.id, why_not(m)) for m in pool if not keep(m)]
        pool = kept
    if not pool and not passthrough:
        raise RoutingError(
            "the catalog has no priced model to choose from",
            key=key,
            suggestion="list models explicitly, or check that the catalog loaded",
        )
    mode = route.effective_mode
    ordered, why = _order(pool, mode, latencies, _having(route))
    ids = [m.id for m in ordered]
    if mode == "ordered":
        ids = [m for m in route.models if m in ids or m in passthrough]
        why.update({m: f"listed #{route.models.index(m) + 1} in models" for m in ids})
    else:
        ids += passthrough
        why.update({m: "not in the catalog (OpenRouter resolves it): last" for m in passthrough})
    if route.prefer_free:
        free_ids = {m.id for m in ordered if m.is_free}
        ids = [m for m in ids if m in free_ids] + [m for m in ids if m not in free_ids]
        for m in free_ids:
            why[m] = "free, first because of prefer_free; " + why[m]
    chain = tuple(ids[: route.effective_max_models])
    reasons = []
    for model_id in chain:
        text = why[model_id]
        if model_id in notes:
            text += f" ({notes[model_id]})"
        reasons.append((model_id, text))
    return ResolvedRoute(
        name=route.name,
        kind="route",
        chain=chain,
        reasons=tuple(reasons),
        mode=mode,
        candidates=len(ids),
        dropped=tuple(dropped),
        providers=None if route.providers is None else MappingProxyType(copy.deepcopy(dict(route.providers))),
        max_retries=route.max_retries,
        hedge_after=route.hedge_after,
        deadline_s=route.deadline_s,
        max_cost_per_request=route.max_cost_per_request,
    )


# ------------------------------------------------------------------------------- TOML


def _tomllib() -> Any:
    """``tomllib`` (3.11+) or ``tomli``; a clear ImportError when neither is present."""
    for name in ("tomllib", "tomli"):
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    raise ImportError("reading TOML on Python < 3.11 needs the tomli package: pip install tomli")


def _toml_key(key: str) -> str:
    return key if _BARE_KEY_RE.match(key) else _toml_string(key)


def _toml_string(text: str) -> str:
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def _toml_money(amount: Decimal) -> str:
    if amount == amount.to_integral_value() and abs(amount) < 2**53:
        return str(int(amount))
    as_float = float(amount)
    if math.isfinite(as_float) and Decimal(repr(as_float)) == amount:
        return repr(as_float)
    return _toml_string(str(amount))


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, Decimal):
        return _toml_money(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        if not value:
            return "{}"
        return "{ " + ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")
