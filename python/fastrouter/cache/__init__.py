"""The response cache: :class:`Cache` (what a user configures), keys, what is stored, and
requests in flight shared by identical callers."""

from .config import Cache
from .entry import CachedAnswer, cacheable, decode, encode
from .flights import Flights
from .key import digest, request_key

__all__ = ["Cache", "CachedAnswer", "Flights", "cacheable", "decode", "digest", "encode", "request_key"]
