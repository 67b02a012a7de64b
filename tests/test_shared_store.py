"""State shared by clients on one real Redis server (started by the tests): budgets,
limits, cooldowns and the cache; and what a Redis outage does."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from decimal import Decimal
from typing import Any

import fastrouter
import pytest
from fastrouter.testing import Fail, MockServer, Reply

MODEL = "openai/gpt-4o-mini"
BACKUP = "anthropic/claude-3.5-haiku"


async def _until(predicate: Any, timeout: float = 10.0) -> None:
    """Lets the loop run until ``predicate()`` holds (a generous deadline, not a fixed sleep)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


async def test_two_clients_share_a_budget(caller: Any, server: MockServer, redis_url: str) -> None:
    # Replies within max_tokens, so each costs less than the worst case reserved for it.
    server.script("*", *[Reply(content="ok", prompt_tokens=5, completion_tokens=5)] * 400)
    budget = fastrouter.Budget(usd="0.00005", per="total")  # about a dozen replies
    clients = [caller.client(server, store=redis_url, budgets=[budget]) for _ in range(2)]
    refused = sent = 0
    while refused < 4 and sent < 400:
        try:
            await caller.create(clients[sent % 2], model=MODEL, max_tokens=10)
        except fastrouter.BudgetExceededError as error:
            refused += 1
            assert "shared budget" in str(error)
        sent += 1
    spent = sum((c.usage.total_cost for c in clients), Decimal(0))
    largest = max(e.total_cost for c in clients for e in c.usage.entries)
    assert refused == 4 and sent < 400
    worst_case = Decimal("0.00001")  # what each request reserves, about
    assert budget.usd - worst_case - largest <= spent <= budget.usd  # together they used it, never more
    assert all(e.status == "ok" for c in clients for e in c.usage.entries[: (sent - refused) // 2 - 1])
    assert sum(len(c.usage) for c in clients) == sent  # every request in a local ledger
    # The store holds exactly what both spent (an async client's settlements are written
    # by tasks: wait for them, with a generous deadline).
    key = clients[0]._budgets._slot(budget, "").key
    await _until(lambda: Decimal(clients[0]._store.budget_committed(key)) / Decimal(10**9) == spent)


async def test_two_clients_share_a_limit(caller: Any, server: MockServer, redis_url: str) -> None:
    limits = {"openai/*": fastrouter.Limit(rpm=3, wait=False)}
    a = caller.client(server, store=redis_url, limits=limits)
    b = caller.client(server, store=redis_url, limits=limits)
    await caller.create(a, model=MODEL)
    await caller.create(b, model=MODEL)
    await caller.create(a, model=MODEL)
    with pytest.raises(fastrouter.RateLimitError) as caught:
        await caller.create(b, model=MODEL)
    assert caught.value.client_side and caught.value.retry_after and caught.value.retry_after > 55
    assert len(server.chat_requests()) == 3


async def test_a_shared_concurrency_limit_waits_for_the_other_client(server: MockServer, redis_url: str) -> None:
    server.script(MODEL, *[Reply(content="ok", delay=0.2)] * 4)
    limits = {"*": fastrouter.Limit(concurrency=1)}
    async with fastrouter.AsyncClient(base_url=server.base_url, api_key="k", store=redis_url, limits=limits) as a:
        async with fastrouter.AsyncClient(base_url=server.base_url, api_key="k", store=redis_url, limits=limits) as b:
            started = asyncio.get_running_loop().time()
            await asyncio.gather(
                *[
                    c.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "x"}])
                    for c in (a, b, a, b)
                ]
            )
            assert asyncio.get_running_loop().time() - started >= 0.75  # one at a time


async def test_two_clients_share_a_cooldown(caller: Any, server: MockServer, redis_url: str) -> None:
    server.script(MODEL, Fail(503))
    cooldown = fastrouter.Cooldown(failures=1, seconds=30)
    a = caller.client(server, store=redis_url, cooldown=cooldown)
    b = caller.client(server, store=redis_url, cooldown=cooldown)
    with pytest.raises(fastrouter.ServiceUnavailableError):
        await caller.create(a, model=MODEL)
    assert a.health()[MODEL].state == "open"
    resp = await caller.create(b, model=[MODEL, BACKUP])
    assert resp.model == BACKUP
    assert [r.model for r in server.chat_requests()] == [MODEL, BACKUP]  # b never tried MODEL
    assert MODEL not in b.health()  # b learned it from the store, not by failing


