"""Typed response objects for OpenRouter / OpenAI-compatible API responses.

Design: every response object is a thin, lazy wrapper around the plain ``dict``
decoded from the JSON body. Constructing one (``ChatCompletion(data)``) only
stores a reference to the dict, so construction is O(1) no matter how large the
response is. This matters for streaming, where one object is created per chunk,
thousands of times per second: nothing is walked, validated or copied up front.

Fields are declared as class annotations (so type checkers and IDEs see ordinary
typed attributes). When this module is imported, ``_finalize_models`` resolves
those annotations with ``typing.get_type_hints`` and installs one read-only
descriptor (a ``property``) per field:

* scalar fields return ``self._data.get(name)`` (``None`` when absent);
* nested model fields wrap the nested dict on first access and cache the wrapper;
* ``list[Model]`` fields wrap each element on first access and cache the list.

A field declared ``Optional[...]`` yields ``None`` when it is missing or null; a
nested model or model list declared without ``Optional`` yields an empty model
or an empty list instead, so ``chunk.choices[0].delta.content`` never trips
over a missing ``delta``. A nested value of the wrong JSON type raises
``TypeError`` when (and only when) it is accessed.

Unknown fields are kept, never fatal: attribute access falls back to the raw
dict (``resp.some_new_field``), and ``to_dict()`` / ``to_json()`` return
everything the server sent.

A model's JSON object is its ``_json``. In an answer the core made (a non-streamed
``ChatCompletion`` and its ``usage``) it starts as the object still on the core's tape
(``TapeObject``): each field read takes just that member, and ``_data``, the dict, is
built the first time something asks for the whole (``to_dict``, ``==``, ``repr``, an
unknown field, pickling), holding every part already handed out. Most callers read a
few fields, so most answers never build those dicts.
"""

# `typing.Optional` is deliberately kept instead of `X | None`: the field annotations
# are read at import by `_cheap_hint`, which knows the `Optional[...]` spelling (reading
# them without `typing.get_type_hints` keeps `import fastrouter` cheap).
# ruff: noqa: UP045

from __future__ import annotations

import json
import sys
import typing
from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar, Optional

from ._fastrouter import FieldGetter, json_get, model_data
from .attempts import Attempt
from .dropin.dump import dump as _dump
from .dropin.dump import model_dump as _model_dump
from .errors import APIError

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from ._fastrouter import NativeChat, NativeHeaders
    from .cascade.result import CascadeResult
    from .dropin.dump import DumpOptions

__all__ = [
    "Annotation",
    "ChatCompletion",
    "ChatCompletionChunk",
    "ChatCompletionMessage",
    "ChatCompletionMessageToolCall",
    "Choice",
    "ChoiceDelta",
    "ChoiceDeltaToolCall",
    "ChoiceDeltaToolCallFunction",
    "ChoiceError",
    "ChoiceLogprobs",
    "ChunkChoice",
    "CompletionTokensDetails",
    "CompletionUsage",
    "CostDetails",
    "Credits",
    "Function",
    "Generation",
    "KeyInfo",
    "PromptTokensDetails",
    "ReasoningDetail",
    "TokenLogprob",
    "TopLogprob",
    "URLCitation",
]

_SLOT_NAMES = frozenset(
    ("_data", "_json", "_cache", "_attempts", "_answer_cost", "_priced_cost", "_cascade", "_http", "_cached")
)
_new_object = object.__new__
_REPR_MAX_FIELDS = 8
_REPR_MAX_STR = 40


def _copy_json(value: Any, exclude_none: bool) -> Any:
    """Deep-copy a JSON-decoded value (dicts and lists; leaves are immutable)."""
    if isinstance(value, dict):
        if exclude_none:
            return {k: _copy_json(v, True) for k, v in value.items() if v is not None}
        return {k: _copy_json(v, False) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy_json(v, exclude_none) for v in value]
    return value


