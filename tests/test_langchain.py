"""ChatFastrouter beyond the standard suites: chains, routes, metadata, scripted tool calls and
structured output, streaming tool calls, a shared client, and the optional import."""

from __future__ import annotations

import subprocess
import sys
from decimal import Decimal

import fastrouter
import pytest
from fastrouter.testing import Fail, MockServer, Reply, ToolCall

pytest.importorskip("langchain_core")

from fastrouter.langchain import ChatFastrouter  # noqa: E402
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage  # noqa: E402
from pydantic import BaseModel  # noqa: E402


class Weather(BaseModel):
    """The weather in a city."""

    city: str
    celsius: int


def _llm(server: MockServer, **kwargs: object) -> ChatFastrouter:
    kwargs.setdefault("model", "openai/gpt-4o-mini")
    return ChatFastrouter(base_url=server.base_url, api_key="test", max_retries=0, **kwargs)


def test_invoke_reports_model_provider_cost_and_usage(server: MockServer) -> None:
    server.script("openai/gpt-4o-mini", Reply("hello there", provider="OpenAI", cost=0.00042))
    msg = _llm(server).invoke("hi")
    assert msg.content == "hello there"
    assert msg.response_metadata["model_name"] == "openai/gpt-4o-mini"
    assert msg.response_metadata["provider"] == "OpenAI"
    assert msg.response_metadata["cost"] == Decimal("0.00042")
    assert msg.response_metadata["finish_reason"] == "stop"
    assert msg.usage_metadata is not None and msg.usage_metadata["total_tokens"] > 0


def test_a_chain_fails_over_and_says_which_model_answered(server: MockServer) -> None:
    server.script("openai/gpt-4o-mini", Fail(503))
    server.script("anthropic/claude-3.5-haiku", Reply("from claude"))
    msg = _llm(server, model=["openai/gpt-4o-mini", "anthropic/claude-3.5-haiku"]).invoke("hi")
    assert msg.content == "from claude"
    assert msg.response_metadata["model_name"] == "anthropic/claude-3.5-haiku"
    assert msg.response_metadata["attempts"] == ["openai/gpt-4o-mini", "anthropic/claude-3.5-haiku"]
    assert _llm(server, model=["a/x", "b/y"])._get_ls_params()["ls_model_name"] == "a/x,b/y"


def test_a_route_name_works_as_model(server: MockServer) -> None:
    routing = fastrouter.Routing(aliases={"fast": ["openai/gpt-4o-mini", "anthropic/claude-3.5-haiku"]})
    server.script("openai/gpt-4o-mini", Fail(500))
    msg = _llm(server, model="fast", routing=routing).invoke("hi")
    assert msg.response_metadata["model_name"] == "anthropic/claude-3.5-haiku"


async def test_ainvoke_and_astream(server: MockServer) -> None:
    llm = _llm(server)
    server.script("openai/gpt-4o-mini", Reply("async answer"), Reply("one two three"))
    assert (await llm.ainvoke("hi")).content == "async answer"
    chunks = [c async for c in llm.astream("hi")]
    full = chunks[0]
    for c in chunks[1:]:
        full = full + c
    assert full.content == "one two three"
    assert chunks[-1].chunk_position == "last"
    assert chunks[-1].response_metadata["cost"] is not None  # known only at the end of the stream
    assert full.usage_metadata is not None and full.usage_metadata["output_tokens"] > 0


def test_batch_sends_one_request_per_input(server: MockServer) -> None:
    answers = _llm(server).batch(["a", "b", "c"])
    assert len(answers) == 3 and all(isinstance(a, AIMessage) for a in answers)
    assert len(server.chat_requests()) == 3


