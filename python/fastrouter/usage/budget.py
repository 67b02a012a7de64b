"""Budgets: spending limits, enforced by reserving a request's worst case before it is sent
and settling the reservation when it ends.

Before sending, the client estimates the request's worst-case cost (see
:func:`fastrouter.usage.cost.worst_case_cost`) and *reserves* it against every budget that applies,
atomically (one lock for all budgets). A request that would break one raises
:class:`~fastrouter.BudgetExceededError` and nothing is sent. When the request ends, the
reservation is replaced by the real cost (or released when nothing was spent). So however
many requests run at once, committed spending never passes a budget by more than the
difference between a settled cost and its (larger) reservation.

With a shared store (``store="redis://..."``) the day and total budgets live in the store:
every process using it reserves and settles on the same counters, each step one atomic
script; :meth:`BudgetBook.confirm` takes the reservation there before the request is sent.
"""

from __future__ import annotations

import math
import time
from _thread import RLock
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING

from .._dual import blocking
from ..errors import BudgetExceededError, PriceUnknownError, StoreUnavailableError
from .ledger import UsageLedger

if TYPE_CHECKING:
    from typing import Protocol

    from ..store import BudgetSlot, Store

    class _Holder(Protocol):
        reservation: Reservation | None


__all__ = ["Budget", "BudgetBook", "Reservation"]

_ZERO = Decimal(0)
_PERIODS = ("request", "day", "total")
UNKNOWN_PRICE_POLICIES = ("refuse", "allow")
_NANOS = Decimal(1_000_000_000)
# A day budget's shared counters outlive their day by this much (seconds).
_DAY_TTL_S = 2 * 86_400


def _nanos(usd: Decimal) -> int:
    """USD in whole nano-dollars, rounded up (the safe side for a budget)."""
    return math.ceil(usd * _NANOS)


def _today() -> str:
    """The UTC date, ``YYYY-MM-DD`` (``time``, not ``datetime``: one import less)."""
    return time.strftime("%Y-%m-%d", time.gmtime())


@dataclass(frozen=True)
class Budget:
    """A spending limit in USD: ``per="request"`` (each request's worst case), ``"day"``
    (UTC day) or ``"total"`` (the client's whole ledger, durable ones included). With
    ``tags`` it covers only requests carrying one of them.

    ``unknown_price`` says what happens to a request whose worst case cannot be priced (a
    model missing from the catalog, a router, a backend without prices): ``"refuse"``
    (default) raises :class:`~fastrouter.PriceUnknownError` naming the model;
    ``"allow"`` sends it without a reservation and counts its cost once known."""

    usd: Decimal
    per: str = "total"
    tags: tuple[str, ...] = ()
    unknown_price: str = "refuse"

    def __init__(
        self,
        usd: Decimal | float | int | str,
        per: str = "total",
        tags: Iterable[str] = (),
        unknown_price: str = "refuse",
    ) -> None:
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
        if unknown_price not in UNKNOWN_PRICE_POLICIES:
            raise ValueError(f"Budget.unknown_price must be 'refuse' or 'allow', got {unknown_price!r}")
        object.__setattr__(self, "unknown_price", unknown_price)

    def applies_to(self, tags: Sequence[str]) -> bool:
        """Whether a request with these tags counts against this budget."""
        return not self.tags or any(tag in self.tags for tag in tags)


@dataclass
class Reservation:
    """What one request holds against its budgets until it settles."""

    amount: Decimal
    budgets: list[int] = field(default_factory=list)
    day: str = ""
    unpriced: bool = False  # nothing held: the worst case could not be priced
    # Shared budgets (a store's counters), taken by ``BudgetBook.confirm`` under ``rid``.
    slots: list[BudgetSlot] = field(default_factory=list)
    rid: str = ""
    # The store may hold it: set before the store is asked, cleared once its settle is
    # sent. The store settles a reservation once and ignores one it never took, so a
    # settle cut short is sent again and one too many changes nothing.
    on_store: bool = False
    # How many of ``budgets`` it has taken from and given back: a Ctrl-C between two of
    # them leaves the rest to the next settle (which gives back only what was taken).
    taken: int = 0
    freed: int = 0
    settled: bool = False


