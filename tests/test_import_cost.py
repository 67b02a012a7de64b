"""`import fastrouter` loads only the package; building a client loads the request path
(today that includes routing, the catalog and cascades, which the request path consults),
while the CLI, sqlite and csv come in only when a program uses them."""

from __future__ import annotations

import subprocess
import sys

import fastrouter
import pytest

DEFERRED = (
    "fastrouter.cli",
    "sqlite3",
    "csv",
)
# Not loaded by `import fastrouter` alone (only by building a client or naming them).
LAZY_ON_IMPORT = ("fastrouter.catalog", "fastrouter.routing", "fastrouter.client", "asyncio")


def _loaded_after(code: str, names: tuple[str, ...] = DEFERRED) -> list[str]:
    probe = f"{code}\nimport sys\nprint(','.join(m for m in {names!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return [m for m in out.stdout.strip().split(",") if m]


@pytest.mark.parametrize("cls", ["Client", "AsyncClient"])
def test_import_and_a_client_load_only_the_request_path(cls: str) -> None:
    code = f"import fastrouter\nfastrouter.{cls}(api_key='k', base_url='http://127.0.0.1:9/api/v1')"
    assert _loaded_after(code) == []


def test_import_alone_loads_no_client_machinery() -> None:
    assert _loaded_after("import fastrouter", DEFERRED + LAZY_ON_IMPORT) == []


def test_public_names_load_on_first_use() -> None:
    names = DEFERRED + LAZY_ON_IMPORT
    assert {"fastrouter.catalog", "fastrouter.routing"} <= set(
        _loaded_after("import fastrouter\nfastrouter.Routing", names)
    )
    loaded = _loaded_after("from fastrouter import Catalog", names)
    assert "fastrouter.catalog" in loaded and "fastrouter.routing" not in loaded


def test_every_public_name_resolves_and_dir_lists_it() -> None:
    for name in fastrouter.__all__:
        assert getattr(fastrouter, name) is not None
    assert set(fastrouter.__all__) <= set(dir(fastrouter))
    with pytest.raises(AttributeError, match="no attribute 'Clinet'"):
        fastrouter.Clinet  # type: ignore[attr-defined]  # noqa: B018