def _short(value: Any) -> str:
    if isinstance(value, str) and len(value) > _REPR_MAX_STR:
        return repr(value[: _REPR_MAX_STR - 3] + "...")
    return repr(value)


def _set_json(model: _Model, data: Any) -> None:
    model._json = data


class _ModelMeta(type):
    """Every model is slotted: a class naming no ``__slots__`` gets none of its own (its
    fields are properties over the JSON object, never instance attributes)."""

    def __new__(mcs, name: str, bases: tuple[type, ...], namespace: dict[str, Any], **kwargs: Any) -> _ModelMeta:
        namespace.setdefault("__slots__", ())
        return super().__new__(mcs, name, bases, namespace, **kwargs)


class _Model(metaclass=_ModelMeta):
    """Base class: a lazy, read-only typed view over a JSON object (dict)."""

    __slots__ = ("_cache", "_json")

    # The JSON object: a dict, or (in an answer the core made) the object still on the
    # core's tape, whose fields are read one by one until the whole is asked for (`_data`).
    _json: Any
    _cache: Optional[dict[str, Any]]
    # Declared field names in declaration order (set by `_finalize_models`).
    _fields: ClassVar[tuple[str, ...]] = ()

    if TYPE_CHECKING:
        _data: dict[str, Any]
    else:
        _data = property(
            model_data, _set_json, doc="The JSON object as a dict (built on first use from the core's tape)."
        )

    def __init__(self, data: dict[str, Any]) -> None:
        self._json = data
        self._cache = None

    if not TYPE_CHECKING:
        # Hidden from type checkers (like pydantic does) so that typos in
        # attribute names are still reported statically.
        def __getattr__(self, name: str) -> Any:
            # Only called when normal lookup fails: expose unknown JSON fields.
            if name in _SLOT_NAMES or name.startswith("__"):
                raise AttributeError(name)
            try:
                return self._data[name]
            except KeyError:
                raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}") from None

    # -- dumps, with openai's names and defaults (see fastrouter.dropin.dump) --------------

    def to_dict(
        self,
        *,
        mode: str = "python",
        use_api_names: bool = True,
        exclude_unset: bool = True,
        exclude_defaults: bool = False,
        exclude_none: bool = False,
        warnings: bool = True,
    ) -> dict[str, Any]:
        """A deep copy of the JSON object: by default exactly what the server sent (unknown
        fields kept), as openai's ``to_dict``; ``exclude_unset=False`` adds every declared
        field it did not send as ``None``. The data is plain JSON already, so ``mode`` and
        ``use_api_names`` change nothing."""
        if exclude_unset:
            result: dict[str, Any] = _copy_json(self._data, exclude_none or exclude_defaults)
            return result
        return _dump(self, exclude_unset=False, exclude_none=exclude_none or exclude_defaults)

    def to_json(
        self,
        indent: Optional[int] = 2,
        *,
        use_api_names: bool = True,
        exclude_unset: bool = True,
        exclude_defaults: bool = False,
        exclude_none: bool = False,
        warnings: bool = True,
    ) -> str:
        """:meth:`to_dict` as JSON text, indented by 2 like openai's (``indent=None``: one line)."""
        data = self.to_dict(exclude_unset=exclude_unset, exclude_defaults=exclude_defaults, exclude_none=exclude_none)
        return json.dumps(data, indent=indent, ensure_ascii=False)

    def model_dump(self, **options: Unpack[DumpOptions]) -> dict[str, Any]:
        """pydantic's ``model_dump`` as openai's models have it: every declared field
        (``None`` when not sent) plus the unknown ones the server sent; ``include`` /
        ``exclude`` take field-name sets or nested dicts (``{"choices": {0: {"message"}}}``,
        ``"__all__"`` for every list item); the other keywords: see ``DumpOptions``."""
        return _model_dump(self, "model_dump", options)

    def model_dump_json(
        self, *, indent: Optional[int] = None, ensure_ascii: bool = False, **options: Unpack[DumpOptions]
    ) -> str:
        """:meth:`model_dump` as JSON text, compact like pydantic's unless ``indent``."""
        data = _model_dump(self, "model_dump_json", options)
        separators = (",", ":") if indent is None else None
        return json.dumps(data, indent=indent, ensure_ascii=ensure_ascii, separators=separators)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, _Model):
            return NotImplemented
        return type(self) is type(other) and self._data == other._data

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        # At most _REPR_MAX_FIELDS present scalar fields, long strings
        # truncated, and a trailing "..." when anything non-null was left out.
        data = self._data
        parts: list[str] = []
        for name in self._fields:
            value = data.get(name)
            if isinstance(value, (str, int, float, bool)):
                parts.append(f"{name}={_short(value)}")
                if len(parts) == _REPR_MAX_FIELDS:
                    break
        if sum(1 for v in data.values() if v is not None) > len(parts):
            parts.append("...")
        return f"{type(self).__name__}({', '.join(parts)})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self._data,))


