"""Typical user code; tests/test_typing.py checks it with mypy --strict."""

import fastrouter
from typing_extensions import assert_type


def sync_usage(client: fastrouter.Client) -> None:
    resp = client.chat.completions.create(model="a/b", messages=[{"role": "user", "content": "x"}])
    assert_type(resp, fastrouter.ChatCompletion)
    assert_type(resp.choices[0].message.content, "str | None")
    stream = client.chat.completions.create(model="a/b", messages=[], stream=True)
    assert_type(stream, fastrouter.Stream)
    for chunk in stream:
        assert_type(chunk, fastrouter.ChatCompletionChunk)


async def async_usage(client: fastrouter.AsyncClient) -> None:
    resp = await client.chat.completions.create(model=["a/b", "c/d"], messages=[], temperature=0.2)
    assert_type(resp, fastrouter.ChatCompletion)
    stream = await client.chat.completions.create(model="a/b", messages=[], stream=True)
    assert_type(stream, fastrouter.AsyncStream)
    async with stream:
        async for chunk in stream:
            assert_type(chunk, fastrouter.ChatCompletionChunk)
    assert_type(stream.completion, fastrouter.ChatCompletion)


def routing_usage(client: fastrouter.Client, aclient: fastrouter.AsyncClient) -> None:
    resp = client.chat.completions.create(messages=[], max_cost_per_request=0.01)  # default_route
    assert_type(resp, fastrouter.ChatCompletion)
    smart = client.model("smart", temperature=0.2)
    assert_type(smart, fastrouter.BoundModel)
    assert_type(smart.create(messages=[]), fastrouter.ChatCompletion)
    assert_type(smart.create(messages=[], stream=True), fastrouter.Stream)
    assert_type(smart.complete("hi"), str)
    assert_type(aclient.model("smart"), fastrouter.AsyncBoundModel)


async def async_routing_usage(client: fastrouter.AsyncClient) -> None:
    assert_type(await client.model("smart").complete("hi"), str)
    assert_type(await client.model("smart").create(messages=[], stream=True), fastrouter.AsyncStream)
