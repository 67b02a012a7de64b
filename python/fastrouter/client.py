"""The clients: :class:`AsyncClient` and :class:`Client`.

Both wrap one native client (``self._inner``) that owns a pooled HTTP/1.1 + HTTP/2
connection pool and walks model chains in Rust. The async client returns awaitables driven
by the extension's tokio runtime; the sync client blocks with the GIL released.
"""

from __future__ import annotations

import dataclasses
import sys
import time
import warnings
from _thread import allocate_lock
from collections.abc import Callable, Mapping, Sequence
from itertools import repeat
from os import PathLike, fspath
from typing import (
    TYPE_CHECKING,
    Any,
    ClassVar,
    Generic,
    Literal,
    TypeVar,
    overload,
)

from . import _fastrouter
from ._bridge import awaiting, running_queue
from ._closing import AsyncClosing, Closing
from ._fastrouter import encode_json
from .config import (
    DEFAULT_MAX_RETRIES,
    DEFAULT_TIMEOUT,
    Hedge,
    Timeout,
    TimeoutLike,
    attribution_headers,
    resolve_api_key,
    resolve_base_url,
)
from .dropin.completions import AsyncCompletionsDropIn, CompletionsDropIn
from .dropin.options import client_options, copy_options, encode_query
from .dropin.sentinels import NOT_GIVEN, NotGiven, is_omitted, without_omitted
from .events import EventHook, native_hook
from .health import DEFAULT_COOLDOWN, Cooldown, ModelHealth
from .usage.accounts import Accounts

# S5 (import time): a client built without routing, limits, a cache, a store or budgets
# imports none of them; what a request needs (types, streams, the ledger) loads with the
# first request, each feature's modules when it is first used (tests/test_import_cost.py).
if TYPE_CHECKING:
    from decimal import Decimal

    from typing_extensions import Self, Unpack

    from ._fastrouter import NativeChat
    from .bound import AsyncBoundModel, BoundModel
    from .cache import Cache
    from .cascade.tiers import Cascade
    from .catalog import Catalog, CatalogCache, CatalogLoader, Model, ModelEndpoints
    from .gate import Gate
    from .limits import Limit
    from .otel import ClientTelemetry, Telemetry
    from .params import CreateParams, build_body
    from .routing import ResolvedRoute, Routing
    from .routing.plan import PriceTable
    from .store import Store
    from .streaming import AsyncStream, Stream
    from .types import ChatCompletion, Credits, Generation, KeyInfo
    from .usage import books as usage_books
    from .usage.books import RequestBooks, usual_answer
    from .usage.budget import Budget, BudgetBook
    from .usage.entries import requested_name
    from .usage.ledger import UsageLedger
    from .usage.reconcile import Reconciler

    # create()'s keywords besides the model and the request parameters, in the order
    # ``_prepare_chat`` and the cascade runner take them: messages, stream, extra_body,
    # extra_headers, max_retries, timeout, tags.
    _CallOptions = tuple[
        Any,
        bool,
        Mapping[str, Any] | None,
        Mapping[str, str] | None,
        int | None,
        float | Timeout | TimeoutLike | None,
        Sequence[str] | None,
    ]
    _Found = tuple[Cascade, str, Decimal | None]  # a cascade, the name it runs under, its cost cap
    ModelArg = str | Sequence[str] | Cascade  # for type checkers: the cascade loads when used

__all__ = ["AsyncClient", "Client"]
_TimeoutOverrides = Timeout | None
# What the native chat calls take: body, chain, headers, retries, timeouts, hedge delay, query.
_NativeArgs = tuple[bytes, Sequence[str], list[tuple[str, str]], int, _TimeoutOverrides, float | None, str | None]
_MODELS_PATH = "models?output_modalities=all"
# Guards building a client's catalog loader (rare: once per client).
_LOADER_LOCK = allocate_lock()


def _models_request(validator: str | None) -> tuple[str, list[tuple[str, str]]]:
    """Path and headers of a (conditional) catalog fetch."""
    from .catalog import conditional_headers

    return _MODELS_PATH, list(conditional_headers(validator).items())


def _typed(name: str) -> Callable[[dict[str, Any]], Any]:
    """A builder of the ``fastrouter.types`` record ``name``, imported when first used (S5)."""

    def build(data: dict[str, Any]) -> Any:
        from . import types

        return getattr(types, name)(data)

    return build


def _endpoints_path(model_id: str) -> str:
    from urllib.parse import quote

    return f"models/{quote(model_id, safe='/:')}/endpoints"


def _generation_path(generation_id: str) -> str:
    from urllib.parse import quote

    return f"generation?id={quote(generation_id, safe='')}"


def _json(fetched: tuple[bytes | None, object]) -> Any:
    """A fetched body, parsed (``{}`` when empty)."""
    import json

    return json.loads(fetched[0] or b"{}")


# "Not passed" (``None`` is a meaningful timeout); openai's sentinels are recognised too.
_NotGiven = NotGiven


# Chains (lists or tuples of model ids) sent before, each checked once: the chain as a
# tuple of ids and its ledger name (``a,b,c``). An app sends a few fixed chains again and
# again; with this a chain costs the caller what one model id costs (issue 11).
_known_chains: dict[tuple[str, ...], tuple[tuple[str, ...], str]] = {}
_KNOWN_CHAINS_MAX = 256


def _model_chain(model: ModelArg) -> tuple[Sequence[str], str]:
    """The chain ``model`` names (checked) and the name the ledger shows for it."""
    if type(model) is str and model:
        return [model], model  # the usual request: one model id
    if type(model) is list or type(model) is tuple:
        try:
            return _known_chains[tuple(model)]
        except (KeyError, TypeError):  # new, or holding something unhashable (checked below)
            pass
    chain = tuple(_checked_chain(model))
    if len(_known_chains) >= _KNOWN_CHAINS_MAX:
        _known_chains.clear()
    known = _known_chains[chain] = (chain, ",".join(chain))
    return known


