"""openai-typed user code, only the client changed; tests/test_typing.py checks it with mypy --strict."""

from collections.abc import Mapping
from typing import Any

import fastrouter
import openai
import pydantic
from openai.types.chat import ChatCompletionMessageParam, ChatCompletionToolParam
from openai.types.shared_params import ResponseFormatJSONSchema
from typing_extensions import assert_type


class City(pydantic.BaseModel):
    name: str


TOOLS: list[ChatCompletionToolParam] = [
    {
        "type": "function",
        "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {}}},
    }
]
FORMAT: ResponseFormatJSONSchema = {
    "type": "json_schema",
    "json_schema": {"name": "city", "schema": {"type": "object"}, "strict": True},
}
METADATA: Mapping[str, str] = {"team": "search"}


def create(client: fastrouter.Client, messages: list[ChatCompletionMessageParam]) -> int:
    resp = client.chat.completions.create(
        model="openai/gpt-4o-mini",
        messages=messages,
        tools=TOOLS,
        tool_choice="auto",
        response_format=FORMAT,
        stop=("\n\n", "END"),
        metadata=METADATA,
        temperature=openai.NOT_GIVEN,
        max_tokens=openai.omit,
        store=True,
        extra_query={"trace": "1"},
        extra_headers={"X-Team": "search"},
        extra_body={"top_k": 20},
    )
    assert_type(resp, fastrouter.ChatCompletion)
    calls = resp.choices[0].message.tool_calls
    if calls:
        assert_type(calls[0].function.arguments, str)
    return resp.usage.total_tokens if resp.usage else 0


def raw_parse_stream(client: fastrouter.Client) -> None:
    messages: list[ChatCompletionMessageParam] = [{"role": "user", "content": "hi"}]
    raw = client.chat.completions.with_raw_response.create(model="a/b", messages=messages)
    assert_type(raw.status_code, int)
    assert_type(raw.parse(), fastrouter.ChatCompletion)
    print(raw.headers.get("x-request-id"), raw.parse().choices[0].message.content)
    raw_stream = client.chat.completions.with_raw_response.create(model="a/b", messages=messages, stream=True)
    assert_type(raw_stream.parse(), fastrouter.Stream)
    parsed = client.chat.completions.parse(model="a/b", messages=messages, response_format=City)
    assert_type(parsed.choices[0].message.parsed, City | None)
    with client.chat.completions.stream(model="a/b", messages=messages, response_format=City) as stream:
        for event in stream:
            if event.type == "content.delta":
                assert_type(event.delta, str)
            elif event.type == "content.done":
                assert_type(event.parsed, City | None)
        final = stream.get_final_completion()
    assert_type(final.choices[0].message.parsed, City | None)
    print(stream.response.status_code, stream.response.headers)


def options_models_errors(client: fastrouter.Client) -> list[str]:
    patient = client.with_options(max_retries=5, timeout=10)
    assert_type(patient, fastrouter.Client)
    try:
        patient.chat.completions.create(model="a/b", messages=[{"role": "user", "content": "x"}])
    except fastrouter.APIStatusError as e:
        print(e.status_code, e.response.status_code, e.response.headers.get("retry-after"), e.body, e.type, e.param)
    dumped = client.chat.completions.create(model="a/b", messages=[]).model_dump(exclude={"usage"}, exclude_none=True)
    assert_type(dumped, dict[str, Any])  # as openai's model_dump
    return [model.id for model in client.models.list().data]


async def async_usage(client: fastrouter.AsyncClient) -> None:
    messages: list[ChatCompletionMessageParam] = [{"role": "user", "content": "hi"}]
    parsed = await client.chat.completions.parse(model="a/b", messages=messages, response_format=City)
    assert_type(parsed.choices[0].message.parsed, City | None)
    async with client.chat.completions.stream(model="a/b", messages=messages) as stream:
        async for event in stream:
            if event.type == "chunk":
                print(event.chunk.choices)
        await stream.get_final_completion()
    raw = await client.chat.completions.with_raw_response.create(model="a/b", messages=messages)
    print(raw.status_code, (await client.models.list()).data)
