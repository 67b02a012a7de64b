"""``fastrouter models search|show|endpoints`` against a real MockServer.

The commands are registered with ``add_models_commands`` (as ``fastrouter.cli`` does) and
run in-process; the disk cache lives in a temporary ``FASTROUTER_CACHE_DIR``.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fastrouter.catalog import CacheEntry, Catalog, CatalogCache
from fastrouter.cli import models as catalog_cli
from fastrouter.cli.models import add_models_commands
from fastrouter.testing import MockServer

FIXTURES = Path(__file__).parent / "fixtures" / "openrouter-traffic"
NEWER_SCHEMA = FIXTURES / "llm-openrouter__responses_api_stream_tool_call.interaction0.body.json"


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A private cache directory and no OPENROUTER_* settings from the environment."""
    for name in ("OPENROUTER_API_KEY", "OPENROUTER_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    cache_dir = tmp_path / "cache"
    monkeypatch.setenv("FASTROUTER_CACHE_DIR", str(cache_dir))
    return cache_dir


@pytest.fixture(scope="module")
def bundled() -> Catalog:
    """The bundled catalog, to compare the command's answers with the library's."""
    with MockServer() as server:
        import httpx

        return Catalog.from_json(httpx.get(f"{server.base_url}/models?output_modalities=all").content)


def run(argv: list[str], **sources: Any) -> int:
    """``fastrouter <argv>`` with the models commands registered the way fastrouter.cli does."""
    parser = argparse.ArgumentParser(prog="fastrouter")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("demo").set_defaults(run=lambda args: 0)  # another command, as in fastrouter.cli
    add_models_commands(commands, **sources)
    args = parser.parse_args(argv)
    code: int = args.run(args)
    return code


def listed_ids(out: str) -> list[str]:
    """The MODEL column of a search table."""
    lines = out.splitlines()
    assert lines[0].startswith("MODEL") and set(lines[1].replace(" ", "")) == {"-"}
    ids = []
    for line in lines[2:]:
        if not line.strip():
            break
        ids.append(line.split()[0])
    return ids


def models_requests(server: MockServer) -> int:
    return sum(1 for r in server.requests if r.path.startswith("/models?"))


# ------------------------------------------------------------------------------- search


def test_search_prints_a_table_of_every_model(server: MockServer, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["models", "search", "--base-url", server.base_url]) == 0
    out = capsys.readouterr().out
    header = out.splitlines()[0]
    assert re.match(r"MODEL\s+CONTEXT\s+\$/M IN\s+\$/M OUT\s+MODALITIES\s+CAPABILITIES$", header)
    assert len(listed_ids(out)) == 321
    # Fetched just now: "0s ago", or a few seconds on a loaded machine.
    assert re.search(
        r"321 models \(of 321; sorted by price; prices in USD per million tokens; catalog fetched \ds ago\)\n", out
    )
    assert [r.path for r in server.requests] == ["/models?output_modalities=all"]


def test_search_row_format(server: MockServer, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["models", "search", "claude", "--supports", "tools", "--min-context", "100k", "--max-prompt-price", "3"]
    assert run([*argv, "--base-url", server.base_url]) == 0
    out = capsys.readouterr().out
    lines = {line.split()[0]: line for line in out.splitlines()[2:] if line.strip()}
    assert re.match(
        r"anthropic/claude-3-haiku\s+200K\s+0\.25\s+1\.25\s+text\+image->text\s+tools, caching$",
        lines["anthropic/claude-3-haiku"],
    )
    assert re.match(
        r"anthropic/claude-3\.7-sonnet:thinking\s+200K\s+3\s+15\s+text\+image->text\s+tools, reasoning, caching$",
        lines["anthropic/claude-3.7-sonnet:thinking"],
    )
    assert re.match(r"mistralai/mistral-medium-3\s+131K\s+0\.4\s+2\s+", lines["mistralai/mistral-medium-3"])
    assert "17 models (of 321; sorted by price" in out
    # the columns line up: every CONTEXT cell ends where the header does
    header = out.splitlines()[0]
    end = header.index("CONTEXT") + len("CONTEXT")
    rows = out.splitlines()[2:19]
    assert all(line[end - 1] != " " and line[end : end + 2] == "  " for line in rows)


@pytest.mark.parametrize(
    ("argv", "kwargs"),
    [
        (["claude"], {"text": "claude"}),
        (["gpt", "4o"], {"text": "gpt 4o"}),
        (["--provider", "anthropic"], {"provider": "anthropic"}),
        (["--provider", "anthropic,openai"], {"provider": ["anthropic", "openai"]}),
        (["--provider", "anthropic", "--provider", "google"], {"provider": ["anthropic", "google"]}),
        (["--supports", "tools", "--supports", "reasoning"], {"supports": ["tools", "reasoning"]}),
        (["--supports", "tools,structured_outputs"], {"supports": ["tools", "structured_outputs"]}),
        (["--supports", "vision"], {"supports": ["vision"]}),
        (["--input-modality", "image"], {"input_modalities": ["image"]}),
        (["--input-modality", "image", "--input-modality", "file"], {"input_modalities": ["image", "file"]}),
        (["--output-modality", "text"], {"output_modalities": ["text"]}),
        (["--min-context", "1m"], {"min_context": 1_000_000}),
        (["--min-context", "131_072"], {"min_context": 131072}),
        (["--max-prompt-price", "0.5"], {"max_prompt_price_per_m": Decimal("0.5")}),
        (["--max-completion-price", "$1"], {"max_completion_price_per_m": Decimal("1")}),
        (["--free"], {"free": True}),
        (["--paid"], {"free": False}),
        (["--sort", "context"], {"sort": "context"}),
        (["--sort", "newest"], {"sort": "newest"}),
        (["--sort", "name"], {"sort": "name"}),
        (["--sort", "price"], {"sort": "price"}),
        (["--limit", "7"], {"limit": 7}),
        (
            ["claude", "--paid", "--sort", "newest", "--limit", "3", "--input-modality", "image"],
            {"text": "claude", "free": False, "sort": "newest", "limit": 3, "input_modalities": ["image"]},
        ),
    ],
)
def test_every_search_filter_matches_the_library(
    server: MockServer, bundled: Catalog, capsys: pytest.CaptureFixture[str], argv: list[str], kwargs: dict[str, Any]
) -> None:
    assert run(["models", "search", *argv, "--base-url", server.base_url]) == 0
    expected = [m.id for m in bundled.search(**kwargs)]
    assert expected, "a filter that matches nothing proves little"
    assert listed_ids(capsys.readouterr().out) == expected


def test_search_output_modalities_of_image_and_embedding_models(capsys: pytest.CaptureFixture[str]) -> None:
    models = [
        {"id": "a/chat", "name": "Chat", "architecture": {"input_modalities": ["text"], "output_modalities": ["text"]}},
        {
            "id": "a/painter",
            "name": "Painter",
            "architecture": {"modality": "text->image", "input_modalities": ["text"], "output_modalities": ["image"]},
            "pricing": {"prompt": "0.000001", "completion": "0.00004"},
        },
        {
            "id": "a/embed",
            "name": "Embed",
            "architecture": {"input_modalities": ["text"], "output_modalities": ["embeddings"]},
        },
    ]
    with MockServer(catalog=models) as server:
        assert run(["models", "search", "--output-modality", "image", "--base-url", server.base_url]) == 0
        out = capsys.readouterr().out
        assert listed_ids(out) == ["a/painter"]
        assert re.search(r"a/painter\s+-\s+1\s+40\s+text->image", out)
        assert run(["models", "search", "--output-modality", "embeddings", "--base-url", server.base_url]) == 0
        assert listed_ids(capsys.readouterr().out) == ["a/embed"]


def test_search_without_matches(server: MockServer, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["models", "search", "no-such-model-anywhere", "--base-url", server.base_url]) == 0
    assert capsys.readouterr().out == "no models match (catalog: 321 models)\n"


@pytest.mark.parametrize(
    "argv",
    [
        ["--free", "--paid"],
        ["--min-context", "lots"],
        ["--min-context", "1.5"],
        ["--max-prompt-price", "-1"],
        ["--max-prompt-price", "cheap"],
        ["--sort", "popularity"],
        ["--limit", "-2"],
        ["--offline", "--refresh"],
    ],
)
def test_bad_arguments_are_usage_errors(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        run(["models", "search", *argv])
    assert exc.value.code == 2
    assert "usage:" in capsys.readouterr().err


# --------------------------------------------------------------------------------- show


def test_show_a_model(server: MockServer, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["models", "show", "anthropic/claude-opus-4", "--base-url", server.base_url]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0] == "anthropic/claude-opus-4"
    facts = {
        line.split(None, 1)[0]: line.split(None, 1)[1]
        for line in lines[1:]
        if line.startswith("  ") and "  " in line.strip()
    }
    assert facts["name"] == "Anthropic: Claude Opus 4"
    assert facts["author"] == "anthropic"
    assert facts["created"] == "2025-05-22"
    assert facts["context"] == "200,000 tokens"
    assert facts["tokenizer"] == "Claude"
    assert facts["moderated"] == "yes"
    assert facts["capabilities"] == "tools, reasoning, caching"
    assert "include_reasoning" in facts["parameters"]
    assert re.search(r"^  max output\s+32,000 tokens$", out, re.M)
    assert re.search(r"^  modality\s+text\+image->text$", out, re.M)
    assert re.search(r"^  input\s+image, text$", out, re.M)
    assert "pricing (USD)" in out
    assert re.search(r"^  prompt\s+15  per million tokens$", out, re.M)
    assert re.search(r"^  completion\s+75  per million tokens$", out, re.M)
    assert re.search(r"^  input_cache_write\s+18\.75  per million tokens$", out, re.M)
    assert re.search(r"^  image\s+0\.024  per image$", out, re.M)
    assert re.search(r"^  request\s+0  per request$", out, re.M)
    assert re.search(r"^  web_search\s+0  per search$", out, re.M)
    assert "description\n  Claude Opus 4 is benchmarked" in out
    assert all(len(line) <= 120 for line in lines)


def test_show_a_router(server: MockServer, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["models", "show", "openrouter/auto", "--base-url", server.base_url]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^  router\s+yes: picks a model per request; prices vary$", out, re.M)
    assert re.search(r"^  prompt\s+varies$", out, re.M) and re.search(r"^  completion\s+varies$", out, re.M)
    assert "-1" not in out.split("pricing (USD)")[1].split("description")[0]


def test_show_a_variant(server: MockServer, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["models", "show", "openai/gpt-4o:nitro", "--base-url", server.base_url]) == 0
    out = capsys.readouterr().out
    assert out.startswith("openai/gpt-4o:nitro\n") and re.search(r"^  variant\s+nitro$", out, re.M)
    assert run(["models", "show", "deepseek/deepseek-r1:free", "--base-url", server.base_url]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^  variant\s+free$", out, re.M) and re.search(r"^  prompt\s+0  per million tokens$", out, re.M)


def test_show_an_unknown_model_suggests(server: MockServer, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["models", "show", "anthropic/claude-opus4", "--base-url", server.base_url]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(
        "fastrouter: unknown model 'anthropic/claude-opus4'; did you mean 'anthropic/claude-opus-4'"
    )


def test_show_newer_schema_fields(capsys: pytest.CaptureFixture[str]) -> None:
    with MockServer(catalog=json.loads(NEWER_SCHEMA.read_bytes())) as server:
        assert run(["models", "show", "anthropic/claude-sonnet-4", "--base-url", server.base_url]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^  canonical slug\s+anthropic/claude-4-sonnet-20250522$", out, re.M)
    assert re.search(r"^  context\s+1,000,000 tokens$", out, re.M)
    assert re.search(r"^  input_cache_write_1h\s+6  per million tokens$", out, re.M)
    assert re.search(r"^  web_search\s+0\.01  per search$", out, re.M)


# ---------------------------------------------------------------------------- endpoints


def test_endpoints_table(server: MockServer, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["models", "endpoints", "anthropic/claude-opus-4", "--base-url", server.base_url]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0] == "anthropic/claude-opus-4  (Anthropic: Claude Opus 4)"
    assert re.match(r"PROVIDER\s+TAG\s+CONTEXT\s+MAX OUT\s+\$/M IN\s+\$/M OUT\s+QUANT\s+UPTIME 30M\s+STATUS$", lines[1])
    assert re.match(r"Anthropic\s+anthropic\s+200K\s+32K\s+15\s+75\s+-\s+99\.5%\s+ok$", lines[3])
    assert server.requests[-1].path == "/models/anthropic/claude-opus-4/endpoints"


def test_endpoints_of_an_unknown_model(server: MockServer, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["models", "endpoints", "nope/nope", "--base-url", server.base_url]) == 1
    err = capsys.readouterr().err
    assert err.startswith("fastrouter: could not get the endpoints of 'nope/nope': HTTP 404 from http://")
    assert err.endswith("/models/nope/nope/endpoints: Model nope/nope not found\n")


# ------------------------------------------------------------------ cache, env, sources


def test_the_catalog_is_cached_on_disk(server: MockServer, _isolated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["models", "search", "claude", "--base-url", server.base_url]) == 0
    assert run(["models", "show", "anthropic/claude-opus-4", "--base-url", server.base_url]) == 0
    assert models_requests(server) == 1
    assert CatalogCache(_isolated).read(server.base_url) is not None
    assert run(["models", "search", "claude", "--refresh", "--base-url", server.base_url]) == 0
    assert models_requests(server) == 2


def test_offline(server: MockServer, capsys: pytest.CaptureFixture[str]) -> None:
    base_url = server.base_url
    assert run(["models", "search", "--offline", "--base-url", base_url]) == 1
    assert "offline" in capsys.readouterr().err and models_requests(server) == 0
    assert run(["models", "search", "--limit", "1", "--base-url", base_url]) == 0
    server.stop()
    capsys.readouterr()
    assert run(["models", "search", "--limit", "1", "--offline", "--base-url", base_url]) == 0
    captured = capsys.readouterr()
    assert len(listed_ids(captured.out)) == 1 and captured.err == ""


def test_offline_with_an_expired_copy_says_how_old(_isolated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with MockServer() as server:
        base_url = server.base_url
        assert run(["models", "search", "--limit", "1", "--base-url", base_url]) == 0
    cache = CatalogCache(_isolated)
    stored = cache.read(base_url)
    assert stored is not None
    cache.write(base_url, CacheEntry(stored.body, time.time() - 3 * 3600, None, base_url))
    capsys.readouterr()
    assert run(["models", "show", "openai/gpt-4o", "--offline", "--base-url", base_url]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("openai/gpt-4o\n")
    assert captured.err == "note: offline; the cached catalog is 3h old\n"


def test_an_unreachable_server_falls_back_to_the_cache(
    _isolated: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    with MockServer() as server:
        base_url = server.base_url
        assert run(["models", "search", "--limit", "1", "--base-url", base_url]) == 0
    cache = CatalogCache(_isolated)
    stored = cache.read(base_url)
    assert stored is not None
    cache.write(base_url, CacheEntry(stored.body, time.time() - 2 * 86400, None, base_url))
    capsys.readouterr()
    with caplog.at_level(logging.WARNING, logger="fastrouter"):
        assert run(["models", "search", "claude", "--limit", "2", "--base-url", base_url]) == 0
    out = capsys.readouterr().out
    assert len(listed_ids(out)) == 2 and "catalog fetched 2d ago" in out
    assert "could not refresh the model catalog" in caplog.text and "2d ago" in caplog.text


def test_no_server_and_no_cache(capsys: pytest.CaptureFixture[str]) -> None:
    with MockServer() as server:
        base_url = server.base_url
    assert run(["models", "search", "--base-url", base_url]) == 1
    assert capsys.readouterr().err.startswith("fastrouter: could not get the model catalog:")


def test_environment(server: MockServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("OPENROUTER_BASE_URL", server.base_url + "/")
    monkeypatch.setenv("OPENROUTER_API_KEY", "sk-or-v1-cli-test")
    assert run(["models", "search", "--limit", "1"]) == 0
    (request,) = server.requests
    assert request.path == "/models?output_modalities=all"
    assert request.headers["authorization"] == "Bearer <redacted>"
    assert request.headers["user-agent"].startswith("fastrouter/")


def test_a_custom_catalog_source(capsys: pytest.CaptureFixture[str]) -> None:
    seen: list[str | None] = []

    def source(args: argparse.Namespace) -> Catalog:
        seen.append(args.base_url)
        return Catalog.from_payload(
            [{"id": "x/model", "name": "X", "pricing": {"prompt": "0.000002", "completion": "0"}}]
        )

    assert run(["models", "search", "--base-url", "http://unused"], catalog_source=source) == 0
    out = capsys.readouterr().out
    assert listed_ids(out) == ["x/model"] and seen == ["http://unused"]
    assert re.search(r"x/model\s+-\s+2\s+0\s+-", out)


def test_standalone_main(server: MockServer, capsys: pytest.CaptureFixture[str]) -> None:
    assert catalog_cli.main(["models", "show", "openai/gpt-4o-mini", "--base-url", server.base_url]) == 0
    assert capsys.readouterr().out.startswith("openai/gpt-4o-mini\n")


def test_search_suggests_a_near_miss_and_ranks_names_first(
    server: MockServer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["models", "search", "--supports", "tolls", "--base-url", server.base_url]) == 2
    assert "did you mean 'tools'?" in capsys.readouterr().err
    assert run(["models", "search", "claude", "--base-url", server.base_url]) == 0
    ids = listed_ids(capsys.readouterr().out)
    assert "claude" in ids[0]  # name matches first, description-only matches after