def _checked_chain(model: ModelArg) -> list[str]:
    if isinstance(model, (list, tuple)):
        chain = list(model)
    elif isinstance(model, str):
        chain = [model]
    else:
        raise TypeError(f"model must be a model id or a list of model ids, got {type(model).__name__}")
    # Every member a non-empty str (checked without a Python-level loop: a chain is sent often).
    if not chain or not all(map(isinstance, chain, repeat(str))) or "" in chain:
        raise ValueError("model must be a non-empty model id or a non-empty list of model ids")
    return chain


def _usd(value: Decimal | float | str) -> Decimal:
    """A per-request cost cap in USD (client or call)."""
    from .routing.validation import _check_usd

    return _check_usd(value, "max_cost_per_request", "0.01")


def _header_pairs(headers: Mapping[str, str] | None) -> list[tuple[str, str]]:
    if not headers:
        return []
    pairs = []
    for name, value in headers.items():
        if not isinstance(name, str) or not isinstance(value, str):
            raise TypeError(f"extra_headers must map str to str, got {name!r}: {type(value).__name__}")
        pairs.append((name, value))
    return pairs


def _timeout_overrides(timeout: float | Timeout | TimeoutLike | None | _NotGiven, client: Timeout) -> _TimeoutOverrides:
    """Per-request ``timeout=`` (as in ``openai``, an ``httpx.Timeout`` included) over the
    client's timeouts (:meth:`Timeout.for_call`)."""
    if isinstance(timeout, _NotGiven):
        return None
    return client.for_call(timeout)


_request_path_loaded = False

# Request parameters the client reads nothing from on a plain client (no budgets, cost cap,
# limits or telemetry), so the usual call sends them as they are when given as plain
# scalars (an omitted or None value, a list, a NaN take the general path).
_SAMPLING = frozenset(
    (
        "temperature",
        "top_p",
        "top_k",
        "min_p",
        "top_a",
        "max_tokens",
        "max_completion_tokens",
        "seed",
        "presence_penalty",
        "frequency_penalty",
        "repetition_penalty",
        "stop",
        "user",
    )
)
_SCALARS = (int, float, str)


def _sampling(params: dict[str, Any]) -> dict[str, Any] | None:
    """The call's parameters besides ``model`` and ``messages`` when every one is in
    :data:`_SAMPLING` with a plain value, in the caller's order; else ``None``."""
    sampling = {}
    for name, value in params.items():
        if name == "model" or name == "messages":
            continue
        if name not in _SAMPLING or type(value) not in _SCALARS:
            return None
        sampling[name] = value
    return sampling


def _load_request_path() -> None:
    """Import what every request needs (parameters, bookkeeping, the response type), on
    the first request. Bound as globals, so later requests pay no import statement."""
    global _request_path_loaded, build_body, ChatCompletion, RequestBooks, usual_answer, requested_name
    global usage_books
    from .params import build_body
    from .types import ChatCompletion
    from .usage import books as usage_books
    from .usage.books import RequestBooks, usual_answer
    from .usage.entries import requested_name

    _request_path_loaded = True


def _completion(native: NativeChat) -> ChatCompletion:
    if not _request_path_loaded:
        _load_request_path()
    return ChatCompletion._from_chat(native)


def _model_endpoints(fetched: tuple[bytes | None, object]) -> ModelEndpoints:
    from .catalog import ModelEndpoints

    return ModelEndpoints.from_json(fetched[0] or b"{}")


def _data(fetched: tuple[bytes | None, object]) -> dict[str, Any]:
    """The ``data`` object of a fetched ``{"data": {...}}`` body."""
    payload = _json(fetched)
    data = payload.get("data") if isinstance(payload, dict) else None
    return data if isinstance(data, dict) else {}


def cascade_of(client: _ClientBase, model: Any) -> tuple[Cascade, str, Decimal | None] | None:
    """The cascade ``model`` names, if any (:func:`fastrouter.cascade.runner.cascade_of`). A
    :class:`Cascade` exists only once its module is loaded, and a cascade route only in a
    routing, so a plain request never loads the cascade machinery."""
    if client.routing is None and "fastrouter.cascade.tiers" not in sys.modules:
        return None
    from .cascade import runner

    return runner.cascade_of(client, model)


def create_sync(client: Client, found: tuple[Cascade, str, Decimal | None], *rest: Any) -> Any:
    """:func:`fastrouter.cascade.runner.create_sync` (the cascade loads when first used)."""
    from .cascade import runner

    return runner.create_sync(client, found, *rest)


async def create_async(client: AsyncClient, found: tuple[Cascade, str, Decimal | None], *rest: Any) -> Any:
    """:func:`fastrouter.cascade.runner.create_async` (the cascade loads when first used)."""
    from .cascade import runner

    return await runner.create_async(client, found, *rest)


