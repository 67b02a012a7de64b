"""The in-memory store behind :class:`~fastrouter.usage.ledger.UsageLedger`: the last
``capacity`` ledger entries packed into one ``bytearray`` ring, at under 200 bytes an entry.

A :class:`UsageEntry` as a frozen dataclass costs ~700 bytes (its ``__dict__``, a ``Decimal``
per cost, a float per time). Here an entry is one fixed-size ``struct`` record: times and
latencies 8-byte floats, token counts 4-byte ints, costs exact 64-bit fixed-point (18
decimal places), flags one byte, and every repeated value (model, provider, requested name,
status, tags, and fields added later such as ``role``) a 4-byte code into a table of distinct
values, kept with reference counts so values that leave the ring leave the table too. Only
the generation id stays a Python string per entry. Entries are rebuilt when read.

Recording is O(1): the newest entries (up to 256) wait as tuples of their fields' values
(no :class:`UsageEntry` is built to record one: entries are built when read) and are packed
together (one ``struct.pack`` each); finding the entry still waiting for its
cost by generation id is a dict lookup (:meth:`EntryColumns.unpriced`). A value
a record cannot hold (a negative or huge token count, a cost with more than 18 decimal
places or over ~9.2 million, an unhashable tag) is kept as is in a small side table, so an
entry reads back equal to what was recorded (costs compare equal; trailing zeros of a
cost's text are not kept: ``Decimal("0.50")`` reads back as ``Decimal("0.5")``).
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator, Sequence
from dataclasses import fields
from decimal import Context, Decimal
from operator import attrgetter, itemgetter
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .ledger import UsageEntry

__all__ = ["EntryColumns", "fixed_from_text"]

_NAN = float("nan")
_STAGE = 256  # newest entries kept as objects until packed together
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


class _Interned:
    """Distinct values and their 4-byte codes, with a count of the records using each."""

    __slots__ = ("values", "codes", "refs", "free")

    def __init__(self) -> None:
        self.values: list[Any] = []
        self.codes: dict[Any, int] = {}
        self.refs: list[int] = []
        self.free: list[int] = []

    def acquire(self, value: Any, seq: int, odd: dict[int, dict[int, Any]]) -> int:
        """The code of ``value`` (counted once more); an unhashable one goes to ``odd``."""
        try:
            code = self.codes.get(value)
        except TypeError:
            odd.setdefault(seq, {})[-1] = value
            return _ODD_CODE
        if code is None:
            if self.free:
                code = self.free.pop()
                self.values[code] = value
                self.refs[code] = 0
            else:
                code = len(self.values)
                self.values.append(value)
                self.refs.append(0)
            self.codes[value] = code
        self.refs[code] += 1
        return code

    def release(self, code: int) -> None:
        if code == _ODD_CODE:
            return
        self.refs[code] -= 1
        if not self.refs[code]:
            del self.codes[self.values[code]]
            self.values[code] = None
            self.free.append(code)


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
    entry ever added has number n; numbers below :attr:`first` have left the ring)."""

    def __init__(self, capacity: int, entry_type: type[UsageEntry]) -> None:
        if capacity < 0:
            raise ValueError(f"max_entries must be >= 0, got {capacity}")
        self.capacity = capacity
        self.first = 0  # sequence number of the oldest entry held
        self.next = 0  # sequence number the next entry gets
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
        # Entries wait to be packed as the tuple of their fields' values (``values``).
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
        self._record = struct.Struct("<" + "".join(_FORMATS[kinds[name]] for name in numbers) + "I")
        self._code_at = struct.Struct("<I").unpack_from  # a record's labels code (its last 4 bytes)
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
        self._table = _Interned()
        # The newest entries wait as values and are packed a batch at a time: packing in
        # a warm loop costs a third of packing each as it comes (between two requests).
        # Each waits with its cost in fixed point when the recorder had it (else None).
        self._staged: list[tuple[tuple[Any, ...], int | None]] = []
        self._stage_limit = min(_STAGE, capacity)
        self._packed = 0  # sequence number of the first staged entry
        self._buffer = bytearray()
        self._ids: list[str | None] = []
        self._odd: dict[int, dict[int, Any]] = {}  # seq -> {number item (-1: the labels): value}
        self._unpriced: dict[str, int] = {}  # generation id -> seq, for entries without a cost

    def __len__(self) -> int:
        return self.next - self.first

    # -------------------------------------------------------------------- writing

    def _pack(self, seq: int, fields: tuple[Any, ...], cost_units: int | None) -> bytes:
        """The record of the entry with these field values (recording what it cannot
        hold in the side table); ``cost_units``: its cost in fixed point, when the
        recorder had it (then its other costs are none: see :meth:`append_values`)."""
        labels = self._labels(fields)
        table = self._table
        try:
            code = table.codes[labels]  # the usual case: a combination seen before
        except (KeyError, TypeError):
            code = table.acquire(labels, seq, self._odd)
        else:
            table.refs[code] += 1
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
        self.extend_values(((values, cost_units),))

    def extend_values(self, batch: Sequence[tuple[tuple[Any, ...], int | None]]) -> None:
        """:meth:`append_values` for each ``(values, cost_units)`` of ``batch``, in order."""
        capacity = self.capacity
        if not capacity:
            self.next += len(batch)
            self.first = self.next
            return
        cost_field, id_field, unpriced = self._cost_field, self._id_field, self._unpriced
        staged, limit = self._staged, self._stage_limit
        # One entry at a time, so an interruption (Ctrl-C) leaves `next` counting exactly
        # the entries staged (the ledger gives the rest back to its inbox).
        for item in batch:
            seq = self.next
            values = item[0]
            if values[cost_field] is None:
                generation_id = values[id_field]
                if generation_id:
                    unpriced[generation_id] = seq
            staged.append(item)
            self.next = seq + 1
            if seq + 1 - self.first > capacity:
                self.first = seq + 1 - capacity
            if len(staged) >= limit:
                self._flush()

    def _flush(self) -> None:
        """Pack the staged entries into the ring, oldest first."""
        size = self._record.size
        capacity = self.capacity
        id_field = self._id_field
        staged = self._staged
        buffer, ids, pack = self._buffer, self._ids, self._pack
        refs, code_at = self._table.refs, self._code_at
        packed = 0
        try:
            for seq, (values, cost_units) in enumerate(staged, self._packed):
                record = pack(seq, values, cost_units)
                if seq < capacity:
                    buffer += record
                    ids.append(values[id_field])
                else:
                    pos = seq % capacity
                    start = pos * size
                    code = code_at(buffer, start + size - 4)[0]
                    if code != _ODD_CODE and refs[code] > 1 and not self._odd and not self._unpriced:
                        refs[code] -= 1  # _forget's usual case, inline
                    else:
                        self._forget(seq - capacity, pos)
                    buffer[start : start + size] = record
                    ids[pos] = values[id_field]
                packed += 1
        finally:  # interrupted (Ctrl-C): what was packed stays packed, the rest staged
            self._packed += packed
            del staged[:packed]

    def _forget(self, seq: int, pos: int) -> None:
        """Release what entry ``seq`` (at ``pos``) holds before its slot is rewritten."""
        if self._odd:  # usually empty: no lookup then
            self._odd.pop(seq, None)
        table = self._table
        code = self._code_at(self._buffer, (pos + 1) * self._record.size - 4)[0]
        refs = table.refs
        if code != _ODD_CODE and refs[code] > 1:
            refs[code] -= 1  # the usual case: a combination other entries still use
        else:
            table.release(code)
        unpriced = self._unpriced
        if unpriced:  # usually empty (every answer priced): no lookup then
            generation_id = self._ids[pos]
            if generation_id is not None and unpriced.get(generation_id) == seq:
                del unpriced[generation_id]

    def unpriced(self, generation_id: str) -> int | None:
        """The sequence number of the held entry with this id still waiting for its cost."""
        seq = self._unpriced.get(generation_id)
        return seq if seq is not None and seq >= self.first else None

    def update(self, seq: int, **changes: Any) -> None:
        """Replace fields of held entry ``seq`` (as ``dataclasses.replace`` would)."""
        pos = seq % self.capacity
        values = [getattr(self.get(seq), name) for name in self._names]
        for name, value in changes.items():
            values[self._names.index(name)] = value
        entry = self._build(*values)
        if seq >= self._packed:
            self._staged[seq - self._packed] = (tuple(values), None)
            if entry.generation_id and entry.cost is not None and self._unpriced.get(entry.generation_id) == seq:
                del self._unpriced[entry.generation_id]
            return
        self._forget(seq, pos)
        size = self._record.size
        self._buffer[pos * size : (pos + 1) * size] = self._pack(seq, tuple(values), None)
        self._ids[pos] = entry.generation_id
        if entry.generation_id and entry.cost is None:
            self._unpriced[entry.generation_id] = seq

    # -------------------------------------------------------------------- reading

    def get(self, seq: int) -> UsageEntry:
        """The entry with sequence number ``seq`` (which must be held)."""
        if seq >= self._packed:
            return self._build(*self._staged[seq - self._packed][0])
        pos = seq % self.capacity
        numbers = list(self._record.unpack_from(self._buffer, pos * self._record.size))
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
        labels = odd[-1] if code == _ODD_CODE else self._table.values[code]
        sources = (numbers, labels, (self._ids[pos],))
        return self._build(*[sources[source][item] for source, item in self._layout])

    def __iter__(self) -> Iterator[UsageEntry]:
        for seq in range(self.first, self.next):
            yield self.get(seq)
