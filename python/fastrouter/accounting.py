"""Turning responses, streams and failures into ledger entries."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any, Dict, Optional, Sequence, Tuple, Union

from .attempts import Attempt
from .ledger import UsageEntry
from .types import ChatCompletion

__all__ = ["requested_name", "entry_for_completion", "entry_for_failure"]

_ZERO = Decimal(0)


def requested_name(model: Union[str, Sequence[str]]) -> str:
    """What the caller asked for: a model id, or a chain as ``a,b,c``."""
    return model if isinstance(model, str) else ",".join(model)


def _attempt_cost(attempt: Any) -> Optional[Decimal]:
    """An attempt's cost, from an :class:`Attempt` or the core's native record (the ledger
    reads native records so recording never materialises ``resp.attempts``)."""
    if isinstance(attempt, Attempt):
        return attempt.cost
    text = attempt.cost
    return None if text is None else Decimal(text)


def _reliability_cost(attempts: Sequence[Any], answered: bool) -> Decimal:
    """Costs of the attempts that did not produce the answer (all of them on failure)."""
    total = _ZERO
    for attempt in attempts[:-1] if answered else attempts:
        cost = _attempt_cost(attempt)
        if cost is not None:
            total += cost
    return total


def answer_cost(completion: ChatCompletion) -> Optional[Decimal]:
    """What the answer cost: the core's decision, read by ``completion.cost``."""
    return completion.cost


def entry_for_completion(
    completion: ChatCompletion,
    *,
    requested: str,
    tags: Tuple[str, ...],
    started: float,
    status: str = "ok",
    streamed: bool = False,
    cost: Optional[Decimal] = None,
    cost_source: Optional[str] = None,
) -> UsageEntry:
    """The entry for an answer (a whole completion, or what a stream received)."""
    data = completion._data
    usage: Dict[str, Any] = data.get("usage") or {}
    prompt_details: Dict[str, Any] = usage.get("prompt_tokens_details") or {}
    completion_details: Dict[str, Any] = usage.get("completion_tokens_details") or {}
    attempts = completion._attempts or ()
    if cost is None:
        cost = answer_cost(completion)
        cost_source = "usage" if cost is not None else None
    return UsageEntry._fast(
        started,
        data.get("id"),
        requested,
        data.get("model"),
        data.get("provider"),
        int(usage.get("prompt_tokens") or 0),
        int(usage.get("completion_tokens") or 0),
        int(prompt_details.get("cached_tokens") or 0),
        int(completion_details.get("reasoning_tokens") or 0),
        cost,
        cost_source,
        # The last attempt is the one this entry's cost covers, even for a broken stream.
        _reliability_cost(attempts, answered=True),
        bool(usage.get("is_byok")),
        time.time() - started,
        max(len(attempts), 1),
        tags,
        status,
        streamed,
        False,
    )


def entry_for_failure(
    attempts: Sequence[Attempt], *, requested: str, tags: Tuple[str, ...], started: float, streamed: bool = False
) -> UsageEntry:
    """The entry for a request that got no answer (what its attempts cost still counts)."""
    last = attempts[-1] if attempts else None
    return UsageEntry(
        time=started,
        generation_id=None,
        requested=requested,
        model=last.model if last else None,
        provider=last.provider if last else None,
        reliability_cost=_reliability_cost(attempts, answered=False),
        latency_s=time.time() - started,
        attempts=len(attempts),
        tags=tags,
        status="error",
        streamed=streamed,
    )
