"""openai's ``.stream()`` helper: typed events and the streams that emit them, with ``get_final_completion()``.

Events: ``chunk``, ``content.delta`` / ``content.done``, ``refusal.delta`` / ``refusal.done``,
``tool_calls.function.arguments.delta`` / ``.done``, in openai's order.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import (
    TYPE_CHECKING,
    Any,
    Generic,
    Literal,
    TypeVar,
    Union,
)

from .._closing import AsyncClosing, Closing
from ..types import ChatCompletion, ChatCompletionChunk
from .structured import ParsedChatCompletion, ResponseFormatT, is_model_type, parse_completion

if TYPE_CHECKING:
    from types import TracebackType

    from typing_extensions import Self

    from ..streaming import AsyncStream, Stream, _StreamBase
    from .response import Response

__all__ = [
    "AsyncChatCompletionStream",
    "AsyncChatCompletionStreamManager",
    "ChatCompletionStream",
    "ChatCompletionStreamEvent",
    "ChatCompletionStreamManager",
    "ChunkEvent",
    "ContentDeltaEvent",
    "ContentDoneEvent",
    "FunctionToolCallArgumentsDeltaEvent",
    "FunctionToolCallArgumentsDoneEvent",
    "RefusalDeltaEvent",
    "RefusalDoneEvent",
]

# The chunk stream an event stream reads: a Stream, or an AsyncStream.
_StreamT = TypeVar("_StreamT", bound="_StreamBase")


@dataclass(frozen=True)
class ChunkEvent:
    """Every chunk as it arrives. ``snapshot`` is the completion received so far, merged
    by the core when you read it (read it at once to see this chunk's state)."""

    chunk: ChatCompletionChunk
    _snapshot: Callable[[], ChatCompletion] = field(repr=False, compare=False)
    type: Literal["chunk"] = "chunk"

    @property
    def snapshot(self) -> ChatCompletion:
        return self._snapshot()


@dataclass(frozen=True)
class _TextDelta:
    """New text of a choice's content or refusal (``delta``) and all of it so far (``snapshot``)."""

    delta: str
    snapshot: str


@dataclass(frozen=True)
class ContentDeltaEvent(_TextDelta):
    """New content text: ``delta``, the content so far (``snapshot``) and, with a
    ``response_format``, ``parsed``: the JSON so far once it parses (else ``None``)."""

    parsed: object | None = None
    type: Literal["content.delta"] = "content.delta"


@dataclass(frozen=True)
class ContentDoneEvent(Generic[ResponseFormatT]):
    """The whole content of a choice, and ``parsed`` as the ``response_format`` type."""

    content: str
    parsed: ResponseFormatT | None = None
    type: Literal["content.done"] = "content.done"


@dataclass(frozen=True)
class RefusalDeltaEvent(_TextDelta):
    type: Literal["refusal.delta"] = "refusal.delta"


@dataclass(frozen=True)
class RefusalDoneEvent:
    refusal: str
    type: Literal["refusal.done"] = "refusal.done"


@dataclass(frozen=True)
class _ToolCallArguments:
    """A tool call's name, index and arguments so far (``parsed_arguments``: decoded JSON)."""

    name: str
    index: int
    arguments: str
    parsed_arguments: object


@dataclass(frozen=True)
class FunctionToolCallArgumentsDeltaEvent(_ToolCallArguments):
    """A piece of a tool call's arguments (``arguments_delta``) and all of them so far."""

    arguments_delta: str
    type: Literal["tool_calls.function.arguments.delta"] = "tool_calls.function.arguments.delta"


@dataclass(frozen=True)
class FunctionToolCallArgumentsDoneEvent(_ToolCallArguments):
    """A tool call's complete arguments, and ``parsed_arguments`` (decoded JSON)."""

    type: Literal["tool_calls.function.arguments.done"] = "tool_calls.function.arguments.done"


ChatCompletionStreamEvent = Union[
    ChunkEvent,
    ContentDeltaEvent,
    "ContentDoneEvent[ResponseFormatT]",
    RefusalDeltaEvent,
    RefusalDoneEvent,
    FunctionToolCallArgumentsDeltaEvent,
    FunctionToolCallArgumentsDoneEvent,
]


def _loads_or_none(text: str) -> object | None:
    try:
        value: object = json.loads(text)
    except ValueError:
        return None
    return value


class _ChoiceState:
    """What one choice has streamed so far, and which "done" events it has fired."""

    __slots__ = ("content", "refusal", "tools", "current_tool", "content_done", "refusal_done", "tools_done")

    def __init__(self) -> None:
        self.content: str | None = None
        self.refusal: str | None = None
        self.tools: dict[int, list[str]] = {}  # index -> [name, arguments]
        self.current_tool: int | None = None
        self.content_done = False
        self.refusal_done = False
        self.tools_done: set[int] = set()


class _EventBuilder(Generic[ResponseFormatT]):
    """Turns chunks into events, in openai's order (chunk, deltas, then done events)."""

    def __init__(self, response_format: Any, snapshot: Callable[[], ChatCompletion]) -> None:
        self._format = response_format
        self._snapshot = snapshot
        self._choices: dict[int, _ChoiceState] = {}

    def _parsed(self, content: str) -> Any:
        if self._format is None:
            return None
        if is_model_type(self._format):
            return self._format.model_validate_json(content)
        return _loads_or_none(content)

    def _content_done(self, state: _ChoiceState, out: list[ChatCompletionStreamEvent[ResponseFormatT]]) -> None:
        if state.content and not state.content_done:
            state.content_done = True
            out.append(ContentDoneEvent(content=state.content, parsed=self._parsed(state.content)))
        if state.refusal is not None and not state.refusal_done:
            state.refusal_done = True
            out.append(RefusalDoneEvent(refusal=state.refusal))

    def _tool_done(
        self, state: _ChoiceState, index: int, out: list[ChatCompletionStreamEvent[ResponseFormatT]]
    ) -> None:
        if index in state.tools_done or index not in state.tools:
            return
        state.tools_done.add(index)
        name, arguments = state.tools[index]
        out.append(
            FunctionToolCallArgumentsDoneEvent(
                name=name, index=index, arguments=arguments, parsed_arguments=_loads_or_none(arguments)
            )
        )

    def events(self, chunk: ChatCompletionChunk) -> list[ChatCompletionStreamEvent[ResponseFormatT]]:
        out: list[ChatCompletionStreamEvent[ResponseFormatT]] = [ChunkEvent(chunk, self._snapshot)]
        for choice in chunk.choices:
            state = self._choices.get(choice.index)
            if state is None:
                state = self._choices[choice.index] = _ChoiceState()
            delta = choice.delta
            if delta.content is not None:
                state.content = (state.content or "") + delta.content
                parsed = _loads_or_none(state.content) if self._format is not None else None
                out.append(ContentDeltaEvent(delta=delta.content, snapshot=state.content, parsed=parsed))
            if delta.refusal is not None:
                state.refusal = (state.refusal or "") + delta.refusal
                out.append(RefusalDeltaEvent(delta=delta.refusal, snapshot=state.refusal))
            for call in delta.tool_calls or ():
                if state.current_tool != call.index:
                    self._content_done(state, out)
                    if state.current_tool is not None:
                        self._tool_done(state, state.current_tool, out)
                    state.current_tool = call.index
                entry = state.tools.setdefault(call.index, ["", ""])
                function = call.function
                if function is not None and function.name:
                    entry[0] = function.name
                piece = (function.arguments if function is not None else None) or ""
                entry[1] += piece
                out.append(
                    FunctionToolCallArgumentsDeltaEvent(
                        name=entry[0],
                        index=call.index,
                        arguments=entry[1],
                        parsed_arguments=_loads_or_none(entry[1]),
                        arguments_delta=piece,
                    )
                )
            if choice.finish_reason:
                self._content_done(state, out)
                if state.current_tool is not None:
                    self._tool_done(state, state.current_tool, out)
        return out


class _EventStream(Generic[_StreamT, ResponseFormatT]):
    """What both event streams share: the chunk stream they read, its events' builder,
    and the views of the completion."""

    def __init__(self, stream: _StreamT, response_format: Any) -> None:
        self._stream = stream
        self._format = response_format
        self._builder: _EventBuilder[ResponseFormatT] = _EventBuilder(response_format, lambda: stream.completion)

    @property
    def response(self) -> Response:
        """The HTTP response the stream reads (status and headers)."""
        return self._stream.response

    @property
    def current_completion_snapshot(self) -> ChatCompletion:
        """The completion received so far."""
        return self._stream.completion

    def _final(self) -> ParsedChatCompletion[ResponseFormatT]:
        return parse_completion(self._stream.completion, self._format)


class ChatCompletionStream(_EventStream["Stream", ResponseFormatT], Closing):
    """The events of a streamed completion (``for event in stream``);
    ``get_final_completion()`` reads to the end and returns the parsed completion."""

    def __init__(self, stream: Stream, response_format: Any) -> None:
        super().__init__(stream, response_format)
        self._iterator = self._events()

    def _events(self) -> Iterator[ChatCompletionStreamEvent[ResponseFormatT]]:
        for chunk in self._stream:
            yield from self._builder.events(chunk)

    def __iter__(self) -> Iterator[ChatCompletionStreamEvent[ResponseFormatT]]:
        return self._iterator

    def __next__(self) -> ChatCompletionStreamEvent[ResponseFormatT]:
        return next(self._iterator)

    def until_done(self) -> Self:
        """Read the stream to its end."""
        for _ in self._iterator:
            pass
        return self

    def get_final_completion(self) -> ParsedChatCompletion[ResponseFormatT]:
        """The whole completion (reading to the end first), with ``message.parsed``."""
        return self.until_done()._final()

    def close(self) -> None:
        """Cancel the request and release the connection."""
        self._stream.close()


class ChatCompletionStreamManager(Generic[ResponseFormatT]):
    """What ``client.chat.completions.stream(...)`` returns: the request starts on
    ``with``, which gives the :class:`ChatCompletionStream`; leaving it closes the stream."""

    def __init__(self, start: Callable[[], Stream], response_format: Any) -> None:
        self._start = start
        self._format = response_format
        self._stream: ChatCompletionStream[ResponseFormatT] | None = None

    def __enter__(self) -> ChatCompletionStream[ResponseFormatT]:
        self._stream = ChatCompletionStream(self._start(), self._format)
        return self._stream

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._stream is not None:
            self._stream.close()


class AsyncChatCompletionStream(_EventStream["AsyncStream", ResponseFormatT], AsyncClosing):
    """The events of a streamed completion (``async for event in stream``);
    ``await get_final_completion()`` reads to the end and returns the parsed completion."""

    def __init__(self, stream: AsyncStream, response_format: Any) -> None:
        super().__init__(stream, response_format)
        self._iterator = self._events()

    async def _events(self) -> AsyncIterator[ChatCompletionStreamEvent[ResponseFormatT]]:
        async for chunk in self._stream:
            for event in self._builder.events(chunk):
                yield event

    def __aiter__(self) -> AsyncIterator[ChatCompletionStreamEvent[ResponseFormatT]]:
        return self._iterator

    async def __anext__(self) -> ChatCompletionStreamEvent[ResponseFormatT]:
        return await self._iterator.__anext__()

    async def until_done(self) -> Self:
        """Read the stream to its end."""
        async for _ in self._iterator:
            pass
        return self

    async def get_final_completion(self) -> ParsedChatCompletion[ResponseFormatT]:
        """The whole completion (reading to the end first), with ``message.parsed``."""
        return (await self.until_done())._final()

    async def close(self) -> None:
        """Cancel the request and release the connection."""
        await self._stream.close()


class AsyncChatCompletionStreamManager(Generic[ResponseFormatT]):
    """What ``client.chat.completions.stream(...)`` returns on the async client: the
    request starts on ``async with``, which gives the :class:`AsyncChatCompletionStream`."""

    def __init__(self, start: Callable[[], Awaitable[AsyncStream]], response_format: Any) -> None:
        self._start = start
        self._format = response_format
        self._stream: AsyncChatCompletionStream[ResponseFormatT] | None = None

    async def __aenter__(self) -> AsyncChatCompletionStream[ResponseFormatT]:
        self._stream = AsyncChatCompletionStream(await self._start(), self._format)
        return self._stream

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._stream is not None:
            await self._stream.close()
