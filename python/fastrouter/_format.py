"""Text helpers shared by the catalog, routing and the CLI: trimmed decimals, USD, "did you mean", tables."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from decimal import Decimal

__all__ = ["did_you_mean", "format_age", "table", "trim", "usd"]


def trim(value: Decimal) -> Decimal:
    """``15.000000`` -> ``15``, ``0.07500`` -> ``0.075`` (no exponent notation)."""
    return value.quantize(Decimal(1)) if value == value.to_integral_value() else value.normalize()


def usd(amount: Decimal) -> str:
    """``$15.00``, ``$0.60``, ``$0.075``, ``$0``: cents, or up to 6 decimals below that."""
    if amount == 0:
        return "$0"
    if amount == amount.quantize(Decimal("0.01")) or amount >= 100:
        return f"${amount:,.2f}"
    text = f"{amount:.6f}".rstrip("0")
    if text.endswith("."):  # below a millionth of a dollar: keep its significant digits
        text = format(amount.normalize(), "f")
    return "$" + text


def did_you_mean(word: str, options: Iterable[str], cutoff: float = 0.6) -> str | None:
    """``"did you mean 'x'?"`` for the closest of ``options`` to ``word``, or None."""
    match = difflib.get_close_matches(word, list(options), n=1, cutoff=cutoff)
    return f"did you mean {match[0]!r}?" if match else None


def table(
    rows: Iterable[Sequence[str]],
    headers: Sequence[str] | None = None,
    right: Iterable[int] = (),
    indent: str = "",
) -> str:
    """Columns padded to their widest cell (``right``: right-aligned column numbers), under
    ``headers`` and a rule when given."""
    body = [list(row) for row in rows]
    if headers is not None:
        body[:0] = [list(headers), ["-" * len(h) for h in headers]]
    widths = [max(len(row[i]) for row in body) for i in range(len(body[0]))] if body else []
    if headers is not None:
        body[1] = ["-" * w for w in widths]
    right_set = set(right)

    def line(cells: Sequence[str]) -> str:
        padded = [
            c.rjust(w) if i in right_set else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=False))
        ]
        return (indent + "  ".join(padded)).rstrip()

    return "\n".join(line(row) for row in body)


def format_age(seconds: float) -> str:
    """``42s``, ``5m 3s``, ``3h 12m``, ``2d 4h``."""
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m {secs}s" if secs else f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h {minutes}m" if minutes else f"{hours}h"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours}h" if hours else f"{days}d"
