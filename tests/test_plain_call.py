"""The usual call (one model id and a list of messages, perhaps a few sampling parameters
as plain values, not streamed, on a client with no routing, gate, budgets, cost cap,
telemetry or call defaults) takes a short way through
``create()`` (issue 11: S1, S3): it sends what the general path sends, records one ledger
entry, and every other call or client still takes the general path."""

from __future__ import annotations

import enum
import math
from decimal import Decimal
from typing import Any

import fastrouter
import pytest
from conftest import ClientCaller
from fastrouter.testing import Fail, MockServer, Reply
from plain_helpers import plain_chat

MODEL = "openai/gpt-4o-mini"
MESSAGES = [{"role": "user", "content": "hi"}]
SAMPLING: dict[str, Any] = {"temperature": 0.2, "max_tokens": 50, "stop": "\n", "seed": 7, "top_k": 40}


class _Count(enum.IntEnum):
    FIFTY = 50


class _Text(str):
    pass


@pytest.mark.parametrize("sampling", [{}, SAMPLING])
async def test_a_plain_call_sends_what_the_general_path_sends(
    caller: ClientCaller, server: MockServer, sampling: dict[str, Any]
) -> None:
    client = caller.client(server)
    assert client._plain
    plain = await caller.create(client, model=MODEL, messages=MESSAGES, **sampling)
    general = await caller.create(client, model=MODEL, messages=MESSAGES, extra_body={}, **sampling)  # not plain
    short, long = server.chat_requests()
    assert short.body == long.body == {"model": MODEL, "messages": MESSAGES, **sampling}
    assert short.headers == long.headers
    assert plain.choices[0].message.content == general.choices[0].message.content
    assert plain.cost is not None and plain.cost == general.cost
    assert [a.model for a in plain.attempts] == [MODEL]
    entries = client.usage.entries
    assert len(entries) == 2  # exactly one per request
    assert entries[0].requested == MODEL and entries[0].status == "ok" and entries[0].tags == ()
    assert entries[0].generation_id == plain.id and entries[0].cost == plain.cost
    assert entries[0].prompt_tokens == entries[1].prompt_tokens > 0


CHAIN = [MODEL, "anthropic/claude-3.5-haiku"]


@pytest.mark.parametrize(
    ("model", "requested"), [(MODEL, MODEL), (CHAIN, ",".join(CHAIN)), (tuple(CHAIN), ",".join(CHAIN))]
)
@pytest.mark.parametrize(
    "sampling",
    [{}, {"temperature": 0.2}, SAMPLING, dict(reversed(SAMPLING.items())), {"seed": 2**63 - 1, "top_p": 1e-07}],
)
def test_the_short_way_gives_what_begin_and_prepare_chat_give(
    server: MockServer, model: Any, requested: str, sampling: dict[str, Any]
) -> None:
    with fastrouter.Client(base_url=server.base_url, api_key="k") as client:
        taken = plain_chat(client, False, {"model": model, "messages": MESSAGES, **sampling})
        assert taken is not None
        params = {"model": model, "messages": MESSAGES, **sampling}
        model, options, _, _, books = client._begin(False, params)
        general = client._prepare_chat(model, *options, params, None, books)
        assert taken[0] == general[0]
        assert (taken[1].requested, taken[1].tags, taken[1].streamed) == (requested, (), False)
        assert taken[1].ledger is client.usage
        # Every slot of the books alike (the start time aside), so the two cannot drift apart.
        for slot in type(taken[1]).__slots__:
            if slot != "started":
                assert getattr(taken[1], slot) == getattr(general[1], slot), slot


