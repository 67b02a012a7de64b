"""``fastrouter models``: search and inspect the model catalog from the command line.

``fastrouter models search [TEXT] [filters]`` prints one row per model (prices in USD per
million tokens, context, modalities, capabilities); ``fastrouter models show ID`` prints
everything about one model; ``fastrouter models endpoints ID`` its providers. The catalog
comes through :class:`~fastrouter.catalog.CatalogLoader` with the disk cache, so repeated
commands do not refetch it and ``--offline`` works from the cached copy.

:func:`add_models_commands` registers the commands on the ``fastrouter`` parser.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING
from urllib.parse import quote

from ..catalog import (
    PER_TOKEN_PRICES,
    PRICE_FIELDS,
    SORT_KEYS,
    Catalog,
    Model,
    ModelEndpoints,
)
from ..errors import FastrouterError

if TYPE_CHECKING:
    _SubParsers = argparse._SubParsersAction[argparse.ArgumentParser]

from .._format import format_age, table
from ._common import add_network_options, client_for, fmt_price, fmt_tokens, http_errors, run_alone

__all__ = ["add_models_commands", "CatalogSource", "EndpointsSource"]

CatalogSource = Callable[[argparse.Namespace], Catalog]
"""How a command gets the catalog from its parsed arguments (``--base-url``,
``--offline``, ``--refresh``)."""

EndpointsSource = Callable[[argparse.Namespace, str], ModelEndpoints]
"""How ``models endpoints`` gets one model's endpoints from its parsed arguments and id."""

_PRICE_UNITS: Mapping[str, str] = {"request": "request", "image": "image", "web_search": "search"}
_CAPABILITIES: tuple[tuple[str, str], ...] = (
    ("tools", "tools"),
    ("reasoning", "reasoning"),
    ("structured_outputs", "structured"),
    ("response_format", "json"),
    ("caching", "caching"),
    ("web_search", "web"),
)
_FAILURES = (OSError, FastrouterError, ValueError)


# ------------------------------------------------------------------------------ fetching


def _fetch_catalog(args: argparse.Namespace) -> Catalog:
    """The catalog of ``--base-url`` (else ``OPENROUTER_BASE_URL``, else OpenRouter), all
    output modalities, through the disk cache."""
    with (
        client_for(args.base_url, args.api_key) as client,
        http_errors(f"{client.base_url}/models?output_modalities=all"),
    ):
        return client.models.list(refresh=args.refresh, offline=args.offline)


def _fetch_endpoints(args: argparse.Namespace, model_id: str) -> ModelEndpoints:
    """``GET {base_url}/models/{id}/endpoints`` (not cached)."""
    with (
        client_for(args.base_url, args.api_key) as client,
        http_errors(f"{client.base_url}/models/{quote(model_id, safe='/:')}/endpoints"),
    ):
        return client.models.endpoints(model_id)


# ---------------------------------------------------------------------------- formatting


def _modalities(model: Model) -> str:
    arch = model.architecture
    if arch.modality:
        return arch.modality
    if arch.input_modalities or arch.output_modalities:
        return "+".join(arch.input_modalities) + "->" + "+".join(arch.output_modalities)
    return "-"


def _capabilities(model: Model) -> list[str]:
    found = [label for feature, label in _CAPABILITIES if model.supports(feature)]
    if "structured" in found and "json" in found:
        found.remove("json")  # structured outputs imply JSON mode
    return found


def _note_staleness(args: argparse.Namespace, catalog: Catalog) -> None:
    # A failed refresh is reported by the loader (a warning on the "fastrouter" logger,
    # printed to stderr when logging is not configured); --offline is silent, so say it here.
    if catalog.stale and args.offline:
        print(f"note: offline; the cached catalog is {format_age(catalog.age_s)} old", file=sys.stderr)


# ------------------------------------------------------------------------------ commands


def _get_catalog(args: argparse.Namespace) -> Catalog | None:
    source: CatalogSource = args.catalog_source
    try:
        return source(args)
    except _FAILURES as exc:
        print(f"fastrouter: could not get the model catalog: {exc}", file=sys.stderr)
        return None


def _search(args: argparse.Namespace) -> int:
    catalog = _get_catalog(args)
    if catalog is None:
        return 1
    try:
        models = _run_search(catalog, args)
    except ValueError as exc:  # a near-miss filter value: "did you mean ...?"
        print(f"fastrouter: {exc}", file=sys.stderr)
        return 2
    _note_staleness(args, catalog)
    if not models:
        print(f"no models match (catalog: {len(catalog)} models)")
        return 0
    return _print_models(catalog, models, args)


def _run_search(catalog: Catalog, args: argparse.Namespace) -> list[Model]:
    return catalog.search(
        " ".join(args.text) or None,
        provider=_split(args.provider),
        supports=_split(args.supports),
        input_modalities=_split(args.input_modality),
        output_modalities=_split(args.output_modality),
        min_context=args.min_context,
        max_prompt_price_per_m=args.max_prompt_price,
        max_completion_price_per_m=args.max_completion_price,
        free=args.free,
        sort=args.sort,
        limit=args.limit,
    )


