"""fastrouter: the fastest, most dependable way to call OpenRouter from Python.

A Rust core (pooled HTTP/2 transport, model chains with retries, exact cost) behind the
API you know from the ``openai`` package::

    import fastrouter

    client = fastrouter.Client()          # OPENROUTER_API_KEY from the environment
    resp = client.chat.completions.create(
        model=["openai/gpt-4o-mini", "anthropic/claude-3.5-haiku"],   # a failover chain
        messages=[{"role": "user", "content": "Hello!"}],
    )
    print(resp.choices[0].message.content, resp.cost)

For offline tests, :class:`fastrouter.testing.MockServer` is an OpenRouter look-alike
server bundled in the wheel.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._fastrouter import __version__

if TYPE_CHECKING:  # what type checkers and IDEs see; at run time __getattr__ imports on first use
    from .attempts import Attempt
    from .bound import (
        AsyncBoundModel,
        BoundModel,
    )
    from .cache import Cache
    from .cascade import (
        Cascade,
        CascadeResult,
    )
    from .catalog import (
        Architecture,
        Catalog,
        CatalogCache,
        CatalogUnavailableError,
        Endpoint,
        Model,
        ModelEndpoints,
        Pricing,
        TopProvider,
    )
    from .client import (
        AsyncClient,
        Client,
    )
    from .config import (
        Hedge,
        Timeout,
    )
    from .dropin.response import (
        Headers,
        LegacyAPIResponse,
        Response,
    )
    from .dropin.sentinels import (
        NOT_GIVEN,
        NotGiven,
        omit,
    )
    from .dropin.structured import (
        ContentFilterFinishReasonError,
        LengthFinishReasonError,
        ParsedChatCompletion,
        ParsedChatCompletionMessage,
        ParsedChoice,
    )
    from .errors import (
        AllModelsFailedError,
        APIConnectionError,
        APIError,
        APIResponseValidationError,
        APIStatusError,
        APITimeoutError,
        AuthenticationError,
        BadRequestError,
        BudgetExceededError,
        ConflictError,
        FastrouterError,
        InsufficientCreditsError,
        InternalServerError,
        NotFoundError,
        PermissionDeniedError,
        PriceUnknownError,
        ProviderError,
        RateLimitError,
        RequestTimeoutError,
        RoutingWarning,
        ServiceUnavailableError,
        StoreUnavailableError,
        StreamError,
        StreamTimeoutError,
        UnprocessableEntityError,
    )
    from .events import ChainEvent
    from .health import (
        Cooldown,
        ModelHealth,
    )
    from .limits import Limit
    from .routing import (
        Backend,
        ResolvedRoute,
        Route,
        Routing,
        RoutingError,
    )
    from .streaming import (
        AsyncStream,
        Stream,
    )
    from .types import (
        ChatCompletion,
        ChatCompletionChunk,
        ChatCompletionMessage,
        ChatCompletionMessageToolCall,
        Choice,
        CompletionUsage,
        Credits,
        Generation,
        KeyInfo,
    )
    from .usage import (
        Budget,
        CascadeTotals,
        UsageEntry,
        UsageLedger,
        UsageTotals,
    )

# Public name -> the module that defines it. `import fastrouter` loads none of them; the first
# `fastrouter.X` (or `from fastrouter import X`) imports X's module and caches X here.
_LAZY: dict[str, str] = {
    "Attempt": ".attempts",
    "AsyncBoundModel": ".bound",
    "BoundModel": ".bound",
    "Cache": ".cache",
    "Cascade": ".cascade",
    "CascadeResult": ".cascade",
    "Architecture": ".catalog",
    "Catalog": ".catalog",
    "CatalogCache": ".catalog",
    "CatalogUnavailableError": ".catalog",
    "Endpoint": ".catalog",
    "Model": ".catalog",
    "ModelEndpoints": ".catalog",
    "Pricing": ".catalog",
    "TopProvider": ".catalog",
    "AsyncClient": ".client",
    "Client": ".client",
    "Hedge": ".config",
    "Timeout": ".config",
    "Headers": ".dropin.response",
    "LegacyAPIResponse": ".dropin.response",
    "Response": ".dropin.response",
    "NOT_GIVEN": ".dropin.sentinels",
    "NotGiven": ".dropin.sentinels",
    "omit": ".dropin.sentinels",
    "ContentFilterFinishReasonError": ".dropin.structured",
    "LengthFinishReasonError": ".dropin.structured",
    "ParsedChatCompletion": ".dropin.structured",
    "ParsedChatCompletionMessage": ".dropin.structured",
    "ParsedChoice": ".dropin.structured",
    "AllModelsFailedError": ".errors",
    "APIConnectionError": ".errors",
    "APIError": ".errors",
    "APIResponseValidationError": ".errors",
    "APIStatusError": ".errors",
    "APITimeoutError": ".errors",
    "AuthenticationError": ".errors",
    "BadRequestError": ".errors",
    "BudgetExceededError": ".errors",
    "ConflictError": ".errors",
    "FastrouterError": ".errors",
    "InsufficientCreditsError": ".errors",
    "InternalServerError": ".errors",
    "NotFoundError": ".errors",
    "PermissionDeniedError": ".errors",
    "PriceUnknownError": ".errors",
    "ProviderError": ".errors",
    "RateLimitError": ".errors",
    "RequestTimeoutError": ".errors",
    "RoutingWarning": ".errors",
    "ServiceUnavailableError": ".errors",
    "StoreUnavailableError": ".errors",
    "StreamError": ".errors",
    "StreamTimeoutError": ".errors",
    "UnprocessableEntityError": ".errors",
    "ChainEvent": ".events",
    "Cooldown": ".health",
    "ModelHealth": ".health",
    "Limit": ".limits",
    "Backend": ".routing",
    "ResolvedRoute": ".routing",
    "Route": ".routing",
    "Routing": ".routing",
    "RoutingError": ".routing",
    "AsyncStream": ".streaming",
    "Stream": ".streaming",
    "ChatCompletion": ".types",
    "ChatCompletionChunk": ".types",
    "ChatCompletionMessage": ".types",
    "ChatCompletionMessageToolCall": ".types",
    "Choice": ".types",
    "CompletionUsage": ".types",
    "Credits": ".types",
    "Generation": ".types",
    "KeyInfo": ".types",
    "Budget": ".usage",
    "CascadeTotals": ".usage",
    "UsageEntry": ".usage",
    "UsageLedger": ".usage",
    "UsageTotals": ".usage",
}


if not TYPE_CHECKING:  # hidden from type checkers, so a misspelt name stays an error there
    # The catalog, routing, the ledger and the CLI load only when a program uses them.
    from . import _lazy

    __getattr__, __dir__ = _lazy.lazy_names(__name__, globals(), _LAZY)


__all__ = [
    "__version__",
    "AsyncClient",
    "Client",
    "Timeout",
    "Cooldown",
    "Budget",
    "Limit",
    "Cache",
    "Catalog",
    "CatalogCache",
    "CatalogUnavailableError",
    "Model",
    "Pricing",
    "Architecture",
    "TopProvider",
    "Endpoint",
    "ModelEndpoints",
    "Routing",
    "Route",
    "ResolvedRoute",
    "RoutingError",
    "UsageLedger",
    "UsageEntry",
    "UsageTotals",
    "CascadeTotals",
    "Hedge",
    "Cascade",
    "CascadeResult",
    "ChainEvent",
    "ModelHealth",
    "AsyncStream",
    "Stream",
    "Attempt",
    "ChatCompletion",
    "ChatCompletionChunk",
    "ChatCompletionMessage",
    "ChatCompletionMessageToolCall",
    "Choice",
    "CompletionUsage",
    "Credits",
    "Generation",
    "KeyInfo",
    "FastrouterError",
    "APIError",
    "APIConnectionError",
    "APITimeoutError",
    "APIResponseValidationError",
    "APIStatusError",
    "BadRequestError",
    "AuthenticationError",
    "InsufficientCreditsError",
    "PermissionDeniedError",
    "NotFoundError",
    "RequestTimeoutError",
    "ConflictError",
    "UnprocessableEntityError",
    "RateLimitError",
    "InternalServerError",
    "ProviderError",
    "ServiceUnavailableError",
    "StreamError",
    "StreamTimeoutError",
    "AllModelsFailedError",
    "BudgetExceededError",
    # routing (issue 12)
    "PriceUnknownError",
    "RoutingWarning",
    "Backend",
    "AsyncBoundModel",
    "BoundModel",
    # openai drop-in (fastrouter.dropin)
    "NOT_GIVEN",
    "NotGiven",
    "omit",
    "Headers",
    "Response",
    "LegacyAPIResponse",
    "ParsedChatCompletion",
    "ParsedChatCompletionMessage",
    "ParsedChoice",
    "LengthFinishReasonError",
    "ContentFilterFinishReasonError",
    "StoreUnavailableError",
]
