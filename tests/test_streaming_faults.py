"""Streams that go wrong, against the real embedded mock: cuts and in-band errors before
and after the first content, transparent retry and failover before it (and never after),
HTTP errors before the stream, first-token and idle timeouts, and cancellation (``close()``,
leaving the context manager early, dropping the stream) releasing the connection.
"""

from __future__ import annotations

import asyncio
import gc
import json
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import fastrouter
import pytest
from fastrouter import ChatCompletionChunk
from fastrouter.streaming import Stream
from fastrouter.testing import Drop, Fail, MockServer, Outcome, Raw, Reply, StreamScript
from stream_helpers import content_chunks, drain, joined, open_stream

FIXTURES = Path(__file__).parent / "fixtures" / "openrouter-traffic"
MODEL = "a/x"
FALLBACK = "b/y"
WORDS = "one two three four five six seven eight"


def requested_models(server: MockServer) -> list[str | None]:
    return [r.model for r in server.chat_requests()]


async def wait_for_closed(server: MockServer, closed_before: int, limit: float = 10.0) -> float | None:
    """Seconds until the server saw one more connection closed, or ``None`` after ``limit``.
    Sleeps with asyncio so that finalizers scheduled on the loop get to run."""
    started = time.monotonic()
    while time.monotonic() - started < limit:
        if server.connections[1] > closed_before:
            return time.monotonic() - started
        await asyncio.sleep(0.01)
    return None


# ------------------------------------------------------------------ failures after content


@pytest.mark.parametrize("chunk_delay", [0.02, 0.0])
async def test_cut_after_content_raises_stream_error_after_delivering_it(
    server: MockServer, caller: Any, chunk_delay: float
) -> None:
    server.script(MODEL, Reply(WORDS, cost=0.01, stream=StreamScript(drop_after=3, chunk_delay=chunk_delay)))
    stream = await open_stream(caller, caller.client(server))  # the stream began: no error here

    chunks: list[ChatCompletionChunk] = []
    with pytest.raises(fastrouter.StreamError) as info:
        await drain(stream, chunks)
    error = info.value
    # Every received chunk was delivered before the error.
    assert len(content_chunks(chunks)) == 3
    assert joined(chunks) == "one two three "
    assert error.partial is not None
    assert isinstance(error.partial, fastrouter.ChatCompletion)
    assert error.partial.choices[0].message.content == "one two three "
    assert error.partial.choices[0].finish_reason is None
    assert error.partial.usage is None
    assert error.partial.id == chunks[0].id
    assert error.attempts
    assert error.attempts[-1].model == MODEL
    assert error.attempts[-1].error
    assert error.model == MODEL
    assert not isinstance(error, fastrouter.APIStatusError)
    # The stream itself keeps what was received, and the attempts.
    assert stream.completion.choices[0].message.content == "one two three "
    assert [a.model for a in stream.attempts] == [MODEL]
    assert len(server.chat_requests()) == 1


def sse_event(data: dict[str, Any]) -> str:
    return f"data: {json.dumps(data)}\n\n"


def recorded_style_chunk(content: str, finish_reason: str | None = None) -> dict[str, Any]:
    return {
        "id": "gen-1771239999-truncated",
        "provider": "Acme",
        "model": MODEL,
        "object": "chat.completion.chunk",
        "created": 1771239999,
        "choices": [{"index": 0, "delta": {"role": "assistant", "content": content}, "finish_reason": finish_reason}],
    }


async def test_connection_closing_without_done_or_finish_reason_is_truncation(server: MockServer, caller: Any) -> None:
    """The body ends cleanly but with neither ``[DONE]`` nor a finish_reason."""
    body = ": OPENROUTER PROCESSING\n\n" + "".join(
        sse_event(recorded_style_chunk(piece)) for piece in ["", "one ", "two ", "three "]
    )
    server.script(MODEL, Raw(body=body, headers={"content-type": "text/event-stream"}))
    stream = await open_stream(caller, caller.client(server, max_retries=2))
    chunks: list[ChatCompletionChunk] = []
    with pytest.raises(fastrouter.StreamError) as info:
        await drain(stream, chunks)
    assert len(chunks) == 4
    assert len(content_chunks(chunks)) == 3
    assert joined(chunks) == "one two three "
    assert info.value.partial is not None
    assert info.value.partial.choices[0].message.content == "one two three "
    assert info.value.partial.provider == "Acme"
    assert info.value.attempts and info.value.attempts[-1].model == MODEL
    assert stream.keepalives == 1
    assert len(server.chat_requests()) == 1


