"""openai's client options: constructor arguments taken or refused, and ``with_options()``'s per-call defaults."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from ..config import Timeout, TimeoutLike
from .sentinels import _SENTINEL_TYPES as _SENTINELS
from .sentinels import NOT_GIVEN, NotGiven, is_omitted, without_omitted

if TYPE_CHECKING:
    from .sentinels import Omitted

__all__ = ["CallDefaults", "client_options", "copy_options", "encode_query"]

# What each refused openai option is for here, and what to use instead.
_UNSUPPORTED = {
    "http_client": "fastrouter sends requests from its Rust core, not through httpx; set timeout=, "
    "max_retries= and default_headers= on the client instead",
    "websocket_base_url": "fastrouter has no Realtime (WebSocket) API",
    "webhook_secret": "OpenRouter sends no webhooks",
    "admin_api_key": "OpenRouter has no admin API keys; pass the key as api_key=",
    "workload_identity": "OpenRouter authenticates with an API key only (api_key=)",
    "provider": "this is openai's cloud provider option; OpenRouter's provider routing goes in create(provider={...})",
    "data_residency": "OpenRouter has no data-residency endpoints; use base_url=",
}


@dataclass(frozen=True)
class CallDefaults:
    """What every chat call of a client starts from: ``with_options()`` timeout, extra
    headers and query parameters (``default_query=``). A plain client has none."""

    timeout: float | Timeout | TimeoutLike | None | NotGiven = NOT_GIVEN
    headers: dict[str, str] = field(default_factory=dict)
    query: dict[str, object] = field(default_factory=dict)

    def apply(
        self,
        extra_headers: Mapping[str, str] | None,
        timeout: float | Timeout | TimeoutLike | None | NotGiven | Omitted,
        extra_query: Mapping[str, object] | None,
    ) -> tuple[dict[str, str], float | Timeout | TimeoutLike | None | NotGiven, dict[str, object]]:
        """One call's headers, timeout and query: the call's own win over these defaults;
        a "not given" sentinel counts as absent (openai's ``omit`` in ``extra_headers``
        drops a header these defaults would add)."""
        if type(timeout).__name__ in _SENTINELS:
            timeout = self.timeout
        if not (self.headers or self.query or extra_headers or extra_query):
            return {}, timeout, {}  # type: ignore[return-value]  # the common case: nothing to merge
        headers = {**self.headers, **(extra_headers or {})}
        headers = {k: v for k, v in headers.items() if not is_omitted(v)}
        query = {**self.query, **without_omitted(extra_query)}
        return headers, timeout, query  # type: ignore[return-value]


def _refuse(options: Mapping[str, Any]) -> None:
    for name, value in options.items():
        if name in _UNSUPPORTED and value is not None and not is_omitted(value):
            raise TypeError(f"fastrouter does not support {name}=: {_UNSUPPORTED[name]}")
        if name == "_strict_response_validation" and value:
            raise TypeError(
                "fastrouter does not support _strict_response_validation=True: responses are read "
                "lazily and unknown fields are kept"
            )


def client_options(
    *,
    organization: str | None,
    project: str | None,
    default_query: Mapping[str, object] | None,
    **refused: Any,
) -> tuple[dict[str, str], CallDefaults]:
    """The headers (openai's ``OpenAI-Organization`` / ``OpenAI-Project``) and call defaults
    (``default_query``) that openai's constructor arguments stand for; a ``TypeError`` naming
    the alternative for the ones fastrouter cannot honour (``http_client=``, ...)."""
    _refuse(refused)
    headers: dict[str, str] = {}
    if organization:
        headers["OpenAI-Organization"] = organization
    if project:
        headers["OpenAI-Project"] = project
    if default_query is not None and not isinstance(default_query, Mapping):
        raise TypeError(f"default_query must be a mapping, got {type(default_query).__name__}")
    return headers, CallDefaults(query=dict(default_query or {}))


def _query_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"  # as openai's query strings spell them
    return str(value)


def encode_query(query: Mapping[str, object]) -> str:
    """``extra_query`` / ``default_query`` as a URL query string (``None`` left out, a list
    repeats its key)."""
    from urllib.parse import urlencode

    pairs = []
    for key, value in query.items():
        values = value if isinstance(value, (list, tuple)) else [value]
        pairs += [(key, _query_text(v)) for v in values if v is not None]
    return urlencode(pairs)


_NEEDS_NEW_POOL = ("api_key", "base_url")


def copy_options(
    defaults: CallDefaults,
    current_max_retries: int,
    current_timeout: Timeout,
    options: Mapping[str, Any],
) -> tuple[CallDefaults, int]:
    """The call defaults and ``max_retries`` of ``client.with_options(**options)``.

    Accepted as in openai: ``timeout``, ``max_retries``, ``default_headers`` (added),
    ``set_default_headers`` (replacing), ``default_query`` / ``set_default_query``. Options
    that need another connection pool (``api_key``, ``base_url``) or that openai's
    constructor has but fastrouter refuses raise ``TypeError``.
    """
    # None keeps the current value (as in openai), except timeout=None: no timeout.
    options = {k: v for k, v in options.items() if (v is not None or k == "timeout") and not is_omitted(v)}
    for name in _NEEDS_NEW_POOL:
        if name in options:
            raise TypeError(
                f"with_options({name}=...) needs another connection pool: create a new client "
                "(fastrouter.Client(...)) instead"
            )
    if "default_headers" in options and "set_default_headers" in options:
        raise ValueError("pass default_headers= or set_default_headers=, not both")
    if "default_query" in options and "set_default_query" in options:
        raise ValueError("pass default_query= or set_default_query=, not both")
    known = {"timeout", "max_retries", "default_headers", "set_default_headers", "default_query", "set_default_query"}
    for name in options:
        if name not in known and name not in _UNSUPPORTED and name not in ("organization", "project"):
            raise TypeError(f"with_options() got an unexpected keyword argument {name!r}")
    _refuse({k: v for k, v in options.items() if k not in known})
    if "organization" in options or "project" in options:
        raise TypeError("with_options(organization=/project=) is not supported: pass default_headers= instead")
    changes: dict[str, Any] = {}
    if "timeout" in options:
        changes["timeout"] = current_timeout.for_call(options["timeout"])  # a number keeps read
    if "set_default_headers" in options:
        changes["headers"] = dict(options["set_default_headers"])
    elif "default_headers" in options:
        changes["headers"] = {**defaults.headers, **options["default_headers"]}
    if "set_default_query" in options:
        changes["query"] = dict(options["set_default_query"])
    elif "default_query" in options:
        changes["query"] = {**defaults.query, **options["default_query"]}
    max_retries = options.get("max_retries", current_max_retries)
    if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
        raise ValueError(f"max_retries must be a non-negative int, got {max_retries!r}")
    return replace(defaults, **changes), max_retries
