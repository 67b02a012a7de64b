"""The routing configuration itself: :class:`Route`, :class:`Routing` (aliases, routes, budgets, default route)."""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._format import did_you_mean
from ..cascade.tiers import Cascade
from ..catalog import FEATURE_ALIASES, Catalog
from ..errors import RoutingError
from ..limits.limit import Limit
from ..usage.budget import UNKNOWN_PRICE_POLICIES, Budget
from .backends import Backend
from .explain import explain_route
from .resolution import ResolvedRoute, _resolve_alias, _resolve_route, requirement_phrases
from .toml_io import _toml_key, _toml_money, _toml_value, _tomllib
from .validation import (
    _ALIAS_KEYS,
    _BUDGET_KEYS,
    _CHAIN_KEYS,
    _DEPRECATED_ROUTE_KEYS,
    _KNOWN_FEATURES,
    _KNOWN_INPUT_MODALITIES,
    _KNOWN_OUTPUT_MODALITIES,
    _MONEY_KEYS,
    _ROUTE_KEYS,
    _TOP_KEYS,
    ALIAS_MODES,
    BUDGET_PERIODS,
    MODES,
    _check_bool,
    _check_choice,
    _check_int,
    _check_keys,
    _check_known,
    _check_name,
    _check_params,
    _check_providers,
    _check_seconds,
    _check_str,
    _check_str_list,
    _check_table,
    _check_usd,
    _check_weights,
    _type_error,
)

