"""The clients: :class:`AsyncClient` and :class:`Client`.

Both wrap one native client (``self._inner``) that owns a pooled HTTP/1.1 + HTTP/2
connection pool and walks model chains in Rust. The async client returns awaitables driven
by the extension's tokio runtime; the sync client blocks with the GIL released.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from os import PathLike, fspath
from typing import TYPE_CHECKING, Any, Dict, Generic, List, Literal, Optional, Set, Tuple, TypeVar, Union, overload

from . import _fastrouter
from ._bridge import run
from .config import (
    DEFAULT_MAX_RETRIES,
    DEFAULT_TIMEOUT,
    Hedge,
    Timeout,
    attribution_headers,
    resolve_api_key,
    resolve_base_url,
)
from .errors import FastrouterError
from .events import EventHook, native_hook
from .health import DEFAULT_COOLDOWN, Cooldown, ModelHealth
from .params import build_body
from .streaming import AsyncStream, Stream
from .types import ChatCompletion, Credits, Generation, KeyInfo
from .usage.books import RequestBooks
from .usage.budget import Budget, BudgetBook
from .usage.cost import chain_worst_case
from .usage.entries import requested_name
from .usage.ledger import UsageLedger

if TYPE_CHECKING:
    import asyncio
    from types import TracebackType

    from typing_extensions import Self, Unpack

    from ._fastrouter import NativeChat
    from .catalog import Catalog, CatalogCache, CatalogLoader, ModelEndpoints
    from .params import ChatCompletionParams
    from .routing import ResolvedRoute, Routing

__all__ = ["AsyncClient", "Client"]

ModelArg = Union[str, Sequence[str]]
_TimeoutOverrides = Optional[Timeout]
# What the native chat calls take: body, chain, headers, retries, timeouts, hedge delay.
_NativeArgs = Tuple[bytes, List[str], List[Tuple[str, str]], int, _TimeoutOverrides, Optional[float]]
_MODELS_PATH = "models?output_modalities=all"


def _models_request(validator: Optional[str]) -> Tuple[str, List[Tuple[str, str]]]:
    """Path and headers of a (conditional) catalog fetch."""
    from .catalog import conditional_headers

    return _MODELS_PATH, list(conditional_headers(validator).items())


def _endpoints_path(model_id: str) -> str:
    from urllib.parse import quote

    return f"models/{quote(model_id, safe='/:')}/endpoints"


def _generation_path(generation_id: str) -> str:
    from urllib.parse import quote

    return f"generation?id={quote(generation_id, safe='')}"


def _json(fetched: Tuple[Optional[bytes], object]) -> Any:
    """A fetched body, parsed (``{}`` when empty)."""
    return json.loads(fetched[0] or b"{}")


def _routing_class() -> type[Routing]:
    from .routing import Routing  # imported when a client is given one, not before

    return Routing


class _NotGiven:
    """Marks an argument that was not passed (``None`` is a meaningful timeout)."""

    def __repr__(self) -> str:
        return "NOT_GIVEN"


NOT_GIVEN: Any = _NotGiven()


def _model_chain(model: ModelArg) -> List[str]:
    if isinstance(model, str):
        chain = [model]
    elif isinstance(model, (list, tuple)):
        chain = list(model)
    else:
        raise TypeError(f"model must be a model id or a list of model ids, got {type(model).__name__}")
    if not chain or not all(isinstance(m, str) and m for m in chain):
        raise ValueError("model must be a non-empty model id or a non-empty list of model ids")
    return chain


def _header_pairs(headers: Optional[Mapping[str, str]]) -> List[Tuple[str, str]]:
    if not headers:
        return []
    pairs = []
    for name, value in headers.items():
        if not isinstance(name, str) or not isinstance(value, str):
            raise TypeError(f"extra_headers must map str to str, got {name!r}: {type(value).__name__}")
        pairs.append((name, value))
    return pairs


def _timeout_overrides(timeout: Union[float, Timeout, None, _NotGiven]) -> _TimeoutOverrides:
    """Per-request ``timeout=`` (as in ``openai``): replaces the client's attempt,
    first-token, idle and total timeouts for this call (connect/read stay per client)."""
    if isinstance(timeout, _NotGiven):
        return None
    return Timeout.coerce(timeout)


# ``json.loads(bytes)`` sniffs the encoding first; the core hands over UTF-8 (see its UTF-8
# policy), so decode it as ``loads`` would and parse with the shared decoder.
_decode_json = json.JSONDecoder().decode


def _completion(native: NativeChat) -> ChatCompletion:
    text = native.body.decode("utf-8", "surrogatepass")
    data = _decode_json(text[1:] if text.startswith("\ufeff") else text)  # a BOM, as loads() drops it
    return ChatCompletion._from_native(data, native.attempts, native.answer_cost)


def _data(fetched: Tuple[Optional[bytes], object]) -> Dict[str, Any]:
    """The ``data`` object of a fetched ``{"data": {...}}`` body."""
    payload = _json(fetched)
    data = payload.get("data") if isinstance(payload, dict) else None
    return data if isinstance(data, dict) else {}


class _ClientBase:
    """Configuration and construction shared by both clients: the one constructor, whose
    signature both inherit; each subclass adds its resources (``chat``, ``models``, ...)
    in :meth:`_add_resources`."""

    base_url: str
    timeout: Timeout
    max_retries: int

    def __init__(
        self,
        *,
        api_key: Optional[str] = None,
        base_url: Optional[str] = None,
        timeout: Union[float, Timeout, None] = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        app_url: Optional[str] = None,
        app_title: Optional[str] = None,
        app_categories: Union[str, Sequence[str], None] = None,
        default_headers: Optional[Mapping[str, str]] = None,
        cooldown: Optional[Cooldown] = DEFAULT_COOLDOWN,
        on_event: Optional[EventHook] = None,
        hedge: Optional[Hedge] = None,
        ledger: Union[str, PathLike[str], UsageLedger, None] = None,
        routing: Optional[Routing] = None,
        budgets: Sequence[Budget] = (),
        catalog_cache: Union[CatalogCache, None, _NotGiven] = NOT_GIVEN,
        ca_bundle: Union[str, PathLike[str], None] = None,
        proxy: Optional[str] = None,
        http2: Optional[bool] = None,
    ) -> None:
        if routing is not None and not isinstance(routing, _routing_class()):
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
        self.usage = ledger if isinstance(ledger, UsageLedger) else UsageLedger(ledger)
        self.routing = routing
        self._budgets = BudgetBook([*budgets, *(routing.budgets if routing is not None else ())], self.usage)
        self._catalog_cache = catalog_cache
        self._catalog_loader: Optional[CatalogLoader] = None
        self._api_key = resolve_api_key(api_key)
        self._headers = attribution_headers(app_url, app_title, app_categories, default_headers)
        self._inner = _fastrouter.NativeClient(
            base_url=self.base_url,
            api_key=self._api_key,
            headers=list(self._headers.items()),
            timeout=self.timeout,
            cooldown=cooldown,
            on_event=native_hook(on_event),
            hedge=hedge,
            # Network: see README "Proxies, CA bundles and HTTP/2" (decided in src/network.rs).
            ca_bundle=fspath(ca_bundle) if ca_bundle is not None else None,
            proxy=proxy,
            http2=http2,
        )
        self._add_resources()

    def _add_resources(self) -> None:
        """Create the client's resources (``chat``, ``models``, ...)."""
        raise NotImplementedError

    @property
    def _catalog(self) -> CatalogLoader:
        """The catalog loader, built (and ``fastrouter.catalog`` imported) on first use."""
        loader = self._catalog_loader
        if loader is None:
            from .catalog import CatalogCache, CatalogLoader

            given = self._catalog_cache
            cache = CatalogCache() if isinstance(given, _NotGiven) else given
            loader = self._catalog_loader = CatalogLoader(cache, self.base_url)
        return loader

    @property
    def api_key(self) -> Optional[str]:
        """The API key in use (never shown by ``repr``)."""
        return self._api_key

    @property
    def default_headers(self) -> Dict[str, str]:
        """Headers sent with every request (attribution and ``default_headers``)."""
        return dict(self._headers)

    def _reconcile(self, generation_id: str) -> None:
        """Start filling a missing cost in from ``/generation`` (in the background)."""
        raise NotImplementedError

    def _fetch_models_sync(self, validator: Optional[str]) -> Tuple[Optional[bytes], Optional[str]]:
        from .catalog.cache import fetched

        return fetched(self._inner.get_blocking(*_models_request(validator)))

    def _catalog_if_loaded(self) -> Optional[Catalog]:
        """The catalog in memory or on disk, however old, without a network request."""
        try:
            return self._catalog.load_sync(self._fetch_models_sync, offline=True)
        except FastrouterError:
            return None

    def _needs_catalog(self, model: ModelArg) -> bool:
        """Routes resolve and budgets estimate against the catalog."""
        is_route = isinstance(model, str) and self.routing is not None and self.routing.is_route(model)
        return is_route or bool(self._budgets)

    def _prepare_chat(
        self,
        model: ModelArg,
        messages: Any,
        stream: bool,
        extra_body: Optional[Mapping[str, Any]],
        extra_headers: Optional[Mapping[str, str]],
        max_retries: Optional[int],
        timeout: Union[float, Timeout, None, _NotGiven],
        tags: Optional[Sequence[str]],
        params: Mapping[str, Any],
        catalog: Optional[Catalog],
    ) -> Tuple[_NativeArgs, RequestBooks]:
        if not isinstance(stream, bool):
            raise TypeError(f"stream must be a bool, got {stream!r}")
        if tags is not None and (isinstance(tags, str) or not all(isinstance(t, str) for t in tags)):
            raise TypeError(f"tags must be a list of str, got {tags!r}")
        overrides = _timeout_overrides(timeout)
        route = self._resolve_route(model, catalog)
        hedge_after: Optional[float] = None
        if route is not None:
            chain = list(route.chain)
            if route.providers:
                params = {**params, "provider": {**route.providers, **(params.get("provider") or {})}}
            if max_retries is None:
                max_retries = route.max_retries
            if route.deadline_s is not None:
                overrides = dataclasses.replace(overrides or self.timeout, total=route.deadline_s)
            hedge_after = route.hedge_after
        else:
            chain = _model_chain(model)
        retries = self.max_retries if max_retries is None else max_retries
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            raise ValueError(f"max_retries must be a non-negative int, got {retries!r}")
        body = build_body(messages, params, extra_body, stream=stream)
        books = RequestBooks(
            self.usage,
            self._budgets,
            self._catalog_if_loaded,
            self._reconcile,
            requested_name(model),
            tuple(tags or ()),
            stream,
        )
        limit = route.max_cost_per_request if route is not None else None
        if self._budgets or limit is not None:
            max_tokens = params.get("max_completion_tokens") or params.get("max_tokens")
            books.reserve(chain_worst_case(chain, len(body), max_tokens, catalog), limit)
        return (body, chain, _header_pairs(extra_headers), retries, overrides, hedge_after), books

    def _resolve_route(self, model: ModelArg, catalog: Optional[Catalog]) -> Optional[ResolvedRoute]:
        if not isinstance(model, str) or self.routing is None or not self.routing.is_route(model):
            return None
        if catalog is None:
            raise FastrouterError(f"the route {model!r} needs the model catalog, which could not be loaded")
        return self.routing.resolve(model, catalog, latencies=self._inner.latencies())

    def health(self) -> Dict[str, ModelHealth]:
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


