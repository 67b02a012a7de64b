"""A client's usage accounts: its ledger, budget book and reconciliation worker, built when
first needed, so constructing a plain client imports none of them (S5, import time)."""

from __future__ import annotations

from _thread import allocate_lock
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from os import PathLike

    from ..store import Store
    from .budget import Budget, BudgetBook
    from .ledger import UsageLedger
    from .reconcile import Reconciler

__all__ = ["Accounts"]


class Accounts:
    """The ledger, budget book and reconciler of one client, shared by its ``with_options()``
    copies. Given a ledger or budgets, the ledger and book are built at once (a bad path or
    budget fails at construction, as it always did); otherwise the in-memory ledger and the
    empty book are built on first use. Building is locked: two first requests on two
    threads get one ledger."""

    __slots__ = ("_ledger", "_book", "_store", "_on_loop", "_lock", "_reconcile", "_reconciler")

    def __init__(
        self,
        ledger: str | PathLike[str] | UsageLedger | None,
        budgets: Sequence[Budget],
        store: Store | None,
        on_loop: bool,
    ) -> None:
        self._ledger: UsageLedger | None = None
        self._book: BudgetBook | None = None
        self._store = store
        self._on_loop = on_loop
        self._lock = allocate_lock()
        self._reconcile: tuple[bool | None, str, Callable[[str], Any]] | None = None
        self._reconciler: Reconciler | None = None
        if ledger is not None or budgets:
            from .budget import BudgetBook
            from .ledger import UsageLedger

            self._ledger = ledger if isinstance(ledger, UsageLedger) else UsageLedger(ledger)
            self._book = BudgetBook(budgets, self._ledger, store, on_loop)

    @property
    def ledger(self) -> UsageLedger:
        """The usage ledger (the in-memory one unless the client was given one)."""
        ledger = self._ledger
        if ledger is None:
            with self._lock:
                if self._ledger is None:
                    from .ledger import UsageLedger

                    self._ledger = UsageLedger(None)
                ledger = self._ledger
        return ledger

    @property
    def budgets(self) -> BudgetBook:
        """The budget book (an empty one when the client has no budgets)."""
        book = self._book
        if book is None:
            ledger = self.ledger
            with self._lock:
                if self._book is None:
                    from .budget import BudgetBook

                    self._book = BudgetBook((), ledger, self._store, self._on_loop)
                book = self._book
        return book

    def reconcile_with(self, reconcile: bool | None, base_url: str, fetch: Callable[[str], Any]) -> None:
        """Say how to reconcile: ``reconcile`` (``None``: only against OpenRouter) with
        ``fetch(generation_id)``; the worker is decided and built on first use."""
        self._reconcile = (reconcile, base_url, fetch)

    @property
    def reconciler(self) -> Reconciler | None:
        """The reconciliation worker (``None`` when reconciliation is off)."""
        settings = self._reconcile
        if settings is not None:
            reconcile, base_url, fetch = settings
            if reconcile is None:
                from .reconcile import reconciles_by_default

                reconcile = reconciles_by_default(base_url)
            ledger = self.ledger if reconcile else None
            with self._lock:
                if self._reconcile is not None:
                    if ledger is not None:
                        from .reconcile import Reconciler

                        self._reconciler = Reconciler(ledger, fetch)
                    self._reconcile = None
        return self._reconciler