if TYPE_CHECKING:
    from os import PathLike


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
    - ``max_prompt_price_per_m`` / ``max_completion_price_per_m``: ceilings in **USD per million
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
    - ``max_cost_per_request``: USD ceiling for one request: candidates whose worst case
      exceeds it are skipped for that request (see :mod:`fastrouter.routing.plan`).
    - ``params``: request defaults (``{"temperature": 0.3}``); values given per call win.
    - ``weights``: with ``mode="spread"``, each member's share of traffic (default 1).
    - ``mode="spread"``: the chain is chosen as with ``ordered`` (``models`` given) or
      ``balanced``, then each request starts at a member drawn by weight and measured
      speed among the healthy ones; the rest follow as its failover order.
    - ``cascade``: a :class:`~fastrouter.Cascade` (or its table, ``{ tiers = [...],
      threshold = 0.7 }``): the route is a cascade over those tiers instead of a chain
      (pool, requirement and mode keys do not apply to it).
    """

    name: str
    models: tuple[str, ...]
    supports: tuple[str, ...]
    input_modalities: tuple[str, ...]
    output_modalities: tuple[str, ...]
    min_context: int | None
    max_prompt_price_per_m: Decimal | None
    max_completion_price_per_m: Decimal | None
    authors: tuple[str, ...]
    exclude: tuple[str, ...]
    prefer_free: bool
    providers: Mapping[str, Any] | None = field(hash=False)
    mode: str | None
    max_models: int | None
    max_retries: int | None
    hedge_after: float | None
    deadline_s: float | None
    max_cost_per_request: Decimal | None
    params: Mapping[str, Any] | None = field(hash=False)
    weights: Mapping[str, float] | None = field(hash=False)
    cascade: Cascade | None = field(hash=False)
    limit: Limit | None

    def __init__(
        self,
        name: str,
        models: Sequence[str] = (),
        *,
        supports: Sequence[str] = (),
        input_modalities: Sequence[str] = (),
        output_modalities: Sequence[str] = (),
        min_context: int | None = None,
        max_prompt_price_per_m: Decimal | float | str | None = None,
        max_completion_price_per_m: Decimal | float | str | None = None,
        authors: Sequence[str] = (),
        exclude: Sequence[str] = (),
        prefer_free: bool = False,
        providers: Mapping[str, Any] | None = None,
        mode: str | None = None,
        max_models: int | None = None,
        max_retries: int | None = None,
        hedge_after: float | None = None,
        deadline_s: float | None = None,
        max_cost_per_request: Decimal | float | str | None = None,
        cascade: Cascade | Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
        weights: Mapping[str, float] | None = None,
        max_prompt_price: Decimal | float | str | None = None,
        max_completion_price: Decimal | float | str | None = None,
        limit: Limit | Mapping[str, Any] | None = None,
    ) -> None:
        k = f"routes.{name}" if isinstance(name, str) else "routes"
        put = object.__setattr__
        if max_prompt_price is not None:
            _deprecated_key(f"{k}.max_prompt_price")
            max_prompt_price_per_m = max_prompt_price if max_prompt_price_per_m is None else max_prompt_price_per_m
        if max_completion_price is not None:
            _deprecated_key(f"{k}.max_completion_price")
            if max_completion_price_per_m is None:
                max_completion_price_per_m = max_completion_price
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
            "max_prompt_price_per_m",
            None
            if max_prompt_price_per_m is None
            else _check_usd(max_prompt_price_per_m, f"{k}.max_prompt_price_per_m", "5.0"),
        )
        put(
            self,
            "max_completion_price_per_m",
            None
            if max_completion_price_per_m is None
            else _check_usd(max_completion_price_per_m, f"{k}.max_completion_price_per_m", "15.0"),
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
        put(self, "cascade", _check_cascade(cascade, k, self))
        put(self, "params", _frozen(_check_params(params, f"{k}.params")))
        put(self, "weights", _frozen(_check_weights(weights, f"{k}.weights", self.models)))
        put(self, "limit", None if limit is None else _check_limit(limit, f"{k}.limit"))
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
        if self.mode is not None and self.mode != "spread":
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
        _check_keys(table, key, (*_ROUTE_KEYS, *_DEPRECATED_ROUTE_KEYS))
        return cls(name, **table)

    def to_dict(self) -> dict[str, Any]:
        """The route's table without its name: only the keys that differ from the defaults;
        money as decimal strings. ``Route.from_dict(r.name, r.to_dict()) == r``."""
        out: dict[str, Any] = {}
        for key in _ROUTE_KEYS:
            value = getattr(self, key)
            if value is None or value == () or value is False:
                continue
            if isinstance(value, tuple):
                value = list(value)
            elif isinstance(value, Decimal):
                value = str(value)
            elif key in ("providers", "params", "weights"):
                value = json.loads(json.dumps(dict(value)))
            elif key == "cascade" or isinstance(value, Limit):
                value = value.to_dict()
            out[key] = value
        return out

    def describe_requirements(self) -> str:
        """The requirements in words (``"supports tools, context >= 100,000"``); ``""`` if none."""
        return ", ".join(requirement_phrases(self))

    def __repr__(self) -> str:
        args = [repr(self.name)]
        for key in _ROUTE_KEYS:
            value = getattr(self, key)
            if value is None or value == () or value is False:
                continue
            args.append(f"{key}={dict(value) if isinstance(value, Mapping) else value!r}")
        return f"Route({', '.join(args)})"


def _deprecated_key(key: str) -> None:
    old = key.rsplit(".", 1)[-1]
    warnings.warn(
        f"{key}: {old!r} is now {_DEPRECATED_ROUTE_KEYS[old]!r} (same unit: USD per million tokens)",
        DeprecationWarning,
        stacklevel=4,
    )


def _frozen(value: dict[str, Any] | None) -> Mapping[str, Any] | None:
    """A checked table, kept as a plain dict (read-only by convention, so it pickles)."""
    return value


def _check_cascade(value: Any, key: str, route: Route) -> Cascade | None:
    """A route's ``cascade``: a :class:`Cascade` or its table, alone with the failover and
    cost keys (the chain keys would be ignored, so they are errors)."""
    if value is None:
        return None
    if isinstance(value, Cascade):
        cascade = value
    elif isinstance(value, Mapping):
        try:
            cascade = Cascade.from_dict(value)
        except (TypeError, ValueError) as error:
            raise RoutingError(str(error), key=f"{key}.cascade") from None
    else:
        raise _type_error(f"{key}.cascade", "a cascade table", value, '{ tiers = ["a/cheap", "b/dear"] }')
    for name in _CHAIN_KEYS:
        if getattr(route, name) not in (None, (), False):
            raise RoutingError(
                f"a cascade route takes its models from cascade.tiers, so {name!r} does not apply",
                key=f"{key}.{name}",
                suggestion="remove it, or make a separate route and use its name as a tier",
            )
    return cascade


def _check_limit(value: Any, key: str) -> Limit:
    """A :class:`~fastrouter.Limit` from a Limit or its table (``{ rpm = 60 }``)."""
    if isinstance(value, Limit):
        return value
    table = _check_table(value, key, "{ rpm = 60, concurrency = 4 }")
    try:
        return Limit.from_dict(table)
    except (TypeError, ValueError) as error:
        raise RoutingError(
            str(error), key=key, suggestion="for example { rpm = 60, tpm = 200000, concurrency = 4 }"
        ) from None


def _budget_from_dict(data: Any, key: str) -> Budget:
    """A :class:`~fastrouter.budget.Budget` from its table (``[[budgets]]``), validated
    with :class:`RoutingError` messages; unknown keys are errors."""
    table = _check_table(data, key, '{ usd = 10, per = "day" }')
    _check_keys(table, key, _BUDGET_KEYS)
    if "usd" not in table:
        raise RoutingError("missing 'usd'", key=key, suggestion="for example usd = 10")
    return Budget(
        _check_usd(table["usd"], f"{key}.usd", "10"),
        per=_check_choice(table.get("per", "total"), f"{key}.per", BUDGET_PERIODS, "budget period"),
        tags=_check_str_list(table.get("tags", ()), f"{key}.tags", '["batch"]'),
        unknown_price=_check_choice(
            table.get("unknown_price", "refuse"), f"{key}.unknown_price", UNKNOWN_PRICE_POLICIES, "policy"
        ),
    )


def _budget_to_dict(budget: Budget) -> dict[str, Any]:
    """``{"usd": "10", "per": "day"}`` (+ ``tags`` when set)."""
    out: dict[str, Any] = {"usd": str(budget.usd), "per": budget.per}
    if budget.tags:
        out["tags"] = list(budget.tags)
    if budget.unknown_price != "refuse":
        out["unknown_price"] = budget.unknown_price
    return out


@dataclass(frozen=True)
class AliasOptions:
    """What an alias written as a table adds to its list of ids: ``params`` (request
    defaults), ``mode`` (``"ordered"`` or ``"spread"``), ``weights`` (spread shares) and
    ``max_cost_per_request`` (USD)."""

    params: Mapping[str, Any] | None = field(default=None, hash=False)
    mode: str = "ordered"
    weights: Mapping[str, float] | None = field(default=None, hash=False)
    max_cost_per_request: Decimal | None = None

    def to_dict(self) -> dict[str, Any]:
        """The options as written in the alias's table (defaults left out)."""
        out: dict[str, Any] = {}
        if self.params:
            out["params"] = json.loads(json.dumps(dict(self.params)))
        if self.mode != "ordered":
            out["mode"] = self.mode
        if self.weights:
            out["weights"] = dict(self.weights)
        if self.max_cost_per_request is not None:
            out["max_cost_per_request"] = str(self.max_cost_per_request)
        return out


