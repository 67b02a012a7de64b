"""The optional judge: a model asked to rate a draft 0..10, and how its verdict is read."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from .checks import CheckResult

__all__ = ["judge_messages", "judge_verdict"]

JUDGE_INSTRUCTIONS = (
    "You grade an AI assistant's answer to a conversation. Judge correctness, completeness and"
    " whether it follows the user's instructions. Reply with one integer from 0 (useless or wrong)"
    " to 10 (excellent), and nothing else."
)
_NUMBER = re.compile(r"(?<![\d.])(10|\d)(?:\.\d+)?(?:\s*/\s*10)?")
_MAX_TRANSCRIPT = 12_000


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(p.get("text", "") for p in content if isinstance(p, Mapping) and isinstance(p.get("text"), str))
    return ""


def judge_messages(messages: Sequence[Any], answer: str) -> list[dict[str, str]]:
    """The judge's prompt: the conversation so far and the draft answer to grade."""
    lines = []
    for message in messages:
        if isinstance(message, Mapping):
            lines.append(f"{message.get('role', 'user')}: {_text(message.get('content'))}")
    transcript = "\n".join(lines)[-_MAX_TRANSCRIPT:]
    return [
        {"role": "system", "content": JUDGE_INSTRUCTIONS},
        {"role": "user", "content": f"Conversation:\n{transcript}\n\nAnswer to grade:\n{answer[-_MAX_TRANSCRIPT:]}"},
    ]


def judge_verdict(reply: str | None, model: str, weight: float) -> CheckResult:
    """The judge's reply as a signal: the first number 0..10, divided by 10; skipped when
    the reply holds no grade."""
    match = _NUMBER.search(reply or "")
    if match is None:
        return CheckResult("judge", None, (f"{model} gave no grade: {(reply or '').strip()[:60]!r}",), weight=weight)
    grade = int(match.group(1))
    return CheckResult("judge", grade / 10, (f"{model} graded it {grade}/10",), weight=weight)
