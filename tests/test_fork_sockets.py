"""A forked child closes its copies of the parent's pooled plain-http sockets at once
(src/fork_fds.rs): a connection the parent closes, or the server closes, ends for the
server while the child lives; the child's own requests open fresh connections, and no
descriptor the child uses otherwise is touched."""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import fastrouter
import pytest
from raw_http import content_length

pytestmark = [
    pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork"),
    pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning"),
]

MODEL = "a/x"
USER = [{"role": "user", "content": "hi"}]
LIMIT = 10.0  # seconds: a child, a close seen by the server


def _answer(content: str) -> bytes:
    return json.dumps(
        {
            "id": "gen-1",
            "object": "chat.completion",
            "created": 1,
            "model": MODEL,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }
    ).encode()


def _chunk(content: str) -> bytes:
    event = json.dumps(
        {
            "id": "gen-1",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": MODEL,
            "choices": [{"index": 0, "delta": {"content": content}, "finish_reason": None}],
        }
    )
    data = f"data: {event}\n\n".encode()
    return b"%x\r\n%s\r\n" % (len(data), data)


class Connection:
    """The server's side of one connection: ``ended`` is set when the client closed it."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.ended = threading.Event()


class KeepAliveServer:
    """HTTP/1.1 keep-alive chat answers on loopback, one thread per connection. A request
    with ``"stream": true`` gets one chunk and then nothing: the stream stays open until
    the client closes the connection."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.base_url = f"http://127.0.0.1:{self.port}/api/v1"
        self.connections: list[Connection] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            connection = Connection(sock)
            self.connections.append(connection)
            threading.Thread(target=self._serve, args=(connection,), daemon=True).start()

    def _serve(self, connection: Connection) -> None:
        sock, pending = connection.sock, b""
        try:
            while True:
                while b"\r\n\r\n" not in pending:
                    data = sock.recv(65536)
                    if not data:
                        return
                    pending += data
                head, pending = pending.split(b"\r\n\r\n", 1)
                length = content_length(head)
                while len(pending) < length:
                    data = sock.recv(65536)
                    if not data:
                        return
                    pending += data
                body, pending = pending[:length], pending[length:]
                if json.loads(body or b"{}").get("stream"):
                    sock.sendall(
                        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
                        b"transfer-encoding: chunked\r\n\r\n" + _chunk("first")
                    )
                    continue  # nothing more: only the client's close ends it
                # Which connection answered: its place in accepting order, from 1.
                answer = _answer(f"answer {self.connections.index(connection) + 1}")
                sock.sendall(
                    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                    b"content-length: %d\r\n\r\n%s" % (len(answer), answer)
                )
        except OSError:
            pass
        finally:
            connection.ended.set()
            sock.close()

    def close(self) -> None:
        self.listener.close()
        for connection in self.connections:
            try:
                connection.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


@pytest.fixture
def keepalive() -> Iterator[KeepAliveServer]:
    server = KeepAliveServer()
    yield server
    server.close()


def ask(client: fastrouter.Client) -> str | None:
    return client.chat.completions.create(model=MODEL, messages=USER, max_retries=0).choices[0].message.content


class Child:
    """A forked child running ``work`` once the parent says go; its JSON result or error
    comes back through a pipe. Killed if it outlives ``LIMIT``."""

    def __init__(self, work: Callable[[], Any]) -> None:
        go_read, self._go = os.pipe()
        self._result, result_write = os.pipe()
        ready_read, ready_write = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:
            os.close(self._go)
            os.close(self._result)
            os.close(ready_read)
            try:
                os.write(ready_write, b"r")
                os.read(go_read, 1)
                payload = {"ok": work()}
            except BaseException as exc:  # noqa: BLE001 - reported to the parent
                payload = {"error": f"{type(exc).__name__}: {exc}"}
            os.write(result_write, json.dumps(payload).encode())
            os._exit(0)
        os.close(go_read)
        os.close(result_write)
        os.close(ready_write)
        os.read(ready_read, 1)  # the child runs: its after-fork hook is done
        os.close(ready_read)

    def finish(self) -> Any:
        os.write(self._go, b"g")
        os.close(self._go)
        started = time.monotonic()
        while not os.waitpid(self.pid, os.WNOHANG)[0]:
            if time.monotonic() - started > LIMIT:
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
                pytest.fail("the forked child hung")
            time.sleep(0.01)
        with os.fdopen(self._result, "rb") as pipe:
            payload = json.loads(pipe.read() or b"{}")
        assert "error" not in payload, payload.get("error")
        return payload["ok"]


