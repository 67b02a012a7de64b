"""Usage: what requests cost (:mod:`.cost`), the ledger that records them (:mod:`.ledger`),
budgets that cap them (:mod:`.budget`), per-request bookkeeping (:mod:`.books`) and
reconciliation from ``/generation`` (:mod:`.reconcile`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .budget import Budget
    from .cascade_totals import CascadeTotals
    from .ledger import UsageEntry, UsageLedger, UsageTotals

__all__ = ["Budget", "CascadeTotals", "UsageEntry", "UsageLedger", "UsageTotals"]

# Public name -> its module, imported on first use (PEP 562): a client loads these with
# its first request, not when it is built.
_LAZY = {"Budget": ".budget", "CascadeTotals": ".cascade_totals"} | dict.fromkeys(
    ("UsageEntry", "UsageLedger", "UsageTotals"), ".ledger"
)

if not TYPE_CHECKING:  # hidden from type checkers, so a misspelt name stays an error there
    from .. import _lazy

    __getattr__, __dir__ = _lazy.lazy_names(__name__, globals(), _LAZY)
