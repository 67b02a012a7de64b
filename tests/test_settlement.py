"""Issue 10, points 2, 3, 4, 11 and 12 (Python parts), one test or more each: budgets
settle and the ledger records exactly once however a request ends; cancelling a stream
while it opens aborts the request in the core; reconciliation is bounded and opt-in away
from OpenRouter; the ledger file is private; ``fastrouter usage`` leaves foreign files
alone; a catalog cache from the future is not fresh.

The full matrix of exit paths is in ``test_faults.py``; these are the regressions as the
issue described them.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import sqlite3
import stat
import sys
import threading
import time
import weakref
from decimal import Decimal
from pathlib import Path
from typing import Any

import fastrouter
import pytest
from fastrouter.testing import Fail, MockServer, Reply, StreamScript
from fastrouter.usage.ledger import LedgerFileError, UsageEntry, UsageLedger
from fastrouter.usage.reconcile import Reconciler, reconciles_by_default

A = "openai/gpt-4o-mini"
B = "anthropic/claude-3.5-sonnet"
HI = [{"role": "user", "content": "hi"}]
# These tests Ctrl-C themselves: no garbage collection may swallow the KeyboardInterrupt.
pytestmark = pytest.mark.usefixtures("no_automatic_gc")


def reserved(client: fastrouter.Client | fastrouter.AsyncClient) -> Decimal:
    return sum(client._budgets._reserved, Decimal(0))


# ------------------------------------------------------------------ 10.2 budgets settle


async def test_sixteen_wait_for_cancellations_do_not_use_up_the_budget(server: MockServer) -> None:
    """The issue's numbers: Budget(usd="0.01") and 16 calls cancelled by wait_for."""
    server.script(A, *[Reply("slow", delay=2.0)] * 16)
    async with fastrouter.AsyncClient(
        base_url=server.base_url, api_key="k", budgets=[fastrouter.Budget(usd="0.01")]
    ) as client:
        for _ in range(16):
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(client.chat.completions.create(model=A, messages=HI), 0.05)
        assert reserved(client) == 0
        assert client._budgets.remaining()[0] == Decimal("0.01")
        assert [e.status for e in client.usage.entries] == ["cancelled"] * 16
        # The budget still admits a real request. On a loaded machine a cancelled call may
        # not have reached the server before its 50 ms ran out, leaving a slow reply queued.
        server.reset()
        server.script(A, Reply("ok", cost=0.0001))
        resp = await client.chat.completions.create(model=A, messages=HI)
        assert resp.cost == Decimal("0.0001")


def test_an_unexpected_exception_settles_the_reservation(server: MockServer, monkeypatch: Any) -> None:
    client = fastrouter.Client(base_url=server.base_url, api_key="k", budgets=[fastrouter.Budget(usd="1")])
    with client:

        def broken(*args: Any) -> Any:
            raise RuntimeError("boom")

        monkeypatch.setattr("fastrouter.client._completion", broken)
        with pytest.raises(RuntimeError):
            client.chat.completions.create(model=A, messages=HI)
        assert reserved(client) == 0
        assert [e.status for e in client.usage.entries] == ["error"]


# ------------------------------------------------- 10.3 cancelling a stream while it opens


async def test_cancelling_a_stream_while_it_opens_stops_retries_and_failover(server: MockServer) -> None:
    server.script(A, *[Fail(503, delay=0.5)] * 4)
    server.script(B, Reply("should never be asked", stream=StreamScript(first_chunk_delay=0.2)))
    async with fastrouter.AsyncClient(base_url=server.base_url, api_key="k", max_retries=3) as client:
        opening = asyncio.ensure_future(client.chat.completions.create(model=[A, B], messages=HI, stream=True))
        await _until_received(server)  # then cancelled while the server holds its answer
        opening.cancel()
        with pytest.raises(asyncio.CancelledError):
            await opening
        await asyncio.sleep(1.5)  # long enough for every retry and the failover
        assert [r.model for r in server.chat_requests()] == [A]
        assert [e.status for e in client.usage.entries] == ["cancelled"]


