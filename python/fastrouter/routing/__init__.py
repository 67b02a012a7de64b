"""Routing configuration: aliases, routes resolved against the catalog, budgets.

A :class:`Routing` names model chains so code can say ``model="smart"`` instead of a
list of ids. Build it in code, from a dict (:meth:`Routing.from_dict`) or from a TOML
file (:meth:`Routing.from_toml`)::

    default_route = "smart"

    [aliases]                       # fixed chains, tried in order
    fast = ["openai/gpt-4o-mini", "anthropic/claude-3.5-haiku"]

    [routes.smart]                  # requirements instead of ids
    supports = ["tools"]            # supported_parameters every model must have
    input_modalities = ["image"]    # inputs every model must accept
    min_context = 100000            # tokens
    max_prompt_price = 5.0          # USD per MILLION prompt tokens
    max_completion_price = 15.0     # USD per MILLION completion tokens
    mode = "quality"                # cheapest | balanced | quality | fastest | ordered
    max_models = 3                  # chain length
    max_retries = 1                 # per model, overrides the client's
    hedge_after = 2.0               # seconds without a first token before the next model starts
    deadline_s = 30                 # the whole call, failover included
    max_cost_per_request = 0.50     # USD
    providers = { sort = "throughput" }   # OpenRouter `provider` preferences, sent as is

    [routes.vision]
    models = ["google/gemini-2.5-flash", "openai/gpt-4o"]   # a pool to pick from
    mode = "fastest"

    [[budgets]]
    usd = 10
    per = "day"

**Aliases** resolve to their list of ids, checked against the catalog.

**Routes** resolve against the catalog (:meth:`Routing.resolve`) into a
:class:`ResolvedRoute`: the chain of model ids plus the route's provider preferences and
failover settings; :meth:`Routing.explain` says why each model is in the chain.

- The *pool*: the route's ``models`` when given (any listed id, routers included), else the
  whole catalog minus routers and pseudo-models (``openrouter/*``, ``~`` aliases), models
  with unknown or dynamic (``"-1"``) prices, and free models unless ``prefer_free``.
- *Requirements* filter the pool: ``supports``, ``input_modalities``, ``output_modalities``
  (default: the model outputs text), ``min_context``, ``max_prompt_price``,
  ``max_completion_price``, ``authors``, ``exclude``. If they leave nothing,
  :class:`RoutingError` names the requirement that emptied the set and how to relax it.
- The *mode* orders what is left, then the chain keeps ``max_models`` (default 3; every
  listed model when ``models`` is given):

  - ``cheapest``: ascending prompt + completion price per token; then larger context.
  - ``quality``: descending price, then larger context. OpenRouter publishes no quality
    score, so price (what the market pays) and context are the signal.
  - ``fastest``: ascending p50 time to first token *measured by this client* (the
    ``latencies`` argument); models not measured yet follow, cheapest first.
  - ``balanced`` (default without ``models``): neither the cheapest nor the dearest, then
    speed. Models fall in tiers by how far their price is from the median price of the
    paid candidates (tier 1: within 2x, tier 2: 2x to 4x, ...); inside a tier, measured
    models come first, fastest first, then the rest closest to the median first.
  - ``ordered`` (default with ``models``): the listed order.

  ``prefer_free`` puts free models (``:free`` variants, zero price) first, each group in
  mode order.

Prices in the configuration are **USD per million tokens** (as on openrouter.ai and in
OpenRouter's ``provider.max_price``); the catalog's are per token. Money is
:class:`decimal.Decimal`; :meth:`Routing.to_dict` writes it as decimal strings.

Validation errors are :class:`RoutingError` with the file, the key and a suggestion::

    fastrouter.toml: routes.smart.mode: unknown mode 'fastst' (did you mean 'fastest'?)

Values that look like typos of known feature, modality or provider-preference names are
errors; values resembling nothing known pass through, since OpenRouter keeps adding them.
"""

from ..errors import RoutingError
from .config import Route, Routing
from .resolution import ResolvedRoute
from .validation import BUDGET_PERIODS, MODES

__all__ = [
    "BUDGET_PERIODS",
    "MODES",
    "ResolvedRoute",
    "Route",
    "Routing",
    "RoutingError",
]
