"""The request parameters of ``chat.completions.create``: every OpenAI parameter and every
OpenRouter one, typed. Anything newer goes through ``extra_body``."""

from __future__ import annotations

import inspect
import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypedDict

from ._fastrouter import encode_json
from .dropin.sentinels import OrOmitted, without_omitted

if TYPE_CHECKING:
    from typing_extensions import Required

    from .cascade.tiers import Cascade
    from .config import Timeout, TimeoutLike

__all__ = [
    "CallOptions",
    "ChatCompletionParams",
    "CreateParams",
    "OpenAIParams",
    "OpenRouterParams",
    "ParseParams",
    "PARAM_NAMES",
    "RequestOptions",
    "ResponseFormatParams",
    "StructuredParams",
    "build_body",
]


class OpenAIParams(TypedDict, total=False):
    """Every parameter of ``openai``'s ``chat.completions.create`` (besides model, messages
    and stream), typed loosely enough (Mapping, Sequence, Iterable; ``openai.NOT_GIVEN`` /
    ``openai.omit`` allowed) that openai's own TypedDicts and tuples type-check."""

    audio: OrOmitted[Mapping[str, Any]]
    frequency_penalty: OrOmitted[float]
    function_call: OrOmitted[str | Mapping[str, Any]]
    functions: OrOmitted[Iterable[Mapping[str, Any]]]
    logit_bias: OrOmitted[Mapping[str, int]]
    logprobs: OrOmitted[bool]
    max_completion_tokens: OrOmitted[int]
    max_tokens: OrOmitted[int]
    metadata: OrOmitted[Mapping[str, str]]
    modalities: OrOmitted[Sequence[str]]
    moderation: OrOmitted[Mapping[str, Any]]
    n: OrOmitted[int]
    parallel_tool_calls: OrOmitted[bool]
    prediction: OrOmitted[Mapping[str, Any]]
    presence_penalty: OrOmitted[float]
    prompt_cache_key: OrOmitted[str]
    prompt_cache_options: OrOmitted[Mapping[str, Any]]
    prompt_cache_retention: OrOmitted[str]
    reasoning_effort: OrOmitted[str]
    safety_identifier: OrOmitted[str]
    seed: OrOmitted[int]
    service_tier: OrOmitted[str]
    stop: OrOmitted[str | Sequence[str]]
    store: OrOmitted[bool]
    stream_options: OrOmitted[Mapping[str, Any]]
    temperature: OrOmitted[float]
    tool_choice: OrOmitted[str | Mapping[str, Any]]
    tools: OrOmitted[Iterable[Mapping[str, Any]]]
    top_logprobs: OrOmitted[int]
    top_p: OrOmitted[float]
    user: OrOmitted[str]
    verbosity: OrOmitted[str]
    web_search_options: OrOmitted[Mapping[str, Any]]


class ResponseFormatParams(TypedDict, total=False):
    """``response_format`` (apart, since ``parse()`` and ``stream()`` type it their way)."""

    response_format: OrOmitted[Mapping[str, Any]]


class OpenRouterParams(TypedDict, total=False):
    """OpenRouter's own request parameters."""

    models: OrOmitted[Sequence[str]]
    provider: OrOmitted[Mapping[str, Any]]
    reasoning: OrOmitted[Mapping[str, Any]]
    transforms: OrOmitted[Sequence[str]]
    plugins: OrOmitted[Iterable[Mapping[str, Any]]]
    usage: OrOmitted[Mapping[str, Any]]
    top_k: OrOmitted[int]
    top_a: OrOmitted[float]
    min_p: OrOmitted[float]
    repetition_penalty: OrOmitted[float]
    session_id: OrOmitted[str]
    trace: OrOmitted[Mapping[str, Any]]
    debug: OrOmitted[Mapping[str, Any]]
    image_config: OrOmitted[Mapping[str, Any]]
    include_reasoning: OrOmitted[bool]


class RequestOptions(TypedDict, total=False):
    """Per-request options that are not part of the JSON body."""

    extra_query: OrOmitted[Mapping[str, object]]