async def test_two_clients_share_the_cache(caller: Any, server: MockServer, redis_url: str) -> None:
    server.script(MODEL, Reply(content="from a", cost=0.003))
    a = caller.client(server, store=redis_url, cache=True)
    b = caller.client(server, store=redis_url, cache=True)
    await caller.create(a, model=MODEL)
    hit = await caller.create(b, model=MODEL)
    assert hit.cached and hit.choices[0].message.content == "from a"
    assert b.usage.saved_cost == Decimal("0.003")
    stream = await caller.create(a, model=MODEL, stream=True)
    if caller.mode == "async":
        first = [c.to_dict() async for c in stream]
    else:
        first = [c.to_dict() for c in stream]
    # An async stream's end is written to Redis by a task: wait until both answers are stored.
    store = a._store
    await _until(lambda: store._sync.zcard(store._key("cache", "_lru")) == 2)
    replay = await caller.create(b, model=MODEL, stream=True)
    if caller.mode == "async":
        second = [c.to_dict() async for c in replay]
    else:
        second = [c.to_dict() for c in replay]
    assert second == first and replay.completion.cached
    assert len(server.chat_requests()) == 2


async def test_redis_cache_url(caller: Any, server: MockServer, redis_url: str) -> None:
    a = caller.client(server, cache=redis_url)
    b = caller.client(server, cache=redis_url)
    await caller.create(a, model=MODEL)
    assert (await caller.create(b, model=MODEL)).cached


async def test_an_outage_raises_a_typed_error_and_is_still_recorded(caller: Any, server: MockServer) -> None:
    from redis_helpers import free_port

    url = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    client = caller.client(server, store=url, limits={"*": fastrouter.Limit(rpm=10)})
    with pytest.raises(fastrouter.StoreUnavailableError) as caught:
        await caller.create(client, model=MODEL)
    assert "127.0.0.1" in str(caught.value)
    assert server.chat_requests() == []
    assert [e.status for e in client.usage.entries] == ["error"]


async def test_an_outage_with_the_open_policy_sends_anyway(
    caller: Any, server: MockServer, caplog: pytest.LogCaptureFixture
) -> None:
    from redis_helpers import free_port

    url = f"redis://127.0.0.1:{free_port()}/0"
    client = caller.client(
        server,
        store=url,
        on_store_error="open",
        cache=True,
        limits={"*": fastrouter.Limit(rpm=10)},
        budgets=[fastrouter.Budget(usd=1)],
        cooldown=fastrouter.Cooldown(failures=1),
    )
    with caplog.at_level(logging.WARNING, logger="fastrouter"):
        resp = await caller.create(client, model=[MODEL, BACKUP])
        await asyncio.sleep(0.05)  # an async client's background updates, if any
    assert resp.choices[0].message.content and not resp.cached
    assert len(server.chat_requests()) == 1
    assert [e.status for e in client.usage.entries] == ["ok"]
    # A refused connection never reached the store: nothing to settle there afterwards.
    settles = [
        r for r in caplog.records if "store update failed" in r.getMessage() or "of shared state" in r.getMessage()
    ]
    assert not settles, caplog.text


async def test_redis_going_away_mid_run(caller: Any, server: MockServer) -> None:
    from redis_helpers import RedisServer

    redis_server = RedisServer()
    try:
        client = caller.client(server, store=redis_server.url, limits={"*": fastrouter.Limit(rpm=100)})
        await caller.create(client, model=MODEL)
    finally:
        redis_server.stop()
    with pytest.raises(fastrouter.StoreUnavailableError):
        await caller.create(client, model=MODEL)
    assert len(server.chat_requests()) == 1
    assert [e.status for e in client.usage.entries] == ["ok", "error"]


def test_bad_policy_is_refused() -> None:
    with pytest.raises(ValueError):
        fastrouter.Client(api_key="k", store="redis://127.0.0.1:1/0", on_store_error="ignore")


# -- every update made in the background is idempotent, and none is lost as a loop ends


