"""``fastrouter route explain NAME --config fastrouter.toml`` against the real mock server."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastrouter.cli import route as routing_cli
from fastrouter.testing import MockServer
from routing_helpers import REAL_CATALOG, SMALL

CONFIG = """
[aliases]
fast = ["acme/cheap", "beta/mid"]

[routes.smart]
supports = ["tools"]
min_context = 100000
mode = "quality"
max_models = 2
deadline_s = 30
providers = { sort = "throughput" }

[routes.huge]
min_context = 5000000
"""


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No OPENROUTER_* settings from the environment, and a private catalog cache."""
    for name in ("OPENROUTER_API_KEY", "OPENROUTER_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    cache_dir = tmp_path / "cache"
    monkeypatch.setenv("FASTROUTER_CACHE_DIR", str(cache_dir))
    return cache_dir


@pytest.fixture
def small_server() -> Iterator[MockServer]:
    with MockServer(catalog=SMALL) as server:
        yield server


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "fastrouter.toml"
    path.write_text(CONFIG)
    return path


def explain(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = routing_cli.main(["route", "explain", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_explain_prints_the_chain_from_the_served_catalog(
    small_server: MockServer, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = explain(capsys, "smart", "--config", str(config), "--base-url", small_server.base_url)
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == f"route 'smart' ({config})"
    assert "requirements: supports tools, context >= 100,000" in out
    assert "chain (2 models):" in out
    assert "1. epsilon/top  $15.00/M in, $75.00/M out, 1,000,000 context" in out
    assert "2. delta/dear   $10.00/M in, $30.00/M out, 200,000 context" in out
    assert "#1 most expensive (price is the quality proxy) of 3 models with tools, >=100k context" in out
    assert "settings: deadline=30s" in out
    assert 'provider preferences: {"sort": "throughput"}' in out
    assert [r.path for r in small_server.requests] == ["/models?output_modalities=all"]


def test_explain_an_alias_with_the_base_url_from_the_environment(
    small_server: MockServer, config: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENROUTER_BASE_URL", small_server.base_url)
    monkeypatch.setenv("OPENROUTER_API_KEY", "sk-or-test")
    code, out, _ = explain(capsys, "fast", "--config", str(config))
    assert code == 0
    assert out.splitlines()[0] == f"alias 'fast' ({config}): a fixed chain, tried in order"
    assert "1. acme/cheap" in out and "2. beta/mid" in out
    assert small_server.requests[0].headers.get("authorization", "").startswith("Bearer ")  # the mock redacts keys


def test_explain_against_the_bundled_321_model_catalog(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config.write_text('[routes.cheap]\nsupports = ["tools"]\nmode = "cheapest"\nprefer_free = true\nmax_models = 4\n')
    with MockServer() as server:
        code, out, _ = explain(capsys, "cheap", "--config", str(config), "--base-url", server.base_url)
    assert code == 0
    assert "chain (4 models):" in out
    assert "free, first because of prefer_free" in out


def test_the_catalog_is_cached_and_offline_works_from_the_cache(
    config: Path, capsys: pytest.CaptureFixture[str], _isolated: Path
) -> None:
    with MockServer(catalog=SMALL) as server:
        base_url = server.base_url
        assert explain(capsys, "smart", "--config", str(config), "--base-url", base_url)[0] == 0
        assert explain(capsys, "smart", "--config", str(config), "--base-url", base_url)[0] == 0
        assert len(server.requests) == 1  # the second run used the disk cache
        assert explain(capsys, "smart", "--config", str(config), "--base-url", base_url, "--refresh")[0] == 0
        assert len(server.requests) == 2
    assert list(_isolated.glob("models-*.cache"))
    code, out, _ = explain(capsys, "smart", "--config", str(config), "--base-url", base_url, "--offline")
    assert code == 0 and "1. epsilon/top" in out


def test_offline_without_a_cached_catalog_exits_1(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = explain(
        capsys, "smart", "--config", str(config), "--base-url", "http://127.0.0.1:9/api/v1", "--offline"
    )
    assert code == 1 and "no cached model catalog" in err


def test_explain_from_a_saved_catalog_file(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = explain(capsys, "smart", "--config", str(config), "--catalog", str(REAL_CATALOG))
    assert code == 0 and "chain (2 models):" in out


def test_an_unknown_name_exits_2_with_a_suggestion(
    small_server: MockServer, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = explain(capsys, "smrt", "--config", str(config), "--base-url", small_server.base_url)
    assert (code, out) == (2, "")
    assert err == f"error: {config}: unknown route or alias 'smrt' (did you mean 'smart'?)\n"
    assert small_server.requests == []  # no catalog fetched for a name that does not exist


def test_an_invalid_config_exits_2_naming_file_and_key(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config.write_text('[routes.smart]\nmode = "fastst"\n')
    code, _, err = explain(capsys, "smart", "--config", str(config))
    assert code == 2
    assert err == f"error: {config}: routes.smart.mode: unknown mode 'fastst' (did you mean 'fastest'?)\n"


def test_a_missing_config_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = explain(capsys, "smart", "--config", str(tmp_path / "nope.toml"))
    assert code == 2 and "cannot read the file" in err


def test_an_impossible_requirement_exits_2(
    small_server: MockServer, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = explain(capsys, "huge", "--config", str(config), "--base-url", small_server.base_url)
    assert code == 2
    assert f"error: {config}: routes.huge.min_context: no model meets the requirements" in err
    assert "lower min_context to 1000000" in err


def test_an_unknown_model_in_an_alias_exits_2(
    small_server: MockServer, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config.write_text('strict = true\n[aliases]\nfast = ["acme/chaep"]\n')
    code, out, err = explain(capsys, "fast", "--config", str(config), "--base-url", small_server.base_url)
    assert code == 2
    assert "aliases.fast[0]: unknown model id 'acme/chaep'" in err and "'acme/cheap'" in err
    assert "chain: empty" in out
    # without strict, the id passes through (the catalog may be older than the model)
    config.write_text('[aliases]\nfast = ["acme/chaep"]\n')
    code, out, _ = explain(capsys, "fast", "--config", str(config), "--base-url", small_server.base_url)
    assert code == 0
    assert "not in the catalog: passed through as is" in out


def test_an_unreachable_catalog_exits_1(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with MockServer() as server:
        dead = server.base_url  # the port is closed once the server stops
    code, out, err = explain(capsys, "smart", "--config", str(config), "--base-url", dead)
    assert (code, out) == (1, "")
    assert err.startswith(f"error: could not load the model catalog from {dead}: ")


def test_add_route_commands_plugs_into_another_parser(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser(prog="fastrouter")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("demo")
    routing_cli.add_route_commands(commands)
    args = parser.parse_args(["route", "explain", "smart", "--config", str(config), "--catalog", str(REAL_CATALOG)])
    assert args.run(args) == 0
    assert "route 'smart'" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        parser.parse_args(["route"])  # a route subcommand is required
    capsys.readouterr()


def test_the_module_runs_as_a_command(small_server: MockServer, config: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENROUTER_")}
    done = subprocess.run(
        [sys.executable, "-m", "fastrouter.cli.route", "route", "explain", "smart", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=30,
        env={**env, "OPENROUTER_BASE_URL": small_server.base_url, "FASTROUTER_CACHE_DIR": str(config.parent / "c")},
    )
    assert done.returncode == 0, done.stderr
    assert "1. epsilon/top" in done.stdout


def test_explain_shows_the_merged_request_of_a_call(
    small_server: MockServer, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config.write_text('[routes.r]\nmodels = ["acme/cheap"]\nparams = { temperature = 0.3, max_tokens = 800 }\n')
    args = ["--config", str(config), "--base-url", small_server.base_url]
    code, out, _ = explain(capsys, "r", *args, "--param", "temperature=1", "--param", "user=alice")
    assert code == 0
    assert 'request: max_tokens=800 (default), temperature=1 (call), user="alice" (call)' in out
    with pytest.raises(SystemExit):
        explain(capsys, "r", *args, "--param", "oops")
