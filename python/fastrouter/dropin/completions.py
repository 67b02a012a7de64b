"""``chat.completions`` beyond ``create()`` as openai code uses it: ``with_raw_response``, ``parse()``, ``stream()``."""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import TYPE_CHECKING, Any, Literal, Union, cast, overload

from .sentinels import is_omitted

# The client's base classes: what these methods use loads when they are first called (S5).
if TYPE_CHECKING:
    from typing_extensions import TypeVar, Unpack

    from ..params import ParseParams
    from ..streaming import AsyncStream, Stream
    from ..types import ChatCompletion
    from .response import LegacyAPIResponse
    from .sentinels import Omitted
    from .stream_events import AsyncChatCompletionStreamManager, ChatCompletionStreamManager
    from .structured import ParsedChatCompletion

    # The type ``response_format`` names; ``Any`` for a JSON schema (a mapping) or none.
    _T = TypeVar("_T", default=Any)

__all__ = ["AsyncCompletionsDropIn", "CompletionsDropIn", "raw_response"]

_Format = Union["type[_T]", Mapping[str, Any], None, "Omitted"]


def raw_response(result: ChatCompletion | AsyncStream | Stream) -> LegacyAPIResponse[Any]:
    """``with_raw_response``'s view of what ``create()`` returned (a stream's attempts are
    only known at its end, so its ``retries_taken`` is 0)."""
    from ..types import ChatCompletion
    from .response import LegacyAPIResponse, completion_response

    if isinstance(result, ChatCompletion):
        retries = max(0, len(result.attempts) - 1)
        return LegacyAPIResponse(completion_response(result), lambda: result, retries_taken=retries)
    return LegacyAPIResponse(result.response, lambda: result)


def _structured(params: dict[str, Any], response_format: Any) -> tuple[dict[str, Any], Any]:
    """``create()``'s keywords for ``parse()`` / ``stream()`` (``response_format`` as the
    wire takes it), and the format the answer is parsed as."""
    from .structured import response_format_param

    if params.get("stream") not in (None, False) and not is_omitted(params.get("stream")):
        raise TypeError("parse() does not stream; use .stream(...) for a streamed structured answer")
    params.pop("stream", None)
    if is_omitted(response_format):
        response_format = None
    wire = response_format_param(response_format)
    if wire is not None:
        params["response_format"] = wire
    return params, response_format


class _Raw:
    """``client.chat.completions.with_raw_response``: ``create()`` returning the raw
    response (``status_code``, ``headers``, and ``parse()`` for the completion or stream)."""

    def __init__(self, completions: Any) -> None:
        self._completions = completions


class _AsyncRawCompletions(_Raw):
    @overload
    async def create(self, *, stream: Literal[True], **kwargs: Any) -> LegacyAPIResponse[AsyncStream]: ...

    @overload
    async def create(self, *, stream: Literal[False] = False, **kwargs: Any) -> LegacyAPIResponse[ChatCompletion]: ...

    async def create(self, *, stream: bool = False, **kwargs: Any) -> LegacyAPIResponse[Any]:
        """``await create()``'s result as a raw response."""
        return raw_response(await self._completions.create(stream=stream, **kwargs))


class _RawCompletions(_Raw):
    @overload
    def create(self, *, stream: Literal[True], **kwargs: Any) -> LegacyAPIResponse[Stream]: ...

    @overload
    def create(self, *, stream: Literal[False] = False, **kwargs: Any) -> LegacyAPIResponse[ChatCompletion]: ...

    def create(self, *, stream: bool = False, **kwargs: Any) -> LegacyAPIResponse[Any]:
        """``create()``'s result as a raw response."""
        return raw_response(self._completions.create(stream=stream, **kwargs))


class AsyncCompletionsDropIn:
    """``with_raw_response``, ``parse()`` and ``stream()`` for the async client."""

    @property
    def with_raw_response(self) -> _AsyncRawCompletions:
        return _AsyncRawCompletions(self)

    async def parse(
        self, *, response_format: _Format[_T] = None, **params: Unpack[ParseParams]
    ) -> ParsedChatCompletion[_T]:
        """:meth:`CompletionsDropIn.parse`, awaited."""
        from .structured import parse_completion

        kwargs, response_format = _structured(dict(params), response_format)
        return parse_completion(await cast(Any, self).create(**kwargs), response_format)

    def stream(
        self, *, response_format: _Format[_T] = None, **params: Unpack[ParseParams]
    ) -> AsyncChatCompletionStreamManager[_T]:
        """A streamed completion as openai's helper gives it: ``async with`` it to get a
        stream of events (``chunk``, ``content.delta``, ``content.done``, ...) and
        ``await stream.get_final_completion()``."""
        from .stream_events import AsyncChatCompletionStreamManager

        kwargs, response_format = _structured(dict(params), response_format)
        return AsyncChatCompletionStreamManager(partial(cast(Any, self).create, stream=True, **kwargs), response_format)


class CompletionsDropIn:
    """``with_raw_response``, ``parse()`` and ``stream()`` for the sync client."""

    @property
    def with_raw_response(self) -> _RawCompletions:
        return _RawCompletions(self)

    def parse(self, *, response_format: _Format[_T] = None, **params: Unpack[ParseParams]) -> ParsedChatCompletion[_T]:
        """``create()`` with structured output: ``response_format`` is a pydantic model
        class or a JSON schema; ``choices[i].message.parsed`` is the answer as that model
        (or a dict). Raises ``LengthFinishReasonError`` when the answer was cut."""
        from .structured import parse_completion

        kwargs, response_format = _structured(dict(params), response_format)
        return parse_completion(cast(Any, self).create(**kwargs), response_format)

    def stream(
        self, *, response_format: _Format[_T] = None, **params: Unpack[ParseParams]
    ) -> ChatCompletionStreamManager[_T]:
        """A streamed completion as openai's helper gives it: ``with`` it to get a stream
        of events (``chunk``, ``content.delta``, ``content.done``, ...) and
        ``stream.get_final_completion()``."""
        from .stream_events import ChatCompletionStreamManager

        kwargs, response_format = _structured(dict(params), response_format)
        return ChatCompletionStreamManager(partial(cast(Any, self).create, stream=True, **kwargs), response_format)