class _ClientBase:
    """Configuration and construction shared by both clients: the one constructor, whose
    signature both inherit; each subclass adds its resources (``chat``, ``models``, ...)
    in :meth:`_add_resources`."""

    base_url: str
    timeout: Timeout
    max_retries: int
    _on_loop = False  # True for the asyncio client
    _plain = False  # see _plain_client (set per client)
    _kinds: ClassVar[tuple[Any, Any, Any, Any]]  # its resources' classes: chat, models, generations, records

    def __init__(
        self,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: float | Timeout | TimeoutLike | None = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        app_url: str | None = None,
        app_title: str | None = None,
        app_categories: str | Sequence[str] | None = None,
        default_headers: Mapping[str, str] | None = None,
        cooldown: Cooldown | None = DEFAULT_COOLDOWN,
        on_event: EventHook | None = None,
        hedge: Hedge | None = None,
        ledger: str | PathLike[str] | UsageLedger | None = None,
        routing: Routing | None = None,
        budgets: Sequence[Budget] = (),
        catalog_cache: CatalogCache | None | _NotGiven = NOT_GIVEN,
        max_cost_per_request: Decimal | float | str | None = None,
        reconcile: bool | None = None,
        ca_bundle: str | PathLike[str] | None = None,
        proxy: str | None = None,
        http2: bool | None = None,
        telemetry: bool | Telemetry = False,
        # openai's constructor arguments (fastrouter.dropin.options): honoured, or refused clearly
        organization: str | None = None,
        project: str | None = None,
        default_query: Mapping[str, object] | None = None,
        http_client: object = None,
        websocket_base_url: object = None,
        webhook_secret: str | None = None,
        _strict_response_validation: bool = False,
        limits: Mapping[str, Limit] | None = None,
        cache: Cache | str | PathLike[str] | bool | None = None,
        store: str | PathLike[str] | Store | None = None,
        on_store_error: str = "raise",
    ) -> None:
        if routing is not None:
            from .routing import Routing

            if not isinstance(routing, Routing):
                raise TypeError(f"routing must be a fastrouter.Routing or None, got {routing!r}")
        if hedge is not None and not isinstance(hedge, Hedge):
            raise TypeError(f"hedge must be a fastrouter.Hedge or None, got {hedge!r}")
        if cooldown is not None and not isinstance(cooldown, Cooldown):
            raise TypeError(f"cooldown must be a fastrouter.Cooldown or None, got {cooldown!r}")
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise ValueError(f"max_retries must be a non-negative int, got {max_retries!r}")
        self.base_url = resolve_base_url(base_url)
        self.timeout = Timeout.coerce(timeout)
        self.max_retries = max_retries
        self.routing = routing
        # routing (issue 12): the client-wide per-request cap; routes, aliases and calls override it.
        self.max_cost_per_request = None if max_cost_per_request is None else _usd(max_cost_per_request)
        self._backends = routing.backends if routing is not None else {}
        self._refreshed_for: set[str] = set()
        self._warned_unknown: set[tuple[str, str]] = set()
        self._price_tables: dict[int, tuple[ResolvedRoute, PriceTable]] = {}
        # Rate limits, the response cache and shared state: without any, no store and no gate.
        all_limits = {**(routing.all_limits() if routing is not None else {}), **(limits or {})}
        gated = store is not None or bool(all_limits) or cache not in (None, False) or on_store_error != "raise"
        self._store: Store | None = None
        self._owns_store = False
        response_cache: Cache | None = None
        if gated:
            from .cache import Cache
            from .store import Store, open_store

            self._store = open_store(store)
            self._owns_store = not isinstance(store, Store)  # a Store handed in may serve others
            response_cache = Cache.coerce(cache)
        # The ledger, budgets and reconciliation, shared by with_options() copies.
        all_budgets = [*budgets, *(routing.budgets if routing is not None else ())]
        self._accounts = Accounts(ledger, all_budgets, self._store, self._on_loop)
        # Read per request: a client without budgets does not reach for its (empty) book.
        self._has_budgets = bool(all_budgets)
        self._catalog_cache = catalog_cache
        self._catalog_loader: CatalogLoader | None = None
        self._api_key = resolve_api_key(api_key)
        openai_headers, self._call_defaults = client_options(
            organization=organization,
            project=project,
            default_query=default_query,
            http_client=http_client,
            websocket_base_url=websocket_base_url,
            webhook_secret=webhook_secret,
            _strict_response_validation=_strict_response_validation,
        )
        self._headers = attribution_headers(
            app_url, app_title, app_categories, {**openai_headers, **(default_headers or {})}
        )
        self._telemetry: ClientTelemetry | None = None
        if telemetry is not False:  # OpenTelemetry (extra "otel"): imported only when turned on
            from .otel import client_telemetry

            self._telemetry = client_telemetry(telemetry, self.base_url)
        self._on_cascade_event = on_event  # cascades report escalations to the same hook
        self._inner = _fastrouter.NativeClient(
            base_url=self.base_url,
            api_key=self._api_key,
            headers=list(self._headers.items()),
            timeout=self.timeout,
            cooldown=cooldown,
            on_event=native_hook(on_event),
            hedge=hedge,
            backends=[b.native() for b in self._backends.values()],
            # Network: see README "Proxies, CA bundles and HTTP/2" (decided in src/network.rs).
            ca_bundle=fspath(ca_bundle) if ca_bundle is not None else None,
            proxy=proxy,
            http2=http2,
        )
        # faults-py (issue 10.11): one bounded reconciliation worker, OpenRouter only by default.
        self._accounts.reconcile_with(reconcile, self.base_url, self._fetch_generation)
        self._gate: Gate | None = None
        if gated:
            from .gate import Gate
            from .limits import Limiter

            assert self._store is not None
            limiter = Limiter(all_limits, self._store) if all_limits else None
            self._gate = Gate.build(self._store, limiter, response_cache, on_store_error, self.health)
        self._add_resources()
        self._plain = self._plain_client()

    @property
    def usage(self) -> UsageLedger:
        """The usage ledger: one entry per request (in memory unless ``ledger=`` says otherwise)."""
        return self._accounts.ledger

    @property
    def _budgets(self) -> BudgetBook:
        return self._accounts.budgets

    @property
    def _reconciler(self) -> Reconciler | None:
        """The worker filling missing costs in from ``/generation`` (``None`` when off)."""
        return self._accounts.reconciler

    async def _close_stores(self) -> None:
        if self._store is not None:  # its last settles and releases reach it first
            from ._background import finish_background

            await finish_background(self._store)
        if self._owns_store and self._store is not None:
            await self._store.aclose()
        if self._gate is not None and self._gate.cache_store is not self._store:
            await self._gate.cache_store.aclose()

    def _deadline(self, args: _NativeArgs) -> float | None:
        """When a request's whole call must end (``monotonic()`` time), if it has a deadline."""
        total = args[4].total if args[4] is not None else self.timeout.total
        return None if total is None else time.monotonic() + total

    def _add_resources(self) -> None:
        """Create the client's resources (``chat``, ``models``, ...), of its kind (``_kinds``)."""
        chat, models, generations, record = self._kinds
        self.chat, self.models, self.generations = chat(self), models(self), generations(self)
        self.credits, self.key = record(self, "credits", _typed("Credits")), record(self, "key", _typed("KeyInfo"))

    def with_options(self, **options: Any) -> Self:
        """A copy of this client with other per-call defaults, sharing its connection pool,
        ledger, budgets and catalog (as ``openai``'s ``with_options`` / ``copy``):
        ``timeout``, ``max_retries``, ``default_headers`` / ``set_default_headers``,
        ``default_query`` / ``set_default_query``."""
        import copy

        clone = copy.copy(self)
        clone._call_defaults, clone.max_retries = copy_options(
            self._call_defaults, self.max_retries, self.timeout, options
        )
        resolved = clone._call_defaults.timeout
        if isinstance(resolved, Timeout):  # with_options(timeout=...): what its calls get
            clone.timeout = resolved
        clone._add_resources()
        clone._plain = clone._plain_client()
        return clone

    copy = with_options

    @property
    def _catalog(self) -> CatalogLoader:
        """The catalog loader, built (and ``fastrouter.catalog`` imported) on first use."""
        loader = self._catalog_loader
        if loader is None:
            with _LOADER_LOCK:  # one loader, so concurrent first requests share one fetch
                loader = self._catalog_loader
                if loader is None:
                    from .catalog import CatalogCache, CatalogLoader

                    given = self._catalog_cache
                    cache = CatalogCache() if isinstance(given, _NotGiven) else given
                    loader = self._catalog_loader = CatalogLoader(cache, self.base_url)
        return loader

    @property
    def api_key(self) -> str | None:
        """The API key in use (never shown by ``repr``)."""
        return self._api_key

    @property
    def default_headers(self) -> dict[str, str]:
        """Headers sent with every request (attribution and ``default_headers``)."""
        return dict(self._headers)

    def _fetch_generation(self, generation_id: str) -> Any:
        return _json(self._inner.get_blocking(_generation_path(generation_id)))

    def _reconcile(self, generation_id: str) -> None:
        """Queue filling a missing cost in from ``/generation`` (the client's one worker)."""
        if self._reconciler is not None:
            self._reconciler.submit(generation_id)

    def _fetch_models_sync(self, validator: str | None) -> tuple[bytes | None, str | None]:
        from .catalog.cache import fetched

        return fetched(self._inner.get_blocking(*_models_request(validator)))

    def _catalog_if_loaded(self) -> Catalog | None:
        """The catalog in memory or on disk, however old, without a network request."""
        from .errors import FastrouterError

        try:
            return self._catalog.load_sync(self._fetch_models_sync, offline=True)
        except FastrouterError:
            return None

    def _needs_catalog(self, model: ModelArg, params: Mapping[str, Any]) -> bool:
        """Routes resolve, and budgets and cost caps estimate, against the catalog."""
        is_route = isinstance(model, str) and self.routing is not None and self.routing.is_route(model)
        capped = self.max_cost_per_request is not None or params.get("max_cost_per_request") is not None
        return is_route or capped or self._has_budgets

    def _requested(self, model: ModelArg | None) -> ModelArg:
        """``model``, else the routing's ``default_route``."""
        if model is not None:
            return model
        if self.routing is not None and self.routing.default_route is not None:
            return self.routing.default_route
        raise TypeError(
            "create() needs model=: a model id, a list of ids, or an alias or route name"
            " (or set default_route in the client's routing)"
        )

    def _should_refresh(self, model: ModelArg, catalog: Catalog | None) -> bool:
        """True once per alias or route naming ids the catalog does not list: the catalog
        may be older than the model, so it is fetched again before they pass through."""
        if catalog is None or not isinstance(model, str) or model in self._refreshed_for:
            return False
        route = self._resolve_route(model, catalog, warn=False)
        if route is None or not route.unknown:
            return False
        self._refreshed_for.add(model)
        return True

    def _prepare_chat(
        self,
        model: ModelArg,
        messages: Any,
        stream: bool,
        extra_body: Mapping[str, Any] | None,
        extra_headers: Mapping[str, str] | None,
        max_retries: int | None,
        timeout: float | Timeout | TimeoutLike | None | _NotGiven,
        tags: Sequence[str] | None,
        params: Mapping[str, Any],
        catalog: Catalog | None,
        books: RequestBooks | None = None,
    ) -> tuple[_NativeArgs, RequestBooks]:
        if not _request_path_loaded:
            _load_request_path()
        # openai drop-in: sentinels count as absent; with_options() defaults; extra_query.
        params = without_omitted(params)
        extra_query = None
        if "extra_query" in params:
            params = dict(params)
            extra_query = params.pop("extra_query")
        extra_headers, timeout, query = self._call_defaults.apply(extra_headers, timeout, extra_query)
        if stream is not False and is_omitted(stream):
            stream = False
        if max_retries is not None and is_omitted(max_retries):
            max_retries = None
        if not isinstance(stream, bool):
            raise TypeError(f"stream must be a bool, got {stream!r}")
        if tags is not None and (isinstance(tags, str) or not all(isinstance(t, str) for t in tags)):
            raise TypeError(f"tags must be a list of str, got {tags!r}")
        overrides = _timeout_overrides(timeout, self.timeout)
        route = self._resolve_route(model, catalog)
        params = dict(params)
        cap_arg = params.pop("max_cost_per_request", None)
        hedge_after: float | None = None
        chain: Sequence[str]
        if route is not None:
            from .routing.plan import merge_params

            chain, requested = list(route.chain), requested_name(model)
            params = merge_params(route.params, {"provider": route.providers} if route.providers else None, params)
            if max_retries is None:
                max_retries = route.max_retries
            if route.deadline_s is not None:
                overrides = dataclasses.replace(overrides or self.timeout, total=route.deadline_s)
            hedge_after = route.hedge_after
        elif type(model) is str and model:
            chain, requested = [model], model  # the usual request: one model id
        else:
            chain, requested = _model_chain(model)
        retries = self.max_retries if max_retries is None else max_retries
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            raise ValueError(f"max_retries must be a non-negative int, got {retries!r}")
        cap = _usd(cap_arg) if cap_arg is not None else None
        if cap is None and route is not None:
            cap = route.max_cost_per_request
        if cap is None:
            cap = self.max_cost_per_request
        max_tokens = params.get("max_completion_tokens") or params.get("max_tokens")
        if cap is not None and max_tokens is None:
            from .routing.plan import DEFAULT_OUTPUT_ALLOWANCE

            params["max_tokens"] = max_tokens = DEFAULT_OUTPUT_ALLOWANCE
        body = build_body(messages, params, extra_body, stream=stream)
        budgets = self._budgets if self._has_budgets else None
        if cap is not None or budgets is not None:
            backends = self._backends

            def lookup(entry: str) -> Model | None:
                from .routing.backends import model_for

                return model_for(entry, catalog, backends)

        if cap is not None:
            from .routing.plan import fit_cost_cap

            # a selection constraint: the route's best candidates that fit, not its first few
            pool = list(route.ranked) if route is not None and route.ranked else chain
            table = self._price_table(route, pool, lookup) if route is not None else None
            chain, _ = fit_cost_cap(pool, cap, len(body), max_tokens, lookup, requested, len(chain), table)
        if route is not None and route.spread:
            from .routing.plan import spread_order

            chain = spread_order(chain, route.weights or {}, self._inner.latencies(), self._cooling())
        if books is None:
            books = self._new_books(model, tags, stream, params, budgets, requested)
        args = (
            body,
            chain,
            _header_pairs(extra_headers),
            retries,
            overrides,
            hedge_after,
            encode_query(query) if query else None,
        )
        if budgets is not None:
            from .usage.cost import chain_worst_case

            # Last: nothing between the reservation and the caller's books that could raise
            # (or be Ctrl-C'd) and leave it held.
            books.reserve(*chain_worst_case(chain, len(body), max_tokens, lookup))
        return args, books

    def _plain_client(self) -> bool:
        """True when a call gets nothing from the client beyond its pool and ledger: no
        routing, gate, budgets, cost cap, telemetry or ``with_options()`` call defaults."""
        defaults = self._call_defaults
        return (
            self.routing is None
            and self._gate is None
            and not self._has_budgets
            and self.max_cost_per_request is None
            and self._telemetry is None
            and is_omitted(defaults.timeout)
            and not defaults.headers
            and not defaults.query
        )

    def _usual_request(self, stream: bool, params: dict[str, Any]) -> tuple[bytes, Sequence[str], str, int] | None:
        """The usual call: ``model`` (one id, or a chain of ids), ``messages`` (a list) and
        at most a few sampling parameters given as plain values (:data:`_SAMPLING`), not
        streamed, on a plain client (:meth:`_plain_client`). Its body, chain, ledger name
        and retries; ``None`` for any other call (or messages Python's encoder must write)."""
        if not self._plain or stream is not False:
            return None
        sampling = None
        if len(params) != 2:
            sampling = _sampling(params)
            if sampling is None:
                return None
        if self.routing is not None or self.max_cost_per_request is not None:
            return None  # public attributes set after construction: the general path reads them
        model = params.get("model")
        messages = params.get("messages")
        retries = self.max_retries
        if type(messages) is not list or not messages:
            return None
        if type(model) is str and model:
            chain: Sequence[str] = [model]
            requested = model
        elif type(model) is list or type(model) is tuple:
            try:
                chain, requested = _model_chain(model)
            except (TypeError, ValueError):
                return None  # the general path says what is wrong
        else:
            return None
        if type(retries) is not int or retries < 0:
            return None  # the general path says what is wrong
        # As build_body writes it: the messages, then the parameters in the caller's order.
        body = encode_json({"messages": messages} if sampling is None else {"messages": messages, **sampling})
        if body is None:
            return None
        if not _request_path_loaded:
            _load_request_path()
        return body, chain, requested, retries

    def _usual_books(self, requested: str, started: float | None = None, pid: int | None = None) -> RequestBooks:
        """The books of a usual call (:meth:`_usual_request`); opened late (after its
        answer or error) they are given the call's start time and process."""
        accounts = self._accounts
        return RequestBooks(
            accounts.ledger,
            accounts.budgets,
            self._catalog_if_loaded,
            self._reconcile,
            requested,
            (),
            False,
            self._backends,
            started,
            pid,
        )

    def _usual_failed(
        self,
        books: RequestBooks | None,
        requested: str,
        started: float,
        pid: int,
        arrived: ChatCompletion | None,
        error: BaseException,
    ) -> None:
        """A usual call ended by ``error`` before the ledger took its answer: recorded once
        (by the late ``books`` if they were opened: their claim makes this a no-op after
        they recorded), an answer that ``arrived`` booked at what it cost."""
        if books is None:
            books = self._usual_books(requested, started, pid)
        if arrived is not None and books._arrived is None:
            books._arrived = arrived
        books.failed(error)

    def _begin(
        self, stream: bool, params: dict[str, Any]
    ) -> tuple[ModelArg, _CallOptions, bool | float | None, _Found | None, RequestBooks | None]:
        """A ``create()`` call taken apart, the same for both clients: its model (else the
        default route), its options (popped from ``params``, which keeps the request
        parameters), its ``cache=``, the cascade it names, and its books, opened early when
        the catalog must load first."""
        pop = params.pop
        try:
            messages = pop("messages")
        except KeyError:
            raise TypeError("create() missing 1 required keyword-only argument: 'messages'") from None
        model = self._requested(pop("model", None))
        if params:
            tags = pop("tags", None)
            options = (
                messages,
                stream,
                pop("extra_body", None),
                pop("extra_headers", None),
                pop("max_retries", None),
                pop("timeout", NOT_GIVEN),
                tags,
            )
            cache = pop("cache", None)
        else:  # only a model and messages: every option at its default
            tags = cache = None
            options = (messages, stream, None, None, None, NOT_GIVEN, None)
        cascade = cascade_of(self, model)
        books = None
        if cascade is None and self._needs_catalog(model, params):
            books = self._new_books(model, tags, stream, params)
        return model, options, cache, cascade, books

    def _gated(
        self,
        model: ModelArg,
        args: _NativeArgs,
        books: RequestBooks,
        stream: bool,
        cache: Any,
        params: Mapping[str, Any],
    ) -> tuple[Any, ...]:
        """What the gate's ``chat_sync`` / ``chat_async`` take after the client."""
        max_tokens = params.get("max_completion_tokens") or params.get("max_tokens")
        max_tokens = max_tokens if isinstance(max_tokens, int) else None  # an omit sentinel is absent
        return model, args, books, stream, cache, max_tokens, self._deadline(args)

    def _new_books(
        self,
        model: ModelArg,
        tags: Sequence[str] | None,
        stream: bool,
        params: Mapping[str, Any],
        budgets: BudgetBook | None = None,
        requested: str | None = None,
    ) -> RequestBooks:
        """The books of one request (its reservation and its one ledger entry); with
        ``telemetry=`` the same books also report spans and metrics when the request ends."""
        if not _request_path_loaded:
            _load_request_path()
        books_args = (
            self.usage,
            self._budgets if budgets is None else budgets,
            self._catalog_if_loaded,
            self._reconcile,
            requested if requested is not None else model if type(model) is str else requested_name(model),
            tuple(tags) if tags else (),
            stream,
            self._backends,
        )
        if self._telemetry is None:
            return RequestBooks(*books_args)
        return self._telemetry.books(params, *books_args)

    def _price_table(
        self, route: ResolvedRoute, pool: Sequence[str], lookup: Callable[[str], Model | None]
    ) -> PriceTable:
        """The route's candidates priced once per resolution (a new catalog resolves anew)."""
        cached = self._price_tables.get(id(route))
        if cached is not None and cached[0] is route:
            return cached[1]
        from .routing.plan import PriceTable

        if len(self._price_tables) > 64:
            self._price_tables.clear()
        table = PriceTable(pool, lookup)
        self._price_tables[id(route)] = (route, table)
        return table

    def _cooling(self) -> set[str]:
        """Models whose circuit breaker is open now."""
        return {h.model for h in self.health().values() if h.state == "open"}

    def _resolve_route(self, model: ModelArg, catalog: Catalog | None, *, warn: bool = True) -> ResolvedRoute | None:
        if not isinstance(model, str) or self.routing is None or not self.routing.is_route(model):
            return None
        from .errors import FastrouterError, RoutingWarning

        if catalog is None:
            raise FastrouterError(f"the route {model!r} needs the model catalog, which could not be loaded")
        route = self.routing.resolve(model, catalog, latencies=self._inner.latencies())
        for model_id in route.unknown if warn else ():
            if (model, model_id) not in self._warned_unknown:
                self._warned_unknown.add((model, model_id))
                warnings.warn(
                    f"{model}: {model_id!r} is not in the model catalog (even after refreshing it); sending it as is."
                    " Use Routing(strict=True) to make this an error",
                    RoutingWarning,
                    stacklevel=4,
                )
        return route

    def health(self) -> dict[str, ModelHealth]:
        """Circuit-breaker state of every model that has failed, by model id."""
        return {h.model: h for h in map(ModelHealth._from_native, self._inner.health())}

    @property
    def is_closed(self) -> bool:
        """True after :meth:`close`."""
        return bool(self._inner.closed)

    def __repr__(self) -> str:
        key = "set" if self._api_key else "missing"
        return f"{type(self).__name__}(base_url={self.base_url!r}, api_key=<{key}>, max_retries={self.max_retries})"


