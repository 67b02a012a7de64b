"""OpenTelemetry: spans per request and attempt with the GenAI attributes, the two GenAI client
metrics, and nothing loaded or recorded when telemetry is off (SDK in-memory exporters)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import fastrouter
import pytest
from fastrouter.testing import Fail, MockServer, Reply

pytest.importorskip("opentelemetry.sdk")

from fastrouter.otel import Telemetry  # noqa: E402
from opentelemetry import trace  # noqa: E402
from opentelemetry.sdk.metrics import MeterProvider  # noqa: E402
from opentelemetry.sdk.metrics.export import InMemoryMetricReader  # noqa: E402
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter  # noqa: E402
from opentelemetry.trace import SpanKind, StatusCode  # noqa: E402


class Otel:
    def __init__(self) -> None:
        self.spans = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])
        self.telemetry = Telemetry(tracer_provider=self.tracer_provider, meter_provider=self.meter_provider)

    def finished(self) -> list[ReadableSpan]:
        return list(self.spans.get_finished_spans())

    def request_span(self) -> ReadableSpan:
        (span,) = [s for s in self.finished() if s.name.startswith("chat ")]
        return span

    def attempt_spans(self) -> list[ReadableSpan]:
        return [s for s in self.finished() if s.name.startswith("attempt ")]

    def points(self, name: str) -> list[Any]:
        data = self.reader.get_metrics_data()
        found = []
        for rm in data.resource_metrics if data else []:
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    if metric.name == name:
                        found.extend(metric.data.data_points)
        return found


@pytest.fixture
def otel() -> Iterator[Otel]:
    o = Otel()
    yield o
    o.tracer_provider.shutdown()
    o.meter_provider.shutdown()


def test_a_request_span_with_genai_attributes_cost_and_metrics(server: MockServer, otel: Otel) -> None:
    server.script(
        "openai/gpt-4o-mini", Reply("hi", provider="OpenAI", prompt_tokens=12, completion_tokens=3, cost=0.0005)
    )
    with fastrouter.Client(base_url=server.base_url, api_key="test", telemetry=otel.telemetry) as client:
        resp = client.chat.completions.create(
            model="openai/gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], temperature=0.3, max_tokens=20
        )
    span = otel.request_span()
    attrs = dict(span.attributes or {})
    assert span.name == "chat openai/gpt-4o-mini" and span.kind is SpanKind.CLIENT
    assert attrs["gen_ai.operation.name"] == "chat"
    assert attrs["gen_ai.system"] == attrs["gen_ai.provider.name"] == "openrouter"
    assert attrs["gen_ai.request.model"] == "openai/gpt-4o-mini"
    assert attrs["gen_ai.response.model"] == resp.model
    assert attrs["gen_ai.response.id"] == resp.id
    assert attrs["gen_ai.usage.input_tokens"] == 12 and attrs["gen_ai.usage.output_tokens"] == 3
    assert tuple(attrs["gen_ai.response.finish_reasons"]) == ("stop",)
    assert attrs["gen_ai.request.temperature"] == 0.3 and attrs["gen_ai.request.max_tokens"] == 20
    assert attrs["fastrouter.cost"] == pytest.approx(0.0005)
    assert attrs["fastrouter.provider"] == "OpenAI"
    assert (attrs["fastrouter.attempts"], attrs["fastrouter.retries"], attrs["fastrouter.failovers"]) == (1, 0, 0)
    assert attrs["server.address"] == "127.0.0.1"
    assert span.status.status_code is StatusCode.UNSET

    (attempt,) = otel.attempt_spans()
    assert attempt.parent is not None and attempt.parent.span_id == span.context.span_id
    assert dict(attempt.attributes or {})["http.response.status_code"] == 200

    tokens = {p.attributes["gen_ai.token.type"]: p.sum for p in otel.points("gen_ai.client.token.usage")}
    assert tokens == {"input": 12, "output": 3}
    (duration,) = otel.points("gen_ai.client.operation.duration")
    assert duration.count == 1 and duration.attributes["gen_ai.response.model"] == resp.model


def test_retries_and_failovers_make_one_child_span_per_attempt(server: MockServer, otel: Otel) -> None:
    server.script("openai/gpt-4o-mini", Fail(429, retry_after=0), Fail(503))
    server.script("anthropic/claude-3.5-haiku", Reply("ok"))
    with fastrouter.Client(base_url=server.base_url, api_key="test", max_retries=1, telemetry=otel.telemetry) as client:
        client.chat.completions.create(
            model=["openai/gpt-4o-mini", "anthropic/claude-3.5-haiku"], messages=[{"role": "user", "content": "x"}]
        )
    attrs = dict(otel.request_span().attributes or {})
    assert (attrs["fastrouter.attempts"], attrs["fastrouter.retries"], attrs["fastrouter.failovers"]) == (3, 1, 1)
    assert attrs["gen_ai.response.model"] == "anthropic/claude-3.5-haiku"
    attempts = sorted(otel.attempt_spans(), key=lambda s: s.start_time or 0)
    assert [dict(s.attributes or {}).get("http.response.status_code") for s in attempts] == [429, 503, 200]
    assert [s.status.status_code for s in attempts] == [StatusCode.ERROR, StatusCode.ERROR, StatusCode.UNSET]
    assert all(s.end_time is not None and s.start_time is not None and s.end_time >= s.start_time for s in attempts)


def test_a_failed_request_is_an_error_span(server: MockServer, otel: Otel) -> None:
    server.script("openai/gpt-4o-mini", Fail(400, "bad request"))
    with fastrouter.Client(base_url=server.base_url, api_key="test", telemetry=otel.telemetry) as client:
        with pytest.raises(fastrouter.BadRequestError):
            client.chat.completions.create(model="openai/gpt-4o-mini", messages=[{"role": "user", "content": "x"}])
    span = otel.request_span()
    assert span.status.status_code is StatusCode.ERROR
    assert dict(span.attributes or {})["error.type"] == "BadRequestError"
    (duration,) = otel.points("gen_ai.client.operation.duration")
    assert duration.attributes["error.type"] == "BadRequestError"
    assert otel.points("gen_ai.client.token.usage") == []


async def test_async_stream_span_ends_with_the_stream_under_the_callers_span(server: MockServer, otel: Otel) -> None:
    tracer = otel.tracer_provider.get_tracer("test")
    server.script("openai/gpt-4o-mini", Reply("one two three", completion_tokens=3))
    async with fastrouter.AsyncClient(base_url=server.base_url, api_key="test", telemetry=otel.telemetry) as client:
        with tracer.start_as_current_span("handler") as parent:
            stream = await client.chat.completions.create(
                model="openai/gpt-4o-mini", messages=[{"role": "user", "content": "x"}], stream=True
            )
            assert otel.finished() == []  # the request span is still open while streaming
            async with stream:
                text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert text == "one two three"
    span = otel.request_span()
    assert span.parent is not None and span.parent.span_id == parent.get_span_context().span_id
    attrs = dict(span.attributes or {})
    assert attrs["fastrouter.streamed"] is True and attrs["gen_ai.usage.output_tokens"] == 3


async def test_a_stream_closed_early_is_reported_cancelled(server: MockServer, otel: Otel) -> None:
    server.script("openai/gpt-4o-mini", Reply("a b c d e f"))
    async with fastrouter.AsyncClient(base_url=server.base_url, api_key="test", telemetry=otel.telemetry) as client:
        stream = await client.chat.completions.create(
            model="openai/gpt-4o-mini", messages=[{"role": "user", "content": "x"}], stream=True
        )
        async for _ in stream:
            break
        await stream.close()
    assert dict(otel.request_span().attributes or {})["error.type"] == "cancelled"


async def test_concurrent_requests_each_get_their_own_span(server: MockServer, otel: Otel) -> None:
    async with fastrouter.AsyncClient(base_url=server.base_url, api_key="test", telemetry=otel.telemetry) as client:
        await asyncio.gather(
            *(
                client.chat.completions.create(
                    model="openai/gpt-4o-mini", messages=[{"role": "user", "content": str(i)}]
                )
                for i in range(5)
            )
        )
    requests = [s for s in otel.finished() if s.name.startswith("chat ")]
    assert len(requests) == 5 and len({s.context.span_id for s in requests}) == 5
    assert len(otel.attempt_spans()) == 5


def test_telemetry_true_uses_the_global_providers(server: MockServer) -> None:
    # the global provider is set once per process: check through a fresh interpreter
    code = f"""
