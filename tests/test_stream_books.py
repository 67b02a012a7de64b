"""A stream's ledger entry (issue 11, S2): the usual stream (one attempt, priced by the
core) is booked from the facts the core read from what it received
(``NativeStream.entry_facts``), with the values the whole completion would have given,
and its completion is built only when someone reads it. Any other stream is booked from
its completion, as before."""

from __future__ import annotations

import dataclasses
import json
import sys
from decimal import Decimal
from typing import Any

import fastrouter
import pytest
from fastrouter.testing import Fail, MockServer, Raw
from fastrouter.usage.entries import completion_values
from fastrouter.usage.ledger import UsageEntry
from stream_helpers import MODEL, drain, interrupt_once, open_stream

SSE = {"content-type": "text/event-stream"}
USAGE = {
    "prompt_tokens": 11,
    "completion_tokens": 7,
    "total_tokens": 18,
    "prompt_tokens_details": {"cached_tokens": 3},
    "completion_tokens_details": {"reasoning_tokens": 2},
    "is_byok": True,
    "cost": 0.000123,
}


def _sse(*chunks: str) -> Raw:
    return Raw("".join(f"data: {chunk}\n\n" for chunk in chunks) + "data: [DONE]\n\n", headers=SSE)


def _script(usage: str, ending: str = "") -> Raw:
    head = '{"id":"gen-7","model":"a/x-0613","provider":"P","choices":[{"index":0,"delta":{"content":"he"}}]}'
    body = '{"id":"gen-7","choices":[{"index":0,"delta":{"content":"llo"},"finish_reason":"stop"}]}'
    tail = '{"id":"gen-7","choices":[],"usage":' + usage + "}"
    return _sse(head, body, tail, *([ending] if ending else []))


def _from_completion(entry: UsageEntry, stream: Any) -> UsageEntry:
    """The entry the stream's whole completion gives (what the books recorded before)."""
    completion = stream.completion
    values = completion_values(
        completion, entry.requested, entry.tags, entry.time, entry.status, True, completion.cost, "usage"
    )
    return UsageEntry._fast(*values)


def _same_but_latency(one: UsageEntry, other: UsageEntry) -> None:
    assert dataclasses.replace(one, latency_s=0.0) == dataclasses.replace(other, latency_s=0.0)


async def test_the_usual_stream_is_booked_from_the_cores_facts(server: MockServer, caller: Any) -> None:
    server.script(MODEL, _script(json.dumps(USAGE)))
    client = caller.client(server)
    stream = await open_stream(caller, client)
    await drain(stream)
    facts = stream._native.entry_facts
    assert facts == ("gen-7", "a/x-0613", "P", 11, 7, 3, 2, True, "0.000123", facts[9])
    assert stream._completion is None  # booked without building it
    (entry,) = client.usage.entries
    assert (entry.status, entry.streamed, entry.cost, entry.generation_id) == ("ok", True, Decimal("0.000123"), "gen-7")
    assert (entry.model, entry.provider, entry.cached_tokens, entry.reasoning_tokens) == ("a/x-0613", "P", 3, 2)
    _same_but_latency(entry, _from_completion(entry, stream))
    assert client.usage.total_cost == Decimal("0.000123")


@pytest.mark.parametrize(
    "usage",
    [
        '{"prompt_tokens":"11","completion_tokens":7,"cost":0.5}',  # a count of another type
        '{"prompt_tokens":1,"completion_tokens":2,"is_byok":"yes","cost":0.5}',
        '{"prompt_tokens":1,"prompt_tokens":2,"cost":0.5}',  # a repeated field
    ],
)
async def test_a_stream_of_another_shape_is_booked_from_its_completion(
    server: MockServer, caller: Any, usage: str
) -> None:
    server.script(MODEL, _script(usage))
    client = caller.client(server)
    stream = await open_stream(caller, client)
    await drain(stream)
    assert stream._native.entry_facts is None
    (entry,) = client.usage.entries
    assert entry.status == "ok" and entry.cost == Decimal("0.5")
    _same_but_latency(entry, _from_completion(entry, stream))


