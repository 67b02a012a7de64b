"""The ``fastrouter`` command line: ``demo`` and ``mock``."""

from __future__ import annotations

import argparse
import os
import sys
from typing import List, Optional

from . import __version__
from .catalog_cli import add_models_commands
from .client import Client
from .errors import FastrouterError
from .routing_cli import add_route_commands
from .testing import MockServer
from .usage_cli import add_usage_command

DEMO_MODEL = "openai/gpt-4o-mini"
DEMO_PROMPT = "In one sentence: why do people route LLM calls through OpenRouter?"


def _demo(args: argparse.Namespace) -> int:
    server: Optional[MockServer] = None
    if os.environ.get("OPENROUTER_API_KEY"):
        print("OPENROUTER_API_KEY is set: calling OpenRouter.")
        client = Client(app_title="fastrouter demo")
    else:
        server = MockServer().start()
        print(f"OPENROUTER_API_KEY is not set: using the embedded mock server at {server.base_url}")
        client = Client(base_url=server.base_url, api_key="mock-key", app_title="fastrouter demo")
    try:
        with client:
            resp = client.chat.completions.create(
                model=args.model,
                messages=[{"role": "user", "content": args.prompt}],
                max_tokens=200,
            )
    except FastrouterError as exc:
        print(f"request failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    finally:
        if server is not None:
            server.stop()

    usage = resp.usage
    print()
    print(f"answer:   {resp.choices[0].message.content}")
    print(f"model:    {resp.model}")
    print(f"provider: {resp.provider}")
    if usage is not None:
        print(f"tokens:   {usage.prompt_tokens} prompt + {usage.completion_tokens} completion = {usage.total_tokens}")
    print(f"cost:     ${resp.cost}" if resp.cost is not None else "cost:     not reported")
    attempt = resp.attempts[-1]
    print(f"latency:  {attempt.latency_s * 1000:.1f} ms")
    return 0


def _mock(args: argparse.Namespace) -> int:
    server = MockServer(host=args.host, port=args.port, api_key=args.api_key, tls=args.tls)
    try:
        server.start()
        print(f"fastrouter mock OpenRouter server on {server.base_url} (Ctrl-C to stop)", flush=True)
        if server.ca_path is not None:
            print(f"its CA certificate: {server.ca_path} (pass ca_bundle= or set SSL_CERT_FILE)", flush=True)
        server.serve_forever()
    except KeyboardInterrupt:
        pass  # Ctrl-C is how this command is meant to end, whenever it arrives
    finally:
        server.stop()
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point of the ``fastrouter`` console script."""
    parser = argparse.ArgumentParser(prog="fastrouter", description="Fast, dependable OpenRouter client.")
    parser.add_argument("--version", action="version", version=f"fastrouter {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser(
        "demo", help="one chat completion: against OpenRouter if OPENROUTER_API_KEY is set, else the mock"
    )
    demo.add_argument("--model", default=DEMO_MODEL, help=f"model id (default {DEMO_MODEL})")
    demo.add_argument("--prompt", default=DEMO_PROMPT, help="what to ask")
    demo.set_defaults(run=_demo)

    mock = commands.add_parser("mock", help="run the embedded mock OpenRouter server")
    mock.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    mock.add_argument("--port", type=int, default=8765, help="port (default 8765; 0 picks a free one)")
    mock.add_argument("--api-key", default=None, help="accept only this key (default: any non-empty key)")
    mock.add_argument(
        "--tls", action="store_true", help="serve HTTPS (h2 and http/1.1) with a certificate generated at start"
    )
    mock.set_defaults(run=_mock)

    add_usage_command(commands)
    add_models_commands(commands)
    add_route_commands(commands)

    args = parser.parse_args(argv)
    code: int = args.run(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