class ChatCompletionParams(OpenAIParams, ResponseFormatParams, OpenRouterParams, RequestOptions, total=False):
    """Optional keyword arguments of ``chat.completions.create``."""

    # fastrouter's own, never sent: USD ceiling for this request's worst case (routing/plan.py)
    max_cost_per_request: float | str | Decimal | None


class CallOptions(TypedDict, total=False):
    """``create()``'s keywords on how the call is made (none is sent as it is): ``extra_body``
    and ``extra_headers`` pass anything newer through untouched; ``timeout`` and
    ``max_retries`` override the client's for this call; ``tags`` label the request in
    ``client.usage``; ``cache=False`` skips the response cache for this call and
    ``cache=<seconds>`` sets the ttl of the answer it stores."""

    extra_body: Mapping[str, Any] | None
    extra_headers: Mapping[str, str] | None
    max_retries: int | None
    timeout: float | Timeout | TimeoutLike | None
    tags: Sequence[str] | None
    cache: bool | float | None


class CreateParams(ChatCompletionParams, CallOptions, total=False):
    """Every keyword of ``chat.completions.create`` but ``stream``, declared once for both
    clients: ``model`` (an id, a list of ids tried in order, an alias, a route or a
    :class:`~fastrouter.Cascade`; else the routing's ``default_route``) and ``messages``."""

    model: str | Sequence[str] | Cascade | None
    messages: Required[Sequence[Any]]


class StructuredParams(OpenAIParams, OpenRouterParams, RequestOptions, total=False):
    """Optional keyword arguments of ``parse()`` and ``stream()`` (which take their own
    ``response_format``)."""


class ParseParams(StructuredParams, CallOptions, total=False):
    """Every keyword of ``parse()`` and ``stream()`` but ``response_format``."""

    model: Required[str | Sequence[str] | Cascade]
    messages: Required[Iterable[Any]]


PARAM_NAMES: frozenset[str] = frozenset(
    [*OpenAIParams.__annotations__, *ResponseFormatParams.__annotations__, *OpenRouterParams.__annotations__]
)
REQUEST_OPTIONS: frozenset[str] = frozenset(RequestOptions.__annotations__)


# Parameters openai types as Iterable (a generator is fine there); JSON needs a list.
_ITERABLE_PARAMS = ("tools", "functions", "plugins")


def _openai_param_names() -> frozenset[str]:
    """The parameters of the ``openai`` package's ``create()``, when the program has
    imported openai (never imported here): a parameter newer than this list passes through."""
    openai = sys.modules.get("openai")
    completions = getattr(getattr(openai, "resources", None), "chat", None)
    create = getattr(getattr(completions, "Completions", None), "create", None)
    if create is None:
        return frozenset()
    try:
        return frozenset(inspect.signature(create).parameters)
    except (TypeError, ValueError):
        return frozenset()


def _close_match(name: str, names: Iterable[str]) -> str:
    import difflib

    matches = difflib.get_close_matches(name, list(names), n=1)
    return f" Did you mean {matches[0]!r}?" if matches else ""


def _jsonable(value: Any) -> Any:
    """Response objects (``resp.choices[0].message``) and pydantic-style models become
    plain dicts, so conversation history can be passed back as is."""
    for method in ("to_dict", "model_dump"):
        convert = getattr(value, method, None)
        if callable(convert):
            return convert()
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


# One encoder for every request (``json.dumps`` with options builds a new one per call).
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=_jsonable, allow_nan=False)
# The same encoder's C core, called directly: ``JSONEncoder.encode`` builds a new one per
# call. No circular-reference bookkeeping (no state shared between threads): a circular
# body exhausts the recursion limit instead, and ``_ENCODER`` then says what is wrong.
_c_encoder = getattr(json.encoder, "c_make_encoder", None)
_encode_c = (
    _c_encoder(None, _jsonable, json.encoder.encode_basestring, None, ":", ",", False, False, False)
    if _c_encoder is not None
    else None
)


