"""The embedded mock OpenRouter server (``fastrouter.testing.MockServer``): lifecycle,
scripting, the catalog endpoints, auth, request recording, and the official ``openai``
SDK talking to it."""

from __future__ import annotations

import json
import socket
import time
from typing import Any

import fastrouter
import httpx
import openai
import pytest
from fastrouter.testing import ANY_MODEL, Drop, Fail, MockServer, Raw, RecordedRequest, Reply, ToolCall

MOCK_KEY = "sk-or-v1-test-secret-key-0123456789"  # same as conftest.py
MODEL = "openai/gpt-4o-mini"
USER = [{"role": "user", "content": "Hello there"}]
AUTH = {"Authorization": f"Bearer {MOCK_KEY}"}


def _chat(server: MockServer, body: dict[str, Any], headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.post(f"{server.base_url}/chat/completions", json=body, headers=AUTH if headers is None else headers)


def _ask(client: fastrouter.Client, model: str = MODEL, text: str = "Hello there") -> fastrouter.ChatCompletion:
    return client.chat.completions.create(model=model, messages=[{"role": "user", "content": text}], max_retries=0)


def _refused(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return False
    except OSError:
        return True


# --------------------------------------------------------------------------- lifecycle


def test_sync_context_manager() -> None:
    with MockServer() as server:
        assert server.host == "127.0.0.1"
        assert server.port > 0
        assert server.url == f"http://127.0.0.1:{server.port}"
        assert server.base_url == f"http://127.0.0.1:{server.port}/api/v1"
        assert httpx.get(server.base_url + "/models").status_code == 200
        port = server.port
    assert _refused("127.0.0.1", port)
    assert repr(server) == "MockServer(stopped)"


async def test_async_context_manager() -> None:
    async with MockServer() as server:
        async with httpx.AsyncClient() as http:
            response = await http.get(server.base_url + "/models")
        assert response.status_code == 200
        async with fastrouter.AsyncClient(base_url=server.base_url, api_key=MOCK_KEY) as client:
            resp = await client.chat.completions.create(model=MODEL, messages=USER)
        assert resp.choices[0].message.content
        port = server.port
    assert _refused("127.0.0.1", port)


def test_start_and_stop_are_idempotent() -> None:
    server = MockServer()
    assert server.start() is server
    port = server.port
    assert server.start() is server
    assert server.port == port  # no second server
    server.stop()
    server.stop()
    assert _refused("127.0.0.1", port)
    # It can be started again.
    server.start()
    try:
        assert httpx.get(server.base_url + "/models").status_code == 200
    finally:
        server.stop()


def test_stop_closes_open_keep_alive_connections() -> None:
    server = MockServer().start()
    with fastrouter.Client(base_url=server.base_url, api_key=MOCK_KEY) as client:
        _ask(client)
        assert server.connections == (1, 0)
        server.stop()
        with pytest.raises(fastrouter.APIConnectionError):
            _ask(client)


def test_repr() -> None:
    server = MockServer()
    assert repr(server) == "MockServer(stopped)"
    with server:
        assert repr(server) == f"MockServer(base_url={server.base_url!r})"


@pytest.mark.parametrize("attribute", ["base_url", "url", "port", "host", "requests", "connections"])
def test_stopped_server_attributes_raise_clearly(attribute: str) -> None:
    server = MockServer()
    with pytest.raises(RuntimeError, match="not running"):
        getattr(server, attribute)
    with server:
        getattr(server, attribute)
    with pytest.raises(RuntimeError, match=r"MockServer\(\)|start\(\)"):
        getattr(server, attribute)


def test_stopped_server_methods_raise_clearly() -> None:
    server = MockServer()
    with pytest.raises(RuntimeError, match="not running"):
        server.script(MODEL, Reply("x"))
    with pytest.raises(RuntimeError, match="not running"):
        server.pending()
    with pytest.raises(RuntimeError, match="not running"):
        server.reset()


def test_fixed_port_and_port_in_use() -> None:
    with MockServer() as first:
        port = first.port
        with pytest.raises(OSError, match=str(port)):
            MockServer(port=port).start()
    with MockServer(port=port) as second:
        assert second.port == port


def test_bad_host_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="host"):
        MockServer(host="not an address").start()


def test_each_server_is_independent() -> None:
    with MockServer() as a, MockServer() as b:
        assert a.port != b.port
        a.script(MODEL, Reply("from a"))
        with fastrouter.Client(base_url=b.base_url, api_key=MOCK_KEY) as client:
            assert "from a" not in (_ask(client).choices[0].message.content or "")
        assert a.pending() == {MODEL: 1}
        assert a.requests == []
        assert len(b.requests) == 1


# ----------------------------------------------------------------------------- scripts


def test_per_model_queues_are_consumed_in_order(client: fastrouter.Client, server: MockServer) -> None:
    server.script("a/one", Reply("a1"), Reply("a2"))
    server.script("b/two", Reply("b1"))
    server.script("a/one", Reply("a3"))  # appends
    assert server.pending() == {"a/one": 3, "b/two": 1}
    assert _ask(client, "a/one").choices[0].message.content == "a1"
    assert _ask(client, "b/two").choices[0].message.content == "b1"
    assert server.pending() == {"a/one": 2}
    assert _ask(client, "a/one").choices[0].message.content == "a2"
    assert _ask(client, "a/one").choices[0].message.content == "a3"
    assert server.pending() == {}
    # Exhausted queues fall back to the echo reply.
    assert "You said: Hello there" in (_ask(client, "a/one").choices[0].message.content or "")


def test_any_model_fallback(client: fastrouter.Client, server: MockServer) -> None:
    server.script(ANY_MODEL, Reply("any 1"), Reply("any 2"))
    server.script("x/specific", Reply("specific"))
    assert ANY_MODEL == "*"
    assert _ask(client, "x/specific").choices[0].message.content == "specific"
    assert _ask(client, "x/specific").choices[0].message.content == "any 1"
    assert _ask(client, "y/other").choices[0].message.content == "any 2"
    assert server.pending() == {}
    assert "You said" in (_ask(client, "y/other").choices[0].message.content or "")


def test_reset_forgets_requests_and_scripts(client: fastrouter.Client, server: MockServer) -> None:
    server.script(MODEL, Reply("scripted"), Reply("scripted"))
    _ask(client)
    assert len(server.requests) == 1
    server.reset()
    assert server.requests == []
    assert server.pending() == {}
    assert _ask(client).choices[0].message.content != "scripted"
    assert len(server.requests) == 1


def test_unscripted_reply_echoes_the_prompt(client: fastrouter.Client) -> None:
    resp = _ask(client, "mistralai/mistral-7b-instruct", text="What is the capital of Peru?")
    content = resp.choices[0].message.content
    assert content is not None
    assert "What is the capital of Peru?" in content
    assert "mistralai/mistral-7b-instruct" in content
    assert resp.model == "mistralai/mistral-7b-instruct"
    assert resp.provider == "Mistral"
    assert resp.choices[0].finish_reason == "stop"
    assert resp.usage is not None
    assert resp.usage.prompt_tokens > 0 and resp.usage.completion_tokens > 0
    assert resp.usage.total_tokens == resp.usage.prompt_tokens + resp.usage.completion_tokens


def test_echo_uses_the_last_user_message(client: fastrouter.Client) -> None:
    messages = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "first question"},
        {"role": "assistant", "content": "first answer"},
        {"role": "user", "content": "second question"},
    ]
    resp = client.chat.completions.create(model=MODEL, messages=messages)
    content = resp.choices[0].message.content or ""
    assert "second question" in content
    assert "first question" not in content


