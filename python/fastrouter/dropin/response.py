"""The HTTP response as openai code reads it: ``e.response``, ``stream.response``, ``with_raw_response``."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Generic, TypeVar

__all__ = ["Headers", "LegacyAPIResponse", "Response"]

_T = TypeVar("_T")


class Headers(Mapping[str, str]):
    """Response headers, looked up case-insensitively (like ``httpx.Headers``); a header
    sent more than once is joined with ``", "``."""

    __slots__ = ("_items",)

    @classmethod
    def from_block(cls, block: str | None) -> Headers:
        """From the core's ``name: value`` lines."""
        if not block:
            return cls()
        return cls((name, value) for name, _, value in (line.partition(": ") for line in block.splitlines()))

    def __init__(self, pairs: Iterable[tuple[str, str]] = ()) -> None:
        items: dict[str, tuple[str, str]] = {}
        for name, value in pairs:
            key = name.lower()
            if key in items:
                items[key] = (items[key][0], f"{items[key][1]}, {value}")
            else:
                items[key] = (name, value)
        self._items = items

    def __getitem__(self, name: str) -> str:
        return self._items[name.lower()][1]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._items

    def __iter__(self) -> Iterator[str]:
        return (name for name, _ in self._items.values())

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Headers({dict(self.items())!r})"


class Response:
    """An HTTP response's status, headers and (when kept) body: what ``e.response`` and
    ``stream.response`` are, shaped like the ``httpx.Response`` openai gives."""

    __slots__ = ("status_code", "headers", "content")

    status_code: int
    headers: Headers
    content: bytes

    def __init__(
        self, status_code: int, headers: Headers | Iterable[tuple[str, str]] = (), content: bytes = b""
    ) -> None:
        self.status_code = status_code
        self.headers = headers if isinstance(headers, Headers) else Headers(headers)
        self.content = content

    @property
    def text(self) -> str:
        """The body as text (UTF-8, invalid bytes replaced)."""
        return self.content.decode("utf-8", "replace")

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.content)

    @property
    def is_success(self) -> bool:
        return 200 <= self.status_code < 300

    @property
    def is_error(self) -> bool:
        return self.status_code >= 400

    def __repr__(self) -> str:
        return f"<Response [{self.status_code}]>"


class LegacyAPIResponse(Response, Generic[_T]):
    """What ``chat.completions.with_raw_response.create()`` returns (as in openai): the
    response's ``status_code``, ``headers``, ``content``, ``text``, ``json()``, and
    ``http_response``, ``retries_taken``, and ``parse()`` for the usual return value (a
    ``ChatCompletion``, or the stream with ``stream=True``)."""

    __slots__ = ("http_response", "retries_taken", "_parsed", "_parse")

    def __init__(self, response: Response, parse: Callable[[], _T], retries_taken: int = 0) -> None:
        super().__init__(response.status_code, response.headers, response.content)
        self.http_response = response
        self.retries_taken = retries_taken
        self._parse = parse
        self._parsed: tuple[_T] | None = None

    @property
    def request_id(self) -> str | None:
        """``x-request-id`` (OpenRouter's generation id is also in ``parse().id``)."""
        return self.headers.get("x-request-id")

    def parse(self) -> _T:
        """The value ``create()`` would have returned (built once)."""
        if self._parsed is None:
            self._parsed = (self._parse(),)
        return self._parsed[0]

    def __repr__(self) -> str:
        return f"<LegacyAPIResponse [{self.status_code}]>"


def completion_response(completion: Any) -> Response:
    """The HTTP response a ``ChatCompletion`` came in: the answering attempt's status, the
    headers the core reported, the body as JSON."""
    attempts = completion.attempts
    status = attempts[-1].status if attempts and attempts[-1].status is not None else 200
    content = json.dumps(completion._data, ensure_ascii=False).encode()
    return Response(status, Headers.from_block(completion._header_block()), content)


def stream_response(native: Any) -> Response:
    """The response a stream reads: the core hands a stream over only once an attempt
    answered 2xx and committed (so 200), with that response's headers."""
    return Response(200, Headers.from_block(native.response_headers()))
