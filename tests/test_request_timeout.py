"""A call's own ``timeout=``: its read timeout replaces the client's for that call (on whole
answers and streams, plain http and HTTPS, through the gate too), failing exactly as the
client's does; and ``httpx.Timeout`` (what ``openai`` users pass) is accepted, its connect and
read honoured."""

from __future__ import annotations

import time
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import fastrouter
import httpx
import pytest
from fastrouter.testing import MockServer, Reply, StreamScript
from stream_helpers import MODEL, content_chunks, drain, open_stream

READ = 0.3
LATE = 5.0  # a reply this late trips READ, never a generous limit
# "Well before the late reply": a bound between READ and LATE with room on both sides
# (READ + 1.0 against a reply at READ + 1.2 failed a cascade's two tiers on a loaded machine).
BEFORE_LATE = LATE - 2.0
GENEROUS = 10.0
WORDS = " ".join(f"w{i}" for i in range(20))


@pytest.fixture(params=["plain", "tls"])
def target(request: pytest.FixtureRequest) -> Iterator[tuple[MockServer, dict[str, Any]]]:
    """The mock over plain http (fastrouter's own HTTP/1.1 path) or HTTPS (reqwest)."""
    with MockServer(tls=request.param == "tls") as server:
        yield server, {"ca_bundle": server.ca_path} if server.ca_path is not None else {}


async def late_answer_error(caller: Any, client: Any, **kwargs: Any) -> BaseException:
    """The error of a call whose answer comes ``LATE``, raised well before it would come."""
    started = time.monotonic()
    with pytest.raises(fastrouter.APITimeoutError) as info:
        await caller.create(client, model=MODEL, **kwargs)
    assert READ <= time.monotonic() - started < BEFORE_LATE
    return info.value


async def stalled_stream_error(caller: Any, client: Any, **kwargs: Any) -> BaseException:
    """The error of a stream that stalls after two content chunks."""
    chunks: list[Any] = []
    started = time.monotonic()
    with pytest.raises(fastrouter.StreamTimeoutError) as info:
        await drain(await open_stream(caller, client, **kwargs), chunks)
    assert READ <= time.monotonic() - started < BEFORE_LATE
    assert len(content_chunks(chunks)) == 2
    return info.value


def same_error(per_call: BaseException, per_client: BaseException) -> None:
    assert type(per_call) is type(per_client)
    assert str(per_call) == str(per_client)
    assert per_call.kind == per_client.kind  # type: ignore[attr-defined]


async def test_a_calls_read_timeout_fails_a_late_answer_as_the_clients_would(
    target: tuple[MockServer, dict[str, Any]], caller: Any
) -> None:
    server, options = target
    server.script(MODEL, Reply("late", delay=LATE))
    per_call = await late_answer_error(caller, caller.client(server, **options), timeout=fastrouter.Timeout(read=READ))
    assert "error sending request: operation timed out" in str(per_call)
    server.script(MODEL, Reply("late", delay=LATE))
    per_client = await late_answer_error(
        caller, caller.client(server, timeout=fastrouter.Timeout(read=READ), **options)
    )
    same_error(per_call, per_client)


async def test_a_calls_read_timeout_fails_a_stalled_stream_as_the_clients_would(
    target: tuple[MockServer, dict[str, Any]], caller: Any
) -> None:
    server, options = target
    server.script(MODEL, Reply(WORDS, stream=StreamScript(stall_after=2)))
    per_call = await stalled_stream_error(
        caller, caller.client(server, **options), timeout=fastrouter.Timeout(read=READ)
    )
    assert str(per_call).startswith(
        "the stream failed after it began: error decoding response body: "
        "request or response body error: operation timed out"
    )
    server.script(MODEL, Reply(WORDS, stream=StreamScript(stall_after=2)))
    per_client = await stalled_stream_error(
        caller, caller.client(server, timeout=fastrouter.Timeout(read=READ), **options)
    )
    same_error(per_call, per_client)


