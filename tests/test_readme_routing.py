"""The README's TOML examples load, explain and run: every alias and route of each one sends
a request through the mock, with backends pointed at a second local OpenAI-style server."""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fastrouter
import pytest
from fastrouter.testing import MockServer, Reply

README = Path(__file__).resolve().parent.parent / "README.md"


def _toml_blocks() -> list[str]:
    return re.findall(r"```toml\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)


def test_the_readme_has_toml_examples() -> None:
    assert len(_toml_blocks()) >= 2


@pytest.fixture
def other() -> Iterator[MockServer]:
    with MockServer(flavor="openai") as mock:
        yield mock


@pytest.mark.parametrize("index", range(len(_toml_blocks())))
def test_a_readme_toml_example_loads_and_runs(
    index: int, server: MockServer, other: MockServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = _toml_blocks()[index]
    routing = fastrouter.Routing.from_toml_str(text, source=f"README.md example {index + 1}")
    data: dict[str, Any] = routing.to_dict()
    # the backends' real URLs become the local OpenAI-style server; their keys are set
    for name, backend in data.get("backends", {}).items():
        backend["base_url"] = other.base_url
        if "api_key_env" in backend:
            monkeypatch.setenv(backend["api_key_env"], f"test-key-{name}")
    routing = fastrouter.Routing.from_dict(data)
    # the local server serves whatever model a backend entry names (as vLLM serves its own)
    for entries in [*routing.aliases.values(), *(r.models for r in routing.routes.values())]:
        for entry in entries:
            if "::" in entry:
                other.script(entry.split("::", 1)[1], *[Reply(content="local answer")] * 3)
    with fastrouter.Client(
        base_url=server.base_url, api_key="k", routing=routing, catalog_cache=fastrouter.CatalogCache(tmp_path)
    ) as client:
        catalog = client.models.list()
        for name in routing.names():
            assert routing.explain(name, catalog).strip()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", fastrouter.RoutingWarning)
                resp = client.chat.completions.create(model=name, messages=[{"role": "user", "content": "hi"}])
            assert resp.choices[0].message.content
        if routing.default_route is not None:
            resp = client.chat.completions.create(messages=[{"role": "user", "content": "hi"}])
            assert client.usage.entries[-1].requested == routing.default_route
