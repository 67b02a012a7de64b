"""Circuit breakers per model: :class:`Cooldown` configures them, ``client.health()``
reports them as :class:`ModelHealth`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._fastrouter import NativeHealth

__all__ = ["Cooldown", "ModelHealth", "DEFAULT_COOLDOWN"]


@dataclass(frozen=True)
class Cooldown:
    """After ``failures`` consecutive failed attempts (or a spent free-model daily quota,
    until its reset) a model is *cooling down*: chains skip it for ``seconds``. Then one
    request probes it (half-open); success closes the breaker, failure reopens it.
    Request errors (400, 401, 402) never count. If every model of a chain is cooling, the
    chain tries them anyway. Pass ``cooldown=None`` to a client to disable breakers."""

    failures: int = 3
    seconds: float = 30.0

    def __post_init__(self) -> None:
        if isinstance(self.failures, bool) or not isinstance(self.failures, int) or self.failures < 1:
            raise ValueError(f"Cooldown.failures must be a positive int, got {self.failures!r}")
        if isinstance(self.seconds, bool) or not isinstance(self.seconds, (int, float)) or not self.seconds > 0:
            raise ValueError(f"Cooldown.seconds must be a positive number, got {self.seconds!r}")


DEFAULT_COOLDOWN = Cooldown()


@dataclass(frozen=True)
class ModelHealth:
    """A model's breaker: ``state`` is ``"closed"``, ``"open"`` (cooling down until
    ``cooled_until``, a Unix timestamp) or ``"half_open"`` (a probe is running);
    ``failures`` counts consecutive failed attempts; ``reason`` is the last failure that
    opened the breaker."""

    model: str
    state: str
    failures: int
    cooled_until: float | None
    reason: str | None

    @classmethod
    def _from_native(cls, raw: NativeHealth) -> ModelHealth:
        return cls(
            model=raw.model, state=raw.state, failures=raw.failures, cooled_until=raw.cooled_until, reason=raw.reason
        )
