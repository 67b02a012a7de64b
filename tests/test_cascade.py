"""Cascades through the mock: which tier is kept and why, the accounting across tiers, the
ledger and ``usage.cascade()``, streaming, budgets, user checks, the judge, routes."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from typing import Any

import fastrouter
import pytest
from fastrouter.cascade.checks import confidence, format_check
from fastrouter.cascade.schema import schema_errors
from fastrouter.cascade.scoring import combine
from fastrouter.testing import Fail, MockServer, Raw, Reply, ToolCall

CHEAP, MID, DEAR = "meta-llama/llama-3.1-8b-instruct", "openai/gpt-4o-mini", "anthropic/claude-3.5-sonnet"
TIERS = [CHEAP, MID, DEAR]
ASK = [{"role": "user", "content": "What is the capital of France?"}]


def _roles(client: Any) -> list[Any]:
    return [(e.role, e.cascade_tier, e.model) for e in client.usage.entries]


def _exact_books(client: Any, resp: Any) -> None:
    """resp.cost == every tier's ledger entry added up == usage.cascade().cost, exactly."""
    entries = client.usage.entries
    assert all(isinstance(e.total_cost, Decimal) for e in entries)
    assert resp.cost == sum((e.total_cost for e in entries), Decimal(0))
    assert (
        resp.cost
        == resp.cascade.cost
        == sum((s.cost for s in resp.cascade.scores), Decimal(0))
        + sum((e.total_cost for e in entries if e.role == "judge"), Decimal(0))
    )
    totals = client.usage.cascade()
    assert totals.cost == resp.cost
    assert totals.baseline == resp.cascade.baseline_cost
    assert totals.savings == resp.cascade.savings == resp.cascade.baseline_cost - resp.cost


async def test_a_confident_draft_is_kept(server: MockServer, caller: Any) -> None:
    server.script(CHEAP, Reply("Paris.", confidence=0.95))
    client = caller.client(server)
    resp = await caller.create(client, model=fastrouter.Cascade(TIERS), messages=ASK)
    assert resp.choices[0].message.content == "Paris."
    assert resp.cascade.model_used == CHEAP and resp.cascade.accepted_tier == 0
    assert [r.model for r in server.chat_requests()] == [CHEAP]
    # The catalog says llama supports logprobs: the cascade asked for them.
    assert server.chat_requests()[0].body["logprobs"] is True
    (score,) = resp.cascade.scores
    assert score.kept and score.score == pytest.approx(0.95)
    assert any("mean token probability 0.95" in r for r in score.reasons)
    # Baseline: the kept answer's usage at the last tier's catalog prices, exactly.
    usage = resp.usage
    assert resp.cascade.baseline_cost == Decimal(usage.prompt_tokens) * Decimal("0.000003") + Decimal(
        usage.completion_tokens
    ) * Decimal("0.000015")
    assert resp.cascade.savings_pct == pytest.approx(float(resp.cascade.savings * 100 / resp.cascade.baseline_cost))
    assert _roles(client) == [("kept", 0, CHEAP)]
    _exact_books(client, resp)


async def test_a_low_confidence_draft_escalates(server: MockServer, caller: Any) -> None:
    events: list[fastrouter.ChainEvent] = []
    server.script(CHEAP, Reply("Lyon?", confidence=0.3))
    server.script(MID, Reply("Paris.", logprobs=[-0.01, -0.02]))
    client = caller.client(server, on_event=events.append)
    resp = await caller.create(client, model=fastrouter.Cascade(TIERS), messages=ASK)
    assert resp.choices[0].message.content == "Paris."
    assert resp.cascade.accepted_tier == 1 and resp.cascade.model_used == MID
    low, kept = resp.cascade.scores
    assert not low.kept and low.score < 0.7 and kept.kept
    assert _roles(client) == [("draft", 0, CHEAP), ("kept", 1, MID)]
    escalations = [e for e in events if e.type == "escalate"]
    assert len(escalations) == 1 and escalations[0].model == CHEAP and "0.30" in (escalations[0].message or "")
    _exact_books(client, resp)
    assert resp.cost == low.cost + kept.cost and low.cost > 0


