"""Wire quirks: genuine recorded OpenRouter bodies served through the mock with ``Raw``, and
synthetic shapes the recordings do not cover (errors inside 200 bodies, proxy HTML pages,
empty and non-JSON bodies, brotli, unknown fields, tool calls, reasoning).

The recordings live in ``tests/fixtures/openrouter-traffic/``, copied verbatim, each with a
``.source.txt`` sidecar naming where it was recorded.
The pydantic-ai VCR cassettes store the response as parsed YAML (``parsed_body``), not as
a string, so their bodies were extracted once into ``*.interactionN.body.json`` (compact
``json.dumps`` of ``parsed_body``); ``test_extracted_bodies_match_the_cassettes`` checks
the extraction against the ``.vcr.yaml`` files when PyYAML is installed.
"""

from __future__ import annotations

import json
import math
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fastrouter import (
    APIResponseValidationError,
    APIStatusError,
    BadRequestError,
    InternalServerError,
    ProviderError,
    RateLimitError,
    ServiceUnavailableError,
)
from fastrouter.testing import Fail, MockServer, Raw, Reply, ToolCall
from json_helpers import typed

FIXTURES = Path(__file__).parent / "fixtures" / "openrouter-traffic"
MODEL = "a/x"
JSON = {"Content-Type": "application/json"}

KEEPALIVE = "ai-sdk-provider__nonstream_200_leading_whitespace_keepalive.response.json"
ERRORS_400 = [
    "ai-sdk-provider__error_400_provider_returned_error_anthropic",
    "ai-sdk-provider__error_400_openrouter_validation",
    "ai-sdk-provider__error_400_image_fetch_failed",
]
RATE_LIMITED_429 = "pydantic-ai__error_429_provider_rate_limited.interaction0.body.json"
USAGE_WITHOUT_COST = "pydantic-ai__nonstream_usage_with_and_without_usage_include.interaction0.body.json"
USAGE_WITH_COST = "pydantic-ai__nonstream_usage_with_and_without_usage_include.interaction1.body.json"
WEB_SEARCH = "pydantic-ai__nonstream_web_search_annotations.interaction0.body.json"


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


def cost_text(body: str) -> str:
    """``usage.cost`` exactly as written in a recorded body."""
    match = re.search(r'"usage":\{.*?"cost":(-?[0-9.eE+-]+)', body)
    assert match, "the recording has no usage.cost"
    return match.group(1)


def recorded_headers(response_name: str) -> dict[str, str]:
    """The recorded response headers worth replaying: content type and the cf-ray id.
    (``content-encoding: gzip`` is left out: the stored body is already decoded.)"""
    meta = json.loads(fixture(response_name.replace(".response.json", ".response.meta.json")))
    return {name: meta["headers"][name] for name in ("content-type", "cf-ray")}


# ------------------------------------------------------------------ recorded successes


async def test_leading_whitespace_keepalive(server: MockServer, caller: Any) -> None:
    body = fixture(KEEPALIVE)
    assert body.startswith("\n") and body.lstrip().startswith("{")  # the quirk is really there
    headers = recorded_headers(KEEPALIVE)
    server.script(MODEL, Raw(body=body, status=200, headers=headers))

    resp = await caller.create(caller.client(server), model=MODEL)

    assert resp.id == "gen-1767762639-byPo1nLGYezoxgy9LpRt"
    assert resp.provider == "Amazon Bedrock"
    assert resp.model == "anthropic/claude-sonnet-4"
    assert resp.choices[0].message.content == "Google logo"
    assert resp.choices[0].finish_reason == "stop"
    assert (resp.usage.prompt_tokens, resp.usage.completion_tokens, resp.usage.total_tokens) == (163, 5, 168)
    assert resp.usage.cost_details.upstream_inference_prompt_cost == 0.000489
    exact = cost_text(body)
    assert exact == "0.000564"
    assert isinstance(resp.cost, Decimal)
    assert resp.cost == Decimal(exact)
    assert str(resp.cost) == exact
    assert resp.usage.cost == 0.000564
    [attempt] = resp.attempts
    assert (attempt.status, attempt.provider, attempt.cost) == (200, "Amazon Bedrock", Decimal(exact))
    assert resp.to_dict() == json.loads(body)