def _held_budgets(url: str) -> tuple[int, int]:
    """What the store's budgets hold: the nano-USD reserved, and the reservations not settled."""
    import redis

    with redis.Redis.from_url(url) as db:
        reserved = holds = 0
        for key in db.scan_iter("*budget*", _type="HASH"):
            fields = db.hgetall(key)
            reserved += int(fields.get(b"r", 0))
            holds += sum(1 for name in fields if name.startswith(b"h:"))
        return reserved, holds


def _spent(url: str) -> int:
    import redis

    with redis.Redis.from_url(url) as db:
        return sum(int(db.hget(key, "s") or 0) for key in db.scan_iter("*budget*", _type="HASH"))


@pytest.mark.parametrize("kind", ["redis", "memory"])
def test_a_reservation_settles_once_and_one_never_taken_not_at_all(kind: str, request: Any) -> None:
    from fastrouter.store import BudgetSlot, open_store

    store = open_store(request.getfixturevalue("redis_url") if kind == "redis" else "memory")
    slots = [BudgetSlot("total:1:", 10**9, 0), BudgetSlot("day:1::2026-11-30", 10**9, 3600)]
    keys = [slot.key for slot in slots]
    try:
        assert store.budget_reserve(slots, "a", 500, 60.0) == (0, 0)
        assert store.budget_reserve(slots, "b", 300, 60.0) == (0, 0)
        assert store.budget_committed(keys[0]) == 800
        store.budget_settle(keys, "a", 500, 100)
        store.budget_settle(keys, "a", 500, 100)  # asked again: a Ctrl-C cut the first short
        store.budget_settle(keys, "never", 500, 100)  # interrupted before the store took it
        assert [store.budget_committed(key) for key in keys] == [400, 400]  # b's 300 + a's 100
        store.budget_settle(keys, "b", 300, 0)
        assert [store.budget_committed(key) for key in keys] == [100, 100]
        assert store.budget_reserve(slots, "c", 10**9, 60.0) == (1, 100)  # refused: takes nothing
        store.budget_settle(keys, "c", 10**9, 0)
        assert [store.budget_committed(key) for key in keys] == [100, 100]
        if kind == "redis":  # a reserve reaching the store after its settle takes nothing
            store.budget_settle(keys, "late", 500, 0)
            assert store.budget_reserve(slots, "late", 500, 60.0) == (-1, 0)
            assert [store.budget_committed(key) for key in keys] == [100, 100]
    finally:
        store.close()


def test_a_reservation_whose_lease_ended_frees_the_budget_yet_its_spend_still_counts(redis_url: str) -> None:
    from fastrouter.store import BudgetSlot, open_store

    store = open_store(redis_url)
    slots = [BudgetSlot("total:1:", 1000, 0), BudgetSlot("day:1::2026-11-30", 1000, 3600)]
    keys = [slot.key for slot in slots]
    try:
        lease = 2.0
        taken = time.monotonic()
        assert store.budget_reserve(slots, "outlived", 800, lease) == (0, 0)  # its process dies, say
        assert store.budget_reserve(slots, "next", 300, 60.0) == (1, 800)  # held: refused
        assert time.monotonic() - taken < lease, "too slow to see the reservation held"
        time.sleep(max(0.0, taken + lease + 0.5 - time.monotonic()))
        assert [store.budget_committed(key) for key in keys] == [0, 0]  # the lease ended
        assert store.budget_reserve(slots, "next", 300, 60.0) == (0, 0)
        assert _held_budgets(redis_url) == (600, 2)  # 300 on each budget
        # A request that outlived its lease still settles what it spent, once.
        store.budget_settle(keys, "outlived", 800, 50)
        store.budget_settle(keys, "outlived", 800, 50)
        assert [store.budget_committed(key) for key in keys] == [350, 350]
        store.budget_settle(keys, "next", 300, 100)
        assert [store.budget_committed(key) for key in keys] == [150, 150]
        assert _held_budgets(redis_url) == (0, 0)
        assert _spent(redis_url) == 300  # 150 on each budget
    finally:
        store.close()


