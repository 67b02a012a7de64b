"""Forking after a request (gunicorn --preload, Celery prefork, multiprocessing "fork"):
the child rebuilds the runtime and the pools instead of waiting forever on threads that
did not survive the fork. Every child runs under a timeout guard, so a hang fails the test.
"""

from __future__ import annotations

import asyncio
import gc
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import fastrouter
import pytest
from fastrouter.testing import MockServer, Reply, StreamScript

MODEL = "openai/gpt-4o-mini"
KEY = "test"
USER = [{"role": "user", "content": "hi"}]
CHILD_LIMIT = 20.0

pytestmark = [
    pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork"),
    # Python 3.12+ warns on fork() with threads running (the runtime's): that is the
    # situation under test.
    pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning"),
]


def ask(client: fastrouter.Client) -> str | None:
    return client.chat.completions.create(model=MODEL, messages=USER, max_retries=0).choices[0].message.content


def in_forked_child(work: Callable[[], Any]) -> Any:
    """Run ``work`` in a forked child and return its JSON result; kill it and fail if it
    has not finished within ``CHILD_LIMIT`` seconds."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        os.close(read_end)
        try:
            payload = {"ok": work()}
        except BaseException as exc:  # noqa: BLE001 - reported to the parent
            payload = {"error": f"{type(exc).__name__}: {exc}"}
        os.write(write_end, json.dumps(payload).encode())
        os._exit(0)
    os.close(write_end)
    started = time.monotonic()
    while True:
        done, _status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() - started > CHILD_LIMIT:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            os.close(read_end)
            pytest.fail(f"the forked child hung for {CHILD_LIMIT}s")
        time.sleep(0.02)
    with os.fdopen(read_end, "rb") as pipe:
        payload = json.loads(pipe.read() or b"{}")
    assert "error" not in payload, payload.get("error")
    return payload["ok"]


def test_existing_and_new_clients_work_in_a_forked_child(server: MockServer) -> None:
    server.script(MODEL, Reply("parent"), Reply("child existing"), Reply("child new"), Reply("child async"))
    client = fastrouter.Client(base_url=server.base_url, api_key=KEY, timeout=3)
    assert ask(client) == "parent"  # the runtime and the pool now exist in the parent

    def work() -> list[str | None]:
        answers = [ask(client)]
        with fastrouter.Client(base_url=server.base_url, api_key=KEY, timeout=3) as fresh:
            answers.append(ask(fresh))

        async def run_async() -> str | None:
            async with fastrouter.AsyncClient(base_url=server.base_url, api_key=KEY, timeout=3) as aclient:
                resp = await aclient.chat.completions.create(model=MODEL, messages=USER, max_retries=0)
                return resp.choices[0].message.content

        answers.append(asyncio.run(run_async()))
        client.close()  # closing the parent's pool in the child must not hang either
        return answers

    assert in_forked_child(work) == ["child existing", "child new", "child async"]
    # The parent's client still works after the fork.
    server.script(MODEL, Reply("parent again"))
    assert ask(client) == "parent again"
    client.close()


def test_streams_work_in_a_forked_child(server: MockServer) -> None:
    client = fastrouter.Client(base_url=server.base_url, api_key=KEY, timeout=3)
    assert ask(client)

    def work() -> str:
        with client.chat.completions.create(model=MODEL, messages=USER, stream=True) as stream:
            return "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)

    assert in_forked_child(work)
    client.close()


def test_a_stream_opened_before_fork_fails_in_the_child_instead_of_hanging(server: MockServer) -> None:
    # Its reader and connection stayed with the parent: the child gets what had arrived,
    # then a typed error at once (it used to wait forever, past every timeout).
    server.script(MODEL, Reply(" ".join(f"w{i}" for i in range(8)), stream=StreamScript(chunk_delay=0.3)))
    client = fastrouter.Client(base_url=server.base_url, api_key=KEY, timeout=3)
    stream = client.chat.completions.create(model=MODEL, messages=USER, stream=True)
    first = next(iter(stream))
    assert first.choices

    def read_the_rest() -> list[str]:
        started = time.monotonic()
        try:
            for _ in stream:
                pass
        except fastrouter.APIConnectionError as error:
            assert time.monotonic() - started < 2.5  # at once: well inside the client's 3 s timeout
            return [type(error).__name__, str(error)]
        return ["no error"]

    name, message = in_forked_child(read_the_rest)
    assert name == "APIConnectionError"
    assert "opened before fork()" in message
    # The parent's stream is untouched.
    assert "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    client.close()


_POOL_CLIENT: fastrouter.Client | None = None


def _pool_task(index: int) -> str | None:
    assert _POOL_CLIENT is not None
    return (
        _POOL_CLIENT.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": f"task {index}"}], max_retries=0
        )
        .choices[0]
        .message.content
    )


def test_multiprocessing_fork_pool_uses_the_parents_client(server: MockServer) -> None:
    global _POOL_CLIENT
    _POOL_CLIENT = fastrouter.Client(base_url=server.base_url, api_key=KEY, timeout=3)
    try:
        assert _pool_task(0)
        with multiprocessing.get_context("fork").Pool(2) as pool:
            answers = pool.map_async(_pool_task, range(1, 5)).get(timeout=CHILD_LIMIT)
        assert len(answers) == 4 and all(answers)
        assert len(server.chat_requests()) == 5
    finally:
        _POOL_CLIENT.close()
        _POOL_CLIENT = None


@pytest.mark.parametrize("tls", [False, True], ids=["http", "https"])
@pytest.mark.usefixtures("older_objects_frozen")  # the child's gc.collect() walks this test's objects only
def test_a_child_dropping_the_parents_client_leaves_its_pooled_connections_working(tls: bool) -> None:
    # The socket of a pooled connection is shared with the child, and so is the runtime's
    # epoll instance: a child that closed it through tokio would deregister it there,
    # and the parent's next request on it would never see its answer.
    with MockServer(tls=tls) as server:
        server.script(MODEL, Reply("before"), Reply("after"))
        client: fastrouter.Client | None = fastrouter.Client(
            base_url=server.base_url, api_key=KEY, timeout=2, ca_bundle=server.ca_path
        )
        holder = [client]
        assert ask(holder[0]) == "before"  # one pooled connection
        del client

        def work() -> int:
            holder.clear()
            gc.collect()
            return 0

        assert in_forked_child(work) == 0
        started = time.monotonic()
        assert ask(holder[0]) == "after"
        assert time.monotonic() - started < 1.8  # a lost answer would wait out the 2 s timeout
        assert server.connections[0] == 1  # the same connection answered
        holder[0].close()


CHILD_EXITS = """
import json, os, sys, time
import fastrouter
from fastrouter.testing import MockServer, Reply

