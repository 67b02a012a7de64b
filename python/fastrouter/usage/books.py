"""Per-request bookkeeping: one request's budget reservation and its single ledger entry,
settled whichever way the request ends (an answer, a failure, a finished or broken stream,
cancellation, Ctrl-C, an unexpected exception, a stream dropped without ``close()``)."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from .columns import fixed_from_text
from .cost import answer_cost, backend_cost, catalog_cost, core_cost_text
from .entries import CascadeMark, answer_values, completion_values, entry_for_completion, entry_for_failure
from .ledger import _COST as _COST_FIELD
from .ledger import INBOX_LIMIT, UsageEntry

if TYPE_CHECKING:
    from types import TracebackType

    from .._fastrouter import NativeChat
    from ..catalog import Catalog
    from ..routing.backends import Backend
    from ..types import ChatCompletion
    from .budget import BudgetBook, Reservation
    from .ledger import UsageLedger

__all__ = ["RequestBooks", "exit_status", "usual_answer"]

# This process's id, kept current across fork: read twice per request, and os.getpid()
# is a system call.
_pid = os.getpid()


def _after_fork() -> None:
    global _pid
    _pid = os.getpid()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)


def usual_answer(
    ledger: UsageLedger, completion: ChatCompletion, native: NativeChat, requested: str, started: float
) -> tuple[Any, str, float, float] | None:
    """The usual answer (one attempt, priced by the core) as the in-memory ledger's ring
    packs it: ``(ring_facts, requested, started, ended)`` for ``ledger._post``;
    ``None`` for any other answer or ledger. Decides nothing else: the caller has checked
    that the request has no tags, cascade or backends, and settles any budget itself."""
    ring_facts = native.ring_facts
    if ring_facts is None or not getattr(ledger, "_packs", False) or len(completion._attempts) > 1:
        return None
    if len(ledger._inbox) >= INBOX_LIMIT:
        ledger._make_room()  # before the caller's claim (see UsageLedger._post)
    return (ring_facts, requested, started, time.time())


def exit_status(error: BaseException, streaming: bool = False) -> str:
    """The ledger status of a request (or an open stream) that ended by raising ``error``:
    ``cancelled`` for asyncio cancellation, Ctrl-C and interpreter exit, else ``error``
    (``stream_error`` once a stream had begun)."""
    if isinstance(error, (KeyboardInterrupt, SystemExit)):
        return "cancelled"
    asyncio = sys.modules.get("asyncio")  # not loaded: nothing can have raised its CancelledError
    if asyncio is not None and isinstance(error, asyncio.CancelledError):
        return "cancelled"
    return "stream_error" if streaming else "error"


class RequestBooks:
    """Records one request in the ledger and settles its reservation.

    Used as ``with books: ...`` around sending the request, so whatever leaves the block
    by raising (a typed error, asyncio cancellation, Ctrl-C, an unexpected exception) is
    recorded and its reservation settled on its way out; ``answered`` and
    ``stream_finished`` record the other endings. Only the first ending counts (exactly
    one entry per request), and only in the process that made the request (a forked child
    dropping its parent's stream records nothing). A Ctrl-C that cuts an ending short
    after its claim (before its entry is posted, or while its reservation settles) leaves
    the rest to ``failed()`` or the stream's next ending: the entry is posted to the
    ledger in the same step as it is marked recorded, so it is never lost nor doubled.
    ``load_catalog`` gives the catalog at hand (or ``None``) to price an answer OpenRouter
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
        "cascade",
        "_recorded",
        "_arrived",
        "done",
        "pid",
        "backends",
    )

    def __init__(
        self,
        ledger: UsageLedger,
        budgets: BudgetBook,
        load_catalog: Callable[[], Catalog | None],
        reconcile: Callable[[str], None],
        requested: str,
        tags: tuple[str, ...],
        streamed: bool,
        backends: Mapping[str, Backend] | None = None,
        started: float | None = None,
        pid: int | None = None,
    ) -> None:
        self.ledger = ledger
        self.budgets = budgets
        self.load_catalog = load_catalog
        self.reconcile = reconcile
        self.requested = requested
        self.tags = tags
        self.streamed = streamed
        # A request's books may be opened after it was sent (the usual call's, late): they
        # keep its start and the process that sent it.
        self.started = time.time() if started is None else started
        self.reservation: Reservation | None = None
        # A cascade's label for this tier's entry, and the entry once recorded (or the
        # values of its fields, when recorded without building it: see ``entry``).
        self.cascade: CascadeMark | None = None
        self._recorded: UsageEntry | tuple[Any, ...] | None = None  # see ``entry``
        # An answer that arrived but could not be booked (its cost is then booked by failed()).
        self._arrived: ChatCompletion | None = None
        self.done = False
        self.pid = _pid if pid is None else pid
        self.backends = backends

    def reserve(self, estimate: Decimal | None, unpriced: tuple[str, ...] = ()) -> None:
        """Hold ``estimate`` (the request's worst case; ``None`` when ``unpriced`` members
        have no price) against the budgets, or raise :class:`BudgetExceededError` when it
        breaks one (nothing is held then). The per-request cap is applied before, when
        the chain is chosen (:func:`fastrouter.routing.plan.fit_cost_cap`)."""
        what = f"a request to {self.requested}"
        try:
            self.reservation = self.budgets.reserve(estimate, self.tags, what, unpriced, self)
        except BaseException:
            # Interrupted (a Ctrl-C) as it was taken: a request never sent holds nothing.
            if self.reservation is not None:
                self.budgets.settle(self.reservation, Decimal(0))
            raise

    def confirm(self) -> None:
        """Take the reservation's shared part on the store (a shared store's budgets)."""
        self.budgets.confirm(self.reservation, f"a request to {self.requested}")

    async def confirm_async(self) -> None:
        """:meth:`confirm`, awaiting the store."""
        await self.budgets.confirm_async(self.reservation, f"a request to {self.requested}")

    def served_from_cache(self, completion: ChatCompletion, saved: Decimal | None) -> ChatCompletion:
        """The response cache answered: record a hit at cost 0 with what it ``saved``."""
        entry = self._entry(completion, "ok", streamed=self.streamed)
        entry = replace(entry, cost_source="cache", saved_cost=saved or Decimal(0))
        if self._claim():
            self._record(entry, Decimal(0))
        return completion

    def _entry(self, completion: ChatCompletion, status: str, streamed: bool) -> UsageEntry:
        """The ledger entry, priced from the catalog when OpenRouter sent no cost."""
        cost, source = answer_cost(completion), "usage"
        served = self._backend_entry(completion)
        if served is not None:
            if cost is None:
                cost, source = backend_cost(completion, served, self.load_catalog, self.backends or {})
                completion._priced_cost = cost
        elif cost is None:
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
            cascade=self.cascade,
            model=served,
        )

    def _backend_entry(self, completion: ChatCompletion) -> str | None:
        """The ``backend::model`` entry that answered, ``None`` for OpenRouter answers."""
        if not self.backends or not completion._attempts:
            return None
        from ..routing.backends import BACKEND_SEPARATOR

        served = completion.attempts[-1].model
        return served if BACKEND_SEPARATOR in served else None

    def _claim(self) -> bool:
        """True for the request's first ending in its own process (it records and settles)."""
        if self.done or self.pid != _pid:
            return False
        self.done = True
        return True

    @property
    def entry(self) -> UsageEntry | None:
        """The request's ledger entry, once recorded."""
        recorded = self._recorded
        if recorded is None or isinstance(recorded, UsageEntry):
            return recorded
        if len(recorded) == 4:  # the usual answer, as the ring packed it (answered_chat)
            facts, requested, started, ended = recorded
            recorded = answer_values(facts.entry_facts, requested, (), started, "ok", False, ended)
        self._recorded = entry = UsageEntry._fast(*recorded)
        return entry

    def _record(self, entry: UsageEntry, actual: Decimal | None) -> None:
        ledger = self.ledger
        packs = getattr(ledger, "_packs", False)  # read first: a Ctrl-C may land after a call
        self._recorded = entry
        try:
            if packs:
                ledger._post_entry(entry)  # in at once: see UsageLedger._post
                ledger._take_in()
            else:
                ledger.record(entry)
        finally:  # a ledger that cannot write (disk full) still releases the budget
            self.budgets.settle(self.reservation, actual)
        # Only OpenRouter's generations can be looked up; other backends' cost stays unknown.
        if entry.cost is None and entry.generation_id and entry.cost_source != "unknown":
            self.reconcile(entry.generation_id)  # fills the cost in from /generation

    def answered(self, completion: ChatCompletion) -> ChatCompletion:
        """A whole answer arrived: record it and hand it back. Called again after a Ctrl-C
        cut the first call short before its entry existed, it records it."""
        if (not self.done or self._recorded is None) and self.pid == _pid:  # _claim(), inline
            self.done = True
            self._answer_or_unclaim(completion)
        return completion

    def _answer_or_unclaim(self, completion: ChatCompletion) -> None:
        """Record a whole answer; should that fail before its entry exists, hand the
        request back unclaimed, so ``failed()`` (leaving ``with books``) records it once."""
        try:
            self._answer(completion, "ok", False)
        except BaseException:
            if self._recorded is None:
                self.done = False
                self._arrived = completion  # what it cost is still booked by failed()
            raise

    def answered_chat(self, completion: ChatCompletion, native: NativeChat) -> ChatCompletion:
        """:meth:`answered` for ``completion`` built from the core's ``native`` chat: the
        usual answer is recorded from the facts the core read from its body (the short
        way's books; books of another kind, such as telemetry's, see it in ``answered``)."""
        if type(self) is not RequestBooks:
            return self.answered(completion)
        if not self.done and self.pid == _pid:  # _claim(), inline: once per answer
            # What it cost is booked by failed() should an interruption come before the claim.
            self._arrived = completion
            ledger = self.ledger
            answer = None
            if not self.tags and self.cascade is None and not self.backends:
                answer = usual_answer(ledger, completion, native, self.requested, self.started)
            if answer is not None:
                # The in-memory ledger's ring packs it from the core's facts when taken in.
                # No point between the claim and the post where a Ctrl-C can land.
                self.done = True
                self._recorded = answer
                try:
                    ledger._post(answer)
                finally:  # a ledger that cannot take it in still releases the budget
                    if self.reservation is not None:
                        self.budgets.settle(self.reservation, Decimal(native.answer_cost or 0))
                return completion
            facts = native.entry_facts
            if facts is None or self.cascade is not None or self.backends or len(completion._attempts) > 1:
                self.done = True
                self._answer_or_unclaim(completion)
            else:
                # Built before the claim: an interruption in between leaves the request to
                # ``failed()``, which still records it once.
                values = answer_values(facts, self.requested, self.tags, self.started, "ok", False)
                self.done = True
                self._record_values(values, facts[9])
        return completion

    def _answer(self, completion: ChatCompletion, status: str, streamed: bool) -> None:
        """Record an answer (whole, or what a stream received) and settle its reservation."""
        # The usual answer: one attempt, priced by the core, plain (no cascade, cache or
        # other backend). Its entry is recorded as its fields' values: the in-memory
        # ledger packs them as they are, the entry is built only if something reads it.
        text = None
        if self.cascade is None and not self.backends and len(completion._attempts) < 2:
            text = core_cost_text(completion)
        if text is None:
            entry = self._entry(completion, status, streamed)
            self._record(entry, entry.total_cost if entry.cost is not None else None)
            return
        cost = Decimal(text)
        values = completion_values(completion, self.requested, self.tags, self.started, status, streamed, cost, "usage")
        self._record_values(values, fixed_from_text(text))

    def _record_values(self, values: tuple[Any, ...], cost_units: int | None) -> None:
        """Record the usual answer given as its entry's fields' values (its cost known, also
        as ``cost_units`` in fixed point when it fits) and settle its reservation."""
        ledger = self.ledger
        packs = getattr(ledger, "_packs", False)
        if packs:
            ledger._make_room()
        self._recorded = values
        try:
            if packs:
                ledger._post((values, cost_units))  # in at once: see UsageLedger._post
            else:
                ledger.record(UsageEntry._fast(*values))
        finally:  # a ledger that cannot write (disk full) still releases the budget
            if self.reservation is not None:
                self.budgets.settle(self.reservation, values[_COST_FIELD])

    def failed(self, error: BaseException) -> None:
        """Nothing answered (an error, or cancelled before an answer): record what the
        attempts known to have been made cost. A cancelled request settles at that cost
        (usually 0): the core dropped it, so nothing more is known to have been spent.
        Also the end of an answer's booking cut short by a Ctrl-C: recorded (cancelled)
        when its entry was not yet posted, its reservation settled when it was."""
        if self.pid != _pid:
            return
        if self.done and self._recorded is not None:
            self._settle_interrupted()
            return
        # Claimed but not recorded: the answer's booking was interrupted (a Ctrl-C) before
        # its entry existed; nothing else books it now that the exception has left it.
        self.done = True
        arrived = self._arrived
        attempts = getattr(error, "attempts", None) or (arrived.attempts if arrived is not None else [])
        entry = entry_for_failure(
            attempts,
            requested=self.requested,
            tags=self.tags,
            started=self.started,
            streamed=self.streamed,
            cascade=self.cascade,
            status=exit_status(error),
        )
        self._record(entry, entry.reliability_cost)

    def _settle_interrupted(self) -> None:
        """Settle the reservation of a recorded request whose settling was interrupted (a
        Ctrl-C), at the cost its entry records."""
        reservation = self.reservation
        if reservation is None or reservation.settled or self._recorded is None or self.pid != _pid:
            return
        entry = self.entry
        if entry is not None:
            self.budgets.settle(reservation, entry.total_cost if entry.cost is not None else None)

    def __enter__(self) -> RequestBooks:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc is not None:
            self.failed(exc)

    def stream_finished(self, stream: Any, status: str) -> None:
        """A stream ended (``status``: ok, stream_error, cancelled, also when dropped
        without ``close()``): record what it received. The usual stream (one attempt,
        priced by the core) is recorded from the core's facts, and its completion is not
        built here (a completion Python cannot build, its int limit lowered mid-stream,
        is then an error only for whoever reads ``stream.completion``). Any other is
        recorded from its completion; an unknown cost keeps the reservation as spent (the
        safe side) until reconciliation, if any, finds it. Should that fail before its
        entry exists (a completion Python cannot build; a Ctrl-C meanwhile), the stream
        is still recorded once, from its attempts; a completion's error reaches only the
        reader of a stream that ended well (nobody asked for it at a close, a cancel or a
        drop)."""
        built = False
        try:
            if not self._claim():
                self._settle_interrupted()  # reported again: a settling cut short ends now
                return
            # The usual stream (one attempt, priced by the core, plain) is booked from the
            # facts the core read from what it received, as answered_chat books the usual
            # answer: its completion is built only if someone reads it.
            facts = stream._native.entry_facts if self.cascade is None and not self.backends else None
            if facts is not None:
                values = answer_values(facts, self.requested, self.tags, self.started, status, True)
                built = True
                self._record_values(values, facts[9])
                return
            completion = stream.completion
            built = True
            self._answer(completion, status, True)
        except BaseException as error:
            if self.done and self._recorded is None and self.pid == _pid:
                entry = entry_for_failure(
                    stream.attempts,
                    requested=self.requested,
                    tags=self.tags,
                    started=self.started,
                    streamed=True,
                    cascade=self.cascade,
                    status=exit_status(error, streaming=True) if status == "ok" else status,
                )
                self._record(entry, entry.reliability_cost)
            if built or status == "ok" or not isinstance(error, Exception):
                raise