@pytest.mark.parametrize(
    ("draft", "why"),
    [
        (Reply('{"city": "Paris"', confidence=0.99), "not JSON"),
        (Reply('{"town": "Paris"}', confidence=0.99), "missing the required property 'city'"),
        (Reply("", confidence=0.99), "empty answer"),
        (Reply("Paris is the capital of", confidence=0.99, finish_reason="length"), "finish_reason length"),
        (Reply('{"city": "Paris"}', confidence=0.99, finish_reason="content_filter"), "content_filter"),
    ],
)
async def test_malformed_truncated_or_empty_drafts_escalate(
    server: MockServer, caller: Any, draft: Reply, why: str
) -> None:
    server.script(CHEAP, draft)
    server.script(MID, Reply('{"city": "Paris"}', confidence=0.99))
    client = caller.client(server)
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    resp = await caller.create(
        client,
        model=fastrouter.Cascade(TIERS),
        messages=ASK,
        response_format={"type": "json_schema", "json_schema": {"name": "city", "schema": schema}},
    )
    assert resp.cascade.accepted_tier == 1
    first = resp.cascade.scores[0]
    assert first.score == 0.0 and any(why in r for r in first.reasons), first.reasons
    _exact_books(client, resp)


async def test_a_refused_draft_escalates(server: MockServer, caller: Any) -> None:
    body = {
        "id": "gen-refused",
        "model": CHEAP,
        "object": "chat.completion",
        "created": 1,
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "message": {"role": "assistant", "content": None, "refusal": "I can't help with that."},
            }
        ],
        "usage": {"prompt_tokens": 9, "completion_tokens": 6, "total_tokens": 15, "cost": 0.0000007},
    }
    server.script(CHEAP, Raw(json.dumps(body), headers={"content-type": "application/json"}))
    server.script(MID, Reply("Paris.", confidence=0.9))
    client = caller.client(server)
    resp = await caller.create(client, model=fastrouter.Cascade(TIERS), messages=ASK)
    assert resp.cascade.accepted_tier == 1
    assert any("refused" in r for r in resp.cascade.scores[0].reasons)
    assert resp.cascade.scores[0].cost == Decimal("0.0000007")
    _exact_books(client, resp)


async def test_hedging_tips_a_doubtful_draft_but_not_a_sure_one(server: MockServer, caller: Any) -> None:
    server.script(CHEAP, Reply("I'm not sure, but maybe Paris.", confidence=0.99))
    client = caller.client(server)
    resp = await caller.create(client, model=fastrouter.Cascade(TIERS), messages=ASK)
    assert resp.cascade.accepted_tier == 0  # 0.99 * 0.85 still passes
    server.script(CHEAP, Reply("I'm not sure, but maybe Paris.", confidence=0.8))
    server.script(MID, Reply("Paris.", confidence=0.9))
    resp = await caller.create(client, model=fastrouter.Cascade(TIERS), messages=ASK)
    assert resp.cascade.accepted_tier == 1  # 0.8 * 0.85 = 0.68 < 0.7
    assert any("hedges" in r for r in resp.cascade.scores[0].reasons)


async def test_tool_call_arguments_must_match_the_tool_schema(server: MockServer, caller: Any) -> None:
    tools = [
        {
            "type": "function",
            "function": {
                "name": "weather",
                "parameters": {
                    "type": "object",
                    "properties": {"city": {"type": "string"}, "days": {"type": "integer", "minimum": 1}},
                    "required": ["city"],
                    "additionalProperties": False,
                },
            },
        }
    ]
    server.script(CHEAP, Reply(tool_calls=[ToolCall("weather", {"city": "Paris", "days": 0})], confidence=0.99))
    server.script(MID, Reply(tool_calls=[ToolCall("weather", {"city": "Paris", "days": 2})], confidence=0.99))
    client = caller.client(server)
    resp = await caller.create(client, model=fastrouter.Cascade(TIERS), messages=ASK, tools=tools)
    assert resp.cascade.accepted_tier == 1
    assert any("days should be at least 1" in r for r in resp.cascade.scores[0].reasons)
    assert resp.choices[0].message.tool_calls[0].function.arguments == '{"city": "Paris", "days": 2}'