def _alias_from_value(name: str, value: Any) -> tuple[tuple[str, ...], AliasOptions | None]:
    """An alias's ids and options from a list (``fast = ["a", "b"]``) or a table
    (``[aliases.fast] models = [...], mode = "spread", params = {...}``)."""
    key = f"aliases.{name}"
    example = '["openai/gpt-4o-mini", "anthropic/claude-3.5-haiku"]'
    options: AliasOptions | None = None
    if isinstance(value, Mapping):
        _check_keys(value, key, _ALIAS_KEYS)
        if "models" not in value:
            raise RoutingError("missing 'models'", key=key, suggestion=f"for example models = {example}")
        chain = _check_str_list(value["models"], f"{key}.models", example)
        cap = value.get("max_cost_per_request")
        options = AliasOptions(
            params=_frozen(_check_params(value.get("params"), f"{key}.params")),
            mode=_check_choice(value.get("mode", "ordered"), f"{key}.mode", ALIAS_MODES, "alias mode"),
            weights=_frozen(_check_weights(value.get("weights"), f"{key}.weights", chain)),
            max_cost_per_request=None if cap is None else _check_usd(cap, f"{key}.max_cost_per_request", "0.01"),
        )
    else:
        chain = _check_str_list(value, key, example)
    if not chain:
        raise RoutingError(
            "an alias needs at least one model id", key=key, suggestion='for example ["openai/gpt-4o-mini"]'
        )
    for i, entry in enumerate(chain):
        backend, sep, model = entry.partition("::")
        if sep and (not backend or not model):
            raise RoutingError(
                f"{entry!r}: a backend entry is NAME::model",
                key=f"{key}[{i}]",
                suggestion='for example "groq::llama-3.1-8b-instant"',
            )
    return chain, options


