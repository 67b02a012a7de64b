"""The request gate: the response cache, rate limits and shared state (budgets and
cooldowns on a store) around one chat call, for both clients.

In order: a cache hit answers at once (no limit spent, nothing sent); an identical request
already in flight is waited for; the budgets' shared reservation is taken; models other
processes cooled down are skipped; the limits admit the request (or it waits, or is
refused); then the core walks the chain. When it ends the limits are corrected from the
answer's usage, upstream 429s shut their limits for the reset they name, open breakers are
published to the store, and a clean answer is stored.
"""

from __future__ import annotations

import logging
import time
import weakref
from collections.abc import Callable, Coroutine, Sequence
from time import monotonic
from typing import TYPE_CHECKING, Any, TypeVar

from ._dual import blocking, native_chat
from ._fastrouter import json_get
from .cache import Cache, Flights, cacheable, decode, encode, request_key
from .cache.replay import ReplayAsyncStream, ReplayStream
from .errors import (
    AllModelsFailedError,
    APIResponseValidationError,
    APIStatusError,
    FastrouterError,
    StoreUnavailableError,
)
from .limits import Hold, Limiter
from .limits.limiter import DEFAULT_TIGHTEN_S
from .store import Store, open_store
from .streaming import AsyncStream, Stream, _StreamBase
from .types import ChatCompletion

if TYPE_CHECKING:
    import asyncio

    from .attempts import Attempt
    from .health import ModelHealth
    from .usage.books import RequestBooks

__all__ = ["Gate", "STORE_ERROR_POLICIES"]

logger = logging.getLogger("fastrouter")
_S = TypeVar("_S", bound=_StreamBase)
STORE_ERROR_POLICIES = ("raise", "open")
# Roughly how many bytes of request JSON make one token, to estimate a prompt.
_BYTES_PER_TOKEN = 4
# An identical request waits at most this long for the one in flight (an abandoned stream
# never lands).
_FOLLOW_CAP_S = 120.0


def _usage_tokens(completion: ChatCompletion | None) -> int | None:
    usage = json_get(completion, "usage") if completion is not None else None
    if not isinstance(usage, dict):
        return None
    total = usage.get("total_tokens")
    if isinstance(total, int):
        return total
    return int(usage.get("prompt_tokens") or 0) + int(usage.get("completion_tokens") or 0)


def _reset_seconds(error: BaseException | None) -> float:
    """The reset an upstream 429 named: Retry-After, else OpenRouter's X-RateLimit-Reset."""
    if isinstance(error, AllModelsFailedError):
        error = error.last_error
    if isinstance(error, APIStatusError):
        if error.retry_after:
            return float(error.retry_after)
        headers = error.metadata.get("headers")
        reset: Any = headers.get("X-RateLimit-Reset") if isinstance(headers, dict) else None
        try:
            seconds = float(reset) / 1000.0 - time.time()  # epoch milliseconds
        except (TypeError, ValueError):
            seconds = 0.0
        if seconds > 0:
            return min(seconds, 3600.0)
    return DEFAULT_TIGHTEN_S


def _running_loop() -> asyncio.AbstractEventLoop | None:
    import asyncio  # only async streams reach here

    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _follow_until(deadline: float | None) -> float:
    """How long an identical request waits for the one in flight (then sends its own)."""
    cap = monotonic() + _FOLLOW_CAP_S
    return cap if deadline is None else min(deadline, cap)


class _Pass:
    """One request going through the gate."""

    __slots__ = ("key", "leading", "hold", "ttl", "books", "stream", "answer")

    def __init__(self, books: RequestBooks, stream: bool) -> None:
        self.key: bytes | None = None
        self.leading = False
        self.hold: Hold | None = None
        self.ttl: float | None = None
        self.books = books
        self.stream = stream
        # The answer's JSON as the core returned it (what the cache stores).
        self.answer: bytes | str | None = None


def _give_back(state: _Pass, hold: Hold, error: BaseException) -> None:
    """A release cut short by an interruption (a Ctrl-C as it began, a cancellation): the
    hold goes back to ``state``, released again by ``Gate.chat``'s ``except`` or the
    stream's finalizer (a store releases a request once however often it is asked). One
    that failed on its own is not repeated."""
    if not isinstance(error, Exception):
        state.hold = hold


