"""``fastrouter usage``: the ledger's totals as a table."""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path
from typing import Any

from .._format import table
from ..usage.cascade_totals import CascadeTotals
from ..usage.ledger import LedgerFileError, UsageLedger, UsageTotals
from ._common import print_json

__all__ = ["add_usage_command"]


_TOTALS_FIELDS = ("requests", "prompt_tokens", "completion_tokens", "cost", "reliability_cost", "total_cost")


def _totals_dict(totals: UsageTotals) -> dict[str, Any]:
    """One group's totals, JSON-able (USD amounts as exact decimal strings)."""
    return {
        "requests": totals.requests,
        "prompt_tokens": totals.prompt_tokens,
        "completion_tokens": totals.completion_tokens,
        "cost": f"{totals.cost:f}",
        "reliability_cost": f"{totals.reliability_cost:f}",
        "total_cost": f"{totals.total_cost:f}",
    }


def _table(groups: dict[str, UsageTotals], label: str) -> str:
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


def cascade_summary(totals: CascadeTotals) -> str:
    """The cascades' totals: acceptance per tier, then spend against the last tier alone."""
    answered = sum(totals.accepted.values())
    rows = [
        (str(tier), str(count), f"{100 * count / answered:.1f}%") for tier, count in sorted(totals.accepted.items())
    ]
    failed = f", {totals.failed} failed" if totals.failed else ""
    lines = [
        f"cascades: {totals.requests} requests{failed}",
        table(rows, ("kept at tier", "requests", "share"), right=(0, 1, 2)),
    ]
    pct = totals.savings_pct
    saved = f"${totals.savings:f}" + (f" ({pct:.1f}%)" if pct is not None else "")
    lines.append(
        f"cost ${totals.cost:f} (drafts ${totals.draft_cost:f}, judges ${totals.judge_cost:f});"
        f" last tier alone ${totals.baseline:f}; saved {saved}"
    )
    if totals.unknown_baseline:
        lines.append(f"{totals.unknown_baseline} answers without a known baseline (last tier's price unknown)")
    return "\n".join(lines)


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
        cascades = ledger.cascade()
        if cascades.requests:
            print("\n" + cascade_summary(cascades))
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
