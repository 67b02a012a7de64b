"""A model chain is checked and named once per distinct list (issue 11: a chain whose first
model answers costs what one model costs), and still behaves as a chain: what is sent, the
failover, the one ledger entry, the errors for a malformed chain."""

from __future__ import annotations

from typing import Any

import fastrouter
import pytest
from fastrouter.client import _model_chain
from fastrouter.testing import Fail, MockServer, Reply

MOCK_KEY = "sk-or-v1-test-secret-key-0123456789"
CHAIN = ["openai/gpt-4o-mini", "anthropic/claude-3.5-haiku", "google/gemini-2.0-flash-001"]
MESSAGES = [{"role": "user", "content": "hi"}]


def test_a_chain_sent_again_is_checked_and_named_once() -> None:
    first = _model_chain(list(CHAIN))
    assert first == (tuple(CHAIN), ",".join(CHAIN))
    again = _model_chain(list(CHAIN))
    assert again[0] is first[0] and again[1] is first[1]  # the same chain and name objects
    assert _model_chain(tuple(CHAIN)) is again  # a tuple of the same ids is the same chain


def test_a_list_changed_after_a_call_is_a_new_chain() -> None:
    chain = list(CHAIN)
    assert _model_chain(chain)[0] == tuple(CHAIN)
    chain.append("x-ai/grok-3")
    assert _model_chain(chain) == (tuple(chain), ",".join(chain))
    chain[0] = "meta-llama/llama-3.1-8b-instruct"
    assert _model_chain(chain)[0][0] == "meta-llama/llama-3.1-8b-instruct"


@pytest.mark.parametrize(
    "model",
    [[], ["a", ""], ["a", 1], [["a"]], ("a", None), [{"a": 1}]],
)
def test_a_malformed_chain_is_refused_every_time(model: Any) -> None:
    for _ in range(2):  # never remembered as known
        with pytest.raises(ValueError, match="non-empty list of model ids"):
            _model_chain(model)


def test_a_model_that_is_neither_an_id_nor_a_list_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        _model_chain(42)  # type: ignore[arg-type]


def test_one_model_id_is_its_own_chain() -> None:
    assert _model_chain("openai/gpt-4o-mini") == (["openai/gpt-4o-mini"], "openai/gpt-4o-mini")
    with pytest.raises(ValueError):
        _model_chain("")


@pytest.mark.parametrize("kind", [list, tuple])
async def test_a_known_chain_sends_what_one_model_sends_and_fails_over(server: MockServer, kind: Any) -> None:
    first, second, _ = CHAIN
    async with fastrouter.AsyncClient(base_url=server.base_url, api_key=MOCK_KEY) as client:
        await client.chat.completions.create(model=first, messages=MESSAGES)
        for _ in range(2):  # the second time, the chain is a known one
            await client.chat.completions.create(model=kind(CHAIN), messages=MESSAGES)
        single, *chained = server.chat_requests()
        assert [r.body for r in chained] == [single.body, single.body]  # "model": the first id, nothing else
        server.reset()
        server.script(first, Fail(status=503, message="overloaded"))
        answer = await client.chat.completions.create(model=kind(CHAIN), messages=MESSAGES, max_retries=0)
        assert [r.model for r in server.chat_requests()] == [first, second]
        assert [a.model for a in answer.attempts] == [first, second]
        entries = client.usage.entries
        assert len(entries) == 4  # exactly one per request
        assert [e.requested for e in entries] == [first, *[",".join(CHAIN)] * 3]
        assert entries[-1].model == second


def test_the_sync_client_walks_a_known_chain_too(server: MockServer) -> None:
    server.script(CHAIN[0], Fail(status=503, message="overloaded"), Reply(content="ok"))
    with fastrouter.Client(base_url=server.base_url, api_key=MOCK_KEY, max_retries=0) as client:
        failed_over = client.chat.completions.create(model=CHAIN, messages=MESSAGES)
        answered = client.chat.completions.create(model=CHAIN, messages=MESSAGES)
    assert [a.model for a in failed_over.attempts] == CHAIN[:2]
    assert [a.model for a in answered.attempts] == CHAIN[:1]
    assert answered.choices[0].message.content == "ok"