class BudgetBook:
    """The budgets of one client: committed spending plus in-flight reservations."""

    def __init__(
        self, budgets: Sequence[Budget], ledger: UsageLedger, store: Store | None = None, on_loop: bool = False
    ) -> None:
        for budget in budgets:
            if not isinstance(budget, Budget):
                raise TypeError(f"budgets must be fastrouter.Budget objects, got {budget!r}")
        self.budgets = tuple(budgets)
        # Re-entrant: a stream dropped without close() settles from its finalizer, which
        # the garbage collector may run on a thread already inside reserve() or settle().
        self._lock = RLock()
        self._day = _today()
        now = time.time()
        day_start = now - now % 86_400  # UTC midnight: POSIX days are 86,400 s
        # Spending already in the ledger (a durable one remembers earlier runs).
        self._spent: list[Decimal] = [
            ledger.spent_since(day_start if b.per == "day" else 0.0, b.tags) if b.per != "request" else _ZERO
            for b in self.budgets
        ]
        self._reserved: list[Decimal] = [_ZERO] * len(self.budgets)
        self.store = store if store is not None and store.shared else None
        self.on_loop = on_loop  # an async client's: settle on the store without blocking its loop

    def _slot(self, budget: Budget, day: str) -> BudgetSlot:
        from ..store import BudgetSlot

        scope = ",".join(sorted(budget.tags))
        key = f"{budget.per}:{budget.usd}:{scope}" + (f":{day}" if budget.per == "day" else "")
        return BudgetSlot(key, _nanos(budget.usd), _DAY_TTL_S if budget.per == "day" else 0)

    @property
    def pending(self) -> bool:
        """True when reservations must still be confirmed on a shared store."""
        return self.store is not None

    def __bool__(self) -> bool:
        return bool(self.budgets)

    def _roll_day(self) -> None:
        today = _today()
        if today != self._day:
            self._day = today
            for index, budget in enumerate(self.budgets):
                if budget.per == "day":
                    self._spent[index] = _ZERO

    def reserve(
        self,
        estimate: Decimal | None,
        tags: Sequence[str],
        what: str,
        unpriced: Sequence[str] = (),
        holder: _Holder | None = None,
    ) -> Reservation | None:
        """Reserve ``estimate`` against every applicable budget, or raise
        :class:`BudgetExceededError` (nothing reserved). ``None`` when no budget applies.
        An unknown estimate (``unpriced``: the models without a price) is refused with
        :class:`PriceUnknownError` unless every applicable budget has
        ``unknown_price="allow"`` (then nothing is reserved; the real cost settles).
        ``holder.reservation`` is set to it as it is taken, so a Ctrl-C on the way back
        cannot leave it held by nobody."""
        with self._lock:
            self._roll_day()
            applicable = [i for i, b in enumerate(self.budgets) if b.applies_to(tags)]
            if not applicable:
                return None
            if estimate is None:
                refusing = [self.budgets[i] for i in applicable if self.budgets[i].unknown_price == "refuse"]
                if refusing:
                    models = ", ".join(unpriced) or "its model"
                    raise PriceUnknownError(
                        f"cannot check the {refusing[0].per} budget of ${refusing[0].usd:f} for {what}: the price is"
                        f" unknown for {models} (not in the catalog, a router, or a backend without prices);"
                        " configure prices for it, or use Budget(..., unknown_price='allow')"
                    )
                return Reservation(amount=_ZERO, budgets=applicable, day=self._day, unpriced=True)
            shared = [i for i in applicable if self.budgets[i].per != "request"] if self.store is not None else []
            for index in applicable:
                budget = self.budgets[index]
                if index in shared:
                    continue  # checked on the store by confirm()
                committed = _ZERO if budget.per == "request" else self._spent[index] + self._reserved[index]
                if committed + estimate > budget.usd:
                    scope = f" for tags {list(budget.tags)}" if budget.tags else ""
                    raise BudgetExceededError(
                        f"{what} could cost up to ${estimate:f}, which would break the {budget.per} budget"
                        f" of ${budget.usd:f}{scope} (${committed:f} spent or reserved)"
                    )
            local = [i for i in applicable if i not in shared]
            # One slot per key: two equal budgets (the same in budgets= and a route's) are
            # one counter on the store.
            slots = list({slot.key: slot for slot in (self._slot(self.budgets[i], self._day) for i in shared)}.values())
            reservation = Reservation(amount=estimate, budgets=local, day=self._day, slots=slots)
            if slots:
                from ..store.ids import new_id

                reservation.rid = new_id()
            if holder is not None:
                holder.reservation = reservation  # before any is taken: whatever stops this, it is settled
            reserved = self._reserved
            for index in local:
                reserved[index] += estimate  # with its count, a step a Ctrl-C cannot split
                reservation.taken += 1
            return reservation

    def _refused(self, reservation: Reservation, index: int, committed: int, what: str) -> Exception:
        if index < 0:  # settled before the store took it: not a call anyone still waits on
            return StoreUnavailableError(f"the shared store had settled {what}'s budget reservation before it came")
        slot = reservation.slots[index - 1]
        return BudgetExceededError(
            f"{what} could cost up to ${reservation.amount:f}, which would break the shared budget {slot.key}"
            f" (${Decimal(committed) / _NANOS:f} spent or reserved by every process on the store)"
        )

    def confirm(self, reservation: Reservation | None, what: str) -> None:
        """Take a reservation's shared part on the store, or raise
        :class:`BudgetExceededError` (the request's books then release the local part)."""
        blocking(self._take_on_store, reservation, what, False)

    async def confirm_async(self, reservation: Reservation | None, what: str) -> None:
        """:meth:`confirm` on the store's asyncio API."""
        await self._take_on_store(reservation, what, True)

    async def _take_on_store(self, reservation: Reservation | None, what: str, asynchronous: bool) -> None:
        if reservation is None or not reservation.slots or self.store is None:
            return
        from ..store import base

        reservation.on_store = True
        ask = (reservation.slots, reservation.rid, _nanos(reservation.amount), base.LEASE_S)
        try:
            if asynchronous:
                index, committed = await self.store.budget_reserve_async(*ask)
            else:
                index, committed = self.store.budget_reserve(*ask)
        except StoreUnavailableError as error:
            reservation.on_store = not error.unsent
            raise
        if index:
            reservation.on_store = False
            raise self._refused(reservation, index, committed, what)

    def settle(self, reservation: Reservation | None, actual: Decimal | None) -> None:
        """Replace a reservation by what the request really cost (``None``: unknown, the
        reservation is kept as spent, the safe side)."""
        if reservation is None or reservation.settled:
            return
        spent = reservation.amount if actual is None else actual
        if reservation.unpriced and actual is None:
            reservation.settled = True
            return
        if reservation.on_store and self.store is not None:
            keys = [slot.key for slot in reservation.slots]
            amounts = (_nanos(reservation.amount), _nanos(spent))
            self.store.background(self.on_loop, "budget_settle", keys, reservation.rid, *amounts)
            reservation.on_store = False
        with self._lock:
            # Budget by budget, each step counted with no call inside it: settled again after
            # a Ctrl-C (or by two threads at once), it goes on where it stopped. In place,
            # so a settle a finalizer makes meanwhile on this thread is not overwritten.
            budgets = reservation.budgets
            while reservation.freed < len(budgets):
                index = budgets[reservation.freed]
                if reservation.freed < reservation.taken:
                    self._reserved[index] -= reservation.amount
                same_day = self.budgets[index].per != "day" or reservation.day == self._day
                if self.budgets[index].per != "request" and same_day:
                    self._spent[index] += spent
                reservation.freed += 1
            reservation.settled = True

    def remaining(self) -> dict[int, Decimal]:
        """USD left per budget (by position), after spending and reservations."""
        with self._lock:
            self._roll_day()
            periodic = [(i, b) for i, b in enumerate(self.budgets) if b.per != "request"]
            day = self._day
        if self.store is not None:
            store = self.store
            return {i: b.usd - Decimal(store.budget_committed(self._slot(b, day).key)) / _NANOS for i, b in periodic}
        with self._lock:
            return {i: b.usd - (self._spent[i] + self._reserved[i]) for i, b in periodic}
