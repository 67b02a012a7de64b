"""Streamed chat completions (``create(..., stream=True)``) against the real embedded mock:
chunk shapes and the merged ``stream.completion``, awkward byte boundaries, keep-alives,
the three usage-chunk shapes, tool calls, reasoning, genuine recorded OpenRouter streams,
agreement with the official ``openai`` SDK, concurrency and the GIL.

Failures (cuts, in-band errors, failover, timeouts) and cancellation live in
``test_streaming_faults.py``.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import fastrouter
import pytest
from fastrouter import ChatCompletionChunk
from fastrouter.testing import MockServer, Raw, Reply, StreamScript, ToolCall
from stream_helpers import content_chunks, drain, joined, open_stream

FIXTURES = Path(__file__).parent / "fixtures" / "openrouter-traffic"
MODEL = "a/x"
SSE = {"content-type": "text/event-stream"}

# Multi-byte UTF-8 of every width: 2 (é, á), 3 (—, CJK), 4 (emoji) bytes, plus a ZWJ sequence.
UNICODE = "Olá café é — 日本語のテキスト 🎉🚀 fin 👩‍👩‍👧 ok"


def finish_indices(chunks: list[ChatCompletionChunk]) -> list[int]:
    return [i for i, chunk in enumerate(chunks) if chunk.choices and chunk.choices[0].finish_reason is not None]


# ------------------------------------------------------------------------------- basics


async def test_basic_stream_chunks_and_completion(server: MockServer, caller: Any) -> None:
    content = "The quick brown fox jumps over the lazy dog"
    server.script(
        MODEL,
        Reply(content, provider="Acme", prompt_tokens=11, completion_tokens=9, cost=Decimal("0.00123")),
    )
    stream = await open_stream(caller, caller.client(server))
    chunks = await drain(stream)

    # The text, one chunk per word (the mock's default split).
    assert joined(chunks) == content
    assert [c.choices[0].delta.content for c in content_chunks(chunks)] == [w + " " for w in content.split()[:-1]] + [
        "dog"
    ]
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    assert len({c.id for c in chunks}) == 1
    # Role chunk first: role and empty content, nothing else.
    first = chunks[0].choices[0]
    assert first.delta.role == "assistant"
    assert first.delta.content == ""
    assert first.finish_reason is None
    # Exactly one finish_reason, after the last content, on the last chunk with a choice.
    finishes = finish_indices(chunks)
    assert len(finishes) == 1
    last_content = chunks.index(content_chunks(chunks)[-1])
    with_choices = [i for i, c in enumerate(chunks) if c.choices]
    assert finishes[0] == with_choices[-1]
    assert finishes[0] >= last_content
    assert chunks[finishes[0]].choices[0].finish_reason == "stop"
    # Usage arrives in the documented final chunk with `choices: []`.
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.total_tokens == 20

    completion = stream.completion
    assert isinstance(completion, fastrouter.ChatCompletion)
    assert completion.object == "chat.completion"
    assert completion.id == chunks[0].id
    assert completion.id.startswith("gen-")
    assert completion.model == MODEL
    assert completion.provider == "Acme"
    assert len(completion.choices) == 1
    message = completion.choices[0].message
    assert message.role == "assistant"
    assert message.content == content
    assert message.tool_calls is None
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None
    assert completion.usage.prompt_tokens == 11
    assert completion.usage.completion_tokens == 9
    assert completion.usage.total_tokens == 20
    assert completion.cost == Decimal("0.00123")
    assert isinstance(completion.cost, Decimal)

    attempts = stream.attempts
    assert len(attempts) == 1
    attempt = attempts[0]
    assert attempt.model == MODEL
    assert attempt.status == 200
    assert attempt.ok
    assert attempt.error is None
    assert attempt.provider == "Acme"
    assert attempt.cost == Decimal("0.00123")
    assert attempt.first_token_s is not None
    assert 0 <= attempt.first_token_s <= attempt.latency_s
    assert completion.attempts == attempts

    requests = server.chat_requests()
    assert len(requests) == 1
    assert requests[0].body["stream"] is True
    assert requests[0].model == MODEL


async def test_stream_context_manager_reads_everything(server: MockServer, caller: Any) -> None:
    server.script(MODEL, Reply("inside the context manager", cost=0.5))
    stream = await open_stream(caller, caller.client(server))
    if caller.mode == "sync":
        with stream as entered:
            assert entered is stream
            chunks = await drain(stream)
    else:
        async with stream as entered:
            assert entered is stream
            chunks = await drain(stream)
    assert joined(chunks) == "inside the context manager"
    assert stream.completion.choices[0].message.content == "inside the context manager"
    assert stream.completion.cost == Decimal("0.5")
    assert [a.status for a in stream.attempts] == [200]


async def test_one_thousand_chunks(server: MockServer, caller: Any) -> None:
    content = "".join(chr(ord("a") + i % 26) for i in range(1000))
    server.script(MODEL, Reply(content, stream=StreamScript(chunks=1000)))
    stream = await open_stream(caller, caller.client(server))
    chunks = await drain(stream)
    pieces = content_chunks(chunks)
    assert len(pieces) == 1000
    assert [c.choices[0].delta.content for c in pieces] == list(content)
    assert joined(chunks) == content
    assert stream.completion.choices[0].message.content == content
    assert stream.completion.choices[0].finish_reason == "stop"


# ----------------------------------------------------------------- byte boundaries


@pytest.mark.parametrize(
    ("split_every", "chunks", "usage_shape"),
    [
        # Every byte on its own (1 ms apart on the mock): kept short so it stays fast, but
        # every multi-byte character is still cut between its bytes.
        (1, 1, "none"),
        (7, 9, "empty_choices"),
        (None, 9, "empty_choices"),
    ],
)
async def test_unicode_split_at_any_byte(
    server: MockServer, caller: Any, split_every: int | None, chunks: int, usage_shape: str
) -> None:
    server.script(
        MODEL,
        Reply(UNICODE, cost=0.25, stream=StreamScript(chunks=chunks, split_every=split_every, usage_shape=usage_shape)),
    )
    stream = await open_stream(caller, caller.client(server))
    received = await drain(stream)
    assert joined(received) == UNICODE
    assert len(content_chunks(received)) == chunks
    assert stream.completion.choices[0].message.content == UNICODE
    assert stream.completion.choices[0].finish_reason == "stop"
    if usage_shape == "none":
        assert stream.completion.usage is None
    else:
        assert stream.completion.cost == Decimal("0.25")


@pytest.mark.parametrize("split_every", [None, 5])
async def test_crlf_line_ends(server: MockServer, caller: Any, split_every: int | None) -> None:
    server.script(
        MODEL,
        Reply(UNICODE, cost=0.75, stream=StreamScript(crlf=True, keepalives=2, chunks=6, split_every=split_every)),
    )
    stream = await open_stream(caller, caller.client(server))
    received = await drain(stream)
    assert joined(received) == UNICODE
    assert len(content_chunks(received)) == 6
    assert stream.keepalives == 2
    completion = stream.completion
    assert completion.choices[0].message.content == UNICODE
    assert completion.choices[0].finish_reason == "stop"
    assert completion.cost == Decimal("0.75")


# ------------------------------------------------------------------------- keep-alives


async def test_keepalive_comments_are_counted_not_yielded(server: MockServer, caller: Any) -> None:
    content = "alpha beta gamma"
    server.script(MODEL, Reply(content, stream=StreamScript(keepalives=5)), Reply(content))
    client = caller.client(server)

    with_keepalives = await open_stream(caller, client)
    chunks = await drain(with_keepalives)
    plain = await open_stream(caller, client)
    plain_chunks = await drain(plain)

    assert with_keepalives.keepalives == 5
    assert plain.keepalives == 0
    # role + one per word + finish + usage: the comments added no chunk.
    assert len(chunks) == len(plain_chunks) == 1 + 3 + 1 + 1
    assert joined(chunks) == content
    assert [c.to_dict()["choices"] for c in chunks[1:-1]] == [c.to_dict()["choices"] for c in plain_chunks[1:-1]]
    assert with_keepalives.completion.choices[0].message.content == content


async def test_keepalives_while_waiting_for_a_slow_first_token(server: MockServer, caller: Any) -> None:
    content = "worth the wait"
    server.script(MODEL, Reply(content, stream=StreamScript(first_chunk_delay=0.5, keepalive_interval=0.1)))
    started = time.monotonic()
    stream = await open_stream(caller, caller.client(server))
    chunks = await drain(stream)
    elapsed = time.monotonic() - started

    assert joined(chunks) == content
    assert 3 <= stream.keepalives <= 6, stream.keepalives
    assert elapsed >= 0.45
    attempt = stream.attempts[0]
    assert attempt.status == 200
    assert attempt.first_token_s is not None
    assert 0.45 <= attempt.first_token_s <= attempt.latency_s


# ----------------------------------------------------------------------- usage shapes


@pytest.mark.parametrize("usage_shape", ["empty_choices", "empty_delta", "repeat_finish"])
async def test_usage_chunk_shapes(server: MockServer, caller: Any, usage_shape: str) -> None:
    content = "one two three"
    server.script(
        MODEL,
        Reply(
            content,
            prompt_tokens=21,
            completion_tokens=4,
            cost=Decimal("0.000123456"),
            native_finish_reason="end_turn",
            stream=StreamScript(usage_shape=usage_shape),
        ),
    )
    stream = await open_stream(caller, caller.client(server))
    chunks = await drain(stream)
    assert joined(chunks) == content

    usage_chunks = [c for c in chunks if c.usage is not None]
    assert len(usage_chunks) == 1
    assert usage_chunks[0] is chunks[-1]
    last = chunks[-1]
    finishes = finish_indices(chunks)
    if usage_shape == "empty_choices":
        assert last.choices == []
        assert isinstance(last.choices, list)
        assert len(finishes) == 1
    elif usage_shape == "empty_delta":
        assert len(last.choices) == 1
        assert last.choices[0].delta.content is None
        assert last.choices[0].finish_reason is None
        assert len(finishes) == 1
    else:  # repeat_finish: the usage chunk repeats the finish_reason
        assert last.choices[0].finish_reason == "stop"
        assert len(finishes) == 2

    completion = stream.completion
    assert len(completion.choices) == 1
    assert completion.choices[0].finish_reason == "stop"
    assert completion.choices[0].native_finish_reason == "end_turn"
    assert completion.choices[0].message.content == content
    assert completion.usage is not None
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens, completion.usage.total_tokens) == (
        21,
        4,
        25,
    )
    assert completion.cost == Decimal("0.000123456")
    assert stream.attempts[0].cost == Decimal("0.000123456")


async def test_no_usage_chunk_means_no_usage_and_no_cost(server: MockServer, caller: Any) -> None:
    server.script(MODEL, Reply("no usage here", cost=0.9, stream=StreamScript(usage_shape="none")))
    stream = await open_stream(caller, caller.client(server))
    chunks = await drain(stream)
    assert joined(chunks) == "no usage here"
    assert all(c.usage is None for c in chunks)
    completion = stream.completion
    assert completion.choices[0].message.content == "no usage here"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is None
    assert completion.cost is None
    assert stream.attempts[0].cost is None
    assert stream.attempts[0].status == 200


@pytest.mark.parametrize("usage_shape", ["empty_choices", "none"])
async def test_finish_reason_without_done_ends_normally(server: MockServer, caller: Any, usage_shape: str) -> None:
    server.script(MODEL, Reply("ends without done", cost=0.3, stream=StreamScript(done=False, usage_shape=usage_shape)))
    stream = await open_stream(caller, caller.client(server))
    chunks = await drain(stream)
    assert joined(chunks) == "ends without done"
    completion = stream.completion
    assert completion.choices[0].finish_reason == "stop"
    assert completion.choices[0].message.content == "ends without done"
    assert completion.cost == (Decimal("0.3") if usage_shape != "none" else None)
    assert [a.status for a in stream.attempts] == [200]
    assert stream.attempts[0].error is None


# ----------------------------------------------------------------- tool calls, reasoning


async def test_streamed_tool_calls_merge_by_index(server: MockServer, caller: Any) -> None:
    weather = {"city": "Lisbon"}
    clock = {"tz": "UTC"}
    server.script(MODEL, Reply("", tool_calls=[ToolCall("get_weather", weather), ToolCall("get_time", clock)]))
    stream = await open_stream(caller, caller.client(server))
    chunks = await drain(stream)

    fragments = [c.choices[0].delta.tool_calls for c in chunks if c.choices and c.choices[0].delta.tool_calls]
    assert len(fragments) >= 4  # an opening fragment per call plus argument pieces
    assert all(len(f) == 1 for f in fragments)  # one element per chunk: position is always 0
    indices = [f[0].index for f in fragments]
    assert set(indices) == {0, 1}
    assert indices == sorted(indices)
    openings = [f[0] for f in fragments if f[0].id is not None]
    assert [(o.index, o.function.name) for o in openings] == [(0, "get_weather"), (1, "get_time")]
    for index, args in ((0, weather), (1, clock)):
        pieces = [f[0].function.arguments or "" for f in fragments if f[0].index == index and f[0].function]
        assert "".join(pieces) == json.dumps(args)
        assert sum(1 for p in pieces if p) > 1  # the arguments really were split

    completion = stream.completion
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    calls = choice.message.tool_calls
    assert calls is not None and len(calls) == 2
    assert [c.function.name for c in calls] == ["get_weather", "get_time"]
    assert [c.function.arguments for c in calls] == [json.dumps(weather), json.dumps(clock)]
    assert [json.loads(c.function.arguments) for c in calls] == [weather, clock]
    assert [c.type for c in calls] == ["function", "function"]
    assert [c.id for c in calls] == [o.id for o in openings]
    assert all(isinstance(c.id, str) and c.id for c in calls)
    assert calls[0].id != calls[1].id
    assert not choice.message.content


async def test_streamed_reasoning(server: MockServer, caller: Any) -> None:
    reasoning = "step one step two"
    server.script(MODEL, Reply("answer", reasoning=reasoning))
    stream = await open_stream(caller, caller.client(server))
    chunks = await drain(stream)

    streamed = "".join(c.choices[0].delta.reasoning or "" for c in chunks if c.choices)
    assert streamed == reasoning
    # Reasoning comes before the answer.
    first_reasoning = next(i for i, c in enumerate(chunks) if c.choices and c.choices[0].delta.reasoning)
    first_content = chunks.index(content_chunks(chunks)[0])
    assert first_reasoning < first_content
    assert joined(chunks) == "answer"

    message = stream.completion.choices[0].message
    assert message.content == "answer"
    assert message.reasoning == reasoning
    assert message.reasoning_details is not None
    assert len(message.reasoning_details) == 1
    assert message.reasoning_details[0].type == "reasoning.text"
    assert message.reasoning_details[0].text == reasoning
    assert stream.completion.choices[0].finish_reason == "stop"


# -------------------------------------------------------------------- recorded traffic


def read_fixture(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


def recorded_events(text: str) -> list[dict[str, Any]]:
    """The JSON chunks of a recorded stream, parsed here independently of fastrouter
    (floats as exact ``Decimal`` so the cost can be compared exactly)."""
    events = []
    for line in text.splitlines():
        if line.startswith("data:"):
            data = line[len("data:") :].strip()
            if data != "[DONE]":
                events.append(json.loads(data, parse_float=Decimal))
    return events


def recorded_text(events: list[dict[str, Any]], field: str) -> str:
    return "".join(
        (choice.get("delta") or {}).get(field) or "" for event in events for choice in event.get("choices") or []
    )


CHAT_STREAMS = sorted(
    path.name
    for path in FIXTURES.glob("*.sse")
    if "responses_api" not in path.name and "midstream_error" not in path.name
)
MIDSTREAM_ERROR = "pydantic-ai__stream_midstream_error_minimax_free.interaction0.sse"
TOOL_CALL = "llm-openrouter__chat_stream_tool_call_then_answer.interaction1.sse"
ENCRYPTED = "pydantic-ai__stream_long_with_encrypted_reasoning.interaction0.sse"
VERTEX = "pydantic-ai__stream_reasoning_anthropic_via_vertex.interaction0.sse"


def test_the_recorded_chat_streams_are_all_here() -> None:
    assert len(CHAT_STREAMS) == 5
    assert TOOL_CALL in CHAT_STREAMS and ENCRYPTED in CHAT_STREAMS and VERTEX in CHAT_STREAMS
    assert (FIXTURES / MIDSTREAM_ERROR).exists()


@pytest.mark.parametrize("name", CHAT_STREAMS)
async def test_recorded_chat_stream(server: MockServer, caller: Any, name: str) -> None:
    body = read_fixture(name)
    events = recorded_events(body)
    server.script(MODEL, Raw(body=body, headers=SSE))
    stream = await open_stream(caller, caller.client(server))
    chunks = await drain(stream)

    # Every data event becomes one chunk, in order, unchanged.
    assert len(chunks) == len(events)
    assert [c.id for c in chunks] == [e["id"] for e in events]
    expected = recorded_text(events, "content")
    assert joined(chunks) == expected
    assert stream.keepalives == body.count(": OPENROUTER PROCESSING")

    completion = stream.completion
    message = completion.choices[0].message
    assert (message.content or "") == expected
    reasoning = recorded_text(events, "reasoning")
    assert (message.reasoning or "") == reasoning
    finishes = [c["finish_reason"] for e in events for c in e["choices"] if c.get("finish_reason")]
    assert completion.choices[0].finish_reason == finishes[0]
    usage = [e["usage"] for e in events if e.get("usage")][-1]
    assert completion.usage is not None
    assert completion.usage.prompt_tokens == usage["prompt_tokens"]
    assert completion.usage.completion_tokens == usage["completion_tokens"]
    assert completion.usage.total_tokens == usage["total_tokens"]
    assert completion.cost == Decimal(usage["cost"])
    assert completion.id == events[0]["id"]
    assert completion.model == events[0]["model"]
    assert completion.provider == events[0]["provider"]
    assert [a.status for a in stream.attempts] == [200]


async def test_recorded_tool_call_stream(server: MockServer, caller: Any) -> None:
    server.script(MODEL, Raw(body=read_fixture(TOOL_CALL), headers=SSE))
    stream = await open_stream(caller, caller.client(server))
    await drain(stream)
    choice = stream.completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    calls = choice.message.tool_calls
    assert calls is not None and len(calls) == 1
    assert calls[0].id == "call_o4OCgtJrNoZTmoCRvmlfoHfj"
    assert calls[0].type == "function"
    assert calls[0].function.name == "llm_version"
    assert calls[0].function.arguments == "{}"
    assert stream.completion.cost == Decimal("0.0000368")
    assert stream.completion.system_fingerprint == "fp_6f2eabb9a5"


async def test_recorded_encrypted_reasoning_is_kept(server: MockServer, caller: Any) -> None:
    body = read_fixture(ENCRYPTED)
    recorded = [
        detail
        for event in recorded_events(body)
        for choice in event["choices"]
        for detail in (choice.get("delta") or {}).get("reasoning_details") or []
        if detail.get("type") == "reasoning.encrypted"
    ]
    assert len(recorded) == 1 and len(recorded[0]["data"]) > 1000
    server.script(MODEL, Raw(body=body, headers=SSE))
    stream = await open_stream(caller, caller.client(server))
    await drain(stream)
    details = stream.completion.choices[0].message.reasoning_details
    assert details is not None
    encrypted = [d for d in details if d.type == "reasoning.encrypted"]
    assert len(encrypted) == 1
    assert encrypted[0].data == recorded[0]["data"]
    assert encrypted[0].id == recorded[0]["id"]
    assert encrypted[0].format == "openai-responses-v1"
    assert stream.completion.choices[0].message.content == recorded_text(recorded_events(body), "content")


async def test_recorded_reasoning_keeps_its_signature(server: MockServer, caller: Any) -> None:
    body = read_fixture(VERTEX)
    events = recorded_events(body)
    signatures = [
        d["signature"]
        for e in events
        for c in e["choices"]
        for d in (c.get("delta") or {}).get("reasoning_details") or []
        if d.get("signature")
    ]
    assert len(signatures) == 1
    server.script(MODEL, Raw(body=body, headers=SSE))
    stream = await open_stream(caller, caller.client(server))
    await drain(stream)
    message = stream.completion.choices[0].message
    assert message.reasoning == recorded_text(events, "reasoning")
    assert message.reasoning == "This is a simple arithmetic question. 2+2 equals 4."
    assert message.reasoning_details is not None
    assert len(message.reasoning_details) == 1
    assert message.reasoning_details[0].text == message.reasoning
    assert message.reasoning_details[0].signature == signatures[0]
    assert message.reasoning_details[0].format == "anthropic-claude-v1"


async def test_recorded_midstream_error(server: MockServer, caller: Any) -> None:
    body = read_fixture(MIDSTREAM_ERROR)
    events = recorded_events(body)
    before_error = [e for e in events if "error" not in e]
    assert len(before_error) == len(events) - 1
    server.script(MODEL, Raw(body=body, headers=SSE))
    client = caller.client(server)

    chunks: list[ChatCompletionChunk] = []
    with pytest.raises(fastrouter.StreamError) as info:
        stream = await open_stream(caller, client)
        await drain(stream, chunks)
    error = info.value
    # Reasoning had streamed before the error: the chunks before it were delivered.
    assert len(chunks) == len(before_error)
    assert "Token limit reached" in str(error)
    assert error.status_code == 400
    assert error.partial is not None
    partial = error.partial
    assert partial.usage is not None
    assert partial.usage.total_tokens == 53
    assert partial.cost == Decimal("0")
    assert partial.choices[0].message.reasoning == recorded_text(events, "reasoning")
    assert "respond to a greeting" in (partial.choices[0].message.reasoning or "")
    assert error.attempts and error.attempts[-1].model == MODEL
    assert len(server.chat_requests()) == 1


# ---------------------------------------------------------------- the official SDK agrees


async def test_openai_sdk_reads_the_same_stream(server: MockServer) -> None:
    openai = pytest.importorskip("openai")
    calls = [
        ToolCall("get_weather", {"city": "Lisbon", "unit": "°C"}, id="call_w"),
        ToolCall("get_time", {"tz": "Asia/Tōkyō"}, id="call_t"),
    ]
    reply = Reply(UNICODE, tool_calls=calls, stream=StreamScript(chunks=12))
    server.script(MODEL, reply, reply)

    async with fastrouter.AsyncClient(base_url=server.base_url, api_key="test", max_retries=0) as client:
        stream = await client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "hi"}], stream=True
        )
        chunks = await drain(stream)
    ours_text = joined(chunks)
    ours_calls = [
        (c.id, c.function.name, c.function.arguments) for c in stream.completion.choices[0].message.tool_calls or []
    ]

    sdk = openai.AsyncOpenAI(base_url=server.base_url, api_key="test", max_retries=0)
    try:
        sdk_stream = await sdk.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "hi"}], stream=True
        )
        sdk_text = ""
        merged: dict[int, dict[str, str]] = {}
        async for chunk in sdk_stream:
            if not chunk.choices:
                continue
            delta = chunk.choices[0].delta
            sdk_text += delta.content or ""
            for call in delta.tool_calls or []:
                slot = merged.setdefault(call.index, {"id": "", "name": "", "arguments": ""})
                if call.id:
                    slot["id"] = call.id
                if call.function and call.function.name:
                    slot["name"] += call.function.name
                if call.function and call.function.arguments:
                    slot["arguments"] += call.function.arguments
    finally:
        await sdk.close()
    sdk_calls = [(m["id"], m["name"], m["arguments"]) for _, m in sorted(merged.items())]

    assert sdk_text == ours_text == UNICODE
    assert sdk_calls == ours_calls
    assert ours_calls == [
        ("call_w", "get_weather", json.dumps(calls[0].arguments)),
        ("call_t", "get_time", json.dumps(calls[1].arguments)),
    ]


# --------------------------------------------------------------- concurrency and the GIL


async def test_sixteen_concurrent_async_streams(server: MockServer) -> None:
    texts = {f"m/{i}": "".join(f"<{i}.{k}>" for k in range(100)) for i in range(16)}
    for model, text in texts.items():
        server.script(model, Reply(text, stream=StreamScript(chunks=100, chunk_delay=0.01)))

    async with fastrouter.AsyncClient(base_url=server.base_url, api_key="test", max_retries=0) as client:

        async def one(model: str) -> tuple[str, int, str | None]:
            stream = await client.chat.completions.create(
                model=model, messages=[{"role": "user", "content": "hi"}], stream=True
            )
            async with stream:
                chunks = await drain(stream)
            return joined(chunks), len(content_chunks(chunks)), stream.completion.choices[0].message.content

        started = time.monotonic()
        results = await asyncio.gather(*(one(model) for model in texts))
        elapsed = time.monotonic() - started

    for (text, count, merged), expected in zip(results, texts.values(), strict=False):
        assert text == expected
        assert merged == expected
        assert count == 100
    assert len(server.chat_requests()) == 16
    # 100 chunks x 10 ms each: 1 s together, serialized >= 16 s.
    assert elapsed < 8.0, elapsed


def test_sync_stream_releases_the_gil_while_waiting(server: MockServer) -> None:
    content = "slow chunks arrive one by one"
    server.script(MODEL, Reply(content, stream=StreamScript(chunk_delay=0.1)))
    progress = [0]
    stop = threading.Event()

    def spin() -> None:
        while not stop.is_set():
            progress[0] += 1

    with fastrouter.Client(base_url=server.base_url, api_key="test", max_retries=0) as client:
        stream = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}], stream=True)
        thread = threading.Thread(target=spin)
        started = time.monotonic()
        before = progress[0]
        thread.start()
        try:
            chunks = list(stream)
        finally:
            stop.set()
            thread.join()
        elapsed = time.monotonic() - started
    assert joined(chunks) == content
    assert elapsed >= 0.4  # 6 words, 0.1 s apart
    # A busy Python loop makes millions of iterations in this time if the GIL is free.
    assert progress[0] - before > 100_000, progress[0]


async def test_async_stream_does_not_block_the_event_loop(server: MockServer) -> None:
    content = "slow chunks for the event loop"
    server.script(MODEL, Reply(content, stream=StreamScript(chunk_delay=0.2)))
    ticks = 0
    done = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not done.is_set():
            ticks += 1
            await asyncio.sleep(0.005)

    async with fastrouter.AsyncClient(base_url=server.base_url, api_key="test", max_retries=0) as client:
        ticking = asyncio.create_task(ticker())
        try:
            stream = await client.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": "hi"}], stream=True
            )
            chunks = await drain(stream)
        finally:
            done.set()
            await ticking
    assert joined(chunks) == content
    # ~1 s of waiting: ~200 ticks at 5 ms, still 50 at 20 ms on a loaded machine; a loop
    # blocked while waiting would tick about once per chunk.
    assert ticks >= 30, ticks