# ---------------------------------------------------------------------------
# Field descriptors
# ---------------------------------------------------------------------------


def _scalar_getter(key: str) -> Callable[[_Model], Any]:
    """``self._data.get(key)``, read by the core (no Python frame per read)."""
    return FieldGetter(key).read


def _wrong_type(owner: str, key: str, expected: str, raw: Any) -> TypeError:
    return TypeError(f"{owner}.{key}: expected a JSON {expected}, got {type(raw).__name__}")


def _cached_getter(key: str, convert: Callable[[Any], Any]) -> Callable[[_Model], Any]:
    """A field converted from its JSON on first read (``convert(self._data.get(key))``),
    then kept in ``self._cache`` (made ``{}`` on first use), read by the core."""
    return FieldGetter(key, convert).read


def _model_getter(owner: str, key: str, cls: type[_Model], optional: bool) -> Callable[[_Model], Any]:
    def convert(raw: Any) -> Optional[_Model]:
        if raw is None:
            return None if optional else cls({})
        if isinstance(raw, dict):
            return cls(raw)
        raise _wrong_type(owner, key, "object", raw)

    return _cached_getter(key, convert)


def _model_list_getter(owner: str, key: str, cls: type[_Model], optional: bool) -> Callable[[_Model], Any]:
    def convert(raw: Any) -> Optional[list[_Model]]:
        if raw is None:
            return None if optional else []
        if not isinstance(raw, list):
            raise _wrong_type(owner, key, "array", raw)
        value = []
        for item in raw:
            if not isinstance(item, dict):
                raise _wrong_type(owner, f"{key}[]", "object", item)
            value.append(cls(item))
        return value

    return _cached_getter(key, convert)


def _as_model(tp: Any) -> Optional[type[_Model]]:
    if isinstance(tp, type) and issubclass(tp, _Model):
        return tp
    return None


def _make_getter(owner: str, key: str, hint: Any) -> Callable[[_Model], Any]:
    optional = False
    if typing.get_origin(hint) is typing.Union:
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        optional = len(args) < len(typing.get_args(hint))
        if len(args) == 1:
            hint = args[0]
    model = _as_model(hint)
    if model is not None:
        return _model_getter(owner, key, model, optional)
    if typing.get_origin(hint) is list:
        args = list(typing.get_args(hint))
        model = _as_model(args[0]) if len(args) == 1 else None
        if model is not None:
            return _model_list_getter(owner, key, model, optional)
    return _scalar_getter(key)


