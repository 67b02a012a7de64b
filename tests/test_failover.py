"""Circuit breakers, spent quotas and provider sidestepping, through the real mock server."""

from __future__ import annotations

import time
from typing import Any

import fastrouter
import pytest
from fastrouter.testing import Fail, MockServer, Reply, StreamScript

A = "acme/model-a"
B = "acme/model-b"
CHAIN = [A, B]
# Long enough that a loaded machine still makes its next calls inside the window; the
# tests wait for its end on the breaker itself (_wait_out_the_cooldown), not a fixed sleep.
FAST_COOLDOWN = fastrouter.Cooldown(failures=2, seconds=1.0)


@pytest.fixture(autouse=True)
def _serve_the_chain_models(server: MockServer) -> None:
    """The acme models are not in the mock's catalog: declare them."""
    server.add_models(A, B)


def _wait_out_the_cooldown(client: Any, model: str) -> None:
    """Returns once ``model``'s breaker lets a probe through (its ``cooled_until`` passed)."""
    deadline = time.monotonic() + 10
    while client.health()[model].cooled_until is not None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert client.health()[model].cooled_until is None, client.health()[model]


def _quota_fail(reset_in: float) -> Fail:
    reset_ms = int((time.time() + reset_in) * 1000)
    return Fail(
        429,
        message="Rate limit exceeded: free-models-per-day",
        metadata={
            "headers": {"X-RateLimit-Limit": "50", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset_ms)},
            "provider_name": None,
        },
    )


async def test_breaker_opens_skips_then_probes_and_closes(server: MockServer, caller: Any) -> None:
    client = caller.client(server, cooldown=FAST_COOLDOWN)
    server.script(A, Fail(503), Fail(503))
    server.script(B, Reply("b1"), Reply("b2"), Reply("b3"))

    first = await caller.create(client, model=CHAIN)
    second = await caller.create(client, model=CHAIN)
    assert [a.error_kind for a in first.attempts + second.attempts] == ["service_unavailable", None] * 2
    # Two consecutive failures opened A's breaker: the next call skips it, sending nothing.
    third = await caller.create(client, model=CHAIN)
    assert third.choices[0].message.content == "b3"
    assert [(a.model, a.error_kind, a.status) for a in third.attempts] == [(A, "cooling_down", None), (B, None, 200)]
    assert len(server.chat_requests(A)) == 2
    health = client.health()
    assert health[A].state == "open"
    assert health[A].failures == 2
    assert health[A].cooled_until is not None and health[A].cooled_until > time.time()
    assert "service_unavailable" in (health[A].reason or "")

    _wait_out_the_cooldown(client, A)
    server.script(A, Reply("a is back"))
    probe = await caller.create(client, model=CHAIN)
    assert probe.choices[0].message.content == "a is back"
    assert client.health()[A].state == "closed"
    assert len(server.chat_requests(A)) == 3


async def test_a_failed_probe_reopens_the_breaker(server: MockServer, caller: Any) -> None:
    client = caller.client(server, cooldown=FAST_COOLDOWN)
    server.script(A, Fail(502), Fail(502), Fail(502))
    for _ in range(2):
        await caller.create(client, model=CHAIN)
    _wait_out_the_cooldown(client, A)
    probe = await caller.create(client, model=CHAIN)
    assert [(a.model, a.status) for a in probe.attempts] == [(A, 502), (B, 200)]
    assert client.health()[A].state == "open"
    skipped = await caller.create(client, model=CHAIN)
    assert skipped.attempts[0].error_kind == "cooling_down"


async def test_request_errors_do_not_cool_a_model(server: MockServer, caller: Any) -> None:
    client = caller.client(server, cooldown=FAST_COOLDOWN)
    for _ in range(3):
        server.script(A, Fail(400))
        with pytest.raises(fastrouter.BadRequestError):
            await caller.create(client, model=CHAIN)
    assert A not in client.health()
    resp = await caller.create(client, model=CHAIN)
    assert resp.model == A


async def test_every_model_cooling_is_tried_anyway(server: MockServer, caller: Any) -> None:
    client = caller.client(server, cooldown=fastrouter.Cooldown(failures=1, seconds=60))
    server.script(A, Fail(503))
    server.script(B, Fail(503))
    with pytest.raises(fastrouter.AllModelsFailedError):
        await caller.create(client, model=CHAIN)
    assert {h.state for h in client.health().values()} == {"open"}
    resp = await caller.create(client, model=CHAIN)
    assert resp.model == A
    assert [a.status for a in resp.attempts] == [200]


async def test_single_model_is_never_skipped(server: MockServer, caller: Any) -> None:
    client = caller.client(server, cooldown=fastrouter.Cooldown(failures=1, seconds=60))
    server.script(A, Fail(503))
    with pytest.raises(fastrouter.ServiceUnavailableError):
        await caller.create(client, model=A)
    assert (await caller.create(client, model=A)).model == A


async def test_cooldown_none_disables_breakers(server: MockServer, caller: Any) -> None:
    client = caller.client(server, cooldown=None)
    for _ in range(4):
        server.script(A, Fail(503))
        await caller.create(client, model=CHAIN)
    assert client.health() == {}
    assert len(server.chat_requests(A)) == 4


