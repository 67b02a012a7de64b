"""``fastrouter key``: usage and limits of the API key in use."""

from __future__ import annotations

from typing import Any

from ..types import KeyInfo
from ._common import add_account_command, fmt_usd

__all__ = ["add_key_command"]


def _rows(info: KeyInfo) -> list[tuple[str, str]]:
    return [
        ("label", info.label or "-"),
        ("limit", "none" if info.limit is None else fmt_usd(info.limit)),
        ("remaining", fmt_usd(info.limit_remaining)),
        ("resets", info.limit_reset or "-"),
        ("used", fmt_usd(info.usage)),
        ("today", fmt_usd(info.usage_daily)),
        ("this week", fmt_usd(info.usage_weekly)),
        ("this month", fmt_usd(info.usage_monthly)),
    ]


def add_key_command(commands: Any) -> None:
    """Register ``fastrouter key`` on the CLI's subparsers."""
    add_account_command(
        commands, "key", "usage and limits of the API key in use", lambda client: client.key.get(), _rows
    )
