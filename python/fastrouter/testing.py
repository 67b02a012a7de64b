"""Offline testing: :class:`MockServer`, an OpenRouter look-alike bundled in the wheel.

The server is written in Rust and runs on the extension's own threads, so it answers even
while your test blocks in a sync call. It speaks OpenRouter's wire format (chat
completions, ``/models`` with a real 321-model catalog, ``/models/{id}/endpoints``,
``/generation``, ``/credits``, ``/key``), can be scripted per model, and records every
request it receives (with the API key redacted)::

    from fastrouter.testing import MockServer, Reply, Fail

    with MockServer() as server:
        server.script("openai/gpt-4o-mini", Fail(429, retry_after=1), Reply("hello"))
        client = fastrouter.Client(base_url=server.base_url, api_key="test")
        resp = client.chat.completions.create(model="openai/gpt-4o-mini", messages=[...])
        assert [r.path for r in server.requests] == ["/chat/completions"] * 2

Without a script the server answers every chat request with a short echo of the prompt.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from . import _fastrouter

if TYPE_CHECKING:
    from types import TracebackType

    from typing_extensions import Self

__all__ = [
    "MockServer",
    "Reply",
    "StreamScript",
    "ToolCall",
    "Fail",
    "Raw",
    "Drop",
    "Outcome",
    "RecordedRequest",
    "ANY_MODEL",
]

ANY_MODEL = "*"
"""Script outcomes under this name to apply them to any model without a script of its own."""


@dataclass(frozen=True)
class ToolCall:
    """A tool call in a scripted reply; ``arguments`` may be a dict (sent as JSON text)."""

    name: str
    arguments: str | Mapping[str, Any] = ""
    id: str | None = None

    def _wire(self) -> dict[str, Any]:
        args = self.arguments if isinstance(self.arguments, str) else json.dumps(self.arguments)
        return {"name": self.name, "arguments": args, "id": self.id}


@dataclass(frozen=True)
class StreamScript:
    """How a :class:`Reply` is streamed when the request has ``stream: true``.

    ``chunks`` splits the content into that many chunks (default: one per word);
    ``chunk_delay`` / ``first_chunk_delay`` pace them; ``keepalives`` sends that many
    ``: OPENROUTER PROCESSING`` comments first and ``keepalive_interval`` sends one that
    often while waiting; ``split_every`` writes the bytes in pieces of that size (awkward
    boundaries); ``crlf`` uses CRLF line ends. Faults after K content chunks:
    ``error_after`` (an in-band error chunk with ``error_status``/``error_message`` and
    usage), ``drop_after`` (the connection is cut), ``stall_after`` (only keep-alives
    from then on). ``usage_shape`` is ``"empty_choices"``, ``"empty_delta"``,
    ``"repeat_finish"`` or ``"none"``; ``done=False`` omits ``data: [DONE]``.
    ``tail_comments`` keep-alive comments follow the last event and the body ends
    ``tail_delay`` seconds later (bytes after ``[DONE]``, a late end of the body).
    """

    chunks: int | None = None
    chunk_delay: float = 0.0
    first_chunk_delay: float = 0.0
    keepalives: int = 0
    keepalive_interval: float = 0.0
    split_every: int | None = None
    crlf: bool = False
    error_after: int | None = None
    error_status: int | None = None
    error_message: str | None = None
    drop_after: int | None = None
    stall_after: int | None = None
    usage_shape: str = "empty_choices"
    done: bool = True
    tail_comments: int = 0
    tail_delay: float = 0.0

    def _wire(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


@dataclass(frozen=True)
class Reply:
    """A successful completion.

    ``content=None`` echoes the prompt. Token counts default to an estimate of the
    prompt and answer; ``cost`` defaults to the catalog price of the model
    (``omit_cost=True`` leaves ``usage.cost`` out, as older OpenRouter paths did).
    ``leading_whitespace`` sends OpenRouter's keep-alive padding before the JSON;
    ``stream`` says how the reply is streamed to a ``stream: true`` request.
    ``logprobs`` (per-token log probabilities, the last repeating) or ``confidence``
    (every token at that probability) script what a request with ``logprobs: true``
    gets back, for confidence checks such as a :class:`~fastrouter.Cascade`'s.
    """

    content: str | None = None
    reasoning: str | None = None
    tool_calls: Sequence[ToolCall] = ()
    finish_reason: str | None = None
    native_finish_reason: str | None = None
    model: str | None = None
    provider: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    reasoning_tokens: int | None = None
    cost: float | Decimal | None = None
    omit_cost: bool = False
    leading_whitespace: int = 0
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0
    extra: Mapping[str, Any] | None = None
    stream: StreamScript = field(default_factory=StreamScript)
    logprobs: Sequence[float] | None = None
    confidence: float | None = None

    def _scripted_logprobs(self) -> list[float] | None:
        if self.confidence is not None:
            if self.logprobs is not None:
                raise ValueError("Reply takes logprobs or confidence, not both")
            if not 0.0 < self.confidence <= 1.0:
                raise ValueError(f"Reply.confidence must be a probability in (0, 1], got {self.confidence!r}")
            return [math.log(self.confidence)]
        if self.logprobs is None:
            return None
        values = [float(v) for v in self.logprobs]
        if not values or any(v > 0 or not math.isfinite(v) for v in values):
            raise ValueError(f"Reply.logprobs must be non-empty log probabilities (<= 0), got {self.logprobs!r}")
        return values

    def _wire(self) -> dict[str, Any]:
        return {
            "kind": "reply",
            "logprobs": self._scripted_logprobs(),
            "stream": self.stream._wire(),
            "content": self.content,
            "reasoning": self.reasoning,
            "tool_calls": [call._wire() for call in self.tool_calls],
            "finish_reason": self.finish_reason,
            "native_finish_reason": self.native_finish_reason,
            "model": self.model,
            "provider": self.provider,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "reasoning_tokens": self.reasoning_tokens,
            "cost": float(self.cost) if self.cost is not None else None,
            "omit_cost": self.omit_cost,
            "leading_whitespace": self.leading_whitespace,
            "headers": dict(self.headers),
            "delay": self.delay,
            "extra": dict(self.extra) if self.extra is not None else None,
        }


@dataclass(frozen=True)
class Fail:
    """An OpenRouter error: ``{"error": {"code", "message", "metadata"}}`` with ``status``.

    ``retry_after`` sets the ``Retry-After`` header (seconds); ``in_body=True`` sends the
    error object inside a 200 response, as OpenRouter does once it has committed the status.
    """

    status: int
    message: str | None = None
    code: Any = None
    metadata: Mapping[str, Any] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    retry_after: float | None = None
    in_body: bool = False
    delay: float = 0.0

    def _wire(self) -> dict[str, Any]:
        headers = dict(self.headers)
        if self.retry_after is not None:
            headers["Retry-After"] = f"{self.retry_after:g}"
        return {
            "kind": "error",
            "status": self.status,
            "message": self.message,
            "code": self.code,
            "metadata": dict(self.metadata) if self.metadata is not None else None,
            "headers": headers,
            "in_body": self.in_body,
            "delay": self.delay,
        }


@dataclass(frozen=True)
class Raw:
    """Exactly this body (text, or bytes such as gzip or invalid UTF-8), status and
    headers: recorded fixtures, broken proxies."""

    body: str | bytes
    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0

    def _wire(self) -> dict[str, Any]:
        wire: dict[str, Any] = {
            "kind": "raw",
            "status": self.status,
            "headers": dict(self.headers),
            "delay": self.delay,
        }
        if isinstance(self.body, bytes):
            wire["body_bytes"] = list(self.body)
        else:
            wire["body"] = self.body
        return wire


@dataclass(frozen=True)
class Drop:
    """Close the connection without answering (after ``delay`` seconds)."""

    delay: float = 0.0

    def _wire(self) -> dict[str, Any]:
        return {"kind": "drop", "delay": self.delay}


Outcome = Reply | Fail | Raw | Drop


@dataclass(frozen=True)
class RecordedRequest:
    """A request the mock received. ``headers`` has lower-case names and the
    ``authorization`` value replaced by ``Bearer <redacted>``; ``body`` is the decoded
    JSON (or the raw text when it was not JSON, or ``None`` when empty); ``http_version``
    is how it arrived (``"HTTP/1.1"``, or ``"HTTP/2"`` over TLS when ALPN chose h2)."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    http_version: str = "HTTP/1.1"

    @property
    def model(self) -> str | None:
        """The ``model`` of a chat request body, if any."""
        return self.body.get("model") if isinstance(self.body, dict) else None


