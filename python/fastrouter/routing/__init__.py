"""Routing configuration: aliases, routes resolved against the catalog, budgets.

A :class:`Routing` names model chains so code can say ``model="smart"`` instead of a
list of ids. Build it in code, from a dict (:meth:`Routing.from_dict`) or from a TOML
file (:meth:`Routing.from_toml`)::

    default_route = "smart"         # create() without model= uses it
    strict = false                  # true: ids the catalog lacks are errors, not warnings

    [backends.groq]                 # another OpenAI-compatible endpoint: "groq::model"
    base_url = "https://api.groq.com/openai/v1"
    api_key_env = "GROQ_API_KEY"
    prices = { "llama-3.1-8b-instant" = { prompt = 0.05, completion = 0.08 } }  # per million

    [aliases]                       # fixed chains, tried in order
    fast = ["groq::llama-3.1-8b-instant", "openai/gpt-4o-mini"]

    [aliases.pool]                  # a table: spread traffic, defaults, a cost cap
    models = ["openai/gpt-4o-mini", "anthropic/claude-3.5-haiku"]
    mode = "spread"
    weights = { "openai/gpt-4o-mini" = 3 }
    params = { temperature = 0.2 }

    [routes.smart]                  # requirements instead of ids
    supports = ["tools"]            # supported_parameters every model must have
    input_modalities = ["image"]    # inputs every model must accept
    min_context = 100000            # tokens
    max_prompt_price_per_m = 5.0          # USD per MILLION prompt tokens
    max_completion_price_per_m = 15.0     # USD per MILLION completion tokens
    mode = "quality"                # cheapest | balanced | quality | fastest | ordered | spread
    max_models = 3                  # chain length
    max_retries = 1                 # per model, overrides the client's
    hedge_after = 2.0               # seconds without a first token before the next model starts
    deadline_s = 30                 # the whole call, failover included
    max_cost_per_request = 0.50     # USD; candidates whose worst case exceeds it are skipped
    params = { temperature = 0.3, max_tokens = 800 }   # request defaults; the call's values win
    providers = { sort = "throughput" }   # OpenRouter `provider` preferences, sent as is

    [routes.vision]
    models = ["google/gemini-2.5-flash", "openai/gpt-4o"]   # a pool to pick from
    mode = "fastest"

    [[budgets]]
    usd = 10
    per = "day"

**Aliases** resolve to their list of ids, checked against the catalog: an id it does not
list passes through (``ResolvedRoute.unknown``; the client refreshes the catalog once and
warns) unless ``strict``. ``NAME::model`` entries go to the backend ``NAME``
(:mod:`fastrouter.routing.backends`). Per request, :mod:`fastrouter.routing.plan` merges
the request defaults, orders a ``spread`` chain and applies ``max_cost_per_request``.

**Routes** resolve against the catalog (:meth:`Routing.resolve`) into a
:class:`ResolvedRoute`: the chain of model ids plus the route's provider preferences and
failover settings; :meth:`Routing.explain` says why each model is in the chain.

- The *pool*: the route's ``models`` when given (any listed id, routers included), else the
  whole catalog minus routers and pseudo-models (``openrouter/*``, ``~`` aliases), models
  with unknown or dynamic (``"-1"``) prices, and free models unless ``prefer_free``.
- *Requirements* filter the pool: ``supports``, ``input_modalities``, ``output_modalities``
  (default: the model outputs text), ``min_context``, ``max_prompt_price_per_m``,
  ``max_completion_price_per_m``, ``authors``, ``exclude``. If they leave nothing,
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
from .backends import Backend
from .config import AliasOptions, Route, Routing
from .resolution import ResolvedRoute
from .validation import BUDGET_PERIODS, MODES

__all__ = [
    "AliasOptions",
    "Backend",
    "BUDGET_PERIODS",
    "MODES",
    "ResolvedRoute",
    "Route",
    "Routing",
    "RoutingError",
]