import fastrouter
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
exporter = InMemorySpanExporter()
provider = TracerProvider(); provider.add_span_processor(SimpleSpanProcessor(exporter))
trace.set_tracer_provider(provider)
with fastrouter.Client(base_url={server.base_url!r}, api_key="t", telemetry=True) as client:
    client.chat.completions.create(model="openai/gpt-4o-mini", messages=[{{"role": "user", "content": "x"}}])
print(sorted(s.name for s in exporter.get_finished_spans()))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['attempt openai/gpt-4o-mini', 'chat openai/gpt-4o-mini']"


def test_off_by_default_and_nothing_imported(server: MockServer) -> None:
    code = f"""
import sys, fastrouter
with fastrouter.Client(base_url={server.base_url!r}, api_key="t") as client:
    client.chat.completions.create(model="openai/gpt-4o-mini", messages=[{{"role": "user", "content": "x"}}])
    assert client._telemetry is None
print(any(m.startswith("opentelemetry") for m in sys.modules), "fastrouter.otel" in sys.modules)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False False"
    assert trace.get_tracer_provider() is not None


def test_a_wrong_telemetry_value_is_refused() -> None:
    with pytest.raises(TypeError, match="telemetry must be"):
        fastrouter.Client(api_key="t", telemetry="yes")  # type: ignore[arg-type]


def test_a_request_refused_by_a_budget_is_an_error_span_with_no_attempts(server: MockServer, otel: Otel) -> None:
    budget = fastrouter.Budget(usd="0.0000001", per="request")
    with fastrouter.Client(base_url=server.base_url, api_key="t", budgets=[budget], telemetry=otel.telemetry) as client:
        with pytest.raises(fastrouter.BudgetExceededError):
            client.chat.completions.create(model="openai/gpt-4o-mini", messages=[{"role": "user", "content": "x"}])
    span = otel.request_span()
    assert dict(span.attributes or {})["error.type"] == "BudgetExceededError"
    assert dict(span.attributes or {})["fastrouter.attempts"] == 0 and otel.attempt_spans() == []
    assert server.chat_requests() == []
