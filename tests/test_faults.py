"""The fault suite: every way a request can end, each asserting the same invariants.

A matrix of exit paths (success, each error kind, each timeout kind, cancellation at each
stage, a stream closed early or dropped) times the two clients (``async``: asyncio
cancellation; ``sync``: Ctrl-C, a real SIGINT sent to this process during the blocking
call), against the real embedded mock. After each exit:

1. the caller got a typed error (the expected class) or a result;
2. every connection the client opened is closed once the client is closed, and no request
   reaches the server after the call ended (no retry or failover left running);
3. the budget is settled: nothing stays reserved;
4. the ledger has exactly one entry, with the expected status and cost.

Fork is covered at the end: a stream open across ``fork()`` is recorded once, by the
parent only, and the child's own requests are recorded in the child.
"""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import fastrouter
import pytest
from fastrouter.testing import Drop, Fail, MockServer, Outcome, Reply, StreamScript

A = "openai/gpt-4o-mini"
B = "anthropic/claude-3.5-sonnet"
HI = [{"role": "user", "content": "hi"}]
# These tests Ctrl-C themselves: no garbage collection may swallow the KeyboardInterrupt.
pytestmark = pytest.mark.usefixtures("no_automatic_gc")
WORDS = "one two three four five six"
SLOW = 3.0  # a delay no test waits out: the exit under test happens long before


@dataclass(frozen=True)
class Case:
    """One exit path: what the mock does, how the caller ends the call, what must follow."""

    name: str
    outcomes: tuple[Outcome, ...] = ()
    stream: bool = False
    timeout: float | fastrouter.Timeout = 10.0
    chain: bool = False  # model=[A, B], both scripted with ``outcomes``
    # finish: run to the end; cancel_after: cancel / Ctrl-C after ``at`` seconds;
    # cancel_streaming: after the first chunk; close_early: close() after the first chunk;
    # drop: drop the stream (no close) after the first chunk.
    action: str = "finish"
    at: float = 0.2
    target: str = "mock"  # mock | silent (accepts, never answers) | full (connect never completes)
    slow_catalog: bool = False  # the catalog (which budgets need) takes a second to load
    raises: type | None = None
    status: str = "ok"
    cost: Decimal | None = None


def _status_case(status: int, error: type) -> Case:
    return Case(f"http_{status}", (Fail(status),), raises=error, status="error")


