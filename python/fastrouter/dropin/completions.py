"""``chat.completions`` beyond ``create()`` as openai code uses it: ``with_raw_response``, ``parse()``, ``stream()``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Literal, TypeVar, Union, cast, overload

from .sentinels import is_omitted

# The client's base classes: what these methods use loads when they are first called (S5).
if TYPE_CHECKING:
    from typing_extensions import Unpack

    from ..client import ModelArg
    from ..params import StructuredParams
    from ..streaming import AsyncStream, Stream
    from ..types import ChatCompletion
    from .response import LegacyAPIResponse
    from .sentinels import Omitted
    from .stream_events import AsyncChatCompletionStreamManager, ChatCompletionStreamManager
    from .structured import ParsedChatCompletion

__all__ = ["AsyncCompletionsDropIn", "CompletionsDropIn", "raw_response"]

_T = TypeVar("_T")
_SchemaFormat = Union[Mapping[str, Any], None, "Omitted"]


def raw_response(result: ChatCompletion | AsyncStream | Stream) -> LegacyAPIResponse[Any]:
    """``with_raw_response``'s view of what ``create()`` returned (a stream's attempts are
    only known at its end, so its ``retries_taken`` is 0)."""
    from ..types import ChatCompletion
    from .response import LegacyAPIResponse, completion_response

    if isinstance(result, ChatCompletion):
        retries = max(0, len(result.attempts) - 1)
        return LegacyAPIResponse(completion_response(result), lambda: result, retries_taken=retries)
    return LegacyAPIResponse(result.response, lambda: result)


def _stream_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    if kwargs.get("stream") not in (None, False) and not is_omitted(kwargs.get("stream")):
        raise TypeError("parse() does not stream; use .stream(...) for a streamed structured answer")
    kwargs.pop("stream", None)
    return kwargs


def _with_format(kwargs: dict[str, Any], response_format: Any) -> tuple[dict[str, Any], Any]:
    from .structured import response_format_param

    if is_omitted(response_format):
        response_format = None
    wire = response_format_param(response_format)
    if wire is not None:
        kwargs["response_format"] = wire
    return kwargs, response_format


class _AsyncRawCompletions:
    """``client.chat.completions.with_raw_response``."""

    def __init__(self, completions: Any) -> None:
        self._completions = completions

    @overload
    async def create(self, *, stream: Literal[True], **kwargs: Any) -> LegacyAPIResponse[AsyncStream]: ...

    @overload
    async def create(self, *, stream: Literal[False] = False, **kwargs: Any) -> LegacyAPIResponse[ChatCompletion]: ...

    async def create(self, *, stream: bool = False, **kwargs: Any) -> LegacyAPIResponse[Any]:
        """``create()``, returning the raw response: ``status_code``, ``headers`` and
        ``parse()`` for the completion (or the stream)."""
        return raw_response(await self._completions.create(stream=stream, **kwargs))


class _RawCompletions:
    """``client.chat.completions.with_raw_response``."""

    def __init__(self, completions: Any) -> None:
        self._completions = completions

    @overload
    def create(self, *, stream: Literal[True], **kwargs: Any) -> LegacyAPIResponse[Stream]: ...

    @overload
    def create(self, *, stream: Literal[False] = False, **kwargs: Any) -> LegacyAPIResponse[ChatCompletion]: ...

    def create(self, *, stream: bool = False, **kwargs: Any) -> LegacyAPIResponse[Any]:
        """``create()``, returning the raw response: ``status_code``, ``headers`` and
        ``parse()`` for the completion (or the stream)."""
        return raw_response(self._completions.create(stream=stream, **kwargs))


class AsyncCompletionsDropIn:
    """``with_raw_response``, ``parse()`` and ``stream()`` for the async client."""

    @property
    def with_raw_response(self) -> _AsyncRawCompletions:
        return _AsyncRawCompletions(self)

    @overload
    async def parse(
        self,
        *,
        model: ModelArg,
        messages: Iterable[Any],
        response_format: type[_T],
        **params: Unpack[StructuredParams],
    ) -> ParsedChatCompletion[_T]: ...

    @overload
    async def parse(
        self,
        *,
        model: ModelArg,
        messages: Iterable[Any],
        response_format: _SchemaFormat = None,
        **params: Unpack[StructuredParams],
    ) -> ParsedChatCompletion[Any]: ...

    async def parse(
        self,
        *,
        model: ModelArg,
        messages: Iterable[Any],
        response_format: Any = None,
        **params: Any,
    ) -> ParsedChatCompletion[Any]:
        """``create()`` with structured output: ``response_format`` is a pydantic model
        class or a JSON schema; ``choices[i].message.parsed`` is the answer as that model
        (or a dict). Raises ``LengthFinishReasonError`` when the answer was cut."""
        from .structured import parse_completion

        kwargs, response_format = _with_format(_stream_kwargs(dict(params)), response_format)
        completion = await cast(Any, self).create(model=model, messages=messages, **kwargs)
        return parse_completion(completion, response_format)

    @overload
    def stream(
        self,
        *,
        model: ModelArg,
        messages: Iterable[Any],
        response_format: type[_T],
        **params: Unpack[StructuredParams],
    ) -> AsyncChatCompletionStreamManager[_T]: ...

    @overload
    def stream(
        self,
        *,
        model: ModelArg,
        messages: Iterable[Any],
        response_format: _SchemaFormat = None,
        **params: Unpack[StructuredParams],
    ) -> AsyncChatCompletionStreamManager[Any]: ...

    def stream(
        self,
        *,
        model: ModelArg,
        messages: Iterable[Any],
        response_format: Any = None,
        **params: Any,
    ) -> AsyncChatCompletionStreamManager[Any]:
        """A streamed completion as openai's helper gives it: ``async with`` it to get a
        stream of events (``chunk``, ``content.delta``, ``content.done``, ...) and
        ``await stream.get_final_completion()``."""
        from .stream_events import AsyncChatCompletionStreamManager

        kwargs, response_format = _with_format(_stream_kwargs(dict(params)), response_format)

        async def start() -> AsyncStream:
            stream: AsyncStream = await cast(Any, self).create(model=model, messages=messages, stream=True, **kwargs)
            return stream

        return AsyncChatCompletionStreamManager(start, response_format)


class CompletionsDropIn:
    """``with_raw_response``, ``parse()`` and ``stream()`` for the sync client."""

    @property
    def with_raw_response(self) -> _RawCompletions:
        return _RawCompletions(self)

    @overload
    def parse(
        self,
        *,
        model: ModelArg,
        messages: Iterable[Any],
        response_format: type[_T],
        **params: Unpack[StructuredParams],
    ) -> ParsedChatCompletion[_T]: ...

    @overload
    def parse(
        self,
        *,
        model: ModelArg,
        messages: Iterable[Any],
        response_format: _SchemaFormat = None,
        **params: Unpack[StructuredParams],
    ) -> ParsedChatCompletion[Any]: ...

    def parse(
        self,
        *,
        model: ModelArg,
        messages: Iterable[Any],
        response_format: Any = None,
        **params: Any,
    ) -> ParsedChatCompletion[Any]:
        """``create()`` with structured output: ``response_format`` is a pydantic model
        class or a JSON schema; ``choices[i].message.parsed`` is the answer as that model
        (or a dict). Raises ``LengthFinishReasonError`` when the answer was cut."""
        from .structured import parse_completion

        kwargs, response_format = _with_format(_stream_kwargs(dict(params)), response_format)
        completion = cast(Any, self).create(model=model, messages=messages, **kwargs)
        return parse_completion(completion, response_format)

    @overload
    def stream(
        self,
        *,
        model: ModelArg,
        messages: Iterable[Any],
        response_format: type[_T],
        **params: Unpack[StructuredParams],
    ) -> ChatCompletionStreamManager[_T]: ...

    @overload
    def stream(
        self,
        *,
        model: ModelArg,
        messages: Iterable[Any],
        response_format: _SchemaFormat = None,
        **params: Unpack[StructuredParams],
    ) -> ChatCompletionStreamManager[Any]: ...

    def stream(
        self,
        *,
        model: ModelArg,
        messages: Iterable[Any],
        response_format: Any = None,
        **params: Any,
    ) -> ChatCompletionStreamManager[Any]:
        """A streamed completion as openai's helper gives it: ``with`` it to get a stream
        of events (``chunk``, ``content.delta``, ``content.done``, ...) and
        ``stream.get_final_completion()``."""
        from .stream_events import ChatCompletionStreamManager

        kwargs, response_format = _with_format(_stream_kwargs(dict(params)), response_format)

        def start() -> Stream:
            stream: Stream = cast(Any, self).create(model=model, messages=messages, stream=True, **kwargs)
            return stream

        return ChatCompletionStreamManager(start, response_format)