@pytest.mark.parametrize(
    "params",
    [
        {"model": MODEL, "messages": MESSAGES, "temperature": None},
        {"model": MODEL, "messages": MESSAGES, "temperature": math.inf},
        {"model": MODEL, "messages": MESSAGES, "temperature": 0.5, "tags": ["t"]},
        {"model": MODEL, "messages": MESSAGES, "stop": ["\n"]},
        {"model": MODEL, "messages": MESSAGES, "max_tokens": True},
        {"model": MODEL, "messages": MESSAGES, "max_tokens": _Count.FIFTY},
        {"model": MODEL, "messages": MESSAGES, "stop": _Text("\n")},
        {"model": MODEL, "messages": MESSAGES, "tools": []},
        {"model": MODEL, "messages": MESSAGES, "max_retries": 0},
        {"model": MODEL, "messages": MESSAGES, "temperature": fastrouter.NOT_GIVEN},
        {"model": MODEL, "temperature": 0.5},
        {"model": [MODEL, ""], "messages": MESSAGES},
        {"model": [MODEL, 3], "messages": MESSAGES},
        {"model": [], "messages": MESSAGES},
        {"model": {MODEL}, "messages": MESSAGES},
        {"model": "", "messages": MESSAGES},
        {"model": MODEL, "messages": tuple(MESSAGES)},
        {"model": MODEL, "messages": []},
        {"model": MODEL, "messages": [{"role": "user", "content": "hi", "x": math.nan}]},
        {"messages": MESSAGES},
    ],
)
def test_any_other_call_takes_the_general_path(server: MockServer, params: dict[str, Any]) -> None:
    with fastrouter.Client(base_url=server.base_url, api_key="k") as client:
        assert plain_chat(client, False, params) is None
        assert plain_chat(client, True, {"model": MODEL, "messages": MESSAGES}) is None


async def test_a_plain_chain_fails_over_as_the_general_path_does(caller: ClientCaller, server: MockServer) -> None:
    client = caller.client(server, max_retries=0)
    assert plain_chat(client, False, {"model": CHAIN, "messages": MESSAGES}) is not None
    for extra in ({}, {"extra_body": {}}):  # the short way, then the general path
        server.script(MODEL, Fail(503))
        answer = await caller.create(client, model=CHAIN, messages=MESSAGES, **extra)
        assert [a.model for a in answer.attempts] == CHAIN
        assert answer.attempts[0].error_kind is not None and answer.attempts[1].error_kind is None
    short, long = client.usage.entries
    assert short.requested == long.requested == ",".join(CHAIN)
    assert (short.model, short.status, short.cost) == (long.model, long.status, long.cost)
    assert [r.body["model"] for r in server.chat_requests()] == CHAIN + CHAIN


def test_the_general_path_still_says_what_is_wrong(server: MockServer) -> None:
    with fastrouter.Client(base_url=server.base_url, api_key="k") as client:
        with pytest.raises(ValueError, match=r"messages\[0\]\['x'\] must be a finite number"):
            client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi", "x": math.nan}])
        with pytest.raises(TypeError, match="non-empty list"):
            client.chat.completions.create(model=MODEL, messages=[])
        client.max_retries = -1
        with pytest.raises(ValueError, match="max_retries"):
            client.chat.completions.create(model=MODEL, messages=MESSAGES)
    assert server.chat_requests() == []


def test_a_client_with_anything_to_apply_per_call_is_not_plain(server: MockServer) -> None:
    url = server.base_url
    with fastrouter.Client(base_url=url, api_key="k") as client:
        assert client._plain
        assert client.with_options(max_retries=1)._plain
        assert not client.with_options(timeout=5)._plain
        assert not client.with_options(default_headers={"x-a": "b"})._plain
        assert not client.with_options(default_query={"a": "b"})._plain
        client.with_options(default_headers={"x-a": "b"}).chat.completions.create(model=MODEL, messages=MESSAGES)
        assert server.chat_requests()[-1].headers["x-a"] == "b"
    for options in (
        {"budgets": [fastrouter.Budget(usd=5)]},
        {"max_cost_per_request": "1"},
        {"limits": {MODEL: fastrouter.Limit(rpm=1000)}},
    ):
        with fastrouter.Client(base_url=url, api_key="k", **options) as other:
            assert not other._plain, options