def _cheap_hint(text: str, ns: dict[str, Any]) -> Any:
    """What a field annotation string means, for the forms this module uses (``X``,
    ``Optional[X]``, ``list[X]``, ``Optional[list[X]]`` with ``X`` a name, and scalar
    containers such as ``dict[str, Any]``); ``None`` for anything else. ``typing``'s own
    evaluation compiles every annotation, a few milliseconds of ``import fastrouter``."""
    optional = text.startswith("Optional[") and text.endswith("]")
    inner = text[9:-1] if optional else text
    is_list = inner.startswith("list[") and inner.endswith("]")
    name = inner[5:-1] if is_list else inner
    model = _as_model(ns.get(name)) if name.isidentifier() else None
    if model is None:
        words = text.replace("[", " ").replace("]", " ").replace(",", " ").replace(".", " ").split()
        if text.startswith("ClassVar[") or any(_as_model(ns.get(word)) for word in words):
            return None  # not a plain field: leave it to typing
        return object  # a scalar field, whatever its type
    hint: Any = list[model] if is_list else model  # type: ignore[valid-type]
    return Optional[hint] if optional else hint


def _cheap_type_hints(cls: type[_Model], ns: dict[str, Any]) -> Optional[dict[str, Any]]:
    """``typing.get_type_hints(cls)`` for classes whose fields all take a form
    :func:`_cheap_hint` reads (``None`` otherwise); private names are skipped."""
    hints: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        for name, text in klass.__dict__.get("__annotations__", {}).items():
            if name.startswith("_"):
                continue
            hint = _cheap_hint(text, ns) if isinstance(text, str) else text
            if hint is None:
                return None
            hints[name] = hint
    return hints


def _finalize_models(*classes: type[_Model]) -> None:
    """Install one read-only descriptor per annotated field on each class.

    Must run after every referenced class exists (annotations are resolved with
    ``typing.get_type_hints``). Idempotent; attributes defined explicitly in a
    class body (e.g. properties) are left alone.
    """
    for cls in classes:
        ns: dict[str, Any] = dict(globals())
        module = sys.modules.get(cls.__module__)
        if module is not None:
            ns.update(vars(module))
        hints = _cheap_type_hints(cls, ns)
        if hints is None:
            hints = typing.get_type_hints(cls, globalns=ns, localns=ns)
        fields: list[str] = []
        for name, hint in hints.items():
            if name.startswith("_") or typing.get_origin(hint) is ClassVar:
                continue
            fields.append(name)
            if name in cls.__dict__:
                continue
            field = property(_make_getter(cls.__name__, name, hint))
            # Its name in errors, not its getter's (typeshed lacks the method).
            field.__set_name__(cls, name)  # type: ignore[attr-defined]
            setattr(cls, name, field)
        cls._fields = tuple(fields)


# ---------------------------------------------------------------------------
# Chat completions (non-streaming)
# ---------------------------------------------------------------------------


class Function(_Model):
    """The function a model called: name plus JSON-encoded arguments."""

    name: str
    arguments: str


class ChatCompletionMessageToolCall(_Model):
    """A tool call made by the assistant in a non-streaming response."""

    id: str
    type: str
    index: Optional[int]
    function: Function


class ReasoningDetail(_Model):
    """A structured reasoning block (text, summary or encrypted data)."""

    type: str
    text: Optional[str]
    summary: Optional[str]
    data: Optional[str]
    signature: Optional[str]
    id: Optional[str]
    format: Optional[str]
    index: Optional[int]


class URLCitation(_Model):
    """A web citation attached to a message (e.g. from web search)."""

    url: str
    title: Optional[str]
    content: Optional[str]
    start_index: Optional[int]
    end_index: Optional[int]


class Annotation(_Model):
    """A message annotation; currently only ``url_citation``."""

    type: str
    url_citation: Optional[URLCitation]


class TopLogprob(_Model):
    """One of the most likely alternative tokens at a position."""

    token: str
    logprob: float
    bytes: Optional[list[int]]


class TokenLogprob(_Model):
    """Log probability information for one output token."""

    token: str
    logprob: float
    bytes: Optional[list[int]]
    top_logprobs: list[TopLogprob]


class ChoiceLogprobs(_Model):
    """Log probabilities for a choice's content and refusal tokens."""

    content: Optional[list[TokenLogprob]]
    refusal: Optional[list[TokenLogprob]]