async def test_clean_close_after_a_finish_reason_is_a_normal_end(server: MockServer, caller: Any) -> None:
    body = "".join(sse_event(recorded_style_chunk(piece)) for piece in ["", "one ", "two"]) + sse_event(
        recorded_style_chunk("", "stop")
    )
    server.script(MODEL, Raw(body=body, headers={"content-type": "text/event-stream"}))
    stream = await open_stream(caller, caller.client(server))
    chunks = await drain(stream)
    assert joined(chunks) == "one two"
    assert stream.completion.choices[0].finish_reason == "stop"
    assert [a.status for a in stream.attempts] == [200]


async def test_in_band_error_after_content(server: MockServer, caller: Any) -> None:
    server.script(
        MODEL,
        Reply(
            WORDS,
            prompt_tokens=5,
            completion_tokens=3,
            cost=Decimal("0.00042"),
            stream=StreamScript(error_after=2, error_status=502, error_message="boom"),
        ),
    )
    stream = await open_stream(caller, caller.client(server, max_retries=2))

    chunks: list[ChatCompletionChunk] = []
    with pytest.raises(fastrouter.StreamError) as info:
        await drain(stream, chunks)
    error = info.value
    assert len(content_chunks(chunks)) == 2
    assert joined(chunks) == "one two "
    assert error.status_code == 502
    assert error.code == 502
    assert "boom" in error.message
    assert "boom" in str(error)
    partial = error.partial
    assert partial is not None
    assert partial.choices[0].message.content == "one two "
    # The error chunk carries the usage consumed so far; its cost is kept exactly.
    assert partial.usage is not None
    assert (partial.usage.prompt_tokens, partial.usage.completion_tokens, partial.usage.total_tokens) == (5, 3, 8)
    assert partial.cost == Decimal("0.00042")
    assert error.attempts and error.attempts[-1].model == MODEL
    # Content was delivered: no retry, even with retries left.
    assert len(server.chat_requests()) == 1


@pytest.mark.parametrize(
    ("status", "error_class"),
    [
        (502, fastrouter.ProviderError),
        (503, fastrouter.ServiceUnavailableError),
        (429, fastrouter.RateLimitError),
        (400, fastrouter.BadRequestError),
    ],
)
async def test_in_band_error_before_content_is_raised_by_create(
    server: MockServer, caller: Any, status: int, error_class: type[Exception]
) -> None:
    server.script(MODEL, Reply(WORDS, stream=StreamScript(error_after=0, error_status=status, error_message="boom")))
    client = caller.client(server)
    with pytest.raises(fastrouter.FastrouterError) as info:
        await open_stream(caller, client)
    error = info.value
    assert type(error) is error_class
    assert not isinstance(error, fastrouter.StreamError)
    assert isinstance(error, fastrouter.APIStatusError)
    assert error.status_code == status
    assert "boom" in error.message
    assert [a.status for a in error.attempts] == [status]
    assert len(server.chat_requests()) == 1


async def test_in_band_error_before_content_is_retried_transparently(server: MockServer, caller: Any) -> None:
    server.script(
        MODEL,
        Reply("never shown", stream=StreamScript(error_after=0, error_status=502, error_message="boom")),
        Reply("the good reply", cost=0.002),
    )
    stream = await open_stream(caller, caller.client(server, max_retries=1))
    chunks = await drain(stream)
    assert joined(chunks) == "the good reply"
    assert stream.completion.choices[0].message.content == "the good reply"
    assert stream.completion.cost == Decimal("0.002")
    attempts = stream.attempts
    assert [a.status for a in attempts] == [502, 200]
    assert [a.retry for a in attempts] == [0, 1]
    assert [a.model for a in attempts] == [MODEL, MODEL]
    assert not attempts[0].ok and attempts[1].ok
    assert "boom" in (attempts[0].error or "")
    assert len(server.chat_requests()) == 2


# ------------------------------------------------------------------------------ failover


