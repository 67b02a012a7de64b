"""``fastrouter key``: usage and limits of the API key in use."""

from __future__ import annotations

import argparse
from typing import Any

from ._common import add_network_options, network_client, print_json

__all__ = ["add_key_command"]


def _money(value: float | None) -> str:
    return "-" if value is None else f"${value:,.4f}"


def _run(args: argparse.Namespace) -> int:
    with network_client(args) as client:
        info = client.key.get()
    if args.format == "json":
        print_json(info.to_dict())
        return 0
    rows = [
        ("label", info.label or "-"),
        ("limit", "none" if info.limit is None else _money(info.limit)),
        ("remaining", _money(info.limit_remaining)),
        ("resets", info.limit_reset or "-"),
        ("used", _money(info.usage)),
        ("today", _money(info.usage_daily)),
        ("this week", _money(info.usage_weekly)),
        ("this month", _money(info.usage_monthly)),
    ]
    for name, value in rows:
        print(f"{name + ':':<11} {value}")
    return 0


def add_key_command(commands: Any) -> None:
    """Register ``fastrouter key`` on the CLI's subparsers."""
    key = commands.add_parser("key", help="usage and limits of the API key in use")
    key.add_argument("--format", choices=("text", "json"), default="text", help="output format")
    add_network_options(key)
    key.set_defaults(run=_run)
