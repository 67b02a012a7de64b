"""LangChain integration: :class:`ChatFastrouter`, a LangChain chat model on a fastrouter client.

Install the extra (``pip install 'fastrouter[langchain]'``), then::

    from fastrouter.langchain import ChatFastrouter

    llm = ChatFastrouter(model=["openai/gpt-4o-mini", "anthropic/claude-3.5-haiku"])
    llm.invoke("Hello!").response_metadata["cost"]

``model`` takes whatever ``client.chat.completions.create(model=...)`` takes: a model id, a
failover chain (a list of ids), a route or alias name from ``routing``, or a cascade.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from operator import itemgetter
from typing import Any, Literal, cast

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LangSmithParams, LanguageModelInput
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    InvalidToolCall,
    ToolCall,
    UsageMetadata,
    convert_to_openai_messages,
)
from langchain_core.messages.tool import tool_call_chunk
from langchain_core.output_parsers import JsonOutputParser, PydanticOutputParser
from langchain_core.output_parsers.openai_tools import (
    JsonOutputKeyToolsParser,
    PydanticToolsParser,
    make_invalid_tool_call,
    parse_tool_call,
)
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable, RunnableMap, RunnablePassthrough
from langchain_core.tools import BaseTool
from langchain_core.utils import from_env, secret_from_env
from langchain_core.utils.function_calling import convert_to_openai_tool
from langchain_core.utils.pydantic import is_basemodel_subclass
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, SecretStr

from .client import AsyncClient, Client
from .routing import Routing
from .types import ChatCompletion, ChatCompletionChunk

__all__ = ["ChatFastrouter"]

_DEFAULT_MODEL = "openai/gpt-4o-mini"


def _model_name(model: Any) -> str:
    """A readable name for any ``model=`` value (id, chain, route name or cascade)."""
    if isinstance(model, str):
        return model
    if isinstance(model, (list, tuple)):
        return ",".join(str(m) for m in model)
    name = getattr(model, "name", None)  # a cascade names itself: cascade:a>b>c
    return name if isinstance(name, str) else str(model)


def _usage_metadata(completion: ChatCompletion) -> UsageMetadata | None:
    usage = completion.usage
    if usage is None:
        return None
    meta: dict[str, Any] = {
        "input_tokens": usage.prompt_tokens,
        "output_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
    }
    prompt_details = usage.prompt_tokens_details
    if prompt_details is not None and prompt_details.cached_tokens is not None:
        meta["input_token_details"] = {"cache_read": prompt_details.cached_tokens}
    completion_details = usage.completion_tokens_details
    if completion_details is not None and completion_details.reasoning_tokens is not None:
        meta["output_token_details"] = {"reasoning": completion_details.reasoning_tokens}
    return cast(UsageMetadata, meta)


def _response_metadata(completion: ChatCompletion) -> dict[str, Any]:
    """Model, provider, cost (a ``Decimal`` in USD), finish reason, id, the attempts, and a
    cascade's result (kept tier, scores, savings) when ``model`` was a cascade."""
    choice = completion.choices[0] if completion.choices else None
    metadata = {
        "model_name": completion.model,
        "model_provider": "openrouter",
        "provider": completion.provider,
        "cost": completion.cost,
        "id": completion.id,
        "finish_reason": choice.finish_reason if choice is not None else None,
        "native_finish_reason": choice.native_finish_reason if choice is not None else None,
        "attempts": [a.model for a in completion.attempts],
    }
    cascade = getattr(completion, "cascade", None)  # set when model= was a cascade
    if cascade is not None and hasattr(cascade, "to_dict"):
        metadata["cascade"] = cascade.to_dict()
    return metadata


def _ai_message(completion: ChatCompletion) -> AIMessage:
    message = completion.choices[0].message if completion.choices else None
    tool_calls: list[ToolCall] = []
    invalid: list[InvalidToolCall] = []
    for raw in message.to_dict().get("tool_calls") or [] if message is not None else []:
        try:
            parsed = parse_tool_call(raw, return_id=True)
            if parsed is not None:
                tool_calls.append(parsed)  # type: ignore[arg-type]
        except Exception as exc:  # a malformed call is reported, not raised (as langchain-openai does)
            invalid.append(make_invalid_tool_call(raw, str(exc)))
    extra: dict[str, Any] = {}
    if message is not None and message.reasoning:
        extra["reasoning_content"] = message.reasoning
    return AIMessage(
        content=(message.content if message is not None else None) or "",
        id=completion.id,
        tool_calls=tool_calls,
        invalid_tool_calls=invalid,
        additional_kwargs=extra,
        usage_metadata=_usage_metadata(completion),
        response_metadata=_response_metadata(completion),
    )


