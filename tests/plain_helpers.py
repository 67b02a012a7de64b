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


def record_by_value(ledger: Any, answer: tuple[Any, ...]) -> None:
    """Record an answer by value as the books do (``UsageLedger._post``): the usual answer
    as ``(ring_facts, requested, started, ended)``, or ``(values, cost_units)``; the inbox
    is then taken in when full (the books make room just before posting instead)."""
    ledger._post(answer)
    ledger._make_room()