class AsyncCompletions(_Resource["AsyncClient"]):
    """``client.chat.completions``."""

    @overload
    async def create(
        self,
        *,
        model: ModelArg,
        messages: Sequence[Any],
        stream: Literal[False] = False,
        extra_body: Optional[Mapping[str, Any]] = None,
        extra_headers: Optional[Mapping[str, str]] = None,
        max_retries: Optional[int] = None,
        timeout: Union[float, Timeout, None] = ...,
        tags: Optional[Sequence[str]] = None,
        **params: Unpack[ChatCompletionParams],
    ) -> ChatCompletion: ...

    @overload
    async def create(
        self,
        *,
        model: ModelArg,
        messages: Sequence[Any],
        stream: Literal[True],
        extra_body: Optional[Mapping[str, Any]] = None,
        extra_headers: Optional[Mapping[str, str]] = None,
        max_retries: Optional[int] = None,
        timeout: Union[float, Timeout, None] = ...,
        tags: Optional[Sequence[str]] = None,
        **params: Unpack[ChatCompletionParams],
    ) -> AsyncStream: ...

    @overload
    async def create(
        self,
        *,
        model: ModelArg,
        messages: Sequence[Any],
        stream: bool,
        extra_body: Optional[Mapping[str, Any]] = None,
        extra_headers: Optional[Mapping[str, str]] = None,
        max_retries: Optional[int] = None,
        timeout: Union[float, Timeout, None] = ...,
        tags: Optional[Sequence[str]] = None,
        **params: Unpack[ChatCompletionParams],
    ) -> Union[ChatCompletion, AsyncStream]: ...

    async def create(
        self,
        *,
        model: ModelArg,
        messages: Sequence[Any],
        stream: bool = False,
        extra_body: Optional[Mapping[str, Any]] = None,
        extra_headers: Optional[Mapping[str, str]] = None,
        max_retries: Optional[int] = None,
        timeout: Union[float, Timeout, None] = NOT_GIVEN,
        tags: Optional[Sequence[str]] = None,
        **params: Unpack[ChatCompletionParams],
    ) -> Union[ChatCompletion, AsyncStream]:
        """Create a chat completion; with ``stream=True`` an :class:`AsyncStream` of chunks.

        ``model`` is a model id, or a list of ids tried in order (client-side failover).
        Every OpenAI and OpenRouter parameter is accepted as a keyword; ``extra_body`` and
        ``extra_headers`` pass anything newer through untouched; ``timeout`` and
        ``max_retries`` override the client's for this call; ``tags`` label the request in
        ``client.usage`` (never sent). Errors before a stream's first content are raised
        here (after failover), like non-streaming ones.
        """
        client = self._client
        catalog = await client.models.list() if client._needs_catalog(model) else None
        args, books = client._prepare_chat(
            model, messages, stream, extra_body, extra_headers, max_retries, timeout, tags, params, catalog
        )
        with books:
            if stream:
                return AsyncStream(await run(client._inner.chat_stream, *args), books.stream_finished)
            return books.answered(_completion(await run(client._inner.chat, *args)))


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

        async def fetch(validator: Optional[str]) -> Tuple[Optional[bytes], Optional[str]]:
            return fetched(await run(inner.get, *_models_request(validator)))

        return await self._client._catalog.load_async(fetch, refresh=refresh, offline=offline)

    async def endpoints(self, id: str) -> ModelEndpoints:
        """Every provider endpoint serving model ``id`` (price, context, quantization,
        uptime, status)."""
        from .catalog import ModelEndpoints

        body, _ = await run(self._client._inner.get, _endpoints_path(id))
        return ModelEndpoints.from_json(body or b"{}")


