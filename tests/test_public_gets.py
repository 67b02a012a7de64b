"""Public GETs (the catalog and a model's endpoints) go through the native client without an
API key; everything else still needs one."""

from __future__ import annotations

import pytest
from fastrouter import AuthenticationError, Client
from fastrouter.testing import MockServer


@pytest.fixture(autouse=True)
def _no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENROUTER_API_KEY", raising=False)


def test_models_and_endpoints_need_no_key() -> None:
    with MockServer() as server, Client(base_url=server.base_url, catalog_cache=None) as client:
        catalog = client.models.list()
        endpoints = client.models.endpoints("anthropic/claude-opus-4")
        assert len(catalog) > 0 and endpoints.id == "anthropic/claude-opus-4"
        sent = [r for r in server.requests if r.path.startswith("/models")]
        assert len(sent) == 2
        assert all("authorization" not in r.headers for r in sent)
        assert all(r.headers["user-agent"].startswith("fastrouter/") for r in sent)


def test_private_gets_still_need_a_key() -> None:
    with MockServer() as server, Client(base_url=server.base_url, catalog_cache=None) as client:
        with pytest.raises(AuthenticationError):
            client.credits.get()
        assert server.requests == []
