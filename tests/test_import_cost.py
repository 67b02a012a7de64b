"""`import fastrouter` loads only the package; building a client with no routing, limits,
cache, store or budgets loads only the client (S5, issue 11): each feature, the catalog,
the ledger and what a request needs load when first used, never the optional extras."""

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
# Not loaded by building a plain client either: each loads when a feature or the first
# request needs it (the modules client.py, usage/accounts.py and dropin/completions.py
# import where they are used).
LAZY_ON_CLIENT = (
    "fastrouter.bound",
    "fastrouter.cache",
    "fastrouter.cascade",
    "fastrouter.catalog",
    "fastrouter.errors",
    "fastrouter.gate",
    "fastrouter.langchain",
    "fastrouter.limits",
    "fastrouter.otel",
    "fastrouter.params",
    "fastrouter.routing",
    "fastrouter.store",
    "fastrouter.streaming",
    "fastrouter.types",
    "fastrouter.dropin.response",
    "fastrouter.dropin.stream_events",
    "fastrouter.dropin.structured",
    "fastrouter.usage.books",
    "fastrouter.usage.budget",
    "fastrouter.usage.ledger",
    "fastrouter.usage.reconcile",
    "asyncio",
    "concurrent.futures",
    "decimal",
    "json",
    "logging",
    "urllib.parse",
)
_PLAIN_CLIENT = "import fastrouter\nfastrouter.{cls}(api_key='k', base_url='http://127.0.0.1:9/api/v1')"


def _loaded_after(code: str, names: tuple[str, ...] = DEFERRED) -> list[str]:
    probe = f"{code}\nimport sys\nprint(','.join(m for m in {names!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return [m for m in out.stdout.strip().split(",") if m]


@pytest.mark.parametrize("cls", ["Client", "AsyncClient"])
def test_a_plain_client_loads_no_feature_nor_the_request_path(cls: str) -> None:
    assert _loaded_after(_PLAIN_CLIENT.format(cls=cls), DEFERRED + LAZY_ON_CLIENT) == []


def test_the_default_openrouter_client_defers_reconciliation_too() -> None:
    assert _loaded_after("import fastrouter\nfastrouter.Client(api_key='k')", DEFERRED + LAZY_ON_CLIENT) == []


@pytest.mark.parametrize(
    ("argument", "loads"),
    [
        ("routing=fastrouter.Routing()", "fastrouter.routing"),
        ("limits={'*': fastrouter.Limit(rpm=60)}", "fastrouter.limits"),
        ("cache=True", "fastrouter.cache"),
        ("store='memory'", "fastrouter.store"),
        ("budgets=[fastrouter.Budget(usd=1)]", "fastrouter.usage.budget"),
        ("ledger=fastrouter.UsageLedger()", "fastrouter.usage.ledger"),
    ],
)
def test_a_feature_loads_its_modules_when_configured(argument: str, loads: str) -> None:
    code = f"import fastrouter\nfastrouter.Client(api_key='k', base_url='http://127.0.0.1:9/api/v1', {argument})"
    assert loads in _loaded_after(code, LAZY_ON_CLIENT)


def test_the_first_request_loads_what_it_needs() -> None:
    code = (
        "import fastrouter\nfrom fastrouter.testing import MockServer\n"
        "with MockServer() as server:\n"
        "    client = fastrouter.Client(api_key='k', base_url=server.base_url)\n"
        "    client.chat.completions.create(model='openai/gpt-4o-mini', messages=[{'role': 'user', 'content': 'hi'}])\n"
        "    assert len(client.usage) == 1\n"
    )
    loaded = _loaded_after(code, LAZY_ON_CLIENT)
    assert {"fastrouter.types", "fastrouter.usage.ledger", "fastrouter.usage.books"} <= set(loaded)
    assert not {"fastrouter.routing", "fastrouter.catalog", "fastrouter.cascade", "fastrouter.gate"} & set(loaded)


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


def test_the_ledger_built_on_first_use_is_shared_by_copies_and_threads() -> None:
    from concurrent.futures import ThreadPoolExecutor

    client = fastrouter.Client(api_key="k", base_url="http://127.0.0.1:9/api/v1")
    clone = client.with_options(timeout=5)
    with ThreadPoolExecutor(8) as pool:
        ledgers = set(map(id, pool.map(lambda c: c.usage, [client, clone] * 8)))
    assert ledgers == {id(client.usage)}
    assert clone._budgets is client._budgets and not client._budgets
    client.close()