# ---------------------------------------------------------------------------- async


_ClientT = TypeVar("_ClientT", bound=_ClientBase)


class _Resource(Generic[_ClientT]):
    """A part of a client's API (``client.models``, ...), holding the client it calls."""

    def __init__(self, client: _ClientT) -> None:
        self._client = client


_R = TypeVar("_R")


class _Record(_Resource[_ClientT], Generic[_ClientT, _R]):
    """A record read with one GET of a fixed path, from its ``data`` object."""

    def __init__(self, client: _ClientT, path: str, record: Callable[[dict[str, Any]], _R]) -> None:
        super().__init__(client)
        self._path = path
        self._record = record


class AsyncCompletions(AsyncCompletionsDropIn, _Resource["AsyncClient"]):
    """``client.chat.completions``."""

    @overload
    async def create(self, *, stream: Literal[False] = False, **params: Unpack[CreateParams]) -> ChatCompletion: ...

    @overload
    async def create(self, *, stream: Literal[True], **params: Unpack[CreateParams]) -> AsyncStream: ...

    @overload
    async def create(self, *, stream: bool, **params: Unpack[CreateParams]) -> ChatCompletion | AsyncStream: ...

    async def create(self, *, stream: bool = False, **params: Any) -> ChatCompletion | AsyncStream:
        """:meth:`Completions.create`, awaited: a chat completion, or with ``stream=True`` an
        :class:`AsyncStream` of chunks (errors before its first content are raised here)."""
        client = self._client
        usual = client._usual_request(stream, params)
        if usual is not None:  # a model, messages and plain sampling values, on a plain client
            # The usual answer is recorded without opening books (record_usual_answer);
            # they are opened, with the call's start and process, for any other ending.
            body, chain, requested, retries = usual
            started = time.time()
            pid = usage_books._pid
            answered = False  # set just before the ledger takes the usual answer
            books: RequestBooks | None = None  # opened late, for any other answer
            completion: ChatCompletion | None = None
            try:
                queue, loop = running_queue()
                future = client._inner.chat_usual(queue, loop, body, chain, retries)
                await future  # a bare future: its await gives None, the answer is its result()
                native = future.result()
                completion = ChatCompletion._from_chat(native)
                ledger = client._accounts.ledger
                answer = (
                    usual_answer(ledger, completion, native, requested, started) if usage_books._pid == pid else None
                )
                if answer is not None:
                    answered = True
                    ledger._post(answer)  # no point between where a Ctrl-C can land (see _post)
                    return completion
                books = client._usual_books(requested, started, pid)
                return books.answered_chat(completion, native)
            except BaseException as error:
                if not answered:  # cancelled, failed, Ctrl-C'd: recorded once, as ``with books`` does
                    client._usual_failed(books, requested, started, pid, completion, error)
                raise
        model, options, cache, cascade, books = client._begin(stream, params)
        if cascade is not None:
            return await create_async(client, cascade, *options, params)  # type: ignore[no-any-return]
        catalog = None
        if books is not None:
            with books:  # faults-py: cancelled, Ctrl-C'd or failed while the catalog loads: recorded too
                catalog = await client.models._for_request(model)
        args, books = client._prepare_chat(model, *options, params, catalog, books)
        # ``with books``, spelled out: entering it would call ``__enter__``, where a Ctrl-C
        # could land after the reservation and leave it held.
        try:
            if client._gate is not None:  # limits, response cache, shared state
                gated = client._gated(model, args, books, stream, cache, params)
                return await client._gate.chat_async(client, *gated)
            if stream:
                from .streaming import AsyncStream

                return AsyncStream(await awaiting(client._inner.chat_stream, *args), books.stream_finished)
            native = await awaiting(client._inner.chat, *args)
            return books.answered_chat(_completion(native), native)
        except BaseException as error:
            books.failed(error)
            raise


