"""``fastrouter chat``, ``credits`` and ``key``; ``--api-key`` / ``--base-url`` on every network
command; one-line errors with hints; ``usage --format json`` honouring ``--by``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import fastrouter
import pytest
from fastrouter.cli import main
from fastrouter.testing import Fail, MockServer, Reply


@pytest.fixture(autouse=True)
def _no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENROUTER_API_KEY", raising=False)
    monkeypatch.delenv("OPENROUTER_BASE_URL", raising=False)


def _net(server: MockServer) -> list[str]:
    return ["--api-key", "sk-or-v1-cli-secret", "--base-url", server.base_url]


def test_chat_prints_the_answer_and_a_summary_line(server: MockServer, capsys: pytest.CaptureFixture[str]) -> None:
    server.script("openai/gpt-4o-mini", Reply("Paris.", provider="OpenAI", cost=0.0001))
    assert main(["chat", "Capital of France?", *_net(server)]) == 0
    out, err = capsys.readouterr()
    assert out == "Paris.\n"
    assert err.startswith("openai/gpt-4o-mini · OpenAI · ") and "$0.0001" in err
    (request,) = server.chat_requests()
    assert request.body["messages"] == [{"role": "user", "content": "Capital of France?"}]
    assert request.headers["authorization"] != "Bearer sk-or-v1-cli-secret"  # recorded redacted, but sent


def test_chat_streams_with_a_chain_and_options(server: MockServer, capsys: pytest.CaptureFixture[str]) -> None:
    server.script("openai/gpt-4o-mini", Fail(503))
    server.script("anthropic/claude-3.5-haiku", Reply("one two three"))
    argv = ["chat", "count", "--stream", "-m", "openai/gpt-4o-mini,anthropic/claude-3.5-haiku", "--max-tokens", "9"]
    assert main([*argv, "--system", "be brief", "--max-retries", "0", "--quiet", *_net(server)]) == 0
    out, err = capsys.readouterr()
    assert out == "one two three\n" and err == ""
    last = server.chat_requests()[-1].body
    assert last["stream"] is True and last["max_tokens"] == 9 and last["messages"][0]["role"] == "system"


def test_chat_json_is_the_whole_completion_with_its_cost(
    server: MockServer, capsys: pytest.CaptureFixture[str]
) -> None:
    server.script("openai/gpt-4o-mini", Reply("hi", cost=0.25))
    assert main(["chat", "hi", "--format", "json", *_net(server)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["choices"][0]["message"]["content"] == "hi" and data["cost"] == "0.25"


def test_credits_and_key(server: MockServer, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["credits", *_net(server)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("credits:   $") and "remaining: $" in out
    assert main(["credits", "--format", "json", *_net(server)]) == 0
    credits = json.loads(capsys.readouterr().out)
    assert credits["remaining"] == pytest.approx(credits["total_credits"] - credits["total_usage"])
    assert main(["key", *_net(server)]) == 0
    assert "label:" in capsys.readouterr().out
    assert main(["key", "--format", "json", *_net(server)]) == 0
    assert "usage" in json.loads(capsys.readouterr().out)
    assert [r.path for r in server.requests] == ["/credits"] * 2 + ["/key"] * 2


@pytest.mark.parametrize(
    ("outcome", "kind", "hint"),
    [
        (Fail(401, "No auth credentials found"), "AuthenticationError", "pass --api-key"),
        (Fail(402, "Insufficient credits"), "InsufficientCreditsError", "add credits"),
        (Fail(429, "slow down"), "RateLimitError", "failover chain"),
    ],
)
def test_errors_are_one_line_with_a_hint(
    server: MockServer, capsys: pytest.CaptureFixture[str], outcome: Fail, kind: str, hint: str
) -> None:
    server.script("openai/gpt-4o-mini", outcome)
    assert main(["chat", "hi", "--max-retries", "0", *_net(server)]) == 1
    err = capsys.readouterr().err
    (line,) = err.splitlines()
    assert line.startswith(f"fastrouter: {kind}: ") and hint in line
    assert "sk-or-v1-cli-secret" not in err


def test_an_unknown_model_and_an_unreachable_server_say_what_to_do(
    server: MockServer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["chat", "hi", "-m", "nope/not-a-model", *_net(server)]) == 1
    assert "hint: check the model id: fastrouter models search" in capsys.readouterr().err
    assert main(["credits", "--api-key", "k", "--base-url", "http://127.0.0.1:9/api/v1"]) == 1
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("fastrouter: APIConnectionError") and "check your network and --base-url" in line


def test_no_traceback_from_a_subprocess_without_a_key() -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": "/tmp"}
    result = subprocess.run(
        [sys.executable, "-m", "fastrouter.cli", "chat", "hi", "--base-url", "http://127.0.0.1:9/api/v1"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and len(result.stderr.splitlines()) == 1
    assert "AuthenticationError" in result.stderr and "OPENROUTER_API_KEY" in result.stderr


@pytest.mark.parametrize(
    "command", [["chat", "x"], ["credits"], ["key"], ["demo"], ["models", "search"], ["route", "explain", "x"]]
)
def test_every_network_command_takes_api_key_and_base_url(
    command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        main([*command, "--help"])
    text = capsys.readouterr().out
    assert "--api-key" in text and "--base-url" in text


def test_usage_json_and_csv_honour_by(server: MockServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "usage.db"
    with fastrouter.Client(base_url=server.base_url, api_key="k", ledger=str(db)) as client:
        server.script(
            "openai/gpt-4o-mini", Reply("a", cost=0.5, provider="OpenAI"), Reply("b", cost=0.25, provider="Azure")
        )
        for tags in (["x"], ["y"]):
            client.chat.completions.create(
                model="openai/gpt-4o-mini", messages=[{"role": "user", "content": "q"}], tags=tags
            )
        client.usage.close()
    assert main(["usage", "--db", str(db), "--format", "json", "--by", "provider"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["by"] == "provider"
    assert data["groups"]["OpenAI"]["total_cost"] == "0.5" and data["groups"]["Azure"]["requests"] == 1
    assert main(["usage", "--db", str(db), "--format", "csv", "--by", "tag"]) == 0
    rows = capsys.readouterr().out.splitlines()
    assert rows[0].startswith("tag,requests") and sorted(r.split(",")[0] for r in rows[1:]) == ["x", "y"]
    assert main(["usage", "--db", str(db), "--format", "json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 2  # no --by: every entry


def test_usd_keeps_the_digits_of_sub_micro_amounts() -> None:
    from decimal import Decimal

    from fastrouter._format import usd

    assert usd(Decimal("0.00000042")) == "$0.00000042"
    assert usd(Decimal("0.000045")) == "$0.000045"
    assert usd(Decimal("0.5")) == "$0.50"
