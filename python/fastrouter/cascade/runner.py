"""Walking a cascade: each tier reserved, sent, scored, recorded; the first good answer kept.

The walk is written once, for both clients: coroutines that take ``asynchronous`` and at
each wait (send a tier, run a user check, read a draft's stream) await or block (see
:mod:`fastrouter._dual`); :func:`create_sync` runs them blocking, :func:`create_async`
awaits them. So the sync, async and streaming paths share every rule: reservation before
each tier, one ledger entry per call with its role, escalation events, the accounting.
"""

from __future__ import annotations

import inspect
import json
import logging
import time
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from .._dual import blocking, native_chat
from ..errors import BudgetExceededError, FastrouterError, RoutingError
from ..events import ChainEvent
from ..routing.backends import model_for
from ..usage.cost import chain_worst_case, price_usage
from ..usage.entries import CascadeMark
from .checks import CheckResult, confidence, failures, format_check, hedging
from .judge import judge_messages, judge_verdict
from .result import CascadeResult
from .scoring import TierScore, combine
from .streams import CascadeAsyncStream, CascadeStream
from .tiers import Cascade

if TYPE_CHECKING:
    from ..catalog import Catalog
    from ..client import AsyncClient, Client, _ClientBase
    from ..types import ChatCompletion
    from ..usage.books import RequestBooks

__all__ = ["cascade_of", "create", "create_async", "create_sync"]

logger = logging.getLogger("fastrouter")
_ZERO = Decimal(0)
# A create() call's extra_body, extra_headers, max_retries, timeout and tags, as given.
_Options = tuple[Mapping[str, Any] | None, Mapping[str, str] | None, int | None, Any, Sequence[str] | None]


def cascade_of(client: _ClientBase, model: Any) -> tuple[Cascade, str, Decimal | None] | None:
    """The cascade ``model`` names (a :class:`Cascade`, or a cascade route), with the name
    the ledger shows and the route's ``max_cost_per_request``; ``None`` otherwise."""
    if isinstance(model, Cascade):
        return model, model.name, model.max_cost_per_request
    routing = client.routing
    if isinstance(model, str) and routing is not None:
        route = routing.routes.get(model)
        cascade = getattr(route, "cascade", None)
        if route is not None and cascade is not None:
            limit = cascade.max_cost_per_request
            return cascade, model, limit if limit is not None else route.max_cost_per_request
    return None


# ---------------------------------------------------------------------- answers


class _Sent:
    """A tier's answer: the completion, and for a buffered stream the stream and chunks."""

    __slots__ = ("completion", "stream", "chunks")

    def __init__(self, completion: ChatCompletion, stream: Any = None, chunks: list[Any] | None = None) -> None:
        self.completion = completion
        self.stream = stream
        self.chunks = chunks


class _Outcome:
    """What the walk ends with: the kept answer (or a live stream) and its result."""

    __slots__ = ("completion", "result", "sent", "live")

    def __init__(
        self, completion: ChatCompletion | None, result: CascadeResult | None, sent: _Sent | None, live: Any
    ) -> None:
        self.completion = completion
        self.result = result
        self.sent = sent
        self.live = live


# ------------------------------------------------------------------------ the walk


def _user_score(check: Any, value: Any) -> CheckResult:
    name = getattr(check, "__name__", type(check).__name__)
    if isinstance(value, bool):
        return CheckResult(name, 1.0 if value else 0.0, () if value else ("returned False",), gate=True)
    if isinstance(value, (int, float)):
        score = max(0.0, min(1.0, float(value)))
        return CheckResult(name, score, (f"returned {value:g}",))
    raise TypeError(f"cascade check {name} must return a float or a bool, got {value!r}")


def builtin_checks(request: Mapping[str, Any], data: Mapping[str, Any]) -> list[CheckResult]:
    """The built-in checks of one answer (the raw completion dict)."""
    results = [failures(data)]
    shaped = format_check(request, data)
    if shaped is not None:
        results.append(shaped)
    results.append(confidence(data))
    hedged = hedging(data)
    if hedged is not None:
        results.append(hedged)
    return results


