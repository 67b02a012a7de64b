"""CPU per request of the rate limiter and the response cache on the in-process store.

Run: ``python benches/limits_cache_cpu.py``. Measures, with ``time.process_time``, the work
the gate adds to one request: the limiter's lane lookup, admission and release (one
``Limit(rpm, tpm, concurrency)``), and the cache's key, lookup and store (a miss) or key,
lookup and decoded completion (a hit). No network: the store is this process's memory. Parsing the answer's JSON into a
``ChatCompletion`` is shown apart: every request pays it, cached or not.
"""

from __future__ import annotations

import json
import time

from fastrouter import Cache, ChatCompletion, Limit
from fastrouter.cache import decode, encode, request_key
from fastrouter.limits import Limiter
from fastrouter.store import MemoryStore

N = 200_000
BODY = json.dumps(
    {"messages": [{"role": "user", "content": "Say hello in one short sentence."}], "temperature": 0, "max_tokens": 64}
).encode()
ANSWER = {
    "id": "gen-1",
    "object": "chat.completion",
    "created": 1,
    "model": "openai/gpt-4o-mini",
    "provider": "OpenAI",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello there!"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 12, "completion_tokens": 4, "total_tokens": 16, "cost": 0.0000042},
}

RAW = json.dumps(ANSWER).encode()  # the answer's JSON as the core hands it over


def per_request(label: str, fn: object, n: int = N) -> float:
    run = fn  # type: ignore[assignment]
    start = time.process_time()
    for i in range(n):
        run(i)  # type: ignore[operator]
    spent = (time.process_time() - start) / n * 1e6
    print(f"{label:<48} {spent:6.2f} µs/request")
    return spent


def main() -> None:
    store = MemoryStore()
    limiter = Limiter({"openai/*": Limit(rpm=10**9, tpm=10**12, concurrency=10**6)}, store)
    names = ("openai/gpt-4o-mini",)

    def limit(_: int) -> None:
        lane = limiter.lane(names)
        assert lane is not None
        hold = limiter.acquire(lane, 80, None)
        limiter.release(hold, 16, True)

    per_request("limiter: lane + admit + release (memory)", limit)

    cache = Cache()
    completion = ChatCompletion._from_native(json.loads(RAW), ())
    chain = ["openai/gpt-4o-mini"]

    # A different request each time: a miss, then stored (and, past max_bytes, an eviction).
    bodies = [BODY.replace(b"short", str(i).encode()) for i in range(N // 4)]

    def miss(i: int) -> None:
        key = request_key(chain, bodies[i], False)
        if store.cache_get(key) is None:
            store.cache_put(key, encode(completion, RAW, None), cache.ttl, cache.max_bytes)

    def hit(_: int) -> None:
        raw = store.cache_get(request_key(chain, BODY, False))
        assert raw is not None
        decode(raw).to_completion()

    store.cache_put(request_key(chain, BODY, False), encode(completion, RAW, None), cache.ttl, cache.max_bytes)
    per_request("cache: key + lookup (miss) + store", miss, N // 4)
    per_request("cache: key + lookup (hit) + completion", hit)
    per_request(
        "  of which: parsing the answer (any request does)", lambda _: ChatCompletion._from_native(json.loads(RAW), ())
    )
    per_request("cache: key alone", lambda _: request_key(chain, BODY, False))


if __name__ == "__main__":
    main()
