"""`import fastrouter` and building a client load only the request path: the catalog,
routing, the CLI, sqlite, asyncio and logging come in when a program uses them."""

from __future__ import annotations

import subprocess
import sys

import fastrouter
import pytest

DEFERRED = (
    "fastrouter.catalog",
    "fastrouter.routing",
    "fastrouter.cli",
    "fastrouter.usage.reconcile",
    "sqlite3",
    "csv",
    "asyncio",
    "logging",
    "difflib",
)


def _loaded_after(code: str) -> list[str]:
    probe = f"{code}\nimport sys\nprint(','.join(m for m in {DEFERRED!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return [m for m in out.stdout.strip().split(",") if m]


@pytest.mark.parametrize("cls", ["Client", "AsyncClient"])
def test_import_and_a_client_load_only_the_request_path(cls: str) -> None:
    code = f"import fastrouter\nfastrouter.{cls}(api_key='k', base_url='http://127.0.0.1:9/api/v1')"
    assert _loaded_after(code) == []


def test_public_names_load_on_first_use() -> None:
    assert {"fastrouter.catalog", "fastrouter.routing"} <= set(_loaded_after("import fastrouter\nfastrouter.Routing"))
    loaded = _loaded_after("from fastrouter import Catalog")
    assert "fastrouter.catalog" in loaded and "fastrouter.routing" not in loaded


def test_every_public_name_resolves_and_dir_lists_it() -> None:
    for name in fastrouter.__all__:
        assert getattr(fastrouter, name) is not None
    assert set(fastrouter.__all__) <= set(dir(fastrouter))
    with pytest.raises(AttributeError, match="no attribute 'Clinet'"):
        fastrouter.Clinet  # type: ignore[attr-defined]  # noqa: B018
