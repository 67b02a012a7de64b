"""The built-in quality checks a cascade runs on each tier's answer, each giving a
:class:`CheckResult` (a score in 0..1, or ``None`` when it does not apply, with reasons).

*Gates* (``gate=True``) decide alone: a refusal, a bad finish reason, an empty answer or
malformed structured output scores 0 and the tier's answer is not kept. *Signals* are
averaged (see :mod:`fastrouter.cascade.scoring`).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any, NamedTuple

from .schema import schema_errors

__all__ = ["CheckResult", "confidence", "failures", "format_check", "hedging", "HEDGES"]


class CheckResult(NamedTuple):
    """One check's verdict on one answer: ``score`` in 0..1 (``None``: skipped),
    ``reasons`` in words, ``gate`` (a failed gate sends the score to 0), ``weight`` (its
    share in the average of signals). A named tuple: cheap to make, once per check."""

    name: str
    score: float | None
    reasons: tuple[str, ...] = ()
    gate: bool = False
    weight: float = 1.0

    def __str__(self) -> str:
        shown = "skipped" if self.score is None else f"{self.score:.2f}"
        return f"{self.name} {shown}" + (f": {'; '.join(self.reasons)}" if self.reasons else "")


_BAD_FINISH = {
    "length": "cut off at max_tokens (finish_reason length)",
    "content_filter": "blocked by a content filter (finish_reason content_filter)",
    "error": "the provider failed mid-answer (finish_reason error)",
}

HEDGES: tuple[str, ...] = (
    "i'm not sure",
    "i am not sure",
    "i'm not certain",
    "i am not certain",
    "i cannot",
    "i can't",
    "i don't know",
    "i do not know",
    "i'm unable",
    "i am unable",
    "it's unclear",
    "it is unclear",
    "as an ai",
    "i may be wrong",
)
"""Phrases that hedge an answer: a weak signal (see :mod:`fastrouter.cascade.scoring`)."""

_HEDGE_RE = re.compile("|".join(re.escape(h) for h in HEDGES))


def _choice(data: Mapping[str, Any]) -> Mapping[str, Any]:
    choices = data.get("choices")
    first = choices[0] if isinstance(choices, list) and choices else None
    return first if isinstance(first, dict) else {}


def _message(data: Mapping[str, Any]) -> Mapping[str, Any]:
    message = _choice(data).get("message")
    return message if isinstance(message, dict) else {}


def failures(data: Mapping[str, Any]) -> CheckResult:
    """Gate: a refusal, finish_reason ``length`` / ``content_filter`` / ``error``, or an
    answer with neither content nor tool calls."""
    choice = _choice(data)
    message = _message(data)
    reasons: list[str] = []
    refusal = message.get("refusal")
    if isinstance(refusal, str) and refusal.strip():
        reasons.append(f"refused: {refusal.strip()[:80]!r}")
    finish = choice.get("finish_reason")
    if finish in _BAD_FINISH:
        reasons.append(_BAD_FINISH[finish])
    content = message.get("content")
    if not message.get("tool_calls") and not (isinstance(content, str) and content.strip()):
        reasons.append("empty answer")
    if choice.get("error"):
        reasons.append("an error was reported in the answer")
    return CheckResult("failures", 0.0 if reasons else 1.0, tuple(reasons), gate=True)


def format_check(request: Mapping[str, Any], data: Mapping[str, Any]) -> CheckResult | None:
    """Gate: with ``response_format`` json_object / json_schema the content parses (and
    validates against the schema); tool calls' arguments parse and match their tool's
    parameter schema. ``None`` when the request asks for neither."""
    response_format = request.get("response_format")
    kind = response_format.get("type") if isinstance(response_format, dict) else None
    message = _message(data)
    calls = message.get("tool_calls")
    tools = request.get("tools")
    if kind not in ("json_object", "json_schema") and not calls:
        return None
    reasons: list[str] = []
    if kind in ("json_object", "json_schema") and not calls:
        content = message.get("content")
        try:
            value = json.loads(content) if isinstance(content, str) else None
        except json.JSONDecodeError as error:
            reasons.append(f"the content is not JSON ({error.msg} at {error.pos})")
        else:
            if kind == "json_object" and not isinstance(value, dict):
                reasons.append("the content is not a JSON object")
            elif kind == "json_schema":
                spec = response_format.get("json_schema") if isinstance(response_format, dict) else None
                schema = spec.get("schema") if isinstance(spec, dict) else None
                if isinstance(schema, dict):
                    reasons += [f"schema: {e}" for e in schema_errors(value, schema)]
    if isinstance(calls, list) and calls:
        schemas: dict[str, Any] = {}
        for tool in tools if isinstance(tools, list) else ():
            function = tool.get("function") if isinstance(tool, dict) else None
            if isinstance(function, dict) and isinstance(function.get("name"), str):
                schemas[function["name"]] = function.get("parameters")
        for call in calls:
            function = call.get("function") if isinstance(call, dict) else None
            name = function.get("name") if isinstance(function, dict) else None
            if not isinstance(name, str):
                reasons.append("a tool call without a function name")
                continue
            if schemas and name not in schemas:
                reasons.append(f"tool call to {name!r}, which the request did not offer")
                continue
            raw = function.get("arguments") if isinstance(function, dict) else None
            try:
                args = json.loads(raw) if isinstance(raw, str) and raw.strip() else {}
            except json.JSONDecodeError as error:
                reasons.append(f"{name} arguments are not JSON ({error.msg} at {error.pos})")
                continue
            if not isinstance(args, dict):
                reasons.append(f"{name} arguments are not a JSON object")
                continue
            schema = schemas.get(name)
            if isinstance(schema, dict):
                reasons += [f"{name} arguments: {e}" for e in schema_errors(args, schema)]
    return CheckResult("format", 0.0 if reasons else 1.0, tuple(reasons), gate=True)


def confidence(data: Mapping[str, Any]) -> CheckResult:
    """Signal: ``0.75 * mean + 0.25 * min`` token probability of the content, the mean
    taken geometrically (``exp`` of the mean log probability). Skipped without logprobs."""
    logprobs = _choice(data).get("logprobs")
    tokens = logprobs.get("content") if isinstance(logprobs, dict) else None
    if not isinstance(tokens, list) or not tokens:
        return CheckResult("confidence", None, ("no token logprobs returned",))
    try:
        values = [token["logprob"] for token in tokens]
        total = sum(values)  # raises TypeError unless every value is a number
        whole = True
    except (KeyError, TypeError):
        values = [
            float(t["logprob"])
            for t in tokens
            if isinstance(t, dict) and isinstance(t.get("logprob"), (int, float)) and not isinstance(t["logprob"], bool)
        ]
        total = sum(values)
        whole = False
    if not values:
        return CheckResult("confidence", None, ("no usable token logprobs",))
    lowest = min(values)
    mean = total / len(values)
    if mean != mean:  # NaN in the data
        return CheckResult("confidence", None, ("no usable token logprobs",))
    mean_p = math.exp(min(mean, 0.0))  # -inf (a zero probability) gives 0
    min_p = math.exp(min(lowest, 0.0))
    lowest_token = tokens[values.index(lowest)].get("token", "") if whole else ""
    score = 0.75 * mean_p + 0.25 * min_p
    reason = (
        f"mean token probability {mean_p:.2f}, lowest {min_p:.2f} ({str(lowest_token).strip()[:20]!r})"
        f" over {len(values)}"
    )
    return CheckResult("confidence", score, (reason,))


def hedging(data: Mapping[str, Any]) -> CheckResult | None:
    """Weak signal: hedging phrases in the content ("I'm not sure", "I cannot", ...).
    ``None`` when there are none."""
    content = _message(data).get("content")
    if not isinstance(content, str) or not content:
        return None
    text = content.lower()
    if "\u2019" in text:
        text = text.replace("\u2019", "'")
    if not any(hedge in text for hedge in HEDGES):
        return None
    found = sorted({m.group(0) for m in _HEDGE_RE.finditer(text)})
    if not found:
        return None
    factor = HEDGE_PENALTY ** min(len(found), 2)
    return CheckResult("hedging", factor, tuple(f"hedges: {phrase!r}" for phrase in found))


HEDGE_PENALTY = 0.85
"""Each distinct hedging phrase (at most two count) multiplies the score by this."""
