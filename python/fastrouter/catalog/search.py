"""The :class:`Catalog` collection: lookup by id with "did you mean", and indexed :meth:`Catalog.search`."""

from __future__ import annotations

import bisect
import dataclasses
import difflib
import json
import logging
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from decimal import Decimal
from typing import Any

from .._format import format_age
from .features import _ANY, _ANY_OF_FEATURES, _CACHE, _IN, _OUT, _P, FEATURE_ALIASES, _resolve_feature
from .records import DYNAMIC_VARIANTS, SORT_KEYS, Model, PriceLike, _to_price

logger = logging.getLogger("fastrouter")


# ------------------------------------------------------------------------------- catalog


class _Row:
    """What search compares, computed once per model. ``mask`` has one bit per supported
    parameter, input modality, output modality (and prompt caching) of the model, so
    ``supports=`` and the modality filters cost one integer ``&`` per model."""

    __slots__ = ("model", "index", "author", "mask", "context", "prompt", "completion", "free")

    def __init__(self, model: Model, index: int, mask: int) -> None:
        self.model = model
        self.index = index
        self.author = model.author.lower()
        self.mask = mask
        self.context = model.context_length
        self.prompt = model.pricing.prompt
        self.completion = model.pricing.completion
        self.free = model.is_free


def _traits(model: Model) -> Iterator[tuple[str, str]]:
    """The (kind, name) traits a feature requirement can ask for."""
    for name in model.supported_parameters:
        yield (_P, name)
    for name in model.architecture.input_modalities:
        yield (_IN, name.lower())
    for name in model.architecture.output_modalities:
        yield (_OUT, name.lower())
    if model.pricing.input_cache_read is not None:
        yield (_CACHE, "")
    for kind, names in _ANY_OF_FEATURES:
        if model.supports_any(kind, names):
            yield (_ANY, _any_key(kind, names))


def _any_key(kind: str, names: frozenset[str]) -> str:
    return kind + ":" + ",".join(sorted(names))


class _TextIndex:
    """Finds the models whose id, name or description contains a word.

    A search word has no whitespace, so it occurs in a text only inside one of the text's
    whitespace-separated tokens: the index joins the catalog's distinct (lower-case) tokens
    into one string, finds the word there with ``str.find`` (C speed, and the distinct
    tokens are a fraction of all the text) and maps each hit to the models having that token.
    """

    __slots__ = ("joined", "starts", "postings", "size")

    def __init__(self, models: Sequence[Model]) -> None:
        by_token: dict[str, list[int]] = {}
        for index, model in enumerate(models):
            text = f"{model.id}\n{model.name}\n{model.description}".lower()
            for token in set(text.split()):
                by_token.setdefault(token, []).append(index)
        tokens = list(by_token)
        starts: list[int] = []
        offset = 0
        for token in tokens:
            starts.append(offset)
            offset += len(token) + 1
        self.joined = "\n".join(tokens)
        self.starts = starts
        self.postings: list[list[int]] = [by_token[t] for t in tokens]
        self.size = len(models)

    def matching(self, word: str) -> set[int]:
        """Indexes of the models with ``word`` (lower-case, no whitespace) in their text."""
        found: set[int] = set()
        joined, starts, postings = self.joined, self.starts, self.postings
        last = len(starts) - 1
        pos = joined.find(word)
        while pos != -1:
            k = bisect.bisect_right(starts, pos) - 1
            found.update(postings[k])
            if k == last or len(found) == self.size:  # a common word may match everything early
                break
            pos = joined.find(word, starts[k + 1])
        return found


def _sort_key(sort: str) -> Callable[[_Row], tuple[Any, ...]]:
    if sort == "price":
        return lambda r: (r.prompt is None, r.prompt or 0, r.completion is None, r.completion or 0, r.model.id)
    if sort == "context":
        return lambda r: (r.context is None, -(r.context or 0), r.model.id)
    if sort == "newest":
        return lambda r: (r.model.created is None, -(r.model.created or 0), r.model.id)
    return lambda r: (r.model.name.lower(), r.model.id)