async def test_spent_daily_quota_moves_on_and_cools_until_the_reset(server: MockServer, caller: Any) -> None:
    client = caller.client(server, max_retries=3)
    server.script(A, _quota_fail(reset_in=3600))
    started = time.monotonic()
    resp = await caller.create(client, model=CHAIN)
    assert time.monotonic() - started < 1.0, "a spent quota is not retried"
    assert [(a.model, a.error_kind) for a in resp.attempts] == [(A, "quota_exhausted"), (B, None)]
    health = client.health()[A]
    assert health.state == "open"
    assert health.cooled_until is not None and health.cooled_until > time.time() + 3000
    again = await caller.create(client, model=CHAIN)
    assert again.attempts[0].error_kind == "cooling_down"
    assert len(server.chat_requests(A)) == 1


async def test_spent_quota_on_a_single_model_is_a_rate_limit_error(server: MockServer, caller: Any) -> None:
    client = caller.client(server, max_retries=3)
    server.script(A, _quota_fail(reset_in=3600))
    with pytest.raises(fastrouter.RateLimitError) as info:
        await caller.create(client, model=A)
    assert info.value.kind == "quota_exhausted"
    assert info.value.retry_after is not None and info.value.retry_after > 3000
    assert len(server.chat_requests(A)) == 1


async def test_a_blamed_provider_is_sidestepped_on_the_first_retry(server: MockServer, caller: Any) -> None:
    client = caller.client(server, max_retries=2)
    server.script(A, Fail(502, metadata={"provider_name": "Together", "raw": "upstream reset"}, retry_after=5))
    started = time.monotonic()
    resp = await caller.create(client, model=A, provider={"order": ["Together", "Fireworks"]})
    assert time.monotonic() - started < 2.0, "sidestepping a provider needs no backoff"
    assert [a.status for a in resp.attempts] == [502, 200]
    first, second = server.chat_requests(A)
    assert "ignore" not in first.body["provider"]
    assert second.body["provider"] == {"order": ["Together", "Fireworks"], "ignore": ["Together"]}
    assert second.body["messages"] == first.body["messages"]


async def test_provider_is_sidestepped_only_once_per_model(server: MockServer, caller: Any) -> None:
    client = caller.client(server, max_retries=2)
    blamed = {"provider_name": "Together"}
    server.script(A, Fail(503, metadata=blamed), Fail(503, metadata=blamed, retry_after=0.01), Reply("third"))
    resp = await caller.create(client, model=A)
    assert resp.choices[0].message.content == "third"
    bodies = [r.body for r in server.chat_requests(A)]
    assert [b.get("provider") for b in bodies] == [None, {"ignore": ["Together"]}, {"ignore": ["Together"]}]


async def test_no_retries_means_no_sidestep(server: MockServer, caller: Any) -> None:
    client = caller.client(server, max_retries=0)
    server.script(A, Fail(502, metadata={"provider_name": "Together"}))
    with pytest.raises(fastrouter.ProviderError):
        await caller.create(client, model=A)
    assert len(server.chat_requests(A)) == 1


def test_cooldown_validates_its_settings() -> None:
    with pytest.raises(ValueError):
        fastrouter.Cooldown(failures=0)
    with pytest.raises(ValueError):
        fastrouter.Cooldown(seconds=-1)
    with pytest.raises(TypeError):
        fastrouter.Client(api_key="k", cooldown=3)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------ events


async def test_events_report_attempts_retries_and_failovers(server: MockServer, caller: Any) -> None:
    events: list[fastrouter.ChainEvent] = []
    client = caller.client(server, max_retries=1, on_event=events.append)
    server.script(A, Fail(503, retry_after=0.05), Fail(404))
    resp = await caller.create(client, model=CHAIN)
    assert resp.model == B
    assert [(e.type, e.model, e.status, e.error_kind) for e in events] == [
        ("attempt", A, 503, "service_unavailable"),
        ("retry", A, None, None),
        ("attempt", A, 404, "not_found"),
        ("failover", A, None, "not_found"),
        ("attempt", B, 200, None),
    ]
    assert events[1].wait_s == pytest.approx(0.05)
    assert all(e.latency_s is not None and e.latency_s >= 0 for e in events if e.type == "attempt")


async def test_events_report_sidesteps_cooldowns_and_skips(server: MockServer, caller: Any) -> None:
    events: list[fastrouter.ChainEvent] = []
    client = caller.client(
        server, max_retries=1, cooldown=fastrouter.Cooldown(failures=2, seconds=60), on_event=events.append
    )
    server.script(A, Fail(502, metadata={"provider_name": "Together"}), Fail(502))
    await caller.create(client, model=CHAIN)
    await caller.create(client, model=CHAIN)
    kinds = [(e.type, e.model) for e in events]
    assert ("sidestep", A) in kinds
    assert "Together" in next(e.message or "" for e in events if e.type == "sidestep")
    assert ("cooldown", A) in kinds
    assert kinds[-2:] == [("skip", A), ("attempt", B)]


