"""Streamed chunks are built by the core (parsed once, read lazily) and behave exactly
like the `fastrouter.types` models built from the same JSON."""

from __future__ import annotations

import json
import pickle
from typing import Any

import fastrouter
import pytest
from fastrouter.testing import MockServer, Raw, Reply, StreamScript, ToolCall
from fastrouter.types import (
    ChatCompletionChunk,
    ChoiceDelta,
    ChoiceDeltaToolCall,
    ChunkChoice,
    CompletionUsage,
)

MODEL = "a/x"


def _stream(server: MockServer, reply: Reply) -> list[Any]:
    server.script(MODEL, reply)
    with fastrouter.Client(base_url=server.base_url, api_key="test", max_retries=0) as client:
        stream = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}], stream=True)
        with stream:
            return list(stream)


def test_chunks_count_as_the_typed_models(server: MockServer) -> None:
    chunks = _stream(server, Reply(content="one two three"))
    content = [c for c in chunks if c.choices and c.choices[0].delta.content]
    assert "".join(c.choices[0].delta.content for c in content) == "one two three"
    for chunk in chunks:
        assert isinstance(chunk, ChatCompletionChunk)
        for choice in chunk.choices:
            assert isinstance(choice, ChunkChoice)
            assert isinstance(choice.delta, ChoiceDelta)
    # Lazily built, then the same object on every read.
    first = content[0]
    assert first.choices is first.choices
    assert first.choices[0].delta is first.choices[0].delta


def test_every_field_matches_the_python_model_of_the_same_json(server: MockServer) -> None:
    chunks = _stream(server, Reply(content="a b", stream=StreamScript(usage_shape="repeat_finish")))
    for chunk in chunks:
        data = chunk.to_dict()
        plain = ChatCompletionChunk(json.loads(json.dumps(data)))
        assert chunk == plain and plain == chunk
        assert repr(chunk) == repr(plain)
        for name in ChatCompletionChunk._fields:
            if name not in ("choices", "usage", "error"):
                assert getattr(chunk, name) == getattr(plain, name), name
        assert (chunk.usage is None) == (plain.usage is None)
        for native, model in zip(chunk.choices, plain.choices, strict=False):
            assert native.to_dict() == model.to_dict()
            for name in ChunkChoice._fields:
                if name != "delta":
                    assert getattr(native, name) == getattr(model, name), name
            for name in ChoiceDelta._fields:
                assert getattr(native.delta, name) == getattr(model.delta, name), name
    last = chunks[-1]
    assert isinstance(last.usage, CompletionUsage)
    assert last.usage.total_tokens and last.usage.total_tokens > 0
    assert json.loads(last.to_json()) == last.to_dict()
    assert last.model_dump(exclude_none=True) == last.to_dict(exclude_none=True)


def test_tool_call_deltas_are_typed_models(server: MockServer) -> None:
    chunks = _stream(server, Reply(content="", tool_calls=[ToolCall(name="get", arguments='{"q": 1}', id="call_1")]))
    calls = [tc for c in chunks if c.choices for tc in c.choices[0].delta.tool_calls or []]
    assert calls and all(isinstance(tc, ChoiceDeltaToolCall) for tc in calls)
    assert calls[0].function is not None and calls[0].function.name == "get"
    assert "".join(tc.function.arguments or "" for tc in calls if tc.function) == '{"q": 1}'


def test_unknown_fields_pickling_and_missing_attributes(server: MockServer) -> None:
    chunk = next(c for c in _stream(server, Reply(content="x")) if c.choices)
    assert chunk.object == "chat.completion.chunk"
    restored = pickle.loads(pickle.dumps(chunk))
    assert type(restored) is ChatCompletionChunk and restored == chunk
    with pytest.raises(AttributeError):
        _ = chunk.no_such_field
    with pytest.raises(AttributeError):
        _ = chunk.choices[0].delta.no_such_field
    with pytest.raises(TypeError):
        hash(chunk)


def _sse(*chunks: dict[str, Any]) -> Raw:
    events = "".join(f"data: {json.dumps(chunk)}\n\n" for chunk in chunks) + "data: [DONE]\n\n"
    return Raw(events, headers={"content-type": "text/event-stream"})


def test_fields_outside_the_typed_view_are_read_by_name(server: MockServer) -> None:
    plain = {"id": "g", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": "a"}}]}
    extra = {
        "id": "g",
        "x_chunk": 1,
        "choices": [{"index": 0, "x_choice": "c", "delta": {"content": "b", "x_delta": None}}],
    }
    usage = {"id": "g", "choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}}
    first, second, last = _stream(server, _sse(plain, extra, usage))
    # The usual chunk's classes have no attribute hook (every read on them is faster).
    assert "__getattr__" not in dir(type(first)) and "__getattr__" not in dir(type(first.choices[0].delta))
    with pytest.raises(AttributeError):
        _ = first.x_chunk
    # A chunk with fields the view leaves out reads them by name, as the Python model does.
    assert second.x_chunk == 1
    assert second.choices[0].x_choice == "c"
    assert second.choices[0].delta.x_delta is None and second.choices[0].delta.content == "b"
    with pytest.raises(AttributeError):
        _ = second.choices[0].delta.no_such_field
    assert last.usage is not None and last.usage.total_tokens == 3 and last.choices == []
    for chunk, data in ((first, plain), (second, extra), (last, usage)):
        model = ChatCompletionChunk(json.loads(json.dumps(data)))
        assert isinstance(chunk, ChatCompletionChunk) and chunk == model
        assert chunk.to_dict() == model.to_dict() and repr(chunk) == repr(model)
        assert pickle.loads(pickle.dumps(chunk)) == model
        for choice in chunk.choices:
            assert isinstance(choice, ChunkChoice) and isinstance(choice.delta, ChoiceDelta)
            assert choice.delta.model_dump() == ChoiceDelta(data["choices"][0]["delta"]).model_dump()
