"""The header lines a plain-http request puts on the wire, read by a raw socket server (a
recorded request's headers are a dict, which would hide a repeated header): one ``Accept``
per request, and a ``Host`` the client was configured with kept."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator

import fastrouter
import pytest

MODEL = "openai/gpt-4o-mini"
MESSAGES = [{"role": "user", "content": "hi"}]

_ANSWER = json.dumps(
    {
        "id": "gen-1",
        "object": "chat.completion",
        "model": MODEL,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }
).encode()
_CHUNK = json.dumps(
    {
        "id": "gen-1",
        "object": "chat.completion.chunk",
        "model": MODEL,
        "choices": [{"index": 0, "delta": {"content": "hi"}, "finish_reason": "stop"}],
    }
).encode()


class RawServer:
    """Answers one request per connection (then closes it), keeping each request's header
    lines as sent."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.base_url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/api/v1"
        self.heads: list[list[str]] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                data = b""
                while b"\r\n\r\n" not in data:
                    data += conn.recv(65536)
                head, _, body = data.partition(b"\r\n\r\n")
                lines = head.decode().split("\r\n")[1:]
                length = next(int(line.split(":")[1]) for line in lines if line.lower().startswith("content-length:"))
                while len(body) < length:
                    body += conn.recv(65536)
                self.heads.append(lines)
                if json.loads(body).get("stream"):
                    payload = b"data: " + _CHUNK + b"\n\ndata: [DONE]\n\n"
                    kind = b"text/event-stream"
                else:
                    payload, kind = _ANSWER, b"application/json"
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\ncontent-type: " + kind + b"\r\nconnection: close\r\n"
                    b"content-length: " + str(len(payload)).encode() + b"\r\n\r\n" + payload
                )

    def values(self, name: str) -> list[str]:
        """The values of header ``name`` in the last request, one per line sent."""
        prefix = name.lower() + ":"
        return [line.split(":", 1)[1].strip() for line in self.heads[-1] if line.lower().startswith(prefix)]


@pytest.fixture
def raw() -> Iterator[RawServer]:
    server = RawServer()
    yield server
    server.sock.close()


def test_a_stream_asks_for_event_stream_alone(raw: RawServer) -> None:
    with fastrouter.Client(base_url=raw.base_url, api_key="k", max_retries=0) as client:
        with client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True) as stream:
            assert [chunk.choices[0].delta.content for chunk in stream] == ["hi"]
        assert raw.values("accept") == ["text/event-stream"]
        client.chat.completions.create(model=MODEL, messages=MESSAGES)
        assert raw.values("accept") == ["*/*"]


def test_a_configured_host_is_kept(raw: RawServer) -> None:
    with fastrouter.Client(
        base_url=raw.base_url, api_key="k", max_retries=0, default_headers={"Host": "router.internal"}
    ) as client:
        client.chat.completions.create(model=MODEL, messages=MESSAGES)
        assert raw.values("host") == ["router.internal"]
        with client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True) as stream:
            list(stream)
        assert raw.values("host") == ["router.internal"]
    with fastrouter.Client(base_url=raw.base_url, api_key="k", max_retries=0) as client:
        client.chat.completions.create(model=MODEL, messages=MESSAGES)
        assert raw.values("host") == [raw.base_url.split("/")[2]]