server = MockServer().start()
server.script("m/x", Reply("before"), Reply("after"))
client = fastrouter.Client(base_url=server.base_url, api_key="k", timeout=2, max_retries=0)
ask = lambda: client.chat.completions.create(model="m/x", messages=[{"role": "user", "content": "hi"}])
ask()
if os.fork() == 0:
    sys.exit(0)  # the interpreter's own exit drops the parent's client in the child
os.wait()
started = time.monotonic()
try:
    outcome = ask().choices[0].message.content
except fastrouter.APIError as exc:
    outcome = type(exc).__name__
print(json.dumps([outcome, time.monotonic() - started, server.connections[0]]))
"""


def test_a_child_exiting_through_sys_exit_leaves_the_parents_connections_working() -> None:
    done = subprocess.run(
        [sys.executable, "-W", "ignore::DeprecationWarning", "-c", CHILD_EXITS],
        capture_output=True,
        text=True,
        timeout=CHILD_LIMIT,
        check=True,
    )
    outcome, elapsed, opened = json.loads(done.stdout.splitlines()[-1])
    assert outcome == "after"
    assert elapsed < 1.8  # a lost answer would wait out the 2 s timeout
    assert opened == 1


def test_a_loop_run_again_in_a_forked_child_counts_only_its_own_answers(server: MockServer) -> None:
    # The parent's loop stops with a request on its way; the child runs that loop again.
    # The parent's request lives on only in the parent: the child counts only its own
    # answers, and once its one answer is in, none is left due.
    from fastrouter import _bridge

    server.script("a/slow", Reply("parent's", delay=30))
    server.script(MODEL, Reply("child's"))
    loop = asyncio.new_event_loop()
    client = fastrouter.AsyncClient(base_url=server.base_url, api_key=KEY, max_retries=0)
    slow = loop.create_task(client.chat.completions.create(model="a/slow", messages=USER))

    async def until_sent() -> tuple[int, int, int]:
        while not server.chat_requests():
            await asyncio.sleep(0.005)
        queue, _ = _bridge.running_queue()
        return queue._debug_answers()  # type: ignore[no-any-return]

    try:
        assert loop.run_until_complete(until_sent())[0] == 1

        def work() -> list[Any]:
            async def ask_once() -> list[Any]:
                reply = await client.chat.completions.create(model=MODEL, messages=USER)
                queue, _ = _bridge.running_queue()
                return [reply.choices[0].message.content, list(queue._debug_answers())]

            return loop.run_until_complete(ask_once())

        content, (due, at_once, deferred) = in_forked_child(work)
        assert (content, due, deferred) == ("child's", 0, 0) and at_once >= 1
    finally:
        slow.cancel()
        loop.run_until_complete(asyncio.gather(slow, return_exceptions=True))
        loop.run_until_complete(client.close())
        loop.close()
