"""Chain events: what the core reports while it walks a model chain.

Pass ``on_event=callable`` to a client to receive each :class:`ChainEvent` as it happens;
with the ``fastrouter`` logger at DEBUG (when the client is created) every event is also
logged. The hook runs on one of fastrouter's I/O threads: keep it quick and thread-safe
(metrics, logging); exceptions in it are reported as unraisable and never break a request.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Optional

if TYPE_CHECKING:
    from ._fastrouter import NativeChainEvent

__all__ = ["ChainEvent", "EventHook"]

logger = logging.getLogger("fastrouter")


@dataclass(frozen=True)
class ChainEvent:
    """One step of a chain.

    ``type`` is ``"attempt"`` (a try finished: ``status``, ``error_kind``, ``latency_s``),
    ``"retry"`` (the same model is retried after ``wait_s``), ``"sidestep"`` (retrying
    without the provider OpenRouter blamed), ``"failover"`` (leaving ``model`` after
    ``error_kind``), ``"cooldown"`` (``model``'s circuit breaker opened), ``"skip"`` (a
    cooling model was passed over) or ``"hedge"`` (``model`` was slow: the next model was
    started in parallel).
    """

    type: str
    model: str
    retry: int
    status: Optional[int]
    error_kind: Optional[str]
    message: Optional[str]
    wait_s: Optional[float]
    latency_s: Optional[float]

    @classmethod
    def _from_native(cls, raw: NativeChainEvent) -> ChainEvent:
        return cls(
            type=raw.kind,
            model=raw.model,
            retry=raw.retry,
            status=raw.status,
            error_kind=raw.error_kind,
            message=raw.message,
            wait_s=raw.wait_s,
            latency_s=raw.latency_s,
        )

    def __str__(self) -> str:
        parts = [f"{self.type} {self.model} (retry {self.retry})"]
        if self.status is not None:
            parts.append(f"status {self.status}")
        if self.error_kind:
            parts.append(self.error_kind)
        if self.wait_s is not None:
            parts.append(f"wait {self.wait_s:.3f}s")
        if self.latency_s is not None:
            parts.append(f"{self.latency_s * 1000:.1f} ms")
        if self.message:
            parts.append(self.message)
        return ", ".join(parts)


EventHook = Callable[[ChainEvent], object]


def native_hook(on_event: Optional[EventHook]) -> Optional[Callable[[NativeChainEvent], None]]:
    """The callable the core calls with each native event record, or ``None`` when nobody
    listens (then events cost nothing)."""
    log = logger.isEnabledFor(logging.DEBUG)
    if on_event is None and not log:
        return None
    if on_event is not None and not callable(on_event):
        raise TypeError(f"on_event must be callable, got {on_event!r}")

    def dispatch(raw: NativeChainEvent) -> None:
        event = ChainEvent._from_native(raw)
        if log:
            logger.debug("%s", event)
        if on_event is not None:
            on_event(event)

    return dispatch
