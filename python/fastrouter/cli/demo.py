"""``fastrouter demo``: one chat completion, against OpenRouter or the embedded mock."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any, Optional

from ..client import Client
from ..errors import FastrouterError
from ..testing import MockServer

__all__ = ["add_demo_command"]

DEMO_MODEL = "openai/gpt-4o-mini"
DEMO_PROMPT = "In one sentence: why do people route LLM calls through OpenRouter?"


def _run(args: argparse.Namespace) -> int:
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


def add_demo_command(commands: Any) -> None:
    """Register ``demo`` on the ``fastrouter`` command's subparsers."""
    demo = commands.add_parser(
        "demo", help="one chat completion: against OpenRouter if OPENROUTER_API_KEY is set, else the mock"
    )
    demo.add_argument("--model", default=DEMO_MODEL, help=f"model id (default {DEMO_MODEL})")
    demo.add_argument("--prompt", default=DEMO_PROMPT, help="what to ask")
    demo.set_defaults(run=_run)
