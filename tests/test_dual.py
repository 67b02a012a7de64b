"""Code written once for both clients (fastrouter._dual): ``blocking`` runs an
``asynchronous=False`` coroutine in the calling thread like plain blocking code, and
refuses one that really suspends."""

from __future__ import annotations

import asyncio

import pytest
from fastrouter._dual import blocking

EVENTS: list[str] = []


async def _inner(asynchronous: bool) -> int:
    if asynchronous:
        await asyncio.sleep(0)
    return 41


async def _outer(asynchronous: bool, fail: bool = False) -> int:
    try:
        value = await _inner(asynchronous)
        if fail:
            raise ValueError("bad answer")
        return value + 1
    finally:
        EVENTS.append("finally")


def test_blocking_returns_what_the_coroutine_returns_without_an_event_loop() -> None:
    EVENTS.clear()
    assert blocking(_outer, False) == 42
    assert EVENTS == ["finally"]


def test_blocking_raises_what_the_coroutine_raises_after_its_finally() -> None:
    EVENTS.clear()
    with pytest.raises(ValueError, match="bad answer"):
        blocking(_outer, False, fail=True)
    assert EVENTS == ["finally"]


def test_blocking_refuses_a_coroutine_that_suspends_and_closes_it() -> None:
    EVENTS.clear()
    with pytest.raises(RuntimeError, match="suspends"):
        blocking(_outer, True)
    assert EVENTS == ["finally"]  # closed: its cleanup ran, nothing left pending


async def test_the_same_coroutine_awaited_on_a_loop() -> None:
    EVENTS.clear()
    assert await _outer(True) == 42
    assert EVENTS == ["finally"]
