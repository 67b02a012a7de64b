"""Cascades: answer with a cheap model first and escalate only when the answer is not good
enough: :class:`Cascade` (the tiers), :mod:`.checks` (built-in quality checks),
:mod:`.scoring` (how they combine: read its rules), :mod:`.runner` (the walk, sync, async
and streaming), :mod:`.eval` (``fastrouter cascade eval``).

>>> cascade = fastrouter.Cascade(["meta-llama/llama-3.1-8b-instruct", "openai/gpt-4o-mini"])
>>> resp = client.chat.completions.create(model=cascade, messages=[...])
>>> resp.cascade.model_used, resp.cascade.savings_pct
"""

from .checks import CheckResult
from .result import CascadeResult
from .scoring import TierScore
from .streams import CascadeAsyncStream, CascadeStream
from .tiers import Cascade

__all__ = ["Cascade", "CascadeAsyncStream", "CascadeResult", "CascadeStream", "CheckResult", "TierScore"]
