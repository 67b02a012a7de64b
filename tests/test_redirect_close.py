"""A followed redirect whose connection cannot carry another request is not waited on:
its body ends only when the server closes, and the wait would count against the read timeout."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator

import fastrouter
import pytest
from raw_http import content_length

ANSWER = json.dumps(
    {
        "id": "g",
        "object": "chat.completion",
        "created": 1,
        "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
    }
).encode()
MESSAGES = [{"role": "user", "content": "hi"}]


def _read_request(conn: socket.socket) -> None:
    data = b""
    while b"\r\n\r\n" not in data:
        data += conn.recv(65536)
    head, _, rest = data.partition(b"\r\n\r\n")
    length = content_length(head)
    while len(rest) < length:
        rest += conn.recv(65536)


@pytest.fixture
def closing_redirect() -> Iterator[str]:
    """The first connection gets a 307 whose body ends only when the connection closes
    (`Connection: close`, no length) and is held open 3 s; later ones get the answer."""
    listener = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []

    def serve() -> None:
        first = True
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            _read_request(conn)
            if first:
                first = False
                conn.sendall(
                    b"HTTP/1.1 307 Temporary Redirect\r\nlocation: /v1/chat/completions\r\n"
                    b"connection: close\r\n\r\n<html>moved"
                )
                held.append(conn)  # never ends the body
                continue
            conn.sendall(
                b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: "
                + str(len(ANSWER)).encode()
                + b"\r\nconnection: close\r\n\r\n"
                + ANSWER
            )
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{listener.getsockname()[1]}"
    finally:
        listener.close()
        for conn in held:
            conn.close()


def _client(address: str, **options: object) -> fastrouter.Client:
    routing = fastrouter.Routing.from_dict({"backends": {"local": {"base_url": f"http://{address}/v1/moved"}}})
    return fastrouter.Client(
        api_key="sk-or-v1-unused", base_url="http://127.0.0.1:9/api/v1", routing=routing, max_retries=0, **options
    )


def test_a_close_delimited_redirect_is_followed_without_waiting_for_its_body(closing_redirect: str) -> None:
    with _client(closing_redirect) as client:
        started = time.monotonic()
        answer = client.chat.completions.create(model="local::m", messages=MESSAGES)
        elapsed = time.monotonic() - started
    assert answer.choices[0].message.content == "ok"
    assert elapsed < 0.2, elapsed  # its connection closes anyway: nothing to wait for


def test_a_short_read_timeout_still_follows_a_close_delimited_redirect(closing_redirect: str) -> None:
    with _client(closing_redirect, timeout=fastrouter.Timeout(read=0.2)) as client:
        answer = client.chat.completions.create(model="local::m", messages=MESSAGES)
    assert answer.choices[0].message.content == "ok"