async def test_a_failing_tier_escalates_and_the_last_tier_is_always_kept(server: MockServer, caller: Any) -> None:
    server.script(CHEAP, Fail(503))
    server.script(MID, Reply("Lyon?", confidence=0.2))
    server.script(DEAR, Reply("Paris."))  # claude: no logprobs in the catalog, so none asked
    client = caller.client(server)
    resp = await caller.create(client, model=fastrouter.Cascade(TIERS), messages=ASK)
    assert resp.cascade.accepted_tier == 2 and resp.choices[0].message.content == "Paris."
    assert "logprobs" not in server.chat_requests(DEAR)[0].body
    failed = resp.cascade.scores[0]
    assert failed.error is not None and failed.model is None
    assert [(e.role, e.status) for e in client.usage.entries] == [("draft", "error"), ("draft", "ok"), ("kept", "ok")]
    # The last tier answered: its own cost is the baseline.
    assert resp.cascade.baseline_cost == resp.cascade.scores[-1].cost
    _exact_books(client, resp)


async def test_the_last_tiers_failure_raises_and_is_recorded(server: MockServer, caller: Any) -> None:
    server.script(CHEAP, Reply("Lyon?", confidence=0.1))
    server.script(MID, Fail(400, "bad request"))
    client = caller.client(server)
    with pytest.raises(fastrouter.BadRequestError):
        await caller.create(client, model=fastrouter.Cascade([CHEAP, MID]), messages=ASK)
    assert [(e.role, e.status) for e in client.usage.entries] == [("draft", "ok"), ("kept", "error")]
    totals = client.usage.cascade()
    assert totals.requests == 1 and totals.failed == 1 and totals.accepted == {}


async def test_user_checks_sync_and_async(server: MockServer, caller: Any) -> None:
    seen: list[Any] = []

    def mentions_paris(request: Any, completion: Any) -> bool:
        seen.append((request["messages"], completion.model))
        return "paris" in (completion.choices[0].message.content or "").lower()

    async def graded(request: Any, completion: Any) -> float:
        await asyncio.sleep(0)
        return 0.9

    server.script(CHEAP, Reply("Lyon.", confidence=0.99))
    server.script(MID, Reply("Paris.", confidence=0.99))
    client = caller.client(server)
    cascade = fastrouter.Cascade(TIERS, checks=[mentions_paris] if caller.mode == "async" else [mentions_paris])
    resp = await caller.create(client, model=cascade, messages=ASK)
    assert resp.cascade.accepted_tier == 1
    assert seen == [(ASK, CHEAP), (ASK, MID)]
    assert any("mentions_paris 0.00: returned False" in r for r in resp.cascade.scores[0].reasons)
    if caller.mode == "async":
        server.script(CHEAP, Reply("Paris.", confidence=0.5))
        resp = await caller.create(client, model=fastrouter.Cascade(TIERS, checks=[graded]), messages=ASK)
        # (0.5 * 0.75 + 0.5 * 0.25 = 0.5 confidence) averaged with 0.9 = 0.7: kept
        assert resp.cascade.accepted_tier == 0
        assert resp.cascade.scores[0].score == pytest.approx(0.7)


def test_an_async_check_with_the_sync_client(server: MockServer) -> None:
    async def low(request: Any, completion: Any) -> float:
        await asyncio.sleep(0)
        return 0.1

    server.script(CHEAP, Reply("Paris.", confidence=0.99))
    server.script(MID, Reply("Paris.", confidence=0.99))
    with fastrouter.Client(base_url=server.base_url, api_key="k") as client:
        resp = client.chat.completions.create(model=fastrouter.Cascade([CHEAP, MID], checks=[low]), messages=ASK)
    assert resp.cascade.accepted_tier == 1
    assert resp.cascade.scores[0].score == pytest.approx((0.99 + 0.1) / 2)


