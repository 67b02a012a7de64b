"""The in-memory store behind :class:`~fastrouter.usage.ledger.UsageLedger`: the last
``capacity`` ledger entries packed into the core's ring (:class:`LedgerRing`), at under 200
bytes an entry.

A :class:`UsageEntry` as a frozen dataclass costs ~700 bytes (its ``__dict__``, a ``Decimal``
per cost, a float per time). Here an entry is one fixed-size ``struct`` record: times and
latencies 8-byte floats, token counts 4-byte ints, costs exact 64-bit fixed-point (18
decimal places), flags one byte, and every repeated value (model, provider, requested name,
status, tags, and fields added later such as ``role``) a 4-byte code into a table of distinct
values, kept with reference counts so values that leave the ring leave the table too; plus
its generation id (text held by the core). Entries are rebuilt when read.

Recording is O(1) and builds no :class:`UsageEntry` (entries are built when read): the
ledger hands entries over as their fields' values, packed here (one ``struct.pack`` each),
or the usual answer as the facts the core read from its body (``NativeChat.ring_facts``),
which the ring packs itself (no Python object per field). Finding the entry still waiting
for its cost by generation id is a dict lookup (:meth:`EntryColumns.unpriced`). A value a
record cannot hold (a negative or huge token count, a cost with more than 18 decimal places
or over ~9.22, an unhashable tag) is kept as is in a small side table, so an entry reads
back equal to what was recorded (costs compare equal; trailing zeros of a cost's text are
not kept: ``Decimal("0.50")`` reads back as ``Decimal("0.5")``).
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from dataclasses import fields
from decimal import Context, Decimal
from operator import attrgetter, itemgetter
from typing import TYPE_CHECKING, Any

from .._fastrouter import LedgerRing

if TYPE_CHECKING:
    from .ledger import UsageEntry

__all__ = ["EntryColumns", "fixed_from_text"]

_NAN = float("nan")
_SCALE = 18  # decimal places of the fixed-point costs
_EXACT = Context(prec=60, Emax=10**6, Emin=-(10**6))  # whatever the caller's context says
_COST_MAX = (1 << 63) - 3
_NO_COST = -(1 << 63)  # None
_ODD_COST = _NO_COST + 1  # in the side table
_ODD_CODE = 0xFFFFFFFF  # int or interned value in the side table
_INT_MAX = _ODD_CODE - 1

# Field name -> how it is stored; any other field is interned (a code into distinct values).
_FLOAT, _OPT_FLOAT, _INT, _COST, _BOOL, _ID, _INTERNED = range(7)
_KINDS = {
    "time": _FLOAT,
    "latency_s": _OPT_FLOAT,
    "prompt_tokens": _INT,
    "completion_tokens": _INT,
    "cached_tokens": _INT,
    "reasoning_tokens": _INT,
    "attempts": _INT,
    "cost": _COST,
    "reliability_cost": _COST,
    "byok": _BOOL,
    "streamed": _BOOL,
    "reconciled": _BOOL,
    "generation_id": _ID,
    "baseline_cost": _COST,  # a cascade's kept entry (when the field exists)
    "saved_cost": _COST,  # a response-cache hit
}
_FORMATS = {_FLOAT: "d", _OPT_FLOAT: "d", _INT: "I", _COST: "q", _BOOL: "?"}


def _fixed(value: Any) -> int:
    """A cost as an int64 of 10**-18 units; ``_NO_COST`` for None, ``_ODD_COST`` when it
    does not fit exactly."""
    if value is None:
        return _NO_COST
    if type(value) is Decimal and value.is_finite():
        scaled = value.scaleb(_SCALE, _EXACT)
        units = int(scaled)
        if units == scaled and -_COST_MAX <= units <= _COST_MAX:
            return units
    return _ODD_COST


def fixed_from_text(text: str) -> int | None:
    """``_fixed(Decimal(text))`` for a plain non-negative decimal text (``"0.00001275"``, as
    the core reports a cost) without building the ``Decimal``; ``None`` for any other form
    (a sign, an exponent, more than 18 decimal places, out of range): converted when packed."""
    whole, _, frac = text.partition(".")
    if whole.isdigit() and len(frac) <= _SCALE and (frac.isdigit() or not frac):
        try:
            units = int(whole + frac.ljust(_SCALE, "0"))
        except ValueError:  # a digit int() does not read (Decimal would)
            return None
        if units <= _COST_MAX:
            return units
    return None


def _cost(units: int) -> Decimal:
    value = Decimal(units).scaleb(-_SCALE, _EXACT).normalize(_EXACT)
    exponent = value.as_tuple().exponent
    return value.quantize(1, context=_EXACT) if isinstance(exponent, int) and exponent > 0 else value


class EntryColumns:
    """The last ``capacity`` entries, oldest first, addressed by sequence number (the n-th
    entry ever added has number n; numbers below :attr:`first` have left the ring).

    The records, ids and label table live in the core's :class:`LedgerRing`; this class
    lays records out and packs (and reads back) every entry but the usual answer, which
    the ring packs from the core's facts (:meth:`extend_values`)."""

    def __init__(self, capacity: int, entry_type: type[UsageEntry]) -> None:
        if capacity < 0:
            raise ValueError(f"max_entries must be >= 0, got {capacity}")
        self.capacity = capacity
        names = tuple(f.name for f in fields(entry_type))
        kinds = {name: _KINDS.get(name, _INTERNED) for name in names}
        # Costs last (``cost`` first of them), so the usual answer's record is its other
        # numbers as they are followed by constants (see _pack).
        numbers = [name for name in names if kinds[name] not in (_ID, _INTERNED, _COST)]
        cost_names = ["cost", *(name for name in names if kinds[name] == _COST and name != "cost")]
        numbers += cost_names
        labels = [name for name in names if kinds[name] == _INTERNED]
        self._names = names
        self._build: Callable[..., UsageEntry] = entry_type._fast
        # An entry is its numbers (one struct record, plus the code of its labels: every
        # interned field together, one distinct combination per code) and its generation id.
        self._values: Callable[[UsageEntry], tuple[Any, ...]] = attrgetter(*names)
        self._numbers: Callable[[tuple[Any, ...]], tuple[Any, ...]] = itemgetter(*map(names.index, numbers))
        self._labels: Callable[[tuple[Any, ...]], tuple[Any, ...]] = (
            itemgetter(*map(names.index, labels))
            if len(labels) > 1
            else (lambda values: tuple(values[names.index(n)] for n in labels))
        )
        self._id_field = names.index("generation_id")
        self._cost_field = names.index("cost")
        # An answer recorded with its cost in fixed point (append_values): its numbers but
        # the costs read from its values, then the cost units and its other costs (0
        # reliability, no baseline or saving).
        self._answer_numbers: Callable[[tuple[Any, ...]], tuple[Any, ...]] = itemgetter(
            *(names.index(name) for name in numbers[: -len(cost_names)])
        )
        self._answer_costs = tuple(0 if name == "reliability_cost" else _NO_COST for name in cost_names[1:])
        formats = [_FORMATS[kinds[name]] for name in numbers]
        self._record = struct.Struct("<" + "".join(formats) + "I")
        self._kinds = [kinds[name] for name in numbers]
        self._opt_floats = [i for i, name in enumerate(numbers) if kinds[name] == _OPT_FLOAT]
        self._costs = [i for i, name in enumerate(numbers) if kinds[name] == _COST]
        self._cost_item = numbers.index("cost")
        # Where each field of an entry comes from: (0, item) a number, (1, item) a label, (2, 0) the id.
        self._layout = [
            (2, 0)
            if kinds[name] == _ID
            else (1, labels.index(name))
            if kinds[name] == _INTERNED
            else (0, numbers.index(name))
            for name in names
        ]
        # The usual answer as the ring packs it (LedgerRing.add_answers): a record of its
        # constants (one attempt, no flags, no other cost), where its facts go, and its labels.
        usual = {"attempts": 1, "reliability_cost": 0, "cost": 0}
        constants = [usual.get(name, _NO_COST if kinds[name] == _COST else 0) for name in numbers]
        template = self._record.pack(*(float(v) if f == "d" else v for v, f in zip(constants, formats, strict=True)), 0)
        at = {name: struct.calcsize("<" + "".join(formats[: numbers.index(name)])) for name in numbers}
        offsets = (
            at["time"],
            at["latency_s"],
            at["prompt_tokens"],
            at["completion_tokens"],
            at["cached_tokens"],
            at["reasoning_tokens"],
            at["byok"],
            at["cost"],
        )
        usual_labels = {"cost_source": "usage", "tags": (), "status": "ok"}
        self._ring = LedgerRing(
            capacity,
            template,
            offsets,
            tuple(usual_labels.get(name) for name in labels),
            (labels.index("requested"), labels.index("model"), labels.index("provider")),
        )
        self._odd: dict[int, dict[int, Any]] = {}  # seq -> {number item (-1: the labels): value}
        self._unpriced: dict[str, int] = {}  # generation id -> seq, for entries without a cost

    @property
    def first(self) -> int:
        """Sequence number of the oldest entry held."""
        return self._ring.first

    @property
    def next(self) -> int:
        """Sequence number the next entry gets."""
        return self._ring.next

    def __len__(self) -> int:
        ring = self._ring
        return ring.next - ring.first

    @property
    def answered(self) -> tuple[int, int, int, Decimal]:
        """What the usual answers the ring packed add to the totals: ``(requests,
        prompt_tokens, completion_tokens, cost)``, the cost exact, written with the most
        decimal places any of theirs was (as adding them one by one would give)."""
        requests, prompt, completion, units, places = self._ring.answered
        return requests, prompt, completion, Decimal(units // 10 ** (_SCALE - places)).scaleb(-places, _EXACT)

    @property
    def heap_bytes(self) -> int:
        """Bytes the ring holds outside Python's allocator (see :class:`LedgerRing`)."""
        return self._ring.heap_bytes

    # -------------------------------------------------------------------- writing

    def _pack(self, seq: int, fields: tuple[Any, ...], cost_units: int | None) -> bytes:
        """The record of the entry with these field values (recording what it cannot
        hold in the side table); ``cost_units``: its cost in fixed point, when the
        recorder had it (then its other costs are none: see :meth:`append_values`)."""
        labels = self._labels(fields)
        try:
            code = self._ring.intern(labels)
        except TypeError:  # unhashable: kept as is in the side table
            self._odd.setdefault(seq, {})[-1] = labels
            code = _ODD_CODE
        if cost_units is not None:  # the usual answer: its numbers as they are, costs known
            try:
                return self._record.pack(*self._answer_numbers(fields), cost_units, *self._answer_costs, code)
            except (struct.error, TypeError):
                pass  # a number the record cannot hold: the general way below
        values = list(self._numbers(fields))
        for item in self._opt_floats:
            if values[item] is None:
                values[item] = _NAN
        for item in self._costs:
            value = values[item]
            if cost_units is not None and item == self._cost_item:
                values[item] = cost_units
            elif value is None:
                values[item] = _NO_COST  # what _fixed gives, without the call
            elif type(value) is Decimal and not value:
                values[item] = 0  # the usual reliability cost: nothing
            else:
                units = values[item] = _fixed(value)
                if units == _ODD_COST:
                    self._odd.setdefault(seq, {})[item] = value
        values.append(code)
        try:
            return self._record.pack(*values)
        except (struct.error, TypeError):
            return self._record.pack(*self._odd_items(seq, values))

    def _odd_items(self, seq: int, values: list[Any]) -> list[Any]:
        """``values`` with each number the record cannot hold moved to the side table."""
        for item, kind in enumerate(self._kinds):
            value = values[item]
            if kind == _INT and not (type(value) is int and 0 <= value <= _INT_MAX):
                self._odd.setdefault(seq, {})[item] = value
                values[item] = _ODD_CODE
            elif kind in (_FLOAT, _OPT_FLOAT) and type(value) is not float:
                self._odd.setdefault(seq, {})[item] = value
                values[item] = _NAN
        return values

    def append(self, entry: UsageEntry) -> None:
        """Add ``entry`` as the newest, dropping the oldest when the ring is full."""
        self.append_values(self._values(entry))

    def append_values(self, values: tuple[Any, ...], cost_units: int | None = None) -> None:
        """Add the entry whose fields have these ``values`` (in declaration order) as the
        newest, without building it. ``cost_units``: its cost as :func:`fixed_from_text`
        gives it, for an entry whose every other cost is none (reliability 0, no baseline,
        nothing saved: the usual answer); else ``None`` and costs are converted when packed."""
        ring = self._ring
        seq = ring.next
        if not self.capacity:
            ring.push(b"", None, False)
            return
        if seq >= self.capacity and (self._odd or self._unpriced):
            self._forget(seq - self.capacity)
        record = self._pack(seq, values, cost_units)
        generation_id = values[self._id_field]
        unpriced = values[self._cost_field] is None and generation_id
        ring.push(record, generation_id, bool(unpriced) or (bool(self._odd) and seq in self._odd))
        if unpriced:
            self._unpriced[generation_id] = seq

    def extend_values(self, batch: list[Any]) -> None:
        """Add each item of ``batch``, in order: ``(values, cost_units)`` as
        :meth:`append_values` takes them, or a usual answer ``(NativeChat.ring_facts,
        requested, started, ended)`` whose facts the ring packs itself (status ok, one
        attempt, no tags). An interruption (Ctrl-C) leaves :attr:`next` counting exactly
        the items added (the ledger gives the rest back to its inbox)."""
        ring = self._ring
        count = len(batch)
        at = 0
        while at < count:
            at = ring.add_answers(batch, at, count)
            if at == count:
                return
            item = batch[at]
            if len(item) == 2:
                self.append_values(*item)
                at += 1
                continue
            # A usual answer about to overwrite an entry whose side values or unpriced id
            # are kept here (the ring marks it): forget them first.
            self._forget(ring.next - self.capacity)
            if ring.add_answers(batch, at, at + 1) == at:
                raise TypeError(f"not a ledger entry: {item!r}")
            at += 1

    def _forget(self, seq: int) -> None:
        """Drop what the side table and the unpriced index hold for entry ``seq`` before its
        slot is rewritten (the ring releases its labels)."""
        ring = self._ring
        if seq < ring.first:
            return
        if self._odd:  # usually empty: no lookup then
            self._odd.pop(seq, None)
        unpriced = self._unpriced
        if unpriced:  # usually empty (every answer priced)
            generation_id = ring.id(seq)
            if generation_id is not None and unpriced.get(generation_id) == seq:
                del unpriced[generation_id]
        ring.unmark(seq)

    def unpriced(self, generation_id: str) -> int | None:
        """The sequence number of the held entry with this id still waiting for its cost."""
        seq = self._unpriced.get(generation_id)
        return seq if seq is not None and seq >= self._ring.first else None

    def update(self, seq: int, **changes: Any) -> None:
        """Replace fields of held entry ``seq`` (as ``dataclasses.replace`` would)."""
        values = [getattr(self.get(seq), name) for name in self._names]
        for name, value in changes.items():
            values[self._names.index(name)] = value
        entry = self._build(*values)
        self._forget(seq)
        record = self._pack(seq, tuple(values), None)
        generation_id = entry.generation_id
        unpriced = bool(generation_id) and entry.cost is None
        self._ring.set(seq, record, generation_id, unpriced or seq in self._odd)
        if generation_id and entry.cost is None:
            self._unpriced[generation_id] = seq

    # -------------------------------------------------------------------- reading

    def get(self, seq: int) -> UsageEntry:
        """The entry with sequence number ``seq`` (which must be held)."""
        ring = self._ring
        numbers = list(self._record.unpack(ring.record(seq)))
        code = numbers.pop()
        for item in self._opt_floats:
            if numbers[item] != numbers[item]:
                numbers[item] = None
        for item in self._costs:
            units = numbers[item]
            numbers[item] = None if units == _NO_COST or units == _ODD_COST else _cost(units)
        odd = self._odd.get(seq, {})
        for item, value in odd.items():
            if item >= 0:
                numbers[item] = value
        labels = odd[-1] if code == _ODD_CODE else ring.labels(code)
        sources = (numbers, labels, (ring.id(seq),))
        return self._build(*[sources[source][item] for source, item in self._layout])

    def __iter__(self) -> Iterator[UsageEntry]:
        for seq in range(self.first, self.next):
            yield self.get(seq)
