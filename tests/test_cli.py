"""The ``fastrouter`` command line: ``demo``, ``mock`` and ``--version``."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import fastrouter
import pytest
from fastrouter import cli
from fastrouter.testing import Fail, MockServer, Reply

_ENV_VARS = (
    "OPENROUTER_API_KEY",
    "OPENROUTER_BASE_URL",
    "OPENROUTER_HTTP_REFERER",
    "OPENROUTER_APP_TITLE",
    "OPENROUTER_X_TITLE",
    "OPENROUTER_APP_CATEGORIES",
)
URL_RE = re.compile(r"(http://\S+/api/v1)")


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _ENV_VARS:
        monkeypatch.delenv(name, raising=False)


def _clean_environ(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENROUTER_")}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def _run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fastrouter.cli", *args],
        capture_output=True,
        text=True,
        timeout=30,
        env=_clean_environ(**env),
    )


# -------------------------------------------------------------------------------- demo


def test_demo_uses_the_mock_without_a_key(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "OPENROUTER_API_KEY is not set" in out
    assert "mock server at http://127.0.0.1:" in out
    assert re.search(r"^\s+answer:\s+.*You said: In one sentence", out, re.M), out
    assert re.search(r"^\s+model:\s+openai/gpt-4o-mini$", out, re.M), out
    assert re.search(r"^\s+provider:\s+OpenAI$", out, re.M), out
    match = re.search(r"^\s+tokens:\s+(\d+) prompt \+ (\d+) completion = (\d+)$", out, re.M)
    assert match, out
    prompt, completion, total = map(int, match.groups())
    assert prompt > 0 and completion > 0 and prompt + completion == total
    assert re.search(r"^\s+cost:\s+\$0\.\d+", out, re.M), out
    assert re.search(r"^\s+latency:\s+[\d.]+ ms, first token after [\d.]+ ms$", out, re.M), out
    # the failover step: two scripted 503s on the first model, then the backup answers
    assert re.search(r"^\s+1\s+openai/gpt-4o-mini\s+503\s+service_unavailable", out, re.M), out
    assert re.search(r"^\s+3\s+anthropic/claude-3.5-haiku\s+200\s+answered", out, re.M), out
    assert "from:     anthropic/claude-3.5-haiku after 3 attempts" in out
    # the cascade step: a doubtful cheap draft escalates once, the middle tier is kept
    assert "kept:     tier 1, openai/gpt-4o-mini" in out
    assert re.search(r"saved \$0\.\d+ \([\d.]+%\)", out), out
    # the ledger: one line per answering model, and the total
    assert re.search(r"^\s+openai/gpt-4o-mini\s+\d+\s+\d+\s+\$0\.\d+$", out, re.M), out
    assert re.search(r"^\s+\d+ requests, \$0\.\d+ in all", out, re.M), out


def test_demo_model_and_prompt_options(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["demo", "--model", "anthropic/claude-3.5-haiku", "--prompt", "Say hi to the tests"]) == 0
    out = capsys.readouterr().out
    assert "You said: Say hi to the tests" in out
    assert re.search(r"^\s+model:\s+anthropic/claude-3.5-haiku$", out, re.M), out
    assert re.search(r"^\s+provider:\s+Anthropic$", out, re.M), out
    assert "anthropic/claude-3.5-haiku -> openai/gpt-4o-mini" in out  # the backup is another model


def test_demo_subprocess_with_a_clean_environment() -> None:
    result = _run("demo")
    assert result.returncode == 0, result.stderr
    assert "using the embedded mock server" in result.stdout
    assert "answer:" in result.stdout
    assert "model:    openai/gpt-4o-mini" in result.stdout
    assert "provider: OpenAI" in result.stdout
    assert "tokens:" in result.stdout
    assert "cost:     $" in result.stdout


def test_demo_with_a_key_calls_the_configured_server(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with MockServer() as server:
        server.script("openai/gpt-4o-mini", Reply("real answer", provider="Azure", cost=0.000123))
        monkeypatch.setenv("OPENROUTER_API_KEY", "sk-or-v1-demo")
        monkeypatch.setenv("OPENROUTER_BASE_URL", server.base_url)
        assert cli.main(["demo"]) == 0
        request, failing, answering, *cascade = server.chat_requests()
    out = capsys.readouterr().out
    assert "OPENROUTER_API_KEY is set: calling OpenRouter." in out
    assert "answer:   real answer" in out
    assert "provider: Azure" in out
    assert "cost:     $0.000123" in out
    assert request.headers["x-title"] == "fastrouter demo"
    assert request.body["max_tokens"] == 200 and request.body["stream"] is True
    # with a key the failover step's failure is real: a model id OpenRouter does not serve
    assert failing.body["model"] == "fastrouter-demo/no-such-model" and answering.body["model"] == "openai/gpt-4o-mini"
    # the cascade step calls the configured server too, cheapest tier first
    assert cascade and cascade[0].body["model"] == "meta-llama/llama-3.1-8b-instruct"
    assert "sk-or-v1-demo" not in out


def test_demo_failure_exits_1(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    with MockServer() as server:
        server.script("openai/gpt-4o-mini", Fail(401, message="User not found."))
        monkeypatch.setenv("OPENROUTER_API_KEY", "sk-or-v1-bad")
        monkeypatch.setenv("OPENROUTER_BASE_URL", server.base_url)
        assert cli.main(["demo"]) == 1
    captured = capsys.readouterr()
    (line,) = captured.err.splitlines()
    assert line.startswith("fastrouter: AuthenticationError:") and "User not found." in line
    assert "hint: set OPENROUTER_API_KEY or pass --api-key" in line
    assert "Traceback" not in captured.err
    assert "sk-or-v1-bad" not in captured.err + captured.out


# -------------------------------------------------------------------------------- mock


@pytest.fixture
def mock_process() -> Iterator[tuple[subprocess.Popen[str], str]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "fastrouter.cli", "mock", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_clean_environ(),
    )
    try:
        line = _readline(proc, timeout=20)
        match = URL_RE.search(line)
        assert match, f"unexpected first line: {line!r}"
        yield proc, match.group(1)
    finally:
        if proc.poll() is None:
            proc.terminate()
        try:
            proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:  # pragma: no cover
            proc.kill()
            proc.communicate()


def _readline(proc: subprocess.Popen[str], timeout: float) -> str:
    assert proc.stdout is not None
    box: list[str] = []
    reader = threading.Thread(target=lambda: box.append(proc.stdout.readline()), daemon=True)  # type: ignore[union-attr]
    reader.start()
    reader.join(timeout)
    assert box, "the mock server printed nothing"
    return box[0]


def test_mock_command_serves(mock_process: tuple[subprocess.Popen[str], str]) -> None:
    proc, base_url = mock_process
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/api/v1", base_url)
    assert not base_url.endswith(":0/api/v1")
    with fastrouter.Client(base_url=base_url, api_key="anything") as client:
        resp = client.chat.completions.create(
            model="openai/gpt-4o-mini", messages=[{"role": "user", "content": "ping from the CLI test"}]
        )
        assert "ping from the CLI test" in (resp.choices[0].message.content or "")
        assert resp.provider == "OpenAI"
        assert client.credits.get().total_credits == 100
    assert proc.poll() is None


def test_mock_command_stops_cleanly_on_ctrl_c(mock_process: tuple[subprocess.Popen[str], str]) -> None:
    proc, base_url = mock_process
    with fastrouter.Client(base_url=base_url, api_key="k", max_retries=0) as client:
        assert client.credits.get().total_credits == 100
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 0
        with pytest.raises(fastrouter.APIConnectionError):
            client.credits.get()


@pytest.mark.timeout(300)  # 15 interpreter starts: ~20 s on a loaded machine, more on a slower one
def test_mock_command_ctrl_c_right_after_the_announcement() -> None:
    # Once the server has printed its URL it is running, so Ctrl-C from then on must stop
    # it cleanly (exit 0): no KeyboardInterrupt traceback, and the signal must not be lost
    # (it can land on one of the extension's I/O threads). Repeated: the window is small.
    for _ in range(15):
        proc = subprocess.Popen(
            [sys.executable, "-m", "fastrouter.cli", "mock", "--port", "0"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_clean_environ(),
        )
        assert proc.stdout is not None
        assert URL_RE.search(proc.stdout.readline())  # read directly: signal as soon as it is out
        proc.send_signal(signal.SIGINT)
        try:
            _, err = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            pytest.fail("Ctrl-C was lost: the mock server kept running")
        assert proc.returncode == 0, err
        assert "Traceback" not in err


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="needs Linux /proc")
def test_mock_command_ctrl_c_landing_on_an_io_thread(mock_process: tuple[subprocess.Popen[str], str]) -> None:
    # The kernel may deliver a process-directed SIGINT to any thread that does not block
    # it, including the extension's tokio threads. The server must still stop.
    proc, base_url = mock_process
    with fastrouter.Client(base_url=base_url, api_key="k", max_retries=0) as client:
        assert client.credits.get().total_credits == 100  # the server is up and serving
    io_threads = []
    for tid in os.listdir(f"/proc/{proc.pid}/task"):
        with open(f"/proc/{proc.pid}/task/{tid}/comm") as comm:
            if comm.read().strip().startswith("fastrouter-io"):
                io_threads.append(int(tid))
    assert io_threads, "no extension I/O thread found"
    os.kill(io_threads[0], signal.SIGINT)
    try:
        code = proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        pytest.fail("Ctrl-C was lost: the mock server kept running")
    assert code == 0


def test_mock_command_terminates(mock_process: tuple[subprocess.Popen[str], str]) -> None:
    proc, _ = mock_process
    proc.terminate()
    assert proc.wait(timeout=10) is not None


def test_mock_command_api_key() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "fastrouter.cli", "mock", "--port", "0", "--api-key", "only-this"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_clean_environ(),
    )
    try:
        match = URL_RE.search(_readline(proc, timeout=20))
        assert match
        base_url = match.group(1)
        with fastrouter.Client(base_url=base_url, api_key="wrong", max_retries=0) as client:
            with pytest.raises(fastrouter.AuthenticationError):
                client.credits.get()
        with fastrouter.Client(base_url=base_url, api_key="only-this") as client:
            assert client.credits.get().total_credits == 100
    finally:
        proc.terminate()
        proc.communicate(timeout=10)


# ------------------------------------------------------------------------ --version etc.


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"fastrouter {fastrouter.__version__}"


def test_version_subprocess() -> None:
    result = _run("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"fastrouter {fastrouter.__version__}"


def test_command_is_required(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main([])
    assert info.value.code == 2
    assert "usage: fastrouter" in capsys.readouterr().err


def test_unknown_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["explode"])
    assert info.value.code == 2
    capsys.readouterr()


def test_models_and_route_commands_are_wired(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from fastrouter.cli import main
    from fastrouter.testing import MockServer

    config = tmp_path / "fastrouter.toml"
    config.write_text('[aliases]\nfast = ["openai/gpt-4o-mini", "anthropic/claude-3.5-haiku"]\n')
    with MockServer() as server:
        os.environ["FASTROUTER_CACHE_DIR"] = str(tmp_path / "cache")
        try:
            assert main(["models", "show", "openai/gpt-4o-mini", "--base-url", server.base_url]) == 0
            shown = capsys.readouterr().out
            assert "openai/gpt-4o-mini" in shown and "128" in shown
            search = ["models", "search", "claude", "--provider", "anthropic", "--limit", "3"]
            assert main([*search, "--base-url", server.base_url]) == 0
            rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("anthropic/")]
            assert len(rows) == 3
            assert main(["route", "explain", "fast", "--config", str(config), "--base-url", server.base_url]) == 0
            explained = capsys.readouterr().out
            assert "openai/gpt-4o-mini" in explained and "anthropic/claude-3.5-haiku" in explained
        finally:
            del os.environ["FASTROUTER_CACHE_DIR"]