async def test_a_calls_read_timeout_fails_a_stream_stalled_before_content(caller: Any) -> None:
    with MockServer() as server:
        server.script(MODEL, Reply(WORDS, stream=StreamScript(first_chunk_delay=LATE)))
        started = time.monotonic()
        with pytest.raises(fastrouter.APITimeoutError) as info:
            await drain(await open_stream(caller, caller.client(server), timeout=fastrouter.Timeout(read=READ)))
        assert time.monotonic() - started < BEFORE_LATE
        assert not isinstance(info.value, fastrouter.StreamError)
        assert "operation timed out" in str(info.value)


async def test_a_calls_generous_read_timeout_replaces_the_clients_tight_one(caller: Any) -> None:
    with MockServer() as server:
        client = caller.client(server, timeout=fastrouter.Timeout(read=READ))
        server.script(MODEL, Reply("in time", delay=READ + 0.3))
        answer = await caller.create(client, model=MODEL, timeout=fastrouter.Timeout(read=GENEROUS))
        assert answer.choices[0].message.content == "in time"
        server.script(MODEL, Reply(WORDS, stream=StreamScript(first_chunk_delay=READ + 0.3)))
        stream = await open_stream(caller, client, timeout=fastrouter.Timeout(read=GENEROUS))
        await drain(stream)
        # The next call without timeout= has the client's read timeout again.
        server.script(MODEL, Reply("late", delay=LATE))
        await late_answer_error(caller, client)


async def test_the_clients_read_timeout_applies_when_the_call_sets_none(caller: Any) -> None:
    with MockServer() as server:
        client = caller.client(server, timeout=fastrouter.Timeout(read=READ))
        server.script(MODEL, Reply(WORDS, stream=StreamScript(stall_after=2)))
        await stalled_stream_error(caller, client)
        # with_options() sets a per-call default, read timeout included.
        server.script(MODEL, Reply("late", delay=LATE))
        await late_answer_error(caller, caller.client(server).with_options(timeout=fastrouter.Timeout(read=READ)))


async def test_a_number_keeps_the_clients_read_timeout(caller: Any) -> None:
    # A number is the call's attempt timeout; the client's read timeout still catches a stall.
    with MockServer() as server:
        client = caller.client(server, timeout=fastrouter.Timeout(read=READ))
        server.script(MODEL, Reply(WORDS, stream=StreamScript(stall_after=2)))
        await stalled_stream_error(caller, client, timeout=GENEROUS)
        server.script(MODEL, Reply("late", delay=LATE))
        await late_answer_error(caller, client.with_options(timeout=GENEROUS))
        assert client.with_options(timeout=GENEROUS).timeout == fastrouter.Timeout(attempt=GENEROUS, read=READ)


def test_with_options_reports_the_connect_timeout_its_pool_keeps() -> None:
    with MockServer() as server:
        client = fastrouter.Client(base_url=server.base_url, api_key="test", timeout=fastrouter.Timeout(connect=2.0))
        with client:
            timeout = client.with_options(timeout=httpx.Timeout(60.0, connect=5.0)).timeout
            assert timeout == fastrouter.Timeout(attempt=None, connect=2.0, read=60.0)


async def test_a_calls_read_timeout_holds_through_the_gate(caller: Any) -> None:
    with MockServer() as server:
        server.script(MODEL, Reply("late", delay=LATE))
        client = caller.client(server, cache=True)
        await late_answer_error(caller, client, timeout=fastrouter.Timeout(read=READ))


# -- httpx.Timeout, as openai users pass it


