"""Client-side rate limits: :class:`Limit` (what a user configures) and the
:class:`~.limiter.Limiter` that admits requests under them on a store."""

from .limit import Limit
from .limiter import Hold, Lane, Limiter

__all__ = ["Limit", "Limiter", "Lane", "Hold"]
