"""The in-memory ledger's ring packs the usual answer from the core's facts
(``LedgerRing.add_answers``): among entries recorded every other way, the ring wrapping
many times, reads, totals and the side tables are what recording each entry one by one
would give."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import fields, replace
from decimal import Decimal
from typing import Any

import fastrouter
import pytest
from fastrouter.testing import MockServer, Raw
from fastrouter.usage.entries import answer_values
from fastrouter.usage.ledger import UsageEntry, UsageLedger
from plain_helpers import plain_chat, record_by_value

MOCK_KEY = "sk-or-v1-test-secret-key-0123456789"
MESSAGES = [{"role": "user", "content": "hi"}]
JSON = {"Content-Type": "application/json"}


def _body(i: int, cost: str) -> str:
    return json.dumps(
        {
            "id": f"gen-{i}-abcdefghijklmnopqrst",
            "model": f"m/{i % 3}",
            "provider": None if i % 4 == 0 else f"P{i % 2}",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
            "usage": {
                "prompt_tokens": 7 + i,
                "completion_tokens": 2 * i,
                "cost": "@COST@",
                "prompt_tokens_details": {"cached_tokens": i % 5},
                "completion_tokens_details": {"reasoning_tokens": i % 7},
                "is_byok": i % 2 == 1,
            },
        }
    ).replace('"@COST@"', cost)


COSTS = ["0.00001275", "0.5", "1.2", "0.000000000000000001", "3.10", "0"]


@pytest.fixture(scope="module")
def answers() -> list[Any]:
    """Real answers of the core (``NativeChat``), each with its ledger facts."""
    natives = []
    with MockServer() as server, fastrouter.Client(base_url=server.base_url, api_key=MOCK_KEY) as client:
        for i, cost in enumerate(COSTS):
            server.script("m/x", Raw(body=_body(i, cost), headers=JSON))
            args, _ = plain_chat(client, False, {"model": "m/x", "messages": MESSAGES}) or ((), None)
            native = client._inner.chat_blocking(*args)
            assert native.ring_facts is not None and native.entry_facts is not None
            natives.append(native)
    return natives


def _odd(i: int) -> UsageEntry:
    entry = UsageEntry(
        time=1_732_900_000.0 + i,
        generation_id=f"gen-odd-{i}",
        requested="r",
        model="m/odd",
        provider="P",
        prompt_tokens=3,
        completion_tokens=4,
        cost=Decimal("0.25"),
        cost_source="usage",
        latency_s=0.5,
    )
    if i % 3 == 0:
        return replace(entry, cost=None, cost_source=None)  # waits for its cost
    if i % 3 == 1:
        return replace(entry, prompt_tokens=-i, reliability_cost=Decimal("1E-30"))  # side table
    return replace(entry, tags=[str(i)])  # type: ignore[arg-type]  # unhashable labels


@pytest.mark.parametrize("capacity", [0, 1, 7, 300, 10_000])
def test_packed_answers_among_other_entries_read_back_as_recorded(answers: list[Any], capacity: int) -> None:
    ledger = UsageLedger(max_entries=capacity)
    recorded: list[UsageEntry] = []
    for i in range(2_000):
        started = 1_732_900_000.0 + i
        if i % 29 == 3:
            entry = _odd(i)
            ledger.record(entry)
        elif i % 31 == 5:  # the usual answer recorded by value (as a stream's is)
            native = answers[i % len(answers)]
            values = answer_values(native.entry_facts, f"req/{i % 2}", (), started, "ok", True, started + 0.25)
            record_by_value(ledger, (values, native.entry_facts[9]))
            entry = UsageEntry._fast(*values)
        else:
            native = answers[i % len(answers)]
            requested = f"req/{i % 2}"
            record_by_value(ledger, (native.ring_facts, requested, started, started + 0.125))
            entry = UsageEntry._fast(
                *answer_values(native.entry_facts, requested, (), started, "ok", False, started + 0.125)
            )
        recorded.append(entry)
        if i % 257 == 0:  # reads in between take the inbox in
            assert ledger.entries == recorded[len(recorded) - min(capacity, len(recorded)) :]
    held = recorded[len(recorded) - min(capacity, len(recorded)) :]
    entries = ledger.entries
    assert entries == held
    for got, want in zip(entries, held, strict=True):
        for f in fields(UsageEntry):
            assert type(getattr(got, f.name)) is type(getattr(want, f.name)), f.name
    totals = ledger.totals
    assert len(ledger) == totals.requests == len(recorded)
    assert totals.prompt_tokens == sum(e.prompt_tokens for e in recorded)
    assert totals.completion_tokens == sum(e.completion_tokens for e in recorded)
    want_cost = sum((e.cost for e in recorded if e.cost is not None), Decimal(0))
    assert totals.cost == want_cost and str(totals.cost) == str(want_cost)  # same places too
    assert ledger.total_cost == want_cost + sum((e.reliability_cost for e in recorded), Decimal(0))
    assert totals.unknown_cost == sum(1 for e in recorded if e.cost is None)
    # What left the ring left its tables: labels, side values, unpriced ids.
    store = ledger._entries
    seqs = set(range(store.first, store.next))
    assert set(store._odd) <= seqs and set(store._unpriced.values()) <= seqs
    unhashable = sum(1 for seq in store._odd if -1 in store._odd[seq])
    assert sum(refs for _, refs in store._ring.held_labels()) == len(seqs) - unhashable
    for entry in held:
        if entry.cost is None:
            assert store.unpriced(entry.generation_id or "") is not None
            assert ledger.reconcile(entry.generation_id or "", Decimal("0.75"))
    assert [e.cost for e in ledger.entries] == [Decimal("0.75") if e.cost is None else e.cost for e in held]


def test_the_books_entry_of_a_packed_answer_is_the_ledgers(answers: list[Any]) -> None:
    from fastrouter.usage.books import RequestBooks
    from fastrouter.usage.budget import BudgetBook

    ledger = UsageLedger()
    native = answers[2]
    books = RequestBooks(ledger, BudgetBook([], ledger), lambda: None, lambda _: None, "req", (), False)
    completion = fastrouter.types.ChatCompletion._from_chat(native)
    assert books.answered_chat(completion, native) is completion
    assert len(ledger._inbox) == 1 and len(ledger._inbox[0]) == 4  # the ring packs it
    (entry,) = ledger.entries
    assert books.entry == entry
    assert (entry.cost, entry.cost_source, entry.status, entry.attempts) == (Decimal("1.2"), "usage", "ok", 1)
    assert books.answered_chat(completion, native) is completion  # once per request
    assert len(ledger) == 1


class _SlowTag(str):
    """A label whose hash lets the GIL go while the ring is being written (a GC finalizer
    doing I/O could too)."""

    def __hash__(self) -> int:
        time.sleep(0.1)
        return str.__hash__(self)


@pytest.mark.parametrize("read", [len, lambda ledger: ledger.total_cost], ids=["len", "total_cost"])
def test_reads_wait_for_a_write_in_progress(read: Any) -> None:
    # A thread writes the ring (interning a label) right after this read's take-in: the
    # read must wait for it under the lock, not find the ring mutably borrowed.
    ledger = UsageLedger()
    entry = UsageEntry(
        time=1.0,
        generation_id="g",
        requested="r",
        model="m",
        provider="p",
        cost=Decimal("0.1"),
        cost_source="usage",
        tags=(_SlowTag("t"),),
    )
    writer = threading.Thread(target=ledger.record, args=(entry,))
    take_in = ledger._take_in

    def take_in_then_write() -> None:
        take_in()
        if not writer.is_alive() and writer.ident is None:
            writer.start()
            time.sleep(0.05)  # the writer is inside the ring now, if it could take the lock

    ledger._take_in = take_in_then_write  # type: ignore[method-assign]
    value = read(ledger)
    writer.join()
    assert value in (0, 1, Decimal("0"), Decimal("0.1"))
    assert (len(ledger), ledger.total_cost) == (1, Decimal("0.1"))
