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


def _reliability_cost(attempts: Sequence[Attempt], answered: bool) -> Decimal:
    """Costs of the attempts that did not produce the answer (all of them on failure)."""
    extra = attempts[:-1] if answered else attempts
    return sum((a.cost for a in extra if a.cost is not None), _ZERO)


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
    attempts = completion.attempts
    if cost is None:
        cost = completion.cost
        cost_source = "usage" if cost is not None else None
    return UsageEntry(
        time=started,
        generation_id=data.get("id"),
        requested=requested,
        model=data.get("model"),
        provider=data.get("provider"),
        prompt_tokens=int(usage.get("prompt_tokens") or 0),
        completion_tokens=int(usage.get("completion_tokens") or 0),
        cached_tokens=int(prompt_details.get("cached_tokens") or 0),
        reasoning_tokens=int(completion_details.get("reasoning_tokens") or 0),
        cost=cost,
        cost_source=cost_source,
        # The last attempt is the one this entry's cost covers, even for a broken stream.
        reliability_cost=_reliability_cost(attempts, answered=True),
        byok=bool(usage.get("is_byok")),
        latency_s=time.time() - started,
        attempts=max(len(attempts), 1),
        tags=tags,
        status=status,
        streamed=streamed,
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