@pytest.mark.parametrize(
    ("failure", "failed_status"),
    [
        (Fail(503), 503),
        (Drop(), None),
        (Reply("never shown", stream=StreamScript(drop_after=0)), None),
        (Reply("never shown", stream=StreamScript(error_after=0, error_status=502)), 502),
    ],
    ids=["fail503", "drop", "cut_before_content", "error_502"],
)
async def test_failover_before_content_is_transparent(
    server: MockServer, caller: Any, failure: Outcome, failed_status: int | None
) -> None:
    server.script(MODEL, failure)
    server.script(FALLBACK, Reply("answer from the fallback", cost=0.004, provider="Backup"))
    stream = await open_stream(caller, caller.client(server), model=[MODEL, FALLBACK])
    chunks = await drain(stream)

    assert joined(chunks) == "answer from the fallback"
    assert "never" not in joined(chunks)
    assert {c.model for c in chunks} == {FALLBACK}
    completion = stream.completion
    assert completion.model == FALLBACK
    assert completion.provider == "Backup"
    assert completion.choices[0].message.content == "answer from the fallback"
    assert completion.cost == Decimal("0.004")
    attempts = stream.attempts
    assert [a.model for a in attempts] == [MODEL, FALLBACK]
    assert attempts[0].status == failed_status
    assert attempts[0].error and not attempts[0].ok
    assert attempts[1].status == 200 and attempts[1].ok
    assert requested_models(server) == [MODEL, FALLBACK]


@pytest.mark.parametrize(
    "script",
    [
        StreamScript(drop_after=3, chunk_delay=0.02),
        StreamScript(error_after=2, error_status=503, error_message="overloaded"),
    ],
    ids=["cut", "in_band_error"],
)
async def test_failure_after_content_never_switches_models(
    server: MockServer, caller: Any, script: StreamScript
) -> None:
    server.script(MODEL, Reply(WORDS, stream=script))
    server.script(FALLBACK, Reply("must not be used"))
    stream = await open_stream(caller, caller.client(server, max_retries=2), model=[MODEL, FALLBACK])

    chunks: list[ChatCompletionChunk] = []
    with pytest.raises(fastrouter.StreamError) as info:
        await drain(stream, chunks)
    delivered = joined(chunks)
    assert delivered and WORDS.startswith(delivered)
    assert info.value.partial is not None
    assert info.value.partial.choices[0].message.content == delivered
    assert not isinstance(info.value, fastrouter.AllModelsFailedError)
    assert [a.model for a in info.value.attempts] == [MODEL]
    # Neither the fallback nor a retry of the same model was asked.
    assert requested_models(server) == [MODEL]
    assert server.pending() == {FALLBACK: 1}


# ----------------------------------------------------------------- errors before the stream


def validation_400() -> str:
    return (FIXTURES / "ai-sdk-provider__error_400_openrouter_validation.response.json").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("outcome", "error_class", "status", "message"),
    [
        (
            Fail(429, message="Rate limit exceeded: slow down"),
            fastrouter.RateLimitError,
            429,
            "Rate limit exceeded: slow down",
        ),
        (Fail(401, message="User not found."), fastrouter.AuthenticationError, 401, "User not found."),
        (
            Raw(status=400, body=validation_400(), headers={"content-type": "application/json"}),
            fastrouter.BadRequestError,
            400,
            "Input must have at least 1 token.",
        ),
        (Raw(status=400, body=validation_400()), fastrouter.BadRequestError, 400, "Input must have at least 1 token."),
    ],
    ids=["429", "401", "400_recorded", "400_no_content_type"],
)
async def test_http_error_before_the_stream_is_raised_by_create(
    server: MockServer, caller: Any, outcome: Outcome, error_class: type[Exception], status: int, message: str
) -> None:
    server.script(MODEL, outcome)
    with pytest.raises(fastrouter.FastrouterError) as info:
        await open_stream(caller, caller.client(server))
    error = info.value
    assert type(error) is error_class
    assert isinstance(error, fastrouter.APIStatusError)
    assert error.status_code == status
    assert error.code == status
    assert error.message == message
    assert [a.status for a in error.attempts] == [status]
    assert len(server.chat_requests()) == 1
    assert server.chat_requests()[0].body["stream"] is True


async def test_request_errors_are_not_retried(server: MockServer, caller: Any) -> None:
    server.script(MODEL, Fail(401), Reply("must not be used"))
    with pytest.raises(fastrouter.AuthenticationError):
        await open_stream(caller, caller.client(server, max_retries=3))
    assert len(server.chat_requests()) == 1