async def test_usage_without_cost(server: MockServer, caller: Any) -> None:
    body = fixture(USAGE_WITHOUT_COST)
    server.script(MODEL, Raw(body=body, headers=JSON))

    resp = await caller.create(caller.client(server), model=MODEL)

    assert resp.cost is None
    assert resp.usage.cost is None
    assert resp.attempts[0].cost is None
    assert (resp.usage.prompt_tokens, resp.usage.completion_tokens, resp.usage.total_tokens) == (17, 1515, 1532)
    assert resp.usage.completion_tokens_details.reasoning_tokens == 704
    assert resp.provider == "OpenAI"
    assert resp.model == "openai/gpt-5-mini"
    assert resp.id == "gen-1762789695-8IngOktYUifJqeBs0mwc"
    assert resp.choices[0].message.content.startswith("Brief summary\n- Venus is the second planet")
    assert resp.choices[0].message.reasoning_details[0].summary.startswith("**Exploring Venus**")


async def test_usage_with_cost_and_reasoning_details(server: MockServer, caller: Any) -> None:
    body = fixture(USAGE_WITH_COST)
    server.script(MODEL, Raw(body=body, headers=JSON))

    resp = await caller.create(caller.client(server), model=MODEL)

    assert cost_text(body) == "0.00435825"
    assert resp.cost == Decimal("0.00435825")
    assert str(resp.cost) == "0.00435825"
    assert resp.usage.cost_details.upstream_inference_prompt_cost == 4.25e-06
    assert resp.usage.cost_details.upstream_inference_cost is None
    assert resp.usage.completion_tokens_details.reasoning_tokens == 960
    choice = resp.choices[0]
    assert (choice.finish_reason, choice.native_finish_reason) == ("stop", "completed")
    summary, encrypted = choice.message.reasoning_details
    assert summary.type == "reasoning.summary"
    assert summary.summary.startswith("**Exploring Mars Overview**")
    assert summary.format == "openai-responses-v1"
    assert encrypted.type == "reasoning.encrypted"
    assert encrypted.data.startswith("gAAAAA")
    assert encrypted.id == "rs_029b1b33873fe02b0169120967d9a88197af3d9f4db7a92055"
    assert choice.message.reasoning.startswith("**Exploring Mars Overview**")
    assert resp.id == "gen-1762789734-sxYWfPfn343ZvBkw9zV9"


async def test_web_search_annotations(server: MockServer, caller: Any) -> None:
    body = fixture(WEB_SEARCH)
    server.script(MODEL, Raw(body=body, headers=JSON))

    resp = await caller.create(caller.client(server), model=MODEL)

    message = resp.choices[0].message
    assert message.content == "https://github.com/pydantic/pydantic-ai"
    annotations = message.annotations
    assert len(annotations) == 5
    assert annotations[0].type == "url_citation"
    assert annotations[0].url_citation.url == "https://github.com/pydantic/pydantic-ai"
    assert annotations[0].url_citation.title == "AI Agent Framework, the Pydantic way"
    assert annotations[1].url_citation.title == ""
    assert annotations[-1].url_citation.url == "https://github.com/pydantic/pydantic-ai/tree/refs/tags/v1.44.0"
    assert resp.usage.server_tool_use_details == {
        "tool_calls_executed": 1,
        "tool_calls_requested": 1,
        "web_search_requests": 1,
    }
    assert resp.usage.prompt_tokens_details.cache_write_tokens == 0
    assert resp.service_tier is None
    assert resp.cost == Decimal(cost_text(body)) == Decimal("0.007637029")


def test_extracted_bodies_match_the_cassettes() -> None:
    yaml = pytest.importorskip("yaml")
    pairs = {
        "pydantic-ai__error_429_provider_rate_limited": [RATE_LIMITED_429],
        "pydantic-ai__nonstream_usage_with_and_without_usage_include": [USAGE_WITHOUT_COST, USAGE_WITH_COST],
        "pydantic-ai__nonstream_web_search_annotations": [WEB_SEARCH],
    }
    for cassette, extracted in pairs.items():
        interactions = yaml.safe_load(fixture(f"{cassette}.vcr.yaml"))["interactions"]
        for index, name in enumerate(extracted):
            assert json.loads(fixture(name)) == interactions[index]["response"]["parsed_body"], name


