"""Structured outputs as openai's ``parse()`` does them: a pydantic model or JSON schema in, ``message.parsed`` out.

pydantic is never imported here: a model class is recognised by its methods.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any, Generic, TypeVar

from ..errors import FastrouterError
from ..types import ChatCompletion, ChatCompletionMessage, Choice, _finalize_models

__all__ = [
    "ContentFilterFinishReasonError",
    "LengthFinishReasonError",
    "ParsedChatCompletion",
    "ParsedChatCompletionMessage",
    "ParsedChoice",
    "ResponseFormatT",
    "is_model_type",
    "parse_completion",
    "response_format_param",
]

ResponseFormatT = TypeVar("ResponseFormatT")
_WIRE_FORMATS = frozenset(("json_schema", "json_object", "text", "grammar", "python"))


class LengthFinishReasonError(FastrouterError):
    """``parse()`` got an answer cut at the token limit (``finish_reason == "length"``), so
    it cannot be parsed; ``completion`` holds it."""

    def __init__(self, *, completion: ChatCompletion) -> None:
        usage = completion.usage
        detail = f" - {usage.completion_tokens} completion tokens" if usage is not None else ""
        super().__init__(f"Could not parse response content as the length limit was reached{detail}")
        self.completion = completion


class ContentFilterFinishReasonError(FastrouterError):
    """``parse()`` got an answer stopped by a content filter (``finish_reason == "content_filter"``)."""

    def __init__(self) -> None:
        super().__init__("Could not parse response content as the request was rejected by the content filter")


class ParsedChatCompletionMessage(ChatCompletionMessage, Generic[ResponseFormatT]):
    """A message of ``parse()``: ``parsed`` is the content as the requested type (the
    pydantic model, or a dict for a JSON schema); ``None`` for a refusal or no content."""

    @property
    def parsed(self) -> ResponseFormatT | None:
        cache = self._cache
        value: ResponseFormatT | None = cache.get("parsed") if cache is not None else None
        return value


class ParsedChoice(Choice, Generic[ResponseFormatT]):
    """A choice of ``parse()``."""

    message: ParsedChatCompletionMessage[ResponseFormatT]


class ParsedChatCompletion(ChatCompletion, Generic[ResponseFormatT]):
    """What ``parse()`` returns: a :class:`~fastrouter.ChatCompletion` whose messages
    carry ``parsed``."""

    choices: list[ParsedChoice[ResponseFormatT]]  # type: ignore[assignment]


def _install_fields() -> None:
    # `_finalize_models` resolves annotations by name; the generic subscripts are for type
    # checkers only, so the runtime classes are resolved through plain names.
    ParsedChoice.__annotations__ = {"message": ParsedChatCompletionMessage}
    ParsedChatCompletion.__annotations__ = {"choices": list[ParsedChoice]}  # type: ignore[type-arg]
    for cls in (ParsedChoice, ParsedChatCompletion):
        for name in cls.__annotations__:
            if name in cls.__dict__:
                delattr(cls, name)
    _finalize_models(ParsedChatCompletionMessage, ParsedChoice, ParsedChatCompletion)


_install_fields()


def is_model_type(value: object) -> bool:
    """A pydantic model class (known by its methods; pydantic itself is not imported)."""
    return isinstance(value, type) and hasattr(value, "model_json_schema") and hasattr(value, "model_validate_json")


def _strict(schema: Any) -> Any:
    """``schema`` made strict as OpenAI's structured outputs require: objects closed
    (``additionalProperties: false``) and every property required, all the way down."""
    if isinstance(schema, list):
        return [_strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    schema = {key: _strict(value) for key, value in schema.items()}
    if schema.get("type") == "object" and "additionalProperties" not in schema:
        schema["additionalProperties"] = False
    properties = schema.get("properties")
    if isinstance(properties, dict):
        schema["required"] = list(properties)
    if schema.get("default", 0) is None:
        del schema["default"]
    return schema


def response_format_param(response_format: Any) -> dict[str, Any] | None:
    """The wire ``response_format`` for a pydantic model, a bare JSON schema, or a
    ``response_format`` object (passed as is); ``None`` when not given."""
    if response_format is None:
        return None
    if is_model_type(response_format):
        schema = response_format.model_json_schema()
        return {
            "type": "json_schema",
            "json_schema": {"name": response_format.__name__, "schema": _strict(schema), "strict": True},
        }
    if isinstance(response_format, Mapping):
        if response_format.get("type") in _WIRE_FORMATS:
            return dict(response_format)
        schema = copy.deepcopy(dict(response_format))
        name = str(schema.get("title") or "response")
        return {"type": "json_schema", "json_schema": {"name": name, "schema": _strict(schema), "strict": True}}
    raise TypeError(
        "response_format must be a pydantic model class, a JSON schema dict or a response_format "
        f"object, got {response_format!r}"
    )


def parse_completion(completion: ChatCompletion, response_format: Any) -> ParsedChatCompletion[Any]:
    """``completion`` as a :class:`ParsedChatCompletion` whose messages' ``parsed`` holds the
    content validated by the pydantic model (or decoded JSON for a schema or
    ``json_object``); raises as openai does when the answer was cut or filtered."""
    parsed: ParsedChatCompletion[Any] = ParsedChatCompletion(completion._data)
    parsed._attempts = completion._attempts
    parsed._http = completion._http
    parsed._priced_cost = completion._priced_cost
    wants_json = response_format is not None and not (
        isinstance(response_format, Mapping) and response_format.get("type") == "text"
    )
    for choice in parsed.choices:
        if choice.finish_reason == "length":
            raise LengthFinishReasonError(completion=completion)
        if choice.finish_reason == "content_filter":
            raise ContentFilterFinishReasonError()
        message = choice.message
        content = message.content
        value: Any = None
        if wants_json and content is not None and not message.refusal:
            if is_model_type(response_format):
                value = response_format.model_validate_json(content)
            else:
                value = json.loads(content)
        if message._cache is None:
            message._cache = {}
        message._cache["parsed"] = value
    return parsed
