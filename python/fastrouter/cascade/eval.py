"""Evaluating a cascade before switching it on (``fastrouter cascade eval``): each prompt
through the cascade and through the last tier alone, results appended to a JSONL file (a
rerun resumes), and a summary: acceptance per tier, spend both ways, savings, agreement.
"""

from __future__ import annotations

import asyncio
import json
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from .._format import table
from ..errors import FastrouterError
from .tiers import Cascade

if TYPE_CHECKING:
    from ..client import AsyncClient

__all__ = ["Prompt", "EvalSummary", "load_prompts", "normalise", "run_eval", "summarise"]

_ZERO = Decimal(0)


@dataclass(frozen=True)
class Prompt:
    """One line of the prompts file: ``{"id": ..., "messages": [...]}`` or
    ``{"prompt": "..."}``, optionally with ``"params"`` (``max_tokens``, ...)."""

    id: str
    messages: list[dict[str, Any]]
    params: dict[str, Any] = field(default_factory=dict)


def load_prompts(path: str | Path) -> list[Prompt]:
    """The prompts of a JSONL file (ids default to the line number); a bad line raises
    ``ValueError`` naming it."""
    prompts: list[Prompt] = []
    seen: set[str] = set()
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except ValueError as error:
            raise ValueError(f"{path}:{number}: not JSON ({error})") from None
        if not isinstance(item, dict):
            raise ValueError(f"{path}:{number}: each line must be a JSON object")
        messages = item.get("messages")
        if messages is None and isinstance(item.get("prompt"), str):
            messages = [{"role": "user", "content": item["prompt"]}]
        if not isinstance(messages, list) or not messages:
            raise ValueError(f'{path}:{number}: needs "messages": [...] or "prompt": "..."')
        key = str(item.get("id", number))
        if key in seen:
            raise ValueError(f"{path}:{number}: the id {key!r} is used twice")
        seen.add(key)
        params = item.get("params") or {}
        if not isinstance(params, dict):
            raise ValueError(f'{path}:{number}: "params" must be an object')
        prompts.append(Prompt(key, messages, params))
    return prompts


_PUNCTUATION = re.compile(r"[^\w\s]")
_SPACES = re.compile(r"\s+")


def normalise(text: str | None) -> str:
    """An answer for exact-match comparison: Unicode NFKC, lower case, punctuation
    dropped, whitespace collapsed."""
    text = unicodedata.normalize("NFKC", text or "").lower()
    return _SPACES.sub(" ", _PUNCTUATION.sub(" ", text)).strip()


def _content(resp: Any) -> str:
    message = resp.choices[0].message if resp.choices else None
    if message is None:
        return ""
    if message.content:
        return str(message.content)
    calls = message.tool_calls or []
    return json.dumps([[c.function.name, c.function.arguments] for c in calls if c.function is not None])


def _done_ids(out: Path) -> set[str]:
    done: set[str] = set()
    if out.exists():
        for line in out.read_text(encoding="utf-8").splitlines():
            try:
                row = json.loads(line)
            except ValueError:
                continue  # a line cut by a crash: that prompt runs again
            if isinstance(row, dict) and "id" in row and not row.get("error"):
                done.add(str(row["id"]))
    return done


_AGREE_PROMPT = (
    "Do these two answers to the same request say the same thing (same facts, same result)?"
    " Reply with yes or no only.\n\nAnswer A:\n{a}\n\nAnswer B:\n{b}"
)


async def _agree(client: AsyncClient, judge: str | None, kept: str, last: str) -> tuple[bool | None, Decimal, str]:
    """Whether the kept draft agrees with the last tier's answer: normalised exact match,
    or the judge's yes/no when a judge is given; with the judge's cost."""
    if normalise(kept) == normalise(last):
        return True, _ZERO, "exact"
    if judge is None:
        return False, _ZERO, "exact"
    verdict = await client.chat.completions.create(
        model=judge,
        messages=[{"role": "user", "content": _AGREE_PROMPT.format(a=kept[:6000], b=last[:6000])}],
        max_tokens=3,
        temperature=0,
    )
    said = normalise(_content(verdict))
    agrees = True if said.startswith("yes") else False if said.startswith("no") else None
    return agrees, verdict.cost or _ZERO, "judge"


class _Progress:
    """A one-line progress bar on stderr (no dependency)."""

    def __init__(self, total: int, done: int, out: IO[str]) -> None:
        self.total = total
        self.done = done
        self.out = out
        self.failed = 0

    def step(self, failed: bool) -> None:
        self.done += 1
        self.failed += failed
        width = 30
        filled = int(width * self.done / self.total) if self.total else width
        bar = "#" * filled + "." * (width - filled)
        errors = f", {self.failed} failed" if self.failed else ""
        self.out.write(f"\r[{bar}] {self.done}/{self.total}{errors}")
        if self.done >= self.total:
            self.out.write("\n")
        self.out.flush()


