"""Lazy public names for a package (PEP 562): each is imported from its module on first use,
so importing the package stays cheap (S5)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["lazy_names"]


def lazy_names(
    package: str, namespace: dict[str, Any], modules: dict[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of ``package``, whose public names map to the
    (relative) module defining each in ``modules``: the first ``package.X`` (or ``from
    package import X``) imports X's module and caches X in ``namespace``, the package's
    globals."""

    def __getattr__(name: str) -> Any:
        module = modules.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        from importlib import import_module

        value = getattr(import_module(module, package), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted({*namespace, *modules})

    return __getattr__, __dir__