class AsyncChat:
    """``client.chat``."""

    def __init__(self, client: AsyncClient) -> None:
        self.completions = AsyncCompletions(client)


class AsyncModels(_Resource["AsyncClient"]):
    """``client.models``: the catalog and per-provider endpoints."""

    async def list(self, *, refresh: bool = False, offline: bool = False) -> Catalog:
        """The model catalog (``GET /models?output_modalities=all``), cached in memory and
        on disk with a TTL, refreshed conditionally, and served from the last good copy
        (``catalog.stale``) when OpenRouter cannot be reached."""

        from .catalog.cache import fetched

        inner = self._client._inner

        async def fetch(validator: str | None) -> tuple[bytes | None, str | None]:
            return fetched(await awaiting(inner.get, *_models_request(validator)))

        return await self._client._catalog.load_async(fetch, refresh=refresh, offline=offline)

    async def _for_request(self, model: ModelArg) -> Catalog:
        catalog = await self.list()
        return await self.list(refresh=True) if self._client._should_refresh(model, catalog) else catalog

    async def endpoints(self, id: str) -> ModelEndpoints:
        """Every provider endpoint serving model ``id`` (price, context, quantization,
        uptime, status)."""
        return _model_endpoints(await awaiting(self._client._inner.get, _endpoints_path(id)))