async def run_eval(
    client: AsyncClient,
    model: Cascade | str,
    cascade: Cascade,
    prompts: Sequence[Prompt],
    out: str | Path,
    *,
    concurrency: int = 4,
    judge: str | None = None,
    progress: IO[str] | None = None,
    on_row: Callable[[dict[str, Any]], None] | None = None,
) -> int:
    """Run every prompt not already in ``out`` through ``model`` (the cascade, or its route
    name) and, when a draft was kept, through the last tier alone; append one JSON line
    per prompt as it finishes. Returns how many prompts ran now. Cancel-safe: a line is
    written whole or not at all, so a rerun resumes where this one stopped."""
    path = Path(out)
    done = _done_ids(path)
    todo = [p for p in prompts if p.id not in done]
    bar = _Progress(len(prompts), len(prompts) - len(todo), progress) if progress is not None else None
    last_tier: Any = cascade.tiers[-1][0] if len(cascade.tiers[-1]) == 1 else list(cascade.tiers[-1])
    gate = asyncio.Semaphore(max(1, concurrency))
    lock = asyncio.Lock()

    async def one(prompt: Prompt) -> None:
        async with gate:
            row: dict[str, Any] = {"id": prompt.id}
            try:
                resp = await client.chat.completions.create(model=model, messages=prompt.messages, **prompt.params)
                result = resp.cascade
                assert result is not None
                kept = _content(resp)
                row.update(
                    accepted_tier=result.accepted_tier,
                    model_used=result.model_used,
                    scores=[round(s.score, 4) for s in result.scores],
                    cascade_cost=str(result.cost),
                )
                agrees: bool | None
                if result.accepted_tier == len(cascade.tiers) - 1:
                    # The cascade's own last-tier call is the last tier alone.
                    alone_cost, agrees, how = result.scores[-1].cost, True, "same"
                else:
                    alone = await client.chat.completions.create(
                        model=last_tier, messages=prompt.messages, **prompt.params
                    )
                    alone_cost = alone.cost or _ZERO
                    agrees, judge_cost, how = await _agree(client, judge, kept, _content(alone))
                    row["judge_cost"] = str(judge_cost)
                row.update(last_tier_cost=str(alone_cost), agrees=agrees, agreement=how)
            except FastrouterError as error:
                row["error"] = f"{type(error).__name__}: {error}"
            line = json.dumps(row) + "\n"
            async with lock:
                with path.open("a", encoding="utf-8") as file:
                    file.write(line)
                    file.flush()
                if on_row is not None:
                    on_row(row)
                if bar is not None:
                    bar.step("error" in row)

    tasks = [asyncio.ensure_future(one(p)) for p in todo]
    try:
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
    return len(todo)


@dataclass
class EvalSummary:
    """Totals over an eval's results file."""

    prompts: int = 0
    failed: int = 0
    accepted: dict[int, int] = field(default_factory=dict)
    cascade_cost: Decimal = _ZERO
    last_tier_cost: Decimal = _ZERO
    drafts_kept: int = 0
    drafts_agreeing: int = 0
    drafts_unjudged: int = 0

    @property
    def savings(self) -> Decimal:
        """``last_tier_cost - cascade_cost``."""
        return self.last_tier_cost - self.cascade_cost

    @property
    def savings_pct(self) -> float | None:
        """``savings`` as a percentage of the last tier alone."""
        return float(self.savings * 100 / self.last_tier_cost) if self.last_tier_cost else None


def summarise(out: str | Path, ids: set[str] | None = None) -> EvalSummary:
    """The :class:`EvalSummary` of a results file (only ``ids`` when given; the last line
    per id wins)."""
    rows: dict[str, dict[str, Any]] = {}
    path = Path(out)
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                row = json.loads(line)
            except ValueError:
                continue
            if isinstance(row, dict) and "id" in row and (ids is None or str(row["id"]) in ids):
                key = str(row["id"])
                if key not in rows or not row.get("error"):
                    rows[key] = row
    summary = EvalSummary()
    for row in rows.values():
        summary.prompts += 1
        if row.get("error"):
            summary.failed += 1
            continue
        tier = int(row["accepted_tier"])
        summary.accepted[tier] = summary.accepted.get(tier, 0) + 1
        summary.cascade_cost += Decimal(row["cascade_cost"]) + Decimal(row.get("judge_cost") or "0")
        summary.last_tier_cost += Decimal(row["last_tier_cost"])
        if row.get("agreement") != "same":
            summary.drafts_kept += 1
            if row.get("agrees") is True:
                summary.drafts_agreeing += 1
            elif row.get("agrees") is None:
                summary.drafts_unjudged += 1
    return summary


def summary_table(summary: EvalSummary, cascade: Cascade) -> str:
    """The summary as the command prints it."""
    answered = sum(summary.accepted.values())
    rows = []
    for index, tier in enumerate(cascade.tiers):
        kept = summary.accepted.get(index, 0)
        share = f"{100 * kept / answered:.1f}%" if answered else "-"
        rows.append((str(index), Cascade.tier_label(tier), str(kept), share))
    lines = [table(rows, ("tier", "model", "kept", "share"), right=(0, 2, 3))]
    pct = summary.savings_pct
    lines.append("")
    lines.append(
        table(
            [
                ("cascade", f"${summary.cascade_cost:f}"),
                ("last tier alone", f"${summary.last_tier_cost:f}"),
                ("savings", f"${summary.savings:f}" + (f" ({pct:.1f}%)" if pct is not None else "")),
            ],
            ("spend", "USD"),
            right=(1,),
        )
    )
    agreeing = (
        f"{summary.drafts_agreeing}/{summary.drafts_kept} kept drafts agree with the last tier"
        f" ({100 * summary.drafts_agreeing / summary.drafts_kept:.1f}%)"
        if summary.drafts_kept
        else "no draft was kept"
    )
    if summary.drafts_unjudged:
        agreeing += f", {summary.drafts_unjudged} undecided"
    lines.append("")
    lines.append(f"{summary.prompts} prompts, {summary.failed} failed; agreement: {agreeing}")
    return "\n".join(lines)
