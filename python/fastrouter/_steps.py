"""Running a feature's logic, written once, for both clients: a generator of steps, driven
blocking by :func:`drive` or awaited by :func:`drive_async`.

A *step* is a blocking callable, its awaitable twin and their arguments. The generator
yields a step and receives what it returned, or has what it raised thrown in at the
``yield`` (cancellation and Ctrl-C included, so its ``try``/``finally`` blocks hold for both
clients). Steps compose with ``yield from``; a generator never touches the event loop.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Coroutine, Generator
from typing import Any, TypeVar

from ._bridge import run

__all__ = ["Step", "Steps", "chat_step", "drive", "drive_async"]

_T = TypeVar("_T")
Step = tuple[Callable[..., Any], Callable[..., Awaitable[Any]], tuple[Any, ...]]
Steps = Generator[Step, Any, _T]


async def _run(steps: Steps[_T], blocking: bool) -> _T:
    """The one driver loop. ``blocking``: each step is performed in place, so this
    coroutine never suspends and :func:`drive` finishes it with a single ``send``."""
    value: Any = None
    error: BaseException | None = None
    while True:
        try:
            step = steps.send(value) if error is None else steps.throw(error)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        error = None
        try:
            value = step[0](*step[2]) if blocking else await step[1](*step[2])
        except BaseException as exc:  # thrown into the generator, which decides
            value, error = None, exc


def drive(steps: Steps[_T]) -> _T:
    """Run ``steps`` to its end, performing each step blocking."""
    runner = _run(steps, True)
    try:
        runner.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    raise AssertionError("a blocking drive never suspends")  # pragma: no cover


def drive_async(steps: Steps[_T]) -> Coroutine[Any, Any, _T]:
    """Run ``steps`` to its end, awaiting each step (await what this returns)."""
    return _run(steps, False)


def chat_step(inner: Any, stream: bool, args: tuple[Any, ...]) -> Step:
    """The core's chat request (``stream``: opening a stream) with the native ``args``."""
    if stream:
        return inner.chat_stream_blocking, functools.partial(run, inner.chat_stream), args
    return inner.chat_blocking, functools.partial(run, inner.chat), args
