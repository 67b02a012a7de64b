"""The usual answer's ledger entry from the facts the core read from its body
(``NativeChat.entry_facts``): the same entry the general path builds from the response's
dicts, for usual bodies and odd ones (which the core leaves to the facade), and the same
fixed-point cost as the ring's own conversion."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import fastrouter
import pytest
from fastrouter.testing import MockServer, Raw
from fastrouter.usage.columns import fixed_from_text
from fastrouter.usage.entries import entry_for_completion
from fastrouter.usage.ledger import UsageEntry
from plain_helpers import plain_chat

MOCK_KEY = "sk-or-v1-test-secret-key-0123456789"
MODEL = "openai/gpt-4o-mini"
MESSAGES = [{"role": "user", "content": "hi"}]
JSON = {"Content-Type": "application/json"}


def _body(usage: dict[str, Any] | None = None, cost: str = "0.00001275", **top: Any) -> str:
    """A chat completion body; ``cost`` is written into ``usage`` as raw JSON number text."""
    body: dict[str, Any] = {
        "id": "gen-1",
        "model": MODEL,
        "provider": "OpenAI",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 7, "completion_tokens": 2, "total_tokens": 9, "cost": "@COST@"},
    }
    if usage is not None:
        body["usage"].update(usage)
    body.update(top)
    return json.dumps(body).replace('"@COST@"', cost)


USUAL = {
    "plain": _body(),
    "details and byok": _body(
        {
            "prompt_tokens_details": {"cached_tokens": 5, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 3},
            "is_byok": True,
        }
    ),
    "nulls": _body(
        {"prompt_tokens_details": None, "completion_tokens_details": {"reasoning_tokens": None}, "is_byok": None},
        id=None,
        provider=None,
    ),
    "escaped id, big counts": _body({"prompt_tokens": 2**40, "completion_tokens": 0}, id='gen-\u00e9\\"x'),
    "no usage details": _body({"prompt_tokens": None}),
}

ODD = {
    "numeric id": _body(id=17),
    "details as a list": _body({"prompt_tokens_details": [4]}),
    "fractional cached tokens": _body({"prompt_tokens_details": {"cached_tokens": 1.5}}),
    "string reasoning tokens": _body({"completion_tokens_details": {"reasoning_tokens": "3"}}),
    "byok as a number": _body({"is_byok": 1}),
    "details as a number": _body({"completion_tokens_details": 0}),
}


def _general(answer: Any, entry: UsageEntry) -> UsageEntry:
    """What the general path builds from the response's dicts for the same answer."""
    general = entry_for_completion(
        answer,
        requested=MODEL,
        tags=(),
        started=entry.time,
        status="ok",
        streamed=False,
        cost=answer.cost,
        cost_source="usage",
    )
    return replace(general, latency_s=entry.latency_s)


@pytest.mark.parametrize("name", [*USUAL, *ODD])
def test_the_entry_is_the_one_the_general_path_builds(server: MockServer, name: str) -> None:
    server.script(MODEL, Raw(body={**USUAL, **ODD}[name], headers=JSON))
    with fastrouter.Client(base_url=server.base_url, api_key=MOCK_KEY) as client:
        plain = plain_chat(client, False, {"model": MODEL, "messages": MESSAGES})
        assert plain is not None  # the short way
        args, books = plain
        native = client._inner.chat_blocking(*args)
        facts = native.entry_facts
        assert (facts is None) == (name in ODD)
        answer = books.answered_chat(fastrouter.types.ChatCompletion._from_chat(native), native)
        (entry,) = client.usage.entries
    assert entry == _general(answer, entry)
    assert books.entry == entry
    assert client.usage.total_cost == answer.cost


async def test_the_async_short_way_records_from_the_facts(server: MockServer) -> None:
    server.script(MODEL, Raw(body=USUAL["details and byok"], headers=JSON))
    async with fastrouter.AsyncClient(base_url=server.base_url, api_key=MOCK_KEY) as client:
        answer = await client.chat.completions.create(model=MODEL, messages=MESSAGES)
        (entry,) = client.usage.entries
    assert (entry.cached_tokens, entry.reasoning_tokens, entry.byok) == (5, 3, True)
    assert entry == _general(answer, entry)


