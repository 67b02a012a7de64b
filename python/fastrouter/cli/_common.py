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


def add_network_options(parser: argparse.ArgumentParser) -> None:
    """``--api-key`` and ``--base-url``, which every command that calls the API takes."""
    parser.add_argument("--api-key", default=None, help="API key (default: $OPENROUTER_API_KEY)")
    parser.add_argument(
        "--base-url", default=None, help="API base URL (default: $OPENROUTER_BASE_URL, else OpenRouter's)"
    )


def network_client(args: argparse.Namespace, **kwargs: Any) -> Client:
    """A client for the command's ``--api-key`` and ``--base-url`` (else the environment)."""
    return Client(api_key=args.api_key, base_url=args.base_url, app_title="fastrouter cli", **kwargs)


def _hint(exc: BaseException) -> str | None:
    """What to try next, for the errors a command line user can act on."""
    if isinstance(exc, AuthenticationError):
        return "set OPENROUTER_API_KEY or pass --api-key; keys are at https://openrouter.ai/settings/keys"
    if isinstance(exc, InsufficientCreditsError):
        return "add credits at https://openrouter.ai/settings/credits, or pick a ':free' model"
    if isinstance(exc, RateLimitError):
        return "wait a moment, or give a failover chain: --model a/x,b/y"
    if isinstance(exc, (NotFoundError, BadRequestError)) and "model" in str(exc).lower():
        return "check the model id: fastrouter models search WORDS"
    if isinstance(exc, AllModelsFailedError):
        return "every model in the chain failed; add another model or retry later"
    if isinstance(exc, APITimeoutError):
        return "the server was too slow; try again or another model"
    if isinstance(exc, APIConnectionError):
        return "check your network and --base-url"
    if isinstance(exc, BudgetExceededError):
        return "raise the budget or lower max_tokens"
    return None


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