class ChoiceError(_Model):
    """An error reported in-band by OpenRouter for a choice or a stream chunk."""

    code: Any
    message: Optional[str]
    metadata: Optional[dict[str, Any]]


class _MessageFields(_Model):
    """The fields of an assistant message, which a stream chunk's delta carries in pieces
    (each types its own ``role`` and ``tool_calls``: a delta's calls are fragments)."""

    role: Optional[str]
    content: Optional[str]
    refusal: Optional[str]
    reasoning: Optional[str]
    reasoning_details: Optional[list[ReasoningDetail]]
    tool_calls: Optional[list[Any]]
    annotations: Optional[list[Annotation]]
    images: Optional[list[dict[str, Any]]]


class ChatCompletionMessage(_MessageFields):
    """The assistant message of a non-streaming chat completion choice."""

    role: str
    tool_calls: Optional[list[ChatCompletionMessageToolCall]]
    audio: Optional[dict[str, Any]]


class Choice(_Model):
    """One completion choice of a non-streaming chat completion."""

    index: int
    finish_reason: Optional[str]
    native_finish_reason: Optional[str]
    message: ChatCompletionMessage
    logprobs: Optional[ChoiceLogprobs]
    error: Optional[ChoiceError]


class PromptTokensDetails(_Model):
    """Breakdown of prompt tokens (cache reads/writes, audio, video)."""

    cached_tokens: Optional[int]
    cache_write_tokens: Optional[int]
    audio_tokens: Optional[int]
    video_tokens: Optional[int]


class CompletionTokensDetails(_Model):
    """Breakdown of completion tokens (reasoning, image, audio, predictions)."""

    reasoning_tokens: Optional[int]
    image_tokens: Optional[int]
    audio_tokens: Optional[int]
    accepted_prediction_tokens: Optional[int]
    rejected_prediction_tokens: Optional[int]


class CostDetails(_Model):
    """Breakdown of the upstream inference cost in credits."""

    upstream_inference_cost: Optional[float]
    upstream_inference_prompt_cost: Optional[float]
    upstream_inference_completions_cost: Optional[float]


class CompletionUsage(_Model):
    """Token usage and cost accounting for a request."""

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    cost: Optional[float]
    is_byok: Optional[bool]
    prompt_tokens_details: Optional[PromptTokensDetails]
    completion_tokens_details: Optional[CompletionTokensDetails]
    cost_details: Optional[CostDetails]
    server_tool_use_details: Optional[dict[str, Any]]


class _CompletionFields(_Model):
    """The fields a chat completion and each of its stream chunks both carry."""

    id: str
    object: str
    created: int
    model: str
    provider: Optional[str]
    system_fingerprint: Optional[str]
    service_tier: Optional[str]