# ------------------------------------------------------------------ recorded errors


@pytest.mark.parametrize("name", ERRORS_400)
async def test_recorded_400_is_a_bad_request(server: MockServer, caller: Any, name: str) -> None:
    response_name = f"{name}.response.json"
    body = fixture(response_name)
    expected = json.loads(body)["error"]
    server.script(MODEL, Raw(body=body, status=400, headers=recorded_headers(response_name)))
    client = caller.client(server, max_retries=2)

    with pytest.raises(BadRequestError) as info:
        await caller.create(client, model=MODEL)

    exc = info.value
    assert exc.message == expected["message"]
    assert exc.code == 400
    assert exc.status_code == 400
    assert exc.kind == "bad_request"
    assert exc.metadata == expected["metadata"]
    assert exc.provider == expected["metadata"]["provider_name"]
    assert exc.request_id == recorded_headers(response_name)["cf-ray"]
    assert len(server.chat_requests()) == 1


async def test_recorded_400_keeps_raw_json_in_a_string(server: MockServer, caller: Any) -> None:
    response_name = "ai-sdk-provider__error_400_provider_returned_error_anthropic.response.json"
    body = fixture(response_name)
    server.script(MODEL, Raw(body=body, status=400, headers=JSON))

    with pytest.raises(BadRequestError) as info:
        await caller.create(caller.client(server), model=MODEL)

    raw = info.value.metadata["raw"]
    assert isinstance(raw, str)
    assert raw == json.loads(body)["error"]["metadata"]["raw"]
    upstream = json.loads(raw)
    assert upstream["error"]["type"] == "invalid_request_error"
    assert upstream["request_id"] == "req_011CWsRUFx3cknmn6MoX9DrM"
    assert info.value.provider == "Anthropic"
    assert info.value.message == "Provider returned error"


async def test_recorded_429_provider_rate_limited(server: MockServer, caller: Any) -> None:
    # Body: the 429 response of pydantic-ai__error_429_provider_rate_limited.vcr.yaml
    # (all three recorded interactions are identical), extracted to .interaction0.body.json.
    body = fixture(RATE_LIMITED_429)
    server.script(MODEL, Raw(body=body, status=429, headers=JSON))

    with pytest.raises(RateLimitError) as info:
        await caller.create(caller.client(server), model=MODEL)

    exc = info.value
    assert exc.status_code == 429
    assert exc.code == 429
    assert exc.kind == "rate_limited"
    assert exc.message == "Provider returned error"
    assert exc.provider == "Google"
    assert exc.metadata["raw"].startswith("google/gemini-2.0-flash-exp:free is temporarily rate-limited upstream.")
    assert exc.retry_after is None


async def test_recorded_429_then_success_is_retried(server: MockServer, caller: Any) -> None:
    # Recorded bodies; the Retry-After header is synthetic (keeps the test fast).
    server.script(
        MODEL,
        Raw(body=fixture(RATE_LIMITED_429), status=429, headers={**JSON, "Retry-After": "0.05"}),
        Raw(body=fixture(WEB_SEARCH), headers=JSON),
    )

    resp = await caller.create(caller.client(server, max_retries=1), model=MODEL)

    assert [(a.status, a.provider) for a in resp.attempts] == [(429, "Google"), (200, "OpenAI")]
    assert resp.choices[0].message.content == "https://github.com/pydantic/pydantic-ai"


# ------------------------------------------------------------------ errors inside a 200


@pytest.mark.parametrize(
    ("status", "cls"),
    [(502, ProviderError), (503, ServiceUnavailableError), (429, RateLimitError), (400, BadRequestError)],
)
async def test_error_object_inside_a_200_body(server: MockServer, caller: Any, status: int, cls: type) -> None:
    metadata = {"provider_name": "Together", "raw": "upstream connect error or disconnect/reset before headers"}
    server.script(MODEL, Fail(status, message="Provider returned error", metadata=metadata, in_body=True))

    with pytest.raises(cls) as info:
        await caller.create(caller.client(server), model=MODEL)

    exc = info.value
    assert type(exc) is cls
    assert exc.status_code == status
    assert exc.code == status
    assert exc.message == "Provider returned error"
    assert exc.metadata == metadata
    assert exc.provider == "Together"