CASES = [
    # -- success
    Case("ok", (Reply("hello", cost=0.001),), cost=Decimal("0.001")),
    Case("ok_stream", (Reply(WORDS, cost=0.002),), stream=True, cost=Decimal("0.002")),
    # -- each error kind
    _status_case(400, fastrouter.BadRequestError),
    _status_case(401, fastrouter.AuthenticationError),
    _status_case(402, fastrouter.InsufficientCreditsError),
    _status_case(403, fastrouter.PermissionDeniedError),
    _status_case(404, fastrouter.NotFoundError),
    _status_case(408, fastrouter.RequestTimeoutError),
    _status_case(429, fastrouter.RateLimitError),
    _status_case(500, fastrouter.InternalServerError),
    _status_case(502, fastrouter.ProviderError),
    _status_case(503, fastrouter.ServiceUnavailableError),
    Case("error_in_200_body", (Fail(502, in_body=True),), raises=fastrouter.ProviderError, status="error"),
    Case("connection_dropped", (Drop(),), raises=fastrouter.APIConnectionError, status="error"),
    Case("chain_exhausted", (Fail(503),), chain=True, raises=fastrouter.AllModelsFailedError, status="error"),
    Case("stream_refused", (Fail(503),), stream=True, raises=fastrouter.ServiceUnavailableError, status="error"),
    Case(
        "stream_error_event",
        (Reply(WORDS, cost=0.003, stream=StreamScript(error_after=2)),),
        stream=True,
        raises=fastrouter.StreamError,
        status="stream_error",
        cost=Decimal("0.003"),  # the error chunk carried usage
    ),
    Case(
        "stream_cut",
        (Reply(WORDS, cost=0.003, stream=StreamScript(drop_after=2)),),
        stream=True,
        raises=fastrouter.StreamError,
        status="stream_error",
    ),
    # -- each timeout kind
    Case(
        "timeout_connect",
        target="full",
        timeout=fastrouter.Timeout(connect=0.3),
        raises=fastrouter.APITimeoutError,
        status="error",
    ),
    Case(
        "timeout_read",
        (Reply("late", delay=SLOW),),
        timeout=fastrouter.Timeout(read=0.2),
        raises=fastrouter.APITimeoutError,
        status="error",
    ),
    Case(
        "timeout_attempt",
        (Reply("late", delay=SLOW),),
        timeout=fastrouter.Timeout(attempt=0.2),
        raises=fastrouter.APITimeoutError,
        status="error",
    ),
    Case(
        "timeout_first_token",
        (Reply(WORDS, stream=StreamScript(first_chunk_delay=SLOW)),),
        stream=True,
        timeout=fastrouter.Timeout(first_token=0.2),
        raises=fastrouter.APITimeoutError,
        status="error",
    ),
    Case(
        "timeout_idle",
        (Reply(WORDS, stream=StreamScript(stall_after=1)),),
        stream=True,
        timeout=fastrouter.Timeout(idle=0.2),
        raises=fastrouter.StreamError,
        status="stream_error",
    ),
    Case(
        "timeout_total",
        (Reply("late", delay=SLOW),),
        timeout=fastrouter.Timeout(total=0.2),
        raises=fastrouter.APITimeoutError,
        status="error",
    ),
    # -- cancellation (async) / Ctrl-C (sync) at each stage
    Case(
        "cancel_loading_catalog", (Reply("never sent"),), slow_catalog=True, action="cancel_after", status="cancelled"
    ),
    Case("cancel_before_send", target="silent", action="cancel_after", status="cancelled"),
    Case("cancel_waiting_for_headers", (Reply("late", delay=SLOW),), action="cancel_after", status="cancelled"),
    Case(
        "cancel_opening_stream",
        (Reply(WORDS, stream=StreamScript(first_chunk_delay=SLOW)),),
        stream=True,
        action="cancel_after",
        status="cancelled",
    ),
    Case(
        "cancel_streaming",
        (Reply(WORDS, stream=StreamScript(chunk_delay=0.5)),),
        stream=True,
        action="cancel_streaming",
        status="cancelled",
    ),
    Case(
        "stream_closed_early",
        (Reply(WORDS, stream=StreamScript(chunk_delay=0.5)),),
        stream=True,
        action="close_early",
        status="cancelled",
    ),
    Case(
        "stream_dropped",
        (Reply(WORDS, stream=StreamScript(chunk_delay=0.5)),),
        stream=True,
        action="drop",
        status="cancelled",
    ),
]


# ------------------------------------------------------------------ targets


class SilentServer:
    """Accepts connections and never answers; counts the ones the client closed."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.opened = 0
        self.closed = 0
        self._stop = False
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.listener.getsockname()[1]}/api/v1"

    @property
    def connections(self) -> tuple[int, int]:
        return self.opened, self.closed

    def _serve(self) -> None:
        self.listener.settimeout(0.05)
        open_conns: list[socket.socket] = []
        while not self._stop:
            try:
                conn, _ = self.listener.accept()
                conn.setblocking(False)
                open_conns.append(conn)
                self.opened += 1
            except TimeoutError:
                pass
            for conn in list(open_conns):
                try:
                    if conn.recv(65536) == b"":  # the client closed it
                        open_conns.remove(conn)
                        conn.close()
                        self.closed += 1
                except BlockingIOError:
                    pass
        for conn in open_conns:
            conn.close()

    def stop(self) -> None:
        self._stop = True
        self._thread.join()
        self.listener.close()


class FullListener:
    """A port whose accept queue is full, so a new connection never completes."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0), backlog=0)
        self.fillers = []
        for _ in range(4):
            filler = socket.socket()
            filler.setblocking(False)
            try:
                filler.connect(self.listener.getsockname())
            except BlockingIOError:
                pass
            self.fillers.append(filler)
        time.sleep(0.05)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.listener.getsockname()[1]}/api/v1"

    @property
    def connections(self) -> tuple[int, int]:
        return 0, 0  # nothing was ever accepted

    def stop(self) -> None:
        for filler in self.fillers:
            filler.close()
        self.listener.close()


@pytest.fixture
def target(request: pytest.FixtureRequest, server: MockServer) -> Iterator[Any]:
    case: Case = request.getfixturevalue("case")
    if case.target == "mock":
        yield server
        return
    made = SilentServer() if case.target == "silent" else FullListener()
    try:
        yield made
    finally:
        made.stop()


# ------------------------------------------------------------------ driving one call


