"""Stubs for the private Rust extension ``fastrouter._fastrouter``.

Users never import this module; the typed facade (``fastrouter.Client`` and friends)
wraps it. Checked against the built extension with ``python -m mypy.stubtest``.
"""

import asyncio
import builtins
import contextvars
from collections.abc import Callable, Generator, Sequence
from typing import Any, Protocol, TypeAlias, TypeVar, final

from typing_extensions import Unpack, disjoint_base

from .types import ChatCompletion

_Completion = TypeVar("_Completion", bound=ChatCompletion)

__all__ = [
    "AnswerFacts",
    "AsyncChunks",
    "ChunksAclose",
    "CompletionQueue",
    "LedgerRing",
    "NativeAttempt",
    "NativeChainEvent",
    "NativeChat",
    "NativeClient",
    "NativeFuture",
    "NativeHeaders",
    "NativeHealth",
    "NativeMockServer",
    "NativeStream",
    "NextChunk",
    "SyncChunks",
    "USER_AGENT",
    "__version__",
]

__version__: str
USER_AGENT: str

class _Timeouts(Protocol):
    """Timeouts (seconds), read by attribute name (``fastrouter.Timeout``)."""

    @property
    def connect(self) -> float | None: ...
    @property
    def read(self) -> float | None: ...
    @property
    def attempt(self) -> float | None: ...
    @property
    def first_token(self) -> float | None: ...
    @property
    def idle(self) -> float | None: ...
    @property
    def total(self) -> float | None: ...

# One chat call's arguments: the JSON body without ``model``, the model chain, extra
# headers, retries per model, per-request timeout overrides, a route's hedge delay, and an
# encoded query string for the chat URL.
_ChatCall: TypeAlias = tuple[
    bytes, Sequence[str], Sequence[tuple[str, str]], int, _Timeouts | None, float | None, str | None
]

class _Cooldown(Protocol):
    """Breaker settings, read by attribute name (``fastrouter.Cooldown``)."""

    @property
    def failures(self) -> int: ...
    @property
    def seconds(self) -> float: ...

class _Hedge(Protocol):
    """Hedging settings, read by attribute name (``fastrouter.Hedge``)."""

    @property
    def after(self) -> float: ...
    @property
    def adaptive(self) -> bool: ...

@final
class NativeAttempt:
    """One try of one model, as the core recorded it."""

    @property
    def model(self) -> str: ...
    @property
    def provider(self) -> str | None: ...
    @property
    def status(self) -> int | None: ...
    @property
    def error_kind(self) -> str | None: ...
    @property
    def error(self) -> str | None: ...
    @property
    def latency_s(self) -> float: ...
    @property
    def first_token_s(self) -> float | None: ...
    @property
    def cost(self) -> str | None: ...
    @property
    def retry(self) -> int: ...
    @property
    def hedged(self) -> bool: ...
    @property
    def http_version(self) -> str | None: ...

@final
class NativeChat:
    """A finished chat completion: body, attempts and what the answer cost."""

    @property
    def body(self) -> bytes:
        """The response body (JSON)."""
    def json(self) -> Any:
        """The response body parsed, as ``json.loads(body)`` gives it (without the bytes)."""
    def completion(self, cls: type[_Completion]) -> _Completion | None:
        """The answer as a ``cls`` (``ChatCompletion``), made by the core with every slot
        set: ``_json`` (a :class:`TapeObject`, or ``json()`` when the core did not read the
        body into a tape), the typed models its usual reads return (``choices``, each
        ``message``, ``usage``), the attempts, the answer cost and the headers. ``None``
        for any other class (a subclass), which the facade makes itself."""
    @property
    def attempts(self) -> list[NativeAttempt]:
        """Every attempt of the chain, in order; the last one produced the answer."""
    @property
    def answer_cost(self) -> str | None:
        """The answering attempt's cost as decimal text, when the server reported it."""
    @property
    def headers(self) -> str:
        """The answering response's headers as ``name: value`` lines."""
    @property
    def raw_headers(self) -> NativeHeaders:
        """The answering response's headers, rendered only when read."""
    @property
    def entry_facts(
        self,
    ) -> tuple[str | None, str | None, str | None, int, int, int, int, bool, str, int | None] | None:
        """What the ledger records of the answer, as the core read it from the body: ``(id,
        model, provider, prompt_tokens, completion_tokens, cached_tokens, reasoning_tokens,
        is_byok, cost, cost_units)``, the cost as decimal text (``answer_cost``) and in the
        ledger's fixed point (``None`` when it does not fit). ``None`` when the answer has no
        cost or a field of the body has an unusual type (the facade reads the body then)."""
    @property
    def ring_facts(self) -> AnswerFacts | None:
        """The answer's ledger facts as the in-memory ledger's ring packs them itself
        (``LedgerRing.add_answers``), when they were read and fit its record; else ``None``."""

