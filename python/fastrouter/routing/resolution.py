"""Resolving a route against the catalog: the pool, the requirement steps, the mode's order, :class:`ResolvedRoute`."""

from __future__ import annotations

import copy
import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from operator import attrgetter
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from .._format import did_you_mean, trim, usd
from ..catalog import DYNAMIC_VARIANTS, Catalog, Model
from ..errors import RoutingError

if TYPE_CHECKING:
    from .config import AliasOptions, Route


_MILLION = Decimal(1_000_000)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


@dataclass(frozen=True)
class ResolvedRoute:
    """What a name resolves to against a catalog: the ``chain`` of model ids to try in
    order, with the route's settings for the request.

    - ``kind``: ``"alias"``, ``"route"`` or ``"cascade"``; ``mode``: the effective mode
      (``None`` for aliases and cascades). A cascade's ``chain`` is every model its tiers
      may call, cheapest tier first; ``cascade`` is the :class:`~fastrouter.Cascade`.
    - ``reasons``: ``(model_id, why)`` for each model of the chain, in chain order.
    - ``dropped``: ``(model_id, why)`` for listed models a requirement ruled out.
    - ``candidates``: how many models met the requirements (before ``max_models``).
    - ``providers``: OpenRouter ``provider`` preferences to send (``None``: none).
    - ``max_retries``, ``hedge_after``, ``deadline_s``, ``max_cost_per_request``: the
      route's failover and cost settings (``None``: the client's).
    - ``params``: request defaults, merged under the call's values; ``spread``: share
      traffic across the chain (``weights``: shares by member) instead of its order.
    - ``unknown``: ids the catalog does not list, passed through as they are (a
      ``strict`` routing raises instead).
    - ``ranked``: every candidate in mode order (``chain`` is its first ``max_models``),
      so a per-request cost cap can choose among all of them.
    """

    name: str
    kind: str
    chain: tuple[str, ...]
    reasons: tuple[tuple[str, str], ...]
    mode: str | None = None
    candidates: int = 0
    dropped: tuple[tuple[str, str], ...] = ()
    providers: Mapping[str, Any] | None = field(default=None, hash=False)
    max_retries: int | None = None
    hedge_after: float | None = None
    deadline_s: float | None = None
    max_cost_per_request: Decimal | None = None
    params: Mapping[str, Any] | None = field(default=None, hash=False)
    spread: bool = False
    weights: Mapping[str, float] | None = field(default=None, hash=False)
    unknown: tuple[str, ...] = ()
    ranked: tuple[str, ...] = field(default=(), compare=False, repr=False)
    cascade: Any | None = field(default=None, hash=False)


# ----------------------------------------------------------------------- catalog view


def _per_token(value: Decimal | None) -> Decimal | None:
    """A catalog price, ``None`` when unknown or dynamic (negative, e.g. ``"-1"``)."""
    return value if value is not None and value >= 0 else None


def _price(model: Model) -> Decimal | None:
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


# Each requirement a route may set: its key, how ``Route.describe_requirements`` says it,
# and how a chain's reasons say it (``None``: not said there).
_REQUIREMENT_PHRASES: tuple[tuple[str, Callable[[Any], str], Callable[[Any], str] | None], ...] = (
    ("supports", lambda v: "supports " + ", ".join(v), ", ".join),
    ("input_modalities", lambda v: "accepts " + ", ".join(v), lambda v: ", ".join(f"{m} input" for m in v)),
    ("output_modalities", lambda v: "outputs " + ", ".join(v), lambda v: ", ".join(f"{m} output" for m in v)),
    ("min_context", lambda v: f"context >= {v:,}", lambda v: f">={_short_context(v)} context"),
    ("max_prompt_price_per_m", lambda v: f"prompt <= {usd(v)}/M", lambda v: f"prompt <={usd(v)}/M"),
    ("max_completion_price_per_m", lambda v: f"completion <= {usd(v)}/M", lambda v: f"completion <={usd(v)}/M"),
    ("authors", lambda v: "by " + ", ".join(v), lambda v: "by " + "/".join(v)),
    ("exclude", lambda v: "excluding " + ", ".join(v), None),
)


def requirement_phrases(route: Route, *, in_reasons: bool = False) -> list[str]:
    """The requirements ``route`` sets, one phrase each (as its reasons say them, or in full)."""
    phrases = []
    for key, full, brief in _REQUIREMENT_PHRASES:
        value = getattr(route, key)
        say = brief if in_reasons else full
        if value is not None and value != () and say is not None:
            phrases.append(say(value))
    return phrases


def _having(route: Route) -> str:
    """The route's requirements as a phrase for reasons: ``" with tools, >=100k context"``."""
    parts = requirement_phrases(route, in_reasons=True)
    listed = " listed" if route.models else ""
    return f"{listed} with {', '.join(parts)}" if parts else listed


def _per_million(value: Decimal | None) -> str:
    value = _per_token(value)
    return "?" if value is None else usd(value * _MILLION)


