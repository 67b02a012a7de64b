"""A stream that ended gives its connection back: the core reads what follows the end
(`[DONE]`, or a finish_reason), bounded in bytes and time, so the next request reuses the
connection even when the body's last bytes come after `[DONE]`."""

from __future__ import annotations

import time
from typing import Any

from fastrouter.testing import MockServer, Reply, StreamScript
from stream_helpers import drain, joined, open_stream

MODEL = "a/x"
TEXT = "one two three four"


def _reply(**stream: Any) -> Reply:
    return Reply(content=TEXT, stream=StreamScript(**stream))


async def _stream_then_ask(caller: Any, server: MockServer) -> tuple[int, int]:
    """One whole stream, then a plain request on the same client: the connections the
    server saw (opened, closed) afterwards."""
    client = caller.client(server)
    stream = await open_stream(caller, client, model=MODEL)
    assert joined(await drain(stream)) == TEXT
    answer = await caller.create(client, model=MODEL)
    assert answer.choices[0].message.content
    return server.connections


async def test_next_request_reuses_the_connection_after_done(caller: Any, server: MockServer) -> None:
    server.script(MODEL, _reply())
    assert await _stream_then_ask(caller, server) == (1, 0)


async def test_bytes_and_a_late_end_after_done_are_drained(caller: Any, server: MockServer) -> None:
    # Keep-alive comments after [DONE], then the body ends 150 ms later: a client that
    # stopped reading at [DONE] would have to open a second connection.
    server.script(MODEL, _reply(tail_comments=3, tail_delay=0.15))
    assert await _stream_then_ask(caller, server) == (1, 0)


async def test_stream_ended_by_finish_reason_alone_is_drained(caller: Any, server: MockServer) -> None:
    server.script(MODEL, _reply(done=False, tail_comments=2, tail_delay=0.15))
    assert await _stream_then_ask(caller, server) == (1, 0)


async def test_draining_is_bounded_in_time(caller: Any, server: MockServer) -> None:
    # The body ends 3 s after [DONE]: the stream must end within the drain bound (0.5 s)
    # and give the connection up instead of holding the caller.
    server.script(MODEL, _reply(tail_delay=3.0))
    client = caller.client(server)
    stream = await open_stream(caller, client, model=MODEL)
    started = time.monotonic()
    assert joined(await drain(stream)) == TEXT
    assert time.monotonic() - started < 2.0
    answer = await caller.create(client, model=MODEL)
    assert answer.choices[0].message.content
    opened, _closed = server.connections
    assert opened == 2


async def test_many_streams_in_a_row_share_one_connection(caller: Any, server: MockServer) -> None:
    server.script(MODEL, *[_reply(tail_comments=1, tail_delay=0.02) for _ in range(5)])
    client = caller.client(server)
    for _ in range(5):
        stream = await open_stream(caller, client, model=MODEL)
        assert joined(await drain(stream)) == TEXT
    assert server.connections == (1, 0)
