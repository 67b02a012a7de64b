"""``with`` / ``async with`` closing an object on the way out, for the clients and streams."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ["AsyncClosing", "Closing"]


class Closing:
    """``with x:`` gives ``x`` and calls ``x.close()`` when the block is left, however."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class AsyncClosing:
    """``async with x:`` gives ``x`` and awaits ``x.close()`` when the block is left, however."""

    def close(self) -> Awaitable[None]:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
