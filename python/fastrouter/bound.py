"""Bound models: ``client.model(name, **defaults)``, a model (id, chain, alias or route) with its request defaults.

::

    smart = client.model("smart", temperature=0.2)
    resp = await smart.create(messages=[...])        # chat.completions.create(model="smart", ...)
    text = await smart.complete("Say hi")            # the answer's text

Defaults sit between the route's ``params`` and the call: a value given per call wins.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, overload

from .cascade.tiers import Cascade

if TYPE_CHECKING:
    from .client import AsyncClient, Client
    from .streaming import AsyncStream, Stream
    from .types import ChatCompletion

__all__ = ["AsyncBoundModel", "BoundModel"]

ModelName = str | Sequence[str] | Cascade


def _messages(prompt: str, system: str | None) -> list[dict[str, str]]:
    if not isinstance(prompt, str):
        raise TypeError(f"prompt must be a str, got {type(prompt).__name__}")
    messages = [{"role": "system", "content": system}] if system is not None else []
    return [*messages, {"role": "user", "content": prompt}]


def _text(completion: ChatCompletion) -> str:
    return completion.choices[0].message.content or "" if completion.choices else ""


class _Bound:
    def __init__(self, model: ModelName, defaults: Mapping[str, Any]) -> None:
        if not isinstance(model, (str, Cascade)) and not (isinstance(model, (list, tuple)) and model):
            raise TypeError(
                f"model must be a model id, a list of ids, an alias or route name, or a Cascade, got {model!r}"
            )
        self.model = model
        self.defaults: dict[str, Any] = dict(defaults)

    def _kwargs(self, kwargs: Mapping[str, Any]) -> dict[str, Any]:
        if "model" in kwargs:
            raise TypeError(
                "a bound model has its model already: call client.chat.completions.create to choose another"
            )
        return {**self.defaults, **kwargs, "model": self.model}

    def __repr__(self) -> str:
        extra = "".join(f", {k}={v!r}" for k, v in self.defaults.items())
        return f"{type(self).__name__}({self.model!r}{extra})"


class AsyncBoundModel(_Bound):
    """A model bound to request defaults on an :class:`~fastrouter.AsyncClient`."""

    def __init__(self, client: AsyncClient, model: ModelName, defaults: Mapping[str, Any]) -> None:
        super().__init__(model, defaults)
        self._client = client

    @overload
    async def create(self, *, stream: Literal[False] = False, **kwargs: Any) -> ChatCompletion: ...

    @overload
    async def create(self, *, stream: Literal[True], **kwargs: Any) -> AsyncStream: ...

    async def create(self, *, stream: bool = False, **kwargs: Any) -> ChatCompletion | AsyncStream:
        """``client.chat.completions.create`` with this model and its defaults (per-call
        keywords win)."""
        result: ChatCompletion | AsyncStream = await self._client.chat.completions.create(
            **self._kwargs({**kwargs, "stream": stream})
        )
        return result

    async def complete(self, prompt: str, *, system: str | None = None, **kwargs: Any) -> str:
        """The answer's text to one user ``prompt`` (after an optional ``system`` message)."""
        resp: ChatCompletion = await self._client.chat.completions.create(
            **self._kwargs({**kwargs, "messages": _messages(prompt, system), "stream": False})
        )
        return _text(resp)


class BoundModel(_Bound):
    """A model bound to request defaults on a :class:`~fastrouter.Client`."""

    def __init__(self, client: Client, model: ModelName, defaults: Mapping[str, Any]) -> None:
        super().__init__(model, defaults)
        self._client = client

    @overload
    def create(self, *, stream: Literal[False] = False, **kwargs: Any) -> ChatCompletion: ...

    @overload
    def create(self, *, stream: Literal[True], **kwargs: Any) -> Stream: ...

    def create(self, *, stream: bool = False, **kwargs: Any) -> ChatCompletion | Stream:
        """``client.chat.completions.create`` with this model and its defaults (per-call
        keywords win)."""
        result: ChatCompletion | Stream = self._client.chat.completions.create(
            **self._kwargs({**kwargs, "stream": stream})
        )
        return result

    def complete(self, prompt: str, *, system: str | None = None, **kwargs: Any) -> str:
        """The answer's text to one user ``prompt`` (after an optional ``system`` message)."""
        resp: ChatCompletion = self._client.chat.completions.create(
            **self._kwargs({**kwargs, "messages": _messages(prompt, system), "stream": False})
        )
        return _text(resp)