def _client(cls: type, case: Case, target: Any, server: MockServer) -> Any:
    # Budgets need the catalog: it always comes from the mock, whatever the target.
    client = cls(
        base_url=target.base_url,
        api_key="k",
        max_retries=0,
        timeout=case.timeout,
        budgets=[fastrouter.Budget(usd="1")],
    )
    if target is not server:
        catalog_source = fastrouter.Client(base_url=server.base_url, api_key="k")
        catalog = catalog_source.models.list()
        client._catalog_if_loaded = lambda: catalog
        client.models.list = _returning(catalog, asynchronous=cls is fastrouter.AsyncClient)
        catalog_source.close()
    if case.slow_catalog:
        load = client.models.list
        if cls is fastrouter.AsyncClient:

            async def slow_async(**kwargs: Any) -> Any:
                await asyncio.sleep(1.0)
                return await load(**kwargs)

            client.models.list = slow_async
        else:

            def slow_sync(**kwargs: Any) -> Any:
                time.sleep(1.0)
                return load(**kwargs)

            client.models.list = slow_sync
    return client


def _returning(value: Any, asynchronous: bool) -> Callable[..., Any]:
    if asynchronous:

        async def get(**_: Any) -> Any:
            return value

        return get
    return lambda **_: value


def _interrupt_after(seconds: float) -> threading.Timer:
    timer = threading.Timer(seconds, lambda: os.kill(os.getpid(), signal.SIGINT))
    timer.start()
    return timer


def drive_sync(case: Case, client: fastrouter.Client) -> Any:
    """Run the case on the sync client: the outcome (a result or the exception)."""
    model: Any = [A, B] if case.chain else A
    timer = _interrupt_after(case.at) if case.action == "cancel_after" else None
    try:
        result = client.chat.completions.create(model=model, messages=HI, stream=case.stream)
        if not case.stream:
            return result
        stream = result
        chunks = iter(stream)
        if case.action == "finish":
            for _ in chunks:
                pass
            return stream.completion
        next(chunks)
        if case.action == "cancel_streaming":
            timer = _interrupt_after(0.1)
            for _ in chunks:
                pass
        elif case.action == "close_early":
            stream.close()
        elif case.action == "drop":
            del chunks, stream, result
            gc.collect()
        return None
    except (fastrouter.FastrouterError, KeyboardInterrupt) as error:
        return error
    finally:
        if timer is not None:
            timer.join()


async def drive_async(case: Case, client: fastrouter.AsyncClient) -> Any:
    """Run the case on the async client: the outcome (a result or the exception)."""
    model: Any = [A, B] if case.chain else A

    async def call() -> Any:
        result = await client.chat.completions.create(model=model, messages=HI, stream=case.stream)
        if not case.stream:
            return result
        stream = result
        chunks = stream.__aiter__()
        if case.action == "finish":
            async for _ in chunks:
                pass
            return stream.completion
        await chunks.__anext__()
        if case.action == "cancel_streaming":
            async for _ in chunks:
                pass
        elif case.action == "close_early":
            await stream.close()
        elif case.action == "drop":
            await chunks.aclose()
            del chunks, stream, result
            gc.collect()
        return None

    task = asyncio.ensure_future(call())
    if case.action in ("cancel_after", "cancel_streaming"):
        await asyncio.sleep(case.at if case.action == "cancel_after" else 0.6)
        task.cancel()
    try:
        return await task
    except (fastrouter.FastrouterError, asyncio.CancelledError) as error:
        return error


# ------------------------------------------------------------------ the invariants


def check_outcome(case: Case, mode: str, outcome: Any) -> None:
    if case.status == "cancelled" and case.action != "close_early" and case.action != "drop":
        expected: type = KeyboardInterrupt if mode == "sync" else asyncio.CancelledError
        assert isinstance(outcome, expected), outcome
    elif case.raises is not None:
        assert isinstance(outcome, case.raises), outcome
        assert isinstance(outcome, fastrouter.FastrouterError)
    elif case.action in ("close_early", "drop"):
        assert outcome is None
    else:
        assert isinstance(outcome, fastrouter.ChatCompletion), outcome


def wait_released(target: Any, limit: float = 10.0) -> tuple[int, int]:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        opened, closed = target.connections
        if opened == closed:
            break
        time.sleep(0.02)
    return target.connections


def check_books(case: Case, client: Any) -> None:
    assert sum(client._budgets._reserved, Decimal(0)) == 0, "a reservation was left behind"
    entries = client.usage.entries
    assert len(entries) == 1, entries
    (entry,) = entries
    assert entry.status == case.status, entry
    assert entry.cost == case.cost, entry
    assert entry.streamed == case.stream
    assert client.usage.totals.requests == 1