def test_ctrl_c_while_a_sync_stream_opens_stops_the_request(server: MockServer) -> None:
    server.script(A, *[Fail(503, delay=0.5)] * 4)
    server.script(B, Reply("should never be asked"))
    with fastrouter.Client(base_url=server.base_url, api_key="k", max_retries=3) as client:
        timer = threading.Thread(target=_interrupt_main_once_received, args=(server,))
        timer.start()
        with pytest.raises(KeyboardInterrupt):
            client.chat.completions.create(model=[A, B], messages=HI, stream=True)
        timer.join()
        time.sleep(1.5)
        assert [r.model for r in server.chat_requests()] == [A]
        assert [e.status for e in client.usage.entries] == ["cancelled"]


def _interrupt_main() -> None:
    import signal

    os.kill(os.getpid(), signal.SIGINT)


def _interrupt_main_once_received(server: MockServer) -> None:
    """Ctrl-C once the server holds the first request (before that, nothing was sent; a
    fixed delay could also fire after the answer came)."""
    deadline = time.monotonic() + 10
    while not server.chat_requests() and time.monotonic() < deadline:
        time.sleep(0.005)
    _interrupt_main()


async def _until_received(server: MockServer) -> None:
    deadline = time.monotonic() + 10
    while not server.chat_requests():
        assert time.monotonic() < deadline, "the request never reached the server"
        await asyncio.sleep(0.005)


# ------------------------------------------------------------- 10.4 the ledger loses none


def test_streams_dropped_without_close_are_each_recorded(server: MockServer) -> None:
    server.script(A, *[Reply("one two three four", cost=0.001, stream=StreamScript(chunk_delay=0.05))] * 30)
    with fastrouter.Client(base_url=server.base_url, api_key="k", budgets=[fastrouter.Budget(usd="1")]) as client:
        for _ in range(30):
            stream = client.chat.completions.create(model=A, messages=HI, stream=True)
            next(iter(stream))
            del stream  # no close(), no end
        gc.collect()
        entries = client.usage.entries
        assert [e.status for e in entries] == ["cancelled"] * 30
        assert all(e.streamed and e.generation_id for e in entries)
        assert reserved(client) == 0


async def test_a_plain_call_cancelled_after_the_server_got_it_is_recorded(server: MockServer) -> None:
    server.script(A, Reply("slow", delay=1.0))
    async with fastrouter.AsyncClient(base_url=server.base_url, api_key="k") as client:
        task = asyncio.ensure_future(client.chat.completions.create(model=A, messages=HI, tags=["t"]))
        while not server.chat_requests():
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        (entry,) = client.usage.entries
        assert (entry.status, entry.requested, entry.tags, entry.cost) == ("cancelled", A, ("t",), None)


def test_a_ctrl_c_d_sync_call_is_recorded_once(server: MockServer) -> None:
    server.script(A, Reply("slow", delay=1.0))
    with fastrouter.Client(base_url=server.base_url, api_key="k", budgets=[fastrouter.Budget(usd="1")]) as client:
        timer = threading.Thread(target=_interrupt_main_once_received, args=(server,))
        timer.start()
        with pytest.raises(KeyboardInterrupt):
            client.chat.completions.create(model=A, messages=HI)
        timer.join()
        assert [e.status for e in client.usage.entries] == ["cancelled"]
        assert reserved(client) == 0


def test_ctrl_c_while_iterating_a_sync_stream_records_it_cancelled(server: MockServer) -> None:
    server.script(A, Reply("a b c d e f g h", cost=0.002, stream=StreamScript(chunk_delay=0.3)))
    with fastrouter.Client(base_url=server.base_url, api_key="k", budgets=[fastrouter.Budget(usd="1")]) as client:
        stream = client.chat.completions.create(model=A, messages=HI, stream=True)
        timer = threading.Timer(0.45, _interrupt_main)
        timer.start()
        received = 0
        with pytest.raises(KeyboardInterrupt):
            for _ in stream:
                received += 1
        timer.join()
        assert received >= 1
        (entry,) = client.usage.entries
        assert (entry.status, entry.streamed) == ("cancelled", True)
        assert reserved(client) == 0
        stream.close()  # closing afterwards records nothing more
        assert len(client.usage.entries) == 1


