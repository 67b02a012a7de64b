"""The providers serving one model (``GET /models/{id}/endpoints``) as typed records."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from .records import Architecture, Pricing, _empty_map, _float, _frozen_map, _frozen_slots, _int, _mapping, _str, _strs

# ----------------------------------------------------------------------------- endpoints


@_frozen_slots
@dataclass(frozen=True)
class Endpoint:
    """One provider serving a model (``GET /models/{author}/{slug}/endpoints``).

    ``tag`` is the provider slug to use in ``provider.order``/``only`` (``"deepinfra/turbo"``);
    ``status`` is 0 when normal and negative when degraded; uptimes are percentages;
    ``latency_last_30m`` / ``throughput_last_30m`` are ``{p50, p75, p90, p99}`` as sent
    (only when authenticated; units not documented). Missing values are None.
    """

    name: str
    model_id: str | None = None
    provider_name: str | None = None
    tag: str | None = None
    context_length: int | None = None
    max_completion_tokens: int | None = None
    max_prompt_tokens: int | None = None
    pricing: Pricing = field(default_factory=Pricing)
    quantization: str | None = None
    supported_parameters: tuple[str, ...] = field(default=(), repr=False)
    status: int | None = None
    uptime_last_30m: float | None = None
    uptime_last_5m: float | None = None
    uptime_last_1d: float | None = None
    latency_last_30m: Mapping[str, Any] | None = field(default=None, hash=False)
    throughput_last_30m: Mapping[str, Any] | None = field(default=None, hash=False)
    raw: Mapping[str, Any] = field(default_factory=_empty_map, compare=False, hash=False, repr=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], model_id: str | None = None) -> Endpoint:
        """Build from one entry of ``endpoints`` (``model_id`` fills in for older payloads
        that do not name the model)."""
        data = _mapping(data)
        return cls(
            name=_str(data.get("name")) or "",
            model_id=_str(data.get("model_id")) or model_id,
            provider_name=_str(data.get("provider_name")),
            tag=_str(data.get("tag")),
            context_length=_int(data.get("context_length")),
            max_completion_tokens=_int(data.get("max_completion_tokens")),
            max_prompt_tokens=_int(data.get("max_prompt_tokens")),
            pricing=Pricing.from_dict(data.get("pricing")),
            quantization=_str(data.get("quantization")),
            supported_parameters=_strs(data.get("supported_parameters")),
            status=_int(data.get("status")),
            uptime_last_30m=_float(data.get("uptime_last_30m")),
            uptime_last_5m=_float(data.get("uptime_last_5m")),
            uptime_last_1d=_float(data.get("uptime_last_1d")),
            latency_last_30m=_frozen_map(data.get("latency_last_30m")),
            throughput_last_30m=_frozen_map(data.get("throughput_last_30m")),
            raw=MappingProxyType(dict(data)),
        )

    @property
    def is_degraded(self) -> bool:
        """True when ``status`` is set and not 0 (OpenRouter deranks degraded endpoints)."""
        return self.status is not None and self.status != 0


@_frozen_slots
@dataclass(frozen=True)
class ModelEndpoints:
    """A model and the providers serving it: iterate it (or read ``endpoints``) for one
    :class:`Endpoint` per provider, in the order OpenRouter lists them."""

    id: str
    name: str = ""
    architecture: Architecture = field(default_factory=Architecture)
    endpoints: tuple[Endpoint, ...] = ()

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> ModelEndpoints:
        """Build from a decoded endpoints response (``{"data": {...}}`` or the inner
        object); ``ValueError`` when it is not one."""
        data: Any = payload.get("data", payload) if isinstance(payload, Mapping) else None
        if not isinstance(data, Mapping) or not isinstance(data.get("id"), str):
            raise ValueError("not a model endpoints payload: expected {'data': {'id': ..., 'endpoints': [...]}}")
        model_id: str = data["id"]
        entries = data.get("endpoints")
        endpoints = tuple(
            Endpoint.from_dict(e, model_id)
            for e in (entries if isinstance(entries, list) else ())
            if isinstance(e, Mapping)
        )
        return cls(
            id=model_id,
            name=_str(data.get("name")) or model_id,
            architecture=Architecture.from_dict(data.get("architecture")),
            endpoints=endpoints,
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> ModelEndpoints:
        """Build from the JSON text of an endpoints response."""
        return cls.from_payload(json.loads(text))

    def __len__(self) -> int:
        return len(self.endpoints)

    def __iter__(self) -> Iterator[Endpoint]:
        return iter(self.endpoints)
