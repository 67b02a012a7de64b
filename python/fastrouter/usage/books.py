"""Per-request bookkeeping: one request's budget reservation and its single ledger entry,
settled whichever way the request ends (an answer, a failure, a finished or broken stream)."""

from __future__ import annotations

import time
from dataclasses import replace
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Callable, Optional, Tuple

from ..errors import BudgetExceededError, FastrouterError
from .cost import answer_cost, catalog_cost
from .entries import entry_for_completion, entry_for_failure

if TYPE_CHECKING:
    from types import TracebackType

    from ..catalog import Catalog
    from ..types import ChatCompletion
    from .budget import BudgetBook, Reservation
    from .ledger import UsageEntry, UsageLedger

__all__ = ["RequestBooks"]


class RequestBooks:
    """Records one request in the ledger and settles its reservation.

    Used as ``with books: ...`` around sending the request, so a failure is recorded (and
    its reservation settled) on its way out; ``answered`` and ``stream_finished`` record
    the other endings. ``load_catalog`` gives the catalog at hand (or ``None``) to price an answer OpenRouter
    sent no cost for; ``reconcile`` starts filling a still-missing cost in from
    ``/generation`` in the background.
    """

    __slots__ = (
        "ledger",
        "budgets",
        "load_catalog",
        "reconcile",
        "requested",
        "tags",
        "streamed",
        "started",
        "reservation",
    )

    def __init__(
        self,
        ledger: UsageLedger,
        budgets: BudgetBook,
        load_catalog: Callable[[], Optional[Catalog]],
        reconcile: Callable[[str], None],
        requested: str,
        tags: Tuple[str, ...],
        streamed: bool,
    ) -> None:
        self.ledger = ledger
        self.budgets = budgets
        self.load_catalog = load_catalog
        self.reconcile = reconcile
        self.requested = requested
        self.tags = tags
        self.streamed = streamed
        self.started = time.time()
        self.reservation: Optional[Reservation] = None

    def reserve(self, estimate: Optional[Decimal], limit: Optional[Decimal]) -> None:
        """Hold ``estimate`` (the request's worst case) against the budgets, or raise
        :class:`BudgetExceededError` when it breaks one or the route's per-request
        ``limit`` (nothing is held then)."""
        what = f"a request to {self.requested}"
        if limit is not None and (estimate is None or estimate > limit):
            shown = "an unknown amount" if estimate is None else f"up to ${estimate:f}"
            raise BudgetExceededError(f"{what} could cost {shown}, over the route's limit of ${limit:f}")
        self.reservation = self.budgets.reserve(estimate, self.tags, what)

    def confirm(self) -> None:
        """Take the reservation's shared part on the store (a shared store's budgets)."""
        self.budgets.confirm(self.reservation, f"a request to {self.requested}")

    async def confirm_async(self) -> None:
        """:meth:`confirm`, awaiting the store."""
        await self.budgets.confirm_async(self.reservation, f"a request to {self.requested}")

    def served_from_cache(self, completion: ChatCompletion, saved: Optional[Decimal]) -> ChatCompletion:
        """The response cache answered: record a hit at cost 0 with what it ``saved``."""
        entry = self._entry(completion, "ok", streamed=self.streamed)
        entry = replace(entry, cost_source="cache", saved_cost=saved or Decimal(0))
        self._record(entry, Decimal(0))
        return completion

    def _entry(self, completion: ChatCompletion, status: str, streamed: bool) -> UsageEntry:
        """The ledger entry, priced from the catalog when OpenRouter sent no cost."""
        cost, source = answer_cost(completion), "usage"
        if cost is None:
            cost, source = catalog_cost(completion, self.load_catalog), "catalog"
            completion._priced_cost = cost
        return entry_for_completion(
            completion,
            requested=self.requested,
            tags=self.tags,
            started=self.started,
            status=status,
            streamed=streamed,
            cost=cost,
            cost_source=source,
        )

    def _record(self, entry: UsageEntry, actual: Optional[Decimal]) -> None:
        self.ledger.record(entry)
        self.budgets.settle(self.reservation, actual)
        if entry.cost is None and entry.generation_id:
            self.reconcile(entry.generation_id)  # fills the cost in from /generation

    def answered(self, completion: ChatCompletion) -> ChatCompletion:
        """A whole answer arrived: record it and hand it back."""
        entry = self._entry(completion, "ok", streamed=False)
        self._record(entry, entry.total_cost if entry.cost is not None else None)
        return completion

    def failed(self, error: FastrouterError) -> None:
        """Nothing answered: record what the attempts cost."""
        attempts = getattr(error, "attempts", None) or []
        entry = entry_for_failure(
            attempts, requested=self.requested, tags=self.tags, started=self.started, streamed=self.streamed
        )
        self._record(entry, entry.reliability_cost)

    def __enter__(self) -> RequestBooks:
        return self

    def __exit__(
        self, exc_type: Optional[type[BaseException]], exc: Optional[BaseException], tb: Optional[TracebackType]
    ) -> None:
        if isinstance(exc, FastrouterError):
            self.failed(exc)

    def stream_finished(self, stream: Any, status: str) -> None:
        """A stream ended (``status``: ok, stream_error, cancelled): record what it received."""
        entry = self._entry(stream.completion, status, streamed=True)
        self._record(entry, entry.total_cost if entry.cost is not None else None)
