"""Checks for routing configuration values, each failure a :class:`RoutingError` naming the key and a fix."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from .._format import did_you_mean
from ..errors import RoutingError

MODES: tuple[str, ...] = ("cheapest", "balanced", "quality", "fastest", "ordered", "spread")
"""Route modes; see the module documentation."""

ALIAS_MODES: tuple[str, ...] = ("ordered", "spread")
"""Alias modes: the listed order, or traffic shared across the members."""

BUDGET_PERIODS: tuple[str, ...] = ("request", "day", "total")
"""What a :class:`~fastrouter.budget.Budget` amount is per (``day``: the UTC day)."""

_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")

_TOP_KEYS = ("aliases", "routes", "budgets", "default_route", "backends", "strict", "limits")
# Every key of a route table, in the order tables are written, and whether it picks or
# orders the chain's models (a cascade route takes its models from its tiers: none of those).
_ROUTE_KEY_PICKS_MODELS = {
    "models": True,
    "supports": True,
    "input_modalities": True,
    "output_modalities": True,
    "min_context": True,
    "max_prompt_price_per_m": True,
    "max_completion_price_per_m": True,
    "authors": True,
    "exclude": True,
    "prefer_free": True,
    "providers": False,
    "mode": True,
    "max_models": True,
    "max_retries": False,
    "hedge_after": False,
    "deadline_s": False,
    "max_cost_per_request": False,
    "cascade": False,
    "params": False,
    "weights": False,
    "limit": False,
}
_ROUTE_KEYS = tuple(_ROUTE_KEY_PICKS_MODELS)
_CHAIN_KEYS = tuple(key for key, picks in _ROUTE_KEY_PICKS_MODELS.items() if picks)
# Old spellings still read (with a DeprecationWarning): the unit was already per million.
_DEPRECATED_ROUTE_KEYS = {
    "max_prompt_price": "max_prompt_price_per_m",
    "max_completion_price": "max_completion_price_per_m",
}
_ALIAS_KEYS = ("models", "params", "mode", "weights", "max_cost_per_request")
_BUDGET_KEYS = ("usd", "per", "tags", "unknown_price")
_MONEY_KEYS = ("max_prompt_price_per_m", "max_completion_price_per_m", "max_cost_per_request")
# Request keys a route cannot set: they are the request itself, or fastrouter's own.
_NOT_PARAMS = ("model", "messages", "stream", "max_cost_per_request")

# Known names, for "did you mean" on near misses (docs section 6.1 and 2.6).
_KNOWN_FEATURES = (
    "temperature",
    "top_p",
    "top_k",
    "min_p",
    "top_a",
    "frequency_penalty",
    "presence_penalty",
    "repetition_penalty",
    "max_tokens",
    "max_completion_tokens",
    "logit_bias",
    "logprobs",
    "top_logprobs",
    "prediction",
    "seed",
    "response_format",
    "structured_outputs",
    "stop",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "include_reasoning",
    "reasoning",
    "reasoning_effort",
    "web_search_options",
    "verbosity",
)
_KNOWN_INPUT_MODALITIES = ("text", "image", "file", "audio", "video")
_KNOWN_OUTPUT_MODALITIES = ("text", "image", "embeddings", "audio", "video", "rerank", "speech", "transcription")
_PROVIDER_KEYS = (
    "order",
    "allow_fallbacks",
    "require_parameters",
    "data_collection",
    "zdr",
    "enforce_distillable_text",
    "only",
    "ignore",
    "quantizations",
    "sort",
    "preferred_min_throughput",
    "preferred_max_latency",
    "max_price",
)
_PROVIDER_SORTS = ("price", "throughput", "latency", "exacto")


def _one_of(options: Sequence[str]) -> str:
    return "one of " + ", ".join(repr(o) for o in options)


# -------------------------------------------------------------------------- validation


def _describe(value: Any) -> str:
    names = {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "a list",
        tuple: "a list",
        dict: "a table",
    }
    kind = names.get(type(value), f"a {type(value).__name__}")
    text = repr(value)
    return f"{kind} ({text[:40] + '...' if len(text) > 40 else text})"


def _type_error(key: str, expected: str, value: Any, example: str) -> RoutingError:
    return RoutingError(f"expected {expected}, got {_describe(value)}", key=key, suggestion=f"for example {example}")


def _check_name(name: Any, key: str, what: str) -> str:
    if not isinstance(name, str):
        raise _type_error(key, f"{what} name as a string", name, '"smart"')
    if not _NAME_RE.match(name):
        cleaned = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-.") or "smart"
        raise RoutingError(
            f"invalid {what} name {name!r}: use letters, digits, '_', '-' and '.' (no '/' or ':', which model ids use)",
            key=key,
            suggestion=f"for example {cleaned!r}",
        )
    return name


def _check_str(value: Any, key: str, example: str = '"text"') -> str:
    if not isinstance(value, str):
        raise _type_error(key, "a string", value, example)
    if not value.strip():
        raise RoutingError("empty string", key=key, suggestion=f"for example {example}")
    return value


def _check_str_list(value: Any, key: str, example: str, *, unique: bool = True) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)):
        raise _type_error(key, "a list of strings", value, example)
    items: list[str] = []
    for i, item in enumerate(value):
        text = _check_str(item, f"{key}[{i}]", example.strip("[]").split(",")[0].strip() or '"text"')
        if unique and text in items:
            raise RoutingError(f"{text!r} is listed twice", key=f"{key}[{i}]", suggestion="remove the duplicate")
        items.append(text)
    return tuple(items)


def _check_known(values: tuple[str, ...], key: str, known: Sequence[str], what: str) -> None:
    """Reject near misses of known names; let unknown-but-different names through."""
    for i, value in enumerate(values):
        normal = value.strip().lower().replace("-", "_").replace(" ", "_")
        if normal in known:
            continue
        hint = did_you_mean(normal, known, cutoff=0.75)
        if hint is not None:
            raise RoutingError(f"unknown {what} {value!r}", key=f"{key}[{i}]", suggestion=hint)


def _check_int(value: Any, key: str, minimum: int, example: str) -> int:
    number: int
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    else:
        hint = example
        if isinstance(value, str) and value.strip().isdigit():
            hint = f"{value.strip()} without quotes"
        raise _type_error(key, "an integer", value, hint)
    if number < minimum:
        raise RoutingError(f"must be at least {minimum}, got {number}", key=key, suggestion=f"for example {example}")
    return number


def _check_seconds(value: Any, key: str, example: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _type_error(key, "a number of seconds", value, example)
    seconds = float(value)
    if not math.isfinite(seconds) or seconds <= 0:
        raise RoutingError(
            f"must be a positive number of seconds, got {value!r}", key=key, suggestion=f"for example {example}"
        )
    return seconds


def _check_usd(value: Any, key: str, example: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (int, float, str, Decimal)):
        raise _type_error(key, "an amount in USD (a number or a decimal string)", value, example)
    try:
        amount = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    except InvalidOperation:
        raise _type_error(key, "an amount in USD (a number or a decimal string)", value, example) from None
    if not amount.is_finite() or amount < 0:
        raise RoutingError(
            f"must be a non-negative amount, got {value!r}", key=key, suggestion=f"for example {example}"
        )
    return amount


def _check_bool(value: Any, key: str) -> bool:
    if not isinstance(value, bool):
        hint = "true or false"
        if isinstance(value, str) and value.lower() in ("true", "false"):
            hint = f"{value.lower()} without quotes"
        raise _type_error(key, "true or false", value, hint)
    return value


def _check_choice(value: Any, key: str, choices: Sequence[str], what: str) -> str:
    if not isinstance(value, str):
        raise _type_error(key, f"a {what} as a string", value, repr(choices[0]))
    if value not in choices:
        raise RoutingError(
            f"unknown {what} {value!r}", key=key, suggestion=did_you_mean(value, choices) or _one_of(choices)
        )
    return value


def _check_keys(mapping: Mapping[str, Any], key: str, known: Sequence[str]) -> None:
    for name in mapping:
        if not isinstance(name, str):
            raise RoutingError(f"keys must be strings, got {name!r}", key=key)
        if name not in known:
            where = f"{key}.{name}" if key else name
            raise RoutingError(
                f"unknown key {name!r}",
                key=where,
                suggestion=did_you_mean(name, known) or f"known keys: {', '.join(known)}",
            )


def _check_table(value: Any, key: str, example: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise _type_error(key, "a table", value, example)
    return value


def _json_like(value: Any, key: str) -> Any:
    """A deep copy of a JSON value that TOML can also express (no nulls, finite numbers)."""
    if isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise RoutingError(f"must be a finite number, got {value!r}", key=key)
        return value
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise RoutingError(f"must be a finite number, got {value!r}", key=key)
        return float(value)
    if isinstance(value, (list, tuple)):
        return [_json_like(v, f"{key}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise RoutingError(f"keys must be strings, got {k!r}", key=key)
            out[k] = _json_like(v, f"{key}.{k}")
        return out
    if value is None:
        raise RoutingError("null is not allowed", key=key, suggestion="leave the key out instead")
    raise _type_error(key, "a string, number, boolean, list or table", value, '"price"')


def _check_providers(value: Any, key: str) -> dict[str, Any] | None:
    """OpenRouter ``provider`` preferences: light checks on the documented keys, near-miss
    keys rejected, anything else passed through as JSON."""
    if value is None:
        return None
    table = _check_table(value, key, '{ sort = "throughput" }')
    prefs: dict[str, Any] = _json_like(table, key)
    for name, item in prefs.items():
        sub = f"{key}.{name}"
        if name not in _PROVIDER_KEYS:
            hint = did_you_mean(name, _PROVIDER_KEYS, cutoff=0.75)
            if hint is not None:
                raise RoutingError(f"unknown provider preference {name!r}", key=sub, suggestion=hint)
        elif name in ("order", "only", "ignore", "quantizations"):
            _check_str_list(item, sub, '["anthropic", "google-vertex"]')
            if isinstance(item, str):
                prefs[name] = [item]
        elif name in ("allow_fallbacks", "require_parameters", "zdr", "enforce_distillable_text"):
            _check_bool(item, sub)
        elif name == "data_collection":
            _check_choice(item, sub, ("allow", "deny"), "data_collection policy")
        elif name == "sort":
            if isinstance(item, Mapping):
                _check_keys(item, sub, ("by", "partition"))
                if "by" in item:
                    _check_choice(item["by"], f"{sub}.by", _PROVIDER_SORTS, "sort")
                if "partition" in item:
                    _check_choice(item["partition"], f"{sub}.partition", ("model", "none"), "partition")
            else:
                _check_choice(item, sub, _PROVIDER_SORTS, "sort")
        elif name in ("preferred_min_throughput", "preferred_max_latency"):
            numbers = item.values() if isinstance(item, Mapping) else [item]
            for number in numbers:
                if isinstance(number, bool) or not isinstance(number, (int, float)) or number < 0:
                    raise _type_error(sub, "a non-negative number or a table of them", item, "{ p50 = 1.0 }")
        elif name == "max_price":
            prices = _check_table(item, sub, "{ prompt = 1.0, completion = 2.0 }")
            for price_key, price in prices.items():
                _check_usd(price, f"{sub}.{price_key}", "1.0")
    return prefs or None


def _check_params(value: Any, key: str) -> dict[str, Any] | None:
    """Request defaults (``params = { temperature = 0.3 }``): keys are
    ``chat.completions.create`` parameters (near misses get a did-you-mean), values JSON."""
    from ..params import PARAM_NAMES

    if value is None:
        return None
    table = _check_table(value, key, "{ temperature = 0.3, max_tokens = 800 }")
    for name in table:
        if name in _NOT_PARAMS or name not in PARAM_NAMES:
            why = "is set per call" if name in _NOT_PARAMS else "is not a request parameter"
            known = sorted(n for n in PARAM_NAMES if n not in _NOT_PARAMS)
            raise RoutingError(
                f"{name!r} {why}",
                key=f"{key}.{name}",
                suggestion=did_you_mean(str(name), known) or "newer fields go in extra_body={...} per call",
            )
    params: dict[str, Any] = _json_like(table, key)
    return params or None


def _check_weights(value: Any, key: str, members: Sequence[str]) -> dict[str, float] | None:
    """``weights = { "a/x" = 3 }``: positive numbers for members (others weigh 1)."""
    if value is None:
        return None
    table = _check_table(value, key, '{ "openai/gpt-4o-mini" = 3 }')
    weights: dict[str, float] = {}
    for name, weight in table.items():
        sub = f"{key}.{name}"
        if members and name not in members:
            raise RoutingError(
                f"{name!r} is not a member", key=sub, suggestion=did_you_mean(name, members) or "weigh listed models"
            )
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not math.isfinite(weight) or weight <= 0:
            raise _type_error(sub, "a positive number", weight, "3")
        weights[name] = float(weight)
    return weights or None