def test_reply_fields(client: fastrouter.Client, server: MockServer) -> None:
    server.script(
        MODEL,
        Reply(
            "scripted answer",
            model="openai/gpt-4o-mini-2024-07-18",
            provider="Azure",
            prompt_tokens=21,
            completion_tokens=9,
            cost=0.0031,
            finish_reason="length",
            native_finish_reason="max_tokens",
        ),
    )
    resp = _ask(client)
    assert resp.choices[0].message.content == "scripted answer"
    assert resp.model == "openai/gpt-4o-mini-2024-07-18"
    assert resp.provider == "Azure"
    assert resp.usage is not None
    assert (resp.usage.prompt_tokens, resp.usage.completion_tokens, resp.usage.total_tokens) == (21, 9, 30)
    assert resp.usage.cost == 0.0031
    assert resp.choices[0].finish_reason == "length"
    assert resp.choices[0].native_finish_reason == "max_tokens"
    # The request is recorded under the model that was asked for.
    assert server.chat_requests()[-1].model == MODEL


def test_reply_default_provider_from_the_author(client: fastrouter.Client) -> None:
    assert _ask(client, "anthropic/claude-3.5-haiku").provider == "Anthropic"
    assert _ask(client, "openai/gpt-4o").provider == "OpenAI"


def test_reply_omit_cost(client: fastrouter.Client, server: MockServer) -> None:
    server.script(MODEL, Reply("no cost", omit_cost=True))
    resp = _ask(client)
    usage = resp.to_dict()["usage"]
    assert "cost" not in usage
    assert usage["prompt_tokens"] > 0
    assert resp.usage is not None and resp.usage.cost is None