class AsyncGenerations(_Resource["AsyncClient"]):
    """``client.generations``: per-request accounting (``GET /generation``)."""

    async def get(self, id: str) -> Generation:
        """Stats of one generation by its id (``resp.id``)."""
        from .types import Generation

        return Generation(_data(await awaiting(self._client._inner.get, _generation_path(id))))


class AsyncRecord(_Record["AsyncClient", _R]):
    """``client.credits`` and ``client.key`` on the async client."""

    async def get(self) -> _R:
        """Read it (``await client.credits.get()``, ``await client.key.get()``)."""
        return self._record(_data(await awaiting(self._client._inner.get, self._path)))


class AsyncClient(_ClientBase, AsyncClosing):
    """Asynchronous OpenRouter client (asyncio).

    >>> client = fastrouter.AsyncClient()            # key from OPENROUTER_API_KEY
    >>> resp = await client.chat.completions.create(model="openai/gpt-4o-mini",
    ...                                             messages=[{"role": "user", "content": "hi"}])
    """

    _on_loop = True
    _kinds = (AsyncChat, AsyncModels, AsyncGenerations, AsyncRecord)
    chat: AsyncChat
    models: AsyncModels
    generations: AsyncGenerations
    credits: AsyncRecord[Credits]
    key: AsyncRecord[KeyInfo]

    def model(self, model: ModelArg, **defaults: Any) -> AsyncBoundModel:
        """A model (id, chain, alias or route) bound to request defaults:
        ``await client.model("smart", temperature=0.2).complete("Say hi")``; values given
        per call win over these, which win over the route's ``params``."""
        from .bound import AsyncBoundModel

        return AsyncBoundModel(self, model, defaults)

    async def close(self) -> None:
        """Close the connection pool. Requests already running finish first."""
        self._inner.close()
        if self._reconciler is not None:
            self._reconciler.close(timeout=0)
        await self._close_stores()