def _unknown_id_error(model_id: str, key: str, catalog: Catalog) -> RoutingError:
    close = catalog.suggest(model_id)
    return RoutingError(
        f"unknown model id {model_id!r}: not in the catalog",
        key=key,
        suggestion="did you mean " + ", ".join(repr(c) for c in close) + "?"
        if close
        else "see `fastrouter.Catalog.search()` or https://openrouter.ai/models",
    )


UNKNOWN_NOTE = "not in the catalog: passed through as is"


def _check_id(model_id: str, key: str, catalog: Catalog, strict: bool = True) -> tuple[Model | None, str]:
    """The catalog model for ``model_id`` (with ``model_id`` as its id) and a note, or
    ``None`` when OpenRouter resolves the id (``~`` aliases, presets), when another backend
    serves it (``NAME::model``) or, unless ``strict`` (then it raises), when the catalog
    does not list it (note: :data:`UNKNOWN_NOTE`)."""
    if "::" in model_id:
        return None, f"served by the {model_id.partition('::')[0]!r} backend"
    model = catalog.get(model_id)
    if model is None:
        if model_id.startswith(("~", "@")) or "@preset/" in model_id:
            return None, "not in the catalog: OpenRouter resolves it"
        if not strict:
            return None, UNKNOWN_NOTE
        raise _unknown_id_error(model_id, key, catalog)
    note = ""
    base, _, variant = model_id.rpartition(":")
    if model.id != model_id:  # a canonical slug
        note = f"canonical slug of {model.id}"
        model = dataclasses.replace(model, id=model_id)
    elif base and variant in DYNAMIC_VARIANTS:
        note = f":{variant} variant of {base}, priced as it"
    return model, note


def _resolve_alias(
    name: str, ids: tuple[str, ...], catalog: Catalog, options: AliasOptions | None = None, strict: bool = True
) -> ResolvedRoute:
    reasons = []
    unknown = []
    for i, model_id in enumerate(ids):
        _, note = _check_id(model_id, f"aliases.{name}[{i}]", catalog, strict)
        if note == UNKNOWN_NOTE:
            unknown.append(model_id)
        reasons.append((model_id, f"listed #{i + 1} in the alias" + (f" ({note})" if note else "")))
    spread = options is not None and options.mode == "spread"
    return ResolvedRoute(
        name=name,
        kind="alias",
        chain=ids,
        reasons=tuple(reasons),
        mode="spread" if spread else None,
        candidates=len(ids),
        max_cost_per_request=options.max_cost_per_request if options is not None else None,
        params=options.params if options is not None else None,
        spread=spread,
        weights=options.weights if options is not None else None,
        unknown=tuple(unknown),
        ranked=tuple(ids),
    )


# A filter step: config key, predicate, why a model fails it, suggestion when it empties the set.
_Step = tuple[str, Callable[[Model], bool], Callable[[Model], str], Callable[[list[Model]], str]]


def _modality_step(key: str, modality: str, fails: str, verb: str, verb_plural: str) -> _Step:
    """The step keeping the models that output (or accept) ``modality``: ``key`` is
    ``output_modalities`` or ``input_modalities``, the architecture list it reads."""
    listed: Callable[[Model], Sequence[str]] = attrgetter(f"architecture.{key}")

    def has(m: Model) -> bool:
        return modality in listed(m)

    def why(_: Model) -> str:
        return fails

    def hint(before: list[Model]) -> str:
        have = sorted({x for m in before for x in listed(m)})
        return f"none of the {_remaining(before)} {verb} {modality!r}; they {verb_plural}: {', '.join(have)}"

    return (key, has, why, hint)