def _chunk_message(chunk: ChatCompletionChunk) -> AIMessageChunk | None:
    """The content and tool-call deltas of one streamed chunk (``None`` when it has none)."""
    data = chunk.to_dict()
    choices = data.get("choices") or []
    if not choices:
        return None
    delta = choices[0].get("delta") or {}
    content = delta.get("content") or ""
    tool_chunks = [
        tool_call_chunk(
            name=(call.get("function") or {}).get("name"),
            args=(call.get("function") or {}).get("arguments"),
            id=call.get("id"),
            index=call.get("index"),
        )
        for call in delta.get("tool_calls") or []
    ]
    extra = {"reasoning_content": delta["reasoning"]} if delta.get("reasoning") else {}
    if not content and not tool_chunks and not extra:
        return None
    return AIMessageChunk(content=content, tool_call_chunks=tool_chunks, additional_kwargs=extra, id=data.get("id"))


def _last_chunk(completion: ChatCompletion) -> ChatGenerationChunk:
    """The closing chunk: usage once, and the metadata only known at the end (cost)."""
    return ChatGenerationChunk(
        message=AIMessageChunk(
            content="",
            id=completion.id,
            usage_metadata=_usage_metadata(completion),
            response_metadata=_response_metadata(completion),
            chunk_position="last",
        )
    )


