"""Updates of shared state made as tasks of the running event loop, so an async caller
does not wait on the network for them (a budget's settle, a limit's release, a stream's
end written to the store), and that are not lost when the loop ends first.

A task the loop cancels as it ends (``asyncio.run`` cancels what still runs), or that a
Ctrl-C stops, is made at once, blocking (a *catch-up*); so is an update asked for while
the loop is ending (the current task is being cancelled), which would never get to run.
Catch-ups made back to back (one loop's end) hold the loop for 5 s at most; the rest go
to a thread of their own. Each update must be idempotent (made twice, it changes what
it changes once): one cancelled after it reached the store may be made again."""

from __future__ import annotations

import asyncio
import atexit
import logging
import queue
import threading
import time
import weakref
from collections.abc import Callable, Coroutine
from typing import Any

__all__ = ["in_background", "finish_background"]

logger = logging.getLogger("fastrouter")

# Updates still running: their owner (what close() waits for) and their blocking form. A
# task must be referenced until it ends.
_running: dict[asyncio.Task[Any], tuple[object, Callable[[], None]]] = {}


def in_background(
    loop: asyncio.AbstractEventLoop,
    owner: object,
    make: Callable[[], Coroutine[Any, Any, Any]],
    again: Callable[[], None],
) -> None:
    """Run the coroutine ``make()`` as a task of ``loop``; ``again()`` makes the update,
    blocking, should the task be cancelled or stopped by a Ctrl-C. A caller cut short
    here (a Ctrl-C as this begins) calls ``again()`` itself: at worst the update is then
    made twice."""
    if _loop_ending(loop):
        _catch_up(owner, again)
        return
    update = make()
    try:
        task = loop.create_task(update)
    except BaseException:
        update.close()  # never scheduled: not left unawaited
        raise
    _running[task] = (owner, again)
    task.add_done_callback(_ended)


def _loop_ending(loop: asyncio.AbstractEventLoop) -> bool:
    """Whether a task made now may never run, or run on a connection being closed: the
    loop is closing its async generators, or the current task is being cancelled (as
    ``asyncio.run`` does as it ends, waiting only for the tasks it cancelled). Updates a
    closed loop left behind are caught up here (Python 3.10 cannot tell the second)."""
    if getattr(loop, "_asyncgens_shutdown_called", False):  # asyncio.run() is closing its generators
        return True
    current = asyncio.current_task(loop)
    cancelling = getattr(current, "cancelling", None)  # Python 3.11+
    if cancelling is not None and cancelling():
        return True
    _catch_up_left_behind()
    return False


def _catch_up_left_behind() -> None:
    for task, (owner, again) in _running.copy().items():
        if not task.done() and task.get_loop().is_closed():
            del _running[task]
            task._log_destroy_pending = False  # type: ignore[attr-defined]  # made here instead
            _catch_up(owner, again)


atexit.register(_catch_up_left_behind)


def _ended(task: asyncio.Task[Any]) -> None:
    made = _running.get(task)
    if made is None:  # already ended by finish_background()
        return
    error = None if task.cancelled() else task.exception()
    if task.cancelled() or not isinstance(error, (Exception, type(None))):
        _catch_up(made[0], made[1])
    elif error is not None:
        logger.warning("fastrouter: a background update of shared state failed: %s", error)
    del _running[task]  # last: an ending cut short is made again by finish_background()


# Catch-ups of one owner less than _GAP_S apart are one burst (a loop's end); a burst
# blocks its loop for _CATCH_UP_S at most, so a store that no longer answers holds the
# end for that long, not that long per update. The rest are made by a thread.
_CATCH_UP_S = 5.0
_GAP_S = 1.0
_bursts: weakref.WeakKeyDictionary[object, tuple[float, float]] = weakref.WeakKeyDictionary()


def _catch_up(owner: object, again: Callable[[], None]) -> None:
    now = time.monotonic()
    started, last = _bursts.get(owner, (now, now))
    if now - last > _GAP_S:
        started = now
    if now - started > _CATCH_UP_S:
        _hand_over(again)
    else:
        _make(again)
    _bursts[owner] = (started, time.monotonic())


def _make(again: Callable[[], None]) -> None:
    try:
        again()
    except Exception as error:  # never out of a loop's callback
        logger.warning("fastrouter: an update of shared state failed: %s", error)


_late: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
_late_maker: threading.Thread | None = None
_late_lock = threading.Lock()


def _hand_over(again: Callable[[], None]) -> None:
    """Make ``again()`` on a thread (a daemon: it never holds the process's exit)."""
    global _late_maker
    _late.put(again)
    with _late_lock:
        if _late_maker is None or not _late_maker.is_alive():  # none yet, or a forked child
            _late_maker = threading.Thread(target=_make_late, name="fastrouter-catch-up", daemon=True)
            _late_maker.start()


def _make_late() -> None:
    while True:
        _make(_late.get())


async def finish_background(owner: object, timeout: float = 5.0) -> None:
    """Wait, up to ``timeout`` seconds, for ``owner``'s updates on the running loop (a
    closing client's last settles and releases); those still running then are cancelled,
    and so made blocking."""
    loop = asyncio.get_running_loop()
    mine = [task for task, made in _running.copy().items() if made[0] is owner and task.get_loop() is loop]
    if not mine:
        return
    _, late = await asyncio.wait(mine, timeout=timeout)
    for task in late:
        task.cancel()
    if late:
        await asyncio.wait(late)
    for task in mine:
        if task.done() and task in _running:  # its ending was cut short (a Ctrl-C)
            _ended(task)