async def test_error_inside_a_200_body_after_keepalive_padding(server: MockServer, caller: Any) -> None:
    error = {"error": {"code": 503, "message": "No instances available", "metadata": {"provider_name": None}}}
    server.script(MODEL, Raw(body="\n         \n" * 6 + json.dumps(error), headers=JSON))

    with pytest.raises(ServiceUnavailableError) as info:
        await caller.create(caller.client(server), model=MODEL)

    assert info.value.message == "No instances available"
    assert info.value.status_code == 503


async def test_typed_error_inside_a_200_body_uses_http_status(server: MockServer, caller: Any) -> None:
    error = {"error": {"message": "Slow down", "error_type": "rate_limit_exceeded", "http_status": 429}}
    server.script(MODEL, Raw(body=json.dumps(error), headers=JSON))

    with pytest.raises(RateLimitError) as info:
        await caller.create(caller.client(server), model=MODEL)

    assert info.value.status_code == 429
    assert info.value.metadata["error_type"] == "rate_limit_exceeded"


async def test_error_inside_a_200_body_is_retried(server: MockServer, caller: Any) -> None:
    server.script(MODEL, Fail(502, in_body=True, retry_after=0.01), Reply("recovered"))
    resp = await caller.create(caller.client(server, max_retries=1), model=MODEL)
    assert resp.choices[0].message.content == "recovered"
    assert [a.error_kind for a in resp.attempts] == ["provider", None]


@pytest.mark.parametrize(
    ("error", "cls", "status", "code"),
    [
        (
            '{"code":502,"message":"down","metadata":{"provider_name":"P","n":1e400,"z":-0,"big":BIG}}',
            ProviderError,
            502,
            502,
        ),
        ('{"code":-0,"message":"down","metadata":{"z":-0}}', InternalServerError, 500, 0),
        ('{"code":-0,"message":"down","metadata":{"n":[1e400,-0]}}', InternalServerError, 500, 0),
        ('{"code":1e400,"message":"down"}', InternalServerError, 500, math.inf),
    ],
)
async def test_an_error_inside_a_200_body_reads_as_in_a_non_2xx_one(
    server: MockServer, caller: Any, error: str, cls: type, status: int, code: Any
) -> None:
    """One reading of an error object (top level or in a choice), whatever the status:
    ``code`` and ``metadata`` as ``json.loads`` reads them. Before, ``1e400`` made a 200
    body "not a chat completion" and ``-0`` came out as ``-0.0``."""
    error = error.replace("BIG", str(2**64))
    sent = json.loads(error)
    bodies = [
        (f'{{"error":{error}}}', status),
        (f'{{"error":{error}}}', 200),
        (f'{{"id":"g","choices":[{{"index":0,"message":{{"content":"par"}},"error":{error}}}]}}', 200),
    ]
    seen = []
    for body, http_status in bodies:
        server.script(MODEL, Raw(body=body, status=http_status, headers=JSON))
        with pytest.raises(cls) as info:
            await caller.create(caller.client(server), model=MODEL)
        exc = info.value
        assert type(exc) is cls, body
        seen.append((exc.status_code, exc.message, typed(exc.code), typed(exc.metadata)))
    metadata = sent.get("metadata", {})
    assert seen == [(status, "down", typed(code), typed(metadata))] * 3


async def test_a_string_error_inside_a_200_body_is_the_servers_error(server: MockServer, caller: Any) -> None:
    # Read as a stream's in-band error is: before, the body was "not a chat completion".
    server.script(MODEL, Raw(body='{"error":"upstream exploded"}', headers=JSON))
    with pytest.raises(InternalServerError, match="upstream exploded"):
        await caller.create(caller.client(server), model=MODEL)


async def test_a_null_error_inside_a_200_body_is_no_error(server: MockServer, caller: Any) -> None:
    body = json.loads(_choice_error_body(502, "x"))
    del body["choices"][0]["error"]
    body["choices"][0]["finish_reason"] = "stop"
    body["error"] = None
    server.script(MODEL, Raw(body=json.dumps(body), headers=JSON))
    resp = await caller.create(caller.client(server), model=MODEL)
    assert resp.choices[0].message.content == "Partial answ"


