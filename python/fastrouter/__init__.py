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

from ._fastrouter import __version__
from .attempts import Attempt
from .cache import Cache
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
from .client import AsyncClient, Client
from .config import Hedge, Timeout
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
    ProviderError,
    RateLimitError,
    RequestTimeoutError,
    ServiceUnavailableError,
    StoreUnavailableError,
    StreamError,
    UnprocessableEntityError,
)
from .events import ChainEvent
from .health import Cooldown, ModelHealth
from .limits import Limit
from .routing import ResolvedRoute, Route, Routing, RoutingError
from .streaming import AsyncStream, Stream
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
from .usage import Budget, UsageEntry, UsageLedger, UsageTotals

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
    "Hedge",
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
    "AllModelsFailedError",
    "BudgetExceededError",
    "StoreUnavailableError",
]