def _print_models(catalog: Catalog, models: list[Model], args: argparse.Namespace) -> int:
    rows = [
        [
            m.id,
            fmt_tokens(m.context_length),
            fmt_price(m.pricing, "prompt"),
            fmt_price(m.pricing, "completion"),
            _modalities(m),
            ", ".join(_capabilities(m)),
        ]
        for m in models
    ]
    print(table(rows, ["MODEL", "CONTEXT", "$/M IN", "$/M OUT", "MODALITIES", "CAPABILITIES"], right=(1, 2, 3)))
    print()
    print(
        f"{len(models)} model{'s' if len(models) != 1 else ''} (of {len(catalog)}; sorted by {args.sort}; "
        f"prices in USD per million tokens; catalog fetched {format_age(catalog.age_s)} ago)"
    )
    return 0


def _show(args: argparse.Namespace) -> int:
    catalog = _get_catalog(args)
    if catalog is None:
        return 1
    try:
        model = catalog[args.id]
    except KeyError as exc:
        print(f"fastrouter: {exc.args[0]}", file=sys.stderr)
        return 1
    _note_staleness(args, catalog)
    arch, top = model.architecture, model.top_provider
    created = time.strftime("%Y-%m-%d", time.gmtime(model.created)) if model.created is not None else "-"
    facts: list[tuple[str, str]] = [
        ("name", model.name),
        ("author", model.author or "-"),
        ("created", created),
        ("context", f"{model.context_length:,} tokens" if model.context_length is not None else "-"),
        ("max output", f"{top.max_completion_tokens:,} tokens" if top.max_completion_tokens is not None else "-"),
        ("modality", _modalities(model)),
        ("input", ", ".join(arch.input_modalities) or "-"),
        ("output", ", ".join(arch.output_modalities) or "-"),
        ("tokenizer", arch.tokenizer or "-"),
        ("moderated", "yes" if top.is_moderated else "no"),
        ("capabilities", ", ".join(_capabilities(model)) or "-"),
        ("parameters", ", ".join(model.supported_parameters) or "-"),
    ]
    if model.variant:
        facts.insert(1, ("variant", model.variant))
    if model.is_router:
        facts.append(("router", "yes: picks a model per request; prices vary"))
    if model.canonical_slug:
        facts.append(("canonical slug", model.canonical_slug))
    if model.hugging_face_id:
        facts.append(("hugging face", model.hugging_face_id))
    print(model.id)
    print(table([[k, v] for k, v in facts], indent="  "))

    prices: list[list[str]] = []
    for name in (*PRICE_FIELDS, *model.pricing.extra):
        text = fmt_price(model.pricing, name)
        if text == "-":
            continue
        unit = "per million tokens" if name in PER_TOKEN_PRICES else f"per {_PRICE_UNITS.get(name, 'unit')}"
        prices.append([name, text, "" if text == "varies" else unit])
    print()
    print("pricing (USD)")
    print(table(prices, right=(1,), indent="  ") if prices else "  not listed")
    if model.description:
        print()
        print("description")
        print(_indent(model.description))
    return 0


def _endpoints(args: argparse.Namespace) -> int:
    source: EndpointsSource = args.endpoints_source
    try:
        result = source(args, args.id)
    except _FAILURES as exc:
        print(f"fastrouter: could not get the endpoints of {args.id!r}: {exc}", file=sys.stderr)
        return 1
    print(f"{result.id}  ({result.name})")
    if not result.endpoints:
        print("no endpoints")
        return 0
    rows = []
    for e in result:
        uptime = f"{e.uptime_last_30m:.1f}%" if e.uptime_last_30m is not None else "-"
        status = "-" if e.status is None else ("ok" if not e.is_degraded else f"degraded ({e.status})")
        rows.append(
            [
                e.provider_name or "-",
                e.tag or "-",
                fmt_tokens(e.context_length),
                fmt_tokens(e.max_completion_tokens),
                fmt_price(e.pricing, "prompt"),
                fmt_price(e.pricing, "completion"),
                e.quantization or "-",
                uptime,
                status,
            ]
        )
    headers = ["PROVIDER", "TAG", "CONTEXT", "MAX OUT", "$/M IN", "$/M OUT", "QUANT", "UPTIME 30M", "STATUS"]
    print(table(rows, headers, right=(2, 3, 4, 5, 7)))
    return 0


def _indent(text: str, width: int = 88) -> str:
    import textwrap

    paragraphs = [p for p in text.split("\n") if p.strip()]
    return "\n".join(textwrap.fill(p, width, initial_indent="  ", subsequent_indent="  ") for p in paragraphs)


# ------------------------------------------------------------------------------- parsing