@pytest.fixture(params=CASES, ids=[c.name for c in CASES])
def case(request: pytest.FixtureRequest) -> Case:
    return request.param  # type: ignore[no-any-return]


def _script(server: MockServer, case: Case) -> None:
    if case.outcomes:
        server.script(A, *case.outcomes)
        if case.chain:
            server.script(B, *case.outcomes)


def test_sync_exit_path(case: Case, target: Any, server: MockServer) -> None:
    _script(server, case)
    client = _client(fastrouter.Client, case, target, server)
    outcome = drive_sync(case, client)
    requests_at_exit = len(server.chat_requests())
    check_outcome(case, "sync", outcome)
    check_books(case, client)
    client.close()
    opened, closed = wait_released(target)
    assert opened == closed, f"{opened - closed} connection(s) still open"
    time.sleep(0.3)
    assert len(server.chat_requests()) == requests_at_exit, "a request was sent after the call ended"
    check_books(case, client)  # still exactly one entry (no late recording)


async def test_async_exit_path(case: Case, target: Any, server: MockServer) -> None:
    _script(server, case)
    client = _client(fastrouter.AsyncClient, case, target, server)
    outcome = await drive_async(case, client)
    requests_at_exit = len(server.chat_requests())
    check_outcome(case, "async", outcome)
    check_books(case, client)
    await client.close()
    deadline = time.monotonic() + 10.0
    while target.connections[0] != target.connections[1] and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    opened, closed = target.connections
    assert opened == closed, f"{opened - closed} connection(s) still open"
    await asyncio.sleep(0.3)
    assert len(server.chat_requests()) == requests_at_exit, "a request was sent after the call ended"
    check_books(case, client)


# ------------------------------------------------------------------ fork


def _in_child(work: Callable[[], int], limit: float = 20.0) -> int:
    """Run ``work`` in a forked child; its return value is the child's exit status."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # 3.12: fork() with threads
        pid = os.fork()
    if pid == 0:
        code = 99
        try:
            code = work()
        finally:
            os._exit(code)
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    raise AssertionError("the forked child hung")


@pytest.mark.usefixtures("older_objects_frozen")  # the child's gc.collect() walks this test's objects only
def test_fork_a_stream_open_across_fork_is_recorded_once_by_the_parent(server: MockServer, tmp_path: Any) -> None:
    server.script(A, Reply(WORDS, cost=0.002, stream=StreamScript(chunk_delay=0.1)))
    db = tmp_path / "usage.db"
    client = fastrouter.Client(
        base_url=server.base_url, api_key="k", ledger=str(db), budgets=[fastrouter.Budget(usd="1")]
    )
    stream = client.chat.completions.create(model=A, messages=HI, stream=True)
    chunks = iter(stream)
    next(chunks)

    def child() -> int:
        nonlocal stream, chunks
        del stream, chunks  # the child drops its copy: it must record nothing
        gc.collect()
        return 0 if len(client.usage) == 0 else 1

    assert _in_child(child) == 0
    for _ in chunks:
        pass
    assert [(e.status, e.cost) for e in client.usage.entries] == [("ok", Decimal("0.002"))]
    assert sum(client._budgets._reserved, Decimal(0)) == 0
    client.close()
    reopened = fastrouter.UsageLedger(db)
    assert [e.status for e in reopened.entries] == ["ok"]  # nothing written by the child
    reopened.close()


def test_fork_a_child_records_its_own_requests(server: MockServer) -> None:
    client = fastrouter.Client(base_url=server.base_url, api_key="k", budgets=[fastrouter.Budget(usd="1")])
    server.script(A, Reply("parent", cost=0.001), Reply("child", cost=0.004))
    client.chat.completions.create(model=A, messages=HI)

    def child() -> int:
        resp = client.chat.completions.create(model=A, messages=HI, timeout=3)
        statuses = [(e.status, e.cost) for e in client.usage.entries]
        ok = statuses == [("ok", Decimal("0.001")), ("ok", Decimal("0.004"))] and resp.cost == Decimal("0.004")
        return 0 if ok and sum(client._budgets._reserved, Decimal(0)) == 0 else 1

    assert _in_child(child) == 0
    assert [e.cost for e in client.usage.entries] == [Decimal("0.001")]
    client.close()
