"""OpenTelemetry for fastrouter: a span per request, a child span per attempt, and the GenAI
client metrics, recorded only for clients created with ``telemetry=``.

Install the extra (``pip install 'fastrouter[otel]'``) and configure an OpenTelemetry SDK as
usual; then::

    client = fastrouter.AsyncClient(telemetry=True)      # the global tracer and meter providers
    client = fastrouter.AsyncClient(telemetry=fastrouter.otel.Telemetry(tracer_provider=tp))

Spans follow the GenAI semantic conventions (``gen_ai.operation.name``, ``gen_ai.provider.name``
and the older ``gen_ai.system``, ``gen_ai.request.model``, ``gen_ai.response.model``,
``gen_ai.usage.input_tokens`` / ``output_tokens``, ``gen_ai.response.finish_reasons``) and add
``fastrouter.cost`` (USD), ``fastrouter.provider``, ``fastrouter.attempts``,
``fastrouter.retries`` and ``fastrouter.failovers``. Metrics: ``gen_ai.client.token.usage``
and ``gen_ai.client.operation.duration``.

The request span runs from ``create()`` to the answer (or the end of the stream). Attempts
are tried inside the Rust core, so their spans are written when the request ends, from the
latencies the core measured, laid end to end from the request's start (retry back-off shows
as the gap to the request's end; hedged attempts, which really overlap, are laid end to end
too and carry ``fastrouter.hedged``).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from opentelemetry import context as otel_context
from opentelemetry import metrics, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from . import __version__
from .errors import BudgetExceededError
from .usage.books import RequestBooks

if TYPE_CHECKING:
    from decimal import Decimal

    from opentelemetry.metrics import MeterProvider
    from opentelemetry.trace import TracerProvider
    from opentelemetry.util.types import AttributeValue

    from .attempts import Attempt
    from .types import ChatCompletion

__all__ = ["Telemetry", "ClientTelemetry", "client_telemetry"]

SYSTEM = "openrouter"
_OPERATION = "chat"
# create() parameters reported as gen_ai.request.<name>
_REQUEST_PARAMS = {
    "temperature": "gen_ai.request.temperature",
    "top_p": "gen_ai.request.top_p",
    "top_k": "gen_ai.request.top_k",
    "max_tokens": "gen_ai.request.max_tokens",
    "max_completion_tokens": "gen_ai.request.max_tokens",
    "frequency_penalty": "gen_ai.request.frequency_penalty",
    "presence_penalty": "gen_ai.request.presence_penalty",
    "seed": "gen_ai.request.seed",
}
# the request attributes the metrics carry (low cardinality)
_METRIC_KEYS = ("gen_ai.operation.name", "gen_ai.provider.name", "gen_ai.request.model", "server.address")
# the semantic conventions' advisory buckets for the two GenAI client histograms
_TOKEN_BUCKETS = [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864]
_DURATION_BUCKETS = [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92]


class Telemetry:
    """Where fastrouter sends its spans and metrics: the given providers, else the global ones."""

    def __init__(
        self, *, tracer_provider: TracerProvider | None = None, meter_provider: MeterProvider | None = None
    ) -> None:
        self.tracer = trace.get_tracer("fastrouter", __version__, tracer_provider=tracer_provider)
        meter = metrics.get_meter("fastrouter", __version__, meter_provider=meter_provider)
        self.token_usage = meter.create_histogram(
            "gen_ai.client.token.usage",
            unit="{token}",
            description="Number of input and output tokens used",
            explicit_bucket_boundaries_advisory=_TOKEN_BUCKETS,
        )
        self.duration = meter.create_histogram(
            "gen_ai.client.operation.duration",
            unit="s",
            description="GenAI operation duration",
            explicit_bucket_boundaries_advisory=_DURATION_BUCKETS,
        )


class ClientTelemetry:
    """One client's telemetry: the :class:`Telemetry` it reports to and the server it calls."""

    def __init__(self, telemetry: Telemetry, base_url: str) -> None:
        self.telemetry = telemetry
        url = urlsplit(base_url)
        self.server: dict[str, AttributeValue] = {"server.address": url.hostname or ""}
        port = url.port or (443 if url.scheme == "https" else 80)
        self.server["server.port"] = port

    def books(self, params: Mapping[str, Any], *args: Any) -> TracedBooks:
        """The request's :class:`RequestBooks` (``args``), reporting its ending as spans and metrics."""
        return TracedBooks(self, params, *args)