# Each case is called once per point in the package's code where a Ctrl-C can land,
# interrupted there, and must leave exactly one entry for a request sent, nothing reserved
# and no limit's slot held.
_PACKAGE = os.path.dirname(fastrouter.__file__)
_REDIS = "<the test's redis-server>"
_DRAFT = "meta-llama/llama-3.1-8b-instruct"
_CASES = {
    "the usual call": ({}, {}, ()),
    "with tags": ({}, {"tags": ["t"]}, ()),
    "with a budget": ({"budgets": [fastrouter.Budget(usd="1")]}, {}, ()),
    "after a failover": ({}, {"model": ["a/failing", A]}, ((("a/failing", Fail(503))),)),
    "with limits": ({"limits": {"*": fastrouter.Limit(concurrency=4)}}, {}, ()),
    "with the response cache": ({"cache": True}, {"temperature": 0}, ()),
    "a stream read to its end": ({}, {"stream": True}, ()),
    "a stream, with limits": ({"limits": {"*": fastrouter.Limit(concurrency=4)}}, {"stream": True}, ()),
    "a stream, with a budget": ({"budgets": [fastrouter.Budget(usd="1")]}, {"stream": True}, ()),
    "with a budget and limits on Redis": (
        {"budgets": [fastrouter.Budget(usd="1")], "limits": {"*": fastrouter.Limit(concurrency=4)}, "store": _REDIS},
        {},
        (),
    ),
    "with the response cache on Redis": ({"cache": True, "store": _REDIS}, {"temperature": 0}, ()),
    "a cascade that escalates, on Redis": (
        {"budgets": [fastrouter.Budget(usd="1")], "limits": {"*": fastrouter.Limit(concurrency=4)}, "store": _REDIS},
        {"model": fastrouter.Cascade([_DRAFT, A])},
        ((_DRAFT, Reply("Lyon?", confidence=0.3)),),
    ),
    "a stream, with a budget and limits on Redis": (
        {"budgets": [fastrouter.Budget(usd="1")], "limits": {"*": fastrouter.Limit(concurrency=4)}, "store": _REDIS},
        {"stream": True},
        (),
    ),
    "a cascade that escalates": (
        {"budgets": [fastrouter.Budget(usd="1")]},
        {"model": fastrouter.Cascade([_DRAFT, A])},
        ((_DRAFT, Reply("Lyon?", confidence=0.3)),),
    ),
    "a cascade's judge": (
        {"budgets": [fastrouter.Budget(usd="1")]},
        {"model": fastrouter.Cascade([_DRAFT, A], judge=B)},
        ((_DRAFT, Reply("Paris.", confidence=0.9)), (B, Reply("9"))),
    ),
    "a cascade's stream": (
        {"budgets": [fastrouter.Budget(usd="1")]},
        {"model": fastrouter.Cascade([_DRAFT, A]), "stream": True},
        ((_DRAFT, Reply("Lyon?", confidence=0.3)),),
    ),
}


def _slots_held(client: Any) -> int:
    """The requests the client's limits hold (admitted, not released)."""
    gate = client._gate
    if gate is None or gate.limiter is None:
        return 0
    store = gate.limiter.store
    if store.shared:  # Redis: the requests in flight of every limit
        return sum(store._sync.zcard(key) for key in store._sync.scan_iter("*:fl"))
    return sum(len(window.by_id) for window in store._windows.values())


def _reserved_on_store(client: Any) -> tuple[int, int]:
    """What a shared store's budgets hold: nano-USD reserved, reservations not settled."""
    store = client._budgets.store
    if store is None:
        return 0, 0
    reserved = holds = 0
    for key in store._sync.scan_iter("*budget*", _type="HASH"):
        fields = store._sync.hgetall(key)
        reserved += int(fields.get(b"r", 0))
        holds += sum(1 for name in fields if name.startswith(b"h:"))
    return reserved, holds


def _finalizing(frame: Any) -> bool:
    """Whether ``frame`` runs in a finalizer (``__del__``, ``weakref.finalize``): Python
    prints and drops an exception raised there, a Ctrl-C included, and the finalizer's work
    with it."""
    while frame is not None:
        code = frame.f_code
        if code.co_name == "__del__" or (
            code.co_qualname == "finalize.__call__" and code.co_filename == weakref.__file__
        ):
            return True
        frame = frame.f_back
    return False


# Where Python runs a signal handler: at a Python function's entry, and after a call into C
# returns (the second run takes both; a loop's backward jump, the other such point, is
# not modelled).
_POINTS = {"function entries": ("call",), "and C calls' returns": ("call", "c_return")}