class AsyncGenerations(_Resource["AsyncClient"]):
    """``client.generations``: per-request accounting (``GET /generation``)."""

    async def get(self, id: str) -> Generation:
        """Stats of one generation by its id (``resp.id``)."""
        return Generation(_data(await run(self._client._inner.get, _generation_path(id))))


class AsyncCredits(_Resource["AsyncClient"]):
    """``client.credits``."""

    async def get(self) -> Credits:
        """Total credits bought and used (``GET /credits``)."""
        return Credits(_data(await run(self._client._inner.get, "credits")))


class AsyncKey(_Resource["AsyncClient"]):
    """``client.key``."""

    async def get(self) -> KeyInfo:
        """Usage and limits of the API key in use (``GET /key``)."""
        return KeyInfo(_data(await run(self._client._inner.get, "key")))


class AsyncClient(_ClientBase):
    """Asynchronous OpenRouter client (asyncio).

    >>> client = fastrouter.AsyncClient()            # key from OPENROUTER_API_KEY
    >>> resp = await client.chat.completions.create(model="openai/gpt-4o-mini",
    ...                                             messages=[{"role": "user", "content": "hi"}])
    """

    chat: AsyncChat
    models: AsyncModels
    generations: AsyncGenerations
    credits: AsyncCredits
    key: AsyncKey

    def _add_resources(self) -> None:
        self.chat = AsyncChat(self)
        self.models = AsyncModels(self)
        self._reconciling: Set[asyncio.Task[bool]] = set()
        self.generations = AsyncGenerations(self)
        self.credits = AsyncCredits(self)
        self.key = AsyncKey(self)

    def _reconcile(self, generation_id: str) -> None:
        import asyncio

        from .usage.reconcile import reconcile_async

        async def fetch(gid: str) -> Any:
            return _json(await run(self._inner.get, _generation_path(gid)))

        task = asyncio.get_running_loop().create_task(reconcile_async(self.usage, generation_id, fetch))
        self._reconciling.add(task)
        task.add_done_callback(self._reconciling.discard)

    async def close(self) -> None:
        """Close the connection pool. Requests already running finish first."""
        self._inner.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        await self.close()