def client_telemetry(setting: bool | Telemetry, base_url: str) -> ClientTelemetry | None:
    """What a client's ``telemetry=`` argument turns on (``None`` when off)."""
    if setting is False:
        return None
    if setting is True:
        return ClientTelemetry(Telemetry(), base_url)
    if isinstance(setting, Telemetry):
        return ClientTelemetry(setting, base_url)
    raise TypeError(f"telemetry must be a bool or a fastrouter.otel.Telemetry, got {setting!r}")


def _request_attributes(requested: str, params: Mapping[str, Any], streamed: bool) -> dict[str, AttributeValue]:
    attrs: dict[str, AttributeValue] = {
        "gen_ai.operation.name": _OPERATION,
        "gen_ai.provider.name": SYSTEM,
        "gen_ai.system": SYSTEM,
        "gen_ai.request.model": requested,
        "fastrouter.streamed": streamed,
    }
    for name, key in _REQUEST_PARAMS.items():
        value = params.get(name)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            attrs[key] = value
    stop = params.get("stop")
    if isinstance(stop, str):
        attrs["gen_ai.request.stop_sequences"] = [stop]
    elif isinstance(stop, Sequence) and all(isinstance(s, str) for s in stop):
        attrs["gen_ai.request.stop_sequences"] = list(stop)
    return attrs


def _failovers(attempts: Sequence[Attempt]) -> int:
    """How many times the chain moved on to another model."""
    return sum(1 for before, after in zip(attempts, attempts[1:], strict=False) if after.model != before.model)


class TracedBooks(RequestBooks):
    """:class:`RequestBooks` that also report the request's ending: the request span with its
    attempt spans, and the duration and token metrics. Each request reports once."""

    __slots__ = ("_client_telemetry", "_attributes", "_parent", "_reported")

    def __init__(self, client_telemetry: ClientTelemetry, params: Mapping[str, Any], *args: Any) -> None:
        super().__init__(*args)
        self._client_telemetry = client_telemetry
        self._attributes = {
            **client_telemetry.server,
            **_request_attributes(self.requested, params, self.streamed),
        }
        self._parent = otel_context.get_current()  # the caller's span, current at create()
        self._reported = False

    def reserve(self, estimate: Decimal | None, unpriced: tuple[str, ...] = ()) -> None:
        try:
            super().reserve(estimate, unpriced)
        except BudgetExceededError as error:  # refused before sending: still one request span
            self._report(None, [], type(error).__name__, str(error))
            raise

    def answered(self, completion: ChatCompletion) -> ChatCompletion:
        result = super().answered(completion)
        self._report(completion, completion.attempts, None)
        return result

    def failed(self, error: BaseException) -> None:
        """Failed, cancelled or interrupted (the base class sees every way a request ends)."""
        super().failed(error)
        attempts = list(getattr(error, "attempts", None) or ())
        self._report(None, attempts, type(error).__name__, str(error) or type(error).__name__)

    def stream_finished(self, stream: Any, status: str) -> None:
        try:
            super().stream_finished(stream, status)
        except BaseException as error:  # the completion could not be built: still reported
            self._report(None, stream.attempts, type(error).__name__, str(error) or type(error).__name__)
            raise
        try:
            completion = stream.completion
        except Exception as error:  # the same, for a stream closed early
            self._report(None, stream.attempts, type(error).__name__, str(error) or type(error).__name__)
            return
        self._report(completion, completion.attempts, None if status == "ok" else status, status)

    def _report(
        self,
        completion: ChatCompletion | None,
        attempts: Sequence[Attempt],
        error_type: str | None,
        message: str | None = None,
    ) -> None:
        if self._reported:
            return
        self._reported = True
        ended_ns = time.time_ns()
        started_ns = int(self.started * 1e9)
        telemetry = self._client_telemetry.telemetry
        attrs: dict[str, AttributeValue] = dict(self._attributes)
        attrs["fastrouter.attempts"] = len(attempts)
        attrs["fastrouter.retries"] = sum(1 for a in attempts if a.retry > 0)
        attrs["fastrouter.failovers"] = _failovers(attempts)
        metric_attrs: dict[str, AttributeValue] = {
            k: attrs[k]
            for k in ("gen_ai.operation.name", "gen_ai.provider.name", "gen_ai.request.model", "server.address")
        }
        if completion is not None:
            _add_response(attrs, completion)
            if completion.model:
                metric_attrs["gen_ai.response.model"] = completion.model
        if error_type is not None:
            attrs["error.type"] = error_type
            metric_attrs["error.type"] = error_type

        span = telemetry.tracer.start_span(
            f"{_OPERATION} {self.requested}",
            context=self._parent,
            kind=SpanKind.CLIENT,
            attributes=attrs,
            start_time=started_ns,
        )
        if error_type is not None:
            span.set_status(Status(StatusCode.ERROR, message))
        child_context = trace.set_span_in_context(span, self._parent)
        offset_ns = started_ns
        for index, attempt in enumerate(attempts):
            offset_ns = _attempt_span(telemetry, attempt, index, child_context, offset_ns, ended_ns)
        span.end(end_time=ended_ns)

        telemetry.duration.record((ended_ns - started_ns) / 1e9, metric_attrs)
        usage = completion.usage if completion is not None else None
        if usage is not None:
            telemetry.token_usage.record(usage.prompt_tokens, {**metric_attrs, "gen_ai.token.type": "input"})
            telemetry.token_usage.record(usage.completion_tokens, {**metric_attrs, "gen_ai.token.type": "output"})