def _choice_error_body(code: int, message: str) -> str:
    return json.dumps(
        {
            "id": "gen-1771234567-Qm3xT9aLpVw2RkZs8hYc",
            "provider": "Chutes",
            "model": "qwen/qwen3-coder",
            "object": "chat.completion",
            "created": 1771234567,
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "error",
                    "native_finish_reason": "error",
                    "message": {"role": "assistant", "content": "Partial answ"},
                    "error": {"code": code, "message": message, "metadata": {"provider_name": "Chutes"}},
                }
            ],
            "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15, "cost": 0},
        }
    )


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        (429, RateLimitError),
        (502, ProviderError),
        (503, ServiceUnavailableError),
        (500, InternalServerError),
        (400, BadRequestError),
    ],
)
async def test_choice_error_with_finish_reason_error(server: MockServer, caller: Any, code: int, cls: type) -> None:
    server.script(MODEL, Raw(body=_choice_error_body(code, f"upstream failed with {code}"), headers=JSON))

    with pytest.raises(cls) as info:
        await caller.create(caller.client(server), model=MODEL)

    exc = info.value
    assert type(exc) is cls
    assert exc.status_code == code
    assert exc.code == code
    assert exc.message == f"upstream failed with {code}"
    assert exc.provider == "Chutes"


async def test_choice_error_is_retried(server: MockServer, caller: Any) -> None:
    server.script(
        MODEL,
        Raw(body=_choice_error_body(502, "cut off"), headers={**JSON, "Retry-After": "0.01"}),
        Reply("whole answer"),
    )
    resp = await caller.create(caller.client(server, max_retries=1), model=MODEL)
    assert resp.choices[0].message.content == "whole answer"
    assert [a.status for a in resp.attempts] == [502, 200]


# ------------------------------------------------------------------ odd error bodies


async def test_string_code_on_a_400(server: MockServer, caller: Any) -> None:
    body = {
        "error": {
            "message": "Provider returned error",
            "code": "bad_request",
            "metadata": {"raw": '{"type":"error"}', "provider_name": "Anthropic"},
        },
        "user_id": "user_1",
    }
    server.script(MODEL, Raw(body=json.dumps(body), status=400, headers=JSON))

    with pytest.raises(BadRequestError) as info:
        await caller.create(caller.client(server), model=MODEL)

    exc = info.value
    assert exc.code == "bad_request"
    assert exc.status_code == 400
    assert exc.kind == "bad_request"
    assert exc.metadata["raw"] == '{"type":"error"}'
    assert exc.provider == "Anthropic"


async def test_string_code_does_not_override_the_http_status(server: MockServer, caller: Any) -> None:
    server.script(MODEL, Fail(429, code="rate_limit_exceeded"))
    with pytest.raises(RateLimitError) as info:
        await caller.create(caller.client(server), model=MODEL)
    assert info.value.code == "rate_limit_exceeded"
    assert info.value.status_code == 429


PROXY_PAGES = [
    (502, ProviderError, "502 Bad Gateway"),
    (503, ServiceUnavailableError, "503 Service Temporarily Unavailable"),
    (524, InternalServerError, "openrouter.ai | 524: A timeout occurred"),
]


@pytest.mark.parametrize(("status", "cls", "title"), PROXY_PAGES, ids=[str(p[0]) for p in PROXY_PAGES])
async def test_html_error_page_from_a_proxy(
    server: MockServer, caller: Any, status: int, cls: type, title: str
) -> None:
    page = (
        "<!DOCTYPE html>\n<html>\n<head>\n<title>"
        + title
        + "</title>\n</head>\n<body>\n<center><h1>"
        + title
        + "</h1></center>\n"
        + "<p>filler</p>\n" * 400
        + "</body>\n</html>\n"
    )
    server.script(MODEL, Raw(body=page, status=status, headers={"Content-Type": "text/html; charset=utf-8"}))

    with pytest.raises(cls) as info:
        await caller.create(caller.client(server), model=MODEL)

    exc = info.value
    assert type(exc) is cls
    assert exc.status_code == status
    assert title in exc.message
    assert exc.body is not None
    assert f"<title>{title}</title>" in exc.body
    assert len(exc.body) <= 250  # a snippet, not the whole 5 KB page
    assert len(exc.message) < 500
    assert exc.code is None
    assert exc.metadata == {}


