"""Other OpenAI-compatible backends: ``[backends.NAME]`` tables, ``NAME::model`` chain entries, their prices.

A chain entry ``"groq::llama-3.1-8b-instant"`` sends that attempt to the backend ``groq``
(its ``base_url``, its key from ``api_key_env``, its ``headers``) with
``"model": "llama-3.1-8b-instant"``; entries without ``::`` go to OpenRouter. The whole
entry is the model's name everywhere else: cooldowns, ``resp.attempts``, the ledger.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from ..catalog import Catalog, Model, Pricing
from ..errors import RoutingError
from .validation import _check_keys, _check_name, _check_str, _check_table, _check_usd

__all__ = ["BACKEND_SEPARATOR", "Backend", "split_entry", "model_for"]

BACKEND_SEPARATOR = "::"
"""Separates a backend's name from the model id in a chain entry (``groq::llama-3.1-8b``)."""

_BACKEND_KEYS = ("base_url", "api_key_env", "headers", "prices")
_PRICE_KEYS = ("prompt", "completion", "request")
_MILLION = Decimal(1_000_000)


def split_entry(entry: str) -> tuple[str | None, str]:
    """``"groq::llama"`` -> ``("groq", "llama")``; ``"openai/gpt-4o"`` -> ``(None, "openai/gpt-4o")``."""
    backend, sep, model = entry.partition(BACKEND_SEPARATOR)
    return (backend, model) if sep else (None, entry)


@dataclass(frozen=True, init=False)
class Backend:
    """An OpenAI-compatible endpoint chains can use as ``NAME::model``.

    - ``base_url``: up to ``/v1`` (requests go to ``{base_url}/chat/completions``).
    - ``api_key_env``: the environment variable holding its key, read when the client is
      created (``None``: send no ``Authorization``, e.g. a local Ollama or vLLM).
    - ``headers``: extra headers sent to this backend only (OpenRouter's key and
      attribution headers never are).
    - ``prices``: ``{model: {prompt, completion[, request]}}`` in **USD per million
      tokens** (``request``: USD per request), used when the backend's response carries no
      ``usage.cost``; without them the catalog's price for the same id is used, else the
      cost is unknown (``cost_source="unknown"`` in the ledger).
    """

    name: str
    base_url: str
    api_key_env: str | None
    headers: Mapping[str, str] = field(hash=False)
    prices: Mapping[str, Pricing] = field(hash=False)

    def __init__(
        self,
        name: str,
        base_url: str,
        *,
        api_key_env: str | None = None,
        headers: Mapping[str, str] | None = None,
        prices: Mapping[str, Mapping[str, Decimal | float | str]] | None = None,
    ) -> None:
        k = f"backends.{name}" if isinstance(name, str) else "backends"
        put = object.__setattr__
        put(self, "name", _check_name(name, k, "backend"))
        url = _check_str(base_url, f"{k}.base_url", '"https://api.groq.com/openai/v1"')
        if not url.startswith(("http://", "https://")):
            raise RoutingError(
                f"base_url must start with http:// or https://, got {url!r}",
                key=f"{k}.base_url",
                suggestion='for example "http://127.0.0.1:11434/v1"',
            )
        put(self, "base_url", url.rstrip("/"))
        put(
            self,
            "api_key_env",
            None if api_key_env is None else _check_str(api_key_env, f"{k}.api_key_env", '"GROQ_API_KEY"'),
        )
        header_map: dict[str, str] = {}
        for name_, value in _check_table(headers or {}, f"{k}.headers", '{ "X-Team" = "search" }').items():
            header_map[name_] = _check_str(value, f"{k}.headers.{name_}", '"value"')
        put(self, "headers", header_map)
        price_map: dict[str, Pricing] = {}
        for model, table in _check_table(prices or {}, f"{k}.prices", "{ llama = { prompt = 0.05 } }").items():
            key = f"{k}.prices.{model}"
            _check_keys(_check_table(table, key, "{ prompt = 0.05, completion = 0.08 }"), key, _PRICE_KEYS)
            missing = [p for p in ("prompt", "completion") if p not in table]
            if missing:
                raise RoutingError(
                    f"missing {missing[0]!r}", key=key, suggestion="give prompt and completion in USD per million"
                )
            per_token = {p: _check_usd(table[p], f"{key}.{p}", "0.05") / _MILLION for p in ("prompt", "completion")}
            request = _check_usd(table["request"], f"{key}.request", "0.001") if "request" in table else None
            price_map[model] = Pricing(prompt=per_token["prompt"], completion=per_token["completion"], request=request)
        put(self, "prices", price_map)

    @classmethod
    def from_dict(cls, name: str, data: Any) -> Backend:
        """A backend from its table (``[backends.NAME]``); unknown keys are errors."""
        key = f"backends.{name}"
        table = _check_table(data, key, '{ base_url = "https://api.groq.com/openai/v1" }')
        _check_keys(table, key, _BACKEND_KEYS)
        if "base_url" not in table:
            raise RoutingError(
                "missing 'base_url'", key=key, suggestion='for example base_url = "http://127.0.0.1:8000/v1"'
            )
        return cls(name, **table)

    def to_dict(self) -> dict[str, Any]:
        """The backend's table without its name (prices back in USD per million)."""
        out: dict[str, Any] = {"base_url": self.base_url}
        if self.api_key_env is not None:
            out["api_key_env"] = self.api_key_env
        if self.headers:
            out["headers"] = dict(self.headers)
        if self.prices:
            prices: dict[str, dict[str, str]] = {}
            for model, pricing in self.prices.items():
                entry = {"prompt": _per_million(pricing.prompt), "completion": _per_million(pricing.completion)}
                if pricing.request is not None:
                    entry["request"] = str(pricing.request)
                prices[model] = entry
            out["prices"] = prices
        return out

    def native(self) -> tuple[str, str, str | None, list[tuple[str, str]], str | None]:
        """``(name, base_url, api key or None, headers, api_key_env)`` for the native client;
        the key is read from the environment now."""
        key = os.environ.get(self.api_key_env) if self.api_key_env else None
        return (self.name, self.base_url, key or None, list(self.headers.items()), self.api_key_env)

    def __repr__(self) -> str:
        return f"Backend({self.name!r}, {self.base_url!r}, api_key_env={self.api_key_env!r})"


def _per_million(value: Decimal | None) -> str:
    scaled = (value or Decimal(0)) * _MILLION
    return format(scaled.normalize(), "f") if scaled != scaled.to_integral_value() else str(int(scaled))


def model_for(entry: str, catalog: Catalog | None, backends: Mapping[str, Backend]) -> Model | None:
    """The :class:`~fastrouter.catalog.Model` that prices a chain entry: the catalog's for
    OpenRouter ids; for ``backend::model`` the backend's configured prices (on the
    catalog's record of the same id when there is one), else the catalog's record of the
    bare id; ``None`` when nothing prices it."""
    backend_name, model_id = split_entry(entry)
    listed = catalog.get(model_id) if catalog is not None else None
    if backend_name is None:
        return listed
    backend = backends.get(backend_name)
    pricing = backend.prices.get(model_id) if backend is not None else None
    if pricing is None:
        return listed
    if listed is not None:
        import dataclasses

        return dataclasses.replace(listed, id=entry, pricing=pricing)
    return Model(id=entry, pricing=pricing)