@final
class AnswerFacts:
    """A usual answer's ledger facts (``NativeChat.ring_facts``)."""

    @property
    def entry_facts(self) -> tuple[str | None, str | None, str | None, int, int, int, int, bool, str, int | None]:
        """The facts as ``NativeChat.entry_facts`` gives them."""

@final
class NativeHeaders:
    """A response's headers as received, rendered as ``name: value`` lines only when read."""

    @property
    def block(self) -> str:
        """The headers as ``name: value`` lines (openai's ``.headers``)."""

@final
class NativeChainEvent:
    """One step of a chain, for the ``on_event`` hook."""

    @property
    def kind(self) -> str: ...
    @property
    def model(self) -> str: ...
    @property
    def retry(self) -> int: ...
    @property
    def status(self) -> int | None: ...
    @property
    def error_kind(self) -> str | None: ...
    @property
    def message(self) -> str | None: ...
    @property
    def wait_s(self) -> float | None: ...
    @property
    def latency_s(self) -> float | None: ...

@final
class NativeHealth:
    """A model's circuit breaker."""

    @property
    def model(self) -> str: ...
    @property
    def state(self) -> str: ...
    @property
    def failures(self) -> int: ...
    @property
    def cooled_until(self) -> float | None: ...
    @property
    def reason(self) -> str | None: ...

