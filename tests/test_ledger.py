"""The usage ledger (client.usage) through the real mock server, in memory and in SQLite."""

from __future__ import annotations

import asyncio
import io
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import fastrouter
import pytest
from fastrouter.testing import Fail, MockServer, Reply, StreamScript
from fastrouter.usage.ledger import UsageEntry, UsageLedger

A = "acme/model-a"
B = "acme/model-b"


async def _drain(stream: Any) -> None:
    if isinstance(stream, fastrouter.AsyncStream):
        async for _ in stream:
            pass
    else:
        for _ in stream:
            pass


async def test_every_answer_is_recorded_exactly(server: MockServer, caller: Any) -> None:
    client = caller.client(server)
    server.script(A, Reply("one", prompt_tokens=10, completion_tokens=3, cost=0.000123))
    server.script(B, Reply("two", prompt_tokens=7, completion_tokens=2, cost=0.0000456, provider="Groq"))
    await caller.create(client, model=A, tags=["team-a", "batch"])
    await caller.create(client, model=B, tags=["team-a"])

    usage = client.usage
    assert len(usage) == 2
    assert usage.total_cost == Decimal("0.000123") + Decimal("0.0000456")
    first, second = usage.entries
    assert (first.model, first.prompt_tokens, first.completion_tokens, first.cost) == (A, 10, 3, Decimal("0.000123"))
    assert first.cost_source == "usage" and first.status == "ok" and first.tags == ("team-a", "batch")
    assert first.generation_id and first.generation_id.startswith("gen-")
    assert second.provider == "Groq"
    assert usage.by_model()[B].cost == Decimal("0.0000456")
    assert usage.by_provider()["Groq"].requests == 1
    assert usage.by_tag()["team-a"].requests == 2
    assert usage.by_tag()["batch"].cost == Decimal("0.000123")
    assert sum(t.requests for t in usage.by_day().values()) == 2


async def test_failures_and_streams_are_recorded(server: MockServer, caller: Any) -> None:
    client = caller.client(server)
    server.script(A, Fail(503))
    with pytest.raises(fastrouter.ServiceUnavailableError):
        await caller.create(client, model=A)
    server.script(A, Reply("w1 w2 w3 w4", cost=0.0002, stream=StreamScript(error_after=2)))
    stream = await caller.create(client, model=A, stream=True)
    with pytest.raises(fastrouter.StreamError):
        await _drain(stream)
    server.script(A, Reply("complete stream", cost=0.0003))
    stream = await caller.create(client, model=A, stream=True)
    await _drain(stream)

    failed, broken, streamed = client.usage.entries
    assert (failed.status, failed.cost, failed.attempts) == ("error", None, 1)
    assert (broken.status, broken.cost, broken.streamed) == ("stream_error", Decimal("0.0002"), True)
    assert (streamed.status, streamed.cost) == ("ok", Decimal("0.0003"))
    assert client.usage.total_cost == Decimal("0.0005")


async def test_a_cancelled_stream_is_recorded_once(server: MockServer, caller: Any) -> None:
    client = caller.client(server)
    server.script(A, Reply("x" * 400, stream=StreamScript(chunks=200, chunk_delay=0.005)))
    stream = await caller.create(client, model=A, stream=True)
    if isinstance(stream, fastrouter.AsyncStream):
        await stream.close()
        await stream.close()
    else:
        stream.close()
        stream.close()
    assert [e.status for e in client.usage.entries] == ["cancelled"]


async def test_billed_failed_attempts_are_reliability_cost(server: MockServer, caller: Any) -> None:
    client = caller.client(server, max_retries=0)
    # A fails in-band before any content, but the error chunk carries usage: it was billed.
    server.script(A, Reply("never", cost=0.001, stream=StreamScript(error_after=0, error_status=502)))
    server.script(B, Reply("from b", cost=0.0004))
    stream = await caller.create(client, model=[A, B], stream=True)
    await _drain(stream)
    (entry,) = client.usage.entries
    assert entry.model == B
    assert entry.cost == Decimal("0.0004")
    assert entry.reliability_cost == Decimal("0.001")
    assert client.usage.reliability_cost == Decimal("0.001")
    assert client.usage.total_cost == Decimal("0.0014")


def test_sqlite_ledger_persists_and_reloads(server: MockServer, tmp_path: Path) -> None:
    db = tmp_path / "usage.db"
    with fastrouter.Client(base_url=server.base_url, api_key="k", ledger=str(db)) as client:
        server.script(A, Reply("a", cost=0.25))
        client.chat.completions.create(model=A, messages=[{"role": "user", "content": "hi"}], tags=["x"])
        client.usage.close()
    reopened = UsageLedger(db)
    assert len(reopened) == 1
    assert reopened.total_cost == Decimal("0.25")
    assert reopened.entries[0].tags == ("x",)
    out = io.StringIO()
    reopened.to_csv(out)
    assert out.getvalue().splitlines()[0].startswith("time,generation_id,requested,model")
    assert json.loads(reopened.to_json())[0]["cost"] == "0.25"
    reopened.close()


