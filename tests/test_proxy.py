"""Requests through a real HTTP CONNECT proxy (proxy.py from PyPI, started here on a free
loopback port): explicit ``proxy=``, ``HTTPS_PROXY`` from the environment, credentials in
the proxy URL, ``NO_PROXY`` bypassing it, and the errors when the proxy is down, wants
credentials or refuses the tunnel."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import fastrouter
import pytest
from fastrouter import APIConnectionError
from fastrouter.testing import MockServer

MODEL = "openai/gpt-4o-mini"
MESSAGES = [{"role": "user", "content": "hi"}]


class Proxy(NamedTuple):
    url: str
    log: Path

    def saw(self, needle: str) -> bool:
        """Whether the proxy's access log mentions ``needle`` (it writes lines lazily)."""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if needle in self.log.read_text(errors="replace"):
                return True
            time.sleep(0.05)
        return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _listening(process: subprocess.Popen[bytes], port: int) -> bool:
    """Whether ``process`` accepts connections on ``port`` (False once it exited)."""
    deadline = time.monotonic() + 30
    while process.poll() is None:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1.0).close()
            return True
        except OSError:
            if time.monotonic() > deadline:
                process.kill()
                process.wait()
                return False
            time.sleep(0.1)
    return False


def start_proxy(log: Path, *extra: str) -> Iterator[Proxy]:
    # The free port is closed before proxy.py binds it: something else may take it in
    # between (proxy.py then exits), so a few ports are tried.
    for _ in range(3):
        port = free_port()
        command = [sys.executable, "-m", "proxy", "--hostname", "127.0.0.1", "--port", str(port)]
        command += ["--num-workers", "1", "--num-acceptors", "1", *extra]
        with log.open("w") as out:
            process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        if _listening(process, port):
            break
    else:
        raise RuntimeError(f"proxy.py did not start: {log.read_text()}")
    try:
        yield Proxy(f"http://127.0.0.1:{port}", log)
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(scope="module")
def open_proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxy]:
    yield from start_proxy(tmp_path_factory.mktemp("proxy") / "open.log")


@pytest.fixture(scope="module")
def auth_proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxy]:
    yield from start_proxy(tmp_path_factory.mktemp("proxy") / "auth.log", "--basic-auth", "alice:s3cret")


@pytest.fixture
def tls_server() -> Iterator[MockServer]:
    with MockServer(tls=True) as server:
        yield server


@pytest.fixture(autouse=True)
def clean_proxy_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)


def ask(server: MockServer, **options: object) -> fastrouter.ChatCompletion:
    # Closing the client closes its connections: proxy.py logs a tunnel when it ends.
    with fastrouter.Client(
        base_url=server.base_url,
        api_key="test",
        ca_bundle=server.ca_path,
        max_retries=0,
        **options,  # type: ignore[arg-type]
    ) as client:
        return client.chat.completions.create(model=MODEL, messages=MESSAGES)


def test_request_through_the_proxy(open_proxy: Proxy, tls_server: MockServer) -> None:
    resp = ask(tls_server, proxy=open_proxy.url)
    assert resp.choices[0].message.content
    # HTTP/2 is negotiated end to end inside the CONNECT tunnel.
    assert resp.attempts[-1].http_version == "HTTP/2"
    assert open_proxy.saw(f"CONNECT 127.0.0.1:{tls_server.port}")


def test_https_proxy_from_the_environment(
    open_proxy: Proxy, tls_server: MockServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", open_proxy.url)
    resp = ask(tls_server)
    assert resp.choices[0].message.content
    assert open_proxy.saw(f"CONNECT 127.0.0.1:{tls_server.port}")


def test_plain_http_through_the_proxy(open_proxy: Proxy) -> None:
    with MockServer() as server:
        resp = ask(server, proxy=open_proxy.url)
        assert resp.attempts[-1].http_version == "HTTP/1.1"
        # A forward proxy sends the request on itself: the mock sees it arrive.
        assert server.chat_requests()
        assert open_proxy.saw(f"POST 127.0.0.1:{server.port}/api/v1/chat/completions")


def test_credentials_in_the_proxy_url(auth_proxy: Proxy, tls_server: MockServer) -> None:
    with_credentials = auth_proxy.url.replace("http://", "http://alice:s3cret@")
    resp = ask(tls_server, proxy=with_credentials)
    assert resp.choices[0].message.content
    assert auth_proxy.saw(f"CONNECT 127.0.0.1:{tls_server.port}")


def test_credentials_from_the_environment(
    auth_proxy: Proxy, tls_server: MockServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", auth_proxy.url.replace("http://", "http://alice:s3cret@"))
    assert ask(tls_server).choices[0].message.content


def test_proxy_wanting_credentials(auth_proxy: Proxy, tls_server: MockServer) -> None:
    with pytest.raises(APIConnectionError) as info:
        ask(tls_server, proxy=auth_proxy.url)
    message = str(info.value)
    assert message.startswith("proxy authentication required (407)")
    assert "http://user:password@host:port" in message


def test_proxy_rejecting_credentials(auth_proxy: Proxy, tls_server: MockServer) -> None:
    with pytest.raises(APIConnectionError) as info:
        ask(tls_server, proxy=auth_proxy.url.replace("http://", "http://alice:wrong@"))
    assert "rejected" in str(info.value)
    assert "wrong" not in str(info.value)


def test_plain_http_proxy_wanting_credentials(auth_proxy: Proxy) -> None:
    with MockServer() as server, pytest.raises(APIConnectionError, match=r"^proxy authentication required"):
        ask(server, proxy=auth_proxy.url)


def test_proxy_down(tls_server: MockServer, monkeypatch: pytest.MonkeyPatch) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(APIConnectionError) as info:
        ask(tls_server, proxy=dead)
    assert str(info.value).startswith(f"could not connect to the proxy {dead} (from proxy=)")
    monkeypatch.setenv("HTTPS_PROXY", dead)
    with pytest.raises(APIConnectionError, match="from HTTPS_PROXY"):
        ask(tls_server)


def test_no_proxy_bypasses_it(tls_server: MockServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{free_port()}")  # nobody listens
    monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.1")
    assert ask(tls_server).choices[0].message.content
    # NO_PROXY applies to an explicit proxy= too (curl's rule).
    assert ask(tls_server, proxy=f"http://127.0.0.1:{free_port()}").choices[0].message.content


def test_proxy_refusing_the_tunnel(open_proxy: Proxy) -> None:
    # Nothing listens behind the proxy: it answers the CONNECT with 502.
    base_url = f"https://127.0.0.1:{free_port()}/api/v1"
    client = fastrouter.Client(base_url=base_url, api_key="test", proxy=open_proxy.url, max_retries=0)
    with pytest.raises(APIConnectionError, match=r"refused to open a tunnel \(CONNECT\) to 127\.0\.0\.1"):
        client.chat.completions.create(model=MODEL, messages=MESSAGES)


def test_unsupported_proxy_scheme() -> None:
    with pytest.raises(ValueError, match="not supported"):
        fastrouter.Client(base_url="https://127.0.0.1:1/api/v1", api_key="k", proxy="socks5://127.0.0.1:1080")
