"""Ledger entries: turning an answer, a stream or a failure into one :class:`UsageEntry`."""

from __future__ import annotations

import time
from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from .._fastrouter import json_get
from .cost import reliability_cost
from .ledger import UsageEntry

if TYPE_CHECKING:
    from ..attempts import Attempt
    from ..cascade.tiers import Cascade
    from ..types import ChatCompletion

__all__ = [
    "CascadeMark",
    "requested_name",
    "entry_for_completion",
    "completion_values",
    "answer_values",
    "entry_for_failure",
]

_ZERO = Decimal(0)


class CascadeMark:
    """How a cascade labels one tier's entry: ``role`` (draft, kept, judge), the 0-based
    ``tier``, and the ``baseline`` (what the last tier alone would cost; with
    ``own_baseline`` the entry's own total is the baseline: the last tier answered)."""

    __slots__ = ("role", "tier", "baseline", "own_baseline")

    def __init__(
        self, role: str, tier: int | None, baseline: Decimal | None = None, own_baseline: bool = False
    ) -> None:
        self.role = role
        self.tier = tier
        self.baseline = baseline
        self.own_baseline = own_baseline

    def fields(self, total: Decimal | None) -> tuple[str, int | None, Decimal | None]:
        """``(role, cascade_tier, baseline_cost)`` for an entry that cost ``total``."""
        if self.role != "kept":
            return (self.role, self.tier, None)
        return (self.role, self.tier, total if self.own_baseline else self.baseline)


def requested_name(model: str | Sequence[str] | Cascade) -> str:
    """What the caller asked for: a model id, a chain as ``a,b,c``, a cascade's name (named
    before the argument is validated, so anything else is shown as it is)."""
    if isinstance(model, str):
        return model
    if isinstance(model, (list, tuple)):
        try:
            return ",".join(model)  # a chain of ids, as usual
        except TypeError:
            return ",".join(map(str, model))
    from ..cascade.tiers import Cascade  # loaded only when something else than a chain is named

    return model.name if isinstance(model, Cascade) else repr(model)


def entry_for_completion(
    completion: ChatCompletion,
    *,
    requested: str,
    tags: tuple[str, ...],
    started: float,
    status: str,
    streamed: bool,
    cost: Decimal | None,
    cost_source: str | None,
    cascade: CascadeMark | None = None,
    model: str | None = None,
) -> UsageEntry:
    """The entry for an answer (a whole completion, or what a stream received) that cost
    ``cost`` (found at ``cost_source``; ``"unknown"`` is kept to mark an unpriced answer
    of another backend). ``cascade`` labels a cascade's tier; ``model`` replaces the
    response's model (a ``backend::model`` entry, so the ledger records the backend)."""
    # A lone attempt is the answer's: nothing else to add up, nothing to materialise.
    tries = len(completion._attempts or ())
    extra = reliability_cost(completion.attempts, answered=True) if tries > 1 else _ZERO
    marks = cascade.fields(None if cost is None else cost + extra) if cascade is not None else _NO_MARKS
    return UsageEntry._fast(
        *completion_values(
            completion,
            requested,
            tags,
            started,
            status,
            streamed,
            cost,
            cost_source if cost is not None or cost_source == "unknown" else None,
            extra,
            max(tries, 1),
            marks,
            model,
        )
    )


_NO_MARKS = (None, None, None)


def _object(value: Any) -> dict[str, Any]:
    """A JSON object of the response; empty when absent or of another type."""
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str | None:
    """A name or id of the response; None when absent or not a string (an answer whose
    ``id`` is a list still gets its one ledger entry, and the ledger stays usable)."""
    return value if isinstance(value, str) else None


def _count(value: Any) -> int:
    """A token count as the response gives it; 0 when absent or not a number (an odd
    body still gets its one ledger entry)."""
    try:
        return int(value or 0)
    except (TypeError, ValueError, OverflowError):
        return 0


def completion_values(
    completion: ChatCompletion,
    requested: str,
    tags: tuple[str, ...],
    started: float,
    status: str,
    streamed: bool,
    cost: Decimal | None,
    cost_source: str | None,
    extra: Decimal = _ZERO,
    attempts: int = 1,
    marks: tuple[str | None, int | None, Decimal | None] = _NO_MARKS,
    model: str | None = None,
) -> tuple[Any, ...]:
    """The values of an answer's :class:`UsageEntry` fields, in declaration order (what
    :meth:`UsageEntry._fast` takes, and what the in-memory ledger records without building
    the entry): the answer's id, model, provider and tokens as the response carries them."""
    usage = _object(json_get(completion, "usage"))
    return (
        started,
        _text(json_get(completion, "id")),
        requested,
        model or _text(json_get(completion, "model")),
        _text(json_get(completion, "provider")),
        _count(usage.get("prompt_tokens")),
        _count(usage.get("completion_tokens")),
        _count(_object(usage.get("prompt_tokens_details")).get("cached_tokens")),
        _count(_object(usage.get("completion_tokens_details")).get("reasoning_tokens")),
        cost,
        cost_source,
        # The last attempt is the one this entry's cost covers, even for a broken stream.
        extra,
        bool(usage.get("is_byok")),
        time.time() - started,
        attempts,
        tags,
        status,
        streamed,
        False,
        *marks,
        None,  # saved_cost: a response-cache hit's (RequestBooks.served_from_cache)
    )


def answer_values(
    facts: tuple[Any, ...],
    requested: str,
    tags: tuple[str, ...],
    started: float,
    status: str,
    streamed: bool,
    ended: float | None = None,
) -> tuple[Any, ...]:
    """:func:`completion_values` for the usual answer (one attempt, priced by the core, no
    cascade, cache or other backend), from the facts the core read from its body
    (``NativeChat.entry_facts``: id, model, provider, the four token counts, is_byok,
    the cost's text and fixed-point units); ``ended``: when it was recorded (now)."""
    return (
        started,
        facts[0],
        requested,
        facts[1],
        facts[2],
        facts[3],
        facts[4],
        facts[5],
        facts[6],
        Decimal(facts[8]),
        "usage",
        _ZERO,
        facts[7],
        (time.time() if ended is None else ended) - started,
        1,
        tags,
        status,
        streamed,
        False,
        None,
        None,
        None,
        None,
    )


def entry_for_failure(
    attempts: Sequence[Attempt],
    *,
    requested: str,
    tags: tuple[str, ...],
    started: float,
    streamed: bool = False,
    cascade: CascadeMark | None = None,
    status: str = "error",
) -> UsageEntry:
    """The entry for a request that got no answer (``status`` error or cancelled; what its
    attempts cost still counts)."""
    last = attempts[-1] if attempts else None
    role, tier, _ = cascade.fields(None) if cascade is not None else (None, None, None)
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
        status=status,
        streamed=streamed,
        role=role,
        cascade_tier=tier,
    )
