"""Feature names a search or a route may require (``tools``, ``vision``...) and the model traits each one means."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

# ------------------------------------------------------------------------------ features

_P, _IN, _OUT, _CACHE = "param", "input", "output", "cache"
_Feature = tuple[str, frozenset[str]]


def _feature(kind: str, *values: str) -> _Feature:
    return (kind, frozenset(values))


FEATURE_ALIASES: Mapping[str, _Feature] = MappingProxyType(
    {
        "tools": _feature(_P, "tools"),
        "tool_calling": _feature(_P, "tools"),
        "function_calling": _feature(_P, "tools"),
        "tool_choice": _feature(_P, "tool_choice"),
        "reasoning": _feature(_P, "reasoning", "include_reasoning"),
        "thinking": _feature(_P, "reasoning", "include_reasoning"),
        "structured_outputs": _feature(_P, "structured_outputs"),
        "json_schema": _feature(_P, "structured_outputs"),
        "response_format": _feature(_P, "response_format", "structured_outputs"),
        "json": _feature(_P, "response_format", "structured_outputs"),
        "json_mode": _feature(_P, "response_format", "structured_outputs"),
        "web_search": _feature(_P, "web_search_options"),
        "vision": _feature(_IN, "image"),
        "image": _feature(_IN, "image"),
        "images": _feature(_IN, "image"),
        "image_input": _feature(_IN, "image"),
        "file": _feature(_IN, "file"),
        "files": _feature(_IN, "file"),
        "pdf": _feature(_IN, "file"),
        "audio": _feature(_IN, "audio"),
        "audio_input": _feature(_IN, "audio"),
        "video": _feature(_IN, "video"),
        "video_input": _feature(_IN, "video"),
        "image_output": _feature(_OUT, "image"),
        "image_generation": _feature(_OUT, "image"),
        "audio_output": _feature(_OUT, "audio"),
        "speech": _feature(_OUT, "audio"),
        "embeddings": _feature(_OUT, "embeddings"),
        "embedding": _feature(_OUT, "embeddings"),
        "caching": _feature(_CACHE),
        "prompt_caching": _feature(_CACHE),
    }
)
"""How :meth:`Model.supports` and ``search(supports=...)`` read friendly feature names
(case-insensitive, ``-`` and spaces read as ``_``):

- ``tools`` / ``tool_calling`` / ``function_calling``: ``"tools"`` in ``supported_parameters``;
  ``tool_choice``: ``"tool_choice"``;
- ``reasoning`` / ``thinking``: ``"reasoning"`` or ``"include_reasoning"``;
- ``structured_outputs`` / ``json_schema``: ``"structured_outputs"``;
- ``response_format`` / ``json`` / ``json_mode``: ``"response_format"`` or ``"structured_outputs"``;
- ``web_search``: ``"web_search_options"``;
- ``vision`` / ``image`` / ``images`` / ``image_input``: ``"image"`` in the input modalities;
  ``file`` / ``files`` / ``pdf``: ``"file"``; ``audio`` / ``audio_input``: ``"audio"``;
  ``video`` / ``video_input``: ``"video"``;
- ``image_output`` / ``image_generation``: ``"image"`` in the output modalities;
  ``audio_output`` / ``speech``: ``"audio"``; ``embeddings`` / ``embedding``: ``"embeddings"``;
- ``caching`` / ``prompt_caching``: the model has an ``input_cache_read`` price;
- any other name: that exact name in ``supported_parameters`` (``"seed"``, ``"logprobs"``...).
"""


_ANY = "any"
_ANY_OF_FEATURES: tuple[_Feature, ...] = tuple(
    sorted({f for f in FEATURE_ALIASES.values() if len(f[1]) > 1}, key=lambda f: (f[0], sorted(f[1])))
)
"""Features met by any of several traits (``reasoning``: either parameter); each gets a
bit of its own in the search index."""


def _resolve_feature(name: str) -> _Feature:
    if not isinstance(name, str):
        raise TypeError(f"a feature must be a str, got {name!r}")
    key = name.strip().lower().replace("-", "_").replace(" ", "_")
    return FEATURE_ALIASES.get(key) or (_P, frozenset((key,)))
