"""Catalog loads are single-flight: concurrent callers share one ``/models`` GET, its
catalog or its error; a failure is not remembered, and a cancelled leader hands over."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import fastrouter
from fastrouter.catalog import CatalogLoader, FetchResult
from fastrouter.testing import MockServer, Reply

MINI = "openai/gpt-4o-mini"
USER = [{"role": "user", "content": "hello"}]
CONCURRENT = 50


def _budgeted(cls: type[Any], server: MockServer, tmp_path: Path) -> Any:
    """A client of ``cls`` whose requests need the catalog (a budget), with an empty cache;
    the mock scripted to answer ``CONCURRENT`` of them."""
    server.script(MINI, *[Reply("ok", cost=0.00001) for _ in range(CONCURRENT)])
    return cls(
        base_url=server.base_url,
        api_key="k",
        max_retries=0,
        budgets=[fastrouter.Budget(usd=10, per="total")],
        catalog_cache=fastrouter.CatalogCache(tmp_path),
    )


def _catalog_gets(server: MockServer) -> int:
    return len([r for r in server.requests if r.method == "GET" and r.path.startswith("/models?")])


async def test_concurrent_first_async_requests_under_a_budget_fetch_the_catalog_once(
    server: MockServer, tmp_path: Path
) -> None:
    async with _budgeted(fastrouter.AsyncClient, server, tmp_path) as client:
        answers = await asyncio.gather(
            *[client.chat.completions.create(model=MINI, messages=USER, max_tokens=5) for _ in range(CONCURRENT)]
        )
    assert [a.choices[0].message.content for a in answers] == ["ok"] * CONCURRENT
    assert _catalog_gets(server) == 1
    assert len(server.chat_requests()) == CONCURRENT


def test_concurrent_first_sync_requests_under_a_budget_fetch_the_catalog_once(
    server: MockServer, tmp_path: Path
) -> None:
    start = threading.Barrier(CONCURRENT)
    with _budgeted(fastrouter.Client, server, tmp_path) as client:

        def one(_: int) -> str | None:
            start.wait()  # all 50 threads ask at once
            return client.chat.completions.create(model=MINI, messages=USER, max_tokens=5).choices[0].message.content

        with ThreadPoolExecutor(CONCURRENT) as pool:
            answers = list(pool.map(one, range(CONCURRENT)))
    assert answers == ["ok"] * CONCURRENT
    assert _catalog_gets(server) == 1
    assert len(server.chat_requests()) == CONCURRENT


BODY = b'{"data": [{"id": "a/b"}]}'


class _GatedFetch:
    """A catalog fetch that waits until ``open`` is set, counting its calls; it fails as a
    network error would while ``failing`` is set."""

    def __init__(self) -> None:
        self.calls = 0
        self.failing = False
        self.entered = threading.Event()
        self.open = threading.Event()

    def _answer(self) -> FetchResult:
        if self.failing:
            raise OSError("connection refused")
        return BODY, None

    def sync(self, validator: str | None) -> FetchResult:
        self.calls += 1
        self.entered.set()
        self.open.wait(10)
        return self._answer()

    async def async_(self, validator: str | None) -> FetchResult:
        self.calls += 1
        self.entered.set()
        while not self.open.is_set():
            await asyncio.sleep(0.001)
        return self._answer()


def _until_waiting_on(flight: Any, count: int) -> None:
    """Returns once ``count`` threads wait on ``flight`` (its event's waiters, a CPython
    detail: threads in a loaded pool may start late, so a fixed sleep is not enough)."""
    deadline = time.monotonic() + 10
    while len(flight.done._cond._waiters) < count:
        assert time.monotonic() < deadline, f"{len(flight.done._cond._waiters)} of {count} waiters joined"
        time.sleep(0.005)


def test_sync_waiters_share_a_failure_and_the_next_caller_retries() -> None:
    fetch = _GatedFetch()
    fetch.failing = True
    loader = CatalogLoader(None, "http://fake/api/v1")
    with ThreadPoolExecutor(8) as pool:
        leader = pool.submit(loader.load_sync, fetch.sync)
        assert fetch.entered.wait(10)
        waiters = [pool.submit(loader.load_sync, fetch.sync) for _ in range(7)]
        _until_waiting_on(loader._flight, 7)  # a waiter late to the flight would fetch again
        fetch.open.set()
        errors = [outcome.exception(10) for outcome in [leader, *waiters]]
    assert fetch.calls == 1
    assert all(isinstance(error, OSError) for error in errors), errors
    fetch.failing = False
    assert loader.load_sync(fetch.sync).ids == ("a/b",)  # the failure was not kept
    assert fetch.calls == 2


async def test_async_waiters_share_a_failure_and_the_next_caller_retries() -> None:
    fetch = _GatedFetch()
    fetch.failing = True
    loader = CatalogLoader(None, "http://fake/api/v1")
    loads = [asyncio.ensure_future(loader.load_async(fetch.async_)) for _ in range(8)]
    await asyncio.sleep(0.01)
    fetch.open.set()
    errors = await asyncio.gather(*loads, return_exceptions=True)
    assert fetch.calls == 1
    assert all(isinstance(error, OSError) for error in errors), errors
    fetch.failing = False
    assert (await loader.load_async(fetch.async_)).ids == ("a/b",)
    assert fetch.calls == 2


async def test_a_cancelled_async_leader_hands_over_to_its_waiters() -> None:
    fetch = _GatedFetch()
    loader = CatalogLoader(None, "http://fake/api/v1")
    leader = asyncio.ensure_future(loader.load_async(fetch.async_))
    await asyncio.sleep(0.01)
    waiters = [asyncio.ensure_future(loader.load_async(fetch.async_)) for _ in range(3)]
    await asyncio.sleep(0.01)
    leader.cancel()
    await asyncio.sleep(0.01)
    fetch.open.set()
    catalogs = await asyncio.gather(*waiters)
    assert leader.cancelled()
    assert [c.ids for c in catalogs] == [("a/b",)] * 3
    assert fetch.calls == 2  # the cancelled leader's, then one for all three waiters


async def test_a_cancelled_async_waiter_leaves_the_load_to_the_others() -> None:
    fetch = _GatedFetch()
    loader = CatalogLoader(None, "http://fake/api/v1")
    loads = [asyncio.ensure_future(loader.load_async(fetch.async_)) for _ in range(3)]
    await asyncio.sleep(0.01)
    loads[1].cancel()
    fetch.open.set()
    results = await asyncio.gather(*loads, return_exceptions=True)
    assert isinstance(results[1], asyncio.CancelledError)
    assert [r.ids for r in (results[0], results[2])] == [("a/b",)] * 2  # type: ignore[union-attr]
    assert fetch.calls == 1
