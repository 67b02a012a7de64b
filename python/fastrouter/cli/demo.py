"""``fastrouter demo``: a tour of what fastrouter adds, against the embedded mock (no key) or
OpenRouter (``OPENROUTER_API_KEY`` or ``--api-key``): a streamed answer, failover through a
provider failure, a cascade with its savings, and the cost ledger."""

from __future__ import annotations

import argparse
import os
import sys
import time
from decimal import Decimal
from typing import Any, TextIO

from .. import __version__
from .._format import table, usd
from ..client import Client
from ..testing import Fail, MockServer, Reply
from ..types import ChatCompletion
from ._common import add_network_options

__all__ = ["add_demo_command"]

DEMO_MODEL = "openai/gpt-4o-mini"
BACKUP_MODEL = "anthropic/claude-3.5-haiku"
# A model id OpenRouter does not serve: with a real key, the failover step's failure is real.
MISSING_MODEL = "fastrouter-demo/no-such-model"
CASCADE_TIERS = ["meta-llama/llama-3.1-8b-instruct", "openai/gpt-4o-mini", "anthropic/claude-3.5-sonnet"]
_ZERO = Decimal(0)
DEMO_PROMPT = "In one sentence: why do people route LLM calls through OpenRouter?"


class _Out:
    """Readable terminal output: section headings, indented detail lines, bold on a terminal."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.bold = stream.isatty() and os.environ.get("NO_COLOR") is None

    def heading(self, number: int, title: str) -> None:
        text = f"{number}. {title}"
        if self.bold:
            text = f"\033[1m{text}\033[0m"
        print(f"\n{text}", file=self.stream)

    def line(self, text: str = "") -> None:
        print(f"   {text}" if text else "", file=self.stream)


def _detail(out: _Out, completion: ChatCompletion) -> None:
    """The answer's model, provider, tokens, cost and latency, one per line."""
    usage = completion.usage
    out.line(f"model:    {completion.model}")
    out.line(f"provider: {completion.provider or '-'}")
    if usage is not None:
        out.line(
            f"tokens:   {usage.prompt_tokens} prompt + {usage.completion_tokens} completion = {usage.total_tokens}"
        )
    cost = completion.cost
    out.line(f"cost:     {usd(cost)}" if cost is not None else "cost:     not reported")
    attempt = completion.attempts[-1] if completion.attempts else None
    if attempt is not None:
        first = f", first token after {attempt.first_token_s * 1000:.1f} ms" if attempt.first_token_s else ""
        out.line(f"latency:  {attempt.latency_s * 1000:.1f} ms{first}")


def _stream_step(out: _Out, client: Client, model: str, prompt: str) -> None:
    out.heading(1, f"A streamed answer from {model}")
    with client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": prompt}], max_tokens=200, stream=True
    ) as stream:
        print("   answer:   ", end="", file=out.stream, flush=True)
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                print(chunk.choices[0].delta.content, end="", file=out.stream, flush=True)
        print(file=out.stream)
        completion = stream.completion
    _detail(out, completion)


def _failover_step(out: _Out, client: Client, chain: list[str], what_fails: str) -> None:
    out.heading(2, "Failover: the first choice fails, the chain carries on")
    out.line(f"chain:    {' -> '.join(chain)}   ({what_fails})")
    resp = client.chat.completions.create(
        model=chain, messages=[{"role": "user", "content": "Name one planet."}], max_tokens=50
    )
    rows = [
        (
            str(i + 1),
            a.model,
            str(a.status) if a.status is not None else "-",
            a.error_kind or "answered",
            f"{a.latency_s * 1000:.1f} ms",
        )
        for i, a in enumerate(resp.attempts)
    ]
    out.line()
    print(table(rows, ("try", "model", "status", "outcome", "latency"), indent="   "), file=out.stream)
    out.line()
    out.line(f"answer:   {resp.choices[0].message.content if resp.choices else ''}")
    out.line(f"from:     {resp.model} after {len(resp.attempts)} attempts, cost {usd(resp.cost or _ZERO)}")