def child_work(client: fastrouter.Client, server: KeepAliveServer, kept: socket.socket) -> Callable[[], Any]:
    """In the child: requests on the parent's client (a fresh pool) with descriptors of
    its own open, and the parent's socket that is not a pooled one still usable."""

    def work() -> dict[str, Any]:
        read_end, write_end = os.pipe()
        own = socket.create_connection(("127.0.0.1", server.port))
        answers = [ask(client), ask(client)]
        os.write(write_end, b"x")
        own.sendall(b"GET")  # unanswered, never parsed: the connection stays open
        kept.sendall(b"GET")
        own.close()
        return {"answers": answers, "pipe": os.read(read_end, 1).decode()}

    return work


def test_a_child_closes_its_copy_so_the_parents_close_reaches_the_server(keepalive: KeepAliveServer) -> None:
    client = fastrouter.Client(base_url=keepalive.base_url, api_key="test", timeout=5)
    assert ask(client) == "answer 1"  # one pooled, idle connection
    pooled = keepalive.connections[0]
    # A socket of the parent's that is not a pooled one: the child keeps its copy.
    kept = socket.create_connection(("127.0.0.1", keepalive.port))
    child = Child(child_work(client, keepalive, kept))
    try:
        client.close()
        # With the child's copy open, the server would see no end while the child lives.
        assert pooled.ended.wait(LIMIT), "the server never saw the pooled connection close"
    finally:
        result = child.finish()
    # Pooled, kept, the child's own socket, then the child's pool: a fresh connection.
    assert result == {"answers": ["answer 4", "answer 4"], "pipe": "x"}
    assert len(keepalive.connections) == 4
    assert not keepalive.connections[1].ended.is_set()
    kept.close()


def client_socket_inode(server_side: socket.socket) -> int:
    """The inode of the client's end of ``server_side``'s connection (Linux's table)."""
    # Match both ends: an ephemeral port is reused towards other servers, and an earlier
    # test's connection lingering in TIME_WAIT on the same local port shows inode 0.
    local, remote = server_side.getpeername()[1], server_side.getsockname()[1]
    with open("/proc/net/tcp") as rows:
        for row in list(rows)[1:]:
            fields = row.split()
            ends = (int(fields[1].rsplit(":", 1)[1], 16), int(fields[2].rsplit(":", 1)[1], 16))
            if ends == (local, remote) and int(fields[9]):
                return int(fields[9])
    raise AssertionError(f"no open socket from port {local} to {remote}")


def holds(pid: int, inode: int) -> bool:
    """Whether process ``pid`` has a descriptor on socket ``inode``."""
    fds = f"/proc/{pid}/fd"
    for fd in os.listdir(fds):
        try:
            if os.readlink(f"{fds}/{fd}") == f"socket:[{inode}]":
                return True
        except OSError:
            pass
    return False


@pytest.mark.skipif(not os.path.exists("/proc/net/tcp"), reason="reads Linux's socket table")
def test_the_child_holds_no_copy_and_the_parents_connections_keep_working(keepalive: KeepAliveServer) -> None:
    client = fastrouter.Client(base_url=keepalive.base_url, api_key="test", timeout=5)
    stream = client.chat.completions.create(model=MODEL, messages=USER, stream=True, max_retries=0)
    assert next(iter(stream)).choices[0].delta.content == "first"
    assert ask(client) == "answer 2"  # a second connection, now idle in the pool
    streaming, idle = (client_socket_inode(c.sock) for c in keepalive.connections)
    child = Child(lambda: ask(client))
    try:
        assert holds(os.getpid(), streaming) and holds(os.getpid(), idle)
        assert not holds(child.pid, streaming) and not holds(child.pid, idle)
        # Closing the child's copies left the parent's epoll registrations alone.
        assert ask(client) == "answer 2"
    finally:
        assert child.finish() == "answer 3"
    assert ask(client) == "answer 2"
    stream.close()
    assert keepalive.connections[0].ended.wait(LIMIT)
    client.close()


def test_a_stream_open_at_fork_ends_for_the_server_when_the_parent_closes_it(keepalive: KeepAliveServer) -> None:
    client = fastrouter.Client(base_url=keepalive.base_url, api_key="test", timeout=5)
    stream = client.chat.completions.create(model=MODEL, messages=USER, stream=True, max_retries=0)
    first = next(iter(stream))
    assert first.choices[0].delta.content == "first"
    streaming = keepalive.connections[0]
    child = Child(lambda: ask(client))
    try:
        stream.close()  # its connection is closed, not pooled (the body did not end)
        assert streaming.ended.wait(LIMIT), "the server never saw the stream's connection close"
    finally:
        assert child.finish() == "answer 2"
    client.close()
