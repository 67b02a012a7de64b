"""Shared fixtures: a real embedded mock server on loopback and clients pointed at it."""

from __future__ import annotations

import gc
import os
from collections.abc import AsyncIterator, Iterator
from typing import Any

import fastrouter
import pytest
from fastrouter.testing import MockServer
from hypothesis import settings

MOCK_KEY = "sk-or-v1-test-secret-key-0123456789"

# CI explores the same inputs on every run (pytest-randomly reorders the tests but does not
# seed hypothesis): a property test that fails there fails again, with its blob printed,
# instead of passing on the rerun as a flake would.
settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


@pytest.fixture(autouse=True)
def _private_catalog_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test's catalog disk cache in its own directory: the cache is keyed by base URL,
    and a mock's URL (a loopback port) recurs across runs, so a shared cache would price
    one test's answers from another's catalog."""
    monkeypatch.setenv("FASTROUTER_CACHE_DIR", str(tmp_path_factory.mktemp("catalog-cache")))


@pytest.fixture
def no_automatic_gc() -> Iterator[None]:
    """No automatic garbage collection (and no Python ``gc.callbacks``) while a test sends
    itself SIGINT. A collection in the main thread runs Python code (weakref callbacks of
    earlier tests' garbage, hypothesis's gc callback); a Ctrl-C whose handler runs inside
    it is lost ("Exception ignored in ..."), and the call it was meant for finishes
    instead. Explicit ``gc.collect()`` still works."""
    saved = gc.callbacks[:]
    enabled = gc.isenabled()
    gc.callbacks.clear()
    gc.disable()
    try:
        yield
    finally:
        gc.callbacks[:] = saved
        if enabled:
            gc.enable()


@pytest.fixture
def older_objects_frozen() -> Iterator[None]:
    """``gc.freeze()`` what earlier tests left, for a test whose forked child runs
    ``gc.collect()``: the child then walks only this test's objects. Walking the whole heap
    (hundreds of MB late in the suite) writes to every copy-on-write page of the child:
    over the 20 s a child is given, on a loaded machine. Also for a test whose own
    ``gc.collect()`` calls need not walk the rest of the suite's heap."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


@pytest.fixture
def server() -> Iterator[MockServer]:
    """A fresh mock OpenRouter server (bundled 321-model catalog)."""
    with MockServer() as mock:
        yield mock


@pytest.fixture
def client(server: MockServer) -> Iterator[fastrouter.Client]:
    """A sync client for ``server``."""
    with fastrouter.Client(base_url=server.base_url, api_key=MOCK_KEY) as sync_client:
        yield sync_client


@pytest.fixture
async def aclient(server: MockServer) -> AsyncIterator[fastrouter.AsyncClient]:
    """An async client for ``server``."""
    async with fastrouter.AsyncClient(base_url=server.base_url, api_key=MOCK_KEY) as async_client:
        yield async_client


class ClientCaller:
    """Drives either the sync or the async client through one awaitable interface, so a
    test written once runs against both (see the ``caller`` fixture)."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self._clients: list[fastrouter.Client | fastrouter.AsyncClient] = []

    def client(self, target: MockServer | str, **kwargs: Any) -> fastrouter.Client | fastrouter.AsyncClient:
        """A new client for ``target`` (a server or a base URL); ``api_key="test"`` and
        ``max_retries=0`` unless given. Closed when the test ends."""
        kwargs.setdefault("api_key", "test")
        kwargs.setdefault("max_retries", 0)
        base_url = target if isinstance(target, str) else target.base_url
        cls = fastrouter.Client if self.mode == "sync" else fastrouter.AsyncClient
        made = cls(base_url=base_url, **kwargs)
        self._clients.append(made)
        return made

    async def create(self, client: fastrouter.Client | fastrouter.AsyncClient, **kwargs: Any) -> Any:
        """``client.chat.completions.create(**kwargs)``, awaited when async; ``messages``
        defaults to one short user message."""
        kwargs.setdefault("messages", [{"role": "user", "content": "hi"}])
        result = client.chat.completions.create(**kwargs)
        if self.mode == "async":
            result = await result
        return result

    async def close(self) -> None:
        for made in self._clients:
            if isinstance(made, fastrouter.AsyncClient):
                await made.close()
            else:
                made.close()


@pytest.fixture(params=["sync", "async"])
async def caller(request: pytest.FixtureRequest) -> AsyncIterator[ClientCaller]:
    """Runs the test once with ``fastrouter.Client`` and once with ``fastrouter.AsyncClient``."""
    driver = ClientCaller(request.param)
    yield driver
    await driver.close()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[Any]:
    """A real redis-server on a free loopback port for the whole session (see
    ``tests/redis_helpers.py``)."""
    from redis_helpers import redis_server_fixture

    yield from redis_server_fixture()


@pytest.fixture
def redis_url(redis_server: Any) -> str:
    """The URL of an emptied Redis database."""
    redis_server.flush()
    return str(redis_server.url)