async def test_the_judge_decides_and_its_cost_counts(server: MockServer, caller: Any) -> None:
    judge = "openai/gpt-4o"
    server.script(CHEAP, Reply("Lyon.", confidence=0.9))
    server.script(judge, Reply("2"), Reply("9"))
    server.script(MID, Reply("Paris.", confidence=0.9))
    client = caller.client(server)
    resp = await caller.create(client, model=fastrouter.Cascade(TIERS, judge=judge), messages=ASK)
    assert resp.cascade.accepted_tier == 1
    assert any("graded it 2/10" in r for r in resp.cascade.scores[0].reasons)
    assert any("graded it 9/10" in r for r in resp.cascade.scores[1].reasons)
    judge_prompt = server.chat_requests(judge)[0].body["messages"][1]["content"]
    assert "capital of France" in judge_prompt and "Lyon." in judge_prompt
    assert [e.role for e in client.usage.entries] == [
        "judge",
        "draft",
        "judge",
        "kept",
    ]  # a draft is recorded once judged
    judged = sum((e.total_cost for e in client.usage.entries if e.role == "judge"), Decimal(0))
    assert judged > 0 and client.usage.cascade().judge_cost == judged
    _exact_books(client, resp)


async def test_a_streamed_cascade_yields_only_the_kept_answer(server: MockServer, caller: Any) -> None:
    server.script(CHEAP, Reply("Lyon is my guess", confidence=0.2))
    server.script(MID, Reply("Paris is the capital", confidence=0.95))
    client = caller.client(server)
    stream = await caller.create(client, model=fastrouter.Cascade(TIERS), messages=ASK, stream=True)
    pieces = []
    if caller.mode == "async":
        async for chunk in stream:
            pieces.append(chunk.choices[0].delta.content if chunk.choices else None)
    else:
        for chunk in stream:
            pieces.append(chunk.choices[0].delta.content if chunk.choices else None)
    assert "".join(p for p in pieces if p) == "Paris is the capital"
    assert stream.cascade.accepted_tier == 1
    assert stream.completion.cascade is stream.cascade
    assert stream.completion.cost == stream.cascade.cost
    assert [(e.role, e.streamed) for e in client.usage.entries] == [("draft", True), ("kept", True)]
    assert client.usage.cascade().cost == stream.cascade.cost


async def test_a_streamed_cascade_passes_the_last_tier_through_live(server: MockServer, caller: Any) -> None:
    server.script(CHEAP, Reply("Lyon", confidence=0.2))
    server.script(MID, Reply("Paris, of course", confidence=0.95))
    client = caller.client(server)
    stream = await caller.create(client, model=fastrouter.Cascade([CHEAP, MID]), messages=ASK, stream=True)
    pieces = []
    if caller.mode == "async":
        async with stream:
            async for chunk in stream:
                pieces.append(chunk.choices[0].delta.content if chunk.choices else None)
    else:
        with stream:
            for chunk in stream:
                pieces.append(chunk.choices[0].delta.content if chunk.choices else None)
    assert "".join(p for p in pieces if p) == "Paris, of course"
    result = stream.cascade
    assert result.accepted_tier == 1 and result.baseline_cost == result.scores[-1].cost
    assert stream.completion.cost == result.cost == sum((e.total_cost for e in client.usage.entries), Decimal(0))
    assert [(e.role, e.cascade_tier) for e in client.usage.entries] == [("draft", 0), ("kept", 1)]


async def test_a_budget_stops_escalation_with_a_clear_error(server: MockServer, caller: Any) -> None:
    server.script(CHEAP, Reply("Lyon?", confidence=0.1))
    # Room for the cheap tier's worst case, not for claude's.
    client = caller.client(server, budgets=[fastrouter.Budget("0.001", per="day")])
    with pytest.raises(
        fastrouter.BudgetExceededError, match=r"cascade .*stopped before tier 1 \(anthropic/claude-3.5-sonnet\)"
    ):
        await caller.create(client, model=fastrouter.Cascade([CHEAP, DEAR]), messages=ASK, max_tokens=100)
    assert [r.model for r in server.chat_requests()] == [CHEAP]
    assert _roles(client) == [("draft", 0, CHEAP)]
    assert client._budgets.remaining()[0] == Decimal("0.001") - client.usage.total_cost


