"""``fastrouter route ...`` commands: ``route explain NAME --config fastrouter.toml``.

:func:`add_route_commands` registers them on the ``fastrouter`` parser's subcommands; each
sets ``run`` (``args.run(args)`` returns the exit code): 0 on success, 1 when the model
catalog cannot be had, 2 when the configuration is invalid or the route cannot be
resolved (the :class:`~fastrouter.routing.RoutingError` goes to stderr).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from ..catalog import Catalog
from ..client import Client
from ..config import resolve_base_url
from ..errors import FastrouterError
from ..routing import Routing, RoutingError

if TYPE_CHECKING:
    _SubParsers = argparse._SubParsersAction[argparse.ArgumentParser]

from ._common import add_config_option, add_group, add_network_options, run_alone

__all__ = ["add_route_commands", "load_catalog", "main"]


def load_catalog(
    base_url: str | None = None,
    *,
    offline: bool = False,
    refresh: bool = False,
    timeout: float = 30.0,
    api_key: str | None = None,
) -> Catalog:
    """The model catalog of ``base_url`` (default ``OPENROUTER_BASE_URL``, else OpenRouter's
    API), every output modality, through the disk cache that ``fastrouter models`` shares
    (:class:`~fastrouter.catalog.CatalogLoader`): a fresh cached copy is used as is;
    ``refresh`` refetches; ``offline`` never fetches. The request carries
    ``OPENROUTER_API_KEY`` when set (the endpoint is public). Raises :class:`~fastrouter.FastrouterError`
    (network, HTTP status), ``ValueError`` (not a ``/models`` payload) or
    :class:`~fastrouter.catalog.CatalogUnavailableError` (offline with nothing cached).
    """
    with Client(base_url=base_url, api_key=api_key, timeout=timeout) as client:
        return client.models.list(refresh=refresh, offline=offline)


def _load_catalog(args: argparse.Namespace) -> Catalog:
    if args.catalog:
        with open(args.catalog, "rb") as file:
            return Catalog.from_json(file.read())
    return load_catalog(args.base_url, offline=args.offline, refresh=args.refresh, api_key=args.api_key)


def _explain(args: argparse.Namespace) -> int:
    try:
        routing = Routing.from_toml(args.config)
        if not routing.is_route(args.name):
            raise routing._unknown_name(args.name)
    except RoutingError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    try:
        catalog = _load_catalog(args)
    except (OSError, ValueError, FastrouterError) as error:
        where = args.catalog or resolve_base_url(args.base_url)
        print(f"error: could not load the model catalog from {where}: {error}", file=sys.stderr)
        return 1
    params = dict(args.param) if args.param else None
    print(routing.explain(args.name, catalog, params=params))  # an empty route is explained, not raised
    try:
        routing.resolve(args.name, catalog)
    except RoutingError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


def _param(text: str) -> tuple[str, Any]:
    """``temperature=0.2`` -> ``("temperature", 0.2)``; a value that is not JSON is text."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key.strip(), json.loads(value)
    except ValueError:
        return key.strip(), value


def add_route_commands(subparsers: _SubParsers) -> None:
    """Register ``route explain NAME [--config PATH] [--base-url URL]
    [--offline | --refresh | --catalog FILE]`` on the ``fastrouter`` parser's subcommands
    (``parser.add_subparsers(...)``)."""
    commands = add_group(subparsers, "route", "inspect the routes of a routing configuration")
    explain = commands.add_parser(
        "explain",
        help="show the chain a route or alias resolves to, and why each model is in it",
        description="Resolve NAME from the routing configuration against the model catalog "
        "and explain the resulting chain.",
    )
    explain.add_argument("name", metavar="NAME", help="a route or alias name from the configuration")
    add_config_option(explain)
    add_network_options(explain)
    explain.add_argument(
        "--param",
        action="append",
        type=_param,
        metavar="KEY=VALUE",
        help="a request parameter of the call (JSON value, else text), to show the merged request; repeatable",
    )
    freshness = explain.add_mutually_exclusive_group()
    freshness.add_argument("--offline", action="store_true", help="use the cached catalog only, however old")
    freshness.add_argument("--refresh", action="store_true", help="fetch the catalog even if the cached copy is fresh")
    freshness.add_argument(
        "--catalog", default=None, metavar="FILE", help="read the catalog from a saved /models JSON body instead"
    )
    explain.set_defaults(run=_explain)


def main(argv: list[str] | None = None) -> int:
    """Run the ``route`` commands on their own (``python -m fastrouter.cli.route``)."""
    return run_alone(add_route_commands, argv, "fastrouter routing commands")


if __name__ == "__main__":
    sys.exit(main())