def _add_response(attrs: dict[str, AttributeValue], completion: ChatCompletion) -> None:
    """The answer's GenAI attributes, with fastrouter's provider and cost."""
    if completion.model:
        attrs["gen_ai.response.model"] = completion.model
    if completion.id:
        attrs["gen_ai.response.id"] = completion.id
    reasons: list[str] = [c.finish_reason for c in completion.choices if c.finish_reason]
    if reasons:
        attrs["gen_ai.response.finish_reasons"] = reasons
    usage = completion.usage
    if usage is not None:
        attrs["gen_ai.usage.input_tokens"] = usage.prompt_tokens
        attrs["gen_ai.usage.output_tokens"] = usage.completion_tokens
    if completion.provider:
        attrs["fastrouter.provider"] = completion.provider
    cost = completion.cost
    if cost is not None:
        attrs["fastrouter.cost"] = float(cost)


def _attempt_span(
    telemetry: Telemetry, attempt: Attempt, index: int, parent: otel_context.Context, start_ns: int, limit_ns: int
) -> int:
    """Write one attempt's span from ``start_ns``; return where the next attempt starts."""
    end_ns = min(start_ns + int(attempt.latency_s * 1e9), limit_ns)
    attrs: dict[str, AttributeValue] = {
        "gen_ai.operation.name": _OPERATION,
        "gen_ai.provider.name": SYSTEM,
        "gen_ai.request.model": attempt.model,
        "fastrouter.attempt": index,
        "fastrouter.retry": attempt.retry,
        "fastrouter.hedged": attempt.hedged,
    }
    if attempt.provider:
        attrs["fastrouter.provider"] = attempt.provider
    if attempt.status is not None:
        attrs["http.response.status_code"] = attempt.status
    if attempt.first_token_s is not None:
        attrs["fastrouter.first_token_s"] = attempt.first_token_s
    if attempt.cost is not None:
        attrs["fastrouter.cost"] = float(attempt.cost)
    if attempt.error_kind is not None:
        attrs["error.type"] = attempt.error_kind
    span = telemetry.tracer.start_span(
        f"attempt {attempt.model}", context=parent, kind=SpanKind.INTERNAL, attributes=attrs, start_time=start_ns
    )
    if attempt.error_kind is not None:
        span.set_status(Status(StatusCode.ERROR, attempt.error))
    span.end(end_time=end_ns)
    return end_ns