class _Walk:
    """One cascade request: its settings and its running account."""

    def __init__(
        self,
        client: _ClientBase,
        found: tuple[Cascade, str, Decimal | None],
        messages: Any,
        stream: bool,
        options: _Options,
        params: Mapping[str, Any],
        catalog: Catalog | None,
        asynchronous: bool,
    ) -> None:
        self.client = client
        self.cascade, self.name, self.limit = found
        self.messages = messages
        self.stream = stream
        self.options = options  # passed on as given: _prepare_chat checks them
        self.params = params
        self.catalog = catalog
        self.asynchronous = asynchronous  # for the asyncio client: its streams are async
        extra_body, tags = options[0], options[4]
        self.tags = tuple(tags) if tags is not None and not isinstance(tags, str) else ()
        self.request: dict[str, Any] = {**(extra_body or {}), **params, "messages": messages}
        self.spent = _ZERO
        self.scores: list[TierScore] = []

    # ------------------------------------------------------------------ helpers

    def chain(self, tier: tuple[str, ...]) -> list[str]:
        """The model ids a tier may call (an alias or route resolved)."""
        routing = self.client.routing
        if len(tier) == 1 and routing is not None and routing.is_route(tier[0]):
            if getattr(routing.routes.get(tier[0]), "cascade", None) is not None:
                raise RoutingError(f"cascade tier {tier[0]!r} is itself a cascade; tiers are models, chains or aliases")
            resolved = self.client._resolve_route(tier[0], self.catalog)
            return list(resolved.chain) if resolved is not None else list(tier)
        return list(tier)

    def wants_logprobs(self, chain: list[str]) -> bool:
        if not self.cascade.logprobs or self.catalog is None or "logprobs" in self.request:
            return False
        for model_id in chain:
            model = self.catalog.get(model_id)
            if model is None or not model.supports("logprobs"):
                return False
        return True

    def check_limits(self, chain: list[str], params: Mapping[str, Any], what: str) -> None:
        """Refuse a tier whose worst case would break the cascade's per-request limit or
        a per-request budget, counting what the earlier tiers spent."""
        per_request = [b for b in self.client._budgets.budgets if b.per == "request" and b.applies_to(self.tags)]
        if self.limit is None and not per_request:
            return
        size = len(json.dumps(self.request, default=str))
        max_tokens = params.get("max_completion_tokens") or params.get("max_tokens")
        catalog, backends = self.catalog, self.client._backends
        estimate, _ = chain_worst_case(chain, size, max_tokens, lambda entry: model_for(entry, catalog, backends))
        if estimate is None:
            raise BudgetExceededError(f"cascade {self.name}: cannot check the limit for {what}: its price is unknown")
        total = self.spent + estimate
        caps = ([("max_cost_per_request", self.limit)] if self.limit is not None else []) + [
            (f"{b.per} budget", b.usd) for b in per_request
        ]
        for label, cap in caps:
            if total > cap:
                raise BudgetExceededError(
                    f"cascade {self.name}: stopped before {what}: ${self.spent:f} spent so far plus up to"
                    f" ${estimate:f} for it would break the {label} of ${cap:f}"
                )

    def prepare(
        self, model: Any, messages: Any, params: Mapping[str, Any], stream: bool, what: str, mark: CascadeMark
    ) -> tuple[Any, RequestBooks]:
        try:
            args, books = self.client._prepare_chat(model, messages, stream, *self.options, params, self.catalog)
        except BudgetExceededError as error:
            raise BudgetExceededError(f"cascade {self.name}: stopped before {what}: {error}") from None
        books.requested = self.name
        books.cascade = mark
        return args, books

    def escalate(self, tier: int, model: str | None, why: str) -> None:
        hook = self.client._on_cascade_event
        if hook is None and not logger.isEnabledFor(logging.DEBUG):
            return
        event = ChainEvent("escalate", model or "?", tier, None, None, why, None, None)
        logger.debug("%s", event)
        if hook is not None:
            try:
                hook(event)
            except Exception:  # a hook never breaks a request
                logger.exception("on_event hook failed")

    def baseline(self, completion: ChatCompletion) -> Decimal | None:
        """What the last tier's first model would have charged for this answer's usage."""
        usage = completion._data.get("usage")
        if self.catalog is None or not isinstance(usage, dict):
            return None
        try:
            chain = self.chain(self.cascade.tiers[-1])
        except FastrouterError:
            return None
        model = self.catalog.get(chain[0]) if chain else None
        return price_usage(model.pricing, usage) if model is not None else None

    def result(self, tier: int, model: str, baseline: Decimal | None) -> CascadeResult:
        return CascadeResult(
            model_used=model,
            accepted_tier=tier,
            scores=tuple(self.scores),
            cost=self.spent,
            baseline_cost=baseline,
            threshold=self.cascade.threshold,
        )

    # ------------------------------------------------------------------ the walk

    async def send(self, args: Any, books: RequestBooks, stream: bool, live: Any = None) -> Any:
        """Send one tier (or judge) request, recorded as failed if it fails: its
        :class:`_Sent` answer (a stream read to its end), or, given ``live`` (the last
        tier's stream end), the stream unread."""
        from ..client import _completion  # the client's one way of reading a native answer

        try:  # ``with books``, without the call into __enter__ (see AsyncCompletions.create)
            native = await native_chat(self.client._inner, stream, args, self.asynchronous)
            if not stream:
                return _Sent(_completion(native))
            opened: Any = (CascadeAsyncStream if self.asynchronous else CascadeStream)(native, live)
            if live is not None:
                return opened
            chunks = [chunk async for chunk in opened] if self.asynchronous else list(opened)
            return _Sent(opened.completion, opened, chunks)
        except BaseException as error:
            books.failed(error)
            raise

    async def judge(self, tier: int, completion: ChatCompletion) -> CheckResult | None:
        judge = self.cascade.judge
        if judge is None:
            return None
        label = Cascade.tier_label(judge)
        model: Any = judge[0] if len(judge) == 1 else list(judge)
        message = completion._data.get("choices", [{}])[0].get("message") or {}
        answer = message.get("content") or json.dumps(message.get("tool_calls") or "")
        params = {"max_tokens": 8, "temperature": 0}
        self.check_limits(self.chain(judge), params, f"the judge {label}")
        args, books = self.prepare(
            model,
            judge_messages(self.messages, answer),
            params,
            False,
            f"the judge {label}",
            CascadeMark("judge", tier),
        )
        try:
            sent = await self.send(args, books, stream=False)
        except FastrouterError as error:
            self.spent += books.entry.total_cost if books.entry is not None else _ZERO
            return CheckResult("judge", None, (f"{label} failed: {error}",), weight=self.cascade.judge_weight)
        except BaseException as error:  # a Ctrl-C as send began: see _book
            books.failed(error)
            raise
        try:
            verdict: ChatCompletion = sent.completion
            self._book(books, sent)
        except BaseException:
            self._book(books, sent)  # the judge was paid for: it is in the ledger whatever happens
            raise
        self.spent += books.entry.total_cost if books.entry is not None else _ZERO
        reply = (verdict._data.get("choices") or [{}])[0].get("message", {}).get("content")
        return judge_verdict(reply, verdict._data.get("model") or label, self.cascade.judge_weight)

    async def score(self, tier: int, completion: ChatCompletion, last: bool) -> tuple[float, tuple[CheckResult, ...]]:
        results = builtin_checks(self.request, completion._data)
        if not last:
            for check in self.cascade.checks:
                value = check(self.request, completion)
                if inspect.isawaitable(value):
                    value = await value if self.asynchronous else _await_blocking(value)
                results.append(_user_score(check, value))
            # The judge costs money: ask it only when the answer can still pass.
            if self.cascade.judge is not None and combine(results) >= self.cascade.threshold:
                verdict = await self.judge(tier, completion)
                if verdict is not None:
                    results.append(verdict)
        return combine(results), tuple(results)

    async def walk(self) -> _Outcome:
        tiers = self.cascade.tiers
        threshold = self.cascade.threshold
        for index, tier in enumerate(tiers):
            last = index == len(tiers) - 1
            what = f"tier {index} ({Cascade.tier_label(tier)})"
            chain = self.chain(tier)
            params = self.params
            if self.wants_logprobs(chain):
                params = {**params, "logprobs": True}
            self.check_limits(chain, params, what)
            model: Any = tier[0] if len(tier) == 1 else list(tier)
            mark = CascadeMark("kept" if last else "draft", index)
            args, books = self.prepare(model, self.messages, params, self.stream, what, mark)
            # From the reservation on, whatever stops the tier (a Ctrl-C at any call) books
            # it: failed() before its answer, _book after.
            try:
                if last and self.stream:
                    mark.own_baseline = True
                    finish = self._live_finish(index, books)
                    live = await self.send(args, books, stream=True, live=finish)
                    return _Outcome(None, None, None, live)
                started = time.perf_counter()
                sent = await self.send(args, books, stream=self.stream)
            except FastrouterError as error:
                cost = books.entry.total_cost if books.entry is not None else _ZERO
                self.spent += cost
                if last:
                    raise
                self.scores.append(TierScore(index, None, 0.0, False, (), cost, error=str(error)))
                self.escalate(index, chain[0] if chain else None, f"{what} failed: {error}")
                continue
            except BaseException as error:
                books.failed(error)
                raise
            try:
                completion = sent.completion
                score, results = await self.score(index, completion, last)
                keep = last or score >= threshold
                baseline: Decimal | None = None
                if keep:
                    mark.role = "kept"
                    mark.own_baseline = last
                    baseline = None if last else self.baseline(completion)
                    mark.baseline = baseline
                self._book(books, sent)
            except BaseException:
                self._book(books, sent)  # the tier was paid for: it is in the ledger whatever happens
                raise
            cost = books.entry.total_cost if books.entry is not None else _ZERO
            self.spent += cost
            answered_by = completion._data.get("model") or chain[0]
            self.scores.append(TierScore(index, answered_by, score, keep, results, cost))
            if keep:
                if last:
                    baseline = cost
                result = self.result(index, answered_by, baseline)
                completion._cascade = result
                logger.debug(
                    "cascade %s kept tier %d in %.1f us", self.name, index, (time.perf_counter() - started) * 1e6
                )
                return _Outcome(completion, result, sent, None)
            reasons = "; ".join(str(r) for r in results if r.score is not None and r.score < 1.0)
            self.escalate(index, answered_by, f"score {score:.2f} < {threshold:g}: {reasons or 'no signal'}")
        raise AssertionError("unreachable: the last tier is always kept")  # pragma: no cover

    def _book(self, books: RequestBooks, sent: _Sent) -> None:
        """Record a tier's answer once; made again after a Ctrl-C cut it short, it ends what
        was left (the entry, or the reservation's settling)."""
        if books.entry is not None:
            books._settle_interrupted()
            return
        if sent.stream is not None:
            books.stream_finished(sent.stream, "ok")
        else:
            books.answered(sent.completion)

    def _live_finish(self, index: int, books: RequestBooks) -> Any:
        """The last tier's stream end: record it as kept and attach the cascade's result."""

        reported = False

        def finished(stream: Any, status: str) -> None:
            # Called again should a call be interrupted (see _StreamBase._finish): the books
            # record once, the tier is counted once.
            nonlocal reported
            books.stream_finished(stream, status)
            if reported:
                return
            reported = True
            cost = books.entry.total_cost if books.entry is not None else _ZERO
            self.spent += cost
            try:
                completion = stream.completion
            except Exception:  # not buildable (books recorded it); nobody asked for it at a close
                if status == "ok":
                    raise
                return
            results = tuple(builtin_checks(self.request, completion._data))
            model = completion._data.get("model") or Cascade.tier_label(self.cascade.tiers[index])
            self.scores.append(TierScore(index, model, combine(results), True, results, cost))
            result = self.result(index, model, cost)
            stream._cascade = result
            completion._cascade = result

        return finished


