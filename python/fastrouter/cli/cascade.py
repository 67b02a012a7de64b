"""``fastrouter cascade eval``: a cascade against its last tier alone, over a prompts file."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from ..cascade.eval import load_prompts, run_eval, summarise, summary_table
from ..cascade.tiers import Cascade
from ..client import AsyncClient
from ..errors import FastrouterError, RoutingError
from ..routing import Routing
from ._common import add_config_option, add_group, run_alone

__all__ = ["add_cascade_commands"]


def _cascade(args: argparse.Namespace) -> tuple[Cascade | str, Cascade, Routing | None]:
    if args.tiers:
        tiers = [t.strip() for t in args.tiers.split(",") if t.strip()]
        routing = Routing.from_toml(args.config) if Path(args.config).exists() else None
        cascade = Cascade(tiers, threshold=args.threshold, judge=args.judge)
        return cascade, cascade, routing
    routing = Routing.from_toml(args.config)
    route = routing.routes.get(args.route)
    if route is None or route.cascade is None:
        raise RoutingError(f"{args.route!r} is not a cascade route", source=routing.source, key=f"routes.{args.route}")
    return args.route, route.cascade, routing


def _run(args: argparse.Namespace) -> int:
    try:
        prompts = load_prompts(args.prompts)
        model, cascade, routing = _cascade(args)
    except (OSError, ValueError) as error:
        print(f"fastrouter cascade eval: {error}", file=sys.stderr)
        return 2
    out = Path(args.out or f"{args.prompts}.results.jsonl")
    ids = {p.id for p in prompts}
    before = summarise(out, ids).prompts

    async def main() -> int:
        async with AsyncClient(base_url=args.base_url, routing=routing) as client:
            return await run_eval(
                client,
                model,
                cascade,
                prompts,
                out,
                concurrency=args.concurrency,
                judge=args.agreement_judge,
                progress=sys.stderr,
            )

    interrupted = False
    try:
        ran = asyncio.run(main())
    except KeyboardInterrupt:
        interrupted = True
        ran = -1
    except FastrouterError as error:
        print(f"\nfastrouter cascade eval: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    summary = summarise(out, ids)
    if interrupted:
        print(f"\ninterrupted: {summary.prompts} of {len(prompts)} prompts done; rerun to resume", file=sys.stderr)
    elif before:
        print(f"resumed: {before} prompts were already in {out}, {ran} ran now", file=sys.stderr)
    print(summary_table(summary, cascade))
    print(f"\nresults: {out}")
    return 130 if interrupted else 0


def add_cascade_commands(commands: Any) -> None:
    """Register ``cascade eval PROMPTS.jsonl (--route NAME | --tiers a,b,c)``."""
    sub = add_group(commands, "cascade", "evaluate a cascade (cheap models first) on your prompts")
    run = sub.add_parser(
        "eval",
        help="run prompts through a cascade and through its last tier alone; report savings and agreement",
        description='Each prompt (a JSONL line: {"id", "messages"} or {"prompt"}) goes through the cascade'
        " and, when a draft is kept, through the last tier alone. Results are appended to a JSONL file as they"
        " finish, so an interrupted run resumes.",
    )
    run.add_argument("prompts", metavar="PROMPTS.jsonl")
    which = run.add_mutually_exclusive_group(required=True)
    which.add_argument("--route", help="a cascade route of the routing configuration")
    which.add_argument("--tiers", help="comma-separated tiers, cheapest first (model ids or alias names)")
    add_config_option(run)
    run.add_argument("--threshold", type=float, default=0.7, help="with --tiers: the score to keep a draft")
    run.add_argument("--judge", default=None, help="with --tiers: a judge model scoring drafts")
    run.add_argument(
        "--agreement-judge",
        default=None,
        metavar="MODEL",
        help="decide agreement with this model when answers differ (default: normalised exact match)",
    )
    run.add_argument("--concurrency", type=int, default=4, help="prompts in flight at once (default 4)")
    run.add_argument("--out", default=None, help="results file (default PROMPTS.jsonl.results.jsonl)")
    run.add_argument("--base-url", default=None, help="API base URL (default $OPENROUTER_BASE_URL, else OpenRouter)")
    run.set_defaults(run=_run)


def main(argv: list[str] | None = None) -> int:
    """``python -m fastrouter.cli.cascade``."""
    return run_alone(add_cascade_commands, argv)


if __name__ == "__main__":
    sys.exit(main())
