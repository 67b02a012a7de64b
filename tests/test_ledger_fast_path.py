"""The usual answer recorded without building its entry: the in-memory ledger packs the
entry's values with the core's cost already in fixed point, and what it reads back (and
``books.entry``) is the entry the general path builds; other ledgers still get entries."""

from __future__ import annotations

from dataclasses import fields, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import fastrouter
import pytest
from fastrouter.testing import MockServer, Reply
from fastrouter.usage.columns import EntryColumns, _fixed, fixed_from_text
from fastrouter.usage.entries import entry_for_completion
from fastrouter.usage.ledger import UsageEntry, UsageLedger
from plain_helpers import record_by_value

MOCK_KEY = "sk-or-v1-test-secret-key-0123456789"
MODEL = "openai/gpt-4o-mini"
MESSAGES = [{"role": "user", "content": "hi"}]


@pytest.mark.parametrize(
    "text",
    ["0.00001275", "0", "0.0", "5.", "1.5", "9.2", "0.000000000000000001", "000.25", "9.223372036854775805"],
)
def test_fixed_from_text_is_the_rings_own_conversion(text: str) -> None:
    units = fixed_from_text(text)
    assert units is not None
    assert units == _fixed(Decimal(text))


@pytest.mark.parametrize(
    "text",
    ["1e-5", "1E+2", "-0.5", "+0.5", ".5", "0.1234567890123456789", "9.3", "123.5", "NaN", "", " 1", "1_0.5", "²"],
)
def test_fixed_from_text_leaves_other_forms_to_the_ring(text: str) -> None:
    assert fixed_from_text(text) is None


def _values(entry: UsageEntry) -> tuple[Any, ...]:
    return tuple(getattr(entry, f.name) for f in fields(UsageEntry))


def _entry(i: int, **changes: Any) -> UsageEntry:
    entry = UsageEntry(
        time=1_732_900_000.0 + i,
        generation_id=f"gen-{i}",
        requested=MODEL,
        model=MODEL,
        provider="OpenAI",
        prompt_tokens=10 + i,
        completion_tokens=3 + i,
        cost=Decimal(f"0.{i + 1:08d}"),
        cost_source="usage",
        latency_s=0.25,
    )
    return replace(entry, **changes) if changes else entry


@pytest.mark.parametrize("capacity", [3, 8, 1000])
def test_values_with_fixed_point_costs_read_back_as_recorded(capacity: int) -> None:
    recorded = [_entry(i) for i in range(300)]  # more than are staged: packed too
    # A number the record cannot hold takes the general way, recorded all the same.
    recorded[5] = _entry(5, prompt_tokens=-1, completion_tokens=2**40)
    store = EntryColumns(capacity, UsageEntry)
    for entry in recorded:
        text = str(entry.cost)
        store.append_values(_values(entry), fixed_from_text(text))
    assert list(store) == recorded[-capacity:]
    assert store.get(store.first) == recorded[-capacity:][0]


async def test_an_answer_is_recorded_as_the_general_path_would(server: MockServer) -> None:
    server.script(MODEL, Reply(content="hello", cost=Decimal("0.00001275"), prompt_tokens=7, completion_tokens=2))
    async with fastrouter.AsyncClient(base_url=server.base_url, api_key=MOCK_KEY) as client:
        books = client._new_books(MODEL, ["t"], False, {})
        answer = await client.chat.completions.create(model=MODEL, messages=MESSAGES, tags=["t"])
        (entry,) = client.usage.entries
        assert entry.cost == answer.cost == Decimal("0.00001275")
        assert (entry.prompt_tokens, entry.completion_tokens, entry.tags) == (7, 2, ("t",))
        # What the general path builds for the same answer (but for its latency).
        general = entry_for_completion(
            answer,
            requested=MODEL,
            tags=("t",),
            started=entry.time,
            status="ok",
            streamed=False,
            cost=answer.cost,
            cost_source="usage",
        )
        assert replace(general, latency_s=entry.latency_s) == entry
        assert client.usage.total_cost == Decimal("0.00001275")
        # books.entry: built from the recorded values when read.
        books.answered(answer)
        assert isinstance(books.entry, UsageEntry)
        assert replace(books.entry, time=entry.time, latency_s=entry.latency_s) == entry
        assert books.entry is books.entry


