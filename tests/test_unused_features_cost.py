"""A client without budgets, limits or a response cache does not pay for them per request
(issue 11): no budget book is consulted, no gate is entered."""

from __future__ import annotations

from typing import Any

import fastrouter
import pytest
from fastrouter.testing import MockServer
from fastrouter.usage.budget import BudgetBook

MOCK_KEY = "sk-or-v1-test-secret-key-0123456789"
MESSAGES = [{"role": "user", "content": "hi"}]


def test_a_request_without_budgets_never_consults_the_budget_book(
    server: MockServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    consulted: list[str] = []

    def spy(name: str) -> Any:
        real = getattr(BudgetBook, name)

        def method(self: BudgetBook, *args: Any, **kwargs: Any) -> Any:
            consulted.append(name)
            return real(self, *args, **kwargs)

        return method

    for name in ("__bool__", "reserve"):
        monkeypatch.setattr(BudgetBook, name, spy(name))
    with fastrouter.Client(base_url=server.base_url, api_key=MOCK_KEY) as client:
        assert client._gate is None  # no limits, cache or store: requests go straight to the core
        client.chat.completions.create(model="openai/gpt-4o-mini", messages=MESSAGES)
        client.chat.completions.create(model=["openai/gpt-4o-mini", "anthropic/claude-3.5-haiku"], messages=MESSAGES)
        assert len(client.usage.entries) == 2
    assert consulted == []


def test_a_client_with_budgets_still_checks_them(server: MockServer) -> None:
    budget = fastrouter.Budget(usd=0.000001, per="request")
    with fastrouter.Client(base_url=server.base_url, api_key=MOCK_KEY, budgets=[budget]) as client:
        assert client.with_options(timeout=5)._has_budgets
        with pytest.raises(fastrouter.BudgetExceededError):
            client.chat.completions.create(model="openai/gpt-4o", messages=MESSAGES, max_tokens=4096)
    assert server.chat_requests() == []  # refused before anything was sent
