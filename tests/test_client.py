"""The clients (``fastrouter.Client`` / ``fastrouter.AsyncClient``) against the real
embedded mock server over loopback: configuration, request bodies and headers, response
shapes, pooling, closing, the GIL, timeouts and the account endpoints."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from decimal import Decimal
from typing import Any

import fastrouter
import pytest
from fastrouter.testing import ANY_MODEL, Fail, MockServer, Raw, Reply, ToolCall

MOCK_KEY = "sk-or-v1-test-secret-key-0123456789"  # same as conftest.py
MODEL = "openai/gpt-4o-mini"
USER = [{"role": "user", "content": "Hello there"}]

_ENV_VARS = (
    "OPENROUTER_API_KEY",
    "OPENROUTER_BASE_URL",
    "OPENROUTER_HTTP_REFERER",
    "OPENROUTER_APP_TITLE",
    "OPENROUTER_X_TITLE",
    "OPENROUTER_APP_CATEGORIES",
)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests here must not see the developer's OpenRouter settings."""
    for name in _ENV_VARS:
        monkeypatch.delenv(name, raising=False)


def _last_headers(server: MockServer) -> dict[str, str]:
    return server.requests[-1].headers


# --------------------------------------------------------------------- construction


@pytest.mark.parametrize("cls", [fastrouter.Client, fastrouter.AsyncClient])
def test_defaults_without_arguments_or_env(cls: Any) -> None:
    client = cls()
    assert client.base_url == "https://openrouter.ai/api/v1"
    assert client.api_key is None
    assert client.max_retries == 2
    assert client.timeout == fastrouter.Timeout()
    assert client.default_headers == {}
    assert client.is_closed is False


@pytest.mark.parametrize("cls", [fastrouter.Client, fastrouter.AsyncClient])
def test_api_key_and_base_url_from_arguments(cls: Any) -> None:
    client = cls(api_key="sk-arg", base_url="http://127.0.0.1:9/api/v1/")
    assert client.api_key == "sk-arg"
    assert client.base_url == "http://127.0.0.1:9/api/v1"