# ----------------------------------------------------------------------------- sync


class Completions(CompletionsDropIn, _Resource["Client"]):
    """``client.chat.completions``."""

    @overload
    def create(self, *, stream: Literal[False] = False, **params: Unpack[CreateParams]) -> ChatCompletion: ...

    @overload
    def create(self, *, stream: Literal[True], **params: Unpack[CreateParams]) -> Stream: ...

    @overload
    def create(self, *, stream: bool, **params: Unpack[CreateParams]) -> ChatCompletion | Stream: ...

    def create(self, *, stream: bool = False, **params: Any) -> ChatCompletion | Stream:
        """Create a chat completion (blocking without the GIL); with ``stream=True`` a
        :class:`Stream` of chunks. Errors before a stream's first content are raised here
        (after failover), like non-streaming ones.

        ``model`` is a model id, or a list of ids tried in order (client-side failover),
        an alias or route name, or a :class:`~fastrouter.Cascade`; ``messages`` the
        conversation. Every OpenAI and OpenRouter parameter is accepted as a keyword;
        ``extra_body`` and ``extra_headers`` pass anything newer through untouched;
        ``timeout`` and ``max_retries`` override the client's for this call; ``tags`` label
        the request in ``client.usage`` (never sent); ``cache=False`` skips the response
        cache for this call and ``cache=<seconds>`` sets the ttl of the answer it stores
        (all typed in :class:`~fastrouter.params.CreateParams`).
        """
        client = self._client
        usual = client._usual_request(stream, params)
        if usual is not None:  # the usual call, on a plain client (see AsyncCompletions)
            body, chain, requested, retries = usual
            started = time.time()
            pid = usage_books._pid
            answered = False
            books: RequestBooks | None = None
            completion: ChatCompletion | None = None
            try:
                native = client._inner.chat_usual_blocking(body, chain, retries)
                completion = ChatCompletion._from_chat(native)
                ledger = client._accounts.ledger
                answer = (
                    usual_answer(ledger, completion, native, requested, started) if usage_books._pid == pid else None
                )
                if answer is not None:
                    answered = True
                    ledger._post(answer)  # no point between where a Ctrl-C can land (see _post)
                    return completion
                books = client._usual_books(requested, started, pid)
                return books.answered_chat(completion, native)
            except BaseException as error:
                if not answered:
                    client._usual_failed(books, requested, started, pid, completion, error)
                raise
        model, options, cache, cascade, books = client._begin(stream, params)
        if cascade is not None:
            return create_sync(client, cascade, *options, params)  # type: ignore[no-any-return]
        catalog = None
        if books is not None:
            with books:  # faults-py: cancelled, Ctrl-C'd or failed while the catalog loads: recorded too
                catalog = client.models._for_request(model)
        args, books = client._prepare_chat(model, *options, params, catalog, books)
        # ``with books``, spelled out (see AsyncCompletions.create).
        try:
            if client._gate is not None:  # limits, response cache, shared state
                gated = client._gated(model, args, books, stream, cache, params)
                return client._gate.chat_sync(client, *gated)
            if stream:
                from .streaming import Stream

                return Stream(client._inner.chat_stream_blocking(*args), books.stream_finished)
            native = client._inner.chat_blocking(*args)
            return books.answered_chat(_completion(native), native)
        except BaseException as error:
            books.failed(error)
            raise