_MILLION = 1_000_000


def _price_limit(per_million: PriceLike | None, per_token: PriceLike | None, name: str) -> Decimal | None:
    """A price ceiling per token from ``<name>_per_m`` (USD per million), or from the
    deprecated per-token ``<name>``."""
    if per_token is not None:
        warnings.warn(
            f"search({name}=...) is per token and deprecated: use {name}_per_m=... (USD per million tokens)",
            DeprecationWarning,
            stacklevel=3,
        )
        if per_million is None:
            return _to_price(per_token, name)
    if per_million is None:
        return None
    return _to_price(per_million, f"{name}_per_m", "million tokens") / _MILLION


def _names(value: str | Iterable[str] | None, what: str) -> tuple[str, ...]:
    """A str or an iterable of str (a bare string is one name, not its characters)."""
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    names = tuple(value)
    for name in names:
        if not isinstance(name, str):
            raise TypeError(f"{what} must be a str or a list of str, got {name!r}")
    return names


class Catalog:
    """An immutable, searchable collection of :class:`Model`, in payload order.

    ``len(catalog)``, ``for model in catalog``, ``"a/b" in catalog``, ``catalog["a/b"]``
    (``KeyError`` with "did you mean ..." suggestions), ``catalog.get("a/b")``. Lookups
    also accept canonical slugs and dynamic variants of listed models
    (``"openai/gpt-4o:nitro"`` gives the ``openai/gpt-4o`` entry under that id).

    ``fetched_at`` is when the data was fetched (epoch seconds), ``source`` where this copy
    came from (``"network"``, ``"memory"``, ``"disk"``, or ``"payload"`` when built
    directly) and ``stale`` is True when a refresh failed (or was not allowed) and this is
    an older copy: ``age_s`` says how old.
    """

    __slots__ = (
        "_models",
        "_rows",
        "_bits",
        "_by_id",
        "_by_slug",
        "_orders",
        "_text",
        "_keys",
        "_fetched_at",
        "_source",
        "_stale",
    )

    def __init__(
        self,
        models: Iterable[Model],
        *,
        fetched_at: float | None = None,
        source: str = "payload",
        stale: bool = False,
    ) -> None:
        by_id: dict[str, Model] = {}
        for model in models:
            if not isinstance(model, Model):
                raise TypeError(f"Catalog holds Model objects, got {type(model).__name__}")
            by_id.setdefault(model.id, model)  # the first entry of a duplicated id wins
        self._models: tuple[Model, ...] = tuple(by_id.values())
        self._by_id = by_id
        self._by_slug: dict[str, str] = {}
        for model in self._models:
            if model.canonical_slug and model.canonical_slug not in by_id:
                self._by_slug.setdefault(model.canonical_slug, model.id)
        bits: dict[tuple[str, str], int] = {}
        rows = []
        for index, model in enumerate(self._models):
            mask = 0
            for trait in _traits(model):
                bit = bits.get(trait)
                if bit is None:
                    bit = bits[trait] = 1 << len(bits)
                mask |= bit
            rows.append(_Row(model, index, mask))
        self._rows: tuple[_Row, ...] = tuple(rows)
        self._bits = bits
        self._orders: dict[str, tuple[_Row, ...]] = {}
        self._text: _TextIndex | None = None
        self._keys: tuple[tuple[str, str], ...] | None = None
        self._fetched_at = time.time() if fetched_at is None else float(fetched_at)
        self._source = source
        self._stale = bool(stale)

    # construction ---------------------------------------------------------------------
    @classmethod
    def from_payload(
        cls,
        payload: Mapping[str, Any] | Sequence[Mapping[str, Any]],
        *,
        fetched_at: float | None = None,
        source: str = "payload",
        stale: bool = False,
    ) -> Catalog:
        """Build from a decoded ``/models`` response (``{"data": [...]}``, extra keys such as
        ``total_count``/``links`` ignored) or a plain list of model entries. Entries without
        an id are skipped; ``ValueError`` when the payload has no model list at all."""
        data: Any = payload.get("data") if isinstance(payload, Mapping) else payload
        if not isinstance(data, (list, tuple)):
            raise ValueError("not a /models payload: expected {'data': [...]}")
        models = []
        for entry in data:
            try:
                models.append(Model.from_dict(entry))
            except ValueError as exc:
                logger.debug("fastrouter: skipping a /models entry: %s", exc)
        return cls(models, fetched_at=fetched_at, source=source, stale=stale)

    @classmethod
    def from_json(
        cls,
        text: str | bytes,
        *,
        fetched_at: float | None = None,
        source: str = "payload",
        stale: bool = False,
    ) -> Catalog:
        """Build from the JSON text of a ``/models`` response (``ValueError`` if invalid)."""
        return cls.from_payload(json.loads(text), fetched_at=fetched_at, source=source, stale=stale)

    def _evolve(self, *, fetched_at: float | None = None, source: str | None = None, stale: bool) -> Catalog:
        """The same models with other metadata (shares every precomputed table)."""
        new = object.__new__(Catalog)
        for name in Catalog.__slots__:
            object.__setattr__(new, name, getattr(self, name))
        new._fetched_at = self._fetched_at if fetched_at is None else fetched_at
        new._source = self._source if source is None else source
        new._stale = stale
        return new

    # metadata -------------------------------------------------------------------------
    @property
    def fetched_at(self) -> float:
        """When the data was fetched from the server (epoch seconds)."""
        return self._fetched_at

    @property
    def age_s(self) -> float:
        """Seconds since ``fetched_at``."""
        return max(0.0, time.time() - self._fetched_at)

    @property
    def stale(self) -> bool:
        """True when this is an older copy served because the catalog could not be refreshed
        (the server was unreachable, or ``offline=True`` and the copy is past its TTL)."""
        return self._stale

    @property
    def source(self) -> str:
        """Where this copy came from: ``"network"``, ``"memory"``, ``"disk"`` or ``"payload"``."""
        return self._source

    @property
    def models(self) -> tuple[Model, ...]:
        """Every model, in payload order."""
        return self._models

    @property
    def ids(self) -> tuple[str, ...]:
        """Every model id, in payload order."""
        return tuple(self._by_id)

    @property
    def data(self) -> list[Model]:
        """Every model, in payload order: ``client.models.list().data`` as in openai's page."""
        return list(self._models)

    # collection -----------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._models)

    def __iter__(self) -> Iterator[Model]:
        return iter(self._models)

    def __contains__(self, model_id: object) -> bool:
        return isinstance(model_id, str) and self._lookup(model_id) is not None

    def __getitem__(self, model_id: str) -> Model:
        model = self._lookup(model_id) if isinstance(model_id, str) else None
        if model is None:
            raise KeyError(self._missing_message(model_id))
        return model

    def get(self, model_id: str, default: Model | None = None) -> Model | None:
        """``catalog[model_id]``, or ``default`` when there is no such model."""
        model = self._lookup(model_id) if isinstance(model_id, str) else None
        return default if model is None else model

    def __repr__(self) -> str:
        stale = ", stale" if self._stale else ""
        return f"<Catalog {len(self)} models, source={self._source!r}, age {format_age(self.age_s)}{stale}>"

    def _lookup(self, model_id: str) -> Model | None:
        model = self._by_id.get(model_id)
        if model is not None:
            return model
        canonical = self._by_slug.get(model_id)
        if canonical is not None:
            return self._by_id[canonical]
        base, colon, variant = model_id.rpartition(":")
        if colon and variant in DYNAMIC_VARIANTS:
            base_model = self._lookup(base)
            if base_model is not None:
                return dataclasses.replace(base_model, id=model_id)
        return None

    def suggest(self, text: str, n: int = 3, cutoff: float = 0.6) -> list[str]:
        """Up to ``n`` model ids whose id, slug or name is close to ``text`` (difflib
        similarity at least ``cutoff``), best first."""
        if self._keys is None:
            keys: list[tuple[str, str]] = []
            for model in self._models:
                keys.append((model.id.lower(), model.id))
                keys.append((model.slug.lower(), model.id))
                keys.append((model.name.lower(), model.id))
            self._keys = tuple(keys)
        matcher = difflib.SequenceMatcher()
        matcher.set_seq2(text.lower())
        scores: dict[str, float] = {}
        for key, model_id in self._keys:
            matcher.set_seq1(key)
            if matcher.real_quick_ratio() >= cutoff and matcher.quick_ratio() >= cutoff:
                ratio = matcher.ratio()
                if ratio >= cutoff and ratio > scores.get(model_id, 0.0):
                    scores[model_id] = ratio
        return sorted(scores, key=lambda m: (-scores[m], m))[:n]

    def _missing_message(self, model_id: object) -> str:
        if not isinstance(model_id, str):
            return f"model ids are str, got {model_id!r}"
        if not self._models:
            return f"unknown model {model_id!r}: the catalog is empty"
        close = self.suggest(model_id)
        if close:
            return f"unknown model {model_id!r}; did you mean " + ", ".join(repr(c) for c in close) + "?"
        return f"unknown model {model_id!r} (no similar id; try catalog.search({model_id!r}))"

    # search ---------------------------------------------------------------------------
    def _raise_near_miss(self, kind: str, names: frozenset[str]) -> None:
        """``ValueError`` with a did-you-mean when a filter value no model has is close to
        one some model has (a typo); a value resembling nothing known just matches nothing."""
        if len(names) != 1:
            return
        (name,) = names
        known = sorted({n for k, n in self._bits if k == kind and n} | (set(FEATURE_ALIASES) if kind == _P else set()))
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.75)
        if close:
            what = {_IN: "input modality", _OUT: "output modality"}.get(kind, "feature")
            raise ValueError(f"unknown {what} {name!r}: did you mean {close[0]!r}?")

    def _ordered(self, sort: str) -> tuple[_Row, ...]:
        rows = self._orders.get(sort)
        if rows is None:
            rows = self._orders[sort] = tuple(sorted(self._rows, key=_sort_key(sort)))
        return rows

    def search(
        self,
        text: str | None = None,
        *,
        provider: str | Iterable[str] | None = None,
        supports: str | Iterable[str] = (),
        input_modalities: str | Iterable[str] = (),
        output_modalities: str | Iterable[str] = (),
        modality: str | None = None,
        min_context: int | None = None,
        max_prompt_price_per_m: PriceLike | None = None,
        max_completion_price_per_m: PriceLike | None = None,
        free: bool | None = None,
        sort: str = "price",
        limit: int | None = None,
        max_prompt_price: PriceLike | None = None,
        max_completion_price: PriceLike | None = None,
    ) -> list[Model]:
        """The models matching every given filter, in ``sort`` order.

        - ``text``: each whitespace-separated word must occur (case-insensitively) in the
          id, name or description;
        - ``provider``: the author part of the id (``"anthropic"``), or a list of them (any);
        - ``supports``: features that must all be supported (see :meth:`Model.supports`);
        - ``input_modalities`` / ``output_modalities``: modalities that must all be
          accepted / produced; ``modality`` is one more input modality (as in
          ``modality="image"``);
        - ``min_context``: at least this many tokens of context;
        - ``max_prompt_price_per_m`` / ``max_completion_price_per_m``: USD **per million
          tokens** (Decimal, number or string), the unit of openrouter.ai, routes and the
          CLI; models whose price is unknown (routers) or missing never match a price
          limit. (``max_prompt_price`` / ``max_completion_price``, per token, still work
          with a DeprecationWarning.)
        - ``free``: True for free models only, False for paid ones only;
        - ``sort``: ``"price"`` (prompt, then completion price, ascending; unknown last),
          ``"context"`` (largest first), ``"newest"`` (latest ``created`` first) or
          ``"name"``; ties are broken by id. With ``text``, models whose id or name has
          every word come first, then those matched through their description, each
          group in ``sort`` order;
        - ``limit``: at most this many results.

        A ``supports`` / modality / ``provider`` value no model has but close to one some
        model has (``"tolls"``, ``"antrhopic"``) raises ``ValueError`` with a did-you-mean.
        """
        if sort not in SORT_KEYS:
            raise ValueError(f"sort must be one of {', '.join(map(repr, SORT_KEYS))}, got {sort!r}")
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
            raise ValueError(f"limit must be a non-negative int or None, got {limit!r}")
        if min_context is not None and (isinstance(min_context, bool) or not isinstance(min_context, int)):
            raise TypeError(f"min_context must be an int, got {min_context!r}")
        if free is not None and not isinstance(free, bool):
            raise TypeError(f"free must be True, False or None, got {free!r}")
        if text is not None and not isinstance(text, str):
            raise TypeError(f"text must be a str, got {text!r}")
        authors = frozenset(a.lower() for a in _names(provider, "provider"))
        if authors:
            known_authors = {row.author for row in self._rows}
            for author in sorted(authors - known_authors):
                close = difflib.get_close_matches(author, sorted(known_authors), n=1, cutoff=0.75)
                if close:
                    raise ValueError(f"unknown provider {author!r}: did you mean {close[0]!r}?")
        # every requirement is a set of traits of which the model needs at least one
        required: list[tuple[str, frozenset[str]]] = [_resolve_feature(f) for f in _names(supports, "supports")]
        required += [(_IN, frozenset((m.lower(),))) for m in _names(input_modalities, "input_modalities")]
        required += [(_OUT, frozenset((m.lower(),))) for m in _names(output_modalities, "output_modalities")]
        if modality is not None:
            required.append((_IN, frozenset((modality.lower(),))))
        all_mask = 0  # one bit per requirement; a model must have them all
        for kind, names in required:
            if kind == _CACHE:
                trait = (_CACHE, "")
            elif len(names) > 1:
                trait = (_ANY, _any_key(kind, names))
            else:
                trait = (kind, next(iter(names)))
            bit = self._bits.get(trait)
            if bit is None:
                self._raise_near_miss(kind, names)
                return []  # no model has it
            all_mask |= bit
        max_prompt = _price_limit(max_prompt_price_per_m, max_prompt_price, "max_prompt_price")
        max_completion = _price_limit(max_completion_price_per_m, max_completion_price, "max_completion_price")
        matched: set[int] | None = None
        strong: set[int] | None = None  # matched in the id or name, not only the description
        if text:
            if self._text is None:
                self._text = _TextIndex(self._models)
            words = text.lower().split()
            for word in words:
                hits = self._text.matching(word)
                matched = hits if matched is None else matched & hits
                if not matched:
                    return []
            if matched is not None:
                strong = {
                    i
                    for i in matched
                    if all(w in self._models[i].id.lower() or w in self._models[i].name.lower() for w in words)
                }

        found: list[Model] = []
        if limit == 0:
            return found
        rows: Iterable[_Row] = self._ordered(sort)
        if strong is not None and matched is not None and len(strong) < len(matched):
            weak = matched - strong
            ordered = self._ordered(sort)
            rows = [r for r in ordered if r.index in strong] + [r for r in ordered if r.index in weak]
        for row in rows:
            if matched is not None and row.index not in matched:
                continue
            if authors and row.author not in authors:
                continue
            if all_mask and row.mask & all_mask != all_mask:
                continue
            if min_context is not None and (row.context is None or row.context < min_context):
                continue
            if max_prompt is not None and (row.prompt is None or row.prompt > max_prompt):
                continue
            if max_completion is not None and (row.completion is None or row.completion > max_completion):
                continue
            if free is not None and row.free is not free:
                continue
            found.append(row.model)
            if limit is not None and len(found) >= limit:
                break
        return found