@dataclass(frozen=True, init=False)
class Routing:
    """Aliases, routes and budgets; hand it to a client as ``routing=``.

    ``Routing(aliases={"fast": ["openai/gpt-4o-mini", "anthropic/claude-3.5-haiku"]},
    routes={"smart": Route("smart", supports=["tools"], mode="quality")})``. ``routes``
    maps names to :class:`Route` objects or to route tables (dicts), or is a list of
    routes; ``budgets`` holds :class:`~fastrouter.budget.Budget` objects or tables (the
    client enforces them); ``default_route`` names
    an alias or route for requests that give no model. Names are unique across aliases
    and routes and never contain ``/``, so they cannot shadow model ids.

    ``backends`` maps names to :class:`~fastrouter.routing.Backend` objects or tables
    (chains reach them as ``NAME::model``); ``strict=True`` makes ids the catalog does not
    list errors instead of pass-throughs; ``alias_options`` holds what aliases written as
    tables add (``params``, ``mode``, ``weights``, ``max_cost_per_request``; the TOML form
    is ``[aliases.NAME]``).

    ``source`` (the file it came from) only labels errors; it is not compared.
    """

    aliases: Mapping[str, tuple[str, ...]] = field(hash=False)
    routes: Mapping[str, Route] = field(hash=False)
    budgets: tuple[Budget, ...]
    default_route: str | None
    limits: Mapping[str, Limit] = field(hash=False)
    source: str | None = field(compare=False, repr=False)
    alias_options: Mapping[str, AliasOptions] = field(hash=False, repr=False)
    backends: Mapping[str, Backend] = field(hash=False)
    strict: bool = False
    _cache: dict[str, tuple[Catalog, tuple[tuple[str, float], ...], ResolvedRoute]] = field(
        init=False, compare=False, repr=False, hash=False
    )

    def __init__(
        self,
        aliases: Mapping[str, str | Sequence[str]] | None = None,
        routes: Mapping[str, Route | Mapping[str, Any]] | Sequence[Route] | None = None,
        budgets: Sequence[Budget | Mapping[str, Any]] = (),
        default_route: str | None = None,
        *,
        backends: Mapping[str, Backend | Mapping[str, Any]] | None = None,
        strict: bool = False,
        alias_options: Mapping[str, AliasOptions] | None = None,
        limits: Mapping[str, Limit | Mapping[str, Any]] | None = None,
        source: str | None = None,
    ) -> None:
        object.__setattr__(self, "source", source)
        object.__setattr__(self, "_cache", {})
        try:
            object.__setattr__(self, "strict", _check_bool(strict, "strict"))
            self._init_backends(backends)
            self._init(aliases, routes, budgets, default_route)
            for name, options in (alias_options or {}).items():
                if name not in self.aliases or not isinstance(options, AliasOptions):
                    raise RoutingError(
                        f"alias_options[{name!r}] must be an AliasOptions of a defined alias", key=f"aliases.{name}"
                    )
                self.alias_options[name] = options  # type: ignore[index]  # our own dict, while building
            table = {} if limits is None else _check_table(limits, "limits", '{ "openai/*" = { rpm = 60 } }')
            checked = {str(name): _check_limit(spec, f"limits.{name}") for name, spec in table.items()}
            object.__setattr__(self, "limits", checked)
        except RoutingError as error:
            raise error._with_source(source) from None

    def all_limits(self) -> dict[str, Limit]:
        """Every rate limit: the ``[limits]`` table (by model id, glob or ``"*"``) and each
        route's ``limit`` (under the route's name)."""
        out = dict(self.limits)
        for name, route in self.routes.items():
            if route.limit is not None:
                out[name] = route.limit
        return out

    def _init_backends(self, backends: Any) -> None:
        backend_map: dict[str, Backend] = {}
        for name, spec in _check_table(backends or {}, "backends", '{ groq = { base_url = "..." } }').items():
            if isinstance(spec, Backend):
                if spec.name != name:
                    raise RoutingError(
                        f"the backend stored under {name!r} is named {spec.name!r}", key=f"backends.{name}"
                    )
                backend_map[name] = spec
            else:
                backend_map[name] = Backend.from_dict(_check_name(name, f"backends.{name}", "backend"), spec)
        object.__setattr__(self, "backends", backend_map)

    def _check_backend_entries(self, ids: Sequence[str], key: str) -> None:
        for i, entry in enumerate(ids):
            backend, sep, _ = entry.partition("::")
            if sep and backend not in self.backends:
                names = list(self.backends)
                raise RoutingError(
                    f"unknown backend {backend!r} in {entry!r}",
                    key=f"{key}[{i}]",
                    suggestion=did_you_mean(backend, names)
                    or (f"defined backends: {', '.join(names)}" if names else f"define it under [backends.{backend}]"),
                )

    def _init(self, aliases: Any, routes: Any, budgets: Any, default_route: Any) -> None:
        alias_map: dict[str, tuple[str, ...]] = {}
        option_map: dict[str, AliasOptions] = {}
        if aliases is not None:
            for name, ids in _check_table(aliases, "aliases", '{ fast = ["openai/gpt-4o-mini"] }').items():
                key = f"aliases.{name}"
                _check_name(name, key, "alias")
                chain, options = _alias_from_value(name, ids)
                self._check_backend_entries(chain, f"{key}.models" if options is not None else key)
                alias_map[name] = chain
                if options is not None:
                    option_map[name] = options
        route_map: dict[str, Route] = {}
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
        for name, route in route_map.items():
            self._check_backend_entries(route.models, f"routes.{name}.models")
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
        budget_list: list[Budget] = []
        for i, spec in enumerate(budgets):
            budget_list.append(spec if isinstance(spec, Budget) else _budget_from_dict(spec, f"budgets[{i}]"))
        if default_route is not None:
            _check_str(default_route, "default_route", '"smart"')
            if default_route not in alias_map and default_route not in route_map:
                names = [*alias_map, *route_map]
                raise RoutingError(
                    f"{default_route!r} is neither an alias nor a route",
                    key="default_route",
                    suggestion=did_you_mean(default_route, names)
                    or (f"defined names: {', '.join(names)}" if names else "define it under [aliases] or [routes]"),
                )
        object.__setattr__(self, "aliases", alias_map)
        object.__setattr__(self, "alias_options", option_map)
        object.__setattr__(self, "routes", route_map)
        object.__setattr__(self, "budgets", tuple(budget_list))
        object.__setattr__(self, "default_route", default_route)

    # ------------------------------------------------------------------- loading

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str | None = "<dict>") -> Routing:
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
            backends=table.get("backends"),
            strict=table.get("strict", False),
            limits=table.get("limits"),
            source=source,
        )

    @classmethod
    def from_toml_str(cls, text: str, *, source: str | None = "<string>") -> Routing:
        """A routing from TOML text (``tomllib`` on Python 3.11+, else ``tomli``)."""
        toml = _tomllib()
        try:
            data = toml.loads(text)
        except toml.TOMLDecodeError as error:
            raise RoutingError(f"invalid TOML: {error}", source=source) from None
        return cls.from_dict(data, source=source)

    @classmethod
    def from_toml(cls, path: str | PathLike[str]) -> Routing:
        """A routing from a TOML file; errors name the file."""
        file = Path(path)
        try:
            text = file.read_text(encoding="utf-8")
        except OSError as error:
            raise RoutingError(f"cannot read the file: {error.strerror or error}", source=str(file)) from None
        return cls.from_toml_str(text, source=str(file))

    def to_dict(self) -> dict[str, Any]:
        """A plain, JSON-able dict in the TOML file's shape (empty sections left out;
        money as decimal strings)."""
        out: dict[str, Any] = {}
        if self.default_route is not None:
            out["default_route"] = self.default_route
        if self.strict:
            out["strict"] = True
        if self.backends:
            out["backends"] = {name: backend.to_dict() for name, backend in self.backends.items()}
        if self.aliases:
            out["aliases"] = {name: self._alias_value(name) for name in self.aliases}
        if self.routes:
            out["routes"] = {name: route.to_dict() for name, route in self.routes.items()}
        if self.budgets:
            out["budgets"] = [_budget_to_dict(b) for b in self.budgets]
        if self.limits:
            out["limits"] = {name: limit.to_dict() for name, limit in self.limits.items()}
        return out

    def to_toml(self) -> str:
        """The configuration as TOML text; ``Routing.from_toml_str(r.to_toml()) == r``.
        Money is written as a number when a float holds it exactly, else as a string."""
        lines: list[str] = []
        if self.default_route is not None:
            lines.append(f"default_route = {_toml_value(self.default_route)}")
        if self.strict:
            lines.append("strict = true")
        for name, backend in self.backends.items():
            lines += ["", f"[backends.{_toml_key(name)}]"]
            lines += [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in backend.to_dict().items()]
        if self.aliases:
            lines += ["", "[aliases]"]
            lines += [f"{_toml_key(n)} = {_toml_value(self._alias_value(n))}" for n in self.aliases]
        for name, route in self.routes.items():
            lines += ["", f"[routes.{_toml_key(name)}]"]
            for key, value in route.to_dict().items():
                text = _toml_money(Decimal(value)) if key in _MONEY_KEYS else _toml_value(value)
                lines.append(f"{key} = {text}")
        for budget in self.budgets:
            lines += ["", "[[budgets]]"]
            for key, value in _budget_to_dict(budget).items():
                lines.append(f"{key} = {_toml_money(budget.usd) if key == 'usd' else _toml_value(value)}")
        if self.limits:
            lines += ["", "[limits]"]
            lines += [f"{_toml_key(n)} = {_toml_value(limit.to_dict())}" for n, limit in self.limits.items()]
        return "\n".join(lines).lstrip("\n") + "\n"

    def _alias_value(self, name: str) -> Any:
        """An alias as written: its list of ids, or a table when it has options."""
        options = self.alias_options.get(name)
        ids = list(self.aliases[name])
        return ids if options is None else {"models": ids, **options.to_dict()}

    # ------------------------------------------------------------------- queries

    def names(self) -> tuple[str, ...]:
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
        latencies: Mapping[str, float] | None = None,
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
        measured: tuple[tuple[str, float], ...] = ()
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
                resolved = _resolve_alias(name, self.aliases[name], catalog, self.alias_options.get(name), self.strict)
            elif route.cascade is not None:
                from ..cascade.routes import resolve_cascade_route

                resolved = resolve_cascade_route(self, route, catalog, latencies or {})
            else:
                resolved = _resolve_route(route, catalog, latencies or {}, self.strict)
        except RoutingError as error:
            raise error._with_source(self.source) from None
        self._cache[name] = (catalog, measured, resolved)
        return resolved

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "_cache"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state, _cache={})

    def _unknown_name(self, name: str) -> RoutingError:
        names = self.names()
        return RoutingError(
            f"unknown route or alias {name!r}",
            source=self.source,
            suggestion=did_you_mean(name, names) or (f"defined: {', '.join(names)}" if names else "none is defined"),
        )

    def explain(
        self,
        name: str,
        catalog: Catalog,
        latencies: Mapping[str, float] | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> str:
        """A readable, multi-line account of what ``name`` resolves to: the requirements,
        the mode, each model of the chain with its price per million tokens, context and
        why it is there, the route's provider preferences, failover settings and request
        defaults; with ``params`` (a call's values) the merged request, each value marked
        ``(call)`` or ``(default)``. A route nothing can serve is explained (why, and how to
        relax it) rather than raised."""
        return explain_route(self, name, catalog, latencies, params)