def test_a_lapsed_settle_does_not_bring_back_a_day_that_ended(redis_url: str) -> None:
    # A day budget's counters expire with its day; a settle whose lease lapsed before
    # then, arriving after, must not create them again (with no expiry, for good).
    import redis
    from fastrouter.store import BudgetSlot, open_store

    store = open_store(redis_url)
    slot = BudgetSlot("day:1::2026-11-30", 1000, 2)
    try:
        taken = time.monotonic()
        assert store.budget_reserve([slot], "outlived", 800, 0.5) == (0, 0)
        time.sleep(max(0.0, taken + 1.0 - time.monotonic()))
        assert store.budget_committed(slot.key) == 0  # swept: its lease ended
        with redis.Redis.from_url(redis_url) as db:
            keys = [key for key in db.scan_iter("*budget*") if b":lapsed:" not in key]
            assert keys and all(db.pttl(key) > 0 for key in keys)
            deadline = time.monotonic() + 10
            while any(db.exists(key) for key in keys):
                assert time.monotonic() < deadline, "the day's counters never expired"
                time.sleep(0.05)
            store.budget_settle([slot.key], "outlived", 800, 50)
            assert not any(db.exists(key) for key in keys)
    finally:
        store.close()


_HOLD_AND_DIE = """
import sys
import fastrouter
import fastrouter.store.base

fastrouter.store.base.LEASE_S = float(sys.argv[3])
budget = fastrouter.Budget(usd="0.000015", per="total")
client = fastrouter.Client(base_url=sys.argv[1], api_key="k", store=sys.argv[2], budgets=[budget])
client.chat.completions.create(model="openai/gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], max_tokens=10)
"""


def test_a_process_killed_mid_request_holds_its_shared_budget_only_until_its_lease_ends(
    server: MockServer, redis_url: str
) -> None:
    # The child's request hangs on the server, its reservation held on Redis; killed
    # outright, it settles nothing. The budget fits one request: the parent's is refused
    # until the child's lease ends, then sent.
    import signal
    import subprocess
    import sys

    server.script("*", Reply(content="late", delay=30), Reply(content="ok", prompt_tokens=5, completion_tokens=5))
    lease = 5.0
    child = subprocess.Popen([sys.executable, "-c", _HOLD_AND_DIE, server.base_url, redis_url, str(lease)])
    try:
        deadline = time.monotonic() + 30
        while _held_budgets(redis_url) == (0, 0):
            assert child.poll() is None and time.monotonic() < deadline, "the child never reserved"
            time.sleep(0.02)
        held_at = time.monotonic()
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    budget = fastrouter.Budget(usd="0.000015", per="total")
    with fastrouter.Client(base_url=server.base_url, api_key="k", store=redis_url, budgets=[budget]) as client:
        messages = [{"role": "user", "content": "hi"}]
        with pytest.raises(fastrouter.BudgetExceededError, match="shared budget"):
            client.chat.completions.create(model=MODEL, messages=messages, max_tokens=10)
        # (The child reserved before held_at, so the refusal came within its lease.)
        assert time.monotonic() - held_at < lease - 0.5, "too slow to tell a held reservation from a freed one"
        time.sleep(max(0.0, held_at + lease + 0.2 - time.monotonic()))
        answer = client.chat.completions.create(model=MODEL, messages=messages, max_tokens=10)
        assert answer.choices[0].message.content == "ok"
        assert [entry.status for entry in client.usage.entries] == ["error", "ok"]
    assert _held_budgets(redis_url) == (0, 0)
    assert _spent(redis_url) == math.ceil(client.usage.total_cost * 10**9)


def test_a_limit_release_corrects_a_request_once(redis_url: str) -> None:
    from fastrouter.store import LimitSpec, open_store

    store = open_store(redis_url)
    spec = LimitSpec("*", None, 1000, None)
    try:
        assert store.admit([spec], "r1", 100, 60.0) == 0.0
        store.release([spec], "r1", 300, False)  # it used 400 tokens
        store.release([spec], "r1", 300, False)  # made again: corrected once (700 if twice)
        assert store.admit([spec], "r2", 600, 60.0) == 0.0  # 400 + 600 fits in 1000
        store.release([spec], "r2", 0, True)  # never sent: its 600 leave
        store.release([spec], "r2", 0, True)  # refunded once (r1's 400 stay)
        assert store.admit([spec], "r3", 601, 60.0) > 0  # 400 + 601 does not fit
        assert store.admit([spec], "r4", 600, 60.0) == 0.0
    finally:
        store.close()


