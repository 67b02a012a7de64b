"""Reconciliation: filling a ledger entry's missing cost in from ``GET /generation`` (a
stream that was cancelled or ended without usage still cost something, and OpenRouter's
generation record says what).

The record is eventually consistent (a 404 for a few hundred ms to seconds right after the
request), so lookups retry 404s with backoff before giving up.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any, Awaitable, Callable, Tuple

from ..errors import FastrouterError, NotFoundError
from .cost import generation_cost
from .ledger import UsageLedger

__all__ = ["RETRY_DELAYS", "reconcile_async", "reconcile_in_thread"]

# Waits before each retry of a 404 (about 8 s in all).
RETRY_DELAYS: Tuple[float, ...] = (0.25, 0.5, 1.0, 2.0, 4.0)


def _fill(ledger: UsageLedger, generation_id: str, payload: Any) -> bool:
    """Put the generation record's cost (when it has one) into the ledger entry."""
    cost = generation_cost(payload)
    return cost is not None and ledger.reconcile(generation_id, cost)


async def reconcile_async(ledger: UsageLedger, generation_id: str, fetch: Callable[[str], Awaitable[Any]]) -> bool:
    """Look the generation up (retrying 404s) and fill the ledger entry's cost."""
    for delay in (0.0, *RETRY_DELAYS):
        await asyncio.sleep(delay)
        try:
            payload = await fetch(generation_id)
        except NotFoundError:
            continue
        except FastrouterError:
            return False
        return _fill(ledger, generation_id, payload)
    return False


def reconcile_in_thread(ledger: UsageLedger, generation_id: str, fetch: Callable[[str], Any]) -> threading.Thread:
    """The same for sync clients, on a daemon thread (the caller never waits for it)."""

    def work() -> None:
        for delay in (0.0, *RETRY_DELAYS):
            time.sleep(delay)
            try:
                payload = fetch(generation_id)
            except NotFoundError:
                continue
            except FastrouterError:
                return
            _fill(ledger, generation_id, payload)
            return

    thread = threading.Thread(target=work, name="fastrouter-reconcile", daemon=True)
    thread.start()
    return thread
