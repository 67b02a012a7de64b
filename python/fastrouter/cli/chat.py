"""``fastrouter chat``: one chat completion from the command line, printed or streamed."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from .._format import usd
from ..types import ChatCompletion
from ._common import add_network_options, network_client, print_json

__all__ = ["add_chat_command"]

DEFAULT_MODEL = "openai/gpt-4o-mini"


def _model(text: str) -> str | list[str]:
    """``a/x`` or a failover chain ``a/x,b/y``."""
    chain = [m.strip() for m in text.split(",") if m.strip()]
    if not chain:
        raise argparse.ArgumentTypeError("a model id, or model ids separated by commas")
    return chain[0] if len(chain) == 1 else chain


def _summary(completion: ChatCompletion) -> str:
    """``model · provider · tokens · cost · latency`` of an answer."""
    parts = [completion.model or "?"]
    if completion.provider:
        parts.append(completion.provider)
    if completion.usage is not None:
        parts.append(f"{completion.usage.prompt_tokens}+{completion.usage.completion_tokens} tokens")
    cost = completion.cost
    parts.append(usd(cost) if cost is not None else "cost unknown")
    attempts = completion.attempts
    if attempts:
        parts.append(f"{sum(a.latency_s for a in attempts) * 1000:.0f} ms")
    if len(attempts) > 1:
        parts.append(f"{len(attempts)} attempts")
    return " · ".join(parts)


def _run(args: argparse.Namespace) -> int:
    messages: list[dict[str, Any]] = []
    if args.system:
        messages.append({"role": "system", "content": args.system})
    messages.append({"role": "user", "content": args.prompt})
    params: dict[str, Any] = {}
    if args.max_tokens is not None:
        params["max_tokens"] = args.max_tokens
    if args.temperature is not None:
        params["temperature"] = args.temperature
    with network_client(args, **({} if args.max_retries is None else {"max_retries": args.max_retries})) as client:
        if args.stream:
            with client.chat.completions.create(model=args.model, messages=messages, stream=True, **params) as stream:
                for chunk in stream:
                    if chunk.choices and chunk.choices[0].delta.content and args.format == "text":
                        print(chunk.choices[0].delta.content, end="", flush=True)
                completion = stream.completion
            if args.format == "text":
                print()
        else:
            completion = client.chat.completions.create(model=args.model, messages=messages, **params)
            if args.format == "text":
                print(completion.choices[0].message.content or "" if completion.choices else "")
    if args.format == "json":
        print_json({**completion.to_dict(), "cost": completion.cost})
    elif not args.quiet:
        print(_summary(completion), file=sys.stderr)
    return 0


def add_chat_command(commands: Any) -> None:
    """Register ``fastrouter chat`` on the CLI's subparsers."""
    chat = commands.add_parser("chat", help="ask one question: fastrouter chat 'prompt' [--model M] [--stream]")
    chat.add_argument("prompt", help="what to ask")
    chat.add_argument(
        "--model", "-m", type=_model, default=DEFAULT_MODEL, help=f"model id or chain a/x,b/y (default {DEFAULT_MODEL})"
    )
    chat.add_argument("--stream", "-s", action="store_true", help="print the answer as it arrives")
    chat.add_argument("--system", default=None, help="a system message")
    chat.add_argument("--max-tokens", type=int, default=None, help="cap the answer's length")
    chat.add_argument("--temperature", type=float, default=None, help="sampling temperature")
    chat.add_argument("--max-retries", type=int, default=None, help="retries per model (default 2)")
    chat.add_argument("--format", choices=("text", "json"), default="text", help="text (default) or the whole JSON")
    chat.add_argument("--quiet", "-q", action="store_true", help="no model/cost line on stderr")
    add_network_options(chat)
    chat.set_defaults(run=_run)
