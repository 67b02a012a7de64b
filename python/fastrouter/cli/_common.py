"""What every ``fastrouter`` command shares: the client a command talks through, the
network options, one-line errors with hints, price and token formatting, and running a
command group on its own."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

from ..catalog import PER_TOKEN_PRICES, Pricing
from ..client import Client
from ..errors import (
    AllModelsFailedError,
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    BudgetExceededError,
    FastrouterError,
    InsufficientCreditsError,
    NotFoundError,
    RateLimitError,
)

FETCH_TIMEOUT = 30.0
"""Seconds the commands wait for the catalog or endpoints."""


def client_for(base_url: str | None, api_key: str | None = None) -> Client:
    """A client for ``base_url`` (else ``OPENROUTER_BASE_URL``, else OpenRouter): the one
    HTTP path, with ``api_key`` or ``OPENROUTER_API_KEY`` when set (the catalog itself is public)."""
    return Client(base_url=base_url, api_key=api_key, timeout=FETCH_TIMEOUT)


@contextlib.contextmanager
def http_errors(url: str) -> Iterator[None]:
    """Say an error status the way the commands always have: ``HTTP 404 from URL: message``."""
    try:
        yield
    except APIStatusError as exc:
        raise OSError(f"HTTP {exc.status_code} from {url}: {exc.message}") from exc


def fmt_price(pricing: Pricing, name: str) -> str:
    """USD per million tokens for per-token prices, per unit for the others; ``varies``
    for the router sentinel, ``-`` when absent."""
    if name in pricing.unknown_keys:
        return "varies"
    value = pricing.per_million(name) if name in PER_TOKEN_PRICES else pricing.get(name)
    if value is None:
        return "-"
    rounded = value.quantize(Decimal("0.0001"))  # 4 decimals: 0.0833, not 0.08333333333333334
    if rounded == 0 and value != 0:
        rounded = value  # a tiny price keeps its digits rather than reading as free
    return format(rounded.normalize(), "f")


def fmt_tokens(count: int | None) -> str:
    """``1.05M``, ``200K``, ``32.8K``, ``4096``; ``-`` when unknown."""
    if count is None:
        return "-"
    if count >= 1_000_000:
        return f"{count / 1_000_000:.3g}M"
    if count >= 10_000:
        return f"{count / 1000:.3g}K"
    return str(count)


def run_alone(add_commands: Callable[[Any], object], argv: list[str] | None, description: str | None = None) -> int:
    """Parse ``argv`` with only the commands ``add_commands`` registers, and run the chosen one."""
    parser = argparse.ArgumentParser(prog="fastrouter", description=description)
    add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    code: int = args.run(args)
    return code


# ------------------------------------------------------------------ network commands and errors


def add_group(commands: Any, name: str, help: str, **options: Any) -> Any:
    """Register ``fastrouter NAME SUBCOMMAND ...``; its subcommands are added to what this returns."""
    return commands.add_parser(name, help=help).add_subparsers(dest=f"{name}_command", required=True, **options)


DEFAULT_CONFIG = "fastrouter.toml"
"""The routing configuration the commands read unless given ``--config``."""


def add_config_option(parser: argparse.ArgumentParser) -> None:
    """``--config PATH``: the routing configuration a command reads."""
    parser.add_argument(
        "--config", default=DEFAULT_CONFIG, help=f"routing configuration (TOML; default {DEFAULT_CONFIG})"
    )


def add_network_options(parser: argparse.ArgumentParser) -> None:
    """``--api-key`` and ``--base-url``, which every command that calls the API takes."""
    parser.add_argument("--api-key", default=None, help="API key (default: $OPENROUTER_API_KEY)")
    parser.add_argument(
        "--base-url", default=None, help="API base URL (default: $OPENROUTER_BASE_URL, else OpenRouter's)"
    )


def network_client(args: argparse.Namespace, **kwargs: Any) -> Client:
    """A client for the command's ``--api-key`` and ``--base-url`` (else the environment)."""
    return Client(api_key=args.api_key, base_url=args.base_url, app_title="fastrouter cli", **kwargs)


# What to try next, for the errors a command line user can act on (the first kind that matches).
_HINTS: tuple[tuple[type[BaseException], str], ...] = (
    (AuthenticationError, "set OPENROUTER_API_KEY or pass --api-key; keys are at https://openrouter.ai/settings/keys"),
    (InsufficientCreditsError, "add credits at https://openrouter.ai/settings/credits, or pick a ':free' model"),
    (RateLimitError, "wait a moment, or give a failover chain: --model a/x,b/y"),
    (AllModelsFailedError, "every model in the chain failed; add another model or retry later"),
    (APITimeoutError, "the server was too slow; try again or another model"),
    (APIConnectionError, "check your network and --base-url"),
    (BudgetExceededError, "raise the budget or lower max_tokens"),
)


def _hint(exc: BaseException) -> str | None:
    """What to try next, for the errors a command line user can act on."""
    if isinstance(exc, (NotFoundError, BadRequestError)):  # no other hint's kind is one of these
        return "check the model id: fastrouter models search WORDS" if "model" in str(exc).lower() else None
    return next((hint for kind, hint in _HINTS if isinstance(exc, kind)), None)


def error_line(exc: BaseException) -> str:
    """One line for a failed command: what failed and, when there is one, a hint."""
    message = " ".join(str(exc).split()) or type(exc).__name__
    hint = _hint(exc)
    return f"fastrouter: {type(exc).__name__}: {message}" + (f" (hint: {hint})" if hint else "")


def run_command(args: argparse.Namespace) -> int:
    """Run the chosen command; a fastrouter or I/O error becomes one message (with a hint)
    on stderr and exit status 1, Ctrl-C exit status 130; never a traceback."""
    try:
        code: int = args.run(args)
        return code
    except (FastrouterError, OSError, ValueError) as exc:
        print(error_line(exc), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("fastrouter: interrupted", file=sys.stderr)
        return 130


def print_json(value: Any) -> None:
    """``value`` as indented JSON on stdout (Decimals as strings)."""
    print(json.dumps(value, indent=2, default=str))


def fmt_usd(value: float | None) -> str:
    """``$1,234.5678``; ``-`` when unknown."""
    return "-" if value is None else f"${value:,.4f}"


def add_account_command(
    commands: Any,
    name: str,
    help: str,
    read: Callable[[Client], Any],
    rows: Callable[[Any], list[tuple[str, str]]],
    as_json: Callable[[Any], Any] = lambda record: record.to_dict(),
) -> None:
    """Register ``fastrouter NAME [--format text|json]``: one record of the account, read
    with ``read(client)``, printed as aligned ``name: value`` rows or as JSON."""

    def run(args: argparse.Namespace) -> int:
        with network_client(args) as client:
            record = read(client)
        if args.format == "json":
            print_json(as_json(record))
            return 0
        lines = rows(record)
        width = max(len(label) for label, _ in lines) + 1
        for label, value in lines:
            print(f"{label + ':':<{width}} {value}")
        return 0

    parser = commands.add_parser(name, help=help)
    parser.add_argument("--format", choices=("text", "json"), default="text", help="output format")
    add_network_options(parser)
    parser.set_defaults(run=run)