class Chat:
    """``client.chat``."""

    def __init__(self, client: Client) -> None:
        self.completions = Completions(client)


class Models(_Resource["Client"]):
    """``client.models``: the catalog and per-provider endpoints."""

    def list(self, *, refresh: bool = False, offline: bool = False) -> Catalog:
        """The model catalog (``GET /models?output_modalities=all``), cached in memory and
        on disk with a TTL, refreshed conditionally, and served from the last good copy
        (``catalog.stale``) when OpenRouter cannot be reached."""
        client = self._client
        return client._catalog.load_sync(client._fetch_models_sync, refresh=refresh, offline=offline)

    def _for_request(self, model: ModelArg) -> Catalog:
        """The catalog a request resolves against: fetched again, once, for an alias or
        route naming ids it does not list."""
        catalog = self.list()
        return self.list(refresh=True) if self._client._should_refresh(model, catalog) else catalog

    def endpoints(self, id: str) -> ModelEndpoints:
        """Every provider endpoint serving model ``id`` (price, context, quantization,
        uptime, status)."""
        return _model_endpoints(self._client._inner.get_blocking(_endpoints_path(id)))


class Generations(_Resource["Client"]):
    """``client.generations``: per-request accounting (``GET /generation``)."""

    def get(self, id: str) -> Generation:
        """Stats of one generation by its id (``resp.id``)."""
        from .types import Generation

        return Generation(_data(self._client._inner.get_blocking(_generation_path(id))))


class Record(_Record["Client", _R]):
    """``client.credits`` (total credits bought and used, ``GET /credits``) and
    ``client.key`` (usage and limits of the API key in use, ``GET /key``)."""

    def get(self) -> _R:
        """Read it (``client.credits.get()``, ``client.key.get()``)."""
        return self._record(_data(self._client._inner.get_blocking(self._path)))


class Client(_ClientBase, Closing):
    """Synchronous OpenRouter client; calls block with the GIL released.

    >>> client = fastrouter.Client()                 # key from OPENROUTER_API_KEY
    >>> resp = client.chat.completions.create(model="openai/gpt-4o-mini",
    ...                                       messages=[{"role": "user", "content": "hi"}])
    """

    _kinds = (Chat, Models, Generations, Record)
    chat: Chat
    models: Models
    generations: Generations
    credits: Record[Credits]
    key: Record[KeyInfo]

    def model(self, model: ModelArg, **defaults: Any) -> BoundModel:
        """A model (id, chain, alias or route) bound to request defaults:
        ``client.model("smart", temperature=0.2).complete("Say hi")``; values given per
        call win over these, which win over the route's ``params``."""
        from .bound import BoundModel

        return BoundModel(self, model, defaults)

    def close(self) -> None:
        """Close the connection pool. Requests already running finish first."""
        self._inner.close()
        if self._reconciler is not None:
            self._reconciler.close()
        if self._owns_store and self._store is not None:
            self._store.close()
        if self._gate is not None and self._gate.cache_store is not self._store:
            self._gate.cache_store.close()