@pytest.mark.parametrize("case", list(_CASES))
@pytest.mark.parametrize("kind", ["sync", "async"])
@pytest.mark.parametrize("points", list(_POINTS))
def test_a_ctrl_c_anywhere_records_the_call_once(
    server: MockServer, points: str, kind: str, case: str, request: pytest.FixtureRequest
) -> None:
    events = _POINTS[points]
    options, params, scripts = _CASES[case]
    if options.get("store") == _REDIS:
        options = {**options, "store": request.getfixturevalue("redis_url")}
    client: Any = fastrouter.Client if kind == "sync" else fastrouter.AsyncClient
    client = client(base_url=server.base_url, api_key="k", max_retries=0, **options)

    # Each call asks something of its own, so a request an interrupted call left on its way
    # is not counted for the next (the cache's hits need the same question each time).
    asked = ["warm"]

    def messages() -> list[dict[str, str]]:
        return HI if options.get("cache") else [{"role": "user", "content": asked[0]}]

    def call() -> None:
        if kind == "sync":
            answer = client.chat.completions.create(**{"model": A, "messages": messages(), **params})
            if params.get("stream"):
                with answer:
                    for _ in answer:
                        pass
            return

        async def create() -> None:
            answer = await client.chat.completions.create(**{"model": A, "messages": messages(), **params})
            if params.get("stream"):
                async with answer:
                    async for _ in answer:
                        pass

        async def cancel_the_rest() -> None:
            pending = asyncio.all_tasks() - {asyncio.current_task()}
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            await asyncio.get_running_loop().shutdown_asyncgens()  # as asyncio.run() does

        # A loop per call, as asyncio.run() makes: a Ctrl-C that leaves run_until_complete
        # after its future is done leaves that future's stop() queued on its loop.
        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(create())
        finally:  # as asyncio.run() leaves: the loop runs on to cancel what still runs
            # (uninterrupted: asyncio.run() turns a Ctrl-C into its main task's cancellation)
            interrupting = sys.getprofile()
            sys.setprofile(None)
            try:
                cleanup = loop.create_task(cancel_the_rest())
                while not cleanup.done():
                    try:
                        loop.run_until_complete(cleanup)
                    except RuntimeError:  # a stop() the interrupted run left queued
                        pass
                loop.close()
            finally:
                sys.setprofile(interrupting)

    try:
        # Warm: what the first call imports (or the catalog it loads) is not interrupted.
        for model, outcome in scripts:
            server.script(model, outcome)
        call()
        calls, recorded = 0, len(client.usage)
        while True:
            asked[0] = f"question <{calls}>"
            server.reset()
            for model, outcome in scripts:
                server.script(model, outcome)
            entered, where = 0, ""

            def interrupt(frame: Any, event: str, arg: Any, at: int = calls + 1) -> None:
                nonlocal entered, where
                if event in events and frame.f_code.co_filename.startswith(_PACKAGE) and not _finalizing(frame):
                    entered += 1
                    if entered == at:
                        what = f"{arg.__qualname__}'s return in " if event == "c_return" else ""
                        where = f"{what}{frame.f_code.co_qualname} (line {frame.f_lineno})"
                        raise KeyboardInterrupt  # profiling stops with it

            sys.setprofile(interrupt)
            try:
                call()
            except KeyboardInterrupt:
                pass
            finally:
                sys.setprofile(None)
            calls += 1
            # One entry for each call the server saw; one interrupted before it sent
            # anything may leave none.
            # An entry per call the server saw (a cascade's tiers are a call each; a
            # failover's tries, one); a call interrupted before it sent may leave one too.
            marker = messages()[-1]["content"]  # in a judge's prompt too
            sent = sum(1 for request in server.chat_requests() if marker in json.dumps(request.body["messages"]))
            calls_sent = sent if isinstance(params.get("model"), fastrouter.Cascade) else min(sent, 1)
            if len(client.usage) - recorded < calls_sent or _slots_held(client):
                gc.collect()  # a stream never entered ends when dropped (here held in a cycle)
            added = len(client.usage) - recorded
            assert calls_sent <= added <= calls_sent + 1, f"a Ctrl-C at {where}: {added} entries, {sent} sent"
            recorded += added
            assert len(client.usage.entries) == recorded, f"a Ctrl-C at {where}: an entry stored twice"
            assert reserved(client) == 0, f"a Ctrl-C at {where}: the reservation is held"
            assert _slots_held(client) == 0, f"a Ctrl-C at {where}: a limit's slot is held"
            assert _reserved_on_store(client) == (0, 0), f"a Ctrl-C at {where}: the store holds a reservation"
            if entered < calls:  # this call ran through: each point it passes was interrupted once
                break
        assert calls > 3 and client.usage.entries[-1].status == "ok"
    finally:
        if kind == "sync":
            client.close()
        else:
            asyncio.run(client.close())


