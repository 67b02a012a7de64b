"""The request parameters of ``chat.completions.create``: every OpenAI parameter and every
OpenRouter one, typed. Anything newer goes through ``extra_body``."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any, Dict, FrozenSet, List, Optional, TypedDict, Union

__all__ = ["ChatCompletionParams", "PARAM_NAMES", "build_body"]


class ChatCompletionParams(TypedDict, total=False):
    """Optional keyword arguments of ``chat.completions.create``."""

    # OpenAI-compatible
    frequency_penalty: Optional[float]
    logit_bias: Optional[Dict[str, int]]
    logprobs: Optional[bool]
    max_completion_tokens: Optional[int]
    max_tokens: Optional[int]
    metadata: Optional[Dict[str, str]]
    modalities: Optional[List[str]]
    n: Optional[int]
    parallel_tool_calls: Optional[bool]
    prediction: Optional[Dict[str, Any]]
    presence_penalty: Optional[float]
    prompt_cache_key: Optional[str]
    reasoning_effort: Optional[str]
    response_format: Optional[Dict[str, Any]]
    seed: Optional[int]
    service_tier: Optional[str]
    stop: Union[str, List[str], None]
    stream_options: Optional[Dict[str, Any]]
    temperature: Optional[float]
    tool_choice: Union[str, Dict[str, Any], None]
    tools: Optional[List[Dict[str, Any]]]
    top_logprobs: Optional[int]
    top_p: Optional[float]
    user: Optional[str]
    verbosity: Optional[str]
    web_search_options: Optional[Dict[str, Any]]
    # OpenRouter
    models: Optional[List[str]]
    provider: Optional[Dict[str, Any]]
    reasoning: Optional[Dict[str, Any]]
    transforms: Optional[List[str]]
    plugins: Optional[List[Dict[str, Any]]]
    usage: Optional[Dict[str, Any]]
    top_k: Optional[int]
    top_a: Optional[float]
    min_p: Optional[float]
    repetition_penalty: Optional[float]
    session_id: Optional[str]
    trace: Optional[Dict[str, Any]]
    debug: Optional[Dict[str, Any]]
    image_config: Optional[Dict[str, Any]]
    include_reasoning: Optional[bool]


PARAM_NAMES: FrozenSet[str] = frozenset(ChatCompletionParams.__annotations__)


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


def build_body(
    messages: Any,
    params: Mapping[str, Any],
    extra_body: Optional[Mapping[str, Any]],
    *,
    stream: bool = False,
) -> bytes:
    """The JSON request object without ``model`` (the core adds it per attempt)."""
    unknown = [name for name in params if name not in PARAM_NAMES]
    if unknown:
        name = unknown[0]
        raise TypeError(
            f"create() got an unexpected keyword argument {name!r}.{_close_match(name, PARAM_NAMES)}"
            " Pass newer or provider-specific fields in extra_body={...}."
        )
    if not isinstance(messages, (list, tuple)) or not messages:
        raise TypeError("messages must be a non-empty list of message dicts")
    if extra_body is not None and not isinstance(extra_body, Mapping):
        raise TypeError(f"extra_body must be a dict of extra JSON fields, got {type(extra_body).__name__}")
    body: Dict[str, Any] = {"messages": messages}
    body.update(params)
    if stream:
        body["stream"] = True
    if extra_body:
        body.update(extra_body)
    body.pop("model", None)
    try:
        text = _ENCODER.encode(body)
    except ValueError:
        # JSON has no NaN or infinity: name where the value is instead of sending bad JSON.
        raise ValueError(_non_finite_message(body, extra_body or {})) from None
    return text.encode()


def _non_finite_message(body: Mapping[str, Any], extra_body: Mapping[str, Any]) -> str:
    """Where the first NaN or infinity in ``body`` is, spelled as the caller passed it."""
    for key, value in body.items():
        where = _non_finite_path(value, "")
        if where is not None:
            root = f"extra_body[{key!r}]" if key in extra_body else key
            path, bad = where
            return f"{root}{path} must be a finite number, got {bad!r} (JSON has no NaN or infinity)"
    return "the request contains a value JSON cannot represent"


def _non_finite_path(value: Any, path: str) -> Optional[tuple[str, float]]:
    if isinstance(value, float):
        return None if value == value and value not in (float("inf"), float("-inf")) else (path, value)
    if isinstance(value, Mapping):
        items: Iterable[tuple[Any, Any]] = value.items()
    elif isinstance(value, (list, tuple)):
        items = enumerate(value)
    else:
        try:
            return _non_finite_path(_jsonable(value), path)
        except TypeError:
            return None
    for key, item in items:
        found = _non_finite_path(item, f"{path}[{key!r}]")
        if found is not None:
            return found
    return None