async def test_max_cost_per_request_counts_every_tier(server: MockServer, caller: Any) -> None:
    server.script(CHEAP, Reply("Lyon?", confidence=0.1))
    client = caller.client(server)
    cascade = fastrouter.Cascade([CHEAP, DEAR], max_cost_per_request="0.0005")
    with pytest.raises(fastrouter.BudgetExceededError, match="max_cost_per_request of \\$0.0005"):
        await caller.create(client, model=cascade, messages=ASK, max_tokens=100)
    assert [r.model for r in server.chat_requests()] == [CHEAP]


async def test_a_cascade_route_from_toml(server: MockServer, caller: Any) -> None:
    routing = fastrouter.Routing.from_toml_str(
        f"""
[aliases]
mid = ["{MID}", "openai/gpt-4o"]

[routes.support]
cascade = {{ tiers = ["{CHEAP}", "mid", "{DEAR}"], threshold = 0.8 }}
max_cost_per_request = 0.5
"""
    )
    route = routing.routes["support"]
    assert route.cascade == fastrouter.Cascade([CHEAP, "mid", DEAR], threshold=0.8)
    assert fastrouter.Routing.from_toml_str(routing.to_toml()) == routing
    server.script(CHEAP, Reply("Paris?", confidence=0.75))
    server.script(MID, Fail(503))
    server.script("openai/gpt-4o", Reply("Paris.", confidence=0.9))
    client = caller.client(server, routing=routing)
    resp = await caller.create(client, model="support", messages=ASK)
    # 0.75 < 0.8 escalates; the alias tier fails over inside itself.
    assert resp.cascade.accepted_tier == 1 and resp.cascade.model_used == "openai/gpt-4o"
    assert client.usage.entries[0].requested == "support"
    catalog = (await client.models.list()) if caller.mode == "async" else client.models.list()
    text = routing.explain("support", catalog)
    assert "cascade route 'support'" in text and "threshold:    0.8" in text
    assert "tier 1 (alias 'mid', #2 of its chain)" in text and "always kept" in text
    resolved = routing.resolve("support", catalog)
    assert resolved.kind == "cascade" and resolved.chain == (CHEAP, MID, "openai/gpt-4o", DEAR)


def test_cascade_routes_refuse_chain_keys() -> None:
    with pytest.raises(fastrouter.RoutingError, match="routes.x.mode"):
        fastrouter.Routing.from_dict({"routes": {"x": {"cascade": {"tiers": [CHEAP]}, "mode": "cheapest"}}})
    with pytest.raises(fastrouter.RoutingError, match="unknown cascade key 'treshold'"):
        fastrouter.Routing.from_dict({"routes": {"x": {"cascade": {"tiers": [CHEAP], "treshold": 1}}}})


async def test_usage_cascade_totals_add_up(server: MockServer, tmp_path: Any) -> None:
    path = tmp_path / "usage.db"
    async with fastrouter.AsyncClient(base_url=server.base_url, api_key="k", ledger=str(path)) as client:
        costs = Decimal(0)
        baseline = Decimal(0)
        for confident in (0.95, 0.2, 0.9, 0.1):
            server.script(CHEAP, Reply("Paris.", confidence=confident))
            server.script(MID, Reply("Paris.", confidence=0.95))
            resp = await client.chat.completions.create(model=fastrouter.Cascade(TIERS), messages=ASK)
            costs += resp.cost
            baseline += resp.cascade.baseline_cost
        totals = client.usage.cascade()
        assert totals.requests == 4 and totals.accepted == {0: 2, 1: 2}
        assert totals.acceptance == {0: 0.5, 1: 0.5}
        assert totals.cost == costs == client.usage.total_cost
        assert totals.baseline == baseline and totals.savings == baseline - costs
        assert totals.savings_pct == pytest.approx(float((baseline - costs) * 100 / baseline))
        client.usage.close()
    reopened = fastrouter.UsageLedger(path)
    assert reopened.cascade() == totals
    reopened.close()
    from fastrouter.cli import main

    assert main(["usage", "--db", str(path)]) == 0