async def test_an_async_client_closing_right_after_a_call_settles_on_the_store(
    server: MockServer, redis_url: str
) -> None:
    # The settle goes to the store as a task of the loop; close() waits for it.
    client = fastrouter.AsyncClient(
        base_url=server.base_url, api_key="k", store=redis_url, budgets=[fastrouter.Budget(usd=1)]
    )
    await client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}])
    await client.close()
    assert _held_budgets(redis_url) == (0, 0)
    assert _spent(redis_url) == math.ceil(client.usage.total_cost * 10**9)


def test_asyncio_run_ending_right_after_a_call_settles_on_the_store(server: MockServer, redis_url: str) -> None:
    # No close(): asyncio.run() cancels the settle still on its way as it ends, and the
    # settle is made then, blocking (the store settles a reservation once either way).
    client = fastrouter.AsyncClient(
        base_url=server.base_url, api_key="k", store=redis_url, budgets=[fastrouter.Budget(usd=1)]
    )

    async def main() -> None:
        await client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}])

    asyncio.run(main())
    assert _held_budgets(redis_url) == (0, 0)
    assert _spent(redis_url) == math.ceil(client.usage.total_cost * 10**9)
    client._inner.close()


def test_a_forked_child_gives_ids_of_its_own() -> None:
    # Reservation and slot ids name what a process holds on the store: a child repeating
    # its parent's would settle or free the parent's.
    import os

    from fastrouter.store.ids import new_id

    before = new_id()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next id, then out at once
        os.write(write, new_id().encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    child = os.read(read, 200).decode()
    os.close(read)
    after = new_id()
    assert child.rsplit(".", 1)[0] != before.rsplit(".", 1)[0]
    assert before.rsplit(".", 1)[0] == after.rsplit(".", 1)[0] and after != before


def test_two_equal_budgets_are_one_counter_on_the_store(server: MockServer, redis_url: str) -> None:
    # The same budget twice (in budgets= and a route's, say) names one counter: reserved
    # once there, settled once.
    budgets = [fastrouter.Budget(usd=1), fastrouter.Budget(usd=1)]
    with fastrouter.Client(base_url=server.base_url, api_key="k", store=redis_url, budgets=budgets) as client:
        for _ in range(3):
            client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}])
        assert _held_budgets(redis_url) == (0, 0)
        assert _spent(redis_url) == math.ceil(client.usage.total_cost * 10**9)


def test_a_client_outliving_many_event_loops_keeps_none_of_their_connections(
    server: MockServer, redis_url: str
) -> None:
    # A worker running each job in its own asyncio.run() with one client: each loop's Redis
    # client is closed as that loop ends, not kept (with its loop and sockets) for good.
    import redis

    client = fastrouter.AsyncClient(
        base_url=server.base_url,
        api_key="k",
        store=redis_url,
        budgets=[fastrouter.Budget(usd=5)],
        limits={"*": fastrouter.Limit(concurrency=8)},
    )

    async def job() -> None:
        await client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}])

    with redis.Redis.from_url(redis_url) as db:
        before = len(db.client_list())
        for _ in range(12):
            asyncio.run(job())
        assert client._store._async == {}
        assert len(db.client_list()) <= before + 2  # this process's blocking pool's, at most
    assert _held_budgets(redis_url) == (0, 0)
    asyncio.run(client.close())


def test_a_client_closed_on_a_loop_run_by_hand_leaves_nothing_pending(
    server: MockServer, redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    import gc

    loop = asyncio.new_event_loop()
    client = fastrouter.AsyncClient(
        base_url=server.base_url, api_key="k", store=redis_url, budgets=[fastrouter.Budget(usd=5)]
    )
    with caplog.at_level(logging.ERROR, logger="asyncio"):
        loop.run_until_complete(
            client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}])
        )
        loop.run_until_complete(client.close())
        loop.close()
        gc.collect()
    assert client._store._async == {}
    assert not caplog.records, caplog.text  # e.g. "Task was destroyed but it is pending!"
    assert _held_budgets(redis_url) == (0, 0)
