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
    return _cascade_demo(args.prompt)


# --- cascade demo (issue 13): one cascade on the mock, with what it saved -----------------

DEMO_TIERS = ("meta-llama/llama-3.1-8b-instruct", "openai/gpt-4o-mini", "anthropic/claude-3.5-sonnet")


def _cascade_demo(prompt: str) -> int:
    """One cascade over three tiers, cheapest first, on a fresh embedded mock with scripted
    answers (so it costs nothing even with a key): which tier was kept, and what that saved
    against the last tier alone."""
    from ..cascade import Cascade
    from ..testing import Reply

    with MockServer() as server, Client(base_url=server.base_url, api_key="mock-key") as client:
        server.script(DEMO_TIERS[0], Reply("I'm not sure, maybe cost?", confidence=0.35))
        server.script(DEMO_TIERS[1], Reply("One API over many models, with failover.", confidence=0.93))
        try:
            resp = client.chat.completions.create(
                model=Cascade(DEMO_TIERS, threshold=0.7),
                messages=[{"role": "user", "content": prompt}],
                max_tokens=200,
            )
        except FastrouterError as exc:
            print(f"cascade failed: {type(exc).__name__}: {exc}", file=sys.stderr)
            return 1
    result = resp.cascade
    assert result is not None
    print()
    print("cascade:  " + " > ".join(DEMO_TIERS) + " (threshold 0.7; scripted answers on the embedded mock)")
    for score in result.scores:
        print(f"  {score}".replace("\n", "\n  "))
    print(f"kept:     tier {result.accepted_tier}, {result.model_used}: {resp.choices[0].message.content}")
    pct = f" ({result.savings_pct:.1f}%)" if result.savings_pct is not None else ""
    print(f"cost:     ${result.cost} for all tiers tried")
    print(f"baseline: ${result.baseline_cost} for the last tier alone; saved ${result.savings}{pct}")
    return 0


def add_demo_command(commands: Any) -> None:
    """Register ``demo`` on the ``fastrouter`` command's subparsers."""
    demo = commands.add_parser(
        "demo", help="one chat completion: against OpenRouter if OPENROUTER_API_KEY is set, else the mock"
    )
    demo.add_argument("--model", default=DEMO_MODEL, help=f"model id (default {DEMO_MODEL})")
    demo.add_argument("--prompt", default=DEMO_PROMPT, help="what to ask")
    demo.set_defaults(run=_run)