def test_fastrouter_usage_shows_cascades(server: MockServer, tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "usage.db"
    server.script(CHEAP, Reply("Lyon?", confidence=0.1))
    with fastrouter.Client(base_url=server.base_url, api_key="k", ledger=str(path)) as client:
        client.chat.completions.create(model=fastrouter.Cascade([CHEAP, MID]), messages=ASK)
        client.usage.close()
    from fastrouter.cli import main

    assert main(["usage", "--db", str(path)]) == 0
    out = capsys.readouterr().out
    assert "cascades: 1 requests" in out and "kept at tier" in out and "saved $" in out


def test_an_older_ledger_file_gains_the_cascade_columns(tmp_path: Any) -> None:
    import sqlite3

    from fastrouter.usage.ledger import _COLUMNS, _row

    old = _COLUMNS[:-3]  # the columns before cascades
    entry = fastrouter.UsageEntry(
        time=1.0, generation_id="g", requested="m", model="m", provider=None, cost=Decimal("0.5")
    )
    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    db.execute(f"CREATE TABLE usage ({', '.join(old)})")
    db.execute(f"INSERT INTO usage VALUES ({', '.join('?' * len(old))})", _row(entry)[: len(old)])
    db.commit()
    db.close()
    ledger = fastrouter.UsageLedger(path)
    assert ledger.total_cost == Decimal("0.5") and ledger.entries[0].role is None
    ledger.close()


# ------------------------------------------------------------------ pure functions


def test_scores_combine_as_documented() -> None:
    from fastrouter.cascade.checks import CheckResult

    gate_ok = CheckResult("failures", 1.0, gate=True)
    assert combine([gate_ok]) == 1.0
    assert combine([gate_ok, CheckResult("format", 0.0, gate=True), CheckResult("confidence", 1.0)]) == 0.0
    assert combine([gate_ok, CheckResult("confidence", 0.6), CheckResult("judge", 0.9, weight=2.0)]) == pytest.approx(
        0.8
    )
    assert combine([gate_ok, CheckResult("hedging", 0.85 * 0.85)]) == pytest.approx(0.7225)
    assert combine([gate_ok, CheckResult("confidence", None)]) == 1.0


def test_confidence_uses_mean_and_min_token_probability() -> None:
    import math

    data = {
        "choices": [
            {
                "logprobs": {
                    "content": [{"token": "a", "logprob": math.log(0.9)}, {"token": "b", "logprob": math.log(0.4)}]
                }
            }
        ]
    }
    result = confidence(data)
    geometric = math.sqrt(0.9 * 0.4)
    assert result.score == pytest.approx(0.75 * geometric + 0.25 * 0.4)
    assert confidence({"choices": [{"logprobs": None}]}).score is None


def test_the_schema_subset() -> None:
    schema = {
        "type": "object",
        "properties": {
            "tags": {"type": "array", "items": {"type": "string", "enum": ["a", "b"]}, "maxItems": 2},
            "n": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
            "ref": {"$ref": "#/$defs/name"},
        },
        "required": ["tags"],
        "additionalProperties": False,
        "$defs": {"name": {"type": "string", "pattern": "^[a-z]+$"}},
    }
    assert schema_errors({"tags": ["a"], "n": None, "ref": "abc"}, schema) == []
    errors = schema_errors({"tags": ["c", "a", "b"], "n": "x", "ref": "ABC", "extra": 1}, schema)
    assert any("tags[0] should be one of" in e for e in errors)
    assert any("at most 2 items" in e for e in errors)
    assert any("n matches 0 of the 2 anyOf" in e for e in errors)
    assert any("ref does not match" in e for e in errors)
    assert len(errors) <= 5
    assert schema_errors(3, {"type": "integer", "exclusiveMaximum": 3}) == ["the value should be less than 3, got 3"]


def test_format_check_needs_a_json_request() -> None:
    data = {"choices": [{"message": {"content": "not json"}}]}
    assert format_check({}, data) is None
    result = format_check({"response_format": {"type": "json_object"}}, data)
    assert result is not None and result.score == 0.0


def test_cascade_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="non-empty list of tiers"):
        fastrouter.Cascade([])
    with pytest.raises(ValueError, match="threshold"):
        fastrouter.Cascade([CHEAP], threshold=1.5)
    with pytest.raises(TypeError, match="callables"):
        fastrouter.Cascade([CHEAP], checks=["nope"])  # type: ignore[list-item]
    cascade = fastrouter.Cascade([CHEAP, [MID, "openai/gpt-4o"]], judge=DEAR, max_cost_per_request=0.01)
    assert fastrouter.Cascade.from_dict(cascade.to_dict()) == cascade
    assert cascade.name == f"cascade:{CHEAP}>{MID}|openai/gpt-4o"
    with pytest.raises(AttributeError):
        cascade.threshold = 0.1  # type: ignore[misc]