# ----------------------------------------------------------------- both clients


def _await_blocking(awaitable: Any) -> Any:
    import asyncio

    async def wait() -> Any:
        return await awaitable

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(wait())
    raise RuntimeError("an async cascade check needs the AsyncClient (the sync Client is running inside an event loop)")


async def create(
    client: Client | AsyncClient,
    found: tuple[Cascade, str, Decimal | None],
    messages: Any,
    stream: bool,
    extra_body: Mapping[str, Any] | None,
    extra_headers: Mapping[str, str] | None,
    max_retries: int | None,
    timeout: Any,
    tags: Sequence[str] | None,
    params: Mapping[str, Any],
    *,
    asynchronous: bool,
) -> Any:
    """``chat.completions.create`` for a cascade: the kept answer (with
    ``.cascade``), or a stream of it (:class:`CascadeAsyncStream` when ``asynchronous``)."""
    models: Any = client.models
    try:
        catalog = await models.list() if asynchronous else models.list()
    except FastrouterError:
        catalog = None  # no logprobs request, no baseline; limits and routes then refuse clearly
    options: _Options = (extra_body, extra_headers, max_retries, timeout, tags)
    walk = _Walk(client, found, messages, stream, options, params, catalog, asynchronous)
    outcome = await walk.walk()
    if outcome.live is not None:
        return outcome.live
    if stream and outcome.sent is not None:
        kind = CascadeAsyncStream if asynchronous else CascadeStream
        return kind.replay(outcome.sent.stream, outcome.sent.chunks or [], outcome.result)
    return outcome.completion


def create_sync(client: Client, *request: Any) -> Any:
    """:func:`create` (without ``asynchronous``) for ``Client``, blocking."""
    return blocking(create, client, *request, asynchronous=False)


async def create_async(client: AsyncClient, *request: Any) -> Any:
    """:func:`create` (without ``asynchronous``) for ``AsyncClient``, awaited."""
    return await create(client, *request, asynchronous=True)