@final
class NativeClient:
    """A pooled HTTP client plus the model-chain walker. Errors are raised as
    ``fastrouter.errors`` exceptions."""

    def __new__(
        cls,
        *,
        base_url: str,
        api_key: str | None = None,
        headers: Sequence[tuple[str, str]] = ...,
        timeout: _Timeouts | None = None,
        cooldown: _Cooldown | None = None,
        on_event: Callable[[NativeChainEvent], object] | None = None,
        hedge: _Hedge | None = None,
        backends: Sequence[tuple[str, str, str | None, Sequence[tuple[str, str]], str | None]] = ...,
        ca_bundle: str | None = None,
        proxy: str | None = None,
        http2: bool | None = None,
    ) -> NativeClient: ...
    def chat(
        self, queue: CompletionQueue, event_loop: asyncio.AbstractEventLoop, *call: Unpack[_ChatCall]
    ) -> NativeFuture:
        """Start a chat completion over the chain (``call``: see ``_ChatCall``): a future of
        ``event_loop`` that ``queue``'s drain finishes with a :class:`NativeChat` (or the
        exception); cancelling it aborts the request."""
    def chat_blocking(self, *call: Unpack[_ChatCall]) -> NativeChat:
        """Like :meth:`chat`, blocking with the GIL released."""
    def chat_usual(
        self,
        queue: CompletionQueue,
        event_loop: asyncio.AbstractEventLoop,
        body: bytes,
        models: Sequence[str],
        max_retries: int,
    ) -> NativeFuture:
        """:meth:`chat` for the usual call (a body and a chain; no headers, timeouts, hedge
        delay or query of its own). Its future is bare: its await gives ``None`` and the
        :class:`NativeChat` is its ``result()``; an error or cancellation still raises."""
    def chat_usual_blocking(self, body: bytes, models: Sequence[str], max_retries: int) -> NativeChat:
        """:meth:`chat_blocking` for the usual call (see :meth:`chat_usual`)."""
    def chat_stream(
        self, queue: CompletionQueue, event_loop: asyncio.AbstractEventLoop, *call: Unpack[_ChatCall]
    ) -> NativeFuture:
        """Open a streamed completion over the chain: a future finished with a
        :class:`NativeStream` once committed (first content or a clean end), or the chain's
        exception."""
    def chat_stream_blocking(self, *call: Unpack[_ChatCall]) -> NativeStream:
        """Like :meth:`chat_stream`, blocking with the GIL released."""
    def get(
        self,
        queue: CompletionQueue,
        event_loop: asyncio.AbstractEventLoop,
        path: str,
        headers: Sequence[tuple[str, str]] = ...,
    ) -> NativeFuture:
        """Start ``GET {base_url}/{path}``: a future finished with ``(body, validator_headers)``: the body of
        a 2xx response (``None`` for 304 Not Modified) and its ``etag`` / ``last-modified``
        headers as ``(name, value)`` pairs."""
    def get_blocking(
        self, path: str, headers: Sequence[tuple[str, str]] = ...
    ) -> tuple[bytes | None, list[tuple[str, str]]]:
        """Like :meth:`get`, blocking with the GIL released."""
    def latencies(self) -> dict[str, float]:
        """Median time to first token measured per model, in seconds."""
    def health(self) -> list[NativeHealth]:
        """Breaker state per model that has failed."""
    def close(self) -> None:
        """Drop the connection pool; later requests raise ``APIConnectionError``."""
    @property
    def closed(self) -> bool: ...

@final
class NativeStream:
    """The consumer side of a streamed completion; dropping it cancels the request."""

    def completion_json(self) -> str:
        """The completion received so far (the whole one after the end), as JSON."""
    def attempts(self) -> list[NativeAttempt] | None:
        """Every attempt of the chain, once the stream ended."""
    def answer_cost(self) -> str | None:
        """What the answer cost (decimal text), once the stream ended and the server said."""
    @property
    def entry_facts(
        self,
    ) -> tuple[str | None, str | None, str | None, int, int, int, int, bool, str, int | None] | None:
        """What the ledger records of the stream's answer, as ``NativeChat.entry_facts``
        gives it, read from what the stream received: once it ended, answered by its one
        attempt, priced by the core, its fields of their usual types; else ``None``."""
    def response_headers(self) -> str | None:
        """The answering response's headers as ``name: value`` lines."""
    @property
    def keepalives(self) -> int: ...
    def close(self) -> None:
        """Cancel the request and release the connection (idempotent)."""

@final
class AsyncChunks:
    """An ``AsyncStream``'s async iterator; ``__anext__`` gives its :class:`NextChunk`.
    Calls the stream's ``_keep``, ``_ended_with`` and ``_stopped``."""

    def __new__(cls, stream: Any) -> AsyncChunks: ...
    def __aiter__(self) -> AsyncChunks: ...
    def __anext__(self) -> NextChunk: ...
    def aclose(self) -> ChunksAclose:
        """Stop when awaited (the stream stays open)."""

@final
class NextChunk:
    """The awaitable of an :class:`AsyncChunks`' next chunk (one per iterator): completes at
    once with the next held chunk; only an empty stream waits (a :class:`NativeFuture`)."""

    def __await__(self) -> Generator[Any, None, Any]: ...
    def __next__(self) -> Any: ...
    def send(self, value: Any) -> Any:
        """``__next__`` for drivers that send (``value`` is ignored)."""
    def throw(self, typ: Any, val: Any | None = None, tb: Any | None = None) -> Any:
        """An exception thrown in at the ``await``: the stream records it, it propagates."""
    def close(self) -> None:
        """Stop (the awaiting coroutine was closed); the stream stays open."""

