"""The usage ledger: every request's tokens and exact cost, with totals, in memory and
optionally in SQLite.

``client.usage`` is a :class:`UsageLedger`. By default it lives in memory; with
``ledger="usage.db"`` it is also written to SQLite (WAL), and an entry is committed
*before* the response is handed back, so a crash loses nothing that was returned. Costs are
``decimal.Decimal`` end to end (stored as text), so totals are exact to the last digit.
"""

from __future__ import annotations

import json
import os
import time
from _thread import RLock
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields
from decimal import Decimal
from os import PathLike
from typing import IO, TYPE_CHECKING, Any

from .cascade_totals import CascadeTotals, cascade_totals
from .columns import _EXACT, EntryColumns

if TYPE_CHECKING:
    import sqlite3

__all__ = ["UsageEntry", "UsageTotals", "UsageLedger", "LedgerFileError", "DEFAULT_MAX_ENTRIES"]

# How many answers recorded by value may wait before the ledger takes them in (any read
# takes them in at once): taken together they cost less than one at a time.
INBOX_LIMIT = 256

# How many recent entries a ledger keeps in memory for ``entries`` (totals cover all): the
# bound on a long-running client's ledger memory, under 200 bytes an entry (~20 MB at most).
DEFAULT_MAX_ENTRIES = 100_000

_ZERO = Decimal(0)