# ----------------------------------------------------------------------------- sync


class Completions(_Resource["Client"]):
    """``client.chat.completions``."""

    @overload
    def create(
        self,
        *,
        model: ModelArg,
        messages: Sequence[Any],
        stream: Literal[False] = False,
        extra_body: Optional[Mapping[str, Any]] = None,
        extra_headers: Optional[Mapping[str, str]] = None,
        max_retries: Optional[int] = None,
        timeout: Union[float, Timeout, None] = ...,
        tags: Optional[Sequence[str]] = None,
        **params: Unpack[ChatCompletionParams],
    ) -> ChatCompletion: ...

    @overload
    def create(
        self,
        *,
        model: ModelArg,
        messages: Sequence[Any],
        stream: Literal[True],
        extra_body: Optional[Mapping[str, Any]] = None,
        extra_headers: Optional[Mapping[str, str]] = None,
        max_retries: Optional[int] = None,
        timeout: Union[float, Timeout, None] = ...,
        tags: Optional[Sequence[str]] = None,
        **params: Unpack[ChatCompletionParams],
    ) -> Stream: ...

    @overload
    def create(
        self,
        *,
        model: ModelArg,
        messages: Sequence[Any],
        stream: bool,
        extra_body: Optional[Mapping[str, Any]] = None,
        extra_headers: Optional[Mapping[str, str]] = None,
        max_retries: Optional[int] = None,
        timeout: Union[float, Timeout, None] = ...,
        tags: Optional[Sequence[str]] = None,
        **params: Unpack[ChatCompletionParams],
    ) -> Union[ChatCompletion, Stream]: ...

    def create(
        self,
        *,
        model: ModelArg,
        messages: Sequence[Any],
        stream: bool = False,
        extra_body: Optional[Mapping[str, Any]] = None,
        extra_headers: Optional[Mapping[str, str]] = None,
        max_retries: Optional[int] = None,
        timeout: Union[float, Timeout, None] = NOT_GIVEN,
        tags: Optional[Sequence[str]] = None,
        **params: Unpack[ChatCompletionParams],
    ) -> Union[ChatCompletion, Stream]:
        """Create a chat completion (blocking without the GIL); with ``stream=True`` a
        :class:`Stream` of chunks.

        ``model`` is a model id, or a list of ids tried in order (client-side failover).
        Every OpenAI and OpenRouter parameter is accepted as a keyword; ``extra_body`` and
        ``extra_headers`` pass anything newer through untouched; ``timeout`` and
        ``max_retries`` override the client's for this call; ``tags`` label the request in
        ``client.usage`` (never sent). Errors before a stream's first content are raised
        here (after failover), like non-streaming ones.
        """
        client = self._client
        catalog = client.models.list() if client._needs_catalog(model) else None
        args, books = client._prepare_chat(
            model, messages, stream, extra_body, extra_headers, max_retries, timeout, tags, params, catalog
        )
        with books:
            if stream:
                return Stream(client._inner.chat_stream_blocking(*args), books.stream_finished)
            return books.answered(_completion(client._inner.chat_blocking(*args)))


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

    def endpoints(self, id: str) -> ModelEndpoints:
        """Every provider endpoint serving model ``id`` (price, context, quantization,
        uptime, status)."""
        from .catalog import ModelEndpoints

        body, _ = self._client._inner.get_blocking(_endpoints_path(id))
        return ModelEndpoints.from_json(body or b"{}")