class MockServer:
    """An OpenRouter look-alike HTTP server on loopback (see the module docs).

    Use it as a context manager (sync or async) or call :meth:`start` / :meth:`stop`.
    ``api_key`` makes the server accept only that key; ``catalog`` replaces the bundled
    321-model catalog (a list of model dicts or a ``{"data": [...]}`` payload).

    ``tls=True`` serves HTTPS, offering HTTP/2 and HTTP/1.1 by ALPN, with a certificate
    signed by a CA generated at start: trust it with ``ca_bundle=server.ca_path`` (or
    ``server.ca_pem``). ``cert="expired"`` or ``cert="wrong-host"`` presents a faulty
    certificate instead, to test how clients fail.

    ``flavor="openai"`` makes it a plain OpenAI-compatible server instead (a second
    backend in tests): errors as ``{"error": {"message", "type", "param", "code"}}`` with
    ``Fail(code="model_not_found")`` as a string code, and usage without ``cost``.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        api_key: str | None = None,
        catalog: Sequence[Mapping[str, Any]] | Mapping[str, Any] | None = None,
        total_credits: float = 100.0,
        tls: bool = False,
        cert: str = "valid",
        flavor: str = "openrouter",
    ) -> None:
        if cert != "valid" and not tls:
            raise ValueError("cert= needs tls=True")
        self._config: dict[str, Any] = {
            "flavor": flavor,
            "host": host,
            "port": port,
            "api_key": api_key,
            "catalog_json": json.dumps(catalog) if catalog is not None else None,
            "total_credits": float(total_credits),
            "tls": cert if tls else None,
        }
        self._native: _fastrouter.NativeMockServer | None = None
        self._ca_path: str | None = None

    # lifecycle -----------------------------------------------------------------
    def start(self) -> MockServer:
        """Bind and start serving (idempotent); returns ``self``."""
        if self._native is None:
            self._native = _fastrouter.NativeMockServer(**self._config)
            ca_pem = self._native.ca_pem
            if ca_pem is not None:
                fd, self._ca_path = tempfile.mkstemp(prefix="fastrouter-mock-ca-", suffix=".pem")
                with os.fdopen(fd, "w") as file:
                    file.write(ca_pem)
        return self

    def stop(self) -> None:
        """Stop serving and close every open connection."""
        if self._native is not None:
            self._native.stop()
            self._native = None
        if self._ca_path is not None:
            os.unlink(self._ca_path)
            self._ca_path = None

    def serve_forever(self) -> None:
        """Serve until interrupted (Ctrl-C); used by ``fastrouter mock``."""
        self.start()
        try:
            # Short sleeps: Ctrl-C may be delivered to one of the extension's I/O threads,
            # and only a main thread that wakes up gets to run Python's handler.
            while True:
                time.sleep(0.2)
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    async def __aenter__(self) -> Self:
        return self.__enter__()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def _server(self) -> _fastrouter.NativeMockServer:
        if self._native is None:
            raise RuntimeError("the MockServer is not running: use `with MockServer() as server:` or .start()")
        return self._native

    # addresses -----------------------------------------------------------------
    @property
    def host(self) -> str:
        """The address it listens on."""
        return self._server.host

    @property
    def port(self) -> int:
        """The TCP port (chosen by the OS when ``port=0``)."""
        return self._server.port

    @property
    def url(self) -> str:
        """``http://host:port`` or ``https://host:port`` (no API prefix)."""
        host = self.host
        scheme = "https" if self._config["tls"] is not None else "http"
        return f"{scheme}://[{host}]:{self.port}" if ":" in host else f"{scheme}://{host}:{self.port}"

    @property
    def base_url(self) -> str:
        """What clients use as ``base_url``: the URL plus OpenRouter's ``/api/v1``."""
        return f"{self.url}/api/v1"

    @property
    def ca_pem(self) -> str | None:
        """With ``tls=True``: the CA certificate (PEM text) that signed the server's one."""
        return self._server.ca_pem

    @property
    def ca_path(self) -> str | None:
        """With ``tls=True``: a file holding :attr:`ca_pem` (removed by :meth:`stop`)."""
        if self._native is None:
            _ = self._server  # raises the "not running" error
        return self._ca_path

    # scripting -----------------------------------------------------------------
    def script(self, model: str, *outcomes: Outcome) -> None:
        """Queue outcomes for ``model`` (``ANY_MODEL`` for any); each chat request for
        that model takes the next one. Requests for a catalog model or a model scripted
        since the last ``reset()`` with nothing left to play get an echo reply; any other
        model id gets OpenRouter's 400 "not a valid model ID" (see :meth:`add_models`)."""
        if not outcomes:
            raise ValueError("script() needs at least one outcome")
        for outcome in outcomes:
            if not isinstance(outcome, (Reply, Fail, Raw, Drop)):
                raise TypeError(f"not an outcome: {outcome!r} (use Reply, Fail, Raw or Drop)")
        self._server.push(model, json.dumps([outcome._wire() for outcome in outcomes]))

    def add_models(self, *models: str) -> None:
        """Serve these model ids (echo replies) besides the catalog's, until ``reset()``.
        ``add_models(ANY_MODEL)`` accepts every model id, as the mock did before it
        answered unknown ids with 400."""
        for model in models:
            self._server.push(model, "[]")

    def pending(self) -> dict[str, int]:
        """Scripted outcomes not yet used, per model."""
        return self._server.pending()

    def reset(self) -> None:
        """Forget recorded requests, scripted outcomes, added models and the stored
        generations (their memory is freed)."""
        self._server.reset()

    # observation ---------------------------------------------------------------
    @property
    def requests(self) -> list[RecordedRequest]:
        """The requests received so far, oldest first (the most recent 10,000: a
        long-running server keeps no more)."""
        raw = json.loads(self._server.requests_json())
        return [
            RecordedRequest(
                method=r["method"],
                path=r["path"],
                headers=dict(r["headers"]),
                body=r["body"],
                http_version=r["http_version"],
            )
            for r in raw
        ]

    def chat_requests(self, model: str | None = None) -> list[RecordedRequest]:
        """The chat completion requests received, optionally only those for ``model``."""
        return [
            r for r in self.requests if r.path.startswith("/chat/completions") and (model is None or r.model == model)
        ]

    @property
    def connections(self) -> tuple[int, int]:
        """``(opened, closed)`` TCP connections so far (keep-alive shows as reuse, HTTP/2
        multiplexing as many requests over one)."""
        return self._server.connections()

    def __repr__(self) -> str:
        if self._native is None:
            return "MockServer(stopped)"
        return f"MockServer(base_url={self.base_url!r})"
