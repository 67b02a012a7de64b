"""Hostile or careless input never panics, never sends invalid JSON and never leaks the
prompt: huge and NaN durations, NaN/infinity in parameters, invalid UTF-8 in answers,
wrong argument types, an empty ``base_url``, non-ASCII keys, cross-host redirects.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from decimal import Decimal
from http.server import BaseHTTPRequestHandler
from typing import Any

import fastrouter
import pytest
from bare_http import BareHTTPServer, serving, url
from fastrouter import APIResponseValidationError, Cooldown, Hedge, Timeout
from fastrouter.testing import Fail, MockServer, Raw, Reply
from fastrouter.usage.ledger import UsageEntry, UsageLedger

MODEL = "openai/gpt-4o-mini"
USER = [{"role": "user", "content": "hi"}]

# ------------------------------------------------------------------ 10.6 durations


@pytest.mark.parametrize(
    "settings",
    [
        {"timeout": 1e300},
        {"timeout": math.inf},
        {"timeout": Timeout(total=1e300, attempt=1e300, connect=1e300, read=1e300, first_token=1e300, idle=1e300)},
        {"hedge": Hedge(after=1e300)},
        {"cooldown": Cooldown(seconds=1e300)},
        {"cooldown": Cooldown(seconds=math.inf)},
    ],
    ids=["timeout", "timeout-inf", "Timeout", "Hedge", "Cooldown", "Cooldown-inf"],
)
async def test_huge_durations_mean_no_practical_limit(
    server: MockServer, caller: Any, settings: dict[str, Any]
) -> None:
    client = caller.client(server, **settings)
    resp = await caller.create(client, model=[MODEL, "anthropic/claude-3.5-haiku"])
    assert resp.choices[0].message.content
    resp = await caller.create(client, model=MODEL, timeout=1e300)
    assert resp.choices[0].message.content
    stream = await caller.create(client, model=MODEL, stream=True, timeout=Timeout(total=1e300, idle=1e300))
    if caller.mode == "async":
        assert [c async for c in stream]
    else:
        assert list(stream)


@pytest.mark.parametrize(
    ("make", "name"),
    [
        (lambda: Timeout(total=math.nan), "Timeout.total"),
        (lambda: Timeout(attempt=-1.0), "Timeout.attempt"),
        (lambda: Hedge(after=math.nan), "Hedge.after"),
        (lambda: Hedge(after=-2.0), "Hedge.after"),
        (lambda: Cooldown(seconds=math.nan), "Cooldown.seconds"),
        (lambda: Cooldown(seconds=-1.0), "Cooldown.seconds"),
    ],
)
def test_nan_and_negative_durations_are_a_value_error_naming_the_argument(make: Any, name: str) -> None:
    with pytest.raises(ValueError, match=name.replace(".", r"\.")):
        make()


def test_nan_per_request_timeout_is_a_value_error(client: fastrouter.Client) -> None:
    with pytest.raises(ValueError, match="timeout"):
        client.chat.completions.create(model=MODEL, messages=USER, timeout=math.nan)
    with pytest.raises(ValueError, match="timeout"):
        client.chat.completions.create(model=MODEL, messages=USER, timeout=-5.0)


# ------------------------------------------------------------------ 10.7 NaN / infinity in the body


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"temperature": math.nan}, "temperature"),
        ({"top_p": math.inf}, "top_p"),
        ({"extra_body": {"x_weight": -math.inf}}, "extra_body['x_weight']"),
        (
            {"extra_body": {"provider": {"max_price": {"prompt": math.nan}}}},
            "extra_body['provider']['max_price']['prompt']",
        ),
        (
            {"tools": [{"type": "function", "function": {"name": "f", "x": [1.0, math.nan]}}]},
            "tools[0]['function']['x'][1]",
        ),
    ],
)
def test_non_finite_numbers_are_refused_before_sending(
    server: MockServer, client: fastrouter.Client, kwargs: dict[str, Any], named: str
) -> None:
    with pytest.raises(ValueError) as info:
        client.chat.completions.create(model=MODEL, messages=USER, **kwargs)
    assert named in str(info.value)
    assert "finite" in str(info.value)
    assert server.chat_requests() == []


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [({"seed": 10**5000}, "seed"), ({"extra_body": {"x": [1, -(10**4400)]}}, "extra_body['x'][1]")],
)
def test_an_int_past_pythons_digit_limit_is_named_before_sending(
    server: MockServer, client: fastrouter.Client, kwargs: dict[str, Any], named: str
) -> None:
    with pytest.raises(ValueError) as info:
        client.chat.completions.create(model=MODEL, messages=USER, **kwargs)
    assert str(info.value).startswith(f"{named} is an int of more than")
    assert "set_int_max_str_digits" in str(info.value)
    assert server.chat_requests() == []


def test_nan_in_messages_is_named(server: MockServer, client: fastrouter.Client) -> None:
    with pytest.raises(ValueError, match=r"messages\[0\]\['weight'\]"):
        client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "x", "weight": math.nan}])
    assert server.chat_requests() == []


# ------------------------------------------------------------------ 10.5 invalid UTF-8


def _completion_bytes(content: bytes) -> bytes:
    head = b'{"id":"gen-1","object":"chat.completion","model":"openai/gpt-4o-mini","choices":[{"index":0,'
    message = b'"message":{"role":"assistant","content":"' + content + b'"},"finish_reason":"stop"}],'
    usage = b'"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5,"cost":0.0012}}'
    return head + message + usage


async def test_invalid_utf8_in_a_json_answer_is_replaced_and_the_answer_kept(server: MockServer, caller: Any) -> None:
    server.script(MODEL, Raw(_completion_bytes(b"caf\xe9 ok \xff")))
    resp = await caller.create(caller.client(server), model=MODEL)
    assert resp.choices[0].message.content == "caf\ufffd ok \ufffd"
    assert resp.usage is not None and resp.usage.total_tokens == 5
    assert str(resp.usage.cost) == "0.0012"


async def test_invalid_utf8_in_a_stream_is_replaced_the_same_way(server: MockServer, caller: Any) -> None:
    chunk = b'data: {"choices":[{"index":0,"delta":{"content":"caf\xe9 ok \xff"},"finish_reason":"stop"}]}\n\n'
    server.script(MODEL, Raw(chunk + b"data: [DONE]\n\n", headers={"content-type": "text/event-stream"}))
    stream = await caller.create(caller.client(server), model=MODEL, stream=True)
    chunks = [c async for c in stream] if caller.mode == "async" else list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "caf\ufffd ok \ufffd"


@pytest.mark.parametrize("gated", [False, True], ids=["plain", "with-limits"])
async def test_an_answer_nested_past_every_parser_is_a_typed_error(
    server: MockServer, caller: Any, gated: bool
) -> None:
    # The core's check skips the unknown field unparsed; serde and json.loads both refuse it.
    deep = "[" * 5000 + "]" * 5000
    body = _completion_bytes(b"hi")[:-1] + b',"x":' + deep.encode() + b"}"
    server.script(MODEL, Raw(body), Reply("next"))
    limits = {"*": fastrouter.Limit(concurrency=1, wait=False)} if gated else None
    client = caller.client(server, limits=limits)
    with pytest.raises(APIResponseValidationError, match="not a chat completion") as info:
        await caller.create(client, model=MODEL)
    assert len(info.value.attempts) == 1
    (entry,) = client.usage.entries
    # What the unreadable answer cost is still counted (as a failed attempt's), once.
    assert (entry.status, entry.attempts, entry.reliability_cost) == ("error", 1, Decimal("0.0012"))
    # The limit's slot was given back: the next call is sent.
    assert (await caller.create(client, model=MODEL)).choices[0].message.content == "next"


def test_a_failure_booking_an_answer_gives_its_limit_slot_back(server: MockServer) -> None:
    # The answer arrived, then the ledger could not write it: the gate's slot is freed.
    class FullDisk(UsageLedger):
        failed = False

        def record(self, entry: UsageEntry) -> None:
            if not FullDisk.failed:
                FullDisk.failed = True
                raise OSError("disk full")
            super().record(entry)

    server.script(MODEL, Reply("one"), Reply("two"))
    limits = {"*": fastrouter.Limit(concurrency=1, wait=False)}
    with fastrouter.Client(
        base_url=server.base_url, api_key="k", max_retries=0, ledger=FullDisk(), limits=limits
    ) as client:
        with pytest.raises(OSError, match="disk full"):
            client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}])
        answer = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}])
        assert answer.choices[0].message.content == "two"


@pytest.mark.parametrize("booked_from", ["the core's facts", "the completion"])
def test_ctrl_c_while_an_answer_is_booked_still_books_what_it_cost(
    server: MockServer, monkeypatch: pytest.MonkeyPatch, booked_from: str
) -> None:
    from fastrouter.usage import books

    # An answer the core priced, with one attempt, is booked from the core's facts; one
    # that took a second model, from the completion.
    target: Any = books if booked_from == "the core's facts" else books.RequestBooks
    name = "answer_values" if booked_from == "the core's facts" else "_answer"
    booking = getattr(target, name)

    def interrupted(*args: Any) -> Any:
        monkeypatch.setattr(target, name, booking)  # once
        raise KeyboardInterrupt

    monkeypatch.setattr(target, name, interrupted)
    models = [MODEL] if booked_from == "the core's facts" else ["a/failing", MODEL]
    server.script("a/failing", Fail(503))
    with fastrouter.Client(base_url=server.base_url, api_key="k", max_retries=0) as client:
        with pytest.raises(KeyboardInterrupt):
            client.chat.completions.create(model=models, messages=[{"role": "user", "content": "hi"}], tags=["t"])
        (entry,) = client.usage.entries
        assert (entry.status, entry.attempts) == ("cancelled", len(models))
        assert entry.reliability_cost > 0  # the answer arrived and was paid for


# ------------------------------------------------------------------ 10.12 arguments


def test_empty_base_url_is_an_error_not_production(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENROUTER_BASE_URL", raising=False)
    for cls in (fastrouter.Client, fastrouter.AsyncClient):
        with pytest.raises(ValueError, match="base_url"):
            cls(api_key="k", base_url="")
        with pytest.raises(ValueError, match="base_url"):
            cls(api_key="k", base_url="  ")


def test_non_ascii_api_key_is_refused_at_construction_without_echoing_it(server: MockServer) -> None:
    with pytest.raises(ValueError, match="api_key") as info:
        fastrouter.Client(base_url=server.base_url, api_key="sk-or-v1-clé-secrète")
    assert "secr" not in str(info.value)
    with pytest.raises(ValueError, match="api_key"):
        fastrouter.Client(base_url=server.base_url, api_key="sk-or-v1-abc\ndef")


def test_wrong_argument_types_name_the_argument(server: MockServer, client: fastrouter.Client) -> None:
    with pytest.raises(TypeError, match="api_key"):
        fastrouter.Client(base_url=server.base_url, api_key=123)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="base_url"):
        fastrouter.Client(base_url=8080, api_key="k")  # type: ignore[arg-type]
    for bad in ("str", ["a", "b"], 3):
        with pytest.raises(TypeError, match="extra_body"):
            client.chat.completions.create(model=MODEL, messages=USER, extra_body=bad)  # type: ignore[arg-type]
    assert server.chat_requests() == []


# ------------------------------------------------------------------ 10.12 redirects


class _Recorder(BaseHTTPRequestHandler):
    """A tiny server that records what reaches it, or redirects elsewhere."""

    seen: list[dict[str, Any]] = []
    redirect_to: str = ""

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length)
        type(self).seen.append({"path": self.path, "headers": dict(self.headers), "body": body.decode()})
        if self.redirect_to and not self.path.startswith("/moved"):
            self.send_response(307)
            self.send_header("Location", self.redirect_to + "/moved" + self.path)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        payload = json.dumps(
            {
                "id": "x",
                "object": "chat.completion",
                "model": MODEL,
                "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": "moved"}, "finish_reason": "stop"}
                ],
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def redirect_pair() -> Iterator[tuple[str, type[_Recorder], type[_Recorder]]]:
    """A redirector on 127.0.0.1 pointing at a recorder on another origin."""
    target = type("Target", (_Recorder,), {"seen": [], "redirect_to": ""})
    source = type("Source", (_Recorder,), {"seen": [], "redirect_to": ""})
    with serving(BareHTTPServer(("127.0.0.1", 0), target)) as target_server:
        source.redirect_to = url(target_server)
        with serving(BareHTTPServer(("127.0.0.1", 0), source)) as source_server:
            yield url(source_server), source, target


@pytest.mark.parametrize("stream", [False, True])
def test_redirect_to_another_origin_is_not_followed(
    redirect_pair: tuple[str, type[_Recorder], type[_Recorder]], stream: bool
) -> None:
    source_url, source, target = redirect_pair
    secret_prompt = [{"role": "user", "content": "the secret plan"}]
    with fastrouter.Client(
        base_url=source_url, api_key="sk-or-v1-key", default_headers={"X-Api-Key": "custom-secret"}, max_retries=0
    ) as client:
        with pytest.raises(fastrouter.APIStatusError) as info:
            client.chat.completions.create(model=MODEL, messages=secret_prompt, stream=stream)
    assert info.value.status_code == 307
    assert "not followed" in str(info.value)
    assert len(source.seen) == 1 and "secret plan" in source.seen[0]["body"]
    assert target.seen == []  # neither the prompt nor the custom header went to the other host


def test_same_origin_redirect_is_followed() -> None:
    handler = type("SameOrigin", (_Recorder,), {"seen": [], "redirect_to": ""})
    with serving(BareHTTPServer(("127.0.0.1", 0), handler)) as httpd:
        handler.redirect_to = url(httpd)
        with fastrouter.Client(base_url=url(httpd), api_key="k", max_retries=0) as client:
            resp = client.chat.completions.create(model=MODEL, messages=USER)
    assert resp.choices[0].message.content == "moved"
    assert [seen["path"] for seen in handler.seen] == ["/chat/completions", "/moved/chat/completions"]


_CHOICES = '"choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}]'


@pytest.mark.parametrize("odd", ['["x"]', '{"a":1}', "7"])
async def test_an_answer_whose_id_is_not_a_string_is_booked_without_it(
    server: MockServer, caller: Any, odd: str
) -> None:
    # The core takes any `id` (only `model` and `provider` must be strings when present).
    body = '{"id":' + odd + "," + _CHOICES + "}"
    server.script(MODEL, Raw(body.encode(), headers={"content-type": "application/json"}), Reply("next"))
    client = caller.client(server)
    assert (await caller.create(client, model=MODEL)).choices[0].message.content == "hi"
    # The ledger stays usable: the next answer is booked too, after it.
    assert (await caller.create(client, model=MODEL)).choices[0].message.content == "next"
    odd_entry, next_entry = client.usage.entries
    assert odd_entry.generation_id is None and next_entry.generation_id
    assert odd_entry.status == next_entry.status == "ok"


@pytest.mark.parametrize("metadata", ['"s"', "true", "3", '["a"]'])
async def test_an_error_whose_metadata_is_not_an_object_is_a_typed_error(
    server: MockServer, caller: Any, metadata: str
) -> None:
    body = '{"error":{"code":400,"message":"m","metadata":' + metadata + "}}"
    server.script(MODEL, Raw(body.encode(), status=400, headers={"content-type": "application/json"}))
    client = caller.client(server, max_retries=0)
    with pytest.raises(fastrouter.BadRequestError) as info:
        await caller.create(client, model=MODEL)
    assert info.value.metadata == {}
    assert [entry.status for entry in client.usage.entries] == ["error"]