class Gate:
    """Cache, limits and shared state of one client (built only when one is configured)."""

    def __init__(
        self,
        store: Store,
        limiter: Limiter | None,
        cache: Cache | None,
        on_store_error: str,
        health: Callable[[], dict[str, ModelHealth]],
    ) -> None:
        self.store = store
        self.limiter = limiter if limiter else None  # read per request: no __bool__ call
        self.cache = cache
        self.cache_store = store if cache is None or cache.store is None else open_store(cache.store)
        # An in-process cache store is called directly on the event loop too (no coroutine).
        cls = type(self.cache_store)
        self.cache_inline = (
            not self.cache_store.shared
            and cls.cache_get_async is Store.cache_get_async
            and cls.cache_put_async is Store.cache_put_async
        )
        self.flights = Flights()
        self.open_on_error = on_store_error == "open"
        self._health = health

    @classmethod
    def build(
        cls,
        store: Store,
        limiter: Limiter | None,
        cache: Cache | None,
        on_store_error: str,
        health: Callable[[], dict[str, ModelHealth]],
    ) -> Gate | None:
        if on_store_error not in STORE_ERROR_POLICIES:
            raise ValueError(f"on_store_error must be one of {', '.join(STORE_ERROR_POLICIES)}, got {on_store_error!r}")
        if not limiter and cache is None and not store.shared:
            return None
        return cls(store, limiter, cache, on_store_error, health)

    # -- decisions
    def _tolerate(self, error: StoreUnavailableError, what: str) -> None:
        """``on_store_error="open"``: go on without the store for this step."""
        if not self.open_on_error:
            raise error
        logger.warning("fastrouter: %s skipped, the shared store is unreachable (%s)", what, error)

    def _begin(
        self, books: RequestBooks, stream: bool, cache: bool | float | None, chain: list[str], body: bytes
    ) -> _Pass:
        state = _Pass(books, stream)
        if self.cache is not None and cache is not False:
            state.key = request_key(chain, body, stream)
            if cache is None or cache is True:
                state.ttl = self.cache.ttl
            elif isinstance(cache, (int, float)) and cache > 0:
                state.ttl = float(cache)
            else:
                raise ValueError(f"cache= per call must be False, True or a ttl in seconds, got {cache!r}")
        return state

    def _serve(self, raw: bytes, state: _Pass, asynchronous: bool) -> ChatCompletion | AsyncStream | Stream:
        answer = decode(raw)
        completion = state.books.served_from_cache(answer.to_completion(), answer.cost)
        if not state.stream:
            return completion
        chunks = answer.chunks or []
        return ReplayAsyncStream(chunks, completion) if asynchronous else ReplayStream(chunks, completion)

    def _names(self, model: Any, chain: Sequence[str]) -> tuple[str, ...]:
        if len(chain) == 1 and chain[0] == model:
            return (model,)  # the usual request: one model id
        head = [model] if isinstance(model, str) else []
        return tuple(dict.fromkeys([*head, *chain]))

    def _upkeep(
        self, attempts: Sequence[Attempt], error: BaseException | None
    ) -> tuple[list[str], float, list[tuple[str, float]]]:
        """After a request: the limit keys its 429s shut and for how long, and the breakers
        to publish (only when something failed)."""
        failed = [a for a in attempts if a.error_kind is not None]
        if not failed and error is None:
            return [], 0.0, []
        keys: list[str] = []
        if self.limiter:
            limited = [a.model for a in failed if a.status == 429]
            keys = self.limiter.tighten_keys(limited) if limited else []
        cooled: list[tuple[str, float]] = []
        if self.store.shared:
            now = time.time()
            for health in self._health().values():
                if health.state == "open" and health.cooled_until and health.cooled_until > now:
                    cooled.append((health.model, health.cooled_until - now))
        return keys, _reset_seconds(error) if keys else 0.0, cooled

    # -- the request, written once for both clients (see fastrouter._dual)
    async def chat(
        self,
        client: Any,
        model: Any,
        args: tuple[Any, ...],
        books: RequestBooks,
        stream: bool,
        cache: bool | float | None,
        max_tokens: int | None,
        deadline: float | None,
        *,
        asynchronous: bool,
    ) -> ChatCompletion | AsyncStream | Stream:
        """One request through the gate (``asynchronous``: for the asyncio client, awaiting
        each wait; its streams are :class:`AsyncStream`)."""
        body, chain = args[0], list(args[1])
        state = self._begin(books, stream, cache, chain, body)
        handed_over = False
        try:
            if state.key is not None:
                hit = self.cache_store.cache_get(state.key) if self.cache_inline else None
                if hit is None and not self.cache_inline:
                    hit = await self._lookup(state.key, asynchronous)
                if hit is None:
                    state.leading = self.flights.lead(state.key)
                    if not state.leading:
                        until = _follow_until(deadline)
                        flights = self.flights
                        if asynchronous:
                            await flights.follow_async(state.key, until)
                        else:
                            flights.follow(state.key, until)
                        hit = await self._lookup(state.key, asynchronous)
                if hit is not None:
                    return self._serve(hit, state, asynchronous)
            if self.store.shared and books.budgets.pending:  # the books' store is this store
                try:
                    await books.confirm_async() if asynchronous else books.confirm()
                except StoreUnavailableError as error:
                    self._tolerate(error, "the shared budget")
            if self.store.shared and len(chain) > 1:
                chain = await self._uncooled(chain, asynchronous)
            limiter = self.limiter
            if limiter is not None:
                lane = limiter.lane(self._names(model, chain))
                if lane is not None:
                    tokens = len(body) // _BYTES_PER_TOKEN + (max_tokens or 0)
                    # The limiter sets state.hold before the store is asked (see admitting).
                    if limiter.inline:
                        limiter.admit_now(lane, tokens, state)
                    if state.hold is None:
                        try:
                            await limiter.admitting(lane, tokens, deadline, asynchronous, state)
                        except StoreUnavailableError as error:
                            state.hold = None  # not admitted: the request goes without it
                            self._tolerate(error, "the rate limit")
            try:
                native = await native_chat(client._inner, stream, (body, chain, *args[2:]), asynchronous)
            except FastrouterError as error:
                await self._finish(state, getattr(error, "attempts", None) or [], None, error, asynchronous)
                raise
            except BaseException:
                # Cancelled while the request ran: it may have been sent; keep its estimate,
                # and wake whoever waits in line for the slot.
                self._release_soon(state, asynchronous)
                raise
            if stream:
                live = AsyncStream(native) if asynchronous else Stream(native)
                opened = self._open_stream(live, state, asynchronous)
                handed_over = True  # its end frees the limits and lands the flight
                return opened
            try:
                completion = books.answered_chat(ChatCompletion._from_chat(native), native)
            except APIResponseValidationError as error:  # a body no parser reads: limits settle
                await self._finish(state, error.attempts, None, error, asynchronous)
                raise
            except BaseException:  # the ledger's store failing, Ctrl-C while parsing
                # The answer arrived: its slot is freed as sent (the flight lands below).
                self._release_soon(state, asynchronous)
                raise
            # The core's attempt records as they are: building Attempt objects is dear.
            attempts = completion._attempts
            state.answer = native.body
            hold = state.hold
            if (
                len(attempts) == 1
                and attempts[0].error_kind is None
                and (hold is None or (limiter is not None and limiter.inline))
                and (state.key is None or self.cache_inline)
            ):
                # The usual answer, nothing failed (no upkeep), the store in process: the
                # limits corrected and the answer stored at once, without _finish's
                # coroutine (the flight lands below, after the answer is stored).
                if hold is not None and limiter is not None:
                    state.hold = None
                    try:
                        limiter.release(hold, _usage_tokens(completion), True)
                    except BaseException as error:
                        _give_back(state, hold, error)
                        raise
                if state.key is not None:
                    put = self._cache_entry(state, completion, None)
                    if put is not None:
                        self.cache_store.cache_put(*put)
                return completion
            await self._finish(state, attempts, completion, None, asynchronous)
            return completion
        except BaseException:
            # Still held (a release cut short by a Ctrl-C as it began, or a request ended
            # before one): freed now.
            if not handed_over:
                self._release_soon(state, asynchronous)
            raise
        finally:
            if state.leading and not handed_over:
                state.leading = False
                self.flights.land(state.key or b"")

    def _release_soon(self, state: _Pass, asynchronous: bool) -> None:
        """Free the slots ``state`` still holds, as sent (its estimate kept), without waiting
        on a shared store from the event loop or raising (see ``Limiter.release_soon``)."""
        hold, state.hold = state.hold, None
        if hold is not None and self.limiter is not None:
            try:
                self.limiter.release_soon(hold, None, True, asynchronous)
            except BaseException as error:
                _give_back(state, hold, error)
                raise

    def chat_sync(self, *request: Any) -> ChatCompletion | Stream:
        """:meth:`chat` (without ``asynchronous``), blocking: the GIL released while it waits."""
        return blocking(self.chat, *request, asynchronous=False)  # type: ignore[return-value]

    def chat_async(self, *request: Any) -> Coroutine[Any, Any, ChatCompletion | AsyncStream]:
        """:meth:`chat` (without ``asynchronous``), to await on the running event loop."""
        return self.chat(*request, asynchronous=True)  # type: ignore[return-value]

    async def _lookup(self, key: bytes, asynchronous: bool) -> bytes | None:
        store = self.cache_store
        try:
            return await store.cache_get_async(key) if asynchronous and not self.cache_inline else store.cache_get(key)
        except StoreUnavailableError as error:
            self._tolerate(error, "the response cache")
            return None

    async def _uncooled(self, chain: list[str], asynchronous: bool) -> list[str]:
        """The chain without the models other processes cooled down (all cooling: all of
        them, like the core)."""
        try:
            cooling = await self.store.cooling_async(chain) if asynchronous else self.store.cooling(chain)
        except StoreUnavailableError as error:
            self._tolerate(error, "the shared cooldowns")
            return chain
        kept = [m for m in chain if m not in cooling]
        return kept if kept else chain

    def _cache_entry(
        self, state: _Pass, completion: ChatCompletion | None, chunks: list[str] | None
    ) -> tuple[bytes, bytes, float | None, int] | None:
        """What ``cache_put`` takes to store a clean answer (``None``: nothing to store)."""
        if state.key is None or completion is None or not cacheable(completion):
            return None
        if state.stream and not chunks:
            return None
        assert self.cache is not None
        return state.key, encode(completion, state.answer, chunks), state.ttl, self.cache.max_bytes

    async def _finish(
        self,
        state: _Pass,
        attempts: Sequence[Attempt],
        completion: ChatCompletion | None,
        error: BaseException | None,
        asynchronous: bool,
        chunks: list[str] | None = None,
        sent: bool | None = None,
    ) -> None:
        """Correct the limits, publish what failed, store a clean answer."""
        store = self.store
        try:
            hold, state.hold = state.hold, None
            if hold is not None and self.limiter is not None:
                try:
                    sent = bool(attempts) if sent is None else sent
                    used = _usage_tokens(completion)
                    if asynchronous:
                        await self.limiter.release_async(hold, used, sent)
                    else:
                        self.limiter.release(hold, used, sent)
                except BaseException as cut_short:
                    _give_back(state, hold, cut_short)
                    raise
            keys, seconds, cooled = self._upkeep(attempts, error)
            if keys:
                await store.tighten_async(keys, seconds) if asynchronous else store.tighten(keys, seconds)
            if cooled:
                await store.cool_async(cooled) if asynchronous else store.cool(cooled)
            put = self._cache_entry(state, completion, chunks) if state.key is not None else None
            if put is not None:
                cache_store = self.cache_store
                if asynchronous and not self.cache_inline:
                    await cache_store.cache_put_async(*put)
                else:
                    cache_store.cache_put(*put)
        except StoreUnavailableError as failure:
            logger.warning("fastrouter: could not update the shared store after a request: %s", failure)
        finally:
            if state.leading:
                state.leading = False
                self.flights.land(state.key or b"")

    # -- streams (both kinds)
    def _open_stream(self, stream: _S, state: _Pass, asynchronous: bool) -> _S:
        """Wire a live stream's end to the books, the limits and the cache."""
        if state.key is not None:
            stream._record = []
        books = state.books
        ended = False

        def finished(done: _StreamBase, status: str) -> None:
            # Called again should a call be interrupted (see _StreamBase._finish): the books
            # record once, the limits and the cache end once.
            nonlocal ended
            completion: ChatCompletion | None = None
            try:
                books.stream_finished(done, status)
                completion = done.completion if status == "ok" else None
            finally:  # a completion that cannot be built still frees the limits
                if not ended:
                    ended = True
                    self._end_stream(state, done, completion, asynchronous)

        stream._on_finish = finished
        weakref.finalize(stream, self._abandoned, state)
        return stream

    def _end_stream(
        self, state: _Pass, done: _StreamBase, completion: ChatCompletion | None, asynchronous: bool
    ) -> None:
        """Run ``_finish`` for an ended stream (``completion`` None unless it ended well)."""
        # An async stream writing to a shared store does it in a task on its loop.
        loop = _running_loop() if asynchronous and (self.store.shared or self.cache_store.shared) else None
        finish, ending = (state, done.attempts, completion, None), (done._record, True)
        if loop is None:
            blocking(self._finish, *finish, False, *ending)
            return
        from ._background import in_background

        def again() -> None:
            blocking(self._finish, *finish, False, *ending)

        try:
            in_background(loop, self.store, lambda: self._finish(*finish, True, *ending), again)
        except BaseException:  # a Ctrl-C: perhaps not handed over, so made now too
            again()
            raise

    def _abandoned(self, state: _Pass) -> None:
        """A stream was dropped without ending or closing: free its limit slots (its
        estimate stays counted) and let identical requests go."""
        if state.hold is not None and self.limiter is not None:
            hold, state.hold = state.hold, None
            try:
                self.limiter.release(hold, None, sent=True)
            except StoreUnavailableError as error:
                logger.warning("fastrouter: could not free a dropped stream's limit: %s", error)
        if state.leading:
            state.leading = False
            self.flights.land(state.key or b"")