@final
class ChunksAclose:
    """What ``AsyncChunks.aclose()`` returns: closes the iterator when awaited."""

    def __await__(self) -> Generator[Any]: ...
    def __next__(self) -> None: ...
    def send(self, value: Any) -> None: ...
    def throw(self, typ: Any, val: Any | None = None, tb: Any | None = None) -> None: ...
    def close(self) -> None: ...

@final
class SyncChunks:
    """A sync ``Stream``'s iterator: the next chunk of the batch it holds, the next ready
    batch, or a blocking wait (GIL released). Calls the stream's ``_keep``, ``_ended_with``
    and ``_stopped``."""

    def __new__(cls, stream: Any) -> SyncChunks: ...
    def __iter__(self) -> SyncChunks: ...
    def __next__(self) -> StreamChunk: ...

# Streamed chunks built by the core, read lazily; they stand for (and count as instances
# of) fastrouter.types.ChatCompletionChunk / ChunkChoice / ChoiceDelta, whose other
# methods (to_dict, to_json, model_dump) fastrouter.streaming attaches to them. A chunk
# whose JSON has fields outside the typed view is built of the *WithExtras subclasses,
# which read those fields by name (a __getattr__ slot, left out here as on the models).
@disjoint_base
class StreamChunk:
    """One streamed chunk (``ChatCompletionChunk``), parsed once by the core."""

    @property
    def id(self) -> Any: ...
    @property
    def object(self) -> Any: ...
    @property
    def created(self) -> Any: ...
    @property
    def model(self) -> Any: ...
    @property
    def provider(self) -> Any: ...
    @property
    def system_fingerprint(self) -> Any: ...
    @property
    def service_tier(self) -> Any: ...
    @property
    def choices(self) -> list[StreamChoice]: ...
    @property
    def usage(self) -> Any: ...
    @property
    def error(self) -> Any: ...
    def _model(self) -> Any:
        """The equivalent ``fastrouter.types`` model (a plain, dict-backed one)."""
    def __eq__(self, value: builtins.object, /) -> bool: ...
    def __reduce__(self) -> Any: ...

@disjoint_base
class StreamChoice:
    """One choice of a streamed chunk (``ChunkChoice``)."""

    @property
    def index(self) -> Any: ...
    @property
    def delta(self) -> StreamDelta: ...
    @property
    def finish_reason(self) -> Any: ...
    @property
    def native_finish_reason(self) -> Any: ...
    @property
    def logprobs(self) -> Any: ...
    @property
    def error(self) -> Any: ...
    def _model(self) -> Any:
        """The equivalent ``fastrouter.types`` model (a plain, dict-backed one)."""
    def __eq__(self, value: object, /) -> bool: ...
    def __reduce__(self) -> Any: ...

@disjoint_base
class StreamDelta:
    """The delta of one streamed choice (``ChoiceDelta``)."""

    @property
    def role(self) -> Any: ...
    @property
    def content(self) -> Any: ...
    @property
    def refusal(self) -> Any: ...
    @property
    def reasoning(self) -> Any: ...
    @property
    def reasoning_details(self) -> Any: ...
    @property
    def tool_calls(self) -> Any: ...
    @property
    def annotations(self) -> Any: ...
    @property
    def images(self) -> Any: ...
    def _model(self) -> Any:
        """The equivalent ``fastrouter.types`` model (a plain, dict-backed one)."""
    def __eq__(self, value: object, /) -> bool: ...
    def __reduce__(self) -> Any: ...

@final
class StreamChunkWithExtras(StreamChunk):
    """A ``StreamChunk`` whose JSON has fields outside the typed view, readable by name."""

@final
class StreamChoiceWithExtras(StreamChoice):
    """A ``StreamChoice`` of a chunk with extra fields, readable by name."""