def test_an_httpx_timeout_sets_connect_and_read_and_nothing_else() -> None:
    coerced = fastrouter.Timeout.coerce(httpx.Timeout(60.0, connect=5.0))
    assert coerced == fastrouter.Timeout(attempt=None, connect=5.0, read=60.0)
    assert coerced.first_token is None and coerced.idle is None and coerced.total is None
    assert fastrouter.Timeout.coerce(httpx.Timeout(None)) == fastrouter.Timeout(attempt=None, connect=None, read=None)
    # Duck-typed: any object with httpx.Timeout's four attributes.
    shaped = SimpleNamespace(connect=None, read=7.5, write=1.0, pool=2.0)
    assert fastrouter.Timeout.coerce(shaped) == fastrouter.Timeout(attempt=None, connect=None, read=7.5)


def test_objects_not_shaped_like_a_timeout_are_refused() -> None:
    with pytest.raises(TypeError, match="httpx.Timeout"):
        fastrouter.Timeout.coerce(SimpleNamespace(connect=1.0, read=1.0))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="Timeout.read must be a number"):
        fastrouter.Timeout.coerce(SimpleNamespace(connect=1.0, read="1", write=None, pool=None))
    with pytest.raises(ValueError, match="Timeout.connect must be positive"):
        fastrouter.Timeout.coerce(SimpleNamespace(connect=-1.0, read=None, write=None, pool=None))


def test_a_client_takes_an_httpx_timeout() -> None:
    with MockServer() as server:
        server.script(MODEL, Reply("hello"))
        timeout = httpx.Timeout(60.0, connect=5.0)
        with fastrouter.Client(base_url=server.base_url, api_key="test", timeout=timeout) as client:
            assert client.timeout == fastrouter.Timeout(attempt=None, connect=5.0, read=60.0)
            answer = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}])
            assert answer.choices[0].message.content == "hello"
            assert client.with_options(timeout=httpx.Timeout(3.0)).timeout.read == 3.0


async def test_a_calls_httpx_timeout_is_its_read_timeout(
    target: tuple[MockServer, dict[str, Any]], caller: Any
) -> None:
    server, options = target
    client = caller.client(server, **options)
    server.script(MODEL, Reply("late", delay=LATE))
    error = await late_answer_error(caller, client, timeout=httpx.Timeout(READ, connect=5.0))
    assert "operation timed out" in str(error)
    server.script(MODEL, Reply(WORDS, stream=StreamScript(stall_after=2)))
    await stalled_stream_error(caller, client, timeout=SimpleNamespace(connect=None, read=READ, write=None, pool=None))


async def test_a_bound_models_read_timeout_is_its_calls(caller: Any) -> None:
    with MockServer() as server:
        server.script(MODEL, Reply("late", delay=LATE))
        bound = caller.client(server).model(MODEL, timeout=fastrouter.Timeout(read=READ))
        started = time.monotonic()
        with pytest.raises(fastrouter.APITimeoutError):
            result = bound.complete("hi")
            if caller.mode == "async":
                await result
        assert time.monotonic() - started < BEFORE_LATE


async def test_a_cascades_tiers_take_the_calls_read_timeout(caller: Any) -> None:
    """A tier that answers late is cut off by the call's read timeout exactly as by the
    client's: same outcome, same time."""
    cheap, dear = "meta-llama/llama-3.1-8b-instruct", "anthropic/claude-3.5-sonnet"

    async def outcome(client: Any, **kwargs: Any) -> str:
        server.script(cheap, Reply("late", delay=LATE))
        server.script(dear, Reply("Paris."))
        started = time.monotonic()
        try:
            resp = await caller.create(client, model=fastrouter.Cascade([cheap, dear]), **kwargs)
            result = f"answer {resp.choices[0].message.content}"
        except fastrouter.FastrouterError as error:
            result = f"{type(error).__name__}: {error}"
        assert time.monotonic() - started < BEFORE_LATE
        return result

    with MockServer() as server:
        per_call = await outcome(caller.client(server), timeout=fastrouter.Timeout(read=READ))
        per_client = await outcome(caller.client(server, timeout=fastrouter.Timeout(read=READ)))
        assert per_call == per_client