def _steps(route: Route) -> list[_Step]:
    steps: list[_Step] = []
    outputs = route.output_modalities or ("text",)
    for modality in outputs:
        steps.append(_modality_step("output_modalities", modality, f"does not output {modality}", "outputs", "output"))
    for modality in route.input_modalities:
        steps.append(
            _modality_step("input_modalities", modality, f"does not accept {modality} input", "accepts", "accept")
        )
    for feature in route.supports:

        def supports(m: Model, x: str = feature) -> bool:
            return m.supports(x)

        def no_support(_: Model, x: str = feature) -> str:
            return f"does not support {x}"

        def support_hint(before: list[Model], x: str = feature) -> str:
            return f"none of the {_remaining(before)} supports {x!r}; drop it from supports or widen the pool"

        steps.append(("supports", supports, no_support, support_hint))
    if route.min_context is not None:
        least = route.min_context

        def long_enough(m: Model) -> bool:
            return (m.context_length or 0) >= least

        def too_short(m: Model) -> str:
            return f"context {m.context_length or 0:,} < {least:,}"

        def context_hint(before: list[Model]) -> str:
            best = max((m.context_length or 0) for m in before)
            return f"the largest context among the {_remaining(before)} is {best:,}: lower min_context to {best}"

        steps.append(("min_context", long_enough, too_short, context_hint))
    for key, ceiling, part in (
        ("max_prompt_price_per_m", route.max_prompt_price_per_m, "prompt"),
        ("max_completion_price_per_m", route.max_completion_price_per_m, "completion"),
    ):
        if ceiling is None:
            continue
        per_token = ceiling / _MILLION

        def cheap_enough(m: Model, limit: Decimal = per_token, p: str = part) -> bool:
            value = _per_token(getattr(m.pricing, p))
            return value is not None and value <= limit

        def too_dear(m: Model, limit: Decimal = ceiling, p: str = part) -> str:
            return f"{p} {_per_million(getattr(m.pricing, p))}/M > {usd(limit)}/M"

        def price_hint(before: list[Model], k: str = key, p: str = part) -> str:
            known = [v for v in (_per_token(getattr(m.pricing, p)) for m in before) if v is not None]
            if not known:
                return f"no remaining model has a known {p} price"
            least = trim(min(known) * _MILLION)
            cheapest = f"the cheapest of the {_remaining(before)} costs {usd(least)}/M {p}"
            return f"{cheapest}: raise {k} to at least {least:f}"

        steps.append((key, cheap_enough, too_dear, price_hint))
    if route.authors:
        authors = tuple(a.lower() for a in route.authors)

        def by_author(m: Model) -> bool:
            return m.author.lower() in authors

        def other_author(m: Model) -> str:
            return f"by {m.author}, not {', '.join(authors)}"

        def author_hint(before: list[Model]) -> str:
            have = sorted({m.author for m in before})
            hint = next((h for h in (did_you_mean(a, have) for a in authors) if h), None)
            return hint or f"authors among the {_remaining(before)}: {', '.join(have[:20])}"

        steps.append(("authors", by_author, other_author, author_hint))
    if route.exclude:
        excluded = route.exclude

        def not_excluded(m: Model) -> bool:
            return m.id not in excluded

        def is_excluded(_: Model) -> str:
            return "excluded"

        def exclude_hint(before: list[Model]) -> str:
            return "every remaining model is excluded: remove some ids from exclude"

        steps.append(("exclude", not_excluded, is_excluded, exclude_hint))
    return steps


def _order(
    models: list[Model], mode: str, latencies: Mapping[str, float], having: str
) -> tuple[list[Model], dict[str, str]]:
    """The models in ``mode`` order, and why, per model id (``having``: the requirements
    as a phrase, ``" with tools"``)."""
    n = len(models)
    of_n = f"of {_count(n, 'model')}{having}"

    def price_key(m: Model) -> tuple[bool, Decimal]:
        price = _price(m)
        return (price is None, price if price is not None else Decimal(0))

    def latency(m: Model) -> float | None:
        value = latencies.get(m.id)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            return None
        return float(value)

    why: dict[str, str] = {}
    if mode == "ordered":
        ordered = list(models)
        for i, m in enumerate(ordered, 1):
            why[m.id] = f"listed #{i} in models"
        return ordered, why

    def cheapest_order(models: list[Model], why: dict[str, str]) -> tuple[list[Model], dict[str, str]]:
        ordered = sorted(models, key=lambda m: (*price_key(m), -(m.context_length or 0), m.id))
        for i, m in enumerate(ordered, 1):
            known = _price(m) is not None
            why[m.id] = f"#{i} cheapest {of_n}" if known else "price unknown: last"
        return ordered, why

    if mode == "cheapest":
        return cheapest_order(models, why)
    if mode == "quality":

        def quality_key(m: Model) -> tuple[bool, Decimal, int, str]:
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

    def balanced_key(m: Model) -> tuple[float, bool, float, float, str]:
        d = distance(m)
        seconds = latency(m)
        return (math.floor(d) if math.isfinite(d) else math.inf, seconds is None, seconds or 0.0, d, m.id)

    ordered = sorted(models, key=balanced_key)
    middle = f"the median price {of_n} ({usd(median * _MILLION)}/M in+out)"
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


def _resolve_route(
    route: Route, catalog: Catalog, latencies: Mapping[str, float], strict: bool = True
) -> ResolvedRoute:
    key = f"routes.{route.name}"
    notes: dict[str, str] = {}
    pool: list[Model] = []
    passthrough: list[str] = []
    free_aside: list[Model] = []
    unknown: list[str] = []
    if route.models:
        for i, model_id in enumerate(route.models):
            model, note = _check_id(model_id, f"{key}.models[{i}]", catalog, strict)
            if note == UNKNOWN_NOTE:
                unknown.append(model_id)
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
    dropped: list[tuple[str, str]] = []
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
        why.update({m: "after the ranked models" for m in passthrough})
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
        mode="spread" if route.mode == "spread" else mode,
        candidates=len(ids),
        dropped=tuple(dropped),
        providers=None if route.providers is None else MappingProxyType(copy.deepcopy(dict(route.providers))),
        max_retries=route.max_retries,
        hedge_after=route.hedge_after,
        deadline_s=route.deadline_s,
        max_cost_per_request=route.max_cost_per_request,
        params=route.params,
        spread=route.mode == "spread",
        weights=route.weights,
        unknown=tuple(unknown),
        ranked=tuple(ids),
    )