async def test_a_failed_plain_call_is_recorded_once(caller: ClientCaller, server: MockServer) -> None:
    client = caller.client(server)
    server.script(MODEL, Fail(status=400, message="bad request"))
    with pytest.raises(fastrouter.BadRequestError):
        await caller.create(client, model=MODEL, messages=MESSAGES)
    (entry,) = client.usage.entries
    assert (entry.requested, entry.status, entry.attempts) == (MODEL, "error", 1)


def test_a_completion_from_the_core_sets_every_slot_init_sets(server: MockServer) -> None:
    from fastrouter.types import ChatCompletion

    with fastrouter.Client(base_url=server.base_url, api_key="k") as client:
        answer = client.chat.completions.create(model=MODEL, messages=MESSAGES)
    built = ChatCompletion(answer._data)
    slots = [name for cls in ChatCompletion.__mro__ for name in getattr(cls, "__slots__", ())]
    assert slots and all(hasattr(built, name) for name in slots)
    for name in slots:  # _from_chat sets what __init__ sets (the core's answer aside)
        assert hasattr(answer, name), name
    assert (answer._cached, answer._cascade, answer._priced_cost) == (False, None, None)
    assert answer._cache is not None and set(answer._cache) == {"choices", "usage"}  # the core's models


def test_a_cost_cap_set_after_construction_is_applied(server: MockServer) -> None:
    with fastrouter.Client(base_url=server.base_url, api_key="k") as client:
        client.max_cost_per_request = fastrouter.client._usd("5")
        assert plain_chat(client, False, {"model": MODEL, "messages": MESSAGES}) is None
        client.chat.completions.create(model=MODEL, messages=MESSAGES)
    (sent,) = server.chat_requests()
    assert "max_tokens" in sent.body  # the cap's output allowance: the general path ran


async def test_a_cancelled_plain_call_is_recorded_once_from_its_start(server: MockServer) -> None:
    """The short way opens its books only once the call ends otherwise than with the usual
    answer: they still take the call's start, so the entry's latency covers the wait."""
    import asyncio

    server.script(MODEL, Reply("late", delay=5.0))
    async with fastrouter.AsyncClient(base_url=server.base_url, api_key="k", max_retries=0) as client:
        task = asyncio.ensure_future(client.chat.completions.create(model=MODEL, messages=MESSAGES))
        await asyncio.sleep(0.2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        (entry,) = client.usage.entries
    assert (entry.requested, entry.status, entry.streamed) == (MODEL, "cancelled", False)
    assert entry.latency_s is not None and entry.latency_s >= 0.15


async def test_a_plain_call_on_a_ledger_that_records_its_own_way_goes_through_its_books(
    caller: ClientCaller, server: MockServer
) -> None:
    recorded: list[Any] = []

    class Recording(fastrouter.UsageLedger):
        def record(self, entry: Any) -> None:
            recorded.append(entry)
            super().record(entry)

    client = caller.client(server, ledger=Recording())
    assert client._plain
    answer = await caller.create(client, model=MODEL, messages=MESSAGES)
    (entry,) = recorded
    assert (entry.requested, entry.status, entry.generation_id) == (MODEL, "ok", answer.id)
    assert entry.cost == answer.cost and entry.attempts == 1


async def test_ctrl_c_after_the_answer_arrived_records_it_once_at_its_cost(
    caller: ClientCaller, server: MockServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Ctrl-C landing after the answer arrived but before the ledger took it (here: in
    the step that packs it) still records the call once, cancelled, at what it cost."""
    server.script(MODEL, Reply("paid", cost=0.0015))
    client = caller.client(server)
    assert client._plain
    fastrouter.client._load_request_path()

    def interrupted(*args: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(fastrouter.client, "usual_answer", interrupted)
    with pytest.raises(KeyboardInterrupt):
        await caller.create(client, model=MODEL, messages=MESSAGES)
    (entry,) = client.usage.entries
    assert (entry.requested, entry.status) == (MODEL, "cancelled")
    assert entry.reliability_cost == Decimal("0.0015")  # a failure's cost, as failed() books it
