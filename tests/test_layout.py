"""How the package is put together: what `import fastrouter` loads, and the clients' one constructor."""

from __future__ import annotations

import inspect
import subprocess
import sys

import fastrouter
import pytest

OPTIONAL = ("redis", "langchain_core", "opentelemetry", "pydantic", "rich", "sqlite3")


def test_import_pulls_in_no_optional_dependency() -> None:
    code = f"import sys, fastrouter; print(','.join(m for m in {OPTIONAL!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_a_durable_ledger_imports_sqlite_when_it_needs_it(tmp_path: object) -> None:
    code = (
        "import sys, fastrouter; assert 'sqlite3' not in sys.modules;"
        f" fastrouter.UsageLedger({str(tmp_path) + '/usage.db'!r}).close(); print('sqlite3' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"


@pytest.mark.parametrize("cls", [fastrouter.Client, fastrouter.AsyncClient])
def test_both_clients_show_the_one_full_constructor_signature(cls: type) -> None:
    params = inspect.signature(cls).parameters
    assert list(params)[:4] == ["api_key", "base_url", "timeout", "max_retries"]
    assert {"cooldown", "hedge", "ledger", "routing", "budgets", "catalog_cache"} <= set(params)
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in params.values())
    assert inspect.signature(fastrouter.Client) == inspect.signature(fastrouter.AsyncClient)


def test_each_client_gets_its_own_kind_of_resources() -> None:
    sync = fastrouter.Client(api_key="k", base_url="http://127.0.0.1:9")
    async_ = fastrouter.AsyncClient(api_key="k", base_url="http://127.0.0.1:9")
    try:
        assert type(sync.chat.completions).__name__ == "Completions"
        assert type(async_.chat.completions).__name__ == "AsyncCompletions"
        assert inspect.iscoroutinefunction(async_.models.list)
        assert not inspect.iscoroutinefunction(sync.models.list)
    finally:
        sync.close()
        async_._inner.close()