@final
class StreamDeltaWithExtras(StreamDelta):
    """A ``StreamDelta`` of a chunk with extra fields, readable by name."""

@final
class LedgerRing:
    """The in-memory ledger's ring: the last ``capacity`` entries as packed records, their
    generation ids and the label combinations they point into (``usage/columns.py``)."""

    def __new__(
        cls,
        capacity: int,
        template: bytes,
        offsets: tuple[int, int, int, int, int, int, int, int],
        answer_labels: tuple[Any, ...],
        answer_slots: tuple[int, int, int],
    ) -> LedgerRing: ...
    @property
    def first(self) -> int:
        """Sequence number of the oldest entry held."""
    @property
    def next(self) -> int:
        """Sequence number the next entry gets."""
    def intern(self, labels: Any) -> int:
        """The code of the label combination ``labels``, counted once more."""
    def labels(self, code: int) -> Any:
        """The label combination of ``code``."""
    def held_labels(self) -> list[tuple[Any, int]]:
        """Every label combination held, and how many records use each."""
    def push(self, record: bytes, id: Any, marked: bool) -> None:
        """Add ``record`` with generation id ``id`` as the newest entry."""
    def set(self, seq: int, record: bytes, id: Any, marked: bool) -> None:
        """Replace held entry ``seq``'s record and id."""
    def unmark(self, seq: int) -> None:
        """Clear held entry ``seq``'s mark."""
    def record(self, seq: int) -> bytes:
        """Held entry ``seq``'s record."""
    def id(self, seq: int) -> Any:
        """Held entry ``seq``'s generation id."""
    def add_answers(self, items: list[Any], start: int, stop: int) -> int:
        """Add the usual answers ``items[start:stop]``, up to the first of another form."""
    @property
    def answered(self) -> tuple[int, int, int, int, int]:
        """What the answers added by ``add_answers`` sum to."""
    @property
    def heap_bytes(self) -> int:
        """Bytes the ring holds outside Python's allocator."""

@final
class CompletionQueue:
    """Finished Rust tasks waiting for the event loop (see ``fastrouter._bridge``)."""

    def __new__(cls, wake: Callable[[], object] | None = None) -> CompletionQueue: ...
    def fileno(self) -> int | None:
        """The pipe to watch with ``loop.add_reader`` (``None`` when built with ``wake``)."""
    def _debug_answers(self) -> tuple[int, int, int]:
        """Debug hook for tests: ``(due, at_once, deferred)``, this loop's answers on their
        way and how many reported ones woke it at once or were deferred like a stream's
        batch (in a burst, with another answer due)."""
    def drain(self) -> None:
        """Finish the future of every finished task and resume the tasks awaiting them."""
    def resume_pending(self) -> None:
        """Resume the waiters a drain left unresumed (scheduled by a drain with several)."""

@final
class FieldGetter:
    """The getter of one model field (``fastrouter.types``): ``read(model)`` is
    ``model._data.get(key)`` (read from ``model._json``), or with ``convert`` that value
    converted on first read and kept in ``model._cache``."""

    def __new__(cls, key: str, convert: Callable[[Any], Any] | None = None) -> FieldGetter: ...
    def read(self, model: Any) -> Any: ...

@final
class TapeObject:
    """An answer's JSON object left on the core's tape: a model's ``_json`` until its
    ``_data`` is asked for. Made by the core only."""

    @property
    def held_bytes(self) -> int:
        """Bytes of tape this object keeps alive (0 once its dict is built)."""

def json_get(model: Any, key: str) -> Any:
    """``model._data.get(key)``, without building the whole object when it is still on
    the core's tape."""

def model_data(model: Any) -> Any:
    """A model's ``_data``: its ``_json``, built into a dict first when it is a
    :class:`TapeObject` (and kept as ``_json`` from then on)."""

