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
from .bound import AsyncBoundModel, BoundModel
from .cache import Cache
from .cascade import Cascade, CascadeResult
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
from .dropin.response import Headers, LegacyAPIResponse, Response
from .dropin.sentinels import NOT_GIVEN, NotGiven
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
from .health import Cooldown, ModelHealth
from .limits import Limit
from .routing import Backend, ResolvedRoute, Route, Routing, RoutingError  # routing (issue 12): + Backend
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
from .usage import Budget, CascadeTotals, UsageEntry, UsageLedger, UsageTotals

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

omit = NOT_GIVEN  # openai's `omit`: leave a parameter out (any "not given" sentinel works)
