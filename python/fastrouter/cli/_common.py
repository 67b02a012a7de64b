"""What every ``fastrouter`` command shares: the client a command talks through, price
and token formatting, and running a command group on its own."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any, List, Optional

from ..catalog import PER_TOKEN_PRICES, Pricing
from ..client import Client
from ..errors import APIStatusError

FETCH_TIMEOUT = 30.0
"""Seconds the commands wait for the catalog or endpoints."""


def client_for(base_url: Optional[str]) -> Client:
    """A client for ``base_url`` (else ``OPENROUTER_BASE_URL``, else OpenRouter): the one
    HTTP path, with ``OPENROUTER_API_KEY`` when set (the catalog itself is public)."""
    return Client(base_url=base_url, timeout=FETCH_TIMEOUT)


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


def fmt_tokens(count: Optional[int]) -> str:
    """``1.05M``, ``200K``, ``32.8K``, ``4096``; ``-`` when unknown."""
    if count is None:
        return "-"
    if count >= 1_000_000:
        return f"{count / 1_000_000:.3g}M"
    if count >= 10_000:
        return f"{count / 1000:.3g}K"
    return str(count)


def run_alone(
    add_commands: Callable[[Any], object], argv: Optional[List[str]], description: Optional[str] = None
) -> int:
    """Parse ``argv`` with only the commands ``add_commands`` registers, and run the chosen one."""
    parser = argparse.ArgumentParser(prog="fastrouter", description=description)
    add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    code: int = args.run(args)
    return code
