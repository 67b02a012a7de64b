"""Client-side rate limits: concurrency, sliding rpm/tpm windows, FIFO waiting within the
deadline, refusal without sending (wait=False), cancellation, upstream 429s."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import fastrouter
import pytest
from fastrouter.store import MemoryStore
from fastrouter.testing import Fail, MockServer, Reply

MODEL = "openai/gpt-4o-mini"
OTHER = "anthropic/claude-3.5-haiku"
MESSAGES = [{"role": "user", "content": "hi"}]


def _window(client: Any, key: str) -> Any:
    store = client._store
    assert isinstance(store, MemoryStore)
    return store._windows[key]


async def _until(predicate: Any, timeout: float = 10.0) -> None:
    """Lets the loop run until ``predicate()`` holds (a generous deadline, not a fixed sleep)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.005)


def _inflight(client: Any, key: str) -> int:
    window = client._store._windows.get(key)
    return 0 if window is None else int(window.inflight)


def _in_line(client: Any) -> bool:
    lane = client._gate.limiter.lane((MODEL,))
    return lane is not None and bool(lane.queue)


class _Peak:
    """Samples a window's in-flight count from a thread (works for both clients)."""

    def __init__(self, client: Any, key: str) -> None:
        self.client, self.key, self.peak = client, key, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            window = self.client._store._windows.get(self.key)
            if window is not None:
                self.peak = max(self.peak, window.inflight)
            time.sleep(0.001)

    def __enter__(self) -> _Peak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


async def test_concurrency_holds_under_asyncio(server: MockServer) -> None:
    server.script(MODEL, *[Reply(content="ok", delay=0.15)] * 12)
    async with fastrouter.AsyncClient(
        base_url=server.base_url, api_key="k", limits={"openai/*": fastrouter.Limit(concurrency=3)}
    ) as client:
        with _Peak(client, "openai/*") as peak:
            results = await asyncio.gather(
                *[client.chat.completions.create(model=MODEL, messages=MESSAGES) for _ in range(12)]
            )
        assert len(results) == 12
        assert peak.peak == 3
        assert _window(client, "openai/*").inflight == 0
    assert len(server.chat_requests()) == 12


def test_concurrency_holds_under_threads(server: MockServer) -> None:
    server.script(MODEL, *[Reply(content="ok", delay=0.15)] * 12)
    with fastrouter.Client(
        base_url=server.base_url, api_key="k", limits={"*": fastrouter.Limit(concurrency=2)}
    ) as client:
        with _Peak(client, "*") as peak, ThreadPoolExecutor(8) as pool:
            results = list(
                pool.map(lambda _: client.chat.completions.create(model=MODEL, messages=MESSAGES), range(12))
            )
        assert len(results) == 12
        assert peak.peak == 2
        assert _window(client, "*").inflight == 0


async def test_rpm_refuses_at_once_without_sending(caller: Any, server: MockServer) -> None:
    client = caller.client(server, limits={MODEL: fastrouter.Limit(rpm=3, wait=False)})
    for _ in range(3):
        await caller.create(client, model=MODEL)
    started = time.monotonic()
    with pytest.raises(fastrouter.RateLimitError) as caught:
        await caller.create(client, model=MODEL)
    assert time.monotonic() - started < 5.0  # the window frees in ~60 s
    error = caught.value
    assert error.client_side is True
    assert error.kind == "client_rate_limited"
    assert error.status_code is None
    assert error.retry_after is not None and 59 <= error.retry_after <= 60
    assert len(server.chat_requests()) == 3
    # The refused request is in the ledger as an error that cost nothing.
    assert [e.status for e in client.usage.entries] == ["ok", "ok", "ok", "error"]


