"""The ledger's in-memory store: under 200 bytes an entry, bounded by ``max_entries``, O(1)
lookups by generation id, and every value read back exactly as recorded."""

from __future__ import annotations

import gc
import tracemalloc
from dataclasses import dataclass, fields, replace
from decimal import Decimal, localcontext
from typing import Any

import pytest
from fastrouter.usage.columns import EntryColumns
from fastrouter.usage.ledger import UsageEntry, UsageLedger


def _entry(i: int, **changes: Any) -> UsageEntry:
    entry = UsageEntry(
        time=1_732_900_000.0 + i,
        generation_id=f"gen-{1732900000 + i}-{i:020d}",
        requested="openai/gpt-4o-mini",
        model="openai/gpt-4o-mini",
        provider="OpenAI",
        prompt_tokens=10 + i % 500,
        completion_tokens=3 + i % 97,
        cost=Decimal(f"0.{i % 99_999_999 + 1:08d}"),
        cost_source="usage",
        latency_s=0.25 + i / 1e6,
        tags=("batch",) if i % 2 else (),
    )
    return replace(entry, **changes) if changes else entry


# Under tracemalloc, with gc.collect() on a heap grown by the rest of the suite, this took
# 42-47 s of the suite's 60 s per test on a loaded machine: the collections walk this
# test's objects only, and the clock is generous.
@pytest.mark.timeout(300)
@pytest.mark.usefixtures("older_objects_frozen")
def test_an_entry_costs_under_200_bytes() -> None:
    count = 20_000
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        ledger = UsageLedger(max_entries=count)
        for i in range(count):
            ledger.record(_entry(i))
        gc.collect()
        # The ring's records and ids live in the core, outside what tracemalloc traces.
        per_entry = (tracemalloc.get_traced_memory()[0] + ledger._entries.heap_bytes - before) / count
    finally:
        tracemalloc.stop()
    assert len(ledger) == count
    assert per_entry <= 200, f"{per_entry:.0f} bytes per ledger entry"


def test_entries_read_back_exactly_as_recorded() -> None:
    odd = [
        _entry(1),
        _entry(2, cost=None, cost_source=None, latency_s=None, model=None, provider=None, generation_id=None),
        _entry(3, prompt_tokens=-1, completion_tokens=2**40, cost=Decimal("1.000000000000000000000000001")),
        _entry(4, cost=Decimal("-0"), reliability_cost=Decimal("NaN"), byok=True, streamed=True, reconciled=True),
        _entry(5, cost=Decimal("12345678901234567.8"), reliability_cost=Decimal("1E+200"), tags=("a", "b")),
        _entry(6, cost=Decimal("0E-12"), status="cancelled", attempts=3),
        _entry(7, tags=["unhashable"]),  # type: ignore[arg-type]
    ]
    store = EntryColumns(10, UsageEntry)
    for entry in odd:
        store.append(entry)
    back = list(store)
    for recorded, read in zip(odd, back, strict=False):
        for f in fields(UsageEntry):
            want, got = getattr(recorded, f.name), getattr(read, f.name)
            assert type(got) is type(want), f.name
            assert got == want or (got != got and want != want), f.name  # NaN is NaN


def test_a_narrow_decimal_context_does_not_round_stored_costs() -> None:
    store = EntryColumns(2, UsageEntry)
    with localcontext() as context:
        context.prec = 3
        store.append(_entry(1, cost=Decimal("0.000123456789")))
        assert next(iter(store)).cost == Decimal("0.000123456789")


def test_the_ring_keeps_the_last_max_entries_and_totals_cover_all() -> None:
    ledger = UsageLedger(max_entries=3)
    for i in range(10):
        ledger.record(_entry(i, model=f"m/{i}"))
    assert [e.model for e in ledger.entries] == ["m/7", "m/8", "m/9"]
    assert len(ledger) == 10 and ledger.totals.requests == 10
    assert ledger.total_cost == sum((_entry(i).cost or Decimal(0) for i in range(10)), Decimal(0))
    # Distinct values that left the ring leave the store's tables too: memory stays bounded.
    labels = [key for key, _ in ledger._entries._ring.held_labels()]  # distinct (requested, model, ...)
    assert len(labels) <= 3 and not {f"m/{i}" for i in range(6)} & {key[1] for key in labels}