def test_reply_cost_zero_is_kept(client: fastrouter.Client, server: MockServer) -> None:
    server.script(MODEL, Reply("free", cost=0))
    resp = _ask(client)
    assert resp.to_dict()["usage"]["cost"] == 0


def test_reply_leading_whitespace(client: fastrouter.Client, server: MockServer) -> None:
    server.script(MODEL, Reply("padded", leading_whitespace=3), Reply("padded raw", leading_whitespace=2))
    assert _ask(client).choices[0].message.content == "padded"
    response = _chat(server, {"model": MODEL, "messages": USER})
    assert response.status_code == 200
    assert response.text.startswith(" \n \n{")
    assert json.loads(response.text)["choices"][0]["message"]["content"] == "padded raw"


def test_reply_headers_and_generation_id(server: MockServer) -> None:
    server.script(MODEL, Reply("h", headers={"X-Custom": "yes", "X-RateLimit-Remaining": "9"}))
    response = _chat(server, {"model": MODEL, "messages": USER})
    assert response.headers["x-custom"] == "yes"
    assert response.headers["x-ratelimit-remaining"] == "9"
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-generation-id"] == response.json()["id"]
    assert response.headers["x-provider-name"] == "OpenAI"


def test_reply_delay(client: fastrouter.Client, server: MockServer) -> None:
    server.script(MODEL, Reply("late", delay=0.3))
    started = time.monotonic()
    assert _ask(client).choices[0].message.content == "late"
    assert 0.28 <= time.monotonic() - started < 1.5


def test_reply_extra_fields(client: fastrouter.Client, server: MockServer) -> None:
    server.script(MODEL, Reply("x", extra={"brand_new": {"k": [1, 2]}, "system_fingerprint": "fp_1"}))
    resp = _ask(client)
    assert resp.brand_new == {"k": [1, 2]}
    assert resp.system_fingerprint == "fp_1"
    assert resp.to_dict()["brand_new"] == {"k": [1, 2]}


def test_reply_reasoning(client: fastrouter.Client, server: MockServer) -> None:
    server.script(MODEL, Reply("answer", reasoning="step by step", reasoning_tokens=5, completion_tokens=8))
    resp = _ask(client)
    message = resp.choices[0].message
    assert message.reasoning == "step by step"
    assert message.reasoning_details is not None
    assert message.reasoning_details[0].text == "step by step"
    assert resp.usage is not None
    assert resp.usage.completion_tokens_details is not None
    assert resp.usage.completion_tokens_details.reasoning_tokens == 5


def test_reply_tool_calls(client: fastrouter.Client, server: MockServer) -> None:
    server.script(
        MODEL,
        Reply(
            content=None,
            tool_calls=[ToolCall("search", {"q": "rust"}, id="call_1"), ToolCall("raw", '{"already": "json"}')],
        ),
    )
    resp = _ask(client)
    calls = resp.choices[0].message.tool_calls
    assert calls is not None
    assert [c.function.name for c in calls] == ["search", "raw"]
    assert calls[0].id == "call_1"
    assert json.loads(calls[0].function.arguments) == {"q": "rust"}
    assert calls[1].function.arguments == '{"already": "json"}'
    assert calls[1].id and calls[1].id != "call_1"
    assert resp.choices[0].finish_reason == "tool_calls"


def test_fail_status_and_envelope(server: MockServer) -> None:
    server.script(
        MODEL,
        Fail(429, message="slow down", retry_after=2, metadata={"provider_name": "Groq"}, headers={"X-Why": "rl"}),
    )
    response = _chat(server, {"model": MODEL, "messages": USER})
    assert response.status_code == 429
    assert response.headers["retry-after"] == "2"
    assert response.headers["x-why"] == "rl"
    error = response.json()["error"]
    assert error == {"code": 429, "message": "slow down", "metadata": {"provider_name": "Groq"}}