async def test_empty_body_500(server: MockServer, caller: Any) -> None:
    server.script(MODEL, Raw(body="", status=500))

    with pytest.raises(InternalServerError) as info:
        await caller.create(caller.client(server), model=MODEL)

    exc = info.value
    assert type(exc) is InternalServerError
    assert exc.status_code == 500
    assert "500" in exc.message
    assert not exc.body
    assert exc.code is None


async def test_empty_body_429_still_honours_retry_after(server: MockServer, caller: Any) -> None:
    server.script(MODEL, Raw(body="", status=429, headers={"Retry-After": "3"}))
    with pytest.raises(RateLimitError) as info:
        await caller.create(caller.client(server), model=MODEL)
    assert info.value.retry_after == 3.0


@pytest.mark.parametrize(
    "body",
    ["this is not json", "<html><body>OK</body></html>", "", "\n   \n   \n", "42", '"a string"', "null", "[]"],
    ids=["text", "html", "empty", "only-keepalive", "number", "string", "null", "array"],
)
async def test_non_json_200_body_is_a_validation_error(server: MockServer, caller: Any, body: str) -> None:
    server.script(MODEL, Raw(body=body, headers=JSON))

    with pytest.raises(APIResponseValidationError) as info:
        await caller.create(caller.client(server), model=MODEL)

    exc = info.value
    assert not isinstance(exc, APIStatusError)
    assert exc.kind == "invalid_response"
    assert exc.body == body.strip()


@pytest.mark.parametrize("usage", ["[0.5, 7, 9]", '"abc"', "5"], ids=["array", "string", "number"])
async def test_usage_that_is_not_an_object_is_a_validation_error(server: MockServer, caller: Any, usage: str) -> None:
    # One rule for the core's facts and the facade's `usage`: an array is not read by position.
    body = (
        '{"id":"gen-1","model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},'
        f'"finish_reason":"stop"}}],"usage":{usage}}}'
    )
    server.script(MODEL, Raw(body=body, headers=JSON))
    client = caller.client(server)

    with pytest.raises(APIResponseValidationError) as info:
        await caller.create(client, model=MODEL)

    assert info.value.kind == "invalid_response"
    assert "a JSON object" in str(info.value)
    (entry,) = client.usage.entries
    assert (entry.status, entry.cost, entry.prompt_tokens) == ("error", None, 0)


async def test_cost_past_float_range_reads_as_json_loads_does(server: MockServer, caller: Any) -> None:
    # serde refuses 1e400; the body's dicts are json.loads' (inf), the cost stays exact.
    body = (
        '{"id":"gen-1","model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},'
        '"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3,"cost":1e400}}'
    )
    server.script(MODEL, Raw(body=body, headers=JSON))
    client = caller.client(server)

    completion = await caller.create(client, model=MODEL)

    assert completion.choices[0].message.content == "hi"
    assert completion.usage.cost == math.inf
    assert completion.to_dict()["usage"]["cost"] == math.inf
    assert completion.cost == Decimal("1e400")
    (entry,) = client.usage.entries
    assert (entry.status, entry.cost, entry.completion_tokens) == ("ok", Decimal("1e400"), 2)


# ------------------------------------------------------------------ compression


def _brotli_stored(data: bytes) -> bytes:
    """A valid brotli stream holding ``data`` in one uncompressed meta-block (RFC 7932
    section 9.2): WBITS=16, ISLAST=0, MNIBBLES=4, MLEN-1, ISUNCOMPRESSED=1, then the bytes,
    then an empty last meta-block (0x03)."""
    mlen_minus_1 = len(data) - 1
    assert 0 <= mlen_minus_1 < 1 << 16
    header = (mlen_minus_1 << 4) | (1 << 20)
    return header.to_bytes(3, "little") + data + b"\x03"


def _brotli_as_text(payload: str) -> str:
    """``Raw`` bodies are text, so pad the JSON until the stream's header bytes are ASCII."""
    for pad in range(64):
        stream = _brotli_stored((payload + " " * pad).encode())
        if all(byte < 0x80 for byte in stream[:3]):
            return stream.decode("ascii" if payload.isascii() else "utf-8")
    raise AssertionError("no padding makes the brotli header ASCII")


