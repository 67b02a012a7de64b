"""Code written once for both clients: an ``async def`` that takes ``asynchronous`` and, at
each wait, awaits the asyncio call or makes the blocking one; :func:`blocking` runs it
for the sync client.

With ``asynchronous=False`` such a coroutine awaits nothing that suspends (only other
coroutines written the same way), so one ``send`` runs it to its end in the calling
thread, with no event loop: its ``try``/``finally`` blocks, exceptions and return value
behave as in plain blocking code. The asyncio client simply awaits it.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from ._bridge import awaiting

__all__ = ["blocking", "native_chat"]

_T = TypeVar("_T")


def blocking(make: Callable[..., Coroutine[Any, Any, _T]], *args: Any, **kwargs: Any) -> _T:
    """Run the coroutine ``make(*args, **kwargs)`` (its ``asynchronous=False`` form) to its
    end, in this thread. Made here, not by the caller: a Ctrl-C as this function begins
    leaves no coroutine that was never awaited."""
    coroutine = make(*args, **kwargs)
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    coroutine.close()
    raise RuntimeError("a blocking call awaited something that suspends")  # a bug: a wait not made blocking


async def native_chat(inner: Any, stream: bool, args: tuple[Any, ...], asynchronous: bool) -> Any:
    """The core's chat request (``stream``: opening a stream) with the native ``args``."""
    if stream:
        return await awaiting(inner.chat_stream, *args) if asynchronous else inner.chat_stream_blocking(*args)
    return await awaiting(inner.chat, *args) if asynchronous else inner.chat_blocking(*args)