@final
class NativeFuture:
    """An asyncio-compatible future finished by a :class:`CompletionQueue`'s drain, which
    resumes its awaiting task at once. Cancelling it cancels the Rust task."""

    _asyncio_future_blocking: bool
    def __await__(self) -> Generator[Any, None, Any]: ...
    def __iter__(self) -> Generator[Any, None, Any]: ...
    def __next__(self) -> Any: ...
    def get_loop(self) -> asyncio.AbstractEventLoop: ...
    def done(self) -> bool: ...
    def cancelled(self) -> bool: ...
    def result(self) -> Any: ...
    def exception(self) -> BaseException | None: ...
    def add_done_callback(
        self, function: Callable[[NativeFuture], object], *, context: contextvars.Context | None = None
    ) -> None: ...
    def remove_done_callback(self, function: Callable[[NativeFuture], object]) -> int: ...
    def cancel(self, msg: Any | None = None) -> bool:
        """Cancel the task and its request; False if already done."""

def encode_json(value: object) -> bytes | None:
    """``value`` as the JSON ``json.JSONEncoder(separators=(",", ":"), ensure_ascii=False,
    allow_nan=False)`` writes (UTF-8), or ``None`` when it holds anything but exact dicts
    with str keys, lists, tuples, str, int, float, bool and None (or a non-finite float,
    a lone surrogate, very deep nesting): Python's encoder handles those."""

def _debug_spawn_panic(
    queue: CompletionQueue, event_loop: asyncio.AbstractEventLoop, answer: bool = False, eager: bool = False
) -> NativeFuture:
    """Debug hook for tests: a task that panics (its awaitable raises ``APIError``);
    ``answer``: reported as a request's answer is; ``eager``: first run on the calling
    thread, as a request's task is."""

def _debug_block_on_panic(when_idle: bool = False, eager: bool = False) -> None:
    """Debug hook for tests: a blocking call whose task panics (``when_idle``: a wait woken
    like a stream's batch; ``eager``: a request's, first run on the calling thread when no
    other is on its way)."""

def _debug_answer_models_write_slots() -> bool:
    """Whether the core makes every model of an answer by writing its slots (for the tests)."""

def _debug_make_model(cls: type, names: tuple[str, str], values: tuple[Any, Any]) -> tuple[Any, bool]:
    """An instance of ``cls`` made as the core makes an answer's models, ``names`` set to
    ``values``, and whether its slots were written in place (for the tests)."""

def _debug_keep_busy(millis: int) -> None:
    """Debug hook for tests: keep the I/O thread busy (never parking) for ``millis`` ms."""

def _debug_busy_spells() -> int:
    """Debug hook for tests: how many ``_debug_keep_busy`` spells still run."""

def _debug_eager_starts() -> int:
    """Debug hook for tests: how many request tasks first ran on their caller's thread."""

@final
class NativeMockServer:
    """The embedded OpenRouter mock server, serving on a tokio runtime thread."""

    def __new__(
        cls,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        api_key: str | None = None,
        catalog_json: str | None = None,
        total_credits: float = 100.0,
        tls: str | None = None,
        flavor: str = "openrouter",
    ) -> NativeMockServer: ...
    @property
    def host(self) -> str: ...
    @property
    def ca_pem(self) -> str | None:
        """The CA certificate (PEM) to trust, or ``None`` when serving plain HTTP."""
    @property
    def port(self) -> int: ...
    def push(self, model: str, outcomes_json: str) -> None:
        """Queue scripted outcomes (JSON) for ``model`` (``"*"``: any model)."""
    def pending(self) -> dict[str, int]:
        """Outcomes still queued, per model."""
    def requests_json(self) -> str:
        """The recorded requests (the most recent 10,000) as a JSON list."""
    def connections(self) -> tuple[int, int]:
        """``(opened, closed)`` TCP connections so far."""
    def reset(self) -> None:
        """Forget recorded requests and queued outcomes."""
    def stop(self) -> None:
        """Stop serving and close every connection."""
