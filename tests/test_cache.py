"""The response cache: hits cost nothing and send nothing, keys ignore what does not change
the answer, errors/refusals/broken streams are never stored, streams replay exactly,
identical requests in flight are sent once, LRU by size, SQLite persistence."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path
from typing import Any

import fastrouter
import pytest
from fastrouter.testing import Fail, MockServer, Reply, StreamScript

MODEL = "openai/gpt-4o-mini"


async def _stream_chunks(caller: Any, client: Any, **kwargs: Any) -> tuple[list[dict[str, Any]], Any]:
    stream = await caller.create(client, stream=True, **kwargs)
    chunks = []
    if caller.mode == "async":
        async with stream:
            async for chunk in stream:
                chunks.append(chunk.to_dict())
    else:
        with stream:
            for chunk in stream:
                chunks.append(chunk.to_dict())
    return chunks, stream.completion


async def test_a_hit_sends_nothing_and_costs_nothing(caller: Any, server: MockServer) -> None:
    server.script(MODEL, Reply(content="cached answer", cost=0.0125))
    client = caller.client(server, cache=fastrouter.Cache(ttl=60))
    first = await caller.create(client, model=MODEL, temperature=0)
    second = await caller.create(client, model=MODEL, temperature=0)
    assert not first.cached and second.cached
    assert second.choices[0].message.content == "cached answer"
    assert first.cost == Decimal("0.0125") and second.cost == 0
    assert len(server.chat_requests()) == 1
    # The ledger: two requests, one paid, one hit that saved the same amount.
    usage = client.usage
    assert len(usage) == 2
    assert usage.total_cost == Decimal("0.0125")
    assert usage.saved_cost == Decimal("0.0125")
    assert usage.totals.cache_hits == 1
    hit = usage.entries[1]
    assert (hit.cost, hit.cost_source, hit.saved_cost) == (Decimal(0), "cache", Decimal("0.0125"))
    assert hit.prompt_tokens == usage.entries[0].prompt_tokens


async def test_the_key_ignores_user_tags_and_headers_but_not_parameters(caller: Any, server: MockServer) -> None:
    client = caller.client(server, cache=True)
    await caller.create(client, model=MODEL, temperature=0.5, user="alice", tags=["a"])
    same = await caller.create(
        client, model=MODEL, user="bob", tags=["b"], extra_headers={"X-Trace": "1"}, temperature=0.5
    )
    assert same.cached
    other = await caller.create(client, model=MODEL, temperature=0.6)
    assert not other.cached
    chain = await caller.create(client, model=[MODEL, "anthropic/claude-3.5-haiku"], temperature=0.5)
    assert not chain.cached
    skipped = await caller.create(client, model=MODEL, temperature=0.5, cache=False)
    assert not skipped.cached
    assert len(server.chat_requests()) == 4


async def test_errors_and_refusals_are_never_stored(caller: Any, server: MockServer) -> None:
    server.script(MODEL, Fail(500), Reply(content="no", finish_reason="content_filter"), Reply(content="fine"))
    client = caller.client(server, cache=True)
    with pytest.raises(fastrouter.InternalServerError):
        await caller.create(client, model=MODEL)
    refused = await caller.create(client, model=MODEL)
    assert refused.choices[0].finish_reason == "content_filter"
    fine = await caller.create(client, model=MODEL)
    assert not fine.cached and fine.choices[0].message.content == "fine"
    again = await caller.create(client, model=MODEL)
    assert again.cached and again.choices[0].message.content == "fine"
    assert len(server.chat_requests()) == 3


async def test_a_broken_stream_is_never_stored(caller: Any, server: MockServer) -> None:
    words = "one two three four five six"
    server.script(MODEL, Reply(content=words, stream=StreamScript(drop_after=2)), Reply(content=words))
    client = caller.client(server, cache=True)
    with pytest.raises(fastrouter.StreamError):
        await _stream_chunks(caller, client, model=MODEL)
    chunks, completion = await _stream_chunks(caller, client, model=MODEL)
    assert not completion.cached and completion.choices[0].message.content == words
    replay, replayed = await _stream_chunks(caller, client, model=MODEL)
    assert replayed.cached
    assert replay == chunks
    assert len(server.chat_requests()) == 2


async def test_a_closed_stream_is_never_stored(caller: Any, server: MockServer) -> None:
    client = caller.client(server, cache=True)
    stream = await caller.create(client, model=MODEL, stream=True)
    if caller.mode == "async":
        await stream.close()
    else:
        stream.close()
    chunks, completion = await _stream_chunks(caller, client, model=MODEL)
    assert not completion.cached
    assert len(server.chat_requests()) == 2


async def test_streams_replay_exactly(caller: Any, server: MockServer) -> None:
    server.script(MODEL, Reply(content="alpha beta gamma delta", cost=0.002))
    client = caller.client(server, cache=True)
    chunks, completion = await _stream_chunks(caller, client, model=MODEL)
    replay, replayed = await _stream_chunks(caller, client, model=MODEL)
    assert len(chunks) > 3
    assert replay == chunks
    assert replayed.cached and replayed.cost == 0
    assert replayed.choices[0].message.content == completion.choices[0].message.content
    # A non-streamed request is a different key (no chunks to replay from it).
    plain = await caller.create(client, model=MODEL)
    assert not plain.cached
    assert client.usage.saved_cost == Decimal("0.002")
    assert len(server.chat_requests()) == 2


async def test_identical_requests_in_flight_are_sent_once(server: MockServer) -> None:
    server.script(MODEL, Reply(content="shared", delay=0.3))
    async with fastrouter.AsyncClient(base_url=server.base_url, api_key="k", cache=True) as client:
        results = await asyncio.gather(
            *[
                client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "x"}])
                for _ in range(5)
            ]
        )
    assert [r.choices[0].message.content for r in results] == ["shared"] * 5
    assert sum(r.cached for r in results) == 4
    assert len(server.chat_requests()) == 1
    assert len(client.usage) == 5


def test_identical_streams_in_flight_in_threads_are_sent_once(server: MockServer) -> None:
    from concurrent.futures import ThreadPoolExecutor

    server.script(MODEL, Reply(content="a b c", stream=StreamScript(chunk_delay=0.1)))
    with fastrouter.Client(base_url=server.base_url, api_key="k", cache=True) as client:

        def read(_: int) -> list[str]:
            with client.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": "x"}], stream=True
            ) as s:
                return [c.choices[0].delta.content or "" for c in s if c.choices]

        with ThreadPoolExecutor(4) as pool:
            results = list(pool.map(read, range(4)))
    assert all("".join(r) == "".join(results[0]) for r in results)
    assert len(server.chat_requests()) == 1


async def test_ttl_per_call(caller: Any, server: MockServer) -> None:
    client = caller.client(server, cache=fastrouter.Cache(ttl=60))
    await caller.create(client, model=MODEL, cache=1.0)  # long enough for the next call on a loaded machine
    assert (await caller.create(client, model=MODEL)).cached
    await asyncio.sleep(1.1)
    assert not (await caller.create(client, model=MODEL)).cached


async def test_lru_by_size(caller: Any, server: MockServer) -> None:
    probe = caller.client(server, cache=True)
    await caller.create(probe, model=MODEL, messages=[{"role": "user", "content": "q0"}])
    size = probe._gate.cache_store._cache_bytes  # one stored answer
    client = caller.client(server, cache=fastrouter.Cache(max_bytes=int(size * 2.5)))
    for i in range(3):
        await caller.create(client, model=MODEL, messages=[{"role": "user", "content": f"q{i}"}])
    assert (await caller.create(client, model=MODEL, messages=[{"role": "user", "content": "q2"}])).cached
    assert (await caller.create(client, model=MODEL, messages=[{"role": "user", "content": "q1"}])).cached
    first = await caller.create(client, model=MODEL, messages=[{"role": "user", "content": "q0"}])
    assert not first.cached  # the least recently used, evicted to stay under max_bytes
    assert client._gate.cache_store._cache_bytes <= size * 2.5


async def test_hits_spend_no_limit(caller: Any, server: MockServer) -> None:
    client = caller.client(server, cache=True, limits={"*": fastrouter.Limit(rpm=1, wait=False)})
    await caller.create(client, model=MODEL)
    for _ in range(5):
        assert (await caller.create(client, model=MODEL)).cached
    with pytest.raises(fastrouter.RateLimitError):
        await caller.create(client, model=MODEL, temperature=1)


async def test_sqlite_cache_is_shared_and_survives(caller: Any, server: MockServer, tmp_path: Path) -> None:
    path = tmp_path / "responses.db"
    first = caller.client(server, cache=str(path))
    await caller.create(first, model=MODEL)
    second = caller.client(server, cache=str(path))
    assert (await caller.create(second, model=MODEL)).cached
    assert len(server.chat_requests()) == 1


def test_import_fastrouter_loads_no_optional_dependency() -> None:
    import subprocess
    import sys

    code = "import fastrouter, sys; print([m for m in ('redis', 'sqlite3') if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