def _cascade_step(out: _Out, client: Client, server: MockServer | None) -> None:
    out.heading(3, "Cascade: cheap model first, escalate only when the answer is not good enough")
    from ..cascade import Cascade

    if server is not None:
        # The mock echoes prompts: script a doubtful draft from the cheap tier and a confident
        # answer from the middle one, so the cascade escalates once and keeps tier 1.
        server.script(CASCADE_TIERS[0], Reply("I'm not sure, maybe 5?", confidence=0.35))
        server.script(CASCADE_TIERS[1], Reply("4", confidence=0.97))
    resp = client.chat.completions.create(
        model=Cascade(CASCADE_TIERS, threshold=0.7),
        messages=[{"role": "user", "content": "What is 2 + 2? Answer with the number."}],
        max_tokens=20,
    )
    info = resp.cascade
    assert info is not None  # a cascade's answer always carries how it was reached
    out.line(f"tiers:    {' -> '.join(CASCADE_TIERS)}   (threshold 0.7)")
    for score in info.scores:
        out.line(f"  {score}".replace("\n", "\n     "))
    out.line(f"kept:     tier {info.accepted_tier}, {info.model_used}: {resp.choices[0].message.content}")
    pct = f" ({info.savings_pct:.1f}%)" if info.savings_pct is not None else ""
    out.line(f"cost:     {usd(resp.cost or _ZERO)} for every tier tried")
    out.line(f"baseline: {usd(info.baseline_cost or _ZERO)} for the last tier alone; saved ${info.savings}{pct}")


def _ledger_step(out: _Out, number: int, client: Client) -> None:
    out.heading(number, "The cost ledger (client.usage)")
    groups = client.usage.by_model()
    rows = [
        (model or "(none)", str(t.requests), str(t.prompt_tokens + t.completion_tokens), usd(t.total_cost))
        for model, t in sorted(groups.items(), key=lambda item: (-item[1].total_cost, item[0]))
    ]
    print(table(rows, ("model", "requests", "tokens", "cost"), right=(1, 2, 3), indent="   "), file=out.stream)
    totals = client.usage.totals
    out.line()
    out.line(f"{totals.requests} requests, {usd(totals.total_cost)} in all (failed attempts included)")


def _run(args: argparse.Namespace) -> int:
    out = _Out(sys.stdout)
    server: MockServer | None = None
    api_key = args.api_key or os.environ.get("OPENROUTER_API_KEY")
    print(f"fastrouter {__version__} demo")
    if api_key:
        print("OPENROUTER_API_KEY is set: calling OpenRouter.")
        client = Client(api_key=api_key, base_url=args.base_url, app_title="fastrouter demo")
        chain, what_fails = [MISSING_MODEL, args.model], "the first model id does not exist"
    else:
        server = MockServer().start()
        print(f"OPENROUTER_API_KEY is not set: using the embedded mock server at {server.base_url}")
        client = Client(base_url=server.base_url, api_key="mock-key", app_title="fastrouter demo", max_retries=1)
        backup = args.backup if args.backup != args.model else DEMO_MODEL if args.model != DEMO_MODEL else BACKUP_MODEL
        chain, what_fails = [args.model, backup], f"scripted: {args.model} answers 503 twice"
        server.script(args.model, Reply(), Fail(503, "provider overloaded"), Fail(503, "provider overloaded"))
        server.script(backup, Reply("Jupiter."))
    started = time.perf_counter()
    try:
        with client:
            _stream_step(out, client, args.model, args.prompt)
            _failover_step(out, client, chain, what_fails)
            _cascade_step(out, client, server)
            _ledger_step(out, 4, client)
    finally:
        if server is not None:
            server.stop()
    print(f"\ndone in {time.perf_counter() - started:.2f} s. Try: fastrouter chat 'Hello' --stream")
    return 0


def add_demo_command(commands: Any) -> None:
    """Register ``demo`` on the ``fastrouter`` command's subparsers."""
    demo = commands.add_parser(
        "demo",
        help="a tour: streaming, failover, cascade, cost ledger (the mock without a key, else OpenRouter)",
    )
    demo.add_argument("--model", default=DEMO_MODEL, help=f"model id (default {DEMO_MODEL})")
    demo.add_argument("--backup", default=BACKUP_MODEL, help=f"the failover model (default {BACKUP_MODEL})")
    demo.add_argument("--prompt", default=DEMO_PROMPT, help="what to ask in the streaming step")
    add_network_options(demo)
    demo.set_defaults(run=_run)
