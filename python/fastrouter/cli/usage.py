"""``fastrouter usage``: the ledger's totals as a table."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Dict

from .._format import table
from ..usage.ledger import LedgerFileError, UsageLedger, UsageTotals

__all__ = ["add_usage_command"]


def _table(groups: Dict[str, UsageTotals], label: str) -> str:
    rows = [
        (
            name or "(none)",
            str(t.requests),
            str(t.prompt_tokens),
            str(t.completion_tokens),
            f"{t.cost:f}",
            f"{t.reliability_cost:f}",
            f"{t.total_cost:f}",
        )
        for name, t in sorted(groups.items(), key=lambda item: (-item[1].total_cost, item[0]))
    ]
    header = (label, "requests", "prompt tok", "completion tok", "cost $", "reliability $", "total $")
    return table(rows, header, right=range(1, len(header)))


def _run(args: argparse.Namespace) -> int:
    path = Path(args.db)
    if not path.exists():
        print(f"no ledger at {path}: create one with fastrouter.Client(ledger={str(path)!r})", file=sys.stderr)
        return 1
    try:  # read-only: a foreign SQLite file gets no table and keeps its journal mode
        ledger = UsageLedger(path, read_only=True)
    except LedgerFileError as error:
        print(f"fastrouter usage: {error}", file=sys.stderr)
        return 1
    try:
        if args.format == "json":
            print(ledger.to_json())
            return 0
        if args.format == "csv":
            ledger.to_csv(sys.stdout)
            return 0
        groups = {
            "model": ledger.by_model,
            "provider": ledger.by_provider,
            "tag": ledger.by_tag,
            "day": ledger.by_day,
        }[args.by]()
        print(_table(groups, args.by))
        totals = ledger.totals
        unknown = f", {totals.unknown_cost} without a known cost" if totals.unknown_cost else ""
        print(f"\n{totals.requests} requests, ${totals.total_cost:f} in all{unknown}")
        return 0
    finally:
        ledger.close()


def add_usage_command(commands: Any) -> None:
    """Register ``fastrouter usage`` on the CLI's subparsers."""
    usage = commands.add_parser("usage", help="totals from a usage ledger (SQLite)")
    usage.add_argument("--db", default="usage.db", help="the ledger file (default usage.db)")
    usage.add_argument("--by", choices=("model", "provider", "tag", "day"), default="model", help="group by")
    usage.add_argument("--format", choices=("table", "json", "csv"), default="table", help="output format")
    usage.set_defaults(run=_run)