class _SettlesWhenCollected:
    """A dropped stream in a reference cycle: its finalizer settles its reservation."""

    def __init__(self, book: Any, reservation: Any) -> None:
        self.book, self.reservation, self.me = book, reservation, None

    def __del__(self) -> None:
        self.book.settle(self.reservation, Decimal("0.05"))


@pytest.mark.parametrize("operation", ["settle", "reserve"])
def test_a_finalizer_settling_while_a_budget_changes_is_not_overwritten(operation: str) -> None:
    # A dropped stream settles from its finalizer, which the garbage collector may run on
    # this thread in the middle of another reserve or settle (the budget book's lock is
    # re-entrant for it): both changes stay. The collection is made to come after each of
    # the first few allocations in turn.
    from fastrouter.usage.budget import BudgetBook
    from fastrouter.usage.ledger import UsageLedger

    for allocations in range(1, 8):
        book = BudgetBook([fastrouter.Budget(usd="1")], UsageLedger())
        first = book.reserve(Decimal("0.1"), (), "first") if operation == "settle" else None
        dropped = book.reserve(Decimal("0.1"), (), "dropped")

        gc.collect()
        cycle = _SettlesWhenCollected(book, dropped)
        cycle.me = cycle
        del cycle
        threshold = gc.get_threshold()
        gc.set_threshold(gc.get_count()[0] + allocations)
        gc.enable()
        try:
            if first is not None:
                book.settle(first, Decimal("0.05"))
            else:
                book.reserve(Decimal("0.1"), (), "first")
        finally:
            gc.disable()  # as this module's tests keep it (no_automatic_gc)
            gc.set_threshold(*threshold)
        gc.collect()
        expected = ([Decimal(0)], [Decimal("0.10")]) if first is not None else ([Decimal("0.1")], [Decimal("0.05")])
        assert (book._reserved, book._spent) == expected, f"a collection after {allocations} allocations"


# -------------------------------------------------------- 10.11 bounded reconciliation


def test_reconciliation_is_on_only_for_openrouter_urls() -> None:
    assert reconciles_by_default("https://openrouter.ai/api/v1")
    assert reconciles_by_default("https://eu.openrouter.ai/api/v1")
    assert not reconciles_by_default("http://127.0.0.1:8000/api/v1")
    assert not reconciles_by_default("https://openrouter.ai.evil.example/api/v1")
    assert fastrouter.Client(api_key="k")._reconciler is not None
    assert fastrouter.Client(api_key="k", reconcile=False)._reconciler is None
    assert fastrouter.Client(base_url="http://127.0.0.1:9/api/v1", api_key="k")._reconciler is None


def test_answers_without_cost_against_another_server_send_no_generation_lookups(server: MockServer) -> None:
    server.script(A, *[Reply("no cost", omit_cost=True)] * 50)
    threads_before = threading.active_count()
    with fastrouter.Client(base_url=server.base_url, api_key="k") as client:
        for _ in range(50):
            client.chat.completions.create(model=A, messages=HI)
        time.sleep(0.3)
        assert threading.active_count() <= threads_before  # no worker started (others may end)
    assert not [r for r in server.requests if r.path.startswith("/generation")]


def test_one_worker_thread_reconciles_a_thousand_answers(server: MockServer) -> None:
    server.script(A, *[Reply("no cost", cost=0.0001, omit_cost=True)] * 1000)
    threads_before = threading.active_count()
    with fastrouter.Client(base_url=server.base_url, api_key="k", reconcile=True) as client:
        peak = 0
        for _ in range(1000):
            client.chat.completions.create(model=A, messages=HI)
            peak = max(peak, threading.active_count())
        assert peak <= threads_before + 1  # the one worker
        deadline = time.monotonic() + 20
        while client.usage.totals.unknown_cost and time.monotonic() < deadline:
            time.sleep(0.05)
        assert client.usage.totals.unknown_cost == 0
        assert client.usage.total_cost == Decimal("0.1000")
        lookups = [r for r in server.requests if r.path.startswith("/generation")]
        assert len(lookups) == 1000  # one each: found at once, no retries


