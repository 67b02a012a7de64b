"""HTTPS end to end against the mock's TLS side: HTTP/2 by ALPN, multiplexing, connection
reuse, trusting a CA (``ca_bundle=``, ``SSL_CERT_FILE``) and the certificate errors."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import fastrouter
import pytest
from fastrouter import APIConnectionError
from fastrouter.testing import MockServer, Raw, Reply, StreamScript

MODEL = "openai/gpt-4o-mini"
MESSAGES = [{"role": "user", "content": "hi"}]
# What a message must never show: raw library wording instead of a cause and a fix.
RAW_WORDS = ("rustls", "hyper", "reqwest", "error sending request", "InvalidCertificate")


@pytest.fixture
def tls_server() -> Iterator[MockServer]:
    with MockServer(tls=True) as server:
        yield server


def client(server: MockServer, **options: object) -> fastrouter.Client:
    return fastrouter.Client(base_url=server.base_url, api_key="test", **options)  # type: ignore[arg-type]


def connection_error(server: MockServer, **options: object) -> str:
    with pytest.raises(APIConnectionError) as info:
        client(server, max_retries=0, **options).chat.completions.create(model=MODEL, messages=MESSAGES)
    message = str(info.value)
    assert not any(word in message for word in RAW_WORDS), message
    return message


def test_the_mock_serves_https_with_its_own_ca(tls_server: MockServer) -> None:
    assert tls_server.base_url.startswith("https://127.0.0.1:")
    assert tls_server.ca_pem is not None and tls_server.ca_pem.startswith("-----BEGIN CERTIFICATE-----")
    assert tls_server.ca_path is not None
    with open(tls_server.ca_path) as file:
        assert file.read() == tls_server.ca_pem


def test_h2_is_negotiated_and_used(tls_server: MockServer) -> None:
    resp = client(tls_server, ca_bundle=tls_server.ca_path).chat.completions.create(model=MODEL, messages=MESSAGES)
    assert resp.attempts[-1].http_version == "HTTP/2"
    assert tls_server.requests[-1].http_version == "HTTP/2"


def test_ca_bundle_accepts_pem_text(tls_server: MockServer) -> None:
    resp = client(tls_server, ca_bundle=tls_server.ca_pem).chat.completions.create(model=MODEL, messages=MESSAGES)
    assert resp.choices[0].message.content


def test_ssl_cert_file_is_honoured(tls_server: MockServer, monkeypatch: pytest.MonkeyPatch) -> None:
    assert tls_server.ca_path is not None
    monkeypatch.setenv("SSL_CERT_FILE", tls_server.ca_path)
    resp = client(tls_server).chat.completions.create(model=MODEL, messages=MESSAGES)
    assert resp.attempts[-1].http_version == "HTTP/2"


def test_the_trust_store_is_read_by_the_first_handshake_not_the_constructor(
    tls_server: MockServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # An empty store: building a client (and plain HTTP) still works; TLS names the fix.
    empty = tmp_path / "empty.pem"
    empty.write_text("")
    monkeypatch.setenv("SSL_CERT_FILE", str(empty))
    monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path))
    with MockServer() as plain:
        assert client(plain).chat.completions.create(model=MODEL, messages=MESSAGES).choices[0].message.content
    message = connection_error(tls_server)
    assert message.startswith("no trusted CA certificates"), message
    assert "ca_bundle=" in message and "SSL_CERT_FILE" in message
    resp = client(tls_server, ca_bundle=tls_server.ca_path).chat.completions.create(model=MODEL, messages=MESSAGES)
    assert resp.choices[0].message.content


def test_http2_false_keeps_to_http11(tls_server: MockServer) -> None:
    resp = client(tls_server, ca_bundle=tls_server.ca_path, http2=False).chat.completions.create(
        model=MODEL, messages=MESSAGES
    )
    assert resp.attempts[-1].http_version == "HTTP/1.1"
    assert tls_server.requests[-1].http_version == "HTTP/1.1"


def test_http2_true_forces_h2(tls_server: MockServer) -> None:
    resp = client(tls_server, ca_bundle=tls_server.ca_path, http2=True).chat.completions.create(
        model=MODEL, messages=MESSAGES
    )
    assert resp.attempts[-1].http_version == "HTTP/2"


def test_http2_only_against_a_plain_http11_server() -> None:
    with MockServer() as server:
        message = connection_error(server, http2=True)
    assert "refused HTTP/2 without TLS" in message and "http2=None" in message


def test_plain_http_reports_http11() -> None:
    with MockServer() as server:
        resp = client(server).chat.completions.create(model=MODEL, messages=MESSAGES)
    assert resp.attempts[-1].http_version == "HTTP/1.1"


@pytest.mark.parametrize("http2", [None, True])
async def test_200_concurrent_streams_share_one_connection(tls_server: MockServer, http2: object) -> None:
    tls_server.script("*", *[Reply("one two three four", stream=StreamScript(chunk_delay=0.05)) for _ in range(201)])
    async with fastrouter.AsyncClient(
        base_url=tls_server.base_url, api_key="test", ca_bundle=tls_server.ca_path, http2=http2
    ) as aclient:
        # A cold burst may race a second connection open before the first one's handshake
        # is done (the pool cannot know yet that it will multiplex): open one first.
        await aclient.chat.completions.create(model=MODEL, messages=MESSAGES)
        opened = 0
        all_open = asyncio.Event()

        async def one() -> str:
            nonlocal opened
            stream = await aclient.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
            opened += 1
            if opened == 200:
                all_open.set()
            # Read on only once all 200 streams are open at the same time.
            await asyncio.wait_for(all_open.wait(), 30)
            return "".join([chunk.choices[0].delta.content or "" async for chunk in stream if chunk.choices])

        texts = await asyncio.gather(*[one() for _ in range(200)])
    assert all(text == "one two three four" for text in texts)
    assert tls_server.connections[0] == 1
    assert {r.http_version for r in tls_server.chat_requests()} == {"HTTP/2"}


async def test_many_unread_small_chunks_do_not_kill_the_connection(tls_server: MockServer) -> None:
    # 200 streams of small SSE events left unread for a while: h2 counts buffered small
    # DATA frames against a budget tied to the connection window, and a too-small window
    # makes it answer GOAWAY (ENHANCE_YOUR_CALM), failing every stream on the connection.
    words = " ".join(f"w{i}" for i in range(40))
    tls_server.script("*", *[Reply(words, stream=StreamScript(split_every=64)) for _ in range(201)])
    async with fastrouter.AsyncClient(
        base_url=tls_server.base_url, api_key="test", ca_bundle=tls_server.ca_path, http2=True, max_retries=0
    ) as aclient:
        # One request first: a cold burst can open a second connection before the first
        # handshake finishes (hyper's pool), which is not what this test is about.
        await aclient.chat.completions.create(model=MODEL, messages=MESSAGES)
        streams = await asyncio.gather(
            *[aclient.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True) for _ in range(200)]
        )
        await asyncio.sleep(0.5)
        for stream in streams:
            text = "".join([chunk.choices[0].delta.content or "" async for chunk in stream if chunk.choices])
            assert text == words
    assert tls_server.connections[0] == 1


@pytest.mark.parametrize("http2", [None, False])
def test_connection_is_reused_after_a_stream(tls_server: MockServer, http2: object) -> None:
    sync = client(tls_server, ca_bundle=tls_server.ca_path, http2=http2)
    for _ in range(3):
        stream = sync.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
        assert "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
        # An HTTP/1.1 connection goes back to the pool a moment after its body ends (hyper
        # waits for the connection task to be ready again); a request sent within that
        # moment opens another one. The pause tests reuse, not that race (nothing shows the
        # connection back in the pool: 0.2 s, as 50 ms could pass before tokio ran on a
        # loaded machine).
        time.sleep(0.2)
        sync.chat.completions.create(model=MODEL, messages=MESSAGES)
        time.sleep(0.2)
    assert tls_server.connections[0] == 1
    expected = "HTTP/1.1" if http2 is False else "HTTP/2"
    assert {r.http_version for r in tls_server.chat_requests()} == {expected}


@pytest.mark.parametrize("http2", [None, False])
def test_a_redirect_is_followed_on_the_same_connection(tls_server: MockServer, http2: object) -> None:
    """A same-origin 307 over HTTPS is followed as over plain http (one rule for both), and
    its body is read first, even one too long to arrive with its head (60 KB), so the
    follow-up is sent on the same connection instead of a new one."""
    sync = client(tls_server, ca_bundle=tls_server.ca_path, http2=http2, max_retries=0)
    moved = Raw(body="x" * 60_000, status=307, headers={"Location": "/api/v1/chat/completions"})
    for _ in range(3):
        tls_server.script(MODEL, moved)
        assert sync.chat.completions.create(model=MODEL, messages=MESSAGES).choices[0].message.content
        time.sleep(0.2)  # as in test_connection_is_reused_after_a_stream
    assert tls_server.connections[0] == 1
    assert len(tls_server.chat_requests()) == 6


def test_a_redirect_to_another_origin_is_not_followed(tls_server: MockServer) -> None:
    tls_server.script(MODEL, Raw(body="", status=307, headers={"Location": "https://example.invalid/api/v1/x"}))
    with pytest.raises(fastrouter.APIStatusError) as info:
        client(tls_server, ca_bundle=tls_server.ca_path, max_retries=0).chat.completions.create(
            model=MODEL, messages=MESSAGES
        )
    assert info.value.status_code == 307
    assert "not followed" in str(info.value)
    assert len(tls_server.chat_requests()) == 1


def test_unknown_ca_names_the_fix(tls_server: MockServer) -> None:
    message = connection_error(tls_server)
    assert message.startswith("certificate not trusted")
    assert "ca_bundle=" in message and "SSL_CERT_FILE" in message


def test_expired_certificate() -> None:
    with MockServer(tls=True, cert="expired") as server:
        message = connection_error(server, ca_bundle=server.ca_path)
    assert message.startswith("certificate expired")


def test_wrong_host_certificate() -> None:
    with MockServer(tls=True, cert="wrong-host") as server:
        message = connection_error(server, ca_bundle=server.ca_path)
    assert message.startswith("certificate is for another host")
    assert "127.0.0.1" in message


def test_http_url_to_a_tls_server(tls_server: MockServer) -> None:
    with pytest.raises(APIConnectionError) as info:
        fastrouter.Client(
            base_url=tls_server.base_url.replace("https://", "http://"), api_key="test", max_retries=0
        ).chat.completions.create(model=MODEL, messages=MESSAGES)
    assert "use https://" in str(info.value)


def test_https_url_to_a_plain_server() -> None:
    with MockServer() as server:
        with pytest.raises(APIConnectionError) as info:
            fastrouter.Client(
                base_url=server.base_url.replace("http://", "https://"), api_key="test", max_retries=0
            ).chat.completions.create(model=MODEL, messages=MESSAGES)
    assert "does not speak TLS" in str(info.value) and "use http://" in str(info.value)


async def test_async_client_errors_the_same_way(tls_server: MockServer) -> None:
    async with fastrouter.AsyncClient(base_url=tls_server.base_url, api_key="test", max_retries=0) as aclient:
        with pytest.raises(APIConnectionError, match="^certificate not trusted"):
            await aclient.chat.completions.create(model=MODEL, messages=MESSAGES)
        with pytest.raises(APIConnectionError, match="^certificate not trusted"):
            await aclient.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)


def test_bad_ca_bundle_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="ca_bundle: cannot read"):
        fastrouter.Client(base_url="https://127.0.0.1:1/api/v1", api_key="k", ca_bundle="/nonexistent/ca.pem")
    with pytest.raises(ValueError, match="ca_bundle: not a valid PEM"):
        fastrouter.Client(base_url="https://127.0.0.1:1/api/v1", api_key="k", ca_bundle="-----BEGIN nothing")


def test_mock_cert_needs_tls() -> None:
    with pytest.raises(ValueError, match="cert= needs tls=True"):
        MockServer(cert="expired")


def test_certificate_errors_are_not_retried_nor_failed_over(tls_server: MockServer) -> None:
    # Another try, or another model on the same host, would meet the same certificate.
    sync = fastrouter.Client(base_url=tls_server.base_url, api_key="test")
    with pytest.raises(APIConnectionError) as info:
        sync.chat.completions.create(model=[MODEL, "anthropic/claude-3.5-haiku"], messages=MESSAGES)
    assert info.value.kind == "connection_setup"
    assert [a.error_kind for a in info.value.attempts] == ["connection_setup"]
    assert sync.health() == {}  # the model is not blamed: the setup is


def test_mock_command_with_tls() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "fastrouter.cli", "mock", "--port", "0", "--tls"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first, second = proc.stdout.readline(), proc.stdout.readline()
        url = re.search(r"(https://127\.0\.0\.1:\d+/api/v1)", first)
        ca = re.search(r"CA certificate: (\S+\.pem)", second)
        assert url and ca, (first, second)
        with fastrouter.Client(base_url=url.group(1), api_key="k", ca_bundle=ca.group(1)) as sync:
            resp = sync.chat.completions.create(model=MODEL, messages=MESSAGES)
        assert resp.attempts[-1].http_version == "HTTP/2"
        proc.send_signal(signal.SIGINT)  # Ctrl-C: stops and removes the CA file
        proc.communicate(timeout=10)
        assert not os.path.exists(ca.group(1))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)
