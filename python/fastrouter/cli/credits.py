"""``fastrouter credits``: the account's credit balance."""

from __future__ import annotations

from typing import Any

from ..types import Credits
from ._common import add_account_command, fmt_usd

__all__ = ["add_credits_command"]


def _rows(credits: Credits) -> list[tuple[str, str]]:
    return [
        ("credits", fmt_usd(credits.total_credits)),
        ("used", fmt_usd(credits.total_usage)),
        ("remaining", fmt_usd(credits.remaining)),
    ]


def add_credits_command(commands: Any) -> None:
    """Register ``fastrouter credits`` on the CLI's subparsers."""
    add_account_command(
        commands,
        "credits",
        "credits bought, used and remaining",
        lambda client: client.credits.get(),
        _rows,
        lambda credits: {**credits.to_dict(), "remaining": credits.remaining},
    )
