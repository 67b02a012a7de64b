"""Updates of shared state made as tasks of the loop (``fastrouter._background``): one the
loop cancels, or asked for as the loop ends, is made blocking; one loop end's catch-ups
block it for a bounded time; close() waits."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import pytest
from fastrouter import _background


class _Owner:
    """Stands for a store: what close() waits for."""


def _left(owner: object) -> int:
    """The owner's updates still running."""
    return sum(1 for made in _background._running.values() if made[0] is owner)


def _never_ends_update(made: list[str]) -> Any:
    async def update() -> None:
        await asyncio.sleep(3600)
        made.append("task")

    return update


def test_an_update_the_loop_cancels_as_it_ends_is_made_blocking() -> None:
    made: list[str] = []
    owner = _Owner()

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for _ in range(3):
            _background.in_background(loop, owner, _never_ends_update(made), lambda: made.append("again"))

    asyncio.run(main())  # cancels the three tasks as it ends
    assert made == ["again"] * 3
    assert _left(owner) == 0


def test_an_update_asked_for_as_the_loop_ends_is_made() -> None:
    # main() returns while a call still runs: asyncio.run() cancels it and waits only for
    # what it cancelled, so an update that call's cleanup asks for must not be a new task.
    made: list[str] = []
    owner = _Owner()

    async def a_call() -> None:
        try:
            await asyncio.sleep(3600)
        finally:  # as a request's books settle when it is cancelled
            loop = asyncio.get_running_loop()
            _background.in_background(loop, owner, _never_ends_update(made), lambda: made.append("made"))

    async def main() -> None:
        asyncio.get_running_loop().create_task(a_call())
        await asyncio.sleep(0.01)

    asyncio.run(main())
    assert made == ["made"]
    assert _left(owner) == 0


def test_one_loop_ends_catch_ups_hold_it_for_a_bounded_time(monkeypatch: pytest.MonkeyPatch) -> None:
    # A store that no longer answers holds the loop's end for the bound, not the bound
    # per update; the rest are made on a thread.
    monkeypatch.setattr(_background, "_CATCH_UP_S", 0.2)
    made: list[str] = []
    owner = _Owner()

    def slow_again() -> None:
        time.sleep(0.15)
        made.append("thread" if asyncio._get_running_loop() is None else "loop")

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for _ in range(6):
            _background.in_background(loop, owner, _never_ends_update([]), slow_again)

    started = time.monotonic()
    asyncio.run(main())
    assert time.monotonic() - started < 0.8
    deadline = time.monotonic() + 10
    while len(made) < 6 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert 1 < made.count("loop") < 6 and len(made) == 6
    assert _left(owner) == 0


def test_loop_ends_apart_are_each_given_the_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    # A worker running one asyncio.run() per job with one client: each job's end catches
    # up on its own loop, however long the worker has been running.
    monkeypatch.setattr(_background, "_CATCH_UP_S", 0.05)
    monkeypatch.setattr(_background, "_GAP_S", 0.05)
    made: list[str] = []
    owner = _Owner()

    async def job() -> None:
        loop = asyncio.get_running_loop()
        _background.in_background(loop, owner, _never_ends_update([]), lambda: made.append("loop"))

    for _ in range(4):
        asyncio.run(job())
        time.sleep(0.1)
    assert made == ["loop"] * 4


def test_a_catch_up_that_fails_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    owner = _Owner()

    def failing() -> None:
        raise OSError("the store is gone")

    async def main() -> None:
        _background.in_background(asyncio.get_running_loop(), owner, _never_ends_update([]), failing)

    with caplog.at_level(logging.WARNING, logger="fastrouter"):
        asyncio.run(main())
    assert "the store is gone" in caplog.text
    assert _left(owner) == 0


async def test_finish_background_waits_then_cancels_what_is_late() -> None:
    made: list[str] = []
    owner, other = _Owner(), _Owner()
    loop = asyncio.get_running_loop()

    async def quick() -> None:
        await asyncio.sleep(0.01)
        made.append("quick")

    _background.in_background(loop, owner, quick, lambda: made.append("quick again"))
    _background.in_background(loop, owner, _never_ends_update(made), lambda: made.append("late, made blocking"))
    _background.in_background(loop, other, _never_ends_update(made), lambda: made.append("other's, made blocking"))
    await _background.finish_background(owner, timeout=0.2)
    assert sorted(made) == ["late, made blocking", "quick"]  # another owner's still runs
    assert (_left(owner), _left(other)) == (0, 1)
    await _background.finish_background(other, timeout=0.01)
    assert sorted(made) == ["late, made blocking", "other's, made blocking", "quick"]
    assert _left(other) == 0