def test_fail_default_message_and_string_code(server: MockServer) -> None:
    server.script(MODEL, Fail(503), Fail(400, code="context_length_exceeded"))
    first = _chat(server, {"model": MODEL, "messages": USER})
    assert first.status_code == 503
    assert first.json()["error"]["code"] == 503
    assert first.json()["error"]["message"]
    second = _chat(server, {"model": MODEL, "messages": USER})
    assert second.status_code == 400
    assert second.json()["error"]["code"] == "context_length_exceeded"


def test_fail_in_body(client: fastrouter.Client, server: MockServer) -> None:
    server.script(MODEL, Fail(502, message="upstream broke", in_body=True))
    response = _chat(server, {"model": MODEL, "messages": USER})
    assert response.status_code == 200
    assert response.json()["error"] == {"code": 502, "message": "upstream broke"}
    server.script(MODEL, Fail(429, in_body=True))
    with pytest.raises(fastrouter.RateLimitError) as info:
        _ask(client)
    assert info.value.status_code == 429


def test_fail_through_the_client(client: fastrouter.Client, server: MockServer) -> None:
    server.script(MODEL, Fail(404, message="No endpoints found"))
    with pytest.raises(fastrouter.NotFoundError, match="No endpoints found"):
        _ask(client)


def test_raw(client: fastrouter.Client, server: MockServer) -> None:
    server.script(MODEL, Raw("<html>Bad gateway</html>", status=502, headers={"Content-Type": "text/html"}))
    response = _chat(server, {"model": MODEL, "messages": USER})
    assert response.status_code == 502
    assert response.text == "<html>Bad gateway</html>"
    assert response.headers["content-type"] == "text/html"
    server.script(MODEL, Raw('{"not": "a completion"'))
    response = _chat(server, {"model": MODEL, "messages": USER})
    assert response.status_code == 200
    assert response.text == '{"not": "a completion"'
    assert "content-type" not in response.headers
    # A recorded fixture is served as is and parsed by the client.
    fixture = {
        "id": "gen-fixture",
        "model": MODEL,
        "provider": "OpenAI",
        "object": "chat.completion",
        "created": 1,
        "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "fixture"}}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2, "cost": 1e-05},
    }
    server.script(MODEL, Raw(json.dumps(fixture), headers={"Content-Type": "application/json"}))
    resp = _ask(client)
    assert resp.id == "gen-fixture"
    assert resp.choices[0].message.content == "fixture"


def test_raw_bytes_are_served_exactly(server: MockServer) -> None:
    payload = b"\x1f\x8b\x08\x00 not utf-8: \xff\xfe"
    server.script(MODEL, Raw(payload, status=502, headers={"Content-Type": "application/octet-stream"}))
    response = _chat(server, {"model": MODEL, "messages": USER})
    assert response.status_code == 502
    assert response.content == payload
    assert response.headers["content-type"] == "application/octet-stream"


def test_drop(client: fastrouter.Client, server: MockServer) -> None:
    server.script(MODEL, Drop())
    with pytest.raises(httpx.RemoteProtocolError):
        _chat(server, {"model": MODEL, "messages": USER})
    server.script(MODEL, Drop(delay=0.1))
    started = time.monotonic()
    with pytest.raises(fastrouter.APIConnectionError) as info:
        _ask(client)
    assert time.monotonic() - started >= 0.09
    assert not isinstance(info.value, fastrouter.APITimeoutError)
    assert info.value.attempts[0].status is None
    # The server keeps serving afterwards.
    assert _ask(client).choices[0].message.content


def test_script_needs_an_outcome(server: MockServer) -> None:
    with pytest.raises(ValueError, match="at least one outcome"):
        server.script(MODEL)


@pytest.mark.parametrize(
    "outcome",
    [
        Fail(status="429"),  # type: ignore[arg-type]
        Fail(status=None),  # type: ignore[arg-type]
        Fail(status=70000),
        Reply(delay="soon"),  # type: ignore[arg-type]
        Reply(prompt_tokens=-1),
        Raw(body=12345),  # type: ignore[arg-type]
    ],
)
def test_invalid_outcome_is_a_clear_error(server: MockServer, outcome: Any) -> None:
    with pytest.raises((ValueError, TypeError), match="outcome|status|delay|tokens|body|JSON|bytes"):
        server.script(MODEL, Reply("queued first"), outcome)
    # Nothing was queued: a bad script is rejected as a whole.
    assert server.pending() == {}