# ------------------------------------------------------------------------------ timeouts


@pytest.mark.parametrize("where", ["request", "client"])
async def test_first_token_timeout_ignores_keepalives(server: MockServer, caller: Any, where: str) -> None:
    server.script(MODEL, Reply(WORDS, stream=StreamScript(first_chunk_delay=5, keepalive_interval=0.05)))
    timeout = fastrouter.Timeout(first_token=0.3)
    if where == "request":
        client, kwargs = caller.client(server), {"timeout": timeout}
    else:
        client, kwargs = caller.client(server, timeout=timeout), {}
    started = time.monotonic()
    with pytest.raises(fastrouter.APITimeoutError) as info:
        await open_stream(caller, client, **kwargs)
    elapsed = time.monotonic() - started
    # Keep-alives flowed every 50 ms; had they counted, the stream would have begun.
    assert 0.25 <= elapsed < 2.5, elapsed  # the first chunk would come at 5 s
    assert not isinstance(info.value, fastrouter.StreamError)
    assert [a.model for a in info.value.attempts] == [MODEL]
    assert info.value.attempts[0].error_kind == "timeout"
    assert len(server.chat_requests()) == 1


@pytest.mark.parametrize("where", ["request", "client"])
async def test_idle_timeout_after_content_is_a_stream_error(server: MockServer, caller: Any, where: str) -> None:
    server.script(MODEL, Reply(WORDS, cost=0.5, stream=StreamScript(stall_after=2, keepalive_interval=0.05)))
    timeout = fastrouter.Timeout(idle=0.3)
    if where == "request":
        client, kwargs = caller.client(server), {"timeout": timeout}
    else:
        client, kwargs = caller.client(server, timeout=timeout), {}
    started = time.monotonic()
    stream = await open_stream(caller, client, **kwargs)
    chunks: list[ChatCompletionChunk] = []
    with pytest.raises(fastrouter.StreamError) as info:
        await drain(stream, chunks)
    elapsed = time.monotonic() - started
    assert 0.25 <= elapsed < 1.5, elapsed
    assert len(content_chunks(chunks)) == 2
    assert joined(chunks) == "one two "
    assert info.value.partial is not None
    assert info.value.partial.choices[0].message.content == "one two "
    assert info.value.partial.usage is None
    assert stream.keepalives >= 3  # keep-alives kept flowing; they are not progress
    assert len(server.chat_requests()) == 1


# --------------------------------------------------------------------------- cancellation

LONG = "".join(chr(ord("A") + i % 26) for i in range(200))


def slow_long_reply() -> Reply:
    return Reply(LONG, stream=StreamScript(chunks=200, chunk_delay=0.01))


async def next_chunks(stream: Any, count: int) -> tuple[Any, list[ChatCompletionChunk]]:
    """The iterator and its first ``count`` chunks."""
    if isinstance(stream, Stream):
        iterator: Any = iter(stream)
        return iterator, [next(iterator) for _ in range(count)]
    iterator = stream.__aiter__()
    return iterator, [await iterator.__anext__() for _ in range(count)]


async def rest_after_close(iterator: Any) -> tuple[list[ChatCompletionChunk], BaseException | None]:
    """Whatever iteration still yields after ``close()``, and how it ended."""
    rest: list[ChatCompletionChunk] = []
    try:
        if hasattr(iterator, "__anext__"):  # (an async stream's iterator is its own awaitable)
            async for chunk in iterator:
                rest.append(chunk)
        else:
            for chunk in iterator:
                rest.append(chunk)
    except fastrouter.APIConnectionError as exc:
        return rest, exc
    return rest, None


def assert_partial(stream: Any, delivered: str) -> None:
    """``stream.completion`` after a cancellation: what was received so far (the reader may
    have run a little ahead of the consumer)."""
    completion = stream.completion
    assert isinstance(completion, fastrouter.ChatCompletion)
    content = completion.choices[0].message.content or ""
    assert content.startswith(delivered)
    assert LONG.startswith(content)
    assert len(content) < len(LONG)
    assert completion.choices[0].finish_reason is None
    assert completion.usage is None