@pytest.mark.parametrize(
    "text",
    [
        "0.00001275",
        "0",
        "0.0",
        "12.5",
        "0.000000000000000001",
        "9.223372036854775805",
        "9.3",
        "1e-5",
        "1.5E3",
        "0.1234567890123456789",
        "123456789012",
    ],
)
def test_the_cores_fixed_point_cost_is_the_rings(server: MockServer, text: str) -> None:
    server.script(MODEL, Raw(body=_body(cost=text), headers=JSON))
    with fastrouter.Client(base_url=server.base_url, api_key=MOCK_KEY) as client:
        native = client._inner.chat_blocking(*plain_chat(client, False, {"model": MODEL, "messages": MESSAGES})[0])
        facts = native.entry_facts
    assert facts is not None
    assert facts[8] == text == native.answer_cost
    assert facts[9] == fixed_from_text(text)


def test_an_answer_without_a_cost_has_no_facts(server: MockServer) -> None:
    server.script(MODEL, Raw(body=_body(cost="null"), headers=JSON))
    with fastrouter.Client(base_url=server.base_url, api_key=MOCK_KEY) as client:
        native = client._inner.chat_blocking(*plain_chat(client, False, {"model": MODEL, "messages": MESSAGES})[0])
        assert native.entry_facts is None


def test_a_body_repeating_a_ledger_key_is_still_the_answer(server: MockServer) -> None:
    # Only the ledger reads `id` and `is_byok`: a body repeating one is answered (not
    # refused and retried), and its entry comes from the facade's parse (the last value).
    body = _body({"is_byok": False}).replace('"id": "gen-1"', '"id": "gen-0", "id": "gen-1"')
    body = body.replace('"is_byok": false', '"is_byok": true, "is_byok": false')
    server.script(MODEL, Raw(body=body, headers=JSON))
    with fastrouter.Client(base_url=server.base_url, api_key=MOCK_KEY, max_retries=0) as client:
        answer = client.chat.completions.create(model=MODEL, messages=MESSAGES)
        (entry,) = client.usage.entries
    assert answer.id == "gen-1"
    assert (entry.generation_id, entry.byok, entry.cost) == ("gen-1", False, answer.cost)
    assert len(server.requests) == 1


@pytest.mark.parametrize("cost", ['"0.5"', "true", "{}"])
def test_a_cost_that_is_not_a_number_is_unknown_and_recorded_once(server: MockServer, cost: str) -> None:
    server.script(MODEL, Raw(body=_body(cost=cost), headers=JSON))
    with fastrouter.Client(base_url=server.base_url, api_key=MOCK_KEY, max_retries=0) as client:
        answer = client.chat.completions.create(model=MODEL, messages=MESSAGES)
        (entry,) = client.usage.entries
    assert answer.choices[0].message.content == "hi"
    assert answer.cost is None
    assert (entry.status, entry.cost, entry.prompt_tokens) == ("ok", None, 7)


@pytest.mark.parametrize("cost", ['"0.5"', "true", "{}"])
def test_a_streamed_cost_that_is_not_a_number_is_unknown_and_recorded_once(server: MockServer, cost: str) -> None:
    chunk = {"id": "gen-1", "model": MODEL, "choices": [{"index": 0, "delta": {"content": "hi"}}]}
    last = {
        "id": "gen-1",
        "model": MODEL,
        "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 7, "completion_tokens": 1, "cost": "@COST@"},
    }
    events = [json.dumps(chunk), json.dumps(last).replace('"@COST@"', cost), "[DONE]"]
    body = "".join(f"data: {event}\n\n" for event in events)
    server.script(MODEL, Raw(body=body, headers={"Content-Type": "text/event-stream"}))
    with fastrouter.Client(base_url=server.base_url, api_key=MOCK_KEY, max_retries=0) as client:
        with client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True) as stream:
            assert [c.choices[0].delta.content for c in stream] == ["hi", None]
        assert stream.completion.cost is None
        (entry,) = client.usage.entries
    assert (entry.status, entry.cost, entry.prompt_tokens) == ("ok", None, 7)


def test_an_answer_whose_entry_cannot_be_built_is_recorded_once_as_failed(
    server: MockServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise ArithmeticError("cannot price this answer")

    import fastrouter.usage.books as books

    # Every way an answer's entry is made: from the core's facts, or from the completion.
    monkeypatch.setattr(books, "answer_values", broken)
    monkeypatch.setattr(books, "completion_values", broken)
    monkeypatch.setattr(books, "entry_for_completion", broken)
    server.script(MODEL, Raw(body=_body(), headers=JSON))
    with fastrouter.Client(base_url=server.base_url, api_key=MOCK_KEY, max_retries=0) as client:
        with pytest.raises(ArithmeticError):
            client.chat.completions.create(model=MODEL, messages=MESSAGES, tags=["general-path"])
        (entry,) = client.usage.entries
    assert entry.status == "error"