def test_invalid_http_status_is_rejected(server: MockServer) -> None:
    # A status no HTTP server can send must not silently become a 500.
    for status in (42, 1000):
        with pytest.raises(ValueError, match="status"):
            server.script(MODEL, Fail(status))
    assert server.pending() == {}


def test_non_outcome_is_a_type_error(server: MockServer) -> None:
    with pytest.raises(TypeError, match="outcome"):
        server.script(MODEL, "hello")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="outcome"):
        server.script(MODEL, {"kind": "reply"})  # type: ignore[arg-type]
    assert server.pending() == {}


# --------------------------------------------------------------------------- catalog


def test_models_catalog(server: MockServer) -> None:
    response = httpx.get(server.url + "/api/v1/models")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    models = response.json()["data"]
    assert len(models) == 321
    ids = {m["id"] for m in models}
    assert len(ids) == 321
    assert MODEL in ids
    gpt = next(m for m in models if m["id"] == MODEL)
    assert gpt["pricing"]["prompt"] == "0.00000015"
    assert gpt["pricing"]["completion"] == "0.0000006"
    assert gpt["context_length"] == 128000


def test_models_endpoints(server: MockServer) -> None:
    response = httpx.get(server.url + "/api/v1/models/openai/gpt-4o-mini/endpoints")
    assert response.status_code == 200
    data = response.json()["data"]
    assert data["id"] == MODEL
    endpoint = data["endpoints"][0]
    assert endpoint["provider_name"] == "OpenAI"
    assert endpoint["model_id"] == MODEL
    assert endpoint["context_length"] == 128000
    assert endpoint["pricing"]["prompt"] == "0.00000015"
    assert endpoint["pricing"]["completion"] == "0.0000006"
    assert isinstance(endpoint["supported_parameters"], list)


def test_models_endpoints_unknown_model(server: MockServer) -> None:
    response = httpx.get(server.url + "/api/v1/models/nobody/no-such-model/endpoints")
    assert response.status_code == 404
    body = response.json()
    assert body["error"]["code"] == 404
    assert "nobody/no-such-model" in body["error"]["message"]


def test_unknown_route_is_a_404_envelope(server: MockServer) -> None:
    response = httpx.get(server.base_url + "/no/such/route", headers=AUTH)
    assert response.status_code == 404
    assert response.json() == {"error": {"code": 404, "message": "Not Found"}}


@pytest.mark.parametrize("as_payload", [False, True])
def test_custom_catalog(as_payload: bool) -> None:
    models = [
        {"id": "acme/tiny", "name": "Acme Tiny", "pricing": {"prompt": "0.5", "completion": "1"}, "context_length": 10},
        {"id": "acme/free", "name": "Acme Free", "pricing": {"prompt": "0", "completion": "0"}},
    ]
    catalog: Any = {"data": models} if as_payload else models
    with MockServer(catalog=catalog) as server:
        data = httpx.get(server.base_url + "/models").json()["data"]
        assert [m["id"] for m in data] == ["acme/tiny", "acme/free"]
        endpoints = httpx.get(server.base_url + "/models/acme/tiny/endpoints").json()["data"]["endpoints"]
        assert endpoints[0]["provider_name"] == "Acme"
        assert endpoints[0]["context_length"] == 10
        assert httpx.get(server.base_url + "/models/openai/gpt-4o-mini/endpoints").status_code == 404
        # Default cost is priced from the custom catalog.
        server.script("acme/tiny", Reply("x", prompt_tokens=2, completion_tokens=1))
        with fastrouter.Client(base_url=server.base_url, api_key=MOCK_KEY) as client:
            resp = _ask(client, "acme/tiny")
        assert resp.usage is not None and resp.usage.cost == 2.0
        assert resp.cost == 2


def test_bad_custom_catalog() -> None:
    with pytest.raises(ValueError, match="id"):
        MockServer(catalog=[{"name": "no id"}]).start()


# ------------------------------------------------------------------------------ auth


