"""Code written for the ``openai`` package, with only the constructor changed, against the mock.

Each test is one common openai pattern (issue 15): the body is what an openai user writes;
only ``openai.OpenAI(...)`` became ``fastrouter.Client(...)`` (and exception names
``openai.X`` became ``fastrouter.X``). The pattern table in the closing note of issue 15
lists them by number (``p01`` ...).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import fastrouter
import openai
import pydantic
import pytest
from fastrouter.testing import Fail, MockServer, Reply, StreamScript, ToolCall

MODEL = "openai/gpt-4o-mini"
USER: list[Any] = [{"role": "user", "content": "What is the capital of France?"}]
WEATHER_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


class City(pydantic.BaseModel):
    name: str
    population: int


CITY_JSON = '{"name": "Paris", "population": 2100000}'


@pytest.fixture
def client(server: MockServer) -> Iterator[fastrouter.Client]:
    # was: openai.OpenAI(base_url=..., api_key=..., max_retries=0)
    with fastrouter.Client(base_url=server.base_url, api_key="sk-test", max_retries=0) as c:
        yield c


@pytest.fixture
async def aclient(server: MockServer) -> AsyncIterator[fastrouter.AsyncClient]:
    # was: openai.AsyncOpenAI(base_url=..., api_key=..., max_retries=0)
    async with fastrouter.AsyncClient(base_url=server.base_url, api_key="sk-test", max_retries=0) as c:
        yield c


def sent(server: MockServer) -> dict[str, Any]:
    """The JSON body of the last chat request the mock received."""
    body: dict[str, Any] = server.chat_requests()[-1].body
    return body


# ------------------------------------------------------------------------ create()


def test_p01_create_and_read_the_answer(client: fastrouter.Client, server: MockServer) -> None:
    server.script(MODEL, Reply(content="Paris."))
    completion = client.chat.completions.create(model=MODEL, messages=USER)
    assert completion.choices[0].message.content == "Paris."
    assert completion.choices[0].message.role == "assistant"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.id and completion.model and completion.object == "chat.completion"


def test_p02_usage_tokens(client: fastrouter.Client, server: MockServer) -> None:
    server.script(MODEL, Reply(content="Paris.", prompt_tokens=12, completion_tokens=3))
    completion = client.chat.completions.create(model=MODEL, messages=USER)
    if completion.usage:  # Optional in openai too
        assert completion.usage.total_tokens == 15
        assert completion.usage.prompt_tokens == 12
    assert completion.usage is not None


def test_p03_sampling_parameters_and_stop_tuple(client: fastrouter.Client, server: MockServer) -> None:
    client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "system", "content": "Be brief."}, *USER],
        temperature=0.2,
        top_p=0.9,
        max_tokens=50,
        seed=7,
        stop=("\n\n", "END"),
        frequency_penalty=0.1,
        presence_penalty=0.1,
        n=1,
        user="u-1",
    )
    body = sent(server)
    assert body["stop"] == ["\n\n", "END"]
    assert body["temperature"] == 0.2 and body["max_tokens"] == 50 and body["seed"] == 7


def test_p04_openai_only_parameters_pass_through(client: fastrouter.Client, server: MockServer) -> None:
    client.chat.completions.create(
        model=MODEL,
        messages=USER,
        store=True,
        safety_identifier="user-hash",
        metadata={"team": "search"},
        prompt_cache_key="k",
        prompt_cache_retention="24h",
        reasoning_effort="low",
        verbosity="low",
        service_tier="auto",
        max_completion_tokens=64,
        modalities=["text"],
        parallel_tool_calls=False,
    )
    body = sent(server)
    assert body["store"] is True and body["safety_identifier"] == "user-hash"
    assert body["prompt_cache_retention"] == "24h" and body["metadata"] == {"team": "search"}


def test_p05_a_typo_still_gets_a_hint(client: fastrouter.Client) -> None:
    with pytest.raises(TypeError, match="temprature.*Did you mean 'temperature'"):
        client.chat.completions.create(model=MODEL, messages=USER, temprature=0.3)  # type: ignore[call-overload]


def test_p06_not_given_and_omit_are_absent(client: fastrouter.Client, server: MockServer) -> None:
    client.chat.completions.create(
        model=MODEL,
        messages=USER,
        temperature=openai.NOT_GIVEN,
        max_tokens=openai.omit,
        tools=openai.NOT_GIVEN,
        stream=openai.NOT_GIVEN,  # type: ignore[call-overload]
        timeout=openai.NOT_GIVEN,
    )
    client.chat.completions.create(model=MODEL, messages=USER, seed=fastrouter.NOT_GIVEN, top_p=fastrouter.omit)
    for request in server.chat_requests():
        assert not {"temperature", "max_tokens", "tools", "stream", "seed", "top_p"} & set(request.body)


def test_p07_messages_from_a_generator_and_history_objects(client: fastrouter.Client, server: MockServer) -> None:
    server.script(MODEL, Reply(content="Paris."), Reply(content="About 2 million."))
    first = client.chat.completions.create(model=MODEL, messages=(m for m in USER))
    history: list[Any] = [*USER, first.choices[0].message, {"role": "user", "content": "Population?"}]
    second = client.chat.completions.create(model=MODEL, messages=history)
    assert second.choices[0].message.content == "About 2 million."
    assert sent(server)["messages"][1]["content"] == "Paris."


def test_p08_legacy_functions(client: fastrouter.Client, server: MockServer) -> None:
    client.chat.completions.create(
        model=MODEL,
        messages=USER,
        functions=[WEATHER_TOOL["function"]],
        function_call="auto",
    )
    assert sent(server)["functions"][0]["name"] == "get_weather"
    assert sent(server)["function_call"] == "auto"


# ------------------------------------------------------------------------- tools


def test_p09_tool_call_round_trip(client: fastrouter.Client, server: MockServer) -> None:
    server.script(
        MODEL, Reply(tool_calls=[ToolCall("get_weather", {"city": "Paris"}, id="call_1")]), Reply(content="Sunny.")
    )
    messages: list[Any] = list(USER)
    completion = client.chat.completions.create(
        model=MODEL, messages=messages, tools=[WEATHER_TOOL], tool_choice="auto"
    )
    message = completion.choices[0].message
    assert completion.choices[0].finish_reason == "tool_calls"
    assert message.tool_calls
    call = message.tool_calls[0]
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris"}
    messages.append(message)
    messages.append({"role": "tool", "tool_call_id": call.id, "content": "sunny, 24C"})
    final = client.chat.completions.create(model=MODEL, messages=messages, tools=[WEATHER_TOOL])
    assert final.choices[0].message.content == "Sunny."
    assert sent(server)["messages"][1]["tool_calls"][0]["id"] == "call_1"


def test_p10_tool_choice_object_and_tools_tuple(client: fastrouter.Client, server: MockServer) -> None:
    client.chat.completions.create(
        model=MODEL,
        messages=USER,
        tools=(WEATHER_TOOL,),
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
    )
    assert sent(server)["tools"] == [WEATHER_TOOL]
    assert sent(server)["tool_choice"]["function"]["name"] == "get_weather"


# ------------------------------------------------------------ response formats


def test_p11_json_object_response_format(client: fastrouter.Client, server: MockServer) -> None:
    server.script(MODEL, Reply(content=CITY_JSON))
    completion = client.chat.completions.create(model=MODEL, messages=USER, response_format={"type": "json_object"})
    assert json.loads(completion.choices[0].message.content or "") == {"name": "Paris", "population": 2100000}
    assert sent(server)["response_format"] == {"type": "json_object"}


def test_p12_json_schema_response_format(client: fastrouter.Client, server: MockServer) -> None:
    schema = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}
    client.chat.completions.create(
        model=MODEL,
        messages=USER,
        response_format={"type": "json_schema", "json_schema": {"name": "city", "schema": schema, "strict": True}},
    )
    assert sent(server)["response_format"]["json_schema"]["schema"] == schema


def test_p13_parse_with_a_pydantic_model(client: fastrouter.Client, server: MockServer) -> None:
    server.script(MODEL, Reply(content=CITY_JSON))
    completion = client.chat.completions.parse(model=MODEL, messages=USER, response_format=City)
    city = completion.choices[0].message.parsed
    assert isinstance(city, City) and city.name == "Paris" and city.population == 2100000
    wire = sent(server)["response_format"]
    assert wire["type"] == "json_schema" and wire["json_schema"]["name"] == "City"
    assert wire["json_schema"]["strict"] is True
    assert wire["json_schema"]["schema"]["additionalProperties"] is False
    assert wire["json_schema"]["schema"]["required"] == ["name", "population"]


def test_p14_parse_with_a_json_schema(client: fastrouter.Client, server: MockServer) -> None:
    server.script(MODEL, Reply(content=CITY_JSON))
    schema = {
        "title": "city",
        "type": "object",
        "properties": {"name": {"type": "string"}, "population": {"type": "integer"}},
    }
    completion = client.chat.completions.parse(model=MODEL, messages=USER, response_format=schema)
    assert completion.choices[0].message.parsed == {"name": "Paris", "population": 2100000}
    assert sent(server)["response_format"]["json_schema"]["name"] == "city"


def test_p15_parse_raises_when_the_answer_was_cut(client: fastrouter.Client, server: MockServer) -> None:
    server.script(MODEL, Reply(content='{"name": "Par', finish_reason="length"))
    with pytest.raises(fastrouter.LengthFinishReasonError):  # openai.LengthFinishReasonError
        client.chat.completions.parse(model=MODEL, messages=USER, response_format=City)


# ------------------------------------------------------------------- streaming


def test_p16_stream_chunks(client: fastrouter.Client, server: MockServer) -> None:
    server.script(MODEL, Reply(content="Paris is the capital."))
    stream = client.chat.completions.create(model=MODEL, messages=USER, stream=True)
    text = ""
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            text += chunk.choices[0].delta.content
    assert text == "Paris is the capital."


def test_p17_stream_as_context_manager_with_usage(client: fastrouter.Client, server: MockServer) -> None:
    server.script(MODEL, Reply(content="Paris.", prompt_tokens=5, completion_tokens=2))
    usage = None
    with client.chat.completions.create(
        model=MODEL, messages=USER, stream=True, stream_options={"include_usage": True}
    ) as stream:
        for chunk in stream:
            if chunk.usage:
                usage = chunk.usage
    assert usage is not None and usage.total_tokens == 7
    assert sent(server)["stream_options"] == {"include_usage": True}


def test_p18_stream_response_status_and_headers(client: fastrouter.Client, server: MockServer) -> None:
    stream = client.chat.completions.create(model=MODEL, messages=USER, stream=True)
    with stream:
        assert stream.response.status_code == 200
        assert stream.response.headers["Content-Type"].startswith("text/event-stream")
        for _ in stream:
            pass


def test_p19_stream_helper_events_and_final_completion(client: fastrouter.Client, server: MockServer) -> None:
    server.script(MODEL, Reply(content="Paris is lovely.", stream=StreamScript(chunks=3)))
    deltas = []
    kinds = set()
    with client.chat.completions.stream(model=MODEL, messages=USER) as stream:
        for event in stream:
            kinds.add(event.type)
            if event.type == "content.delta":
                deltas.append(event.delta)
            elif event.type == "content.done":
                assert event.content == "Paris is lovely."
    final = stream.get_final_completion()
    assert "".join(deltas) == "Paris is lovely."
    assert {"chunk", "content.delta", "content.done"} <= kinds
    assert final.choices[0].message.content == "Paris is lovely."
    assert sent(server)["stream"] is True


def test_p20_stream_helper_with_a_pydantic_model(client: fastrouter.Client, server: MockServer) -> None:
    server.script(MODEL, Reply(content=CITY_JSON))
    with client.chat.completions.stream(model=MODEL, messages=USER, response_format=City) as stream:
        done = [e for e in stream if e.type == "content.done"]
        final = stream.get_final_completion()
    assert isinstance(done[0].parsed, City)
    parsed = final.choices[0].message.parsed
    assert parsed is not None and parsed.population == 2100000


def test_p21_stream_helper_tool_call_events(client: fastrouter.Client, server: MockServer) -> None:
    server.script(MODEL, Reply(tool_calls=[ToolCall("get_weather", {"city": "Paris"})]))
    with client.chat.completions.stream(model=MODEL, messages=USER, tools=[WEATHER_TOOL]) as stream:
        done = [e for e in stream if e.type == "tool_calls.function.arguments.done"]
    assert done[0].name == "get_weather" and done[0].parsed_arguments == {"city": "Paris"}


# -------------------------------------------------------------- raw responses


def test_p22_with_raw_response(client: fastrouter.Client, server: MockServer) -> None:
    server.script(MODEL, Reply(content="Paris.", headers={"X-Upstream": "east"}))
    raw = client.chat.completions.with_raw_response.create(model=MODEL, messages=USER)
    assert raw.status_code == 200
    assert raw.headers["x-upstream"] == "east" and raw.headers.get("X-UPSTREAM") == "east"
    assert raw.headers["content-type"].startswith("application/json")
    completion = raw.parse()
    assert completion.choices[0].message.content == "Paris."
    assert raw.retries_taken == 0
    assert json.loads(raw.text)["id"] == completion.id


def test_p23_with_raw_response_stream(client: fastrouter.Client, server: MockServer) -> None:
    server.script(MODEL, Reply(content="Paris."))
    raw = client.chat.completions.with_raw_response.create(model=MODEL, messages=USER, stream=True)
    assert raw.status_code == 200
    stream = raw.parse()
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == "Paris."


# ---------------------------------------------------------- client options


def test_p24_with_options_max_retries_and_timeout(client: fastrouter.Client, server: MockServer) -> None:
    server.script(MODEL, Fail(500), Reply(content="Paris."))
    patient = client.with_options(max_retries=2, timeout=10)
    completion = patient.chat.completions.create(model=MODEL, messages=USER)
    assert completion.choices[0].message.content == "Paris."
    assert patient.max_retries == 2 and client.max_retries == 0
    assert patient.timeout.attempt == 10
    server.script(MODEL, Fail(500))
    with pytest.raises(fastrouter.InternalServerError):
        client.chat.completions.create(model=MODEL, messages=USER)


def test_p25_with_options_shares_the_pool_and_adds_headers(client: fastrouter.Client, server: MockServer) -> None:
    tagged = client.with_options(default_headers={"X-Team": "search"})
    tagged.chat.completions.create(model=MODEL, messages=USER)
    assert server.chat_requests()[-1].headers["x-team"] == "search"
    assert tagged._inner is client._inner  # one connection pool
    assert client.copy(max_retries=1).max_retries == 1


def test_p26_per_request_timeout(client: fastrouter.Client, server: MockServer) -> None:
    server.script(MODEL, Reply(content="late", delay=2.0))
    with pytest.raises(fastrouter.APITimeoutError):  # openai.APITimeoutError
        client.chat.completions.create(model=MODEL, messages=USER, timeout=0.3)


def test_p27_extra_headers_and_extra_body(client: fastrouter.Client, server: MockServer) -> None:
    client.chat.completions.create(
        model=MODEL,
        messages=USER,
        extra_headers={"X-Request-Source": "batch"},
        extra_body={"provider": {"order": ["openai"]}, "top_k": 20},
    )
    request = server.chat_requests()[-1]
    assert request.headers["x-request-source"] == "batch"
    assert request.body["provider"] == {"order": ["openai"]} and request.body["top_k"] == 20


def test_p28_extra_query(client: fastrouter.Client, server: MockServer) -> None:
    client.chat.completions.create(model=MODEL, messages=USER, extra_query={"trace": "abc", "n": 2})
    assert server.chat_requests()[-1].path == "/chat/completions?trace=abc&n=2"


def test_p29_constructor_takes_openai_arguments(server: MockServer) -> None:
    with fastrouter.Client(
        base_url=server.base_url,
        api_key="sk-test",
        organization="org-1",
        project="proj-1",
        default_headers={"X-App": "demo"},
        default_query={"from": "ctor"},
    ) as client:
        client.chat.completions.create(model=MODEL, messages=USER)
    request = server.chat_requests()[-1]
    assert request.headers["openai-organization"] == "org-1" and request.headers["openai-project"] == "proj-1"
    assert request.headers["x-app"] == "demo"
    assert request.path == "/chat/completions?from=ctor"
    with pytest.raises(TypeError, match="http_client=.*Rust core"):
        fastrouter.Client(base_url=server.base_url, api_key="k", http_client=object())
    with pytest.raises(TypeError, match="websocket_base_url"):
        fastrouter.Client(base_url=server.base_url, api_key="k", websocket_base_url="wss://x")


# ------------------------------------------------------------------ models


def test_p30_models_list_data(client: fastrouter.Client) -> None:
    page = client.models.list()
    ids = [model.id for model in page.data]
    assert MODEL in ids
    assert [m.id for m in client.models.list()] == ids  # iterating the page
    first = page.data[0]
    assert first.object == "model" and first.owned_by == first.id.split("/")[0]


# ------------------------------------------------------------------ errors


def test_p31_status_errors_carry_response_body_type_param(client: fastrouter.Client, server: MockServer) -> None:
    server.script(MODEL, Fail(400, "messages: bad role", metadata={"error_type": "invalid_request_error"}))
    with pytest.raises(fastrouter.BadRequestError) as info:  # openai.BadRequestError
        client.chat.completions.create(model=MODEL, messages=USER)
    e = info.value
    assert e.status_code == 400 and e.response.status_code == 400
    assert isinstance(e.body, dict) and e.body["message"] == "messages: bad role"
    assert e.type == "invalid_request_error"
    assert e.param is None
    assert e.response.json()["error"]["message"] == "messages: bad role"
    assert e.message == "messages: bad role"


def test_p32_rate_limit_error_headers(client: fastrouter.Client, server: MockServer) -> None:
    server.script(MODEL, Fail(429, "slow down", retry_after=7))
    with pytest.raises(fastrouter.RateLimitError) as info:  # openai.RateLimitError
        client.chat.completions.create(model=MODEL, messages=USER)
    assert info.value.status_code == 429
    assert info.value.response.headers.get("retry-after") == "7"


def test_p33_catch_all_status_and_connection_errors(server: MockServer) -> None:
    client = fastrouter.Client(base_url=server.base_url, api_key="sk-test", max_retries=0)
    server.script(MODEL, Fail(503, "overloaded"))
    try:
        client.chat.completions.create(model=MODEL, messages=USER)
    except fastrouter.APIStatusError as e:  # openai.APIStatusError
        assert e.status_code == 503 and e.response.status_code == 503
    dead = fastrouter.Client(base_url="http://127.0.0.1:9/v1", api_key="k", max_retries=0)
    with pytest.raises(fastrouter.APIConnectionError):  # openai.APIConnectionError
        dead.chat.completions.create(model=MODEL, messages=USER)
    with pytest.raises(fastrouter.APIError):  # openai.APIError catches both
        dead.chat.completions.create(model=MODEL, messages=USER)
    client.close()
    dead.close()


# ------------------------------------------------------------------ dumps


def test_p34_model_dump_options(client: fastrouter.Client, server: MockServer) -> None:
    server.script(MODEL, Reply(content="Paris."))
    completion = client.chat.completions.create(model=MODEL, messages=USER)
    full = completion.model_dump()
    assert full["choices"][0]["message"]["tool_calls"] is None  # declared fields, as in openai
    assert full["system_fingerprint"] is None
    lean = completion.model_dump(exclude_none=True)
    assert "system_fingerprint" not in lean and "tool_calls" not in lean["choices"][0]["message"]
    assert set(completion.model_dump(include={"id", "model"})) == {"id", "model"}
    assert "usage" not in completion.model_dump(exclude={"usage"})
    nested = completion.model_dump(include={"choices": {0: {"message": {"content"}}}})
    assert nested == {"choices": [{"message": {"content": "Paris."}}]}
    every = completion.model_dump(include={"choices": {"__all__": {"index"}}})
    assert every == {"choices": [{"index": 0}]}
    assert completion.model_dump(by_alias=True, mode="json") == full
    assert json.loads(completion.model_dump_json(exclude_none=True)) == lean


def test_p35_to_json_and_to_dict(client: fastrouter.Client, server: MockServer) -> None:
    server.script(MODEL, Reply(content="Paris."))
    completion = client.chat.completions.create(model=MODEL, messages=USER)
    text = completion.to_json()
    assert text.startswith('{\n  "')  # indented by 2 like openai's
    assert json.loads(text) == completion.to_dict()
    assert "\n" not in completion.to_json(indent=None)
    sent_fields = set(completion.to_dict())  # exclude_unset=True by default: what was sent
    declared = set(completion.model_dump())
    assert sent_fields < declared == set(completion.to_dict(exclude_unset=False))


# ------------------------------------------------------------------- async


async def test_p36_async_create_stream_and_raw(aclient: fastrouter.AsyncClient, server: MockServer) -> None:
    server.script(MODEL, Reply(content="Paris."), Reply(content="Lyon."), Reply(content="Nice."))
    completion = await aclient.chat.completions.create(model=MODEL, messages=USER, temperature=openai.NOT_GIVEN)
    assert completion.choices[0].message.content == "Paris."
    stream = await aclient.chat.completions.create(model=MODEL, messages=USER, stream=True)
    text = ""
    async with stream:
        async for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                text += chunk.choices[0].delta.content
        assert stream.response.status_code == 200
    assert text == "Lyon."
    raw = await aclient.chat.completions.with_raw_response.create(model=MODEL, messages=USER)
    assert raw.status_code == 200 and raw.parse().choices[0].message.content == "Nice."


async def test_p37_async_parse_and_stream_helper(aclient: fastrouter.AsyncClient, server: MockServer) -> None:
    server.script(MODEL, Reply(content=CITY_JSON), Reply(content=CITY_JSON))
    parsed = await aclient.chat.completions.parse(model=MODEL, messages=USER, response_format=City)
    city = parsed.choices[0].message.parsed
    assert city is not None and city.name == "Paris"
    async with aclient.chat.completions.stream(model=MODEL, messages=USER, response_format=City) as stream:
        kinds = [event.type async for event in stream]
        final = await stream.get_final_completion()
    assert kinds[0] == "chunk" and "content.done" in kinds
    assert final.choices[0].message.parsed == City(name="Paris", population=2100000)


async def test_p38_async_with_options_models_and_errors(aclient: fastrouter.AsyncClient, server: MockServer) -> None:
    server.script(MODEL, Fail(502, "upstream"), Reply(content="ok"))
    retrying = aclient.with_options(max_retries=1)
    completion = await retrying.chat.completions.create(model=MODEL, messages=USER)
    assert completion.choices[0].message.content == "ok"
    page = await aclient.models.list()
    assert any(m.id == MODEL for m in page.data)
    server.script(MODEL, Fail(404, "no such model"))
    with pytest.raises(fastrouter.NotFoundError) as info:  # openai.NotFoundError
        await aclient.chat.completions.create(model=MODEL, messages=USER)
    assert info.value.response.status_code == 404 and isinstance(info.value.body, dict)


# ------------------------------------------------- beyond the patterns: mechanics


def test_a_parameter_newer_than_fastrouter_passes_when_openai_knows_it(
    client: fastrouter.Client, server: MockServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # openai is imported (above); a later openai release adds `future_knob` to create().
    real_create = openai.resources.chat.Completions.create

    def create(self: Any, *, future_knob: int = 0, **kwargs: Any) -> Any:
        return real_create(self, **kwargs)

    monkeypatch.setattr(openai.resources.chat.Completions, "create", create)
    client.chat.completions.create(model=MODEL, messages=USER, future_knob=3)  # type: ignore[call-overload]
    assert sent(server)["future_knob"] == 3
    with pytest.raises(TypeError, match="future_knb.*Pass newer"):
        client.chat.completions.create(model=MODEL, messages=USER, future_knb=3)  # type: ignore[call-overload]


def test_sentinels_are_known_by_their_type_not_imported() -> None:
    from fastrouter.dropin.sentinels import is_omitted

    assert is_omitted(openai.NOT_GIVEN) and is_omitted(openai.omit) and is_omitted(fastrouter.NOT_GIVEN)
    assert not is_omitted(None) and not is_omitted(0) and not is_omitted("")


def test_with_options_refuses_what_needs_another_pool(client: fastrouter.Client) -> None:
    with pytest.raises(TypeError, match="another connection pool"):
        client.with_options(base_url="http://elsewhere")
    with pytest.raises(TypeError, match="unexpected keyword argument 'max_retrie'"):
        client.with_options(max_retrie=3)
    assert client.with_options(timeout=None).timeout.attempt is None


def test_a_kept_completion_holds_its_headers_not_its_chats_body(client: fastrouter.Client) -> None:
    from fastrouter._fastrouter import NativeHeaders

    answer = client.chat.completions.create(model=MODEL, messages=USER)
    assert isinstance(answer._http, NativeHeaders)  # not the NativeChat with the raw body
    assert "content-type: application/json" in answer._header_block().lower()  # type: ignore[union-attr]