@pytest.mark.parametrize("cls", [fastrouter.Client, fastrouter.AsyncClient])
def test_api_key_and_base_url_from_env(cls: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENROUTER_API_KEY", "sk-env")
    monkeypatch.setenv("OPENROUTER_BASE_URL", "http://127.0.0.1:9/custom/v1/")
    client = cls()
    assert client.api_key == "sk-env"
    assert client.base_url == "http://127.0.0.1:9/custom/v1"
    # Arguments win over the environment.
    client = cls(api_key="sk-arg", base_url="http://localhost:1/v1")
    assert client.api_key == "sk-arg"
    assert client.base_url == "http://localhost:1/v1"


def test_env_key_and_base_url_are_used_on_the_wire(server: MockServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENROUTER_API_KEY", "sk-env-key")
    monkeypatch.setenv("OPENROUTER_BASE_URL", server.base_url + "/")
    with fastrouter.Client() as client:
        resp = client.chat.completions.create(model=MODEL, messages=USER)
    assert resp.choices[0].message.content
    assert len(server.chat_requests()) == 1
    assert _last_headers(server)["authorization"] == "Bearer <redacted>"


def test_attribution_headers_from_arguments(server: MockServer) -> None:
    with fastrouter.Client(
        base_url=server.base_url,
        api_key=MOCK_KEY,
        app_url="https://example.com/app",
        app_title="My App",
        app_categories=["cli-agent", "programming"],
    ) as client:
        assert client.default_headers == {
            "HTTP-Referer": "https://example.com/app",
            "X-OpenRouter-Title": "My App",
            "X-Title": "My App",
            "X-OpenRouter-Categories": "cli-agent,programming",
        }
        client.chat.completions.create(model=MODEL, messages=USER)
    headers = _last_headers(server)
    assert headers["http-referer"] == "https://example.com/app"
    assert headers["x-openrouter-title"] == "My App"
    assert headers["x-title"] == "My App"
    assert headers["x-openrouter-categories"] == "cli-agent,programming"


def test_app_categories_as_a_string(server: MockServer) -> None:
    with fastrouter.Client(base_url=server.base_url, api_key=MOCK_KEY, app_categories="roleplay") as client:
        client.chat.completions.create(model=MODEL, messages=USER)
    assert _last_headers(server)["x-openrouter-categories"] == "roleplay"


async def test_attribution_headers_from_env(server: MockServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENROUTER_HTTP_REFERER", "https://env.example")
    monkeypatch.setenv("OPENROUTER_APP_TITLE", "Env Title")
    monkeypatch.setenv("OPENROUTER_APP_CATEGORIES", "a,b")
    async with fastrouter.AsyncClient(base_url=server.base_url, api_key=MOCK_KEY) as client:
        await client.chat.completions.create(model=MODEL, messages=USER)
    headers = _last_headers(server)
    assert headers["http-referer"] == "https://env.example"
    assert headers["x-openrouter-title"] == "Env Title"
    assert headers["x-title"] == "Env Title"
    assert headers["x-openrouter-categories"] == "a,b"


def test_x_title_env_fallback_and_precedence(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENROUTER_X_TITLE", "Legacy")
    headers = fastrouter.Client().default_headers
    assert headers["X-OpenRouter-Title"] == "Legacy"
    assert headers["X-Title"] == "Legacy"
    monkeypatch.setenv("OPENROUTER_APP_TITLE", "Preferred")
    assert fastrouter.Client().default_headers["X-Title"] == "Preferred"
    # An argument beats both env vars.
    assert fastrouter.Client(app_title="Arg").default_headers["X-OpenRouter-Title"] == "Arg"


def test_no_attribution_headers_by_default(client: fastrouter.Client, server: MockServer) -> None:
    client.chat.completions.create(model=MODEL, messages=USER)
    headers = _last_headers(server)
    for name in ("http-referer", "x-title", "x-openrouter-title", "x-openrouter-categories"):
        assert name not in headers


def test_default_headers_and_extra_headers_reach_the_server(server: MockServer) -> None:
    with fastrouter.Client(
        base_url=server.base_url,
        api_key=MOCK_KEY,
        app_title="Attribution",
        default_headers={"X-Team": "search", "X-Title": "Overridden"},
    ) as client:
        client.chat.completions.create(model=MODEL, messages=USER, extra_headers={"X-Request-Tag": "abc-123"})
        first = _last_headers(server)
        client.chat.completions.create(model=MODEL, messages=USER)
        second = _last_headers(server)
    assert first["x-team"] == "search"
    assert first["x-request-tag"] == "abc-123"
    assert first["x-title"] == "Overridden"  # default_headers win over attribution
    assert first["x-openrouter-title"] == "Attribution"
    # extra_headers are per request only.
    assert second["x-team"] == "search"
    assert "x-request-tag" not in second


async def test_async_extra_headers(aclient: fastrouter.AsyncClient, server: MockServer) -> None:
    await aclient.chat.completions.create(model=MODEL, messages=USER, extra_headers={"X-Trace": "t-1"})
    assert _last_headers(server)["x-trace"] == "t-1"


def test_user_agent_content_type_and_redacted_authorization(client: fastrouter.Client, server: MockServer) -> None:
    client.chat.completions.create(model=MODEL, messages=USER)
    headers = _last_headers(server)
    assert headers["user-agent"] == f"fastrouter/{fastrouter.__version__}"
    assert headers["authorization"] == "Bearer <redacted>"
    assert headers["content-type"].startswith("application/json")
    recorded = json.dumps([r.headers for r in server.requests])
    assert MOCK_KEY not in recorded


@pytest.mark.parametrize("cls", [fastrouter.Client, fastrouter.AsyncClient])
def test_repr_never_contains_the_key(cls: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    client = cls(api_key=MOCK_KEY, base_url="http://127.0.0.1:9/api/v1")
    text = repr(client)
    assert MOCK_KEY not in text
    assert "secret" not in text
    assert "http://127.0.0.1:9/api/v1" in text
    monkeypatch.setenv("OPENROUTER_API_KEY", "sk-env-secret-value")
    assert "sk-env-secret-value" not in repr(cls())
    assert "sk-env-secret-value" not in str(cls())


# ------------------------------------------------------------------- bad arguments


@pytest.mark.parametrize(
    ("kwargs", "exc"),
    [
        ({"max_retries": -1}, ValueError),
        ({"max_retries": 1.5}, ValueError),
        ({"timeout": -1}, ValueError),
        ({"timeout": 0}, ValueError),
        ({"timeout": "10"}, TypeError),
        ({"default_headers": {"X-N": 1}}, TypeError),
    ],
)
@pytest.mark.parametrize("cls", [fastrouter.Client, fastrouter.AsyncClient])
def test_bad_client_arguments(cls: Any, kwargs: dict[str, Any], exc: type[Exception]) -> None:
    with pytest.raises(exc):
        cls(api_key="k", **kwargs)


def test_bad_timeout_objects() -> None:
    with pytest.raises(ValueError):
        fastrouter.Timeout(total=-0.5)
    with pytest.raises(TypeError):
        fastrouter.Timeout(attempt="1")  # type: ignore[arg-type]


def test_bad_base_url_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="base_url"):
        fastrouter.Client(api_key="k", base_url="ftp://example.com")


@pytest.mark.parametrize(
    ("kwargs", "exc"),
    [
        ({"model": MODEL, "messages": []}, TypeError),
        ({"model": MODEL, "messages": "hi"}, TypeError),
        ({"model": 123, "messages": USER}, TypeError),
        ({"model": [], "messages": USER}, ValueError),
        ({"model": "", "messages": USER}, ValueError),
        ({"model": [MODEL, ""], "messages": USER}, ValueError),
        ({"model": MODEL, "messages": USER, "max_retries": -1}, ValueError),
        ({"model": MODEL, "messages": USER, "temprature": 0.5}, TypeError),
    ],
)
def test_bad_create_arguments_send_nothing(
    client: fastrouter.Client, server: MockServer, kwargs: dict[str, Any], exc: type[Exception]
) -> None:
    with pytest.raises(exc):
        client.chat.completions.create(**kwargs)
    assert server.requests == []


async def test_bad_create_arguments_send_nothing_async(aclient: fastrouter.AsyncClient, server: MockServer) -> None:
    with pytest.raises(TypeError):
        await aclient.chat.completions.create(model=MODEL, messages=[])
    with pytest.raises(TypeError):
        await aclient.chat.completions.create(model=123, messages=USER)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        await aclient.chat.completions.create(model=[], messages=USER)
    with pytest.raises(ValueError):
        await aclient.chat.completions.create(model=MODEL, messages=USER, max_retries=-2)
    assert server.requests == []


def test_unknown_keyword_suggests_extra_body(client: fastrouter.Client, server: MockServer) -> None:
    with pytest.raises(TypeError, match="extra_body") as info:
        client.chat.completions.create(model=MODEL, messages=USER, brand_new_param=1)  # type: ignore[call-arg]
    assert "brand_new_param" in str(info.value)
    with pytest.raises(TypeError, match="'temperature'") as info:
        client.chat.completions.create(model=MODEL, messages=USER, temprature=0.2)  # type: ignore[call-arg]
    assert "temprature" in str(info.value)
    assert "extra_body" in str(info.value)
    assert server.requests == []


def test_missing_api_key_fails_at_first_request(server: MockServer) -> None:
    with fastrouter.Client(base_url=server.base_url) as client:
        with pytest.raises(fastrouter.AuthenticationError, match="OPENROUTER_API_KEY"):
            client.chat.completions.create(model=MODEL, messages=USER)
    assert server.requests == []


# ------------------------------------------------------------- chat.completions.create


def test_response_fields(client: fastrouter.Client, server: MockServer) -> None:
    server.script(
        MODEL,
        Reply(
            "The answer is 42.",
            provider="Azure",
            prompt_tokens=11,
            completion_tokens=7,
            cost=0.000123,
            native_finish_reason="end_turn",
        ),
    )
    before = int(time.time())
    resp = client.chat.completions.create(model=MODEL, messages=USER)
    assert isinstance(resp, fastrouter.ChatCompletion)
    assert resp.id.startswith("gen-")
    assert resp.object == "chat.completion"
    assert resp.model == MODEL
    assert resp.provider == "Azure"
    assert abs(resp.created - before) < 120
    choice = resp.choices[0]
    assert isinstance(choice, fastrouter.Choice)
    assert choice.index == 0
    assert choice.message.role == "assistant"
    assert choice.message.content == "The answer is 42."
    assert choice.message.tool_calls is None
    assert choice.finish_reason == "stop"
    assert choice.native_finish_reason == "end_turn"
    usage = resp.usage
    assert isinstance(usage, fastrouter.CompletionUsage)
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (11, 7, 18)
    assert usage.cost == 0.000123
    assert isinstance(resp.cost, Decimal)
    assert resp.cost == Decimal(str(0.000123))
    assert resp.cost == Decimal("0.000123")


def test_attempts_of_a_single_success(client: fastrouter.Client, server: MockServer) -> None:
    server.script(MODEL, Reply("ok", provider="Groq", cost=0.5))
    resp = client.chat.completions.create(model=MODEL, messages=USER)
    assert len(resp.attempts) == 1
    attempt = resp.attempts[-1]
    assert isinstance(attempt, fastrouter.Attempt)
    assert attempt.model == MODEL
    assert attempt.provider == "Groq"
    assert attempt.status == 200
    assert attempt.ok is True
    assert attempt.error is None
    assert attempt.error_kind is None
    assert attempt.retry == 0
    assert attempt.hedged is False
    assert attempt.cost == Decimal("0.5")
    assert 0 <= attempt.latency_s < 5


def test_attempts_record_retries(client: fastrouter.Client, server: MockServer) -> None:
    server.script(MODEL, Fail(503), Reply("second time lucky"))
    resp = client.chat.completions.create(model=MODEL, messages=USER)
    assert resp.choices[0].message.content == "second time lucky"
    assert [a.status for a in resp.attempts] == [503, 200]
    assert [a.retry for a in resp.attempts] == [0, 1]
    assert resp.attempts[0].ok is False
    assert resp.attempts[-1].ok is True


def test_cost_is_priced_from_the_catalog_by_default(client: fastrouter.Client) -> None:
    resp = client.chat.completions.create(model=MODEL, messages=USER)
    assert resp.usage is not None
    assert resp.cost is not None and resp.cost > 0
    expected = Decimal("0.00000015") * resp.usage.prompt_tokens + Decimal("0.0000006") * resp.usage.completion_tokens
    assert abs(resp.cost - expected) < Decimal("1e-12")


def test_to_dict_and_to_json_round_trip(client: fastrouter.Client, server: MockServer) -> None:
    server.script(MODEL, Reply("round trip", cost=0.25, tool_calls=[ToolCall("lookup", {"q": "x"}, id="call_1")]))
    resp = client.chat.completions.create(model=MODEL, messages=USER)
    data = resp.to_dict()
    assert isinstance(data, dict)
    assert data["choices"][0]["message"]["content"] == "round trip"
    assert data["usage"]["cost"] == 0.25
    assert json.loads(resp.to_json()) == data
    assert json.loads(json.dumps(data)) == data  # plain JSON
    # to_dict is a copy: mutating it does not touch the response.
    data["choices"][0]["message"]["content"] = "changed"
    assert resp.choices[0].message.content == "round trip"
    rebuilt = fastrouter.ChatCompletion(json.loads(resp.to_json()))
    assert rebuilt == resp
    assert rebuilt.choices[0].message.tool_calls[0].function.arguments == '{"q": "x"}'


def test_tool_calls(client: fastrouter.Client, server: MockServer) -> None:
    server.script(
        MODEL,
        Reply(content="", tool_calls=[ToolCall("get_weather", {"city": "Paris"}, id="call_abc"), ToolCall("noop")]),
    )
    resp = client.chat.completions.create(model=MODEL, messages=USER)
    choice = resp.choices[0]
    assert choice.finish_reason == "tool_calls"
    calls = choice.message.tool_calls
    assert calls is not None and len(calls) == 2
    assert isinstance(calls[0], fastrouter.ChatCompletionMessageToolCall)
    assert calls[0].id == "call_abc"
    assert calls[0].type == "function"
    assert calls[0].function.name == "get_weather"
    assert json.loads(calls[0].function.arguments) == {"city": "Paris"}
    assert calls[1].function.name == "noop"
    assert calls[1].id


ALL_PARAMS: dict[str, Any] = {
    # OpenAI
    "temperature": 0.3,
    "top_p": 0.9,
    "max_tokens": 128,
    "max_completion_tokens": 100,
    "stop": ["\n\n", "END"],
    "seed": 7,
    "n": 1,
    "tools": [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Weather for a city",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
            },
        }
    ],
    "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
    "parallel_tool_calls": False,
    "response_format": {"type": "json_object"},
    "logprobs": True,
    "top_logprobs": 3,
    "frequency_penalty": 0.5,
    "presence_penalty": -0.25,
    "logit_bias": {"50256": -100},
    "metadata": {"k": "v"},
    "user": "user-1234",
    "reasoning_effort": "low",
    "verbosity": "low",
    "service_tier": "auto",
    "prompt_cache_key": "cache-key",
    # OpenRouter
    "models": ["anthropic/claude-3.5-haiku", "google/gemini-2.0-flash-001"],
    "provider": {"order": ["OpenAI", "Azure"], "allow_fallbacks": False, "data_collection": "deny"},
    "reasoning": {"effort": "high", "exclude": False},
    "transforms": ["middle-out"],
    "plugins": [{"id": "web", "max_results": 3}],
    "usage": {"include": True},
    "top_k": 40,
    "top_a": 0.1,
    "min_p": 0.05,
    "repetition_penalty": 1.1,
    "session_id": "session-xyz",
    "include_reasoning": True,
}


def test_every_param_reaches_the_server_exactly(client: fastrouter.Client, server: MockServer) -> None:
    client.chat.completions.create(model=MODEL, messages=USER, **ALL_PARAMS)
    (request,) = server.chat_requests()
    assert request.method == "POST"
    assert request.path == "/chat/completions"
    expected = {"model": MODEL, "messages": USER, **ALL_PARAMS}
    assert request.body == expected


async def test_every_param_reaches_the_server_exactly_async(
    aclient: fastrouter.AsyncClient, server: MockServer
) -> None:
    await aclient.chat.completions.create(model=MODEL, messages=USER, **ALL_PARAMS)
    (request,) = server.chat_requests()
    assert request.body == {"model": MODEL, "messages": USER, **ALL_PARAMS}


def test_single_stop_string_and_none_values(client: fastrouter.Client, server: MockServer) -> None:
    client.chat.completions.create(model=MODEL, messages=USER, stop="END", temperature=0)
    body = server.chat_requests()[-1].body
    assert body["stop"] == "END"
    assert body["temperature"] == 0


def test_extra_body_is_merged(client: fastrouter.Client, server: MockServer) -> None:
    client.chat.completions.create(
        model=MODEL,
        messages=USER,
        temperature=0.1,
        extra_body={"brand_new": {"nested": [1, 2]}, "provider": {"only": ["Groq"]}, "x_flag": True},
    )
    body = server.chat_requests()[-1].body
    assert body["model"] == MODEL
    assert body["messages"] == USER
    assert body["temperature"] == 0.1
    assert body["brand_new"] == {"nested": [1, 2]}
    assert body["provider"] == {"only": ["Groq"]}
    assert body["x_flag"] is True


def test_extra_body_cannot_change_the_model(client: fastrouter.Client, server: MockServer) -> None:
    client.chat.completions.create(model=MODEL, messages=USER, extra_body={"model": "other/model"})
    assert server.chat_requests()[-1].body["model"] == MODEL


def test_previous_message_object_can_be_sent_back(client: fastrouter.Client, server: MockServer) -> None:
    server.script(MODEL, Reply("First answer"), Reply("Second answer"))
    first = client.chat.completions.create(model=MODEL, messages=USER)
    history = [*USER, first.choices[0].message, {"role": "user", "content": "And then?"}]
    second = client.chat.completions.create(model=MODEL, messages=history)
    assert second.choices[0].message.content == "Second answer"
    sent = server.chat_requests()[-1].body["messages"]
    assert sent[0] == USER[0]
    assert isinstance(sent[1], dict)
    assert sent[1] == first.choices[0].message.to_dict()
    assert sent[1]["role"] == "assistant"
    assert sent[1]["content"] == "First answer"
    assert sent[2] == {"role": "user", "content": "And then?"}


def test_tool_call_message_can_be_sent_back(client: fastrouter.Client, server: MockServer) -> None:
    server.script(MODEL, Reply(content=None, tool_calls=[ToolCall("f", {"a": 1}, id="call_9")]), Reply("done"))
    first = client.chat.completions.create(model=MODEL, messages=USER)
    message = first.choices[0].message
    history = [*USER, message, {"role": "tool", "tool_call_id": "call_9", "content": "1"}]
    assert client.chat.completions.create(model=MODEL, messages=history).choices[0].message.content == "done"
    sent = server.chat_requests()[-1].body["messages"]
    assert sent[1]["tool_calls"][0]["id"] == "call_9"
    assert sent[1]["tool_calls"][0]["function"] == {"name": "f", "arguments": '{"a": 1}'}


def test_unserializable_message_is_a_type_error(client: fastrouter.Client, server: MockServer) -> None:
    with pytest.raises(TypeError):
        client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": object()}])
    assert server.requests == []


def test_unicode_round_trip(client: fastrouter.Client, server: MockServer) -> None:
    server.script(MODEL, Reply("héllo 👋 世界"))
    messages = [{"role": "user", "content": "Grüße 🚀 こんにちは"}]
    resp = client.chat.completions.create(model=MODEL, messages=messages)
    assert resp.choices[0].message.content == "héllo 👋 世界"
    assert server.chat_requests()[-1].body["messages"] == messages


def test_stream_must_be_a_bool(client: fastrouter.Client, server: MockServer) -> None:
    with pytest.raises(TypeError, match="stream"):
        client.chat.completions.create(model=MODEL, messages=USER, stream="yes")  # type: ignore[arg-type]
    assert server.requests == []


# ----------------------------------------------------------------- sync/async parity


def _shape(resp: fastrouter.ChatCompletion) -> dict[str, Any]:
    data = resp.to_dict()
    data.pop("id")
    data.pop("created")
    attempts = [(a.model, a.provider, a.status, a.error_kind, a.cost, a.retry, a.hedged) for a in resp.attempts]
    return {"data": data, "attempts": attempts, "cost": resp.cost}


def _parity_script(server: MockServer) -> None:
    server.script(
        MODEL,
        Reply("plain", cost=0.001, prompt_tokens=5, completion_tokens=2),
        Fail(502),
        Reply("after a retry", provider="Together"),
        Reply(content="", tool_calls=[ToolCall("fn", {"x": 1}, id="call_p")], cost=0.002),
    )


async def test_sync_and_async_give_equal_results() -> None:
    results: dict[str, list[dict[str, Any]]] = {}
    with MockServer() as server:
        _parity_script(server)
        with fastrouter.Client(base_url=server.base_url, api_key=MOCK_KEY) as client:
            results["sync"] = [
                _shape(client.chat.completions.create(model=MODEL, messages=USER, temperature=0.5)) for _ in range(3)
            ]
        sync_bodies = [r.body for r in server.chat_requests()]
    with MockServer() as server:
        _parity_script(server)
        async with fastrouter.AsyncClient(base_url=server.base_url, api_key=MOCK_KEY) as aclient:
            results["async"] = [
                _shape(await aclient.chat.completions.create(model=MODEL, messages=USER, temperature=0.5))
                for _ in range(3)
            ]
        async_bodies = [r.body for r in server.chat_requests()]
    assert results["sync"] == results["async"]
    assert sync_bodies == async_bodies
    assert [len(r["attempts"]) for r in results["sync"]] == [1, 2, 1]


async def test_account_endpoints_parity(server: MockServer) -> None:
    with fastrouter.Client(base_url=server.base_url, api_key=MOCK_KEY) as client:
        sync_credits = client.credits.get()
        sync_key = client.key.get()
    async with fastrouter.AsyncClient(base_url=server.base_url, api_key=MOCK_KEY) as aclient:
        async_credits = await aclient.credits.get()
        async_key = await aclient.key.get()
    assert sync_credits == async_credits
    assert sync_key == async_key


async def test_sync_and_async_streams_agree(server: MockServer) -> None:
    server.script(MODEL, Reply("one two three four", cost=0.0002), Reply("one two three four", cost=0.0002))
    with fastrouter.Client(base_url=server.base_url, api_key=MOCK_KEY) as client:
        with client.chat.completions.create(model=MODEL, messages=USER, stream=True) as stream:
            sync_text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
        sync_completion = stream.completion
    async with fastrouter.AsyncClient(base_url=server.base_url, api_key=MOCK_KEY) as aclient:
        astream = await aclient.chat.completions.create(model=MODEL, messages=USER, stream=True)
        async with astream:
            async_text = "".join([c.choices[0].delta.content or "" async for c in astream if c.choices])
        async_completion = astream.completion
    assert sync_text == async_text == "one two three four"
    for completion in (sync_completion, async_completion):
        assert completion.choices[0].message.content == "one two three four"
        assert completion.cost == Decimal("0.0002")
    bodies = [r.body for r in server.chat_requests()]
    assert bodies[0] == bodies[1]
    assert bodies[0]["stream"] is True


# ----------------------------------------------------------------- pooling / concurrency


def test_sequential_requests_reuse_one_connection(client: fastrouter.Client, server: MockServer) -> None:
    for i in range(20):
        resp = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": f"n{i}"}])
        assert f"n{i}" in (resp.choices[0].message.content or "")
    opened, closed = server.connections
    assert opened == 1
    assert closed == 0
    assert len(server.chat_requests()) == 20


async def test_sequential_async_requests_reuse_one_connection(
    aclient: fastrouter.AsyncClient, server: MockServer
) -> None:
    for _ in range(20):
        await aclient.chat.completions.create(model=MODEL, messages=USER)
    assert server.connections[0] == 1


async def test_concurrent_async_requests(aclient: fastrouter.AsyncClient, server: MockServer) -> None:
    async def one(i: int) -> fastrouter.ChatCompletion:
        return await aclient.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": f"q{i}"}])

    server.script(ANY_MODEL, *[Reply(delay=0.2) for _ in range(32)])
    started = time.monotonic()
    results = await asyncio.gather(*(one(i) for i in range(32)))
    elapsed = time.monotonic() - started
    assert len(results) == 32
    for i, resp in enumerate(results):
        assert resp.choices[0].message.content is not None
        assert resp.choices[0].message.content.endswith(f"q{i}")
    assert len({r.id for r in results}) == 32
    assert len(server.chat_requests()) == 32
    assert server.pending() == {}
    assert elapsed < 3.0  # 32 x 0.2 s would be 6.4 s if serialized


# ------------------------------------------------------------------ close / contexts


def test_sync_close(server: MockServer) -> None:
    client = fastrouter.Client(base_url=server.base_url, api_key=MOCK_KEY)
    client.chat.completions.create(model=MODEL, messages=USER)
    assert client.is_closed is False
    client.close()
    assert client.is_closed is True
    with pytest.raises(fastrouter.APIConnectionError):
        client.chat.completions.create(model=MODEL, messages=USER)
    with pytest.raises(fastrouter.APIConnectionError):
        client.credits.get()
    client.close()  # idempotent
    assert client.is_closed is True
    assert len(server.chat_requests()) == 1


def test_sync_context_manager(server: MockServer) -> None:
    with fastrouter.Client(base_url=server.base_url, api_key=MOCK_KEY) as client:
        assert isinstance(client, fastrouter.Client)
        client.chat.completions.create(model=MODEL, messages=USER)
    assert client.is_closed is True
    with pytest.raises(fastrouter.APIConnectionError):
        client.chat.completions.create(model=MODEL, messages=USER)


async def test_async_close(server: MockServer) -> None:
    client = fastrouter.AsyncClient(base_url=server.base_url, api_key=MOCK_KEY)
    await client.chat.completions.create(model=MODEL, messages=USER)
    await client.close()
    assert client.is_closed is True
    with pytest.raises(fastrouter.APIConnectionError):
        await client.chat.completions.create(model=MODEL, messages=USER)
    with pytest.raises(fastrouter.APIConnectionError):
        await client.key.get()


async def test_async_context_manager(server: MockServer) -> None:
    async with fastrouter.AsyncClient(base_url=server.base_url, api_key=MOCK_KEY) as client:
        assert isinstance(client, fastrouter.AsyncClient)
        await client.chat.completions.create(model=MODEL, messages=USER)
    assert client.is_closed is True
    with pytest.raises(fastrouter.APIConnectionError):
        await client.chat.completions.create(model=MODEL, messages=USER)


def test_context_manager_closes_on_error(server: MockServer) -> None:
    with pytest.raises(RuntimeError, match="boom"):
        with fastrouter.Client(base_url=server.base_url, api_key=MOCK_KEY) as client:
            raise RuntimeError("boom")
    assert client.is_closed is True


# ------------------------------------------------------------------------------- GIL


def test_sync_create_releases_the_gil(client: fastrouter.Client, server: MockServer) -> None:
    server.script(MODEL, Reply("slow", delay=0.5))
    box: dict[str, Any] = {}

    def call() -> None:
        try:
            box["resp"] = client.chat.completions.create(model=MODEL, messages=USER)
        except BaseException as exc:  # pragma: no cover - reported below
            box["error"] = exc

    thread = threading.Thread(target=call)
    thread.start()
    deadline = time.monotonic() + 5
    while not server.chat_requests() and time.monotonic() < deadline:
        time.sleep(0.005)
    counted = 0
    started = time.monotonic()
    while thread.is_alive():
        counted += 1
    waited = time.monotonic() - started
    thread.join()
    assert "error" not in box, box.get("error")
    assert box["resp"].choices[0].message.content == "slow"
    assert waited > 0.2
    # A busy Python loop makes millions of iterations in this time if the GIL is free.
    assert counted > 100_000, counted


def test_sync_requests_in_threads_overlap(client: fastrouter.Client, server: MockServer) -> None:
    server.script(MODEL, *[Reply(delay=0.6) for _ in range(4)])
    errors: list[BaseException] = []
    results: list[fastrouter.ChatCompletion] = []

    def call() -> None:
        try:
            results.append(client.chat.completions.create(model=MODEL, messages=USER))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=call) for _ in range(4)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    assert errors == []
    assert len(results) == 4
    assert server.pending() == {}
    assert elapsed < 1.8, elapsed  # serialized would be >= 2.4 s


# --------------------------------------------------------------------------- timeouts


def test_timeout_per_attempt(server: MockServer) -> None:
    server.script(MODEL, Reply(delay=5))
    with fastrouter.Client(base_url=server.base_url, api_key=MOCK_KEY, timeout=0.2) as client:
        assert client.timeout.attempt == 0.2
        started = time.monotonic()
        with pytest.raises(fastrouter.APITimeoutError) as info:
            client.chat.completions.create(model=MODEL, messages=USER, max_retries=0)
        elapsed = time.monotonic() - started
    assert elapsed < 2.5  # the answer would take 5 s
    assert isinstance(info.value, fastrouter.APIConnectionError)
    assert isinstance(info.value, TimeoutError)
    assert [a.status for a in info.value.attempts] == [None]
    assert info.value.attempts[0].error_kind == "timeout"


async def test_timeout_per_attempt_async(server: MockServer) -> None:
    server.script(MODEL, Reply(delay=5), Reply(delay=5))
    async with fastrouter.AsyncClient(base_url=server.base_url, api_key=MOCK_KEY, timeout=0.2, max_retries=1) as client:
        started = time.monotonic()
        with pytest.raises(fastrouter.APITimeoutError) as info:
            await client.chat.completions.create(model=MODEL, messages=USER)
        elapsed = time.monotonic() - started
    assert len(info.value.attempts) == 2
    assert elapsed < 3.0  # one answer would take 5 s


def test_timed_out_attempt_is_retried(server: MockServer) -> None:
    server.script(MODEL, Reply(delay=1), Reply("fast"))
    with fastrouter.Client(base_url=server.base_url, api_key=MOCK_KEY, timeout=0.2) as client:
        resp = client.chat.completions.create(model=MODEL, messages=USER)
    assert resp.choices[0].message.content == "fast"
    assert [a.status for a in resp.attempts] == [None, 200]
    assert resp.attempts[0].error_kind == "timeout"


def test_total_timeout_bounds_retries(server: MockServer) -> None:
    server.script(MODEL, *[Fail(503) for _ in range(20)])
    timeout = fastrouter.Timeout(total=0.5)
    with fastrouter.Client(base_url=server.base_url, api_key=MOCK_KEY, timeout=timeout, max_retries=5) as client:
        started = time.monotonic()
        with pytest.raises((fastrouter.ServiceUnavailableError, fastrouter.APITimeoutError)) as info:
            client.chat.completions.create(model=MODEL, messages=USER)
        elapsed = time.monotonic() - started
    assert elapsed < 1.5
    # Observed behaviour: backoff never sleeps past the deadline, so the chain stops early
    # and raises the last real error (the 503), not a synthetic timeout.
    assert isinstance(info.value, fastrouter.ServiceUnavailableError)
    attempts = info.value.attempts
    assert 1 <= len(attempts) < 6
    assert all(a.status == 503 for a in attempts)
    assert len(server.chat_requests()) == len(attempts)


def test_total_timeout_cuts_a_slow_attempt(server: MockServer) -> None:
    server.script(MODEL, Reply(delay=8))
    timeout = fastrouter.Timeout(attempt=10, total=0.3)
    with fastrouter.Client(base_url=server.base_url, api_key=MOCK_KEY, timeout=timeout) as client:
        started = time.monotonic()
        with pytest.raises(fastrouter.APITimeoutError):
            client.chat.completions.create(model=MODEL, messages=USER)
        elapsed = time.monotonic() - started
    assert elapsed < 3.0  # the answer would take 8 s


# ----------------------------------------------------------- generations, credits, key


def test_generation_matches_the_response(client: fastrouter.Client, server: MockServer) -> None:
    server.script(MODEL, Reply("gen", prompt_tokens=12, completion_tokens=34, cost=0.0042, provider="Fireworks"))
    resp = client.chat.completions.create(model=MODEL, messages=USER)
    generation = client.generations.get(resp.id)
    assert isinstance(generation, fastrouter.Generation)
    assert generation.id == resp.id
    assert generation.model == MODEL
    assert generation.provider_name == "Fireworks"
    assert generation.total_cost == 0.0042
    assert Decimal(str(generation.total_cost)) == resp.cost
    assert generation.tokens_prompt == 12 == resp.usage.prompt_tokens
    assert generation.tokens_completion == 34 == resp.usage.completion_tokens
    assert generation.finish_reason == "stop"
    assert server.requests[-1].path == f"/generation?id={resp.id}"


async def test_generation_async(aclient: fastrouter.AsyncClient) -> None:
    resp = await aclient.chat.completions.create(model=MODEL, messages=USER)
    generation = await aclient.generations.get(resp.id)
    assert generation.id == resp.id
    assert Decimal(str(generation.total_cost)) == resp.cost
    assert generation.tokens_prompt == resp.usage.prompt_tokens


def test_unknown_generation_is_not_found(client: fastrouter.Client) -> None:
    with pytest.raises(fastrouter.NotFoundError) as info:
        client.generations.get("gen-does-not-exist")
    assert info.value.status_code == 404


async def test_unknown_generation_is_not_found_async(aclient: fastrouter.AsyncClient) -> None:
    with pytest.raises(fastrouter.NotFoundError):
        await aclient.generations.get("gen-nope")


def test_credits_default_and_usage(client: fastrouter.Client, server: MockServer) -> None:
    credits = client.credits.get()
    assert isinstance(credits, fastrouter.Credits)
    assert credits.total_credits == 100
    assert credits.total_usage == 0
    assert credits.remaining == 100
    server.script(MODEL, Reply(cost=1.25), Reply(cost=0.5))
    client.chat.completions.create(model=MODEL, messages=USER)
    client.chat.completions.create(model=MODEL, messages=USER)
    credits = client.credits.get()
    assert credits.total_usage == pytest.approx(1.75)
    assert credits.remaining == pytest.approx(98.25)


async def test_credits_custom_total() -> None:
    async with MockServer(total_credits=5) as server:
        async with fastrouter.AsyncClient(base_url=server.base_url, api_key=MOCK_KEY) as client:
            credits = await client.credits.get()
            assert credits.total_credits == 5
            assert credits.remaining == 5
            server.script(MODEL, Reply(cost=2))
            await client.chat.completions.create(model=MODEL, messages=USER)
            assert (await client.credits.get()).remaining == pytest.approx(3)


def test_key_info(client: fastrouter.Client, server: MockServer) -> None:
    server.script(MODEL, Reply(cost=0.75))
    client.chat.completions.create(model=MODEL, messages=USER)
    key = client.key.get()
    assert isinstance(key, fastrouter.KeyInfo)
    assert key.usage == pytest.approx(0.75)
    assert key.limit is None
    assert key.is_free_tier is False
    assert isinstance(key.label, str)
    assert server.requests[-1].path == "/key"


def test_account_endpoints_need_a_key(server: MockServer) -> None:
    with fastrouter.Client(base_url=server.base_url) as client:
        with pytest.raises(fastrouter.AuthenticationError):
            client.credits.get()


def test_account_endpoints_report_a_rejected_key() -> None:
    with MockServer(api_key="right-key") as server:
        with fastrouter.Client(base_url=server.base_url, api_key="wrong-key") as client:
            with pytest.raises(fastrouter.AuthenticationError) as info:
                client.key.get()
        assert info.value.status_code == 401
        with fastrouter.Client(base_url=server.base_url, api_key="right-key") as client:
            assert client.credits.get().total_credits == 100


def test_per_request_timeout_like_openai(client: fastrouter.Client, server: MockServer) -> None:
    # openai's create() takes a per-request ``timeout=``; it must not be rejected (or, worse,
    # be suggested for extra_body, which would send it to the server).
    server.script(MODEL, Reply(delay=5))
    started = time.monotonic()
    with pytest.raises(fastrouter.APITimeoutError):
        client.chat.completions.create(model=MODEL, messages=USER, timeout=0.2, max_retries=0)  # type: ignore[call-arg]
    assert time.monotonic() - started < 2.5  # the answer would take 5 s


def test_bad_extra_headers_send_nothing(client: fastrouter.Client, server: MockServer) -> None:
    with pytest.raises(TypeError):
        client.chat.completions.create(model=MODEL, messages=USER, extra_headers={"X-A": 1})  # type: ignore[dict-item]
    with pytest.raises(fastrouter.FastrouterError, match="X-A"):
        client.chat.completions.create(model=MODEL, messages=USER, extra_headers={"X-A": "line\nbreak"})
    assert server.requests == []


def test_close_lets_a_running_request_finish(client: fastrouter.Client, server: MockServer) -> None:
    server.script(MODEL, Reply("finished anyway", delay=0.3))
    box: dict[str, Any] = {}

    def call() -> None:
        try:
            box["resp"] = client.chat.completions.create(model=MODEL, messages=USER)
        except BaseException as exc:  # pragma: no cover - reported below
            box["error"] = exc

    thread = threading.Thread(target=call)
    thread.start()
    deadline = time.monotonic() + 5
    while not server.chat_requests() and time.monotonic() < deadline:
        time.sleep(0.005)
    client.close()
    thread.join()
    assert "error" not in box, box.get("error")
    assert box["resp"].choices[0].message.content == "finished anyway"
    assert client.is_closed


# Every JSON shape an answer can carry: the core parses the body straight into the
# completion's data, which must be what json.loads gives.
_ODD_ANSWER = (
    '{"id":"gen-odd","object":"chat.completion","created":1700000000,"model":"m",'
    '"choices":[{"index":0,"finish_reason":"stop","message":{"role":"assistant",'
    '"content":"caf\\u00e9 \\ud83d\\ude00 \\"quoted\\" \\\\ tab\\t line\\n \u00fcber \u2603"}}],'
    '"usage":{"prompt_tokens":9,"completion_tokens":18,"total_tokens":27,"big":18446744073709551615,"neg":-3,'
    '"cost":0.1,"tiny":1e-300,"third":0.30000000000000004,"long":3.141592653589793238462643,'
    '"exp":2.5E+10,"zero":-0.0,"flags":[true,false,null],"empty":{},"nested":[[],[{}]]},'
    '"dup":1,"dup":2}'
)


def test_an_answer_is_read_as_json_loads_reads_it(server: MockServer) -> None:
    server.script(ANY_MODEL, Raw(_ODD_ANSWER, headers={"content-type": "application/json"}))
    with fastrouter.Client(base_url=server.base_url, api_key="test", max_retries=0) as client:
        resp = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
    expected = json.loads(_ODD_ANSWER)
    assert resp.to_dict() == expected
    assert repr(resp.to_dict()["usage"]["zero"]) == "-0.0"
    assert resp.choices[0].message.content == expected["choices"][0]["message"]["content"]
