"""The fastrouter exception hierarchy.

Names follow the ``openai`` package so ``except openai.RateLimitError`` becomes
``except fastrouter.RateLimitError``. The Rust core raises these through one function,
:func:`_from_native`, which picks the class from the error *kind* the core classified
alone (never from message text, never re-deriving it from the HTTP status).

Nothing here ever holds request headers, so the API key cannot appear in an error.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._fastrouter import NativeAttempt
    from .attempts import Attempt
    from .dropin.response import Response
    from .types import ChatCompletion


class FastrouterError(Exception):
    """Base class of every error fastrouter raises."""


class APIError(FastrouterError):
    """A request to the API failed.

    Attributes: ``message``; ``kind`` (the core's classification, e.g. ``"rate_limited"``);
    ``model`` the attempt asked for; ``request_id`` (``X-Generation-Id`` when sent);
    ``attempts`` (every try of the chain that led here).
    """

    message: str
    kind: str
    model: str | None
    request_id: str | None
    attempts: list[Attempt]
    # As in openai: the error body (the decoded JSON error object, or the text of a non-JSON
    # body; None without a response) and the error object's ``type`` and ``param``.
    body: object = None
    type: str | None = None
    param: str | None = None

    def __init__(
        self,
        message: str,
        *,
        kind: str = "error",
        model: str | None = None,
        request_id: str | None = None,
        attempts: Sequence[Attempt] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind
        self.model = model
        self.request_id = request_id
        self.attempts = list(attempts or ())


class APIConnectionError(APIError):
    """No usable response: the connection failed, broke, or the client is closed."""


class APITimeoutError(APIConnectionError, TimeoutError):
    """A connect, read, first-token, per-attempt or total timeout expired."""


class APIResponseValidationError(APIError):
    """The server answered with a success status but a body that is not what the API sends:
    not a JSON object, a field of the wrong type where the core reads it (``usage`` that
    is not an object, say), or JSON no parser reads (nested deeper than Python's recursion
    limit). ``attempts`` still lists the request's tries, so what the answer cost is booked.
    Numbers past a float's range read as ``json.loads`` reads them (``inf``). The core's
    refusals are retried like a server error; JSON no parser reads is found once the
    answer is in, and is not."""

    def __init__(self, message: str, *, body: str | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.body = body


class APIStatusError(APIError):
    """The API answered with an error status (or an error object inside a 200 body).

    ``status_code`` is the HTTP status the error stands for; ``code`` is OpenRouter's
    ``error.code`` as sent (usually the status, sometimes a string); ``metadata`` is
    ``error.metadata`` (``provider_name``, ``raw``, moderation ``reasons`` and
    ``flagged_input``, ...); ``provider`` the upstream provider named; ``body`` the error
    object (``{"code", "message", "metadata"}``) of a JSON error, or the start of a
    non-JSON body (e.g. a proxy's HTML page); ``retry_after`` in seconds. As in openai:
    ``type`` and ``param`` of the error object, ``response`` (``status_code``,
    ``headers``, ``json()``).
    """

    status_code: int | None
    code: Any
    metadata: dict[str, Any]
    provider: str | None
    retry_after: float | None

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        code: Any = None,
        metadata: Mapping[str, Any] | None = None,
        provider: str | None = None,
        retry_after: float | None = None,
        body: object = None,
        headers: Sequence[tuple[str, str]] = (),
        **kwargs: Any,
    ) -> None:
        super().__init__(message, **kwargs)
        self.status_code = status_code
        self.code = code
        self.metadata = dict(metadata or {})
        self.provider = provider
        self.retry_after = retry_after
        self.body = body
        self._headers = headers
        if isinstance(body, dict):
            self.type = _str_or_none(body.get("type") or self.metadata.get("error_type"))
            self.param = _str_or_none(body.get("param"))

    @property
    def response(self) -> Response:
        """The error response as openai's ``e.response``: ``status_code``, ``headers``
        (those the core reported) and the body (``json()`` / ``text``)."""
        from .dropin.response import Response

        body = self.body
        content = json.dumps({"error": body}).encode() if isinstance(body, dict) else str(body or "").encode()
        return Response(self.status_code or 0, self._headers, content)

    def __str__(self) -> str:
        parts = [self.message]
        if self.status_code is not None:
            parts.append(f"status {self.status_code}")
        if self.provider:
            parts.append(f"provider {self.provider}")
        if self.model:
            parts.append(f"model {self.model}")
        return parts[0] if len(parts) == 1 else f"{parts[0]} ({', '.join(parts[1:])})"


def _str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


def _header_pairs(block: str | None) -> tuple[tuple[str, str], ...]:
    """The core's ``name: value`` header lines as pairs."""
    if not block:
        return ()
    return tuple((name, value) for name, _, value in (line.partition(": ") for line in block.splitlines()))


def _error_object(code: Any, message: str, metadata: Mapping[str, Any] | None) -> dict[str, Any]:
    """The JSON error object (``{"code", "message", "metadata"}``) as the core read it."""
    error: dict[str, Any] = {"code": code, "message": message}
    if metadata is not None:
        error["metadata"] = dict(metadata)
    return error


class BadRequestError(APIStatusError):
    """400: the request is invalid (parameters, context length, upstream validation)."""


class AuthenticationError(APIStatusError):
    """401, or no API key configured: missing, invalid or disabled key."""


class InsufficientCreditsError(APIStatusError):
    """402: not enough credits (also for free models when the balance is negative)."""


class PermissionDeniedError(APIStatusError):
    """403: moderation or guardrail block, key permissions, region restriction.

    For moderation, ``metadata`` has ``reasons`` and ``flagged_input``.
    """


class NotFoundError(APIStatusError):
    """404: no endpoint can serve this model with these requirements."""


class RequestTimeoutError(APIStatusError):
    """408: the server timed the request out."""


class ConflictError(APIStatusError):
    """409: conflict."""


class UnprocessableEntityError(APIStatusError):
    """422: the request is well-formed but semantically invalid."""


class RateLimitError(APIStatusError):
    """429: rate limited by OpenRouter or the upstream provider; see ``retry_after``.

    ``client_side`` is True when fastrouter's own :class:`~fastrouter.Limit` refused the
    request before sending anything (``kind`` ``"client_rate_limited"``, no status)."""

    client_side: bool = False


class InternalServerError(APIStatusError):
    """5xx: a server-side failure."""


class ProviderError(InternalServerError):
    """502: the upstream provider failed or returned an invalid response."""


class ServiceUnavailableError(InternalServerError):
    """503: no provider can take the request right now."""


class StreamError(APIError):
    """A stream failed after it began: an error event arrived, the connection was cut, or
    an event was not a chunk (JSON the core cannot read whole, e.g. a number past a
    float's range, is refused rather than read as an empty chunk).

    ``partial`` is the :class:`~fastrouter.ChatCompletion` of what was received (content,
    tool calls, usage and cost when known); ``status_code``/``code``/``metadata`` describe
    the in-band error when there was one.
    """

    partial: ChatCompletion | None
    status_code: int | None
    code: Any
    metadata: dict[str, Any]

    def __init__(
        self,
        message: str,
        *,
        partial: ChatCompletion | None = None,
        status_code: int | None = None,
        code: Any = None,
        metadata: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(message, **kwargs)
        self.partial = partial
        self.status_code = status_code
        self.code = code
        self.metadata = dict(metadata or {})


class StreamTimeoutError(StreamError, APITimeoutError):
    """A stream that had begun was stopped by a timeout (the total deadline, or no progress
    within the idle timeout): caught by ``except APITimeoutError`` and ``except StreamError``
    alike, with ``partial`` holding what was received."""


class AllModelsFailedError(APIError):
    """Every model of a chain failed. ``attempts`` lists each try; ``last_error`` is the
    error of the final attempt, whose ``kind``, ``model``, ``request_id`` and
    ``status_code`` (``None`` when it had no HTTP status) this error repeats, so
    ``except APIError`` handles a chain like a single model."""

    last_error: APIError | None
    status_code: int | None

    def __init__(
        self,
        message: str,
        *,
        attempts: Sequence[Attempt] = (),
        last_error: APIError | None = None,
    ) -> None:
        super().__init__(
            message,
            kind=last_error.kind if last_error is not None else "error",
            model=last_error.model if last_error is not None else None,
            request_id=last_error.request_id if last_error is not None else None,
            attempts=attempts,
        )
        self.last_error = last_error
        self.status_code = getattr(last_error, "status_code", None)


class BudgetExceededError(FastrouterError):
    """A request would break a configured budget; raised before anything is sent."""


class PriceUnknownError(BudgetExceededError):
    """A budget applies but the request's worst case cannot be priced (a model missing
    from the catalog, a router, a backend without prices); nothing was sent. See
    ``Budget(unknown_price=...)``."""


class RoutingWarning(UserWarning):
    """A routing entry was used as is though it could not be checked (an id the catalog
    does not list, even after refreshing it)."""


class StoreUnavailableError(FastrouterError, ConnectionError):
    """The shared store (``store="redis://..."``) could not be reached; raised before the
    request is sent, unless the client was made with ``on_store_error="open"``.

    ``unsent`` is True when the operation surely never reached the store (the connection
    was refused, or the host not found); False when it may have (a timeout, a dropped
    connection)."""

    unsent: bool = False


class CatalogUnavailableError(FastrouterError, LookupError):
    """No catalog could be had: offline (``offline=True``) with nothing cached."""


class RoutingError(FastrouterError, ValueError):
    """A routing configuration is invalid, or a route cannot be resolved.

    ``source`` is the file (or ``"<dict>"``, ``"<string>"``; ``None`` for objects built
    in code), ``key`` the dotted key (``"routes.smart.min_context"``, ``"aliases.fast[1]"``),
    ``suggestion`` how to fix it; ``message`` the problem alone. ``str()`` joins them::

        fastrouter.toml: routes.smart.mode: unknown mode 'fastst' (did you mean 'fastest'?)
    """

    message: str
    source: str | None
    key: str | None
    suggestion: str | None

    def __init__(
        self,
        message: str,
        *,
        source: str | None = None,
        key: str | None = None,
        suggestion: str | None = None,
    ) -> None:
        self.message = message
        self.source = source
        self.key = key
        self.suggestion = suggestion
        super().__init__(self._render())

    def _render(self) -> str:
        text = ": ".join([p for p in (self.source, self.key) if p] + [self.message])
        return f"{text} ({self.suggestion})" if self.suggestion else text

    def __str__(self) -> str:
        return self._render()

    def _with_source(self, source: str | None) -> RoutingError:
        if self.source is not None or source is None:
            return self
        return RoutingError(self.message, source=source, key=self.key, suggestion=self.suggestion)


# The core's error kind (``ErrorKind::as_str`` in src/error.rs) -> the class raised for
# an error status. The core classified the status already; this only names the class.
_BY_KIND: dict[str, type[APIStatusError]] = {
    "bad_request": BadRequestError,
    "context_length_exceeded": BadRequestError,
    "model_not_found": BadRequestError,
    "authentication": AuthenticationError,
    "insufficient_credits": InsufficientCreditsError,
    "permission_denied": PermissionDeniedError,
    "not_found": NotFoundError,
    "request_timeout": RequestTimeoutError,
    "conflict": ConflictError,
    "unprocessable_entity": UnprocessableEntityError,
    "rate_limited": RateLimitError,
    "quota_exhausted": RateLimitError,
    "provider": ProviderError,
    "service_unavailable": ServiceUnavailableError,
    "server": InternalServerError,
}


def _from_native(
    *,
    kind: str,
    message: str,
    status: int | None,
    code: Any,
    metadata: Any,  # the error object's `metadata` as sent: usually an object
    retry_after: float | None,
    request_id: str | None,
    provider: str | None,
    model: str | None,
    body: str | None,
    attempts: Sequence[NativeAttempt],
    exhausted_chain: bool,
    partial: str | None = None,
    answer_cost: str | None = None,
    headers: str | None = None,
) -> FastrouterError:
    """Build the exception for an error the Rust core classified (called from Rust)."""
    from .attempts import Attempt

    tries = [Attempt._from_native(a) for a in attempts]
    if not isinstance(metadata, dict):
        metadata = None  # an error's `metadata` as sent, when it is not an object (a string, a list)
    common: dict[str, Any] = {
        "kind": kind,
        "model": model,
        "request_id": request_id,
        "attempts": tries,
    }
    error: APIError
    if kind == "timeout":
        error = APITimeoutError(message, **common)
    elif kind in ("connection", "connection_setup"):
        error = APIConnectionError(message, **common)
    elif kind == "invalid_response":
        error = APIResponseValidationError(message, body=body, **common)
    elif kind in ("stream", "stream_timeout"):
        from .types import ChatCompletion

        received = None
        if partial is not None:
            try:
                data = json.loads(partial)
            except (ValueError, RecursionError):  # Python's limits lowered since the core checked
                data = None
            if data is not None:
                received = ChatCompletion._from_native(data, attempts, answer_cost)
        stream_class = StreamTimeoutError if kind == "stream_timeout" else StreamError
        error = stream_class(message, partial=received, status_code=status, code=code, metadata=metadata, **common)
    elif kind in ("invalid_request", "internal"):
        error = APIError(message, **common)
    else:
        cls = _BY_KIND.get(kind, APIStatusError)
        if kind == "model_not_found" and status == 404:
            cls = NotFoundError  # OpenAI-style servers say "no such model" with a 404, as openai raises it
        error = cls(
            message,
            status_code=status,
            code=code,
            metadata=metadata,
            provider=provider,
            retry_after=retry_after,
            body=body if body is not None else _error_object(code, message, metadata),
            headers=_header_pairs(headers),
            **common,
        )
    if not exhausted_chain:
        return error
    models = list(dict.fromkeys(a.model for a in tries))
    summary = f"all {len(models)} models failed ({', '.join(models)}); last error: {error}"
    return AllModelsFailedError(summary, attempts=tries, last_error=error)


# Every exception class above (and the routing warning), as they are defined: no second list.
__all__ = [name for name, value in list(globals().items()) if isinstance(value, type) and value.__module__ == __name__]