async def test_a_stream_without_a_cost_has_no_facts(server: MockServer, caller: Any) -> None:
    server.script(MODEL, _script('{"prompt_tokens":1,"completion_tokens":2}'))
    client = caller.client(server)
    stream = await open_stream(caller, client)
    await drain(stream)
    assert stream._native.entry_facts is None
    (entry,) = client.usage.entries
    assert entry.status == "ok" and entry.cost is None and entry.prompt_tokens == 1


async def test_an_in_band_error_after_the_usage_is_booked_from_the_completion(server: MockServer, caller: Any) -> None:
    error = '{"error":{"code":502,"message":"down"},"choices":[]}'
    server.script(MODEL, _script('{"prompt_tokens":1,"completion_tokens":2,"cost":0.25}', error))
    client = caller.client(server)
    stream = await open_stream(caller, client)
    with pytest.raises(fastrouter.StreamError):
        await drain(stream)
    assert stream._native.entry_facts is None  # the received completion holds an error
    (entry,) = client.usage.entries
    assert entry.status == "stream_error" and entry.prompt_tokens == 1


async def test_a_stream_answered_by_a_fallback_is_booked_from_its_completion(server: MockServer, caller: Any) -> None:
    server.script("a/down", Fail(503))
    server.script(MODEL, _script('{"prompt_tokens":1,"completion_tokens":2,"cost":0.25}'))
    client = caller.client(server)
    stream = await open_stream(caller, client, model=["a/down", MODEL])
    await drain(stream)
    assert stream._native.entry_facts is None  # two attempts
    (entry,) = client.usage.entries
    assert (entry.status, entry.attempts, entry.cost) == ("ok", 2, Decimal("0.25"))


async def test_a_completion_python_no_longer_reads_does_not_fail_a_priced_stream(
    server: MockServer, caller: Any
) -> None:
    # Python's int limit lowered mid-stream: the request went well and its cost is known,
    # so it is booked `ok`; the completion is an error only for whoever reads it.
    chunk = '{"id":"g","choices":[{"index":0,"delta":{"content":"a","annotations":[{"n":N}]}}]}'.replace("N", "9" * 700)
    server.script(
        MODEL, _sse(chunk, '{"id":"g","choices":[],"usage":{"prompt_tokens":1,"completion_tokens":2,"cost":0.25}}')
    )
    client = caller.client(server)
    stream = await open_stream(caller, client)
    before = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(640)
    try:
        (received,) = [chunk for chunk in await drain(stream) if chunk.choices]
        assert received.choices[0].delta.content == "a"
        with pytest.raises(fastrouter.APIResponseValidationError):
            stream.completion  # noqa: B018
    finally:
        sys.set_int_max_str_digits(before)
    (entry,) = client.usage.entries
    assert (entry.status, entry.cost, entry.prompt_tokens) == ("ok", Decimal("0.25"), 1)
    assert stream.completion.choices[0].message.content == "a"


@pytest.mark.parametrize("where", ["answer_values", "_record_values"])
async def test_ctrl_c_while_a_usual_stream_is_booked_records_it_once(
    server: MockServer, caller: Any, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    from fastrouter.usage import books

    server.script(MODEL, _script('{"prompt_tokens":1,"completion_tokens":2,"cost":0.25}'))
    client = caller.client(server)
    stream = await open_stream(caller, client)
    interrupt_once(monkeypatch, books if where == "answer_values" else books.RequestBooks, where)
    with pytest.raises(KeyboardInterrupt):
        await drain(stream)
    monkeypatch.undo()
    result = stream.close()
    if caller.mode == "async":
        await result
    assert [entry.status for entry in client.usage.entries] == ["cancelled"]