class _Counting(UsageLedger):
    """A ledger recording through its own ``record`` (so it gets UsageEntry objects)."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[UsageEntry] = []

    def record(self, entry: UsageEntry) -> None:
        assert isinstance(entry, UsageEntry)
        self.seen.append(entry)
        super().record(entry)


def test_sqlite_and_custom_ledgers_still_get_entries(server: MockServer, tmp_path: Path) -> None:
    counting = _Counting()
    durable = UsageLedger(tmp_path / "usage.db")
    try:
        for ledger in (counting, durable):
            with fastrouter.Client(base_url=server.base_url, api_key=MOCK_KEY, ledger=ledger) as client:
                answer = client.chat.completions.create(model=MODEL, messages=MESSAGES)
            (entry,) = ledger.entries
            assert entry.cost == answer.cost is not None
            assert entry.generation_id == answer.id
        assert len(counting.seen) == 1
        reopened = UsageLedger(tmp_path / "usage.db", read_only=True)
        assert [e.generation_id for e in reopened.entries] == [e.generation_id for e in durable.entries]
        reopened.close()
    finally:
        durable.close()


def test_answers_recorded_by_value_from_many_threads_all_count_in_order() -> None:
    import threading

    ledger = UsageLedger(max_entries=10_000)
    per_thread, threads = 700, 8

    def work(t: int) -> None:
        for i in range(per_thread):
            entry = _entry(t * per_thread + i)
            record_by_value(ledger, (_values(entry), fixed_from_text(str(entry.cost))))
            if i % 97 == 0:
                assert len(ledger) >= 1  # a read meanwhile takes the inbox in

    workers = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    entries = ledger.entries
    assert len(ledger) == len(entries) == per_thread * threads
    assert ledger.total_cost == sum((e.cost or Decimal(0) for e in entries), Decimal(0))
    assert ledger.totals.prompt_tokens == sum(e.prompt_tokens for e in entries)
    # Each thread's answers keep their order.
    for t in range(threads):
        mine = [e.time for e in entries if t * per_thread <= e.time - 1_732_900_000.0 < (t + 1) * per_thread]
        assert mine == sorted(mine) and len(mine) == per_thread


def test_an_entry_recorded_after_answers_by_value_comes_after_them() -> None:
    ledger = UsageLedger()
    first = _entry(1)
    record_by_value(ledger, (_values(first), fixed_from_text(str(first.cost))))
    ledger.record(_entry(2, cost=None, cost_source=None))
    assert [e.generation_id for e in ledger.entries] == ["gen-1", "gen-2"]
    assert ledger.totals.unknown_cost == 1
    assert ledger.reconcile("gen-2", Decimal("0.5"))
    assert ledger.total_cost == first.cost + Decimal("0.5")  # type: ignore[operator]


def test_an_entry_recorded_while_the_inbox_is_taken_in_comes_after_it(monkeypatch: pytest.MonkeyPatch) -> None:
    # What a stream's finalizer does when the garbage collector runs it mid-way.
    ledger = UsageLedger()
    answers = [_entry(i) for i in range(3)]
    for entry in answers:
        record_by_value(ledger, (_values(entry), fixed_from_text(str(entry.cost))))
    store = ledger._entries
    extend = store.extend_values
    late_answer, late_entry = _entry(10), _entry(11, cost=None, cost_source=None)

    def extend_and_record(batch: Any) -> None:
        monkeypatch.setattr(store, "extend_values", extend)
        half = len(batch) // 2
        extend(batch[:half])
        record_by_value(ledger, (_values(late_answer), fixed_from_text(str(late_answer.cost))))
        ledger.record(late_entry)
        assert len(ledger._inbox) == 1 and ledger._deferred == [late_entry]
        extend(batch[half:])

    monkeypatch.setattr(store, "extend_values", extend_and_record)
    assert [e.generation_id for e in ledger.entries] == ["gen-0", "gen-1", "gen-2", "gen-11", "gen-10"]
    assert len(ledger) == 5
    assert ledger.totals.unknown_cost == 1


def test_answers_recorded_while_the_store_is_busy_wait_until_it_is_done(monkeypatch: pytest.MonkeyPatch) -> None:
    # Finalizers run by the garbage collector while an entry is being packed fill the
    # inbox; it must not be taken in in the middle of that packing (nothing lost or doubled).
    ledger = UsageLedger()
    pack = EntryColumns._pack
    late = [_entry(1000 + i) for i in range(256)]

    def pack_and_record(self: EntryColumns, *args: Any) -> bytes:
        while late:
            entry = late.pop(0)
            record_by_value(ledger, (_values(entry), fixed_from_text(str(entry.cost))))
        return pack(self, *args)

    monkeypatch.setattr(EntryColumns, "_pack", pack_and_record)
    for i in range(256):
        ledger.record(_entry(i))
    ids = [e.generation_id for e in ledger.entries]
    assert len(ids) == len(set(ids)) == len(ledger) == 512


def test_ctrl_c_while_answers_are_taken_in_loses_and_doubles_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    ledger = UsageLedger()
    answers = [_entry(i) for i in range(256)]
    pack = EntryColumns._pack
    calls = 0

    def pack_or_interrupt(self: EntryColumns, *args: Any) -> bytes:
        nonlocal calls
        calls += 1
        if calls == 100:
            raise KeyboardInterrupt
        return pack(self, *args)

    monkeypatch.setattr(EntryColumns, "_pack", pack_or_interrupt)
    with pytest.raises(KeyboardInterrupt):
        for entry in answers:
            record_by_value(ledger, (_values(entry), fixed_from_text(str(entry.cost))))
    monkeypatch.setattr(EntryColumns, "_pack", pack)
    assert [e.generation_id for e in ledger.entries] == [a.generation_id for a in answers]
    assert len(ledger) == 256
    assert ledger.total_cost == sum(a.cost for a in answers if a.cost is not None)