def _encode(body: dict[str, Any]) -> bytes | str:
    """``_ENCODER.encode(body)``: written by the core (as UTF-8) when the body is plain JSON
    data (the usual request), else by the C encoder (``to_dict()`` objects, big ints, ...)."""
    native = encode_json(body)
    if native is not None:
        return native
    if _encode_c is None:
        return _ENCODER.encode(body)
    try:
        return "".join(_encode_c(body, 0))
    except RecursionError:
        return _ENCODER.encode(body)  # raises "Circular reference detected" if it is one


def build_body(
    messages: Any,
    params: Mapping[str, Any],
    extra_body: Mapping[str, Any] | None,
    *,
    stream: bool = False,
) -> bytes:
    """The JSON request object without ``model`` (the core adds it per attempt).

    ``params`` holds no "not given" sentinels (the client drops them first); one in
    ``extra_body`` is dropped here. A name that is a parameter of neither OpenRouter nor
    ``openai`` (when the user's program has imported it) is a ``TypeError`` with a hint.
    """
    unknown = [name for name in params if name not in PARAM_NAMES] if params else None
    if unknown:
        newer = _openai_param_names()
        for name in unknown:
            if name not in newer:
                raise TypeError(
                    f"create() got an unexpected keyword argument {name!r}.{_close_match(name, PARAM_NAMES)}"
                    " Pass newer or provider-specific fields in extra_body={...}."
                )
    if not isinstance(messages, (list, tuple)):
        if isinstance(messages, (str, bytes, Mapping)) or not isinstance(messages, Iterable):
            raise TypeError("messages must be a non-empty list of message dicts")
        messages = list(messages)
    if not messages:
        raise TypeError("messages must be a non-empty list of message dicts")
    if extra_body is not None and not isinstance(extra_body, Mapping):
        raise TypeError(f"extra_body must be a dict of extra JSON fields, got {type(extra_body).__name__}")
    for name in _ITERABLE_PARAMS if params else ():
        value = params.get(name)
        if value is not None and not isinstance(value, (list, tuple)):
            params = {**params, name: list(value)}
    extra_body = without_omitted(extra_body) if extra_body else None
    body: dict[str, Any] = {"messages": messages}
    body.update(params)
    if stream:
        body["stream"] = True
    if extra_body:
        body.update(extra_body)
    body.pop("model", None)
    try:
        encoded = _encode(body)
    except ValueError as error:
        # NaN, infinity or an int past Python's digit limit: name where the value is
        # instead of sending bad JSON.
        raise ValueError(_unwritable_message(body, extra_body or {}, error)) from None
    return encoded if isinstance(encoded, bytes) else encoded.encode()


def _unwritable_message(body: Mapping[str, Any], extra_body: Mapping[str, Any], error: ValueError) -> str:
    """Where the first value in ``body`` JSON cannot hold is, spelled as the caller passed
    it; else what the encoder said."""
    for key, value in body.items():
        where = _unwritable_path(value, "")
        if where is not None:
            root = f"extra_body[{key!r}]" if key in extra_body else key
            path, bad = where
            if isinstance(bad, int):
                return (
                    f"{root}{path} is an int of more than {sys.get_int_max_str_digits()} digits, past Python's"
                    " limit for writing one (sys.set_int_max_str_digits)"
                )
            return f"{root}{path} must be a finite number, got {bad!r} (JSON has no NaN or infinity)"
    return f"the request cannot be written as JSON: {error}"


def _unwritable_path(value: Any, path: str) -> tuple[str, float | int] | None:
    if isinstance(value, float):
        return None if value == value and value not in (float("inf"), float("-inf")) else (path, value)
    if isinstance(value, int) and not isinstance(value, bool):
        limit = sys.get_int_max_str_digits()
        # A bound on its digits from its bits; only a number near the limit is written out.
        if limit and value.bit_length() > limit * 3.32 - 4:
            try:
                str(value)
            except ValueError:
                return path, value
        return None
    if isinstance(value, Mapping):
        items: Iterable[tuple[Any, Any]] = value.items()
    elif isinstance(value, (list, tuple)):
        items = enumerate(value)
    else:
        try:
            return _unwritable_path(_jsonable(value), path)
        except TypeError:
            return None
    for key, item in items:
        found = _unwritable_path(item, f"{path}[{key!r}]")
        if found is not None:
            return found
    return None