def test_missing_authorization_is_a_401_envelope(server: MockServer) -> None:
    response = _chat(server, {"model": MODEL, "messages": USER}, headers={})
    assert response.status_code == 401
    assert response.json() == {"error": {"message": "No auth credentials found", "code": 401}}
    for path in ("/credits", "/key", "/generation?id=x"):
        response = httpx.get(server.base_url + path)
        assert response.status_code == 401, path
        assert response.json()["error"]["code"] == 401


@pytest.mark.parametrize("value", ["Bearer", "Basic dXNlcjpwYXNz", "bearer-less-key"])
def test_malformed_authorization_is_rejected(server: MockServer, value: str) -> None:
    response = _chat(server, {"model": MODEL, "messages": USER}, headers={"Authorization": value})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == 401


def test_models_are_public(server: MockServer) -> None:
    assert httpx.get(server.base_url + "/models").status_code == 200
    assert httpx.get(server.base_url + "/models/openai/gpt-4o-mini/endpoints").status_code == 200


def test_server_api_key() -> None:
    with MockServer(api_key="the-key") as server:
        wrong = _chat(server, {"model": MODEL, "messages": USER}, headers={"Authorization": "Bearer other"})
        assert wrong.status_code == 401
        assert wrong.json()["error"]["code"] == 401
        right = _chat(server, {"model": MODEL, "messages": USER}, headers={"Authorization": "Bearer the-key"})
        assert right.status_code == 200
        with fastrouter.Client(base_url=server.base_url, api_key="other") as client:
            with pytest.raises(fastrouter.AuthenticationError):
                _ask(client)
        with fastrouter.Client(base_url=server.base_url, api_key="the-key") as client:
            assert _ask(client).choices[0].message.content


# ------------------------------------------------------------------------- recording


def test_recorded_chat_request(client: fastrouter.Client, server: MockServer) -> None:
    client.chat.completions.create(model=MODEL, messages=USER, temperature=0.2, extra_headers={"X-Extra": "1"})
    (request,) = server.requests
    assert isinstance(request, RecordedRequest)
    assert request.method == "POST"
    assert request.path == "/chat/completions"
    assert request.body == {"model": MODEL, "messages": USER, "temperature": 0.2}
    assert request.model == MODEL
    assert all(name == name.lower() for name in request.headers)
    assert request.headers["x-extra"] == "1"
    assert request.headers["authorization"] == "Bearer <redacted>"
    assert MOCK_KEY not in json.dumps(request.headers)


def test_recorded_get_requests(client: fastrouter.Client, server: MockServer) -> None:
    client.credits.get()
    resp = _ask(client)
    client.generations.get(resp.id)
    httpx.get(server.base_url + "/models?supported_parameters=tools")
    paths = [r.path for r in server.requests]
    assert paths == [
        "/credits",
        "/chat/completions",
        f"/generation?id={resp.id}",
        "/models?supported_parameters=tools",
    ]
    assert [r.method for r in server.requests] == ["GET", "POST", "GET", "GET"]
    assert server.requests[0].body is None
    assert server.requests[0].model is None


def test_non_json_body_is_recorded_as_text(server: MockServer) -> None:
    response = httpx.post(
        server.base_url + "/chat/completions", content=b"this is not json", headers={**AUTH, "X-Test": "t"}
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == 400
    (request,) = server.requests
    assert request.body == "this is not json"
    assert request.model is None
    assert request.headers["x-test"] == "t"


def test_unauthenticated_requests_are_recorded(server: MockServer) -> None:
    _chat(server, {"model": MODEL, "messages": USER}, headers={})
    (request,) = server.requests
    assert request.path == "/chat/completions"
    assert "authorization" not in request.headers


def test_chat_requests_filter(client: fastrouter.Client, server: MockServer) -> None:
    server.add_models("a/x", "b/y")
    _ask(client, "a/x")
    client.key.get()
    _ask(client, "b/y")
    _ask(client, "a/x")
    assert len(server.requests) == 4
    assert [r.model for r in server.chat_requests()] == ["a/x", "b/y", "a/x"]
    assert len(server.chat_requests("a/x")) == 2
    assert server.chat_requests("nobody") == []


def test_no_model_is_a_400(server: MockServer) -> None:
    response = _chat(server, {"messages": USER})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == 400


def test_connections_counter(server: MockServer) -> None:
    assert server.connections == (0, 0)
    with httpx.Client() as http:
        for _ in range(3):
            http.get(server.base_url + "/models")
    deadline = time.monotonic() + 10
    while server.connections != (1, 1) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.connections == (1, 1)
    for _ in range(2):
        httpx.get(server.base_url + "/models", headers={"Connection": "close"})
    deadline = time.monotonic() + 10
    while server.connections != (3, 3) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.connections == (3, 3)


# ---------------------------------------------------------------- the official openai SDK


def _sdk_script(server: MockServer) -> None:
    server.script(
        MODEL,
        Reply("Paris is the capital of France.", prompt_tokens=14, completion_tokens=8, cost=0.0000069),
        Reply(content=None, tool_calls=[ToolCall("get_weather", {"city": "Paris"}, id="call_w1")], cost=0.00001),
    )


TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
]