class Generations(_Resource["Client"]):
    """``client.generations``: per-request accounting (``GET /generation``)."""

    def get(self, id: str) -> Generation:
        """Stats of one generation by its id (``resp.id``)."""
        return Generation(_data(self._client._inner.get_blocking(_generation_path(id))))


class CreditsResource(_Resource["Client"]):
    """``client.credits``."""

    def get(self) -> Credits:
        """Total credits bought and used (``GET /credits``)."""
        return Credits(_data(self._client._inner.get_blocking("credits")))


class KeyResource(_Resource["Client"]):
    """``client.key``."""

    def get(self) -> KeyInfo:
        """Usage and limits of the API key in use (``GET /key``)."""
        return KeyInfo(_data(self._client._inner.get_blocking("key")))


class Client(_ClientBase):
    """Synchronous OpenRouter client; calls block with the GIL released.

    >>> client = fastrouter.Client()                 # key from OPENROUTER_API_KEY
    >>> resp = client.chat.completions.create(model="openai/gpt-4o-mini",
    ...                                       messages=[{"role": "user", "content": "hi"}])
    """

    chat: Chat
    models: Models
    generations: Generations
    credits: CreditsResource
    key: KeyResource

    def _add_resources(self) -> None:
        self.chat = Chat(self)
        self.models = Models(self)
        self.generations = Generations(self)
        self.credits = CreditsResource(self)
        self.key = KeyResource(self)

    def _reconcile(self, generation_id: str) -> None:
        from .usage.reconcile import reconcile_in_thread

        def fetch(gid: str) -> Any:
            return _json(self._inner.get_blocking(_generation_path(gid)))

        reconcile_in_thread(self.usage, generation_id, fetch)

    def close(self) -> None:
        """Close the connection pool. Requests already running finish first."""
        self._inner.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.close()