async def test_close_mid_stream_releases_the_connection(server: MockServer, caller: Any) -> None:
    server.script(MODEL, slow_long_reply())
    stream = await open_stream(caller, caller.client(server))
    iterator, first = await next_chunks(stream, 3)
    delivered = joined(first)
    assert delivered == LONG[:2]  # role chunk, then two letters
    # Before the end, the completion holds what was received so far.
    assert LONG.startswith(stream.completion.choices[0].message.content or "")
    opened, closed = server.connections
    assert opened >= 1

    if caller.mode == "sync":
        stream.close()
        stream.close()  # idempotent
    else:
        await stream.close()
        await stream.close()
    waited = await wait_for_closed(server, closed)
    assert waited is not None, f"the server never saw the connection close: {server.connections}"

    rest, ended_by = await rest_after_close(iterator)
    # Iteration stops (or raises a clean connection error) instead of reading on.
    assert ended_by is None or isinstance(ended_by, fastrouter.APIConnectionError)
    assert len(content_chunks(first + rest)) < 100
    assert_partial(stream, delivered + joined(rest))
    await asyncio.sleep(0.1)
    assert len(server.chat_requests()) == 1


async def test_leaving_the_context_manager_early_releases_the_connection(server: MockServer, caller: Any) -> None:
    server.script(MODEL, slow_long_reply())
    stream = await open_stream(caller, caller.client(server))
    closed = server.connections[1]
    received: list[ChatCompletionChunk] = []
    if caller.mode == "sync":
        with stream:
            for chunk in stream:
                received.append(chunk)
                if len(received) == 3:
                    break
    else:
        async with stream:
            async for chunk in stream:
                received.append(chunk)
                if len(received) == 3:
                    break
    waited = await wait_for_closed(server, closed)
    assert waited is not None, f"the server never saw the connection close: {server.connections}"
    assert len(received) == 3
    assert_partial(stream, joined(received))


async def test_exception_inside_the_context_manager_releases_the_connection(server: MockServer, caller: Any) -> None:
    server.script(MODEL, slow_long_reply())
    stream = await open_stream(caller, caller.client(server))
    closed = server.connections[1]
    with pytest.raises(RuntimeError, match="consumer failed"):
        if caller.mode == "sync":
            with stream:
                for _ in stream:
                    raise RuntimeError("consumer failed")
        else:
            async with stream:
                async for _ in stream:
                    raise RuntimeError("consumer failed")
    assert await wait_for_closed(server, closed) is not None


async def test_dropping_an_unfinished_stream_releases_the_connection(server: MockServer, caller: Any) -> None:
    server.script(MODEL, slow_long_reply())
    stream = await open_stream(caller, caller.client(server))
    iterator, first = await next_chunks(stream, 3)
    assert joined(first) == LONG[:2]
    closed = server.connections[1]
    del stream, iterator
    gc.collect()
    waited = await wait_for_closed(server, closed)
    assert waited is not None, f"the server never saw the connection close: {server.connections}"


async def test_close_after_the_end_keeps_the_completion(server: MockServer, caller: Any) -> None:
    server.script(MODEL, Reply("all of it", cost=0.125))
    stream = await open_stream(caller, caller.client(server))
    chunks = await drain(stream)
    if caller.mode == "sync":
        stream.close()
    else:
        await stream.close()
    assert joined(chunks) == "all of it"
    assert stream.completion.choices[0].message.content == "all of it"
    assert stream.completion.cost == Decimal("0.125")
    assert [a.status for a in stream.attempts] == [200]
    assert server.connections[1] == 0  # a finished stream's connection stays in the pool


async def test_close_before_reading(server: MockServer, caller: Any) -> None:
    server.script(MODEL, slow_long_reply())
    stream = await open_stream(caller, caller.client(server))
    closed = server.connections[1]
    if caller.mode == "sync":
        stream.close()
    else:
        await stream.close()
    assert await wait_for_closed(server, closed) is not None
    chunks: list[ChatCompletionChunk] = []
    try:
        await drain(stream, chunks)
    except fastrouter.APIConnectionError:
        pass
    assert len(content_chunks(chunks)) < 100
    assert LONG.startswith(joined(chunks))


def test_fixture_file_is_the_shared_one() -> None:
    """The 400 body used above is the recorded OpenRouter validation error."""
    body = json.loads(validation_400())
    assert body == {
        "error": {"message": "Input must have at least 1 token.", "code": 400, "metadata": {"provider_name": None}}
    }
