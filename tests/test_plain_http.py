"""The plain-http chat path (its own pooled HTTP/1.1 connections, ``src/plain_http.rs``) against a bare
local HTTP server: a base URL's ``user:password@`` is sent as basic auth (and shown
nowhere), and the read timeout covers the response's headers across redirects."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any

import fastrouter
import pytest
from bare_http import BareHTTPServer, serving

ANSWER = {
    "id": "gen-plain-1",
    "object": "chat.completion",
    "created": 1,
    "model": "m",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
}
MESSAGES = [{"role": "user", "content": "hi"}]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen: list[dict[str, str]]
    ports: list[int]  # the client's port of each POST: which connection it came on
    redirect_delay = 0.0

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        self.seen.append({name.lower(): value for name, value in self.headers.items()})
        self.ports.append(self.client_address[1])
        if self.path.endswith("/movedwithbody/chat/completions"):
            page = b"<html><body>Moved to <a href='...'>here</a>.</body></html>" * 20
            self._send(307, page, {"location": self.path.replace("/movedwithbody", "")})
            return
        if self.path.endswith("/moved/chat/completions"):
            time.sleep(self.redirect_delay)
            self._send(307, b"", {"location": self.path.replace("/moved", "")})
            return
        if self.path.endswith("/seeother/chat/completions"):
            self._send(303, b"", {"location": self.path.replace("/seeother", "")})
            return
        time.sleep(self.redirect_delay)
        self._send(200, json.dumps(ANSWER).encode(), {"content-type": "application/json"})

    def do_GET(self) -> None:
        self.seen.append({name.lower(): value for name, value in self.headers.items()})
        self._send(200, json.dumps(ANSWER).encode(), {"content-type": "application/json"})

    def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[tuple[str, type[_Handler]]]:
    handler = type("Handler", (_Handler,), {"seen": [], "ports": []})
    with serving(BareHTTPServer(("127.0.0.1", 0), handler)) as httpd:
        yield f"127.0.0.1:{httpd.server_address[1]}", handler


def _client(backend_url: str, **options: Any) -> fastrouter.Client:
    routing = fastrouter.Routing.from_dict({"backends": {"local": {"base_url": backend_url}}})
    return fastrouter.Client(
        api_key="sk-or-v1-unused", base_url="http://127.0.0.1:9/api/v1", routing=routing, **options
    )


def test_credentials_in_a_backends_url_are_sent_as_basic_auth_and_shown_nowhere(
    server: tuple[str, type[_Handler]],
) -> None:
    address, handler = server
    with _client(f"http://us%40er:p%3Ass@{address}/v1") as client:
        answer = client.chat.completions.create(model="local::m", messages=MESSAGES)
        assert answer.choices[0].message.content == "ok"
        assert "p:ss" not in repr(client) and "p%3Ass" not in repr(client)
    # What reqwest sent for a URL's credentials: percent-decoded, `user:password`, base64.
    assert handler.seen[-1]["authorization"] == "Basic dXNAZXI6cDpzcw=="


def test_a_backend_url_without_credentials_sends_no_authorization(server: tuple[str, type[_Handler]]) -> None:
    address, handler = server
    with _client(f"http://{address}/v1") as client:
        client.chat.completions.create(model="local::m", messages=MESSAGES)
    assert "authorization" not in handler.seen[-1]


def test_the_read_timeout_covers_the_headers_across_a_redirect(server: tuple[str, type[_Handler]]) -> None:
    address, handler = server
    handler.redirect_delay = 1.2  # each hop alone is within the limit, the two are not
    with _client(f"http://{address}/v1/moved", timeout=fastrouter.Timeout(read=1.5), max_retries=0) as client:
        started = time.monotonic()
        with pytest.raises(fastrouter.APITimeoutError):
            client.chat.completions.create(model="local::m", messages=MESSAGES)
        assert time.monotonic() - started < 2.3  # the answer would come at 2.4 s
    assert len(handler.seen) == 2  # the redirect was followed: the limit ran out on its way


def test_a_redirect_within_the_read_timeout_is_followed(server: tuple[str, type[_Handler]]) -> None:
    address, handler = server
    handler.redirect_delay = 0.05
    with _client(f"http://{address}/v1/moved", timeout=fastrouter.Timeout(read=2.0)) as client:
        answer = client.chat.completions.create(model="local::m", messages=MESSAGES)
    assert answer.choices[0].message.content == "ok"
    assert len(handler.seen) == 2


def test_a_redirects_body_is_read_so_the_followup_reuses_its_connection(
    server: tuple[str, type[_Handler]],
) -> None:
    """A redirect with a body (a server's HTML page) is read to its end before the next
    request goes out, so its connection goes back to the pool and carries that request,
    as it does after a body-less redirect, instead of a second connection being opened."""
    address, handler = server
    with _client(f"http://{address}/v1/movedwithbody") as client:
        for _ in range(2):
            answer = client.chat.completions.create(model="local::m", messages=MESSAGES)
            assert answer.choices[0].message.content == "ok"
    assert len(handler.ports) == 4
    assert len(set(handler.ports)) == 1, handler.ports


def test_a_see_other_redirect_is_a_get_without_the_posts_body_headers(server: tuple[str, type[_Handler]]) -> None:
    address, handler = server
    with _client(f"http://{address}/v1/seeother") as client:
        answer = client.chat.completions.create(model="local::m", messages=MESSAGES)
    assert answer.choices[0].message.content == "ok"
    post, get = handler.seen
    assert post["content-type"] == "application/json" and int(post["content-length"]) > 0
    # As reqwest's redirect policy does on a method change: the body's headers go with the body.
    assert "content-type" not in get and "content-length" not in get


def test_a_server_answering_in_tls_is_named_as_such() -> None:
    """A plain-http target answering in something else than HTTP (here a TLS alert, as an
    https-only server sends) is a setup error that names the fix, not the parser's words."""
    import socket

    listener = socket.create_server(("127.0.0.1", 0))

    def answer_in_tls() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                conn.recv(65536)
                conn.sendall(b"\x15\x03\x01\x00\x02\x02\x46")

    threading.Thread(target=answer_in_tls, daemon=True).start()
    try:
        with _client(f"http://127.0.0.1:{listener.getsockname()[1]}/v1", max_retries=0) as client:
            with pytest.raises(fastrouter.APIConnectionError, match="did not answer in HTTP"):
                client.chat.completions.create(model="local::m", messages=MESSAGES)
    finally:
        listener.close()