class ChatFastrouter(BaseChatModel):
    """A LangChain chat model that calls OpenRouter through fastrouter's Rust core.

    Failover chains, routes, cascades, retries, budgets and the cost ledger all work as in
    :class:`fastrouter.Client`; ``response_metadata`` carries ``model_name``, ``provider``
    and ``cost``, and ``usage_metadata`` the token counts. Pass ``client=`` /
    ``async_client=`` to share a configured client (its ledger, budgets, limits).
    """

    model_config = ConfigDict(populate_by_name=True, arbitrary_types_allowed=True)

    model_name: Any = Field(default=_DEFAULT_MODEL, alias="model")
    """A model id, a list of ids (failover chain), a route/alias name or a cascade."""
    api_key: SecretStr | None = Field(default_factory=secret_from_env("OPENROUTER_API_KEY", default=None))
    """Defaults to ``OPENROUTER_API_KEY``."""
    base_url: str | None = Field(default_factory=from_env("OPENROUTER_BASE_URL", default=None))
    """Defaults to ``OPENROUTER_BASE_URL``, else OpenRouter."""
    temperature: float | None = None
    max_tokens: int | None = None
    top_p: float | None = None
    stop: list[str] | None = Field(default=None, alias="stop_sequences")
    seed: int | None = None
    timeout: float | None = None
    """Seconds per attempt (the client's default when ``None``)."""
    max_retries: int | None = None
    """Retries per model in a chain (the client's default when ``None``)."""
    streaming: bool = False
    """Whether ``invoke`` streams under the hood (callbacks then see each token)."""
    model_kwargs: dict[str, Any] = Field(default_factory=dict)
    """Any other ``create()`` parameter (``provider``, ``reasoning``, ``tags``, ...)."""
    routing: Routing | None = None
    client: Client | None = Field(default=None, exclude=True)
    async_client: AsyncClient | None = Field(default=None, exclude=True)

    _own_client: Client | None = PrivateAttr(default=None)
    _own_async_client: AsyncClient | None = PrivateAttr(default=None)

    @property
    def _llm_type(self) -> str:
        return "fastrouter"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_name": _model_name(self.model_name), **self._default_params}

    @property
    def _default_params(self) -> dict[str, Any]:
        params: dict[str, Any] = {
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "top_p": self.top_p,
            "stop": self.stop or None,
            "seed": self.seed,
        }
        return {k: v for k, v in params.items() if v is not None}

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        params = LangSmithParams(
            ls_provider="openrouter",
            ls_model_name=_model_name(kwargs.get("model", self.model_name)),
            ls_model_type="chat",
        )
        if self.temperature is not None:
            params["ls_temperature"] = self.temperature
        if self.max_tokens is not None:
            params["ls_max_tokens"] = self.max_tokens
        if stop or self.stop:
            params["ls_stop"] = stop or self.stop
        return params

    # ------------------------------------------------------------------ clients

    def _client_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "api_key": self.api_key.get_secret_value() if self.api_key is not None else None,
            "base_url": self.base_url,
            "routing": self.routing,
        }
        if self.timeout is not None:
            kwargs["timeout"] = self.timeout
        if self.max_retries is not None:
            kwargs["max_retries"] = self.max_retries
        return kwargs

    def _sync_client(self) -> Client:
        if self.client is not None:
            return self.client
        if self._own_client is None:
            self._own_client = Client(**self._client_kwargs())
        return self._own_client

    def _async_client(self) -> AsyncClient:
        if self.async_client is not None:
            return self.async_client
        if self._own_async_client is None:
            self._own_async_client = AsyncClient(**self._client_kwargs())
        return self._own_async_client

    def _request(self, messages: list[BaseMessage], stop: list[str] | None, kwargs: dict[str, Any]) -> dict[str, Any]:
        """The ``create()`` keywords: defaults, then ``model_kwargs``, then per-call ones."""
        request: dict[str, Any] = {**self._default_params, **self.model_kwargs, **kwargs}
        request.setdefault("model", self.model_name)
        if stop:
            request["stop"] = stop
        request["messages"] = convert_to_openai_messages(messages)
        return request

    # ------------------------------------------------------------------ calls

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        if self.streaming:
            chunks = list(self._stream(messages, stop, run_manager, **kwargs))
            return _result_from_chunks(chunks)
        completion = self._sync_client().chat.completions.create(**self._request(messages, stop, kwargs))
        return ChatResult(generations=[ChatGeneration(message=_ai_message(completion))])

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        if self.streaming:
            chunks = [c async for c in self._astream(messages, stop, run_manager, **kwargs)]
            return _result_from_chunks(chunks)
        completion = await self._async_client().chat.completions.create(**self._request(messages, stop, kwargs))
        return ChatResult(generations=[ChatGeneration(message=_ai_message(completion))])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        request = self._request(messages, stop, kwargs)
        with self._sync_client().chat.completions.create(**request, stream=True) as stream:
            for chunk in stream:
                message = _chunk_message(chunk)
                if message is None:
                    continue
                if run_manager is not None and isinstance(message.content, str) and message.content:
                    run_manager.on_llm_new_token(message.content, chunk=ChatGenerationChunk(message=message))
                yield ChatGenerationChunk(message=message)
            yield _last_chunk(stream.completion)

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        request = self._request(messages, stop, kwargs)
        stream = await self._async_client().chat.completions.create(**request, stream=True)
        async with stream:
            async for chunk in stream:
                message = _chunk_message(chunk)
                if message is None:
                    continue
                if run_manager is not None and isinstance(message.content, str) and message.content:
                    await run_manager.on_llm_new_token(message.content, chunk=ChatGenerationChunk(message=message))
                yield ChatGenerationChunk(message=message)
            yield _last_chunk(stream.completion)

    # ------------------------------------------------------------------ tools and structured output

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type[Any] | Callable[..., Any] | BaseTool],
        *,
        tool_choice: str | bool | dict[str, Any] | None = None,
        strict: bool | None = None,
        parallel_tool_calls: bool | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Bind tools (functions, pydantic models, LangChain tools or OpenAI tool dicts).

        ``tool_choice``: ``"auto"``, ``"none"``, ``"required"`` / ``"any"`` / ``True``, or a
        tool name to force that tool."""
        formatted = [convert_to_openai_tool(t, strict=strict) for t in tools]
        if tool_choice is not None and tool_choice is not False:
            kwargs["tool_choice"] = _tool_choice(tool_choice, formatted)
        if parallel_tool_calls is not None:
            kwargs["parallel_tool_calls"] = parallel_tool_calls
        return super().bind(tools=formatted, **kwargs)

    def with_structured_output(
        self,
        schema: dict[str, Any] | type[Any] | None = None,
        *,
        method: Literal["json_schema", "function_calling", "json_mode"] = "json_schema",
        include_raw: bool = False,
        strict: bool | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, dict[str, Any] | BaseModel]:
        """Answers parsed into ``schema`` (a pydantic class, JSON schema or tool dict):
        ``method="json_schema"`` (``response_format``), ``"function_calling"`` (a forced
        tool call) or ``"json_mode"`` (``{"type": "json_object"}``)."""
        if kwargs:
            raise ValueError(f"unexpected arguments: {sorted(kwargs)}")
        is_pydantic = isinstance(schema, type) and is_basemodel_subclass(schema)
        llm: Runnable[LanguageModelInput, Any]
        parser: Runnable[Any, Any]
        if method == "function_calling":
            if schema is None:
                raise ValueError("method='function_calling' needs a schema")
            tool = convert_to_openai_tool(schema, strict=strict)
            name = tool["function"]["name"]
            llm = self.bind_tools([schema], tool_choice=name, strict=strict)
            if is_pydantic:
                parser = PydanticToolsParser(tools=[schema], first_tool_only=True)  # type: ignore[list-item]
            else:
                parser = JsonOutputKeyToolsParser(key_name=name, first_tool_only=True)
        elif method == "json_schema":
            if schema is None:
                raise ValueError("method='json_schema' needs a schema")
            function = convert_to_openai_tool(schema)["function"]
            json_schema: dict[str, Any] = {"name": function["name"], "schema": function.get("parameters", {})}
            if function.get("description"):
                json_schema["description"] = function["description"]
            if strict is not None:
                json_schema["strict"] = strict
            llm = self.bind(response_format={"type": "json_schema", "json_schema": json_schema})
            parser = PydanticOutputParser(pydantic_object=schema) if is_pydantic else JsonOutputParser()  # type: ignore[arg-type]
        elif method == "json_mode":
            llm = self.bind(response_format={"type": "json_object"})
            parser = PydanticOutputParser(pydantic_object=schema) if is_pydantic else JsonOutputParser()  # type: ignore[arg-type]
        else:
            raise ValueError(f"method must be 'json_schema', 'function_calling' or 'json_mode', got {method!r}")
        if not include_raw:
            return llm | parser
        parsed = RunnablePassthrough.assign(parsed=itemgetter("raw") | parser, parsing_error=lambda _: None)
        failed = RunnablePassthrough.assign(parsed=lambda _: None)
        with_fallback = parsed.with_fallbacks([failed], exception_key="parsing_error")
        return RunnableMap(raw=llm) | with_fallback


def _tool_choice(choice: str | bool | dict[str, Any], tools: list[dict[str, Any]]) -> str | dict[str, Any]:
    """LangChain's spellings of ``tool_choice`` in OpenAI's."""
    if isinstance(choice, Mapping):
        return dict(choice)
    if choice is True or choice == "any":
        return "required"
    if choice in ("auto", "none", "required"):
        return str(choice)
    names = [t["function"]["name"] for t in tools]
    if choice in names:
        return {"type": "function", "function": {"name": choice}}
    raise ValueError(f"tool_choice {choice!r} is neither auto/none/required/any nor a bound tool ({names})")


def _result_from_chunks(chunks: list[ChatGenerationChunk]) -> ChatResult:
    """One answer from streamed chunks (``streaming=True`` under ``invoke``)."""
    if not chunks:
        raise ValueError("the stream produced no chunks")
    merged = chunks[0]
    for chunk in chunks[1:]:
        merged = merged + chunk
    message = merged.message
    assert isinstance(message, AIMessageChunk)
    return ChatResult(
        generations=[
            ChatGeneration(
                message=AIMessage(
                    content=message.content,
                    id=message.id,
                    tool_calls=message.tool_calls,
                    invalid_tool_calls=message.invalid_tool_calls,
                    additional_kwargs=message.additional_kwargs,
                    usage_metadata=message.usage_metadata,
                    response_metadata=message.response_metadata,
                )
            )
        ]
    )
