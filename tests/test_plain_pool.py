"""The plain-http connection pool (src/h1_pool.rs) seen from Python: a connection the
server closed while idle is not reused (the next request still succeeds) and is closed
on this side without waiting for another request, and a stream dropped before its end
closes its connection instead of giving it back."""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any

import fastrouter
import pytest
from bare_http import BareHTTPServer, serving
from fastrouter.testing import MockServer, Reply, StreamScript
from stream_helpers import drain, joined, open_stream

MODEL = "a/x"
# The server closes a connection idle this long (seconds); not much less: on a loaded
# machine 0.1 s could pass between two requests that should share a connection.
IDLE_CLOSE = 0.5

ANSWER = json.dumps(
    {
        "id": "gen-1",
        "object": "chat.completion",
        "created": 1,
        "model": MODEL,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hello"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }
).encode()


class _IdleClosingServer(BareHTTPServer):
    # 40 connections at once: with the default backlog (5) some would wait for a SYN or
    # request retransmit, which can outlast the handler's read timeout (IDLE_CLOSE).
    request_queue_size = 64
    opened = 0
    closed = 0
    lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        self.opened += 1
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        super().shutdown_request(request)
        with self.lock:  # called by each connection's thread
            self.closed += 1


class _Handler(BaseHTTPRequestHandler):
    """Keep-alive chat answers; a connection idle for ``IDLE_CLOSE`` is closed."""

    protocol_version = "HTTP/1.1"
    timeout = IDLE_CLOSE

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", "0")))
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(ANSWER)))
        self.end_headers()
        self.wfile.write(ANSWER)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def idle_closing() -> Iterator[_IdleClosingServer]:
    with serving(_IdleClosingServer(("127.0.0.1", 0), _Handler)) as server:
        yield server


async def test_a_connection_the_server_closed_while_idle_is_replaced(
    caller: Any, idle_closing: _IdleClosingServer
) -> None:
    client = caller.client(f"http://127.0.0.1:{idle_closing.server_address[1]}/api/v1")
    for _ in range(2):
        answer = await caller.create(client, model=MODEL)
        assert answer.choices[0].message.content == "hello"
    assert idle_closing.opened == 1
    time.sleep(IDLE_CLOSE * 3)
    answer = await caller.create(client, model=MODEL)
    assert answer.choices[0].message.content == "hello"
    assert idle_closing.opened == 2


def half_closed(port: int) -> int:
    """This host's sockets to ``port`` the server closed and this side has not (CLOSE_WAIT)."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as rows:
            for row in list(rows)[1:]:
                fields = row.split()
                if fields[3] == "08" and int(fields[2].rsplit(":", 1)[1], 16) == port:
                    count += 1
    return count


@pytest.mark.skipif(not os.path.exists("/proc/net/tcp"), reason="reads Linux's socket table")
async def test_idle_connections_the_server_closed_are_closed_without_another_request(
    idle_closing: _IdleClosingServer,
) -> None:
    port = idle_closing.server_address[1]
    async with fastrouter.AsyncClient(
        base_url=f"http://127.0.0.1:{port}/api/v1", api_key="test", max_retries=0
    ) as client:
        answers = await asyncio.gather(
            *(
                client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}])
                for _ in range(40)
            )
        )
        assert all(answer.choices[0].message.content == "hello" for answer in answers)
        assert idle_closing.opened > 1
        # The server closes them IDLE_CLOSE after their answer ...
        deadline = time.monotonic() + 10.0
        while idle_closing.closed < idle_closing.opened and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        assert idle_closing.closed == idle_closing.opened
        # ... and the pool's sweeper closes this side within a second of that.
        deadline = time.monotonic() + 5.0
        while half_closed(port) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert half_closed(port) == 0


async def test_a_stream_closed_before_its_end_does_not_give_its_connection_back(
    caller: Any, server: MockServer
) -> None:
    words = " ".join(f"w{i}" for i in range(20))
    server.script(MODEL, Reply(content=words, stream=StreamScript(chunk_delay=0.05)))
    server.script(MODEL, Reply(content="after"))
    client = caller.client(server)
    stream = await open_stream(caller, client, model=MODEL)
    if caller.mode == "sync":
        for _chunk in stream:
            break
        stream.close()
    else:
        async for _chunk in stream:
            break
        await stream.close()
    answer = await caller.create(client, model=MODEL)
    assert answer.choices[0].message.content == "after"
    deadline = time.monotonic() + 10.0
    while server.connections != (2, 1) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.connections == (2, 1)


async def test_streams_and_requests_in_turn_share_one_connection(caller: Any, server: MockServer) -> None:
    for _ in range(3):
        server.script(MODEL, Reply(content="a b c", stream=StreamScript()))
        server.script(MODEL, Reply(content="plain"))
    client = caller.client(server)
    for _ in range(3):
        stream = await open_stream(caller, client, model=MODEL)
        assert joined(await drain(stream)) == "a b c"
        answer = await caller.create(client, model=MODEL)
        assert answer.choices[0].message.content == "plain"
    assert server.connections == (1, 0)
