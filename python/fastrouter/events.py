"""Chain events: what the core reports while it walks a model chain.

Pass ``on_event=callable`` to a client to receive each :class:`ChainEvent` as it happens;
with the ``fastrouter`` logger at DEBUG (when the client is created) every event is also
logged. The hook runs on one of fastrouter's I/O threads: keep it quick and thread-safe
(metrics, logging); exceptions in it are reported as unraisable and never break a request.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import logging

    from ._fastrouter import NativeChainEvent

__all__ = ["ChainEvent", "EventHook"]


@dataclass(frozen=True)
class ChainEvent:
    """One step of a chain.

    ``type`` is ``"attempt"`` (a try finished: ``status``, ``error_kind``, ``latency_s``),
    ``"retry"`` (the same model is retried after ``wait_s``), ``"sidestep"`` (retrying
    without the provider OpenRouter blamed), ``"failover"`` (leaving ``model`` after
    ``error_kind``), ``"cooldown"`` (``model``'s circuit breaker opened), ``"skip"`` (a
    cooling model was passed over) or ``"hedge"`` (``model`` was slow: the next model was
    started in parallel). A :class:`~fastrouter.Cascade` adds ``"escalate"``: tier ``retry``
    answered by ``model`` was not kept (``message`` says why); it is reported on the
    calling thread.
    """

    type: str
    model: str
    retry: int
    status: int | None
    error_kind: str | None
    message: str | None
    wait_s: float | None
    latency_s: float | None

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


def _debug_logger() -> logging.Logger | None:
    """The ``fastrouter`` logger when it logs DEBUG. Without ``logging`` imported nobody can
    have turned it on, so `import fastrouter` need not import it (it costs milliseconds)."""
    logging_module = sys.modules.get("logging")
    if logging_module is None:
        return None
    logger: logging.Logger = logging_module.getLogger("fastrouter")
    return logger if logger.isEnabledFor(logging_module.DEBUG) else None


def native_hook(on_event: EventHook | None) -> Callable[[NativeChainEvent], None] | None:
    """The callable the core calls with each native event record, or ``None`` when nobody
    listens (then events cost nothing)."""
    logger = _debug_logger()
    if on_event is None and logger is None:
        return None
    if on_event is not None and not callable(on_event):
        raise TypeError(f"on_event must be callable, got {on_event!r}")

    def dispatch(raw: NativeChainEvent) -> None:
        event = ChainEvent._from_native(raw)
        if logger is not None:
            logger.debug("%s", event)
        if on_event is not None:
            on_event(event)

    return dispatch