async def test_brotli_compressed_body(server: MockServer, caller: Any) -> None:
    body = fixture(KEEPALIVE).lstrip()
    server.script(MODEL, Raw(body=_brotli_as_text(body), headers={**JSON, "Content-Encoding": "br"}))

    resp = await caller.create(caller.client(server), model=MODEL)

    assert resp.choices[0].message.content == "Google logo"
    assert resp.cost == Decimal("0.000564")
    assert "br" in server.requests[0].headers["accept-encoding"]


# gzip cannot be produced through the mock: Raw bodies are str sent as UTF-8, and the gzip
# magic bytes (1f 8b) are not valid UTF-8. Only the advertisement is checked here.
async def test_gzip_is_advertised(server: MockServer, caller: Any) -> None:
    server.add_models(MODEL)
    await caller.create(caller.client(server), model=MODEL)
    assert "gzip" in server.requests[0].headers["accept-encoding"]


# ------------------------------------------------------------------ shapes


async def test_unknown_top_level_field_is_kept(server: MockServer, caller: Any) -> None:
    server.script(MODEL, Reply("hi", extra={"new_field": {"a": 1}}))

    resp = await caller.create(caller.client(server), model=MODEL)

    assert resp.new_field == {"a": 1}
    assert resp.to_dict()["new_field"] == {"a": 1}
    assert json.loads(resp.to_json())["new_field"] == {"a": 1}


async def test_unknown_nested_fields_are_kept(server: MockServer, caller: Any) -> None:
    body = json.loads(fixture(KEEPALIVE))
    body["choices"][0]["message"]["new_message_field"] = ["x", {"y": 2}]
    body["choices"][0]["new_choice_field"] = True
    body["usage"]["new_usage_field"] = {"tokens": 3}
    body["openrouter_metadata"] = {"pipeline": [{"type": "guardrail", "name": "g"}]}
    server.script(MODEL, Raw(body=json.dumps(body), headers=JSON))

    resp = await caller.create(caller.client(server), model=MODEL)

    assert resp.choices[0].message.new_message_field == ["x", {"y": 2}]
    assert resp.choices[0].new_choice_field is True
    assert resp.usage.new_usage_field == {"tokens": 3}
    assert resp.openrouter_metadata["pipeline"][0]["type"] == "guardrail"
    assert resp.to_dict() == body
    assert resp.choices[0].message.content == "Google logo"


async def test_tool_calls(server: MockServer, caller: Any) -> None:
    server.script(
        MODEL,
        Reply(
            content="",
            tool_calls=[
                ToolCall("get_weather", {"city": "Lisbon"}),
                ToolCall("get_time", '{"tz": "Europe/Lisbon"}', id="call_time_1"),
            ],
        ),
    )

    resp = await caller.create(caller.client(server), model=MODEL)

    choice = resp.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content == ""
    weather, clock = choice.message.tool_calls
    assert weather.type == "function"
    assert weather.function.name == "get_weather"
    assert isinstance(weather.function.arguments, str)
    assert json.loads(weather.function.arguments) == {"city": "Lisbon"}
    assert weather.id
    assert clock.id == "call_time_1"
    assert clock.function.name == "get_time"
    assert json.loads(clock.function.arguments) == {"tz": "Europe/Lisbon"}
    assert weather.id != clock.id


async def test_reasoning(server: MockServer, caller: Any) -> None:
    thought = "The user wants the weather; call get_weather."
    server.script(MODEL, Reply("Sunny.", reasoning=thought))

    resp = await caller.create(caller.client(server), model=MODEL)

    message = resp.choices[0].message
    assert message.content == "Sunny."
    assert message.reasoning == thought
    [detail] = message.reasoning_details
    assert detail.type == "reasoning.text"
    assert detail.text == thought
    assert resp.usage.completion_tokens_details.reasoning_tokens > 0


async def test_scripted_leading_whitespace(server: MockServer, caller: Any) -> None:
    server.script(MODEL, Reply("padded", leading_whitespace=200, cost=0.000123))
    resp = await caller.create(caller.client(server), model=MODEL)
    assert resp.choices[0].message.content == "padded"
    assert resp.cost == Decimal("0.000123")