def _fastrouter_view() -> list[dict[str, Any]]:
    with MockServer() as server:
        _sdk_script(server)
        with fastrouter.Client(base_url=server.base_url, api_key=MOCK_KEY) as client:
            results = [
                client.chat.completions.create(model=MODEL, messages=USER),
                client.chat.completions.create(model=MODEL, messages=USER, tools=TOOLS),
            ]
    return [_view(r.to_dict()) for r in results]


def _view(data: dict[str, Any]) -> dict[str, Any]:
    message = data["choices"][0]["message"]
    calls = message.get("tool_calls") or []
    return {
        "content": message["content"],
        "role": message["role"],
        "finish_reason": data["choices"][0]["finish_reason"],
        "model": data["model"],
        "provider": data.get("provider"),
        "usage": {k: data["usage"][k] for k in ("prompt_tokens", "completion_tokens", "total_tokens", "cost")},
        "tool_calls": [(c["id"], c["type"], c["function"]["name"], c["function"]["arguments"]) for c in calls],
    }


def test_openai_sync_sdk_drives_the_mock() -> None:
    expected = _fastrouter_view()
    with MockServer() as server:
        _sdk_script(server)
        with openai.OpenAI(base_url=server.base_url, api_key="x", max_retries=0) as sdk:
            first = sdk.chat.completions.create(model=MODEL, messages=USER)  # type: ignore[arg-type]
            second = sdk.chat.completions.create(model=MODEL, messages=USER, tools=TOOLS)  # type: ignore[arg-type]
        assert server.chat_requests()[0].body["messages"] == USER
        assert server.chat_requests()[1].body["tools"] == TOOLS
    assert first.choices[0].message.content == "Paris is the capital of France."
    assert first.usage is not None and first.usage.total_tokens == 22
    calls = second.choices[0].message.tool_calls
    assert calls is not None and calls[0].function.name == "get_weather"
    assert [_view(first.model_dump()), _view(second.model_dump())] == expected


async def test_openai_async_sdk_drives_the_mock() -> None:
    expected = _fastrouter_view()
    async with MockServer() as server:
        _sdk_script(server)
        async with openai.AsyncOpenAI(base_url=server.base_url, api_key="x", max_retries=0) as sdk:
            first = await sdk.chat.completions.create(model=MODEL, messages=USER)  # type: ignore[arg-type]
            second = await sdk.chat.completions.create(model=MODEL, messages=USER, tools=TOOLS)  # type: ignore[arg-type]
    assert [_view(first.model_dump()), _view(second.model_dump())] == expected
    assert first.id.startswith("gen-")
    assert first.object == "chat.completion"


def test_openai_sdk_sees_rate_limits() -> None:
    with MockServer() as server:
        server.script(MODEL, Fail(429, message="Rate limit exceeded", retry_after=1))
        with openai.OpenAI(base_url=server.base_url, api_key="x", max_retries=0) as sdk:
            with pytest.raises(openai.RateLimitError) as info:
                sdk.chat.completions.create(model=MODEL, messages=USER)  # type: ignore[arg-type]
        assert info.value.status_code == 429
        assert "Rate limit exceeded" in str(info.value)
        assert len(server.chat_requests()) == 1


async def test_openai_async_sdk_sees_errors() -> None:
    async with MockServer() as server:
        server.script(MODEL, Fail(429), Fail(401))
        async with openai.AsyncOpenAI(base_url=server.base_url, api_key="x", max_retries=0) as sdk:
            with pytest.raises(openai.RateLimitError):
                await sdk.chat.completions.create(model=MODEL, messages=USER)  # type: ignore[arg-type]
            with pytest.raises(openai.AuthenticationError):
                await sdk.chat.completions.create(model=MODEL, messages=USER)  # type: ignore[arg-type]