def test_bound_tools_reach_the_wire_and_tool_calls_come_back(server: MockServer) -> None:
    def get_weather(city: str) -> str:
        """Current weather in a city."""
        return "sunny"

    server.script("openai/gpt-4o-mini", Reply(tool_calls=[ToolCall("get_weather", {"city": "Oslo"}, id="call_1")]))
    msg = _llm(server).bind_tools([get_weather], tool_choice="get_weather").invoke("weather in Oslo?")
    assert msg.tool_calls == [{"name": "get_weather", "args": {"city": "Oslo"}, "id": "call_1", "type": "tool_call"}]
    body = server.chat_requests()[-1].body
    assert body["tools"][0]["function"]["name"] == "get_weather"
    assert body["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}

    # the tool's answer goes back as an OpenAI tool message
    _llm(server).invoke([HumanMessage("weather?"), msg, ToolMessage("sunny", tool_call_id="call_1")])
    sent = server.chat_requests()[-1].body["messages"]
    assert sent[1]["tool_calls"][0]["id"] == "call_1"
    assert sent[2] == {"role": "tool", "tool_call_id": "call_1", "content": "sunny"}


def test_streamed_tool_calls_merge(server: MockServer) -> None:
    server.script("openai/gpt-4o-mini", Reply(tool_calls=[ToolCall("lookup", {"q": "x"}, id="call_9")]))
    chunks = list(_llm(server).bind_tools([Weather]).stream("go"))
    full = chunks[0]
    for c in chunks[1:]:
        full = full + c
    assert full.tool_calls[0]["name"] == "lookup" and full.tool_calls[0]["args"] == {"q": "x"}


def test_structured_output_by_json_schema_and_by_tool_call(server: MockServer) -> None:
    server.script("openai/gpt-4o-mini", Reply('{"city": "Oslo", "celsius": 4}'))
    result = _llm(server).with_structured_output(Weather).invoke("weather?")
    assert result == Weather(city="Oslo", celsius=4)
    fmt = server.chat_requests()[-1].body["response_format"]
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["name"] == "Weather"

    server.script("openai/gpt-4o-mini", Reply(tool_calls=[ToolCall("Weather", {"city": "Rome", "celsius": 20})]))
    result = _llm(server).with_structured_output(Weather, method="function_calling").invoke("weather?")
    assert result == Weather(city="Rome", celsius=20)

    server.script("openai/gpt-4o-mini", Reply("not json"))
    raw = _llm(server).with_structured_output(Weather, method="json_mode", include_raw=True).invoke("weather?")
    assert isinstance(raw, dict) and raw["parsed"] is None and raw["parsing_error"] is not None
    assert server.chat_requests()[-1].body["response_format"] == {"type": "json_object"}


def test_parameters_and_per_call_model_override(server: MockServer) -> None:
    llm = _llm(server, temperature=0.2, max_tokens=50, model_kwargs={"provider": {"sort": "price"}})
    llm.invoke("hi", stop=["END"], model="anthropic/claude-3.5-haiku")
    body = server.chat_requests()[-1].body
    assert body["model"] == "anthropic/claude-3.5-haiku"
    assert (body["temperature"], body["max_tokens"], body["stop"]) == (0.2, 50, ["END"])
    assert body["provider"] == {"sort": "price"}


def test_a_shared_client_keeps_one_ledger(server: MockServer) -> None:
    with fastrouter.Client(base_url=server.base_url, api_key="test") as client:
        llm = ChatFastrouter(model="openai/gpt-4o-mini", client=client)
        llm.invoke("one")
        llm.invoke("two")
        assert client.usage.totals.requests == 2


def test_errors_surface_as_fastrouter_errors(server: MockServer) -> None:
    server.script("openai/gpt-4o-mini", Fail(401, "bad key"))
    with pytest.raises(fastrouter.AuthenticationError):
        _llm(server).invoke("hi")


def test_the_api_key_stays_secret(server: MockServer) -> None:
    llm = ChatFastrouter(model="openai/gpt-4o-mini", api_key="sk-or-very-secret")
    assert "sk-or-very-secret" not in repr(llm) and "sk-or-very-secret" not in str(llm.model_dump())


def test_import_fastrouter_does_not_import_langchain() -> None:
    code = "import sys, fastrouter; print('langchain_core' in sys.modules)"
    assert (
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
        == "False"
    )


@pytest.mark.skipif(not hasattr(fastrouter, "Cascade"), reason="fastrouter.Cascade lands in a parallel branch")
def test_a_cascade_works_as_model_and_reports_its_result(server: MockServer) -> None:
    cascade_type = getattr(fastrouter, "Cascade")  # noqa: B009 (absent before the cascade branch merges)
    confident_reply: object = Reply
    server.script("meta-llama/llama-3.1-8b-instruct", confident_reply("4", confidence=0.97))  # type: ignore[operator]
    llm = _llm(server, model=cascade_type(["meta-llama/llama-3.1-8b-instruct", "anthropic/claude-3.5-sonnet"]))
    msg = llm.invoke("What is 2 + 2?")
    assert msg.content == "4"
    assert msg.response_metadata["cascade"]["model_used"] == "meta-llama/llama-3.1-8b-instruct"
    assert llm._get_ls_params()["ls_model_name"].startswith("cascade:")