class ChatCompletion(_CompletionFields):
    """A chat completion response (non-streaming, or a finished stream merged).

    Besides the wire fields: ``cost`` (exact ``Decimal`` USD) and ``attempts`` (every try
    of the model chain that produced it).
    """

    __slots__ = ("_attempts", "_answer_cost", "_priced_cost", "_cascade", "_http", "_cached")

    choices: list[Choice]
    usage: Optional[CompletionUsage]

    def __init__(self, data: dict[str, Any]) -> None:
        super().__init__(data)
        self._attempts: Any = ()
        # The core's answer: what the answering attempt cost (decimal text), if reported.
        self._answer_cost: Optional[str] = None
        # Set by the client when OpenRouter sent no usage.cost and the catalog priced it.
        self._priced_cost: Optional[Decimal] = None
        self._cascade: Optional[CascadeResult] = None  # set by a cascade that keeps this answer
        # The response headers it came with (``name: value`` lines), as the core reported
        # them, or the core's record of them that renders them when read (_header_block).
        self._http: Optional[str | NativeHeaders] = None
        self._cached = False

    @classmethod
    def _from_native(cls, data: dict[str, Any], attempts: Any, answer_cost: Optional[str] = None) -> ChatCompletion:
        """Built by the client from the body, the core's attempt records and the core's
        answer cost (the answering attempt's reported cost, as decimal text)."""
        completion = cls(data)
        completion._attempts = attempts
        completion._answer_cost = answer_cost
        return completion

    @classmethod
    def _from_chat(cls, native: NativeChat) -> ChatCompletion:
        """Built from the core's finished chat: body, attempts, answer cost and headers."""
        try:
            # Made by the core, every slot set (as __init__ sets them), with the models of
            # choices, messages and usage.
            made = native.completion(cls)
            if made is not None:
                return made
            # A subclass may type its fields otherwise: every slot set here, as the core
            # sets them (no __init__ call, as for ChatCompletion).
            completion = _new_object(cls)
            completion._json = native.json()
            completion._cache = None
            completion._attempts = native.attempts
            completion._answer_cost = native.answer_cost
            completion._http = native.raw_headers
            completion._priced_cost = None
            completion._cascade = None
            completion._cached = False
            return completion
        except APIError as error:
            # A body the core accepted but no parser reads: the answer arrived, so its
            # attempts (and what it cost) go with the error, for the books, budgets and limits.
            if not error.attempts:
                error.attempts = [Attempt._from_native(attempt) for attempt in native.attempts]
            raise

    def _header_block(self) -> Optional[str]:
        """The response headers it came with, as ``name: value`` lines (``None``: unknown)."""
        http = self._http
        return http if http is None or isinstance(http, str) else http.block

    @property
    def attempts(self) -> list[Attempt]:
        """Every try of the chain, in order; the last one produced this answer."""
        raw = self._attempts
        if raw and not isinstance(raw[0], Attempt):
            self._attempts = raw = [Attempt._from_native(a) for a in raw]
        return list(raw)

    @property
    def cost(self) -> Optional[Decimal]:
        """What this request cost in USD: exactly as OpenRouter reported it
        (``usage.cost``), else priced exactly from the catalog's prices (when the client
        had the catalog at hand); ``None`` when neither is known. A cascade's answer
        costs what every tier it tried cost (``cascade.cost``); 0 when served from the
        response cache."""
        if self._cached:
            return Decimal(0)
        if self._cascade is not None:
            return self._cascade.cost
        if self._answer_cost is not None:
            return Decimal(self._answer_cost)
        usage = json_get(self, "usage")
        cost = usage.get("cost") if isinstance(usage, dict) else None
        if isinstance(cost, (int, float)) and not isinstance(cost, bool):
            return Decimal(repr(cost))
        return self._priced_cost

    @property
    def cascade(self) -> Optional[CascadeResult]:
        """How a :class:`~fastrouter.Cascade` reached this answer (a
        :class:`~fastrouter.cascade.CascadeResult`); ``None`` for other requests."""
        return self._cascade

    @property
    def cached(self) -> bool:
        """True when this answer came from the response cache (nothing was sent)."""
        return self._cached

    def __reduce__(self) -> tuple[Any, ...]:
        return (ChatCompletion._from_native, (self._data, self.attempts, self._answer_cost))


# ---------------------------------------------------------------------------
# Chat completions (streaming)
# ---------------------------------------------------------------------------


class _StreamedModel(_ModelMeta):
    """Metaclass of the three chunk models: the core's streamed chunk objects
    (``_fastrouter.StreamChunk`` / ``StreamChoice`` / ``StreamDelta``, which read their
    fields lazily from the chunk parsed once in Rust) count as their instances."""

    _native_name: str

    def __instancecheck__(cls, instance: Any) -> bool:
        if type.__instancecheck__(cls, instance):
            return True
        native = sys.modules.get("fastrouter._fastrouter")
        native_class = getattr(native, cls._native_name, None)
        # The class itself, or its subclass for chunks with extra fields.
        return native_class is not None and type.__instancecheck__(native_class, instance)


