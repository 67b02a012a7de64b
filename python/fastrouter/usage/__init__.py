"""Usage: what requests cost (:mod:`.cost`), the ledger that records them (:mod:`.ledger`),
budgets that cap them (:mod:`.budget`), per-request bookkeeping (:mod:`.books`) and
reconciliation from ``/generation`` (:mod:`.reconcile`)."""

from .budget import Budget
from .cascade_totals import CascadeTotals
from .ledger import UsageEntry, UsageLedger, UsageTotals

__all__ = ["Budget", "CascadeTotals", "UsageEntry", "UsageLedger", "UsageTotals"]
