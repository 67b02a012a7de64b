"""``fastrouter usage``: the ledger's totals as a table."""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path
from typing import Any, Dict

from .._format import table
from ..usage.ledger import UsageLedger, UsageTotals
from ._common import print_json

__all__ = ["add_usage_command"]


_TOTALS_FIELDS = ("requests", "prompt_tokens", "completion_tokens", "cost", "reliability_cost", "total_cost")


def _totals_dict(totals: UsageTotals) -> Dict[str, Any]:
    """One group's totals, JSON-able (USD amounts as exact decimal strings)."""
    return {
        "requests": totals.requests,
        "prompt_tokens": totals.prompt_tokens,
        "completion_tokens": totals.completion_tokens,
        "cost": f"{totals.cost:f}",
        "reliability_cost": f"{totals.reliability_cost:f}",
        "total_cost": f"{totals.total_cost:f}",
    }


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
    ledger = UsageLedger(path)
    try:
        if args.by is None and args.format == "json":
            print(ledger.to_json())  # no grouping asked for: every entry
            return 0
        if args.by is None and args.format == "csv":
            ledger.to_csv(sys.stdout)
            return 0
        by = args.by or "model"
        groups = {
            "model": ledger.by_model,
            "provider": ledger.by_provider,
            "tag": ledger.by_tag,
            "day": ledger.by_day,
        }[by]()
        if args.format == "json":
            print_json({"by": by, "groups": {k: _totals_dict(t) for k, t in groups.items()}})
            return 0
        if args.format == "csv":
            writer = csv.writer(sys.stdout)
            writer.writerow([by, *_TOTALS_FIELDS])
            writer.writerows([name, *_totals_dict(t).values()] for name, t in groups.items())
            return 0
        print(_table(groups, by))
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
    usage.add_argument(
        "--by",
        choices=("model", "provider", "tag", "day"),
        default=None,
        help="group by (table default: model; json/csv give every entry unless --by is set)",
    )
    usage.add_argument("--format", choices=("table", "json", "csv"), default="table", help="output format")
    usage.set_defaults(run=_run)
