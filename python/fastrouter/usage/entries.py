"""Ledger entries: turning an answer, a stream or a failure into one :class:`UsageEntry`."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Dict, Optional, Sequence, Tuple, Union

from .cost import reliability_cost
from .ledger import UsageEntry

if TYPE_CHECKING:
    from ..attempts import Attempt
    from ..types import ChatCompletion

__all__ = ["requested_name", "entry_for_completion", "entry_for_failure"]

_ZERO = Decimal(0)


def requested_name(model: Union[str, Sequence[str]]) -> str:
    """What the caller asked for: a model id, or a chain as ``a,b,c``."""
    return model if isinstance(model, str) else ",".join(model)


def entry_for_completion(
    completion: ChatCompletion,
    *,
    requested: str,
    tags: Tuple[str, ...],
    started: float,
    status: str,
    streamed: bool,
    cost: Optional[Decimal],
    cost_source: Optional[str],
    model: Optional[str] = None,
) -> UsageEntry:
    """The entry for an answer (a whole completion, or what a stream received) that cost
    ``cost`` (found at ``cost_source``; ``"unknown"`` is kept to mark an unpriced answer
    of another backend). ``model`` replaces the response's model (a ``backend::model``
    entry, so the ledger records the backend)."""
    data = completion._data
    usage: Dict[str, Any] = data.get("usage") or {}
    prompt_details: Dict[str, Any] = usage.get("prompt_tokens_details") or {}
    completion_details: Dict[str, Any] = usage.get("completion_tokens_details") or {}
    # A lone attempt is the answer's: nothing else to add up, nothing to materialise.
    tries = len(completion._attempts or ())
    extra = reliability_cost(completion.attempts, answered=True) if tries > 1 else _ZERO
    return UsageEntry._fast(
        started,
        data.get("id"),
        requested,
        model or data.get("model"),
        data.get("provider"),
        int(usage.get("prompt_tokens") or 0),
        int(usage.get("completion_tokens") or 0),
        int(prompt_details.get("cached_tokens") or 0),
        int(completion_details.get("reasoning_tokens") or 0),
        cost,
        cost_source if cost is not None or cost_source == "unknown" else None,
        # The last attempt is the one this entry's cost covers, even for a broken stream.
        extra,
        bool(usage.get("is_byok")),
        time.time() - started,
        max(tries, 1),
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
        reliability_cost=reliability_cost(attempts, answered=False),
        latency_s=time.time() - started,
        attempts=len(attempts),
        tags=tags,
        status="error",
        streamed=streamed,
    )
