"""Errors against the real embedded mock server: every documented status mapped to its
exception class with all its details, typed OpenRouter errors, missing and rejected keys,
connection failures and timeouts, retries and model chains. Every test runs with the sync
and the async client (the ``caller`` fixture in conftest.py)."""

from __future__ import annotations

import email.utils
import json
import socket
import time
from collections.abc import Callable
from typing import Any

import fastrouter
import pytest
from fastrouter import (
    AllModelsFailedError,
    APIConnectionError,
    APIError,
    APIResponseValidationError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    FastrouterError,
    InsufficientCreditsError,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
    ProviderError,
    RateLimitError,
    RequestTimeoutError,
    ServiceUnavailableError,
    UnprocessableEntityError,
)
from fastrouter.testing import Drop, Fail, MockServer, Raw, Reply

MODEL = "a/x"
OTHER = "b/y"
CHAIN = [MODEL, OTHER]

# status -> (class, the core's kind)
STATUSES = [
    (400, BadRequestError, "bad_request"),
    (401, AuthenticationError, "authentication"),
    (402, InsufficientCreditsError, "insufficient_credits"),
    (403, PermissionDeniedError, "permission_denied"),
    (404, NotFoundError, "not_found"),
    (408, RequestTimeoutError, "request_timeout"),
    (409, ConflictError, "conflict"),
    (413, BadRequestError, "bad_request"),
    (422, UnprocessableEntityError, "unprocessable_entity"),
    (429, RateLimitError, "rate_limited"),
    (500, InternalServerError, "server"),
    (502, ProviderError, "provider"),
    (503, ServiceUnavailableError, "service_unavailable"),
    (504, InternalServerError, "server"),
    (524, InternalServerError, "server"),
    (529, InternalServerError, "server"),
]
RETRYABLE = [408, 429, 500, 502, 503, 504, 524, 529]
NOT_RETRIED = [400, 401, 402, 403, 404, 409, 413, 422]
CLASS_OF = {status: cls for status, cls, _ in STATUSES}

MODERATION = {
    "reasons": ["harassment"],
    "flagged_input": "you are a worthless...and I will find you",
    "provider_name": "OpenAI",
    "model_slug": "openai/gpt-4o",
}
MODEL_NOT_FOUND_BODY = json.dumps(
    {
        "error": {
            "message": "acme/nope-1 is not a valid model ID",
            "error_type": "invalid_request",
            "http_status": 400,
            "availability": {
                "code": "model_not_found",
                "retryable": False,
                "requested_models": ["acme/nope-1"],
                "docs_url": "https://openrouter.ai/docs/errors#model_not_found",
            },
        }
    }
)


