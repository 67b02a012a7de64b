"""Usage: what requests cost (:mod:`.cost`), the ledger that records them (:mod:`.ledger`),
budgets that cap them (:mod:`.budget`), per-request bookkeeping (:mod:`.books`) and
reconciliation from ``/generation`` (:mod:`.reconcile`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .budget import Budget
    from .cascade_totals import CascadeTotals
    from .ledger import UsageEntry, UsageLedger, UsageTotals

__all__ = ["Budget", "CascadeTotals", "UsageEntry", "UsageLedger", "UsageTotals"]

# Public name -> its module, imported on first use (PEP 562): a client loads the ledger
# with its first request, the budgets only when it has some.
_LAZY = {
    "Budget": ".budget",
    "CascadeTotals": ".cascade_totals",
    "UsageEntry": ".ledger",
    "UsageLedger": ".ledger",
    "UsageTotals": ".ledger",
}

if not TYPE_CHECKING:  # hidden from type checkers, so a misspelt name stays an error there

    def __getattr__(name: str) -> Any:
        module = _LAZY.get(name)
        if module is None:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        from importlib import import_module

        value = getattr(import_module(module, __name__), name)
        globals()[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted({*globals(), *_LAZY})
