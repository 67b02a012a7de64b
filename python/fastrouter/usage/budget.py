"""Budgets: spending limits, enforced by reserving a request's worst case before it is sent
and settling the reservation when it ends.

Before sending, the client estimates the request's worst-case cost (see
:func:`fastrouter.usage.cost.worst_case_cost`) and *reserves* it against every budget that applies,
atomically (one lock for all budgets). A request that would break one raises
:class:`~fastrouter.BudgetExceededError` and nothing is sent. When the request ends, the
reservation is replaced by the real cost (or released when nothing was spent). So however
many requests run at once, committed spending never passes a budget by more than the
difference between a settled cost and its (larger) reservation.
"""

from __future__ import annotations

import time
from _thread import allocate_lock
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Dict, Iterable, List, Optional, Sequence, Tuple, Union

from ..errors import BudgetExceededError
from .ledger import UsageLedger

__all__ = ["Budget", "BudgetBook", "Reservation"]

_ZERO = Decimal(0)
_PERIODS = ("request", "day", "total")


def _today() -> str:
    """The UTC date, ``YYYY-MM-DD`` (``time``, not ``datetime``: one import less)."""
    return time.strftime("%Y-%m-%d", time.gmtime())


@dataclass(frozen=True)
class Budget:
    """A spending limit in USD: ``per="request"`` (each request's worst case), ``"day"``
    (UTC day) or ``"total"`` (the client's whole ledger, durable ones included). With
    ``tags`` it covers only requests carrying one of them."""

    usd: Decimal
    per: str = "total"
    tags: Tuple[str, ...] = ()

    def __init__(self, usd: Union[Decimal, float, int, str], per: str = "total", tags: Iterable[str] = ()) -> None:
        if isinstance(usd, bool):
            raise TypeError("Budget.usd must be a number of USD")
        amount = usd if isinstance(usd, Decimal) else Decimal(str(usd))
        if not amount.is_finite() or amount < 0:
            raise ValueError(f"Budget.usd must be a non-negative amount, got {usd!r}")
        if per not in _PERIODS:
            raise ValueError(f"Budget.per must be one of {', '.join(_PERIODS)}, got {per!r}")
        names = (tags,) if isinstance(tags, str) else tuple(tags)
        object.__setattr__(self, "usd", amount)
        object.__setattr__(self, "per", per)
        object.__setattr__(self, "tags", names)

    def applies_to(self, tags: Sequence[str]) -> bool:
        """Whether a request with these tags counts against this budget."""
        return not self.tags or any(tag in self.tags for tag in tags)


@dataclass
class Reservation:
    """What one request holds against its budgets until it settles."""

    amount: Decimal
    budgets: List[int] = field(default_factory=list)
    day: str = ""


class BudgetBook:
    """The budgets of one client: committed spending plus in-flight reservations."""

    def __init__(self, budgets: Sequence[Budget], ledger: UsageLedger) -> None:
        for budget in budgets:
            if not isinstance(budget, Budget):
                raise TypeError(f"budgets must be fastrouter.Budget objects, got {budget!r}")
        self.budgets = tuple(budgets)
        self._lock = allocate_lock()
        self._day = _today()
        now = time.time()
        day_start = now - now % 86_400  # UTC midnight: POSIX days are 86,400 s
        # Spending already in the ledger (a durable one remembers earlier runs).
        self._spent: List[Decimal] = [
            ledger.spent_since(day_start if b.per == "day" else 0.0, b.tags) if b.per != "request" else _ZERO
            for b in self.budgets
        ]
        self._reserved: List[Decimal] = [_ZERO] * len(self.budgets)

    def __bool__(self) -> bool:
        return bool(self.budgets)

    def _roll_day(self) -> None:
        today = _today()
        if today != self._day:
            self._day = today
            for index, budget in enumerate(self.budgets):
                if budget.per == "day":
                    self._spent[index] = _ZERO

    def reserve(self, estimate: Optional[Decimal], tags: Sequence[str], what: str) -> Optional[Reservation]:
        """Reserve ``estimate`` against every applicable budget, or raise
        :class:`BudgetExceededError` (nothing reserved). ``None`` when no budget applies.
        An unknown estimate (no catalog price) is refused when any budget applies."""
        with self._lock:
            self._roll_day()
            applicable = [i for i, b in enumerate(self.budgets) if b.applies_to(tags)]
            if not applicable:
                return None
            if estimate is None:
                raise BudgetExceededError(
                    f"cannot check the budget for {what}: its price is unknown (not in the catalog, or a router)"
                )
            for index in applicable:
                budget = self.budgets[index]
                committed = _ZERO if budget.per == "request" else self._spent[index] + self._reserved[index]
                if committed + estimate > budget.usd:
                    scope = f" for tags {list(budget.tags)}" if budget.tags else ""
                    raise BudgetExceededError(
                        f"{what} could cost up to ${estimate:f}, which would break the {budget.per} budget"
                        f" of ${budget.usd:f}{scope} (${committed:f} spent or reserved)"
                    )
            for index in applicable:
                self._reserved[index] += estimate
            return Reservation(amount=estimate, budgets=applicable, day=self._day)

    def settle(self, reservation: Optional[Reservation], actual: Optional[Decimal]) -> None:
        """Replace a reservation by what the request really cost (``None``: unknown, the
        reservation is kept as spent, the safe side)."""
        if reservation is None:
            return
        spent = reservation.amount if actual is None else actual
        with self._lock:
            for index in reservation.budgets:
                self._reserved[index] -= reservation.amount
                same_day = self.budgets[index].per != "day" or reservation.day == self._day
                if self.budgets[index].per != "request" and same_day:
                    self._spent[index] += spent

    def remaining(self) -> Dict[int, Decimal]:
        """USD left per budget (by position), after spending and reservations."""
        with self._lock:
            self._roll_day()
            periodic = [(i, b) for i, b in enumerate(self.budgets) if b.per != "request"]
            return {i: b.usd - (self._spent[i] + self._reserved[i]) for i, b in periodic}