def test_max_entries_zero_keeps_only_totals() -> None:
    ledger = UsageLedger(max_entries=0)
    ledger.record(_entry(1))
    assert ledger.entries == [] and len(ledger) == 1 and ledger.total_cost == _entry(1).cost
    with pytest.raises(ValueError):
        UsageLedger(max_entries=-1)


@pytest.mark.parametrize("count", [50, 600])  # all waiting to be packed; most packed
def test_reconcile_finds_the_entry_by_generation_id(count: int) -> None:
    ledger = UsageLedger(max_entries=1000)
    for i in range(count):
        ledger.record(_entry(i, cost=None, cost_source=None) if i in (10, 20) else _entry(i))
    assert ledger.totals.unknown_cost == 2
    assert ledger.reconcile(_entry(20).generation_id or "", Decimal("0.5"))
    assert not ledger.reconcile(_entry(20).generation_id or "", Decimal("0.5"))  # only once
    assert not ledger.reconcile(_entry(30).generation_id or "", Decimal("0.5"))  # it had a cost
    fixed = ledger.entries[20]
    assert (fixed.cost, fixed.cost_source, fixed.reconciled) == (Decimal("0.5"), "generation", True)
    assert ledger.totals.unknown_cost == 1


def test_an_evicted_entry_is_no_longer_reconciled() -> None:
    ledger = UsageLedger(max_entries=2)
    ledger.record(_entry(1, cost=None, cost_source=None))
    ledger.record(_entry(2))
    ledger.record(_entry(3))
    assert not ledger.reconcile(_entry(1).generation_id or "", Decimal("1"))
    ledger.record(_entry(4))  # the next batch packed overwrites its slot, and forgets its id
    assert ledger._entries._unpriced == {}


@dataclass(frozen=True)
class _LaterEntry(UsageEntry):
    """An entry with fields added after the store was written (as the cascade added some)."""

    note: str | None = None
    rank: int | None = None
    extra: Decimal | None = None

    @classmethod
    def _fast(cls, *values: Any) -> _LaterEntry:
        return cls(*values)


def test_fields_added_later_are_stored_too() -> None:
    store = EntryColumns(4, _LaterEntry)
    plain = _entry(1)
    later = _LaterEntry(**{f.name: getattr(plain, f.name) for f in fields(UsageEntry)}, note="kept", rank=2)
    store.append(later)
    store.append(replace(later, extra=Decimal("0.25"), note=None))
    first, second = store
    assert isinstance(first, _LaterEntry) and first == later
    assert (second.note, second.rank, second.extra) == (None, 2, Decimal("0.25"))


def test_a_wrapping_ring_forgets_exactly_what_leaves_it() -> None:
    """Usual answers (packed the short way, with their cost in fixed point) among odd ones
    (side-table values, unhashable labels, entries waiting for their cost), the ring wrapping
    many times: reads give the last entries as recorded, and nothing that left stays in the
    side table, the unpriced index or the label table."""
    from fastrouter.usage.columns import fixed_from_text

    capacity = 7
    store = EntryColumns(capacity, UsageEntry)
    recorded = []
    for i in range(2_000):
        if i % 13 == 5:
            entry = _entry(i, prompt_tokens=-i, reliability_cost=Decimal("1E-30"))  # side table
        elif i % 17 == 3:
            entry = _entry(i, tags=[str(i)])  # type: ignore[arg-type]  # unhashable labels
        elif i % 11 == 7:
            entry = _entry(i, cost=None, cost_source=None)  # waits for its cost
        else:
            entry = _entry(i, model=f"m/{i % 3}")
        recorded.append(entry)
        values = tuple(getattr(entry, f.name) for f in fields(UsageEntry))
        if entry.cost is not None and entry.reliability_cost == 0:
            store.append_values(values, fixed_from_text(str(entry.cost)))
        else:
            store.append(entry)
        if i % 251 == 0:  # reads in between: staged and packed entries alike
            assert list(store) == recorded[-capacity:]
    assert list(store) == recorded[-capacity:]
    # An entry's slot (and what it holds) is released when the next one packed there
    # overwrites it: the slots hold the last `capacity` entries.
    packed = range(store.first, store.next)
    assert len(packed) == capacity
    assert set(store._odd) <= set(packed)
    assert set(store._unpriced.values()) <= set(packed)
    unhashable = sum(1 for seq in store._odd if -1 in store._odd[seq])
    assert sum(refs for _, refs in store._ring.held_labels()) == len(packed) - unhashable
    for entry in recorded[-capacity:]:
        if entry.cost is None:
            assert store.unpriced(entry.generation_id or "") is not None
