"""``fastrouter credits``: the account's credit balance."""

from __future__ import annotations

import argparse
from typing import Any

from ._common import add_network_options, network_client, print_json

__all__ = ["add_credits_command"]


def _run(args: argparse.Namespace) -> int:
    with network_client(args) as client:
        credits = client.credits.get()
    if args.format == "json":
        print_json({**credits.to_dict(), "remaining": credits.remaining})
        return 0
    print(f"credits:   ${credits.total_credits:,.4f}")
    print(f"used:      ${credits.total_usage:,.4f}")
    print(f"remaining: ${credits.remaining:,.4f}")
    return 0


def add_credits_command(commands: Any) -> None:
    """Register ``fastrouter credits`` on the CLI's subparsers."""
    credits = commands.add_parser("credits", help="credits bought, used and remaining")
    credits.add_argument("--format", choices=("text", "json"), default="text", help="output format")
    add_network_options(credits)
    credits.set_defaults(run=_run)
