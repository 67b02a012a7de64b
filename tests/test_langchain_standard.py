"""langchain-tests' standard suites for :class:`fastrouter.langchain.ChatFastrouter`: the unit
suite offline, the integration suite against the embedded mock server.

The mock answers with an echo of the prompt and calls tools only when scripted, so the
integration suite declares (through its documented properties) that this backend does not
call tools or produce structured output by itself; ``test_langchain.py`` covers those paths
with scripted replies.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("langchain_core")
pytest.importorskip("langchain_tests")

from fastrouter.langchain import ChatFastrouter  # noqa: E402
from fastrouter.testing import MockServer  # noqa: E402
from langchain_tests.integration_tests import ChatModelIntegrationTests  # noqa: E402
from langchain_tests.unit_tests import ChatModelUnitTests  # noqa: E402

_MOCK: dict[str, MockServer] = {}


@pytest.fixture(scope="module", autouse=True)
def _mock_server() -> Iterator[None]:
    with MockServer() as server:
        _MOCK["server"] = server
        yield
    _MOCK.clear()


class TestChatFastrouterUnit(ChatModelUnitTests):
    @property
    def chat_model_class(self) -> type[ChatFastrouter]:
        return ChatFastrouter

    @property
    def chat_model_params(self) -> dict[str, Any]:
        return {"model": "openai/gpt-4o-mini"}

    @property
    def init_from_env_params(self) -> tuple[dict[str, str], dict[str, Any], dict[str, Any]]:
        env = {"OPENROUTER_API_KEY": "sk-or-from-env", "OPENROUTER_BASE_URL": "http://127.0.0.1:9/api/v1"}
        return (
            env,
            {"model": "openai/gpt-4o-mini"},
            {"api_key": "sk-or-from-env", "base_url": env["OPENROUTER_BASE_URL"]},
        )

    @property
    def has_tool_calling(self) -> bool:
        return True  # bind_tools is implemented (the unit suite checks binding, not calling)

    @property
    def has_structured_output(self) -> bool:
        return True

    @property
    def supports_json_mode(self) -> bool:
        return True

    @property
    def model_override_value(self) -> str:
        return "anthropic/claude-3.5-haiku"


class TestChatFastrouterIntegration(ChatModelIntegrationTests):
    @property
    def chat_model_class(self) -> type[ChatFastrouter]:
        return ChatFastrouter

    @property
    def chat_model_params(self) -> dict[str, Any]:
        return {"model": "openai/gpt-4o-mini", "base_url": _MOCK["server"].base_url, "api_key": "test"}

    # What the mock can do unscripted: chat, streaming, usage, stop sequences. It never
    # decides to call a tool, never writes JSON to a schema, and does not read images,
    # PDFs or audio; those features are declared absent rather than skipped ad hoc.
    @property
    def has_tool_calling(self) -> bool:
        return False

    @property
    def has_structured_output(self) -> bool:
        return False

    @property
    def supports_json_mode(self) -> bool:
        return False

    @property
    def returns_usage_metadata(self) -> bool:
        return True

    @property
    def model_override_value(self) -> str:
        return "anthropic/claude-3.5-haiku"