def test_the_reconciliation_queue_is_bounded() -> None:
    ledger = UsageLedger()
    release = threading.Event()

    def fetch(gid: str) -> Any:
        release.wait(5)
        return {"data": {"total_cost": 0.001}}

    reconciler = Reconciler(ledger, fetch, max_pending=10)
    for n in range(50):
        reconciler.submit(f"gen-{n}")
    assert reconciler.pending <= 10
    assert reconciler.dropped >= 39
    release.set()
    reconciler.close()


def test_reconciling_finds_the_entry_without_scanning_the_ledger() -> None:
    ledger = UsageLedger()
    for n in range(50_000):
        ledger.record(UsageEntry(time=0.0, generation_id=f"gen-{n}", requested=A, model=A, provider=None))
    # Entries awaiting a cost are indexed by generation id (a dict lookup, not a scan of
    # the ledger); the index forgets each one as it is reconciled.
    index = ledger._entries._unpriced
    assert len(index) == 50_000
    for n in range(0, 50_000, 50):
        assert ledger.reconcile(f"gen-{n}", Decimal("0.001"))
    assert len(index) == 49_000 and "gen-0" not in index and "gen-1" in index
    assert ledger.totals.unknown_cost == 49_000
    assert ledger.entries[0].cost == Decimal("0.001") and ledger.entries[0].reconciled
    assert not ledger.reconcile("gen-0", Decimal("1"))  # once only


# ------------------------------------------------------------- 10.12 smaller points


def test_the_ledger_file_is_created_readable_by_its_owner_only(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        ledger = UsageLedger(tmp_path / "usage.db")
        ledger.record(UsageEntry(time=0.0, generation_id=None, requested=A, model=A, provider=None))
        ledger.close()
    finally:
        os.umask(old)
    for path in tmp_path.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def _usage_cli(args: list[str]) -> int:
    from fastrouter.cli import main

    return main(["usage", *args])


def test_usage_cli_on_a_foreign_sqlite_file_changes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "app.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE users (name TEXT)")
    conn.commit()
    conn.close()
    before = db.read_bytes()
    assert _usage_cli(["--db", str(db)]) == 1
    err = capsys.readouterr().err
    assert "not a fastrouter usage ledger" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert db.read_bytes() == before  # no table added, still in rollback-journal mode
    conn = sqlite3.connect(db)
    assert [r[0] for r in conn.execute("SELECT name FROM sqlite_master")] == ["users"]
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    conn.close()


def test_usage_cli_on_a_file_that_is_not_a_database(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("hello, this is not SQLite\n" * 100)
    assert _usage_cli(["--db", str(path)]) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and str(path) in err and "Traceback" not in err


def test_usage_cli_still_reads_a_real_ledger_without_writing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "usage.db"
    ledger = UsageLedger(db)
    ledger.record(
        UsageEntry(time=time.time(), generation_id=None, requested=A, model=A, provider=None, cost=Decimal(1))
    )
    ledger.close()
    assert _usage_cli(["--db", str(db), "--format", "json"]) == 0
    assert '"cost": "1"' in capsys.readouterr().out
    with pytest.raises(LedgerFileError):
        UsageLedger(db, read_only=True).record(
            UsageEntry(time=0.0, generation_id=None, requested=A, model=A, provider=None)
        )


def test_a_catalog_cache_from_the_future_is_not_fresh(tmp_path: Path) -> None:
    from fastrouter.catalog.cache import CacheEntry, CatalogCache
    from fastrouter.catalog.loader import CatalogLoader

    cache = CatalogCache(tmp_path, ttl_s=3600)
    now = time.time()
    future = CacheEntry(body=b'{"data": []}', fetched_at=now + 10 * 365 * 86400)
    assert not cache.is_fresh(future, now)
    assert cache.is_fresh(CacheEntry(body=b"{}", fetched_at=now - 10), now)
    assert not CatalogLoader(cache, "http://x")._fresh(future, now)
