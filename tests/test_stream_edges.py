"""Stream edge cases from issue 10: a stream stopped by a timeout after content is both a
``StreamError`` (with its partial) and an ``APITimeoutError`` whose message says which
limit stopped it; SSE events with empty data are skipped, not fatal."""

from __future__ import annotations

import time
from typing import Any

import fastrouter
import pytest
from fastrouter import ChatCompletionChunk
from fastrouter.testing import MockServer, Raw, Reply, StreamScript
from stream_helpers import MODEL, content_chunks, drain, joined, open_stream

WORDS = "one two three four five six seven eight"


async def test_total_deadline_after_content_is_a_stream_timeout(server: MockServer, caller: Any) -> None:
    server.script(MODEL, Reply(WORDS, stream=StreamScript(chunk_delay=0.15)))
    started = time.monotonic()
    stream = await open_stream(caller, caller.client(server), timeout=fastrouter.Timeout(total=0.5))
    chunks: list[ChatCompletionChunk] = []
    with pytest.raises(fastrouter.APITimeoutError) as info:
        await drain(stream, chunks)
    elapsed = time.monotonic() - started
    error = info.value
    assert isinstance(error, fastrouter.StreamError)
    assert isinstance(error, fastrouter.StreamTimeoutError)
    assert isinstance(error, TimeoutError)
    assert error.kind == "stream_timeout"
    received = len(content_chunks(chunks))
    assert 1 <= received < 8
    assert "total deadline of 0.500s" in error.message
    assert f"after {len(chunks)} chunks" in error.message  # the role chunk counts too
    assert "no stream progress" not in error.message
    assert error.partial is not None
    assert error.partial.choices[0].message.content == joined(chunks)
    assert error.attempts[-1].error_kind == "stream_timeout"
    assert 0.45 <= elapsed < 1.5, elapsed


async def test_idle_timeout_after_content_is_a_stream_timeout_too(server: MockServer, caller: Any) -> None:
    server.script(MODEL, Reply(WORDS, stream=StreamScript(stall_after=2, keepalive_interval=0.05)))
    stream = await open_stream(caller, caller.client(server), timeout=fastrouter.Timeout(idle=0.3))
    with pytest.raises(fastrouter.StreamTimeoutError) as info:
        await drain(stream)
    assert "no stream progress after 3 chunks within 0.300s" in info.value.message  # role + 2 words
    assert info.value.partial is not None and info.value.partial.choices[0].message.content == "one two "


def sse(*events: str) -> Raw:
    return Raw("".join(events), headers={"content-type": "text/event-stream"})


async def test_events_with_empty_data_are_skipped(server: MockServer, caller: Any) -> None:
    server.script(
        MODEL,
        sse(
            "data:\n\n",
            'data: {"choices":[{"index":0,"delta":{"role":"assistant","content":"he"}}]}\n\n',
            "data:\n\n",
            "data: \r\n\r\n",
            'data: {"choices":[{"index":0,"delta":{"content":"llo"},"finish_reason":"stop"}]}\n\n',
            "data:\n\n",
            "data: [DONE]\n\n",
        ),
    )
    stream = await open_stream(caller, caller.client(server))
    chunks = await drain(stream)
    assert joined(chunks) == "hello"
    assert stream.completion.choices[0].finish_reason == "stop"
