"""The usual call's arguments and books as the clients' ``create()`` builds them, for tests
that drive the native call themselves."""

from __future__ import annotations

from typing import Any


def plain_chat(client: Any, stream: bool, params: dict[str, Any]) -> tuple[tuple[Any, ...], Any] | None:
    """The native ``chat`` arguments and the books of a usual call (``_usual_request``);
    ``None`` for a call that takes the general path."""
    usual = client._usual_request(stream, params)
    if usual is None:
        return None
    body, chain, requested, retries = usual
    return (body, chain, [], retries, None, None, None), client._usual_books(requested)