async def test_a_refused_request_asks_the_store_to_release_nothing(
    caller: Any, server: MockServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The limiter hands its hold over before asking the store (so a Ctrl-C cannot strand
    # an admitted slot); a refusal takes it back: no release round trip for it.
    client = caller.client(server, limits={MODEL: fastrouter.Limit(rpm=1, wait=False)})
    released: list[str] = []
    release = MemoryStore.release
    monkeypatch.setattr(MemoryStore, "release", lambda self, *args: (released.append(args[1]), release(self, *args)))
    await caller.create(client, model=MODEL)
    assert len(released) == 1
    for _ in range(3):
        with pytest.raises(fastrouter.RateLimitError):
            await caller.create(client, model=MODEL)
    assert len(released) == 1


async def test_other_models_are_not_limited(caller: Any, server: MockServer) -> None:
    client = caller.client(server, limits={"openai/*": fastrouter.Limit(rpm=1, wait=False)})
    await caller.create(client, model=MODEL)
    await caller.create(client, model=OTHER)
    with pytest.raises(fastrouter.RateLimitError):
        await caller.create(client, model=MODEL)


async def test_waits_within_the_deadline_then_refuses(caller: Any, server: MockServer) -> None:
    client = caller.client(server, limits={"*": fastrouter.Limit(rpm=1)}, timeout=fastrouter.Timeout(total=5.0))
    await caller.create(client, model=MODEL)
    started = time.monotonic()
    with pytest.raises(fastrouter.RateLimitError) as caught:
        await caller.create(client, model=MODEL)
    # The window frees in ~60 s, past the 5 s deadline: refused at once, nothing sent.
    assert time.monotonic() - started < 2.5
    assert caught.value.client_side
    assert len(server.chat_requests()) == 1


async def test_concurrency_wait_ends_at_the_deadline(server: MockServer) -> None:
    server.script(MODEL, Reply(content="slow", delay=1.0))
    async with fastrouter.AsyncClient(
        base_url=server.base_url,
        api_key="k",
        limits={"*": fastrouter.Limit(concurrency=1)},
        timeout=fastrouter.Timeout(total=2.0),
    ) as client:
        slow = asyncio.ensure_future(client.chat.completions.create(model=MODEL, messages=MESSAGES))
        await _until(lambda: _inflight(client, "*") == 1)
        with pytest.raises(fastrouter.RateLimitError):
            await client.chat.completions.create(model=MODEL, messages=MESSAGES, timeout=fastrouter.Timeout(total=0.2))
        await slow
    assert len(server.chat_requests()) == 1


async def test_waiters_are_served_first_come_first_served(server: MockServer) -> None:
    server.script(MODEL, *[Reply(content="ok", delay=0.03)] * 6)
    async with fastrouter.AsyncClient(
        base_url=server.base_url, api_key="k", limits={"*": fastrouter.Limit(concurrency=1)}
    ) as client:
        tasks = []
        for i in range(6):
            tasks.append(
                asyncio.ensure_future(
                    client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": f"n{i}"}])
                )
            )
            await asyncio.sleep(0.005)
        await asyncio.gather(*tasks)
    order = [r.body["messages"][0]["content"] for r in server.chat_requests()]
    assert order == [f"n{i}" for i in range(6)]


async def test_cancelled_waiter_and_cancelled_request_release(server: MockServer) -> None:
    server.script(MODEL, Reply(content="slow", delay=5.0))
    async with fastrouter.AsyncClient(
        base_url=server.base_url, api_key="k", limits={"*": fastrouter.Limit(concurrency=1)}
    ) as client:
        running = asyncio.ensure_future(client.chat.completions.create(model=MODEL, messages=MESSAGES))
        await _until(lambda: len(server.chat_requests()) == 1)
        waiting = asyncio.ensure_future(client.chat.completions.create(model=MODEL, messages=MESSAGES))
        await _until(lambda: _in_line(client))
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        assert not client._gate.limiter.lane((MODEL,)).queue  # the cancelled waiter left the line
        running.cancel()  # the request in flight: its slot is freed too
        with pytest.raises(asyncio.CancelledError):
            await running
        await _until(lambda: _inflight(client, "*") == 0)
        started = time.monotonic()
        resp = await asyncio.wait_for(client.chat.completions.create(model=MODEL, messages=MESSAGES), 2.0)
        assert time.monotonic() - started < 1.0
        assert resp.choices[0].message.content


def test_tokens_are_estimated_then_corrected_from_usage(server: MockServer) -> None:
    server.script(MODEL, Reply(content="ok", prompt_tokens=7, completion_tokens=5))
    with fastrouter.Client(base_url=server.base_url, api_key="k", limits={"*": fastrouter.Limit(tpm=10_000)}) as client:
        client.chat.completions.create(model=MODEL, messages=MESSAGES, max_tokens=500)
        window = _window(client, "*")
        assert window.tokens == 12  # 500+ estimated before sending, 12 used
        assert window.requests == 1


async def test_an_answer_settles_its_limits_on_both_clients(caller: Any, server: MockServer) -> None:
    # The usual answer takes the gate's short way (the in-process store, nothing failed):
    # its slot freed, its tokens corrected, like any other ending.
    server.script(MODEL, Reply(content="ok", prompt_tokens=7, completion_tokens=5))
    client = caller.client(server, limits={"*": fastrouter.Limit(tpm=10_000, concurrency=2)})
    await caller.create(client, model=MODEL, max_tokens=500)
    window = _window(client, "*")
    assert (window.tokens, window.requests, window.inflight, window.by_id) == (12, 1, 0, {})


async def test_a_429_before_the_answer_still_shuts_its_limit(caller: Any, server: MockServer) -> None:
    # A chain whose first model is rate limited upstream: the answer comes from the second,
    # and the first model's limit is shut for the reset the 429 named.
    server.script(MODEL, Fail(429, retry_after=2))
    server.script(OTHER, Reply(content="from the other"))
    client = caller.client(server, limits={MODEL: fastrouter.Limit(rpm=100, wait=False)})
    answer = await caller.create(client, model=[MODEL, OTHER])
    assert answer.choices[0].message.content == "from the other"
    assert [a.status for a in answer.attempts] == [429, 200]
    with pytest.raises(fastrouter.RateLimitError) as caught:
        await caller.create(client, model=MODEL)
    assert caught.value.client_side
    assert _window(client, MODEL).inflight == 0


async def test_tpm_refuses_a_request_that_would_not_fit(caller: Any, server: MockServer) -> None:
    server.script(MODEL, Reply(content="ok", prompt_tokens=900, completion_tokens=50))
    client = caller.client(server, limits={MODEL: fastrouter.Limit(tpm=1000, wait=False)})
    await caller.create(client, model=MODEL)
    with pytest.raises(fastrouter.RateLimitError) as caught:
        await caller.create(client, model=MODEL, max_tokens=100)
    assert caught.value.retry_after is not None and caught.value.retry_after > 50
    await caller.create(client, model=MODEL, max_tokens=20)  # 950 + ~20: still fits
    assert len(server.chat_requests()) == 2


async def test_an_upstream_429_shuts_the_limit_for_its_reset(caller: Any, server: MockServer) -> None:
    server.script(MODEL, Fail(429, retry_after=2))
    client = caller.client(server, limits={"openai/*": fastrouter.Limit(rpm=100, wait=False)})
    with pytest.raises(fastrouter.RateLimitError) as upstream:
        await caller.create(client, model=MODEL)
    assert not upstream.value.client_side
    with pytest.raises(fastrouter.RateLimitError) as caught:
        await caller.create(client, model=MODEL)
    assert caught.value.client_side
    assert caught.value.retry_after is not None and 1.0 < caught.value.retry_after <= 2.0
    await caller.create(client, model=OTHER)  # other limits stay open
    assert len(server.chat_requests()) == 2


async def test_route_limits_from_toml(caller: Any, server: MockServer) -> None:
    routing = fastrouter.Routing.from_toml_str(
        """
[aliases]
fast = ["openai/gpt-4o-mini"]

[limits]
"anthropic/*" = { rpm = 1, wait = false }

[routes.smart]
models = ["openai/gpt-4o-mini"]
limit = { rpm = 2, wait = false }
"""
    )
    assert routing.all_limits()["smart"] == fastrouter.Limit(rpm=2, wait=False)
    assert fastrouter.Routing.from_toml_str(routing.to_toml()) == routing
    client = caller.client(server, routing=routing)
    await caller.create(client, model="smart")
    await caller.create(client, model="smart")
    with pytest.raises(fastrouter.RateLimitError):
        await caller.create(client, model="smart")
    await caller.create(client, model=OTHER)
    with pytest.raises(fastrouter.RateLimitError):
        await caller.create(client, model=OTHER)


def test_limit_validation() -> None:
    with pytest.raises(ValueError):
        fastrouter.Limit()
    with pytest.raises(ValueError):
        fastrouter.Limit(rpm=0)
    with pytest.raises(TypeError):
        fastrouter.Client(api_key="k", limits={"*": {"rpm": 1}})  # type: ignore[dict-item]
    with pytest.raises(fastrouter.RoutingError):
        fastrouter.Routing.from_dict({"limits": {"*": {"rpx": 1}}})


def test_a_dropped_stream_frees_its_slot(server: MockServer) -> None:
    import gc

    with fastrouter.Client(
        base_url=server.base_url, api_key="k", limits={"*": fastrouter.Limit(concurrency=1)}
    ) as client:
        stream = client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
        assert _window(client, "*").inflight == 1
        del stream  # never read, never closed
        gc.collect()
        assert _window(client, "*").inflight == 0
        resp = client.chat.completions.create(model=MODEL, messages=MESSAGES, timeout=fastrouter.Timeout(total=2))
        assert resp.choices[0].message.content


async def test_a_cancelled_request_wakes_the_line_behind_it(server: MockServer) -> None:
    # The slot of a request cancelled in flight is freed and the next in line woken (an
    # in-process store waits to be woken, it does not poll).
    server.script(MODEL, Reply("slow", delay=5.0), Reply("next"))
    limits = {"*": fastrouter.Limit(concurrency=1)}
    async with fastrouter.AsyncClient(base_url=server.base_url, api_key="k", max_retries=0, limits=limits) as client:

        async def ask() -> str:
            answer = await client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}])
            return answer.choices[0].message.content or ""

        first = asyncio.create_task(ask())
        await _until(lambda: bool(server.chat_requests()))
        second = asyncio.create_task(ask())
        await _until(lambda: _in_line(client))  # in line behind the first
        first.cancel()
        assert await asyncio.wait_for(second, timeout=3.0) == "next"