@dataclass(frozen=True)
class UsageEntry:
    """One request as the ledger saw it.

    ``cost`` is what the answer cost (``None`` when unknown); ``cost_source`` says where it
    came from: ``"usage"`` (OpenRouter's ``usage.cost``), ``"catalog"`` (priced from catalog
    prices) or ``"generation"`` (reconciled from ``/generation``). ``reliability_cost`` is
    what failed attempts, retries and hedges cost on top. ``status`` is ``"ok"``,
    ``"error"`` (nothing answered), ``"stream_error"`` (a stream failed after it began) or
    ``"cancelled"`` (asyncio cancellation, Ctrl-C, or a stream closed early or dropped
    without ``close()``; the cost is whatever was known by then). A response-cache hit
    costs 0 (``cost_source`` ``"cache"``) and ``saved_cost`` is what the stored answer cost.

    A cascade (:class:`fastrouter.Cascade`) records one entry per tier it called, with
    ``role``: ``"draft"`` (an answer judged and dropped, or a tier that failed before the
    last), ``"kept"`` (the tier that ended the cascade: its answer was returned, or its
    failure raised) or ``"judge"`` (a judge model's verdict); ``cascade_tier`` is the
    0-based tier; a kept entry's ``baseline_cost`` is what the last tier alone would have
    cost. Plain requests leave the three at ``None``.
    """

    time: float
    generation_id: str | None
    requested: str
    model: str | None
    provider: str | None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    reasoning_tokens: int = 0
    cost: Decimal | None = None
    cost_source: str | None = None
    reliability_cost: Decimal = _ZERO
    byok: bool = False
    latency_s: float | None = None
    attempts: int = 1
    tags: tuple[str, ...] = ()
    status: str = "ok"
    streamed: bool = False
    reconciled: bool = False
    role: str | None = None
    cascade_tier: int | None = None
    baseline_cost: Decimal | None = None
    saved_cost: Decimal | None = None

    @classmethod
    def _fast(cls, *values: Any) -> UsageEntry:
        """Build from every field's value in declaration order, skipping the frozen
        dataclass's per-field ``__setattr__`` (the ledger records one per request)."""
        entry = object.__new__(cls)
        _set_dict(entry, "__dict__", dict(zip(_FIELD_NAMES, values, strict=False)))
        return entry

    @property
    def total_cost(self) -> Decimal:
        """``cost`` (0 when unknown) plus ``reliability_cost``."""
        return (self.cost or _ZERO) + self.reliability_cost

    @property
    def backend(self) -> str:
        """Who answered: the backend of a ``NAME::model`` entry, else ``"openrouter"``."""
        name, sep, _ = (self.model or "").partition("::")
        return name if sep else "openrouter"

    @property
    def day(self) -> str:
        """The UTC date of the request, ``YYYY-MM-DD``."""
        return time.strftime("%Y-%m-%d", time.gmtime(self.time))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict (Decimals as strings, tags as a list)."""
        out = asdict(self)
        out["cost"] = None if self.cost is None else str(self.cost)
        out["reliability_cost"] = str(self.reliability_cost)
        out["baseline_cost"] = None if self.baseline_cost is None else str(self.baseline_cost)
        out["saved_cost"] = None if self.saved_cost is None else str(self.saved_cost)
        out["tags"] = list(self.tags)
        return out


@dataclass
class UsageTotals:
    """Sums over a group of entries."""

    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: Decimal = _ZERO
    reliability_cost: Decimal = _ZERO
    unknown_cost: int = field(default=0)
    cache_hits: int = 0
    saved_cost: Decimal = _ZERO

    @property
    def total_cost(self) -> Decimal:
        """``cost`` plus ``reliability_cost``."""
        return self.cost + self.reliability_cost

    def add(self, entry: UsageEntry) -> None:
        self.requests += 1
        self.prompt_tokens += entry.prompt_tokens
        self.completion_tokens += entry.completion_tokens
        if entry.cost is None:
            self.unknown_cost += 1
        else:
            self.cost += entry.cost
        self.reliability_cost += entry.reliability_cost
        if entry.saved_cost is not None:
            self.cache_hits += 1
            self.saved_cost += entry.saved_cost


_COLUMNS = [f.name for f in fields(UsageEntry)]
_FIELD_NAMES = tuple(_COLUMNS)
_set_dict = object.__setattr__
# Where the totals read an entry given as its fields' values (see UsageLedger._post).
_PROMPT, _COMPLETION, _COST = map(_FIELD_NAMES.index, ("prompt_tokens", "completion_tokens", "cost"))
_SCHEMA = f"CREATE TABLE IF NOT EXISTS usage ({', '.join(_COLUMNS)})"


def _row(entry: UsageEntry) -> tuple[Any, ...]:
    values = entry.to_dict()
    values["tags"] = json.dumps(values["tags"])
    return tuple(values[name] for name in _COLUMNS)


# Columns added since the first ledger files were written (the cascade's): older files
# gain them when opened for writing, and read as NULL when opened read-only.
_ADDED_COLUMNS = frozenset(("role", "cascade_tier", "baseline_cost", "saved_cost"))


def _add_missing_columns(db: sqlite3.Connection) -> None:
    """Columns added since a ledger file was created (the cascade's), so older files load."""
    have = {row[1] for row in db.execute("PRAGMA table_info(usage)")}
    for name in _COLUMNS:
        if name not in have:
            db.execute(f"ALTER TABLE usage ADD COLUMN {name}")


def _select_all(db: sqlite3.Connection) -> str:
    """The query reading every entry; a column an older file lacks reads as NULL."""
    have = {row[1] for row in db.execute("PRAGMA table_info(usage)")}
    columns = ", ".join(name if name in have else f"NULL AS {name}" for name in _COLUMNS)
    return f"SELECT {columns} FROM usage ORDER BY rowid"


class LedgerFileError(ValueError):
    """A ledger file that cannot be read as one: not SQLite, or SQLite without a
    fastrouter ``usage`` table. The message is one line naming the file."""


def _create_private(path: str) -> None:
    """Create the ledger file readable by its owner only (0600; SQLite gives its WAL and
    shared-memory files the same mode). An existing file keeps its mode."""
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        return
    os.close(fd)


def _entry(row: tuple[Any, ...]) -> UsageEntry:
    values = dict(zip(_COLUMNS, row, strict=False))
    values["cost"] = None if values["cost"] is None else Decimal(values["cost"])
    values["reliability_cost"] = Decimal(values["reliability_cost"] or "0")
    values["baseline_cost"] = None if values.get("baseline_cost") is None else Decimal(values["baseline_cost"])
    values["saved_cost"] = None if values.get("saved_cost") is None else Decimal(values["saved_cost"])
    values["tags"] = tuple(json.loads(values["tags"] or "[]"))
    values["byok"] = bool(values["byok"])
    values["streamed"] = bool(values["streamed"])
    values["reconciled"] = bool(values["reconciled"])
    return UsageEntry(**values)


def _open_read_only(path: str) -> sqlite3.Connection:
    """``path`` opened read-only, after checking that it is a fastrouter ledger."""
    import sqlite3
    from pathlib import Path

    db = sqlite3.connect(f"{Path(path).absolute().as_uri()}?mode=ro", uri=True, check_same_thread=False)
    try:
        columns = {row[1] for row in db.execute("PRAGMA table_info(usage)")}
    except sqlite3.DatabaseError as error:
        db.close()
        raise LedgerFileError(f"{path} is not a usage ledger: {error}") from None
    if not set(_COLUMNS) - _ADDED_COLUMNS <= columns:
        db.close()
        what = "has a usage table of another shape" if columns else "has no usage table"
        raise LedgerFileError(f"{path} is not a fastrouter usage ledger (it {what})")
    return db


class UsageLedger:
    """Every request's usage and cost, with exact totals.

    ``path`` adds durable SQLite storage (created if missing, readable by its owner only;
    earlier entries are loaded). ``read_only=True`` opens an existing ledger file without
    changing it (no table created, journal mode left alone) and raises
    :class:`LedgerFileError` when it is not one. In memory the ledger keeps the last
    ``max_entries`` entries for :attr:`entries`, while totals always cover everything
    recorded: that bounds its memory in a long-running process (under 200 bytes an entry,
    stored column by column; ``max_entries=0`` keeps only the totals). Recording is O(1).
    Thread-safe; the lock is re-entrant because a stream dropped without ``close()`` is
    recorded by its finalizer, which the garbage collector may run on a thread that is
    already recording.
    """

    def __init__(
        self,
        path: str | PathLike[str] | None = None,
        *,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        read_only: bool = False,
    ) -> None:
        self._lock = RLock()
        self._entries = EntryColumns(max_entries, UsageEntry)
        self._total = UsageTotals()
        # Answers recorded by value (see _post), waiting to be taken in
        # (_take_in): appended without the lock (one atomic list append), taken in under it.
        self._inbox: list[tuple[Any, ...]] = []
        # The inbox's append, bound: a request's books claim its answer and post it here with
        # no point between the two where Python runs a signal handler (a Python function's
        # entry is one), so a Ctrl-C lands before the claim or after the answer is in. An
        # answer is posted by value: the usual one as ``(NativeChat.ring_facts, requested,
        # started, ended)``, whose facts the ring packs itself (status ok, one attempt, no
        # tags, priced from ``usage``, latency ``ended - started``); any other as ``(values,
        # cost_units)``: its entry's fields' values in declaration order with a known cost
        # (also in fixed point when it fits) and no reliability, baseline or saved cost.
        # Whoever posts makes room first (`_make_room`).
        self._post: Callable[[tuple[Any, ...]], None] = self._inbox.append
        self._deferred: list[UsageEntry] = []
        # The same for a whole entry (taken in after the inbox, as `record` does).
        self._post_entry: Callable[[UsageEntry], None] = self._deferred.append
        # In the store, not yet in the totals (entries, and answers by value): see _take_in.
        self._uncounted: list[UsageEntry] = []
        self._unsummed: list[tuple[Any, ...]] = []
        # Set while the store is being changed or read under the lock: what a finalizer run
        # by the garbage collector on this thread records meanwhile waits (in the inbox, or
        # in _deferred) and is taken in when that is done, never in the middle of it.
        self._busy = False
        self._db: sqlite3.Connection | None = None
        self._select = ""  # the query reading every entry (durable ledgers)
        self.path = None if path is None else str(path)
        self.read_only = read_only
        # In memory, writable, recording as this class does: a request's books may hand an
        # answer over as its fields' values (no UsageEntry built: see _post).
        self._packs = path is None and not read_only and type(self).record is UsageLedger.record
        if self.path is not None:
            import sqlite3  # only durable ledgers need it: `import fastrouter` stays free of it

            if read_only:
                self._db = _open_read_only(self.path)
            else:
                _create_private(self.path)
                self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
                self._db.execute("PRAGMA journal_mode=WAL")
                # NORMAL in WAL mode: a committed entry survives a crash of this process.
                self._db.execute("PRAGMA synchronous=NORMAL")
                self._db.execute(_SCHEMA)
                _add_missing_columns(self._db)
            self._select = _select_all(self._db)
            for row in self._db.execute(self._select):
                self._add(_entry(row))

    def _add(self, entry: UsageEntry) -> None:
        self._entries.append(entry)
        self._total.add(entry)

    def record(self, entry: UsageEntry) -> None:
        """Add an entry (committed to SQLite, when configured, before this returns)."""
        with self._lock:
            if self.read_only:
                raise LedgerFileError(f"the ledger {self.path} was opened read-only")
            if self._db is not None:
                placeholders = ", ".join("?" * len(_COLUMNS))
                self._db.execute(f"INSERT INTO usage VALUES ({placeholders})", _row(entry))
            self._deferred.append(entry)
            self._take_in()  # the answers recorded before it come first

    def _make_room(self) -> None:
        """Take the inbox in when it is full, before an answer is posted to it (``_post``:
        recorded by value without a lock, as every read takes the inbox in first)."""
        if len(self._inbox) >= INBOX_LIMIT and not self._busy:
            self._take_in()

    def _take_in(self) -> None:
        """Move the answers waiting in the inbox into the store and the totals, in the order
        they were recorded. What is recorded while taking in (a finalizer run by the
        garbage collector on this thread) is taken in after them, before this returns."""
        with self._lock:
            if self._busy:  # the block in progress on this thread takes it in when done
                return
            self._busy = True
            try:
                inbox, deferred, uncounted, unsummed = self._inbox, self._deferred, self._uncounted, self._unsummed
                while inbox or deferred or uncounted or unsummed:
                    if inbox:
                        self._take_in_batch(inbox)
                    while deferred:
                        self._take_in_deferred(deferred)
                    while uncounted:
                        self._total.add(uncounted[0])  # no call inside: once begun, it ends
                        del uncounted[0]
                    if unsummed:
                        count = len(unsummed)
                        self._add_totals(unsummed[:count])  # its sums stored at its end, together
                        del unsummed[:count]
            finally:
                self._busy = False

    def _take_in_deferred(self, deferred: list[UsageEntry]) -> None:
        """Move the oldest deferred entry into the store, once even should a Ctrl-C come as
        it goes in: out of ``deferred`` as soon as the store has it, into ``_uncounted``
        (for the totals, which ``_take_in`` adds it to next) with no call between."""
        entries, entry = self._entries, deferred[0]
        ring = entries._ring  # its `next` read natively: no Python call where a Ctrl-C lands
        start = ring.next
        try:
            entries.append(entry)
        finally:
            if ring.next != start:
                del deferred[0]
                self._uncounted.append(entry)

    @contextmanager
    def _held(self) -> Iterator[None]:
        """The lock, with every waiting answer taken in, and nothing taken in until the
        block ends (so a finalizer recording meanwhile cannot change what it reads)."""
        with self._lock:
            self._take_in()
            if self._busy:  # already held on this thread
                yield
                return
            self._busy = True
            try:
                yield
            finally:
                self._busy = False
            self._take_in()

    def _take_in_batch(self, inbox: list[tuple[Any, ...]]) -> None:
        entries = self._entries
        ring = entries._ring  # its `next` read natively: no Python call where a Ctrl-C lands
        count = len(inbox)
        batch = inbox[:count]
        start = ring.next
        del inbox[:count]  # appends made meanwhile stay, after these
        try:
            entries.extend_values(batch)
        finally:
            # Staged one by one: all of them, unless interrupted (Ctrl-C), when the rest
            # goes back to wait for the next take-in; the totals count what was staged
            # (``_take_in`` adds it, from ``_unsummed``: each step with no call between).
            done = ring.next - start
            if done < count:
                inbox[:0] = batch[done:]
                batch = batch[:done]
            self._unsummed.extend(batch)

    def _add_totals(self, batch: list[tuple[Any, ...]]) -> None:
        """Add the answers recorded by value to the totals (the ring sums the usual answers
        it packed itself: see :meth:`_sum`)."""
        total = self._total
        count = 0
        prompt = completion = 0
        cost = total.cost
        for item in batch:
            if len(item) != 2:
                continue
            values = item[0]
            count += 1
            prompt += values[_PROMPT]
            completion += values[_COMPLETION]
            cost += values[_COST]
        total.requests += count
        total.prompt_tokens += prompt
        total.completion_tokens += completion
        total.cost = cost

    def reconcile(self, generation_id: str, cost: Decimal) -> bool:
        """Fill in the real cost of an entry that had none (from ``/generation``), marking
        it reconciled. False if no such entry without a cost is known. O(1): entries
        awaiting a cost are indexed by generation id."""
        with self._held():
            seq = self._entries.unpriced(generation_id)
            if seq is None:
                return False
            self._entries.update(seq, cost=cost, cost_source="generation", reconciled=True)
            self._total.cost += cost
            self._total.unknown_cost -= 1
            if self._db is not None and not self.read_only:
                self._db.execute(
                    "UPDATE usage SET cost = ?, cost_source = 'generation', reconciled = 1"
                    " WHERE generation_id = ? AND cost IS NULL",
                    (str(cost), generation_id),
                )
            return True

    @property
    def entries(self) -> list[UsageEntry]:
        """The most recent entries (up to ``max_entries``), oldest first."""
        with self._held():
            return list(self._entries)

    def _sum(self) -> UsageTotals:
        """The totals: what was added here plus the usual answers the ring packed itself."""
        requests, prompt, completion, cost = self._entries.answered
        total = self._total
        if not requests:
            return total
        total = UsageTotals(**asdict(total))
        total.requests += requests
        total.prompt_tokens += prompt
        total.completion_tokens += completion
        total.cost = _EXACT.add(total.cost, cost)
        return total

    @property
    def total_cost(self) -> Decimal:
        """Everything spent: answers plus reliability (failed attempts, retries, hedges)."""
        # Under the lock: the ring is read while no thread writes it (a read meanwhile
        # raises, the ring being mutably borrowed while it is written).
        with self._held():
            return self._sum().total_cost

    @property
    def saved_cost(self) -> Decimal:
        """What the response cache saved: the stored cost of every answer it served."""
        self._take_in()
        return self._total.saved_cost

    @property
    def reliability_cost(self) -> Decimal:
        """What failed attempts, retries and hedges cost on top of the answers."""
        self._take_in()
        return self._total.reliability_cost

    @property
    def totals(self) -> UsageTotals:
        """Sums over every recorded request."""
        with self._held():
            total = self._sum()
            return UsageTotals(**asdict(total)) if total is self._total else total

    def _group(self, key: str) -> dict[str, UsageTotals]:
        groups: dict[str, UsageTotals] = {}
        for entry in self._all():
            names: Iterable[str]
            if key == "tag":
                names = entry.tags or ("",)
            elif key == "day":
                names = (entry.day,)
            else:
                names = (getattr(entry, key) or "",)
            for name in names:
                groups.setdefault(name, UsageTotals()).add(entry)
        return groups

    def _all(self) -> Iterator[UsageEntry]:
        if self._db is None:
            yield from self.entries
            return
        with self._lock:
            rows = self._db.execute(self._select).fetchall()
        for row in rows:
            yield _entry(row)

    def by_model(self) -> dict[str, UsageTotals]:
        """Totals per answering model."""
        return self._group("model")

    def by_provider(self) -> dict[str, UsageTotals]:
        """Totals per provider."""
        return self._group("provider")

    def by_tag(self) -> dict[str, UsageTotals]:
        """Totals per tag (an entry with several tags counts under each; untagged under "")."""
        return self._group("tag")

    def by_day(self) -> dict[str, UsageTotals]:
        """Totals per UTC day."""
        return self._group("day")

    def spent_since(self, since: float, tags: Iterable[str] = ()) -> Decimal:
        """Total cost of entries at or after ``since`` (epoch seconds), optionally only
        those carrying one of ``tags``."""
        wanted = set(tags)
        total = _ZERO
        for entry in self._all():
            if entry.time >= since and (not wanted or wanted.intersection(entry.tags)):
                total += entry.total_cost
        return total

    def cascade(self) -> CascadeTotals:
        """Totals over the cascades recorded (:class:`fastrouter.Cascade`): requests,
        acceptance per tier, what they cost (every tier and judge), what the last tier
        alone would have cost, and the savings."""
        return cascade_totals(self._all())

    def to_json(self) -> str:
        """Every entry as a JSON list."""
        return json.dumps([e.to_dict() for e in self._all()])

    def to_csv(self, out: IO[str]) -> None:
        """Every entry as CSV (a header row, then one row per entry)."""
        import csv

        writer = csv.writer(out)
        writer.writerow(_COLUMNS)
        for entry in self._all():
            writer.writerow(_row(entry))

    def close(self) -> None:
        """Close the SQLite connection (entries are already committed)."""
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    def __len__(self) -> int:
        with self._held():  # as total_cost
            return self._total.requests + self._entries.answered[0]

    def __repr__(self) -> str:
        where = self.path or "memory"
        return f"UsageLedger({where}, requests={len(self)}, total_cost={self.total_cost})"