def _split(values: list[str] | None) -> tuple[str, ...]:
    """Repeated and comma-separated values: ``--supports tools,reasoning --supports seed``."""
    return tuple(part.strip() for value in values or () for part in value.split(",") if part.strip())


def _tokens_arg(text: str) -> int:
    """``128000``, ``128k``, ``1m``, ``1_000_000``."""
    cleaned = text.strip().lower().replace("_", "").replace(",", "")
    scale = 1
    if cleaned.endswith(("k", "m")):
        scale = 1000 if cleaned[-1] == "k" else 1_000_000
        cleaned = cleaned[:-1]
    try:
        value = Decimal(cleaned) * scale
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"not a number of tokens: {text!r} (e.g. 128000, 128k, 1m)") from None
    if value < 0 or value != value.to_integral_value():
        raise argparse.ArgumentTypeError(f"not a number of tokens: {text!r}")
    return int(value)


def _per_million_arg(text: str) -> Decimal:
    """USD per million tokens on the command line (as ``search(..._per_m=)`` takes it)."""
    try:
        value = Decimal(text.strip().lstrip("$"))
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"not a price in USD per million tokens: {text!r}") from None
    if not value.is_finite() or value < 0:
        raise argparse.ArgumentTypeError(f"not a price in USD per million tokens: {text!r}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative: {text!r}")
    return value


def _source_options() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    add_network_options(common)
    freshness = common.add_mutually_exclusive_group()
    freshness.add_argument("--offline", action="store_true", help="use the cached catalog only, however old")
    freshness.add_argument("--refresh", action="store_true", help="fetch the catalog even if the cached copy is fresh")
    return common


def add_models_commands(
    subparsers: _SubParsers,
    *,
    catalog_source: CatalogSource | None = None,
    endpoints_source: EndpointsSource | None = None,
) -> argparse.ArgumentParser:
    """Register ``models search``, ``models show`` and ``models endpoints`` on the
    ``fastrouter`` command's subparsers (each sets ``run``, called as ``args.run(args)``
    and returning the exit code). ``catalog_source`` / ``endpoints_source`` replace how the
    catalog and endpoints are fetched (default: the client's catalog, through the disk cache).
    Returns the ``models`` parser."""
    common = _source_options()
    models = subparsers.add_parser("models", help="search and inspect the model catalog")
    models.set_defaults(
        catalog_source=catalog_source or _fetch_catalog,
        endpoints_source=endpoints_source or _fetch_endpoints,
    )
    commands = models.add_subparsers(dest="models_command", required=True, metavar="{search,show,endpoints}")

    search = commands.add_parser(
        "search",
        parents=[common],
        help="find models by text, provider, capabilities, modalities, context and price",
        description="Find models; every filter must match. Prices are USD per million tokens.",
    )
    search.add_argument("text", nargs="*", help="words that must all occur in the id, name or description")
    search.add_argument(
        "--provider", action="append", metavar="AUTHOR", help="model author, e.g. anthropic (repeatable)"
    )
    search.add_argument(
        "--supports",
        action="append",
        metavar="FEATURE",
        help="tools, reasoning, structured_outputs, json, vision, caching, web_search or any request parameter "
        "(repeatable, comma-separated)",
    )
    search.add_argument(
        "--input-modality", action="append", metavar="MODALITY", help="text, image, file, audio, video (repeatable)"
    )
    search.add_argument(
        "--output-modality", action="append", metavar="MODALITY", help="text, image, audio, embeddings (repeatable)"
    )
    search.add_argument("--min-context", type=_tokens_arg, metavar="TOKENS", help="at least this context (128k, 1m)")
    search.add_argument(
        "--max-prompt-price", type=_per_million_arg, metavar="USD", help="at most this prompt price per million tokens"
    )
    search.add_argument(
        "--max-completion-price",
        type=_per_million_arg,
        metavar="USD",
        help="at most this completion price per million tokens",
    )
    paid = search.add_mutually_exclusive_group()
    paid.add_argument("--free", dest="free", action="store_const", const=True, default=None, help="free models only")
    paid.add_argument("--paid", dest="free", action="store_const", const=False, help="paid models only")
    search.add_argument("--sort", choices=SORT_KEYS, default="price", help="order (default: price)")
    search.add_argument("--limit", type=_positive_int, default=None, metavar="N", help="show at most N models")
    search.set_defaults(run=_search)

    show = commands.add_parser("show", parents=[common], help="everything about one model")
    show.add_argument("id", help="model id, e.g. anthropic/claude-opus-4")
    show.set_defaults(run=_show)

    endpoints = commands.add_parser("endpoints", parents=[common], help="the providers serving one model")
    endpoints.add_argument("id", help="model id, e.g. anthropic/claude-opus-4")
    endpoints.set_defaults(run=_endpoints)
    return models


def main(argv: list[str] | None = None) -> int:
    """Run ``fastrouter models ...`` on its own: ``main(["models", "search", "claude"])``."""
    return run_alone(add_models_commands, argv)


if __name__ == "__main__":
    sys.exit(main())