def test_an_entry_survives_sigkill_right_after_the_response(server: MockServer, tmp_path: Path) -> None:
    db = tmp_path / "usage.db"
    server.script(A, Reply("durable", cost=0.5))
    script = textwrap.dedent(
        f"""
        import sys, time, fastrouter
        client = fastrouter.Client(base_url={server.base_url!r}, api_key="k", ledger={str(db)!r})
        resp = client.chat.completions.create(model={A!r}, messages=[{{"role": "user", "content": "hi"}}])
        print(resp.choices[0].message.content, flush=True)
        time.sleep(60)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "durable"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    proc.stdout.close()
    ledger = UsageLedger(db)
    assert [(e.model, e.cost) for e in ledger.entries] == [(A, Decimal("0.5"))]
    ledger.close()


def test_a_hundred_thousand_entries_sum_exactly() -> None:
    ledger = UsageLedger(max_entries=10)
    expected = Decimal(0)
    for i in range(100_000):
        cost = Decimal(f"0.000{i % 997:03d}17") + Decimal("0.0000000000001")
        expected += cost
        ledger.record(UsageEntry(time=time.time(), generation_id=None, requested=A, model=A, provider=None, cost=cost))
    assert ledger.total_cost == expected
    assert len(ledger) == 100_000
    assert len(ledger.entries) == 10  # memory stays bounded; totals do not
    assert float(ledger.total_cost) != 0 and str(ledger.total_cost) == str(expected)


def test_spent_since_filters_by_time_and_tag() -> None:
    ledger = UsageLedger()
    now = time.time()
    for when, cost, tags in [(now - 90_000, "1", ("a",)), (now, "2", ("a",)), (now, "4", ("b",))]:
        ledger.record(
            UsageEntry(
                time=when, generation_id=None, requested=A, model=A, provider=None, cost=Decimal(cost), tags=tags
            )
        )
    assert ledger.spent_since(now - 3600) == Decimal(6)
    assert ledger.spent_since(now - 3600, tags=["a"]) == Decimal(2)
    assert ledger.spent_since(0) == Decimal(7)


def test_tags_must_be_strings(client: fastrouter.Client) -> None:
    with pytest.raises(TypeError):
        client.chat.completions.create(model=A, messages=[{"role": "user", "content": "x"}], tags="solo")  # type: ignore[arg-type]


async def _until(predicate: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    assert predicate()


async def test_a_cancelled_stream_is_reconciled_from_generation(server: MockServer, caller: Any) -> None:
    client = caller.client(server, reconcile=True)  # the mock is not an OpenRouter URL: opt in
    server.script(A, Reply("y" * 400, cost=0.0042, stream=StreamScript(chunks=200, chunk_delay=0.01)))
    stream = await caller.create(client, model=A, stream=True)
    if isinstance(stream, fastrouter.AsyncStream):
        await stream.close()
    else:
        stream.close()
    await _until(lambda: client.usage.entries[0].reconciled)
    (entry,) = client.usage.entries
    assert (entry.status, entry.cost, entry.cost_source) == ("cancelled", Decimal("0.0042"), "generation")
    assert client.usage.total_cost == Decimal("0.0042")
    assert any(r.path.startswith("/generation?id=gen-") for r in server.requests)


async def test_a_reply_without_cost_is_reconciled_durably(server: MockServer, tmp_path: Path) -> None:
    db = tmp_path / "usage.db"
    async with fastrouter.AsyncClient(base_url=server.base_url, api_key="k", ledger=str(db), reconcile=True) as client:
        server.script(A, Reply("no cost field", cost=0.0077, omit_cost=True))
        resp = await client.chat.completions.create(model=A, messages=[{"role": "user", "content": "hi"}])
        assert resp.cost is None
        await _until(lambda: client.usage.entries[0].reconciled)
        client.usage.close()
    reopened = UsageLedger(db)
    assert [(e.cost, e.cost_source, e.reconciled) for e in reopened.entries] == [
        (Decimal("0.0077"), "generation", True)
    ]
    reopened.close()


def test_reconciliation_retries_the_eventual_consistency_404() -> None:
    from fastrouter.usage.reconcile import Reconciler

    ledger = UsageLedger()
    ledger.record(UsageEntry(time=time.time(), generation_id="gen-1", requested=A, model=A, provider=None))
    calls: list[str] = []

    def fetch(gid: str) -> Any:
        calls.append(gid)
        if len(calls) < 3:
            raise fastrouter.NotFoundError("Generation not found", status_code=404)
        return {"data": {"id": gid, "total_cost": 0.00125}}

    reconciler = Reconciler(ledger, fetch, delays=(0.01, 0.02, 0.04))
    reconciler.submit("gen-1")
    deadline = time.monotonic() + 5
    while reconciler.filled == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    reconciler.close()
    assert len(calls) == 3
    assert ledger.entries[0].cost == Decimal("0.00125")


def test_usage_cli_prints_totals(server: MockServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from fastrouter.cli import main

    db = tmp_path / "usage.db"
    with fastrouter.Client(base_url=server.base_url, api_key="k", ledger=str(db)) as client:
        server.script(A, Reply("a", cost=0.5), Reply("a", cost=0.25))
        server.script(B, Reply("b", cost=0.125, provider="Groq"))
        for model, tags in [(A, ["x"]), (A, ["y"]), (B, ["x"])]:
            client.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}], tags=tags)
        client.usage.close()

    assert main(["usage", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].split()[:2] == ["model", "requests"]
    assert lines[2].split()[:2] == [A, "2"] and lines[2].split()[-1] == "0.75"
    assert lines[3].split()[0] == B
    assert "3 requests, $0.875 in all" in out
    assert main(["usage", "--db", str(db), "--by", "tag"]) == 0
    by_tag = capsys.readouterr().out
    assert by_tag.splitlines()[2].split()[0] == "x" and by_tag.splitlines()[2].split()[-1] == "0.625"
    assert main(["usage", "--db", str(db), "--format", "json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 3
    assert main(["usage", "--db", str(tmp_path / "missing.db")]) == 1