async def test_a_failing_hook_never_breaks_the_request(
    server: MockServer, caller: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    reported: list[BaseException] = []
    monkeypatch.setattr("sys.unraisablehook", lambda info: reported.append(info.exc_value))

    def explode(event: fastrouter.ChainEvent) -> None:
        raise RuntimeError("hook bug")

    client = caller.client(server, on_event=explode)
    resp = await caller.create(client, model=A)
    assert resp.model == A
    assert any(isinstance(e, RuntimeError) and "hook bug" in str(e) for e in reported)


async def test_events_are_logged_at_debug(server: MockServer, caller: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG", logger="fastrouter")
    client = caller.client(server, max_retries=1)
    server.script(A, Fail(429, retry_after=0.01))
    await caller.create(client, model=A)
    messages = [r.getMessage() for r in caplog.records if r.name == "fastrouter"]
    assert any(m.startswith(f"attempt {A}") and "status 429" in m for m in messages)
    assert any(m.startswith(f"retry {A}") for m in messages)


def test_on_event_must_be_callable() -> None:
    with pytest.raises(TypeError):
        fastrouter.Client(api_key="k", on_event="print")  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- hedging


async def _chunks(stream: Any) -> list[Any]:
    if isinstance(stream, fastrouter.AsyncStream):
        return [chunk async for chunk in stream]
    return list(stream)


def _wait_for_closed(server: MockServer, at_least: int) -> None:
    deadline = time.monotonic() + 10
    while server.connections[1] < at_least and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.connections[1] >= at_least, server.connections


async def test_hedge_starts_the_next_model_and_cancels_the_loser(server: MockServer, caller: Any) -> None:
    events: list[fastrouter.ChainEvent] = []
    client = caller.client(server, hedge=fastrouter.Hedge(after=0.15), on_event=events.append)
    server.script(A, Reply("slow", delay=5.0))
    server.script(B, Reply("fast"))
    started = time.monotonic()
    resp = await caller.create(client, model=CHAIN)
    assert time.monotonic() - started < 3.0  # the slow answer would take 5 s
    assert resp.choices[0].message.content == "fast"
    assert [(a.model, a.status, a.error_kind, a.hedged) for a in resp.attempts] == [
        (A, None, "cancelled", True),
        (B, 200, None, True),
    ]
    assert [r.model for r in server.chat_requests()] == [A, B]
    _wait_for_closed(server, 1)  # the loser's connection was closed, not left to finish
    assert ("hedge", A) in [(e.type, e.model) for e in events]


async def test_no_hedge_when_the_first_model_is_fast(server: MockServer, caller: Any) -> None:
    client = caller.client(server, hedge=fastrouter.Hedge(after=5.0))
    resp = await caller.create(client, model=CHAIN)
    assert resp.model == A
    assert [(a.model, a.hedged) for a in resp.attempts] == [(A, False)]
    assert server.chat_requests(B) == []


async def test_hedge_survives_the_first_model_failing(server: MockServer, caller: Any) -> None:
    # Wide gaps: the hedge starts B (0.1 s) well before A fails (1 s), B answers well after.
    client = caller.client(server, hedge=fastrouter.Hedge(after=0.1))
    server.script(A, Fail(503, delay=1.0))
    server.script(B, Reply("from b", delay=1.5))
    resp = await caller.create(client, model=CHAIN)
    assert resp.choices[0].message.content == "from b"
    assert [(a.model, a.status, a.hedged) for a in resp.attempts] == [(A, 503, True), (B, 200, True)]


async def test_hedged_stream_keeps_the_first_to_deliver(server: MockServer, caller: Any) -> None:
    client = caller.client(server, hedge=fastrouter.Hedge(after=0.15))
    server.script(A, Reply("slow stream", stream=StreamScript(first_chunk_delay=5.0)))
    server.script(B, Reply("fast stream"))
    stream = await caller.create(client, model=CHAIN, stream=True)
    text = "".join([c.choices[0].delta.content or "" for c in await _chunks(stream) if c.choices])
    assert text == "fast stream"
    assert [(a.model, a.error_kind, a.hedged) for a in stream.attempts] == [(A, "cancelled", True), (B, None, True)]
    _wait_for_closed(server, 1)


async def test_adaptive_hedge_uses_the_measured_p95(server: MockServer, caller: Any) -> None:
    client = caller.client(server, hedge=fastrouter.Hedge(after=5.0, adaptive=True))
    for _ in range(10):  # fast answers teach the client A's usual time to first token
        await caller.create(client, model=CHAIN)
    server.script(A, Reply("slow", delay=10.0))
    server.script(B, Reply("fast"))
    started = time.monotonic()
    resp = await caller.create(client, model=CHAIN)
    assert time.monotonic() - started < 3.0, "a fixed 5 s delay would still be waiting"
    assert resp.choices[0].message.content == "fast"


def test_hedge_validates_its_delay() -> None:
    with pytest.raises(ValueError):
        fastrouter.Hedge(after=0)
    with pytest.raises(TypeError):
        fastrouter.Client(api_key="k", hedge=1.0)  # type: ignore[arg-type]
