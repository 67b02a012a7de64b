"""Regenerate ``link/hot-symbols.txt``: the native module's functions a typical run executes.

The linker lays these out first and together (``build.rs`` passes the file to lld as its
``--symbol-ordering-file``), so the code a process runs shares a few pages instead of being
scattered over the whole ~4.3 MB ``.text``: the kernel maps a file's pages 64 KB at a time
around each fault, so scattered hot code made ~3.7 MB of the module resident in every
process (issue 11, S4). A stale list costs only that layout, never correctness: lld ignores
names it does not find.

Run inside the venv after a release build (``maturin develop --release``), with valgrind
installed: ``python benches/hot_symbols.py``. It starts ``benches/stream_server.py``, runs
``--workload`` (both clients: non-streaming, streamed to the end, held open, closed early,
an error) under callgrind, and writes every executed function of ``_fastrouter`` by its
mangled name, sorted, to ``link/hot-symbols.txt``. Rebuild afterwards.

Symbol names carry hashes that change with the dependency graph (``Cargo.toml``,
``Cargo.lock``) and the compiler version, not with function bodies: regenerate after such
a change. ``python benches/hot_symbols.py --check`` says how many listed names the
installed module still has (``nm`` needed); well under ~95% means the list is stale.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "link" / "hot-symbols.txt"
MESSAGES = [{"role": "user", "content": "Count slowly."}]
MODEL = "openai/gpt-4o-mini"
OPEN_STREAMS = 20


async def _async_workload(base_url: str) -> None:
    import fastrouter

    client = fastrouter.AsyncClient(base_url=base_url, api_key="bench-key")
    for _ in range(20):
        await client.chat.completions.create(model=MODEL, messages=MESSAGES)
    await asyncio.gather(*(client.chat.completions.create(model=MODEL, messages=MESSAGES) for _ in range(20)))
    for _ in range(3):
        stream = await client.chat.completions.create(model="bench/stream", messages=MESSAGES, stream=True)
        async with stream:
            async for _chunk in stream:
                pass

    release = asyncio.Event()

    async def hold() -> None:
        stream = await client.chat.completions.create(model="bench/open", messages=MESSAGES, stream=True)
        async with stream:
            async for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    break
            await release.wait()

    tasks = [asyncio.ensure_future(hold()) for _ in range(OPEN_STREAMS)]
    await asyncio.sleep(2.0)
    release.set()
    await asyncio.gather(*tasks)
    try:
        await client.chat.completions.create(model="bench/unknown", messages=MESSAGES)
    except fastrouter.BadRequestError:
        pass
    await client.close()


def _sync_workload(base_url: str) -> None:
    import fastrouter

    with fastrouter.Client(base_url=base_url, api_key="bench-key") as client:
        for _ in range(20):
            client.chat.completions.create(model=MODEL, messages=MESSAGES)
        with client.chat.completions.create(model="bench/stream", messages=MESSAGES, stream=True) as stream:
            for _chunk in stream:
                pass


async def _tls_workload(base_url: str, ca_path: str) -> None:
    """Over HTTPS: HTTP/2 (ALPN's choice) and HTTP/1.1, non-streaming and streamed."""
    import fastrouter

    for http2 in (None, False):
        client = fastrouter.AsyncClient(base_url=base_url, api_key="bench-key", ca_bundle=ca_path, http2=http2)
        for _ in range(5):
            await client.chat.completions.create(model=MODEL, messages=MESSAGES)
        stream = await client.chat.completions.create(model="bench/stream", messages=MESSAGES, stream=True)
        async with stream:
            async for _chunk in stream:
                pass
        await client.close()


def _executed(callgrind_out: Path) -> list[str]:
    """Mangled names of the functions callgrind saw run inside the native module."""
    names: dict[str, str] = {}
    objects: dict[str, str] = {}
    executed: set[str] = set()
    in_module = False
    entry = re.compile(r"^(c?ob|c?fn)=\((\d+)\)(?: (.*))?$")
    for line in callgrind_out.read_text(errors="replace").splitlines():
        match = entry.match(line)
        if not match:
            continue
        kind, ref, name = match.groups()
        table = objects if kind.endswith("ob") else names
        if name:
            table[ref] = name
        if kind == "ob":
            in_module = "_fastrouter" in objects[ref]
        elif kind == "fn" and in_module:
            executed.add(names[ref])
    # Rust (mangled) and C (mimalloc) names; callgrind names code without a symbol "0x...".
    return sorted(n for n in executed if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.$]*", n))


def _record(server_args: list[str], workload: list[str]) -> list[str]:
    """Start a stream server, run one workload against it under callgrind, return what ran."""
    server = subprocess.Popen(
        [sys.executable, str(ROOT / "benches" / "stream_server.py"), "--port", "0", *server_args],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        target = [server.stdout.readline().strip() for _ in range(2 if server_args else 1)]
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "callgrind.out"
            subprocess.run(
                ["valgrind", "--tool=callgrind", "--demangle=no", f"--callgrind-out-file={out}"]
                + [sys.executable, __file__, *workload, *target],
                check=True,
                capture_output=True,
            )
            return _executed(out)
    finally:
        server.terminate()
        server.wait()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workload", metavar="BASE_URL", help="run the workload only (under callgrind)")
    parser.add_argument("--tls-workload", nargs=2, metavar=("BASE_URL", "CA_FILE"), help="the HTTPS workload only")
    parser.add_argument("--check", action="store_true", help="count the listed names the installed module has")
    args = parser.parse_args(argv)
    if args.check:
        import fastrouter._fastrouter as native

        nm = subprocess.run(["nm", native.__file__], capture_output=True, text=True, check=True).stdout
        present = {line.split()[-1] for line in nm.splitlines() if line.strip()}
        listed = OUT.read_text().split()
        found = sum(name in present for name in listed)
        print(f"{found} of {len(listed)} listed symbols are in {native.__file__} ({100 * found / len(listed):.0f}%)")
        return 0
    if args.workload:
        asyncio.run(_async_workload(args.workload))
        _sync_workload(args.workload)
        return 0
    if args.tls_workload:
        base_url, ca_path = args.tls_workload
        asyncio.run(_tls_workload(base_url, ca_path))
        return 0

    plain = _record([], ["--workload"])
    tls = _record(["--tls"], ["--tls-workload"])
    # Plain http first (local servers, the benchmarks), then what only HTTPS adds: a
    # plain-http process keeps the TLS code out of its pages.
    symbols = plain + sorted(set(tls) - set(plain))
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text("".join(f"{name}\n" for name in symbols))
    print(f"{len(symbols)} symbols -> {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