class ChoiceDeltaToolCallFunction(_Model):
    """A fragment of a streamed function call (name and/or argument text)."""

    name: Optional[str]
    arguments: Optional[str]


class ChoiceDeltaToolCall(_Model):
    """A fragment of a streamed tool call, keyed by ``index``."""

    index: int
    id: Optional[str]
    type: Optional[str]
    function: Optional[ChoiceDeltaToolCallFunction]


class ChoiceDelta(_MessageFields, metaclass=_StreamedModel):
    """The incremental message content carried by one stream chunk choice."""

    _native_name = "StreamDelta"

    tool_calls: Optional[list[ChoiceDeltaToolCall]]


class ChunkChoice(_Model, metaclass=_StreamedModel):
    """One choice of a streamed chat completion chunk."""

    _native_name = "StreamChoice"

    index: int
    delta: ChoiceDelta
    finish_reason: Optional[str]
    native_finish_reason: Optional[str]
    logprobs: Optional[ChoiceLogprobs]
    error: Optional[ChoiceError]


class ChatCompletionChunk(_CompletionFields, metaclass=_StreamedModel):
    """One server-sent event of a streaming chat completion."""

    _native_name = "StreamChunk"

    choices: list[ChunkChoice]
    usage: Optional[CompletionUsage]
    error: Optional[ChoiceError]


# ---------------------------------------------------------------------------
# Account endpoints
# ---------------------------------------------------------------------------


class Generation(_Model):
    """Stats of a past generation (``GET /generation`` ``data`` object)."""

    id: str
    upstream_id: Optional[str]
    request_id: Optional[str]
    created_at: str
    model: str
    provider_name: Optional[str]
    api_type: Optional[str]
    streamed: Optional[bool]
    cancelled: Optional[bool]
    finish_reason: Optional[str]
    native_finish_reason: Optional[str]
    total_cost: float
    usage: float
    upstream_inference_cost: Optional[float]
    cache_discount: Optional[float]
    is_byok: Optional[bool]
    tokens_prompt: Optional[int]
    tokens_completion: Optional[int]
    native_tokens_prompt: Optional[int]
    native_tokens_completion: Optional[int]
    native_tokens_reasoning: Optional[int]
    native_tokens_cached: Optional[int]
    latency: Optional[float]
    generation_time: Optional[float]
    moderation_latency: Optional[float]
    provider_responses: Optional[list[dict[str, Any]]]


class Credits(_Model):
    """Account credit balance (``GET /credits`` ``data`` object)."""

    total_credits: float
    total_usage: float

    @property
    def remaining(self) -> float:
        """Credits left: ``total_credits - total_usage``."""
        return self.total_credits - self.total_usage


class KeyInfo(_Model):
    """Information about the current API key (``GET /key`` ``data`` object)."""

    label: Optional[str]
    limit: Optional[float]
    limit_reset: Optional[str]
    limit_remaining: Optional[float]
    include_byok_in_limit: Optional[bool]
    usage: Optional[float]
    usage_daily: Optional[float]
    usage_weekly: Optional[float]
    usage_monthly: Optional[float]
    byok_usage: Optional[float]
    is_free_tier: Optional[bool]
    is_management_key: Optional[bool]
    expires_at: Optional[str]
    rate_limit: Optional[dict[str, Any]]


_finalize_models(
    Function,
    ChatCompletionMessageToolCall,
    ReasoningDetail,
    URLCitation,
    Annotation,
    TopLogprob,
    TokenLogprob,
    ChoiceLogprobs,
    ChoiceError,
    ChatCompletionMessage,
    Choice,
    PromptTokensDetails,
    CompletionTokensDetails,
    CostDetails,
    CompletionUsage,
    ChatCompletion,
    ChoiceDeltaToolCallFunction,
    ChoiceDeltaToolCall,
    ChoiceDelta,
    ChunkChoice,
    ChatCompletionChunk,
    Generation,
    Credits,
    KeyInfo,
)