def test_the_mock_scripts_logprobs_only_when_asked(server: MockServer, client: fastrouter.Client) -> None:
    server.script(MID, Reply("a b c", logprobs=[-0.1, -0.5]), Reply("a b c", confidence=0.5))
    plain = client.chat.completions.create(model=MID, messages=ASK)
    assert plain.choices[0].logprobs is None
    asked = client.chat.completions.create(model=MID, messages=ASK, logprobs=True)
    values = [t.logprob for t in asked.choices[0].logprobs.content]
    assert values == pytest.approx([__import__("math").log(0.5)] * 3)
    with pytest.raises(ValueError, match="logprobs or confidence"):
        Reply("x", logprobs=[-1.0], confidence=0.5)._wire()


def test_the_demo_shows_a_cascade_and_its_savings(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from fastrouter.cli import main

    monkeypatch.delenv("OPENROUTER_API_KEY", raising=False)
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "kept:     tier 1, openai/gpt-4o-mini" in out
    assert "tier 0 meta-llama/llama-3.1-8b-instruct: 0.30" in out and "hedges" in out
    assert "saved $" in out and "%)" in out


def test_cascade_eval_reports_and_resumes(
    server: MockServer, tmp_path: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from fastrouter.cli import main

    monkeypatch.setenv("OPENROUTER_API_KEY", "sk-or-v1-eval")
    prompts = tmp_path / "prompts.jsonl"
    lines = [
        {"id": "a", "prompt": "capital of France?"},
        {"id": "b", "messages": [{"role": "user", "content": "capital of Italy?"}]},
        {"id": "c", "prompt": "prove it", "params": {"max_tokens": 50}},
    ]
    prompts.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    out = tmp_path / "results.jsonl"
    # A run cut short before: "a" is done already, so only b and c run now.
    out.write_text(
        json.dumps(
            {
                "id": "a",
                "accepted_tier": 0,
                "model_used": CHEAP,
                "scores": [0.95],
                "cascade_cost": "0.0000001",
                "last_tier_cost": "0.0001",
                "agrees": None,
                "agreement": "same",
            }
        )
        + "\n"
        + '{"id": "b", "accepted_t'  # a line cut by a crash
        + "\n"
    )
    server.script(CHEAP, Reply("Rome?", confidence=0.2), Reply("Hmm", confidence=0.1))
    server.script(MID, Reply("Rome.", confidence=0.95), Reply("Hmm", confidence=0.1))
    server.script(DEAR, Reply("rome"), Reply("Because."))
    argv = ["cascade", "eval", str(prompts), "--tiers", ",".join(TIERS), "--base-url", server.base_url]
    argv += ["--out", str(out), "--concurrency", "1"]
    assert main(argv) == 0
    captured = capsys.readouterr()
    rows = [json.loads(line) for line in out.read_text().splitlines()[2:]]
    assert [(r["id"], r["accepted_tier"], r["agreement"]) for r in rows] == [("b", 1, "exact"), ("c", 2, "same")]
    assert rows[0]["agrees"] is True and Decimal(rows[0]["last_tier_cost"]) > Decimal(rows[0]["cascade_cost"])
    assert [r.model for r in server.chat_requests()] == [CHEAP, MID, DEAR, CHEAP, MID, DEAR]
    table = captured.out
    assert "tier  model" in table and "last tier alone" in table and "savings" in table
    assert "1/1 kept drafts agree with the last tier (100.0%)" in table
    assert "3/3" in captured.err and "resumed: 1 prompts" in captured.err
    # Everything is done: a rerun sends nothing and prints the same summary.
    assert main(argv) == 0
    assert len(server.chat_requests()) == 6
    assert capsys.readouterr().out == table


async def test_tags_label_every_tier_and_are_checked(server: MockServer, caller: Any) -> None:
    server.script(CHEAP, Reply("Lyon?", confidence=0.1))
    client = caller.client(server)
    resp = await caller.create(client, model=fastrouter.Cascade([CHEAP, MID]), messages=ASK, tags=["batch"])
    assert [e.tags for e in client.usage.entries] == [("batch",), ("batch",)]
    assert resp.cascade.accepted_tier == 1
    with pytest.raises(TypeError, match="tags"):
        await caller.create(client, model=fastrouter.Cascade([CHEAP, MID]), messages=ASK, tags="batch")


async def test_a_streamed_cascade_with_a_judge_and_an_async_check(server: MockServer, aclient: Any) -> None:
    async def fine(request: Any, completion: Any) -> bool:
        return True

    judge = "openai/gpt-4o"
    server.script(CHEAP, Reply("Paris it is", confidence=0.9))
    server.script(judge, Reply("8/10"))
    cascade = fastrouter.Cascade(TIERS, checks=[fine], judge=judge)
    stream = await aclient.chat.completions.create(model=cascade, messages=ASK, stream=True)
    text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert text == "Paris it is" and stream.cascade.accepted_tier == 0
    assert [e.role for e in aclient.usage.entries] == ["judge", "kept"]
    assert stream.completion.cost == sum((e.total_cost for e in aclient.usage.entries), Decimal(0))


async def test_a_failing_user_check_still_books_the_tier(server: MockServer, caller: Any) -> None:
    def broken(request: Any, completion: Any) -> float:
        raise RuntimeError("bug in the check")

    server.script(CHEAP, Reply("Paris.", confidence=0.9))
    client = caller.client(server)
    with pytest.raises(RuntimeError, match="bug in the check"):
        await caller.create(client, model=fastrouter.Cascade(TIERS, checks=[broken]), messages=ASK)
    assert _roles(client) == [("draft", 0, CHEAP)]


def test_cascade_eval_over_a_route(
    server: MockServer, tmp_path: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from fastrouter.cli import main

    monkeypatch.setenv("OPENROUTER_API_KEY", "sk-or-v1-eval")
    config = tmp_path / "fastrouter.toml"
    config.write_text(f'[routes.support]\ncascade = {{ tiers = ["{CHEAP}", "{MID}"] }}\n')
    prompts = tmp_path / "p.jsonl"
    prompts.write_text('{"prompt": "capital of France?"}\n{"prompt": "capital of Spain?"}\n')
    server.script(CHEAP, Reply("Paris", confidence=0.9), Reply("Madrid", confidence=0.9))
    server.script(MID, Reply("paris!"), Reply("Barcelona"))
    argv = ["cascade", "eval", str(prompts), "--route", "support", "--config", str(config)]
    assert main([*argv, "--base-url", server.base_url, "--concurrency", "1"]) == 0
    out = capsys.readouterr().out
    assert "1/2 kept drafts agree with the last tier (50.0%)" in out
    assert main([*argv[:-2], "--config", str(tmp_path / "missing.toml")]) == 2


async def test_a_per_request_budget_covers_all_tiers_together(server: MockServer, caller: Any) -> None:
    server.script(CHEAP, Reply("Lyon?", confidence=0.1))
    server.script(MID, Reply("Paris.", confidence=0.9))
    # Each tier alone fits under $0.0003 (gpt-4o-mini, 100 tokens: ~$0.00007); claude's
    # worst case (~$0.0016) does not, whatever was spent before.
    client = caller.client(server, budgets=[fastrouter.Budget("0.0003", per="request")])
    resp = await caller.create(client, model=fastrouter.Cascade([CHEAP, MID]), messages=ASK, max_tokens=100)
    assert resp.cascade.accepted_tier == 1
    server.script(CHEAP, Reply("Lyon?", confidence=0.1))
    with pytest.raises(fastrouter.BudgetExceededError, match="request budget of \\$0.0003"):
        await caller.create(client, model=fastrouter.Cascade([CHEAP, DEAR]), messages=ASK, max_tokens=100)