def test_openai_sdk_lists_models() -> None:
    with MockServer() as server:
        with openai.OpenAI(base_url=server.base_url, api_key="x", max_retries=0) as sdk:
            ids = [m.id for m in sdk.models.list()]
    assert len(ids) == 321
    assert MODEL in ids


# --------------------------------------------------------------------------- issue 10.13


def _generation(server: MockServer, generation_id: str) -> httpx.Response:
    return httpx.get(f"{server.base_url}/generation", params={"id": generation_id}, headers=AUTH)


def test_reset_frees_stored_generations(client: fastrouter.Client, server: MockServer) -> None:
    ids = [_ask(client).id for _ in range(3)]
    assert all(_generation(server, gid).status_code == 200 for gid in ids)
    assert client.credits.get().total_usage > 0
    server.reset()
    assert [_generation(server, gid).status_code for gid in ids] == [404, 404, 404]
    assert client.credits.get().total_usage == 0


def test_generation_ids_are_unique_across_instances() -> None:
    seen: set[str] = set()
    for _ in range(3):
        with MockServer() as mock, fastrouter.Client(base_url=mock.base_url, api_key="k") as one:
            for _ in range(3):
                seen.add(_ask(one).id)
    assert len(seen) == 9


def test_unknown_model_gets_openrouters_400(client: fastrouter.Client, server: MockServer) -> None:
    response = _chat(server, {"model": "acme/nope-1", "messages": USER})
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "acme/nope-1 is not a valid model ID"
    with pytest.raises(fastrouter.BadRequestError) as info:
        _ask(client, "acme/nope-1")
    assert info.value.kind == "model_not_found"
    # Catalog ids (with a variant suffix too), scripted and added models are served.
    assert _ask(client, "openai/gpt-4o-mini:nitro").choices[0].message.content
    server.script("acme/scripted", Reply("scripted"))
    assert _ask(client, "acme/scripted").choices[0].message.content == "scripted"
    assert _ask(client, "acme/scripted").choices[0].message.content  # known until reset
    server.add_models("acme/added")
    assert _ask(client, "acme/added").choices[0].message.content
    server.add_models(ANY_MODEL)
    assert _ask(client, "whatever/else").choices[0].message.content
    server.reset()
    with pytest.raises(fastrouter.BadRequestError):
        _ask(client, "acme/scripted")


def _logprob_entries(logprobs: Any) -> list[dict[str, Any]]:
    assert logprobs is not None
    return [entry.to_dict() if hasattr(entry, "to_dict") else entry for entry in logprobs.content]


def test_logprobs_are_returned_when_requested(client: fastrouter.Client, server: MockServer) -> None:
    server.script(MODEL, Reply("Hello brave world"), Reply("Hello brave world"))
    ask = {"model": MODEL, "messages": USER, "logprobs": True, "top_logprobs": 2}
    resp = client.chat.completions.create(**ask)
    entries = _logprob_entries(resp.choices[0].logprobs)
    assert [e["token"] for e in entries] == ["Hello ", "brave ", "world"]
    for entry in entries:
        assert entry["bytes"] == list(entry["token"].encode())
        assert entry["logprob"] <= 0
        assert len(entry["top_logprobs"]) == 2
        assert entry["top_logprobs"][0]["token"] == entry["token"]
        assert entry["top_logprobs"][1]["logprob"] < entry["logprob"]
    # Deterministic: the same tokens get the same numbers, streamed or not.
    with client.chat.completions.create(**ask, stream=True) as stream:
        chunks = list(stream)
    streamed = [
        e for c in chunks if c.choices and c.choices[0].logprobs for e in _logprob_entries(c.choices[0].logprobs)
    ]
    assert streamed == entries
    assert _logprob_entries(stream.completion.choices[0].logprobs) == entries
    # Not asked: none.
    assert _ask(client).choices[0].logprobs is None
    raw = _chat(server, {"model": MODEL, "messages": USER, "logprobs": True}).json()
    assert all(e["top_logprobs"] == [] for e in raw["choices"][0]["logprobs"]["content"])
