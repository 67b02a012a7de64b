"""Mock OpenRouter server for the streaming benchmark, in its own process.

``fastrouter mock`` cannot be scripted from another process, so the stream benchmark starts
this launcher instead (pinned with ``taskset -c 1 python benches/stream_server.py --port 0``,
or ``--cpu 1`` where taskset is missing). It runs ``fastrouter.testing.MockServer`` and keeps
the queue of model ``bench/stream`` topped up with replies streamed as ``--chunks`` chunks of
4 characters each (``"000 001 002 ..."``), so every stream request gets the same long
stream however many rounds run. Other models keep the mock's default echo reply. It prints
its base URL on the first line of stdout and serves until terminated (SIGTERM / Ctrl-C).

``--tls`` serves HTTPS (HTTP/2 and HTTP/1.1 by ALPN) and prints the CA file's path on the
second line; model ``bench/hold`` then also streams slowly (one chunk every
``HOLD_INTERVAL`` seconds), so the TLS benchmark can hold hundreds of streams open.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from types import FrameType

from fastrouter.testing import MockServer, Reply, StreamScript

MODEL = "bench/stream"
HOLD_MODEL = "bench/hold"
HOLD_INTERVAL = 2.0
# Streams that stay open (a chunk every OPEN_DELAY s) for the memory benchmark.
OPEN_MODEL = "bench/open"
OPEN_CHUNKS = 100
OPEN_DELAY = 0.2
# Top the queue up to HIGH outcomes whenever fewer than LOW are left (checked every POLL s):
# far more than can be used between two checks (at most one round of concurrent streams
# starts per check, and a round takes well over POLL seconds).
LOW = 256
HIGH = 512
POLL = 0.01
OPEN_HIGH = 1200  # more than one memory run opens (500 streams + warm-up) between checks


def stream_content(chunks: int) -> str:
    """``chunks`` 4-character words ``"000 "``, ``"001 "``, ... (numbered modulo 1000), so
    the mock's split into ``chunks`` pieces gives one word per chunk, token-sized, and the
    joined text a client received shows lost, repeated or reordered chunks."""
    return "".join(f"{i % 1000:03d} " for i in range(chunks))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--chunks", type=int, default=1000, help="content chunks per stream")
    parser.add_argument("--cpu", type=int, default=None, help="pin this process to that core")
    parser.add_argument("--tls", action="store_true", help="serve HTTPS; print the CA file on line 2")
    args = parser.parse_args(argv)

    if args.cpu is not None:
        # Before the server's runtime starts its threads, so they inherit the mask.
        os.sched_setaffinity(0, {args.cpu})

    reply = Reply(content=stream_content(args.chunks), stream=StreamScript(chunks=args.chunks))
    hold = Reply(content=stream_content(8), stream=StreamScript(chunks=8, chunk_delay=HOLD_INTERVAL))
    queues = {MODEL: reply, HOLD_MODEL: hold} if args.tls else {MODEL: reply}
    slow = Reply(content=stream_content(OPEN_CHUNKS), stream=StreamScript(chunks=OPEN_CHUNKS, chunk_delay=OPEN_DELAY))

    stopping = False

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    server = MockServer(host=args.host, port=args.port, tls=args.tls).start()
    try:
        for model, outcome in queues.items():
            server.script(model, *([outcome] * HIGH))
        server.script(OPEN_MODEL, *([slow] * OPEN_HIGH))
        print(server.base_url, flush=True)
        if args.tls:
            print(server.ca_path, flush=True)
        while not stopping:
            pending = server.pending()
            for model, outcome in queues.items():
                left = pending.get(model, 0)
                if left < LOW:
                    server.script(model, *([outcome] * (HIGH - left)))
            left = pending.get(OPEN_MODEL, 0)
            if left < OPEN_HIGH // 2:
                server.script(OPEN_MODEL, *([slow] * (OPEN_HIGH - left)))
            time.sleep(POLL)
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
