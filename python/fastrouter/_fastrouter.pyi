"""Stubs for the private Rust extension ``fastrouter._fastrouter``.

Users never import this module; the typed facade (``fastrouter.Client`` and friends)
wraps it. Checked against the built extension with ``python -m mypy.stubtest``.
"""

from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, final

from typing_extensions import TypeAlias

__all__ = [
    "CompletionQueue",
    "NativeClient",
    "NativeMockServer",
    "NativeStream",
    "TaskHandle",
    "USER_AGENT",
    "__version__",
]

__version__: str
USER_AGENT: str

# (model, provider, status, error_kind, error, latency_s, first_token_s, cost, retry, hedged)
_AttemptTuple: TypeAlias = Tuple[
    str, Optional[str], Optional[int], Optional[str], Optional[str], float, Optional[float], Optional[str], int, bool
]

@final
class NativeClient:
    """A pooled HTTP client plus the model-chain walker. Errors are raised as
    ``fastrouter.errors`` exceptions."""

    def __new__(
        cls,
        *,
        base_url: str,
        api_key: Optional[str] = None,
        headers: Sequence[Tuple[str, str]] = ...,
        connect_timeout: Optional[float] = None,
        read_timeout: Optional[float] = None,
        first_token_timeout: Optional[float] = None,
        idle_timeout: Optional[float] = None,
        attempt_timeout: Optional[float] = None,
        total_timeout: Optional[float] = None,
        cooldown_failures: Optional[int] = ...,
        cooldown_seconds: float = 30.0,
        on_event: Optional[Callable[[Tuple[Any, ...]], object]] = None,
        hedge_after: Optional[float] = None,
        hedge_adaptive: bool = False,
    ) -> NativeClient: ...
    def chat(
        self,
        queue: CompletionQueue,
        id: int,
        body: bytes,
        models: Sequence[str],
        headers: Sequence[Tuple[str, str]],
        max_retries: int,
        timeouts: Optional[Tuple[Optional[float], Optional[float], Optional[float], Optional[float]]] = None,
        hedge_after: Optional[float] = None,
        query: Optional[str] = None,
    ) -> TaskHandle:
        """Start a chat completion over the chain (``query``: an encoded query string for
        the chat URL); reports ``(body, attempts, headers)`` (headers as ``name: value``
        lines) or the exception to ``queue`` under ``id``."""
    def chat_blocking(
        self,
        body: bytes,
        models: Sequence[str],
        headers: Sequence[Tuple[str, str]],
        max_retries: int,
        timeouts: Optional[Tuple[Optional[float], Optional[float], Optional[float], Optional[float]]] = None,
        hedge_after: Optional[float] = None,
        query: Optional[str] = None,
    ) -> Tuple[bytes, List[_AttemptTuple], str]:
        """Like :meth:`chat`, blocking with the GIL released."""
    def chat_stream(
        self,
        queue: CompletionQueue,
        id: int,
        body: bytes,
        models: Sequence[str],
        headers: Sequence[Tuple[str, str]],
        max_retries: int,
        timeouts: Optional[Tuple[Optional[float], Optional[float], Optional[float], Optional[float]]] = None,
        hedge_after: Optional[float] = None,
        query: Optional[str] = None,
    ) -> TaskHandle:
        """Open a streamed completion over the chain; reports a :class:`NativeStream` once
        committed (first content or a clean end), or the chain's exception."""
    def chat_stream_blocking(
        self,
        body: bytes,
        models: Sequence[str],
        headers: Sequence[Tuple[str, str]],
        max_retries: int,
        timeouts: Optional[Tuple[Optional[float], Optional[float], Optional[float], Optional[float]]] = None,
        hedge_after: Optional[float] = None,
        query: Optional[str] = None,
    ) -> NativeStream:
        """Like :meth:`chat_stream`, blocking with the GIL released."""
    def get(self, queue: CompletionQueue, id: int, path: str, headers: Sequence[Tuple[str, str]] = ...) -> TaskHandle:
        """Start ``GET {base_url}/{path}``; reports ``(body, validator_headers)``: the body of
        a 2xx response (``None`` for 304 Not Modified) and its ``etag`` / ``last-modified``
        headers as ``(name, value)`` pairs."""
    def get_blocking(
        self, path: str, headers: Sequence[Tuple[str, str]] = ...
    ) -> Tuple[Optional[bytes], List[Tuple[str, str]]]:
        """Like :meth:`get`, blocking with the GIL released."""
    def latencies(self) -> Dict[str, float]:
        """Median time to first token measured per model, in seconds."""
    def health(self) -> List[Tuple[str, str, int, Optional[float], Optional[str]]]:
        """Breaker state per failed model: ``(model, state, failures, cooled_until, reason)``."""
    def close(self) -> None:
        """Drop the connection pool; later requests raise ``APIConnectionError``."""
    @property
    def closed(self) -> bool: ...

@final
class NativeStream:
    """The consumer side of a streamed completion; dropping it cancels the request."""

    def next_batch(self, queue: CompletionQueue, id: int) -> TaskHandle:
        """Start waiting for every chunk (JSON text) ready now, at least one; reports the
        list, ``None`` at the normal end, or ``StreamError`` (with ``.partial``)."""
    def next_batch_blocking(self) -> Optional[List[str]]:
        """Like :meth:`next_batch`, blocking with the GIL released."""
    def completion_json(self) -> str:
        """The completion received so far (the whole one after the end), as JSON."""
    def attempts(self) -> Optional[List[_AttemptTuple]]:
        """Every attempt of the chain, once the stream ended."""
    def response_headers(self) -> Optional[str]:
        """The answering response's headers as ``name: value`` lines."""
    @property
    def keepalives(self) -> int: ...
    def close(self) -> None:
        """Cancel the request and release the connection (idempotent)."""

@final
class CompletionQueue:
    """Finished Rust tasks waiting for the event loop (see ``fastrouter._bridge``)."""

    def __new__(cls) -> CompletionQueue: ...
    def fileno(self) -> int:
        """The socket to watch with ``loop.add_reader``."""
    def drain(self) -> List[Tuple[int, bool, Any]]:
        """Every finished result as ``(id, ok, value)``; ``value`` is the exception when
        not ``ok``."""

@final
class TaskHandle:
    """Cancels the Rust task behind an awaitable."""

    def cancel(self) -> None:
        """Cancel the task and its request (idempotent)."""

@final
class NativeMockServer:
    """The embedded OpenRouter mock server, serving on a tokio runtime thread."""

    def __new__(
        cls,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        api_key: Optional[str] = None,
        catalog_json: Optional[str] = None,
        total_credits: float = 100.0,
    ) -> NativeMockServer: ...
    @property
    def host(self) -> str: ...
    @property
    def port(self) -> int: ...
    def push(self, model: str, outcomes_json: str) -> None:
        """Queue scripted outcomes (JSON) for ``model`` (``"*"``: any model)."""
    def pending(self) -> Dict[str, int]:
        """Outcomes still queued, per model."""
    def requests_json(self) -> str:
        """Every recorded request as a JSON list."""
    def connections(self) -> Tuple[int, int]:
        """``(opened, closed)`` TCP connections so far."""
    def reset(self) -> None:
        """Forget recorded requests and queued outcomes."""
    def stop(self) -> None:
        """Stop serving and close every connection."""