def closed_port_url() -> str:
    """A loopback base URL with nothing listening (bound, then closed)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return f"http://127.0.0.1:{port}/api/v1"


# ------------------------------------------------------------------ status -> class


@pytest.mark.parametrize(("status", "cls", "kind"), STATUSES, ids=[str(s) for s, _, _ in STATUSES])
async def test_status_maps_to_its_exception(server: MockServer, caller: Any, status: int, cls: type, kind: str) -> None:
    metadata = {"provider_name": "Together", "raw": f"upstream said {status}"}
    server.script(MODEL, Fail(status, message=f"failure {status}", metadata=metadata))
    client = caller.client(server)

    with pytest.raises(cls) as info:
        await caller.create(client, model=MODEL)

    exc = info.value
    assert type(exc) is cls
    assert isinstance(exc, APIStatusError)
    assert isinstance(exc, APIError)
    assert isinstance(exc, FastrouterError)
    assert not isinstance(exc, APIConnectionError)
    assert isinstance(exc, InternalServerError) == (status >= 500)
    assert exc.status_code == status
    assert exc.code == status
    assert exc.message == f"failure {status}"
    assert exc.metadata == metadata
    assert exc.provider == "Together"
    assert exc.kind == kind
    assert exc.model == MODEL
    assert f"failure {status}" in str(exc)
    assert str(status) in str(exc)
    [attempt] = exc.attempts
    assert attempt.model == MODEL
    assert attempt.status == status
    assert attempt.error_kind == kind
    assert attempt.error == f"failure {status}"
    assert attempt.provider == "Together"
    assert attempt.retry == 0
    assert attempt.cost is None
    assert not attempt.ok
    assert len(server.chat_requests(MODEL)) == 1


@pytest.mark.parametrize("status", [418, 451])
async def test_unlisted_4xx_is_a_plain_api_status_error(server: MockServer, caller: Any, status: int) -> None:
    server.script(MODEL, Fail(status, message="odd status"))
    with pytest.raises(APIStatusError) as info:
        await caller.create(caller.client(server, max_retries=2), model=MODEL)
    assert type(info.value) is APIStatusError
    assert info.value.status_code == status
    assert info.value.message == "odd status"
    assert len(server.chat_requests()) == 1


async def test_moderation_403_keeps_its_metadata(server: MockServer, caller: Any) -> None:
    message = 'openai/gpt-4o requires moderation on OpenAI. Your input was flagged for "harassment".'
    server.script(MODEL, Fail(403, message=message, metadata=MODERATION))

    with pytest.raises(PermissionDeniedError) as info:
        await caller.create(caller.client(server), model=MODEL)

    exc = info.value
    assert exc.message == message
    assert exc.metadata["reasons"] == ["harassment"]
    assert exc.metadata["flagged_input"] == "you are a worthless...and I will find you"
    assert exc.metadata["provider_name"] == "OpenAI"
    assert exc.metadata["model_slug"] == "openai/gpt-4o"
    assert exc.provider == "OpenAI"
    assert exc.kind == "permission_denied"


async def test_guardrail_403_keeps_patterns(server: MockServer, caller: Any) -> None:
    metadata = {"patterns": ["ignore all previous instructions"]}
    server.script(MODEL, Fail(403, message="Request blocked: prompt injection patterns detected", metadata=metadata))
    with pytest.raises(PermissionDeniedError) as info:
        await caller.create(caller.client(server), model=MODEL)
    assert info.value.metadata == metadata
    assert info.value.provider is None


async def test_provider_falls_back_to_the_provider_header(server: MockServer, caller: Any) -> None:
    server.script(MODEL, Fail(502, headers={"X-Provider-Name": "Groq"}))
    with pytest.raises(ProviderError) as info:
        await caller.create(caller.client(server), model=MODEL)
    assert info.value.provider == "Groq"


async def test_request_id_comes_from_the_generation_id_header(server: MockServer, caller: Any) -> None:
    server.script(MODEL, Fail(500, headers={"X-Generation-Id": "gen-err-123"}))
    with pytest.raises(InternalServerError) as info:
        await caller.create(caller.client(server), model=MODEL)
    assert info.value.request_id == "gen-err-123"


# ------------------------------------------------------------------ typed errors


@pytest.mark.parametrize("error_type", ["context_length_exceeded", "max_tokens_exceeded", "token_limit_exceeded"])
async def test_context_length_exceeded_is_a_typed_bad_request(server: MockServer, caller: Any, error_type: str) -> None:
    metadata = {"error_type": error_type, "provider_name": "Anthropic"}
    server.script(MODEL, Fail(400, message="prompt is too long: 250000 tokens > 200000 maximum", metadata=metadata))

    with pytest.raises(BadRequestError) as info:
        await caller.create(caller.client(server), model=MODEL)

    exc = info.value
    assert exc.kind == "context_length_exceeded"
    assert exc.status_code == 400
    assert exc.metadata["error_type"] == error_type
    assert exc.message == "prompt is too long: 250000 tokens > 200000 maximum"
    assert exc.attempts[0].error_kind == "context_length_exceeded"


async def test_availability_model_not_found_is_a_typed_bad_request(server: MockServer, caller: Any) -> None:
    server.script(MODEL, Raw(body=MODEL_NOT_FOUND_BODY, status=400, headers={"Content-Type": "application/json"}))

    with pytest.raises(BadRequestError) as info:
        await caller.create(caller.client(server), model=MODEL)

    exc = info.value
    assert exc.kind == "model_not_found"
    assert exc.status_code == 400
    assert exc.message == "acme/nope-1 is not a valid model ID"
    assert exc.metadata["error_type"] == "invalid_request"
    assert exc.metadata["availability"]["code"] == "model_not_found"
    assert exc.metadata["availability"]["requested_models"] == ["acme/nope-1"]


# ------------------------------------------------------------------ Retry-After


def _http_date(seconds_from_now: float) -> str:
    return email.utils.formatdate(time.time() + seconds_from_now, usegmt=True)


def _reset_ms(seconds_from_now: float) -> str:
    return str(int((time.time() + seconds_from_now) * 1000))


RETRY_AFTER_CASES: list[tuple[str, Callable[[], Fail], float | None, float | None]] = [
    ("seconds", lambda: Fail(429, headers={"Retry-After": "7"}), 7.0, 7.0),
    ("fractional-seconds", lambda: Fail(429, retry_after=0.5), 0.5, 0.5),
    ("retry-after-ms", lambda: Fail(429, headers={"retry-after-ms": "1500"}), 1.5, 1.5),
    ("http-date", lambda: Fail(429, headers={"Retry-After": _http_date(120)}), 110.0, 120.0),
    (
        "x-ratelimit-reset-ms",
        lambda: Fail(429, metadata={"headers": {"X-RateLimit-Limit": "50", "X-RateLimit-Reset": _reset_ms(60)}}),
        55.0,
        60.0,
    ),
    (
        "x-ratelimit-reset-s",
        lambda: Fail(429, metadata={"headers": {"X-RateLimit-Reset": str(int(time.time()) + 60)}}),
        55.0,
        60.0,
    ),
    ("availability", lambda: Fail(429, metadata={"availability": {"retry_after": 12}}), 12.0, 12.0),
    ("absent", lambda: Fail(429), None, None),
]


@pytest.mark.parametrize(
    ("fail", "low", "high"), [c[1:] for c in RETRY_AFTER_CASES], ids=[c[0] for c in RETRY_AFTER_CASES]
)
async def test_rate_limit_retry_after(
    server: MockServer, caller: Any, fail: Callable[[], Fail], low: float | None, high: float | None
) -> None:
    server.script(MODEL, fail())

    with pytest.raises(RateLimitError) as info:
        await caller.create(caller.client(server), model=MODEL)

    retry_after = info.value.retry_after
    if low is None:
        assert retry_after is None
    else:
        assert retry_after is not None
        assert low <= retry_after <= high


# ------------------------------------------------------------------ API keys


@pytest.mark.parametrize("key", [None, ""], ids=["none", "empty"])
@pytest.mark.parametrize("model", [MODEL, CHAIN], ids=["model", "chain"])
async def test_missing_api_key_fails_before_sending(
    server: MockServer, caller: Any, monkeypatch: pytest.MonkeyPatch, key: str | None, model: Any
) -> None:
    monkeypatch.delenv("OPENROUTER_API_KEY", raising=False)
    client = caller.client(server, api_key=key, max_retries=3)
    assert "api_key=<missing>" in repr(client)

    with pytest.raises(AuthenticationError) as info:
        await caller.create(client, model=model)

    exc = info.value
    assert "OPENROUTER_API_KEY" in exc.message
    assert "api_key" in exc.message
    assert exc.kind == "authentication"
    assert server.requests == []


async def test_key_rejected_by_the_server(caller: Any) -> None:
    with MockServer(api_key="right") as server:
        wrong = caller.client(server, api_key="wrong", max_retries=2)
        with pytest.raises(AuthenticationError) as info:
            await caller.create(wrong, model=MODEL)
        exc = info.value
        assert exc.status_code == 401
        assert exc.code == 401
        assert exc.kind == "authentication"
        assert exc.message == "User not found."
        assert [a.status for a in exc.attempts] == [401]
        assert len(server.chat_requests()) == 1  # a 401 is never retried

        right = caller.client(server, api_key="right")
        server.add_models(MODEL)
        resp = await caller.create(right, model=MODEL)
        assert resp.choices[0].message.content


SECRET = "sk-or-v1-LEAKCHECK-7f3a9c1e5b2d4f60"


def _texts(exc: BaseException) -> list[str]:
    """Every human-visible rendering of an exception and what it carries."""
    texts = [str(exc), repr(exc), *(repr(arg) for arg in exc.args)]
    texts += [repr(value) for value in vars(exc).values()]
    texts += [str(value) for value in vars(exc).values()]
    last = getattr(exc, "last_error", None)
    if last is not None:
        texts += _texts(last)
    return texts


LEAK_SCENARIOS = ["rejected", "server-error", "chain-exhausted", "bad-json", "connection-refused", "timeout"]


@pytest.mark.parametrize("scenario", LEAK_SCENARIOS)
async def test_api_key_never_leaks(caller: Any, scenario: str) -> None:
    with MockServer(api_key="some-other-key" if scenario == "rejected" else None) as server:
        model: Any = MODEL
        kwargs: dict[str, Any] = {"api_key": SECRET}
        if scenario == "server-error":
            server.script(MODEL, Fail(500, metadata={"provider_name": "X"}))
        elif scenario == "chain-exhausted":
            model = CHAIN
            server.script(MODEL, Fail(503))
            server.script(OTHER, Fail(503))
        elif scenario == "bad-json":
            server.script(MODEL, Raw(body="<html>not json</html>"))
        elif scenario == "timeout":
            server.script(MODEL, Reply(delay=1))
            kwargs["timeout"] = 0.2
        target: Any = closed_port_url() if scenario == "connection-refused" else server
        client = caller.client(target, **kwargs)
        assert SECRET not in repr(client)

        with pytest.raises(FastrouterError) as info:
            await caller.create(client, model=model)

        for text in _texts(info.value):
            assert SECRET not in text
        for request in server.requests:
            assert request.headers["authorization"] == "Bearer <redacted>"
            assert all(SECRET not in value for value in request.headers.values())
            assert SECRET not in json.dumps(request.body)


# ------------------------------------------------------------------ no response


async def test_connection_refused(caller: Any) -> None:
    client = caller.client(closed_port_url())

    with pytest.raises(APIConnectionError) as info:
        await caller.create(client, model=MODEL)

    exc = info.value
    assert type(exc) is APIConnectionError
    assert isinstance(exc, APIError) and isinstance(exc, FastrouterError)
    assert not isinstance(exc, (APIStatusError, APITimeoutError))
    assert exc.kind == "connection"
    assert exc.model == MODEL
    [attempt] = exc.attempts
    assert attempt.status is None
    assert attempt.error_kind == "connection"


async def test_dropped_connection(server: MockServer, caller: Any) -> None:
    server.script(MODEL, Drop())

    with pytest.raises(APIConnectionError) as info:
        await caller.create(caller.client(server), model=MODEL)

    exc = info.value
    assert type(exc) is APIConnectionError
    assert exc.kind == "connection"
    assert [a.status for a in exc.attempts] == [None]
    assert len(server.chat_requests()) == 1


async def test_timeout_is_also_a_builtin_timeout_error(server: MockServer, caller: Any) -> None:
    server.script(MODEL, Reply("too late", delay=5))
    client = caller.client(server, timeout=0.3)

    started = time.monotonic()
    with pytest.raises(APITimeoutError) as info:
        await caller.create(client, model=MODEL)
    elapsed = time.monotonic() - started

    exc = info.value
    assert isinstance(exc, TimeoutError)
    assert isinstance(exc, APIConnectionError)
    assert isinstance(exc, FastrouterError)
    assert exc.kind == "timeout"
    assert [(a.status, a.error_kind) for a in exc.attempts] == [(None, "timeout")]
    assert 0.25 <= elapsed < 3.0  # the answer would come at 5 s


async def test_non_json_success_is_a_validation_error(server: MockServer, caller: Any) -> None:
    server.script(MODEL, Raw(body="this is not json"))
    with pytest.raises(APIResponseValidationError) as info:
        await caller.create(caller.client(server), model=MODEL)
    assert not isinstance(info.value, APIStatusError)
    assert info.value.kind == "invalid_response"
    assert info.value.body == "this is not json"


# ------------------------------------------------------------------ retries


async def test_rate_limit_is_retried_after_retry_after(server: MockServer, caller: Any) -> None:
    server.script(MODEL, Fail(429, retry_after=0.2), Reply("after the wait"))
    client = caller.client(server, max_retries=2)

    started = time.monotonic()
    resp = await caller.create(client, model=MODEL)
    elapsed = time.monotonic() - started

    assert resp.choices[0].message.content == "after the wait"
    assert [a.status for a in resp.attempts] == [429, 200]
    assert [a.error_kind for a in resp.attempts] == ["rate_limited", None]
    assert [a.retry for a in resp.attempts] == [0, 1]
    assert [a.ok for a in resp.attempts] == [False, True]
    assert elapsed >= 0.2
    assert len(server.chat_requests()) == 2


@pytest.mark.parametrize("status", RETRYABLE)
async def test_retryable_status_is_retried_up_to_max_retries(server: MockServer, caller: Any, status: int) -> None:
    server.script(MODEL, *[Fail(status, retry_after=0.01)] * 3)
    client = caller.client(server, max_retries=2)

    with pytest.raises(CLASS_OF[status]) as info:
        await caller.create(client, model=MODEL)

    assert [a.status for a in info.value.attempts] == [status] * 3
    assert [a.retry for a in info.value.attempts] == [0, 1, 2]
    assert len(server.chat_requests()) == 3
    assert server.pending() == {}


@pytest.mark.parametrize("status", NOT_RETRIED)
async def test_request_errors_are_never_retried(server: MockServer, caller: Any, status: int) -> None:
    server.script(MODEL, Fail(status), Reply("must not be reached"))
    client = caller.client(server, max_retries=3)

    with pytest.raises(CLASS_OF[status]) as info:
        await caller.create(client, model=MODEL)

    assert len(info.value.attempts) == 1
    assert len(server.chat_requests()) == 1


async def test_dropped_connection_is_retried(server: MockServer, caller: Any) -> None:
    server.script(MODEL, Drop(), Reply("second try"))
    resp = await caller.create(caller.client(server, max_retries=1), model=MODEL)
    assert resp.choices[0].message.content == "second try"
    assert [(a.status, a.error_kind) for a in resp.attempts] == [(None, "connection"), (200, None)]


async def test_timeout_is_retried(server: MockServer, caller: Any) -> None:
    server.script(MODEL, Reply("slow", delay=1), Reply("fast"))
    resp = await caller.create(caller.client(server, max_retries=1, timeout=0.2), model=MODEL)
    assert resp.choices[0].message.content == "fast"
    assert [(a.status, a.error_kind) for a in resp.attempts] == [(None, "timeout"), (200, None)]


# ------------------------------------------------------------------ model chains


async def test_not_found_moves_to_the_next_model(server: MockServer, caller: Any) -> None:
    server.script(MODEL, Fail(404))
    server.script(OTHER, Reply("from b"))

    resp = await caller.create(caller.client(server, max_retries=2), model=CHAIN)

    assert resp.choices[0].message.content == "from b"
    assert resp.model == OTHER
    assert [a.model for a in resp.attempts] == CHAIN
    assert [a.status for a in resp.attempts] == [404, 200]
    assert [r.model for r in server.chat_requests()] == CHAIN


@pytest.mark.parametrize(
    ("outcome", "kind"),
    [
        (Fail(404), "not_found"),
        (Fail(403, metadata=MODERATION), "permission_denied"),
        (Fail(400, metadata={"error_type": "context_length_exceeded"}), "context_length_exceeded"),
        (Raw(body=MODEL_NOT_FOUND_BODY, status=400), "model_not_found"),
    ],
    ids=["not-found", "moderation", "context-length", "model-not-found"],
)
async def test_model_specific_failures_go_straight_to_the_next_model(
    server: MockServer, caller: Any, outcome: Any, kind: str
) -> None:
    server.script(MODEL, outcome, Reply("must not be reached"))
    server.script(OTHER, Reply("from b"))

    resp = await caller.create(caller.client(server, max_retries=3), model=CHAIN)

    assert resp.choices[0].message.content == "from b"
    assert [(a.model, a.error_kind) for a in resp.attempts] == [(MODEL, kind), (OTHER, None)]
    assert len(server.chat_requests(MODEL)) == 1


async def test_retries_then_fails_over(server: MockServer, caller: Any) -> None:
    server.script(MODEL, Fail(503, retry_after=0.01), Fail(503, retry_after=0.01))
    server.script(OTHER, Reply("from b"))

    resp = await caller.create(caller.client(server, max_retries=1), model=CHAIN)

    assert resp.choices[0].message.content == "from b"
    assert [(a.model, a.status, a.retry) for a in resp.attempts] == [(MODEL, 503, 0), (MODEL, 503, 1), (OTHER, 200, 0)]


async def test_exhausted_chain_raises_all_models_failed(server: MockServer, caller: Any) -> None:
    server.script(MODEL, Fail(503, retry_after=0.01), Fail(503, retry_after=0.01))
    server.script(OTHER, Fail(503, retry_after=0.01), Fail(503, message="b is down", retry_after=0.01))

    with pytest.raises(AllModelsFailedError) as info:
        await caller.create(caller.client(server, max_retries=1), model=CHAIN)

    exc = info.value
    assert isinstance(exc, FastrouterError)
    assert [(a.model, a.status) for a in exc.attempts] == [(MODEL, 503), (MODEL, 503), (OTHER, 503), (OTHER, 503)]
    assert isinstance(exc.last_error, ServiceUnavailableError)
    assert exc.last_error.status_code == 503
    assert exc.last_error.message == "b is down"
    assert exc.last_error.model == OTHER
    assert MODEL in str(exc) and OTHER in str(exc)
    assert server.pending() == {}


async def test_exhausted_chain_is_caught_as_an_api_error(server: MockServer, caller: Any) -> None:
    server.script(MODEL, Fail(503, retry_after=0.01))
    server.script(OTHER, Fail(429, message="b is busy", retry_after=0.01))

    with pytest.raises(APIError) as info:
        await caller.create(caller.client(server, max_retries=0), model=CHAIN)

    exc = info.value
    assert isinstance(exc, AllModelsFailedError)
    assert exc.status_code == 429
    assert exc.kind == "rate_limited"
    assert exc.model == OTHER
    assert exc.message == str(exc) and "b is busy" in exc.message
    assert [(a.model, a.status) for a in exc.attempts] == [(MODEL, 503), (OTHER, 429)]


async def test_single_model_list_raises_its_own_error(server: MockServer, caller: Any) -> None:
    server.script(MODEL, Fail(503))
    with pytest.raises(ServiceUnavailableError):
        await caller.create(caller.client(server), model=[MODEL])


async def test_authentication_error_stops_the_chain(server: MockServer, caller: Any) -> None:
    server.script(MODEL, Fail(401))
    server.script(OTHER, Reply("must not be reached"))

    with pytest.raises(AuthenticationError) as info:
        await caller.create(caller.client(server, max_retries=2), model=CHAIN)

    assert not isinstance(info.value, AllModelsFailedError)
    assert [a.model for a in info.value.attempts] == [MODEL]
    assert server.chat_requests(OTHER) == []
    assert server.pending() == {OTHER: 1}


async def test_bad_request_stops_the_chain(server: MockServer, caller: Any) -> None:
    server.script(MODEL, Fail(400, message="temperature must be <= 2"))
    server.script(OTHER, Reply("must not be reached"))

    with pytest.raises(BadRequestError) as info:
        await caller.create(caller.client(server, max_retries=2), model=CHAIN)

    assert info.value.message == "temperature must be <= 2"
    assert server.chat_requests(OTHER) == []


def test_error_classes_follow_the_documented_hierarchy() -> None:
    assert issubclass(fastrouter.APITimeoutError, fastrouter.APIConnectionError)
    assert issubclass(fastrouter.APITimeoutError, TimeoutError)
    for _, cls, _ in STATUSES:
        assert issubclass(cls, fastrouter.APIStatusError)
    for cls in (ProviderError, ServiceUnavailableError):
        assert issubclass(cls, InternalServerError)
    for cls in (
        APIStatusError,
        APIConnectionError,
        APIResponseValidationError,
        fastrouter.StreamError,
        AllModelsFailedError,
    ):
        assert issubclass(cls, APIError)
    assert issubclass(fastrouter.StreamTimeoutError, fastrouter.StreamError)
    assert issubclass(fastrouter.StreamTimeoutError, fastrouter.APITimeoutError)
    for cls in (APIError, AllModelsFailedError, fastrouter.BudgetExceededError):
        assert issubclass(cls, FastrouterError)
